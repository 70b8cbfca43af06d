package agent_test

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hac-project/hac/agent/agenttest"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/internal/netns"
	"github.com/hac-project/hac/internal/testenv"
)

const vip1 = "198.18.0.200"

func TestMain(m *testing.M) { os.Exit(agenttest.Main(m)) }

// needBed creates a bed for a parallel test.
func needBed(t *testing.T, spec netns.Spec) *netns.Bed {
	t.Helper()
	testenv.NeedRoot(t)
	t.Parallel()
	return netns.New(t, spec)
}

// holds reports whether n carries address a on eth1.
func holds(bed *netns.Bed, n agenttest.Node, a string) bool {
	return bed.HasAddr(n.Node().NS, netns.NodeIface, netip.MustParseAddr(a))
}

// TestSeedScenario is the blog post's setup on VRRPv3 at 100 ms: the
// client pings the VIP; the master's link goes down and the backup takes
// over; both down and the VIP is gone; a node comes back; the higher
// priority master comes back and preempts; the VIP answers throughout.
func TestSeedScenario(t *testing.T) {
	bed := needBed(t, netns.Spec{})
	n1, n2 := bed.Node("n1"), bed.Node("n2")
	a1 := agenttest.NewHac(t, bed, n1, agenttest.Instance("VI_1", 51, 3, 100*time.Millisecond, 200, vip1))
	a2 := agenttest.NewHac(t, bed, n2, agenttest.Instance("VI_1", 51, 3, 100*time.Millisecond, 100, vip1))
	a1.Start()
	a2.Start()
	agenttest.WaitState(t, a1, "VI_1", "MASTER", 5*time.Second)
	agenttest.WaitState(t, a2, "VI_1", "BACKUP", 5*time.Second)
	vip := netip.MustParseAddr(vip1)
	if !bed.Answers(vip, 2*time.Second) {
		t.Fatalf("the VIP does not answer with n1 master")
	}
	if got := bed.Holders(vip); len(got) != 1 || got[0] != "n1" {
		t.Fatalf("VIP holders %v, want [n1]", got)
	}

	bed.CutLink(n1)
	agenttest.WaitState(t, a2, "VI_1", "MASTER", 3*time.Second)
	agenttest.WaitState(t, a1, "VI_1", "FAULT", 3*time.Second)
	if holds(bed, a1, vip1) {
		t.Errorf("n1 keeps the VIP in FAULT")
	}
	if !bed.Answers(vip, 2*time.Second) {
		t.Errorf("the VIP does not answer after n2 took over")
	}

	bed.CutLink(n2)
	agenttest.WaitState(t, a2, "VI_1", "FAULT", 3*time.Second)
	if bed.Answers(vip, 300*time.Millisecond) {
		t.Errorf("the VIP answers with both links down")
	}

	bed.Heal(n2)
	agenttest.WaitState(t, a2, "VI_1", "MASTER", 3*time.Second)
	if !bed.Answers(vip, 2*time.Second) {
		t.Errorf("the VIP does not answer after n2 came back")
	}

	p := bed.Probe(vip, 10*time.Millisecond)
	bed.Heal(n1)
	agenttest.WaitState(t, a1, "VI_1", "MASTER", 3*time.Second)
	agenttest.WaitState(t, a2, "VI_1", "BACKUP", 3*time.Second)
	time.Sleep(300 * time.Millisecond)
	r := p.Stop()
	t.Logf("takeback by n1: %v", r)
	if got := bed.Holders(vip); len(got) != 1 || got[0] != "n1" {
		t.Errorf("VIP holders after takeback %v, want [n1]", got)
	}
	if !bed.Answers(vip, 2*time.Second) {
		t.Errorf("the VIP does not answer after n1 preempted")
	}
	a1.NoDrops("VI_1")
	a2.NoDrops("VI_1")
	a1.Stop()
	a2.Stop()
}

// pair starts hac on n1 (priority 200) and n2 (priority 100) with the same
// instances and waits for n1 to be master of the first one.
func pair(t *testing.T, spec netns.Spec, mk func(prio uint8) []config.Instance) (*netns.Bed, *agenttest.Hac, *agenttest.Hac) {
	t.Helper()
	return pairOn(t, needBed(t, spec), "", mk)
}

// pairOn is pair on a bed the caller made, running the given hac binary
// (empty: agenttest.AgentBinary).
func pairOn(t *testing.T, bed *netns.Bed, binary string, mk func(prio uint8) []config.Instance) (*netns.Bed, *agenttest.Hac, *agenttest.Hac) {
	t.Helper()
	a1 := agenttest.NewHac(t, bed, bed.Node("n1"), mk(200)...)
	a2 := agenttest.NewHac(t, bed, bed.Node("n2"), mk(100)...)
	a1.Binary, a2.Binary = binary, binary
	a1.Start()
	a2.Start()
	name := mk(1)[0].Name
	agenttest.WaitState(t, a1, name, "MASTER", 10*time.Second)
	agenttest.WaitState(t, a2, name, "BACKUP", 10*time.Second)
	return bed, a1, a2
}

