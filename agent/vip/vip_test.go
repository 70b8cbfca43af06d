package vip

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

func TestLeaseFor(t *testing.T) {
	for _, tc := range []struct {
		mdi, want time.Duration
	}{
		{0, time.Second},
		{300 * time.Millisecond, time.Second},
		{time.Second, time.Second},
		{3*time.Second + 414*time.Millisecond, 4 * time.Second},
		{4 * time.Second, 4 * time.Second},
	} {
		if got := LeaseFor(tc.mdi); got != tc.want {
			t.Errorf("LeaseFor(%v) = %v, want %v", tc.mdi, got, tc.want)
		}
	}
}

func TestMessage(t *testing.T) {
	for _, tc := range []struct {
		p    string
		want rtnetlink.AddressMessage
	}{
		{"198.18.0.200/32", rtnetlink.AddressMessage{Family: unix.AF_INET, PrefixLength: 32, Index: 3,
			Attributes: &rtnetlink.AddressAttributes{Address: []byte{198, 18, 0, 200}, Local: []byte{198, 18, 0, 200}}}},
		{"198.18.0.200/24", rtnetlink.AddressMessage{Family: unix.AF_INET, PrefixLength: 24, Index: 3,
			Attributes: &rtnetlink.AddressAttributes{Address: []byte{198, 18, 0, 200}, Local: []byte{198, 18, 0, 200}, Broadcast: []byte{198, 18, 0, 255}}}},
		{"2001:db8:18::200/128", rtnetlink.AddressMessage{Family: unix.AF_INET6, PrefixLength: 128, Index: 3,
			Attributes: &rtnetlink.AddressAttributes{
				Address: netip.MustParseAddr("2001:db8:18::200").AsSlice(), Local: netip.MustParseAddr("2001:db8:18::200").AsSlice(),
				Flags: unix.IFA_F_NODAD}}},
		{"fe80::61/64", rtnetlink.AddressMessage{Family: unix.AF_INET6, PrefixLength: 64, Index: 3, Scope: unix.RT_SCOPE_LINK,
			Attributes: &rtnetlink.AddressAttributes{
				Address: netip.MustParseAddr("fe80::61").AsSlice(), Local: netip.MustParseAddr("fe80::61").AsSlice(),
				Flags: unix.IFA_F_NODAD}}},
	} {
		got := message(3, netip.MustParsePrefix(tc.p))
		if d := cmp.Diff(&tc.want, got); d != "" {
			t.Errorf("message(%s) (-want +got):\n%s", tc.p, d)
		}
	}
}

func TestDecodeEvents(t *testing.T) {
	addr := func(typ uint16, p string) netlink.Message {
		pr := netip.MustParsePrefix(p)
		m := message(7, pr)
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(typ)}, Data: b}
	}
	link := func(typ uint16, flags uint32) netlink.Message {
		b, err := (&rtnetlink.LinkMessage{Index: 7, Flags: flags}).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(typ)}, Data: b}
	}
	msgs := []netlink.Message{
		addr(unix.RTM_NEWADDR, "198.18.0.200/32"),
		addr(unix.RTM_DELADDR, "2001:db8:18::200/128"),
		link(unix.RTM_NEWLINK, unix.IFF_UP|unix.IFF_LOWER_UP|unix.IFF_RUNNING),
		link(unix.RTM_NEWLINK, unix.IFF_UP),
		link(unix.RTM_DELLINK, unix.IFF_UP|unix.IFF_LOWER_UP),
		{Header: netlink.Header{Type: netlink.HeaderType(unix.RTM_NEWADDR)}, Data: []byte{1}}, // too short: skipped
		{Header: netlink.Header{Type: netlink.HeaderType(unix.RTM_NEWROUTE)}},                 // not ours: skipped
	}
	want := []Event{
		{Kind: AddrAdded, Index: 7, Prefix: netip.MustParsePrefix("198.18.0.200/32")},
		{Kind: AddrRemoved, Index: 7, Prefix: netip.MustParsePrefix("2001:db8:18::200/128")},
		{Kind: Link, Index: 7, Up: true},
		{Kind: Link, Index: 7, Up: false},
		{Kind: Link, Index: 7, Up: false},
	}
	if d := cmp.Diff(want, decodeEvents(msgs), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Errorf("decodeEvents (-want +got):\n%s", d)
	}
}

// TestDropType runs the event filter on netlink headers: it drops the
// type it is given and keeps every other.
func TestDropType(t *testing.T) {
	vm, err := bpf.NewVM(dropType(unix.RTM_NEWADDR))
	if err != nil {
		t.Fatal(err)
	}
	msg := func(typ uint16) []byte {
		b := make([]byte, 16+8) // nlmsghdr and a little payload
		binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
		binary.NativeEndian.PutUint16(b[4:6], typ)
		return b
	}
	var got []bool
	types := []uint16{unix.RTM_NEWADDR, unix.RTM_DELADDR, unix.RTM_NEWLINK, unix.RTM_DELLINK, unix.NLMSG_ERROR}
	for _, typ := range types {
		n, err := vm.Run(msg(typ))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n > 0)
	}
	want := []bool{false, true, true, true, true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kept, by type %v (-want +got):\n%s", types, diff)
	}
}
