package agent

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/vip"
)

// TestHostProblems: what the node must offer before the agent touches
// it. A VIP under a lease (a killed agent's) is the agent's own; a
// permanent address is not.
func TestHostProblems(t *testing.T) {
	p := netip.MustParsePrefix
	cfg := &config.Config{Instances: []config.Instance{{
		Name: "VI_1", Interface: "eth1", AdvertInt: config.Duration(time.Second),
		VIPs: []config.VIP{{Prefix: p("198.18.0.200/32")}, {Prefix: p("198.18.0.201/32")}, {Prefix: p("198.18.0.202/32")},
			{Prefix: p("203.0.113.1/32"), Device: "eth9"}},
		Checks: []config.Check{{Name: "web", User: "nobody"}, {Name: "db", User: "ghost"}},
	}, {
		Name: "VI_2", Interface: "ens4", AdvertInt: config.Duration(time.Second), VIPs: []config.VIP{{Prefix: p("198.18.1.1/32")}},
	}}}
	ifis := []net.Interface{{Index: 1, Name: "lo"}, {Index: 2, Name: "eth1"}}
	addrs := []vip.Address{
		{Index: 2, Prefix: p("198.18.0.11/24"), Valid: vip.Forever},
		{Index: 2, Prefix: p("198.18.0.200/32"), Valid: 3 * time.Second},    // leased by a killed agent
		{Index: 2, Prefix: p("198.18.0.201/32"), Valid: vip.Forever},        // static, or keepalived's
		{Index: 1, Prefix: p("198.18.0.202/24"), Valid: 3600 * time.Second}, // leased: the agent's own
	}
	lookup := func(name string) error {
		if name == "nobody" {
			return nil
		}
		return errors.New("user: unknown user " + name)
	}
	want := []string{
		"instances[0].vips[1].prefix: 198.18.0.201 is already an address of eth1 on this node (permanent), not one the agent added",
		"instances[0].vips[3].device: eth9 does not exist on this node",
		`instances[0].checks[1].user: "ghost": user: unknown user ghost`,
		"instances[1].interface: ens4 does not exist on this node",
	}
	var got []string
	if err := hostProblems(cfg, ifis, addrs, lookup); err != nil {
		for i, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			s := e.Error()
			if i < len(want) && strings.HasPrefix(s, want[i]) {
				s = want[i] // the beginning says enough
			}
			got = append(got, s)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hostProblems (-want +got):\n%s", diff)
	}
}