func v3pair(prio uint8) []config.Instance {
	return []config.Instance{agenttest.Instance("VI_1", 51, 3, 100*time.Millisecond, prio, vip1)}
}

// TestGracefulStop: SIGTERM on the master hands off make-before-break: the
// client, probing every 10 ms, loses nothing.
func TestGracefulStop(t *testing.T) {
	bed, a1, a2 := pair(t, netns.Spec{}, v3pair)
	vip := netip.MustParseAddr(vip1)
	bed.Eventually(2*time.Second, "VIP does not answer", func() bool { return bed.Answers(vip, 200*time.Millisecond) })
	p := bed.Probe(vip, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	a1.Stop()
	agenttest.WaitState(t, a2, "VI_1", "MASTER", 2*time.Second)
	time.Sleep(300 * time.Millisecond)
	r := p.Stop()
	t.Logf("SIGTERM handoff: %v", r)
	if r.Lost != 0 {
		t.Errorf("graceful stop lost %d probes (longest gap %v), want 0", r.Lost, r.MaxGap)
	}
	if holds(bed, a1, vip1) {
		t.Errorf("the stopped agent left the VIP on n1")
	}
	a2.NoDrops("VI_1")
}

// TestHandoffCommand: hac-agent handoff moves mastership without stopping
// the agent and without loss; --release gives it back.
func TestHandoffCommand(t *testing.T) {
	bed, a1, a2 := pair(t, netns.Spec{}, v3pair)
	vip := netip.MustParseAddr(vip1)
	bed.Eventually(2*time.Second, "VIP does not answer", func() bool { return bed.Answers(vip, 200*time.Millisecond) })
	p := bed.Probe(vip, 10*time.Millisecond)
	out := bed.Exec(a1.Node().NS, agenttest.AgentBinary(t), "handoff", "--socket", a1.Socket)
	t.Logf("hac-agent handoff: %s", strings.TrimSpace(out))
	agenttest.WaitState(t, a2, "VI_1", "MASTER", 2*time.Second)
	agenttest.WaitState(t, a1, "VI_1", "BACKUP", 2*time.Second)
	time.Sleep(300 * time.Millisecond)
	r := p.Stop()
	t.Logf("handoff: %v", r)
	if r.Lost != 0 {
		t.Errorf("handoff lost %d probes, want 0", r.Lost)
	}
	if in := a1.Instance("VI_1"); in.Priority != 1 || in.BasePriority != 200 {
		t.Errorf("n1 after handoff: priority %d/%d, want 1/200", in.Priority, in.BasePriority)
	}
	bed.Exec(a1.Node().NS, agenttest.AgentBinary(t), "handoff", "--release", "--socket", a1.Socket)
	agenttest.WaitState(t, a1, "VI_1", "MASTER", 3*time.Second)

	// The text status shows the table.
	txt := bed.Exec(a1.Node().NS, agenttest.AgentBinary(t), "status", "--socket", a1.Socket)
	if !strings.Contains(txt, "VI_1") || !strings.Contains(txt, "MASTER") || !strings.Contains(txt, "sha256:") {
		t.Errorf("hac-agent status:\n%s\nwant the instance, its state and the config digest", txt)
	}
}

// TestTakeoverCommand: hac-agent takeover makes the backup master by
// preemption at priority 254, without loss; --release restores its
// priority and the preferred master preempts back, without loss either.
func TestTakeoverCommand(t *testing.T) {
	bed, a1, a2 := pair(t, netns.Spec{}, v3pair)
	vip := netip.MustParseAddr(vip1)
	bed.Eventually(2*time.Second, "VIP does not answer", func() bool { return bed.Answers(vip, 200*time.Millisecond) })
	p := bed.Probe(vip, 10*time.Millisecond)
	out := bed.Exec(a2.Node().NS, agenttest.AgentBinary(t), "takeover", "--socket", a2.Socket)
	t.Logf("hac-agent takeover: %s", strings.TrimSpace(out))
	agenttest.WaitState(t, a2, "VI_1", "MASTER", 2*time.Second)
	agenttest.WaitState(t, a1, "VI_1", "BACKUP", 2*time.Second)
	if in := a2.Instance("VI_1"); in.Priority != 254 || in.BasePriority != 100 {
		t.Errorf("n2 taking over: priority %d/%d, want 254/100", in.Priority, in.BasePriority)
	}
	bed.Exec(a2.Node().NS, agenttest.AgentBinary(t), "takeover", "--release", "--socket", a2.Socket)
	agenttest.WaitState(t, a1, "VI_1", "MASTER", 3*time.Second)
	agenttest.WaitState(t, a2, "VI_1", "BACKUP", 3*time.Second)
	time.Sleep(300 * time.Millisecond)
	r := p.Stop()
	t.Logf("takeover and release: %v", r)
	if r.Lost != 0 {
		t.Errorf("takeover and release lost %d probes, want 0", r.Lost)
	}
}

// TestCrash: SIGKILL of the master. The backup takes over; the dead
// agent's VIP expires with its lease (keepalived leaves it forever); a
// restarted agent finds no stale VIP and takes mastership back cleanly.
func TestCrash(t *testing.T) {
	bed, a1, a2 := pair(t, netns.Spec{}, v3pair)
	vip := netip.MustParseAddr(vip1)
	a1.Kill()
	killed := time.Now()
	agenttest.WaitState(t, a2, "VI_1", "MASTER", 2*time.Second)
	// Both hold the VIP until the lease of the dead one runs out.
	// The lease is 1 s (Master_Down_Interval 0.36 s rounded up); the
	// bound is generous for a loaded CI machine, the benchmark measures.
	bed.Eventually(5*time.Second, "the killed agent's VIP did not expire", func() bool { return !holds(bed, a1, vip1) })
	t.Logf("VIP gone from the killed node %v after SIGKILL (lease 1s)", time.Since(killed).Round(10*time.Millisecond))
	if !bed.Answers(vip, 2*time.Second) {
		t.Errorf("the VIP does not answer after the crash")
	}
	// Restart at once after another crash: the stale VIP is removed at
	// start, before the agent can even be backup.
	a2.Kill()
	bed.Exec(a1.Node().NS, "ip", "addr", "add", vip1+"/32", "dev", netns.NodeIface, "valid_lft", "1", "preferred_lft", "1") // a leased VIP, as a killed agent leaves it (a permanent one is refused: TestRefusedBeforeTouching)
	a1.Start()
	agenttest.WaitState(t, a1, "VI_1", "MASTER", 3*time.Second)
	a2.Start()
	agenttest.WaitState(t, a2, "VI_1", "BACKUP", 3*time.Second)
	if got := bed.Holders(vip); len(got) != 1 || got[0] != "n1" {
		t.Errorf("VIP holders after restarts: %v, want [n1]", got)
	}
}

// TestSplitBrain: the backup is cut off from the bridge but keeps its
// carrier, so both become master; after healing exactly one is.
func TestSplitBrain(t *testing.T) {
	bed, a1, a2 := pair(t, netns.Spec{}, v3pair)
	bed.Isolate(a2.Node())
	agenttest.WaitState(t, a2, "VI_1", "MASTER", 2*time.Second)
	if got := a1.Instance("VI_1").State; got != "MASTER" {
		t.Errorf("n1 during split brain: %s, want MASTER", got)
	}
	bed.Heal(a2.Node())
	agenttest.WaitState(t, a2, "VI_1", "BACKUP", 2*time.Second)
	agenttest.WaitState(t, a1, "VI_1", "MASTER", 2*time.Second)
	if got := bed.Holders(netip.MustParseAddr(vip1)); len(got) != 1 || got[0] != "n1" {
		t.Errorf("VIP holders after healing: %v, want [n1]", got)
	}
}

// TestVIPRestore: while master, a VIP something else removed is put back
// and counted.
func TestVIPRestore(t *testing.T) {
	bed, a1, _ := pair(t, netns.Spec{}, v3pair)
	bed.Exec(a1.Node().NS, "ip", "addr", "del", vip1+"/32", "dev", netns.NodeIface)
	bed.Eventually(2*time.Second, "the VIP was not put back", func() bool { return holds(bed, a1, vip1) })
	bed.Eventually(2*time.Second, "vip_restored not counted", func() bool { return a1.Instance("VI_1").Counters.VIPRestored == 1 })
}

// TestActiveActive: two instances with opposite priorities: each node is
// master of one, with independent timers; losing one node moves both to
// the other.
func TestActiveActive(t *testing.T) {
	bed, a1, a2 := pair(t, netns.Spec{}, func(prio uint8) []config.Instance {
		return []config.Instance{
			agenttest.Instance("VI_1", 51, 3, 100*time.Millisecond, prio, vip1),
			agenttest.Instance("VI_2", 52, 3, 100*time.Millisecond, uint8(300-int(prio)), "198.18.0.201"),
		}
	})
	agenttest.WaitState(t, a2, "VI_2", "MASTER", 3*time.Second)
	agenttest.WaitState(t, a1, "VI_2", "BACKUP", 3*time.Second)
	if !holds(bed, a2, "198.18.0.201") || holds(bed, a2, vip1) || !holds(bed, a1, vip1) || holds(bed, a1, "198.18.0.201") {
		t.Errorf("n1 holds %v, n2 holds %v; want 198.18.0.200 on n1 and .201 on n2",
			bed.Addrs(a1.Node().NS, netns.NodeIface), bed.Addrs(a2.Node().NS, netns.NodeIface))
	}
	bed.CutLink(a1.Node())
	agenttest.WaitState(t, a2, "VI_1", "MASTER", 2*time.Second)
	if got := a2.Instance("VI_2").Counters.Transitions; got != 2 {
		t.Errorf("VI_2 on n2 made %d transitions, want 2 (init, master): it must not notice VI_1's failover", got)
	}
	for _, v := range []string{vip1, "198.18.0.201"} {
		if !bed.Answers(netip.MustParseAddr(v), 2*time.Second) {
			t.Errorf("%s does not answer after n1's link went down", v)
		}
	}
}

// TestFlavours runs a failover in each protocol flavour: VRRPv2 with PASS
// authentication, VRRPv3 over IPv6, and unicast VRRPv3.
func TestFlavours(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec netns.Spec
		mk   func(prio uint8) []config.Instance
		vip  string
	}{
		{"v2-pass", netns.Spec{}, func(prio uint8) []config.Instance {
			in := agenttest.Instance("VI_1", 51, 2, time.Second, prio, vip1)
			in.Auth = &config.Auth{Type: "PASS", Pass: "pass1234"}
			return []config.Instance{in}
		}, vip1},
		{"v3-ipv6", netns.Spec{IPv6: true}, func(prio uint8) []config.Instance {
			return []config.Instance{agenttest.Instance("VI_6", 61, 3, 100*time.Millisecond, prio, "2001:db8:18::200")}
		}, "2001:db8:18::200"},
		{"v3-unicast", netns.Spec{}, func(prio uint8) []config.Instance {
			in := agenttest.Instance("VI_U", 70, 3, 100*time.Millisecond, prio, vip1)
			in.Unicast = true
			in.Peers = []netip.Addr{netip.MustParseAddr("198.18.0.11"), netip.MustParseAddr("198.18.0.12")}
			if prio == 200 {
				in.Peers = in.Peers[1:]
			} else {
				in.Peers = in.Peers[:1]
			}
			return []config.Instance{in}
		}, vip1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bed, a1, a2 := pair(t, tc.spec, tc.mk)
			name := tc.mk(1)[0].Name
			vip := netip.MustParseAddr(tc.vip)
			if !bed.Answers(vip, 3*time.Second) {
				t.Fatalf("%s does not answer", tc.vip)
			}
			bed.CutLink(a1.Node())
			agenttest.WaitState(t, a2, name, "MASTER", 5*time.Second)
			if !bed.Answers(vip, 3*time.Second) {
				t.Errorf("%s does not answer after failover", tc.vip)
			}
			bed.Heal(a1.Node())
			agenttest.WaitState(t, a1, name, "MASTER", 6*time.Second)
			agenttest.WaitState(t, a2, name, "BACKUP", 3*time.Second)
			a1.NoDrops(name)
			a2.NoDrops(name)
		})
	}
}

