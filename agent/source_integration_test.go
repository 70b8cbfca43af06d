package agent_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/hac-project/hac/agent/agenttest"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/internal/netns"
)

// TestSourceMissing: a unicast instance whose source address is not on
// the interface at start goes to FAULT (it used to wait for it forever,
// before even serving its status socket), and the peer is master alone;
// when the address is added the instance comes back and, preempting,
// takes over. A backup whose address is removed goes to FAULT at once
// instead of taking over without a way to advertise, and comes back when
// the address does.
func TestSourceMissing(t *testing.T) {
	bed := needBed(t, netns.Spec{})
	n1, n2 := bed.Node("n1"), bed.Node("n2")
	unicast := func(self, other *netns.Node, prio uint8) config.Instance {
		in := agenttest.Instance("VI_1", 51, 3, 100*time.Millisecond, prio, vip1)
		in.Unicast, in.Source, in.Peers = true, self.Addr, []netip.Addr{other.Addr}
		return in
	}
	vip := netip.MustParseAddr(vip1)
	own1 := netip.PrefixFrom(n1.Addr, 24).String()
	bed.Exec(n1.NS, "ip", "addr", "del", own1, "dev", netns.NodeIface)
	a1 := agenttest.NewHac(t, bed, n1, unicast(n1, n2, 200))
	a2 := agenttest.NewHac(t, bed, n2, unicast(n2, n1, 100))
	a1.Start()
	a2.Start()
	agenttest.WaitState(t, a1, "VI_1", "FAULT", 5*time.Second)
	agenttest.WaitState(t, a2, "VI_1", "MASTER", 5*time.Second)
	if in := a1.Instance("VI_1"); in.Reason != "send_failed" || in.Counters.TransitionReasons["master_down_timer"] != 0 {
		t.Errorf("n1 without its address: reason %q, transitions %v; want send_failed, never master", in.Reason, in.Counters.TransitionReasons)
	}
	if h := bed.Holders(vip); len(h) != 1 || h[0] != "n2" {
		t.Errorf("VIP holders %v while n1 has no address, want [n2]", h)
	}

	bed.Exec(n1.NS, "ip", "addr", "add", own1, "dev", netns.NodeIface)
	agenttest.WaitState(t, a1, "VI_1", "MASTER", 3*time.Second)
	agenttest.WaitState(t, a2, "VI_1", "BACKUP", 3*time.Second)
	bed.Eventually(2*time.Second, "the VIP is not on n1 alone", func() bool {
		h := bed.Holders(vip)
		return len(h) == 1 && h[0] == "n1"
	})

	// The backup loses its address: FAULT, not a takeover.
	takeovers := a2.Instance("VI_1").Counters.TransitionReasons["master_down_timer"]
	own2 := netip.PrefixFrom(n2.Addr, 24).String()
	bed.Exec(n2.NS, "ip", "addr", "del", own2, "dev", netns.NodeIface)
	agenttest.WaitState(t, a2, "VI_1", "FAULT", 2*time.Second)
	time.Sleep(time.Second) // longer than n2's Master_Down_Interval
	if in := a2.Instance("VI_1"); in.State != "FAULT" || in.Counters.TransitionReasons["master_down_timer"] != takeovers {
		t.Errorf("n2 without its address: %s, %d takeovers more; want FAULT and none", in.State, in.Counters.TransitionReasons["master_down_timer"]-takeovers)
	}
	if got := a1.State("VI_1"); got != "MASTER" {
		t.Errorf("n1 is %s while n2 has no address, want MASTER", got)
	}
	bed.Exec(n2.NS, "ip", "addr", "add", own2, "dev", netns.NodeIface)
	agenttest.WaitState(t, a2, "VI_1", "BACKUP", 2*time.Second)
	if h := bed.Holders(vip); len(h) != 1 || h[0] != "n1" {
		t.Errorf("VIP holders %v at the end, want [n1]", h)
	}
}
