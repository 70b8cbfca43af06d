package agent_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/hac-project/hac/internal/netns"
)

const vip1 = "198.18.0.200"

// TestSeedScenario is the blog post's setup on VRRPv3 at 100 ms: the
// client pings the VIP; the master's link goes down and the backup takes
// over; both down and the VIP is gone; a node comes back; the higher
// priority master comes back and preempts; the VIP answers throughout.
func TestSeedScenario(t *testing.T) {
	bed := needBed(t, netns.Spec{})
	n1, n2 := bed.Node("n1"), bed.Node("n2")
	a1 := newHacNode(t, bed, n1, vrrpInstance("VI_1", 51, 3, 100*time.Millisecond, 200, vip1))
	a2 := newHacNode(t, bed, n2, vrrpInstance("VI_1", 51, 3, 100*time.Millisecond, 100, vip1))
	a1.start()
	a2.start()
	a1.waitState("VI_1", "MASTER", 5*time.Second)
	a2.waitState("VI_1", "BACKUP", 5*time.Second)
	vip := netip.MustParseAddr(vip1)
	if !bed.Answers(vip, 2*time.Second) {
		t.Fatalf("the VIP does not answer with n1 master")
	}
	if got := bed.Holders(vip); len(got) != 1 || got[0] != "n1" {
		t.Fatalf("VIP holders %v, want [n1]", got)
	}

	bed.CutLink(n1)
	a2.waitState("VI_1", "MASTER", 3*time.Second)
	a1.waitState("VI_1", "FAULT", 3*time.Second)
	if a1.holds(vip1) {
		t.Errorf("n1 keeps the VIP in FAULT")
	}
	if !bed.Answers(vip, 2*time.Second) {
		t.Errorf("the VIP does not answer after n2 took over")
	}

	bed.CutLink(n2)
	a2.waitState("VI_1", "FAULT", 3*time.Second)
	if bed.Answers(vip, 300*time.Millisecond) {
		t.Errorf("the VIP answers with both links down")
	}

	bed.Heal(n2)
	a2.waitState("VI_1", "MASTER", 3*time.Second)
	if !bed.Answers(vip, 2*time.Second) {
		t.Errorf("the VIP does not answer after n2 came back")
	}

	p := bed.Probe(vip, 10*time.Millisecond)
	bed.Heal(n1)
	a1.waitState("VI_1", "MASTER", 3*time.Second)
	a2.waitState("VI_1", "BACKUP", 3*time.Second)
	time.Sleep(300 * time.Millisecond)
	r := p.Stop()
	t.Logf("takeback by n1: %v", r)
	if got := bed.Holders(vip); len(got) != 1 || got[0] != "n1" {
		t.Errorf("VIP holders after takeback %v, want [n1]", got)
	}
	if !bed.Answers(vip, 2*time.Second) {
		t.Errorf("the VIP does not answer after n1 preempted")
	}
	a1.noDrops("VI_1")
	a2.noDrops("VI_1")
	a1.stop()
	a2.stop()
}
