package agent

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/vip"
)

// TestConcerns: the echoes of the masters' own lease renewals (an address
// added) wake no instance; a removed VIP wakes only its instance; link
// changes and resyncs wake all of them.
func TestConcerns(t *testing.T) {
	p := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	in := &instance{ifi: &net.Interface{Index: 3, Name: "eth1"}, adv: &advertIO{src: netip.MustParseAddr("198.18.1.11")}}
	list := []vipOn{{prefix: p("198.18.1.1/32"), index: 3, dev: "eth1"}}
	in.vips.shared.Store(&list)
	evs := []vip.Event{
		{Kind: vip.AddrAdded, Index: 3, Prefix: p("198.18.1.1/32")},
		{Kind: vip.AddrRemoved, Index: 3, Prefix: p("198.18.1.1/32")},
		{Kind: vip.AddrRemoved, Index: 3, Prefix: p("198.18.1.1/24")},
		{Kind: vip.AddrRemoved, Index: 3, Prefix: p("198.18.1.2/32")},
		{Kind: vip.AddrRemoved, Index: 4, Prefix: p("198.18.1.1/32")},
		{Kind: vip.Link, Index: 3, Up: false},
		{Kind: vip.Link, Index: 9, Up: true}, // a tracked interface, perhaps
		{Kind: vip.Resync},
		{Kind: vip.AddrRemoved, Index: 3, Prefix: p("198.18.1.11/24")}, // our source: a backup faults
		{Kind: vip.AddrAdded, Index: 3, Prefix: p("198.18.1.11/24")},   // back: out of FAULT at once
		{Kind: vip.AddrRemoved, Index: 4, Prefix: p("198.18.1.11/24")}, // on another interface
	}
	want := []bool{false, true, true, false, false, true, true, true, true, true, false}
	var got []bool
	for _, e := range evs {
		got = append(got, in.concerns(e))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("concerns (-want +got):\n%s", diff)
	}
}
