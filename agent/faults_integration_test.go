package agent_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hac-project/hac/agent/agenttest"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/netio"
	"github.com/hac-project/hac/agent/vrrp"
	"github.com/hac-project/hac/internal/netns"
	"github.com/hac-project/hac/internal/testenv"
)

// The agent under faults and hostile input (issue 8). Beds with an
// attacker have a third node, atk (198.18.0.13), that runs no agent and
// sends raw VRRP packets.

var withAttacker = netns.Spec{Nodes: []string{"n1", "n2", "atk"}}

// floodPair is pair with an attacker node, for the flood tests. They run
// the agent as it ships, without the race detector (which makes the
// receive path several times slower), and not in parallel with the
// package's other tests: a flood takes both cores of a small machine for
// seconds, and would starve the timers of the agents of other tests.
func floodPair(t *testing.T) (*netns.Bed, *agenttest.Hac, *agenttest.Hac) {
	t.Helper()
	testenv.NeedRoot(t)
	return pairOn(t, netns.New(t, withAttacker), agenttest.ShippingBinary(t), v3pair)
}

// rawSocket opens a VRRP socket on eth1 of node n, for sending raw
// packets from it.
func rawSocket(t *testing.T, n *netns.Node, multicast bool) *netio.RawConn {
	t.Helper()
	var c *netio.RawConn
	err := netns.Do(n.NS, func() error {
		ifi, err := net.InterfaceByName(netns.NodeIface)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err = netio.Listen(ctx, netio.Config{Interface: ifi, Multicast: multicast})
		return err
	})
	if err != nil {
		t.Fatalf("raw socket on %s: %v", n.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// advert marshals a VRRPv3 advert for VRID 51 and vip1 from src to dst.
func advert(t *testing.T, prio uint8, src, dst netip.Addr) []byte {
	t.Helper()
	p := vrrp.Packet{Version: 3, VRID: 51, Priority: prio, AdvertInt: 100 * time.Millisecond, Addrs: []netip.Addr{netip.MustParseAddr(vip1)}}
	b, err := p.Marshal(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// flood sends b from c to dst, every gap (0: as fast as it can), for d
// but at most max packets, and returns how many it sent.
func flood(c *netio.RawConn, b []byte, dst netip.Addr, gap, d time.Duration, max int) int {
	start := time.Now()
	n := 0
	for ; n < max && time.Since(start) < d; n++ {
		if gap > 0 {
			if wait := time.Until(start.Add(time.Duration(n) * gap)); wait > 0 {
				time.Sleep(wait)
			}
		}
		if c.Send(b, netip.Addr{}, dst) != nil {
			time.Sleep(time.Millisecond) // ENOBUFS: the queue is full
		}
	}
	return n
}

// TestSendFailure (issue 8 item 1): the master's own address is removed,
// so none of its adverts can be sent. It must not keep the VIP while the
// backup takes over: it goes to FAULT, the VIP goes, the failures are
// counted; when the address is back it rejoins and, preempting, takes
// mastership back.
func TestSendFailure(t *testing.T) {
	bed, a1, a2 := pair(t, netns.Spec{}, v3pair)
	vip := netip.MustParseAddr(vip1)
	own := netip.PrefixFrom(a1.Node().Addr, 24).String()
	bed.Exec(a1.Node().NS, "ip", "addr", "del", own, "dev", netns.NodeIface)
	agenttest.WaitState(t, a2, "VI_1", "MASTER", 3*time.Second)
	agenttest.WaitState(t, a1, "VI_1", "FAULT", 3*time.Second)
	bed.Eventually(2*time.Second, "the VIP is not on n2 alone", func() bool {
		h := bed.Holders(vip)
		return len(h) == 1 && h[0] == "n2"
	})
	time.Sleep(time.Second) // a second on: still one holder
	if h := bed.Holders(vip); len(h) != 1 || h[0] != "n2" {
		t.Errorf("VIP holders %v while n1 cannot send, want [n2]", h)
	}
	in := a1.Instance("VI_1")
	if in.Counters.SendErrors == 0 || in.Reason != "send_failed" {
		t.Errorf("n1: reason %q, %d send errors; want send_failed, counted", in.Reason, in.Counters.SendErrors)
	}
	if n := strings.Count(a1.Log(), "cannot send advert"); n != 1 {
		t.Errorf("n1 logged %d send failures in its first second, want 1 (then at most one every 10 s)", n)
	}
	bed.Exec(a1.Node().NS, "ip", "addr", "add", own, "dev", netns.NodeIface)
	agenttest.WaitState(t, a1, "VI_1", "MASTER", 3*time.Second)
	agenttest.WaitState(t, a2, "VI_1", "BACKUP", 3*time.Second)
	if h := bed.Holders(vip); len(h) != 1 || h[0] != "n1" {
		t.Errorf("VIP holders %v after n1's address came back, want [n1]", h)
	}
}

// TestCrashRestart (issue 8 item 4): SIGKILL of the master and a restart
// 1 s later, as the rendered unit does (Restart=on-failure, RestartSec=1s).
// The restarted agent finds its VIP still leased and resumes as master: a
// client probing every 10 ms loses nothing, and the VIP is never held by
// two nodes for longer than after a plain SIGKILL (the lease of the killed
// node). With VRRPv2 at 1 s the backup never even takes over; with VRRPv3
// at 100 ms the lease has (mostly) expired by the restart, and the
// restarted node takes mastership back make-before-break.
func TestCrashRestart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version int
		adv     time.Duration
		lease   time.Duration
	}{
		{"v2-1s", 2, time.Second, 4 * time.Second},
		{"v3-100ms", 3, 100 * time.Millisecond, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bed, a1, a2 := pair(t, netns.Spec{}, func(prio uint8) []config.Instance {
				return []config.Instance{agenttest.Instance("VI_1", 51, tc.version, tc.adv, prio, vip1)}
			})
			vip := netip.MustParseAddr(vip1)
			bed.Eventually(2*time.Second, "VIP does not answer", func() bool { return bed.Answers(vip, 200*time.Millisecond) })
			time.Sleep(2 * tc.adv)
			before := a2.Instance("VI_1").Counters.Transitions
			p := bed.Probe(vip, 10*time.Millisecond)
			dual := bed.WatchHolders(vip)
			a1.Kill()
			time.Sleep(time.Second)
			a1.Start()
			agenttest.WaitState(t, a1, "VI_1", "MASTER", 5*time.Second)
			agenttest.WaitState(t, a2, "VI_1", "BACKUP", 5*time.Second)
			time.Sleep(4 * tc.adv)
			r := p.Stop()
			d := dual()
			in1, in2 := a1.Instance("VI_1"), a2.Instance("VI_1")
			t.Logf("SIGKILL + restart after 1 s: %v; two holders for %v at most; n1 back by %s; n2 made %d transitions",
				r, d, in1.Reason, in2.Counters.Transitions-before)
			if r.Lost != 0 {
				t.Errorf("lost %d probes (longest gap %v), want 0", r.Lost, r.MaxGap)
			}
			// After a plain SIGKILL two nodes hold the VIP from the
			// backup's takeover until the killed node's lease expires;
			// resuming ends that at the restart at the latest.
			if d > tc.lease {
				t.Errorf("two nodes held the VIP for %v, longer than the killed node's lease %v", d, tc.lease)
			}
			if tc.version == 2 && (in1.Reason != "resume" || in2.Counters.Transitions != before) {
				t.Errorf("n1 master by %q, n2 made %d transitions; want resume, none", in1.Reason, in2.Counters.Transitions-before)
			}
			if h := bed.Holders(vip); len(h) != 1 || h[0] != "n1" {
				t.Errorf("VIP holders %v, want [n1]", h)
			}
		})
	}
}

// TestCrashRestartLowerPriority (issue 8 item 4): the restarted node is
// not the rightful master (it finds a leased VIP on its interface while a
// higher-priority master runs). It resumes, the master answers its advert
// at once, and it steps down: the master never leaves MASTER and clients
// keep their answers.
func TestCrashRestartLowerPriority(t *testing.T) {
	bed, a1, a2 := pair(t, netns.Spec{}, v3pair)
	vip := netip.MustParseAddr(vip1)
	bed.Eventually(2*time.Second, "VIP does not answer", func() bool { return bed.Answers(vip, 200*time.Millisecond) })
	before := a1.Instance("VI_1").Counters.Transitions
	p := bed.Probe(vip, 10*time.Millisecond)
	a2.Kill()
	// What n2 would have left had it been master until moments ago.
	bed.Exec(a2.Node().NS, "ip", "addr", "add", vip1+"/32", "dev", netns.NodeIface, "valid_lft", "3", "preferred_lft", "3")
	a2.Start()
	agenttest.WaitState(t, a2, "VI_1", "BACKUP", 5*time.Second)
	bed.Eventually(2*time.Second, "n2 keeps the VIP", func() bool { return !holds(bed, a2, vip1) })
	time.Sleep(500 * time.Millisecond)
	r := p.Stop()
	t.Logf("lower-priority node restarted with a leased VIP: %v; n2 reason %s", r, a2.Instance("VI_1").Reason)
	if got := a1.Instance("VI_1"); got.State != "MASTER" || got.Counters.Transitions != before {
		t.Errorf("n1: %s after %d more transitions, want MASTER throughout", got.State, got.Counters.Transitions-before)
	}
	if r.Lost > 1 {
		t.Errorf("lost %d probes (longest gap %v), want at most 1", r.Lost, r.MaxGap)
	}
	if h := bed.Holders(vip); len(h) != 1 || h[0] != "n1" {
		t.Errorf("VIP holders %v, want [n1]", h)
	}
}

// TestUnicastStranger (issue 8 item 5): with unicast peers configured, a
// priority-255 advert from any other source is dropped and counted
// (source), as keepalived's unicast_peer does: the master stays master.
func TestUnicastStranger(t *testing.T) {
	bed, a1, a2 := pair(t, withAttacker, func(prio uint8) []config.Instance {
		in := agenttest.Instance("VI_U", 70, 3, 100*time.Millisecond, prio, vip1)
		in.VRID = 51
		in.Unicast = true
		in.Peers = []netip.Addr{netip.MustParseAddr("198.18.0.12")}
		if prio != 200 {
			in.Peers = []netip.Addr{netip.MustParseAddr("198.18.0.11")}
		}
		return []config.Instance{in}
	})
	atk := bed.Node("atk")
	c := rawSocket(t, atk, false)
	for _, n := range []*netns.Node{a1.Node(), a2.Node()} {
		flood(c, advert(t, 255, atk.Addr, n.Addr), n.Addr, 10*time.Millisecond, 500*time.Millisecond, 50)
	}
	time.Sleep(500 * time.Millisecond)
	for _, a := range []*agenttest.Hac{a1, a2} {
		if got := a.Instance("VI_U").Counters.Drops["source"]; got == 0 {
			t.Errorf("%s counted no source drops", a.Node().Name)
		}
	}
	if got := a1.Instance("VI_U"); got.State != "MASTER" || got.Counters.Transitions != 2 {
		t.Errorf("n1 after the stranger's adverts: %s after %d transitions, want MASTER (init, master)", got.State, got.Counters.Transitions)
	}
	if h := bed.Holders(netip.MustParseAddr(vip1)); len(h) != 1 || h[0] != "n1" {
		t.Errorf("VIP holders %v, want [n1]", h)
	}
}

// TestLowerPriorityFlood (issue 8 item 6): a flood of lower-priority
// adverts (1,000/s for 3 s) makes the master answer at most once per
// advert interval, with one GARP burst each: counted in the client
// namespace, not thousands of adverts and broadcast ARPs.
func TestLowerPriorityFlood(t *testing.T) {
	testenv.NeedTool(t, "tshark")
	bed, a1, a2 := floodPair(t)
	atk := bed.Node("atk")
	c := rawSocket(t, atk, true)
	capture := bed.Capture(bed.Client, netns.ClientIface, "arp or ip proto 112")
	const d = 3 * time.Second
	sent := flood(c, advert(t, 1, atk.Addr, vrrp.GroupIPv4), vrrp.GroupIPv4, time.Millisecond, d, 3000)
	pcap := capture.Stop()
	count := func(filter string) int {
		out := bed.Exec(bed.Client, "tshark", "-n", "-r", pcap, "-Y", filter, "-T", "fields", "-e", "frame.number")
		return len(strings.Fields(out))
	}
	adverts := count("vrrp && ip.src == " + a1.Node().Addr.String())
	garps := count("arp.src.proto_ipv4 == " + vip1)
	t.Logf("flood of %d priority-1 adverts in %v: n1 sent %d adverts and %d gratuitous ARP frames", sent, d, adverts, garps)
	// Its own adverts (every 100 ms) plus at most one answer per
	// interval; one GARP burst per answer (garp repeat 1: an ARP request
	// and a reply for the VIP); slack for the capture's start and stop.
	intervals := int(d/(100*time.Millisecond)) + 5
	if adverts > 2*intervals {
		t.Errorf("n1 sent %d adverts, want at most %d", adverts, 2*intervals)
	}
	if garps > 2*intervals {
		t.Errorf("n1 sent %d gratuitous ARP frames, want at most %d (one burst of 2 per interval)", garps, 2*intervals)
	}
	if a1.State("VI_1") != "MASTER" || a2.State("VI_1") != "BACKUP" {
		t.Errorf("after the flood: n1 %s, n2 %s; want MASTER, BACKUP", a1.State("VI_1"), a2.State("VI_1"))
	}
}

// TestGarbageFlood (issue 8 item 6): a flood of invalid VRRP packets (bad
// checksum) at the backup, as fast as a plain raw socket of the attacker
// can send for 4 s (one core of the machine; the agents share the other),
// must not starve its timers: it keeps hearing the healthy master's
// adverts and never becomes master. The drops are counted.
func TestGarbageFlood(t *testing.T) {
	bed, a1, a2 := floodPair(t)
	atk := bed.Node("atk")
	b := advert(t, 1, atk.Addr, a2.Node().Addr)
	b[6] ^= 0xff // the checksum
	before1, before2 := a1.Instance("VI_1").Counters.Transitions, a2.Instance("VI_1").Counters.Transitions
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	start := time.Now()
	for range 1 {
		var fd int
		err := netns.Do(atk.NS, func() (err error) {
			fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, vrrp.Protocol)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		to := &unix.SockaddrInet4{Addr: a2.Node().Addr.As4()}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for ; n < 3_000_000 && time.Since(start) < 4*time.Second; n++ {
				if unix.Sendto(fd, b, 0, to) != nil {
					time.Sleep(time.Millisecond) // ENOBUFS: the queue is full
				}
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	time.Sleep(200 * time.Millisecond)
	in1, in2 := a1.Instance("VI_1"), a2.Instance("VI_1")
	t.Logf("%d garbage packets in %v (%.0f/s): n2 counted %d checksum drops; n2 made %d transitions, n1 %d",
		total, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), in2.Counters.Drops["checksum"],
		in2.Counters.Transitions-before2, in1.Counters.Transitions-before1)
	if in2.Counters.Transitions != before2 || in2.State != "BACKUP" {
		t.Errorf("n2 flapped under the flood: %s after %d transitions, want BACKUP throughout", in2.State, in2.Counters.Transitions-before2)
	}
	if in1.Counters.Transitions != before1 || in1.State != "MASTER" {
		t.Errorf("n1: %s after %d transitions, want MASTER throughout", in1.State, in1.Counters.Transitions-before1)
	}
	if in2.Counters.Drops["checksum"] == 0 {
		t.Errorf("n2 counted no checksum drops")
	}
}

// TestPromoteSecondaries (issue 8 item 7): a VIP in the subnet of a
// node address on its device becomes the primary address when the node's
// address is removed and added again; removing the VIP later (here: a
// graceful stop) must not delete the node's address with it.
func TestPromoteSecondaries(t *testing.T) {
	bed := needBed(t, netns.Spec{Nodes: []string{"n1"}})
	n1 := bed.Node("n1")
	bed.Exec(n1.NS, "ip", "link", "add", "lan0", "type", "veth", "peer", "name", "lan0p")
	bed.Exec(n1.NS, "ip", "link", "set", "lan0p", "up")
	bed.Exec(n1.NS, "ip", "link", "set", "lan0", "up")
	own := netip.MustParsePrefix("198.19.0.1/24")
	bed.Exec(n1.NS, "ip", "addr", "add", own.String(), "dev", "lan0")
	in := agenttest.Instance("VI_1", 51, 3, 100*time.Millisecond, 200)
	in.VIPs = []config.VIP{{Prefix: netip.MustParsePrefix("198.19.0.200/24"), Device: "lan0"}}
	a1 := agenttest.NewHac(t, bed, n1, in)
	a1.Start()
	agenttest.WaitState(t, a1, "VI_1", "MASTER", 5*time.Second)
	has := func(a netip.Addr) bool { return bed.HasAddr(n1.NS, "lan0", a) }
	vip := netip.MustParseAddr("198.19.0.200")
	bed.Exec(n1.NS, "ip", "addr", "del", own.String(), "dev", "lan0")
	bed.Eventually(2*time.Second, "the VIP is gone from lan0", func() bool { return has(vip) })
	bed.Exec(n1.NS, "ip", "addr", "add", own.String(), "dev", "lan0")
	time.Sleep(300 * time.Millisecond)
	a1.Stop()
	if has(vip) {
		t.Errorf("the stopped agent left its VIP")
	}
	if !has(own.Addr()) {
		t.Errorf("removing the VIP removed the node's address %v: %v", own, bed.Addrs(n1.NS, "lan0"))
	}
}

// TestSpoofedOwnAddress (issue 8 item 7): an attacker sends priority-255
// adverts carrying the master's own source address (a raw IPv4 header,
// as a node with a duplicate address would): the master drops them,
// counts them (own_address), warns that another node uses its address,
// and stays master. Linux drops IPv4 packets from a local source address
// as martians unless accept_local is on (IPv6 has no such check): the
// test turns it on so that the packets reach the agent.
func TestSpoofedOwnAddress(t *testing.T) {
	bed, a1, _ := pair(t, withAttacker, v3pair)
	atk, n1 := bed.Node("atk"), a1.Node()
	bed.Exec(n1.NS, "sysctl", "-qw", "net.ipv4.conf."+netns.NodeIface+".accept_local=1", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf."+netns.NodeIface+".rp_filter=0")
	var fd int
	err := netns.Do(atk.NS, func() (err error) {
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW); err != nil {
			return err
		}
		return unix.BindToDevice(fd, netns.NodeIface)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	payload := advert(t, 255, n1.Addr, vrrp.GroupIPv4)
	// IPv4 header: the kernel fills in the checksum and the ID.
	hdr := []byte{0x45, 0xc0, 0, byte(20 + len(payload)), 0, 0, 0, 0, vrrp.TTL, vrrp.Protocol, 0, 0}
	hdr = append(append(hdr, n1.Addr.AsSlice()...), vrrp.GroupIPv4.AsSlice()...)
	to := &unix.SockaddrInet4{Addr: vrrp.GroupIPv4.As4()}
	for range 5 {
		if err := unix.Sendto(fd, append(hdr, payload...), 0, to); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	bed.Eventually(2*time.Second, "n1 did not count own_address drops", func() bool {
		return a1.Instance("VI_1").Counters.Drops["own_address"] == 5
	})
	if got := a1.Instance("VI_1"); got.State != "MASTER" || got.Counters.Transitions != 2 {
		t.Errorf("n1: %s after %d transitions, want MASTER (init, master)", got.State, got.Counters.Transitions)
	}
	if !strings.Contains(a1.Log(), "another node uses our address") {
		t.Errorf("n1 did not warn that another node uses its address")
	}
}
