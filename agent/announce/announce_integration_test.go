package announce_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/announce"
	"github.com/hac-project/hac/agent/vip"
	"github.com/hac-project/hac/internal/netns"
	"github.com/hac-project/hac/internal/testenv"
)

// TestOnTheWire announces an IPv4 and an IPv6 VIP from a node and decodes
// what the client captured with tcpdump and tshark.
func TestOnTheWire(t *testing.T) {
	t.Parallel()
	testenv.NeedTool(t, "tcpdump")
	testenv.NeedTool(t, "tshark")
	bed := netns.New(t, netns.Spec{Nodes: []string{"a"}, IPv6: true})
	n := bed.Node("a")
	v4 := netip.MustParseAddr("198.18.0.200")
	v6 := netip.MustParseAddr("2001:db8:18::200")

	var (
		a   *announce.Announcer
		mac net.HardwareAddr
	)
	err := netns.Do(n.NS, func() error {
		ifi, err := net.InterfaceByName(netns.NodeIface)
		if err != nil {
			return err
		}
		mac = ifi.HardwareAddr
		m, err := vip.Dial()
		if err != nil {
			return err
		}
		defer m.Close()
		for _, p := range []netip.Prefix{netip.PrefixFrom(v4, 32), netip.PrefixFrom(v6, 128)} {
			if err := m.Add(ifi.Index, p, 10*time.Second); err != nil {
				return err
			}
		}
		a, err = announce.Open(ifi, true, true)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	capture := bed.Capture(bed.Client, netns.ClientIface, "arp or icmp6")
	if err := a.Announce([]netip.Addr{v4, v6}); err != nil {
		t.Fatal(err)
	}
	pcap := capture.Stop()
	out := bed.Exec(bed.Client, "tshark", "-r", pcap, "-T", "fields", "-E", "separator=,",
		"-Y", "arp or icmpv6.type == 136",
		"-e", "eth.dst", "-e", "eth.src", "-e", "arp.opcode", "-e", "arp.src.proto_ipv4", "-e", "arp.dst.hw_mac", "-e", "arp.dst.proto_ipv4",
		"-e", "ipv6.src", "-e", "ipv6.dst", "-e", "ipv6.hlim", "-e", "icmpv6.nd.na.flag.s", "-e", "icmpv6.nd.na.flag.o",
		"-e", "icmpv6.nd.na.target_address", "-e", "icmpv6.opt.linkaddr")
	m := mac.String()
	want := []string{
		"ff:ff:ff:ff:ff:ff," + m + ",1,198.18.0.200,ff:ff:ff:ff:ff:ff,198.18.0.200,,,,,,,",
		"ff:ff:ff:ff:ff:ff," + m + ",2,198.18.0.200,ff:ff:ff:ff:ff:ff,198.18.0.200,,,,,,,",
		"33:33:00:00:00:01," + m + ",,,,,2001:db8:18::200,ff02::1,255,False,True,2001:db8:18::200," + m,
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		// tshark prints flags as True/False or 1/0 depending on the version.
		l = strings.NewReplacer(",0,1,", ",False,True,").Replace(l)
		got = append(got, l)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("captured frames (-want +got):\n%s", d)
	}
}