// TestThreeNodes: priorities 200, 150, 50: when the master fails the next
// priority takes over (RFC 5798 section 6.1: its Skew_Time is shorter,
// here by 117 ms at 300 ms adverts), and the lowest stays backup.
func TestThreeNodes(t *testing.T) {
	bed := needBed(t, netns.Spec{Nodes: []string{"n1", "n2", "n3"}})
	var as []*agenttest.Hac
	for i, prio := range []uint8{200, 150, 50} {
		a := agenttest.NewHac(t, bed, bed.Nodes[i], agenttest.Instance("VI_1", 51, 3, 300*time.Millisecond, prio, vip1))
		a.Start()
		if i == 0 {
			// Start the others once n1 is master, so that none of them
			// can win a startup race on a loaded machine.
			agenttest.WaitState(t, a, "VI_1", "MASTER", 5*time.Second)
		}
		as = append(as, a)
	}
	agenttest.WaitState(t, as[2], "VI_1", "BACKUP", 5*time.Second)
	bed.CutLink(as[0].Node())
	agenttest.WaitState(t, as[1], "VI_1", "MASTER", 3*time.Second)
	time.Sleep(500 * time.Millisecond)
	if got := as[2].Instance("VI_1"); got.State != "BACKUP" || got.Counters.Transitions != 1 {
		t.Errorf("n3: %s after %d transitions, want BACKUP without ever being master", got.State, got.Counters.Transitions)
	}
	if got := bed.Holders(netip.MustParseAddr(vip1)); len(got) != 1 || got[0] != "n2" {
		t.Errorf("VIP holders %v, want [n2]", got)
	}
}
