package agent_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hac-project/hac/agent/agenttest"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/internal/netns"
)

// TestHealth runs the real agent with a health check, tracked interfaces
// and a notify command on n1 (priority 200) against n2 (100), VRRPv3 at
// 100 ms: a failing check (weight -150) moves the VIP to n2 and back when
// it passes again; a tracked interface (weight -150) going down does the
// same; a weight-0 tracked interface going down puts n1 in FAULT.
func TestHealth(t *testing.T) {
	bed := needBed(t, netns.Spec{})
	n1, n2 := bed.Node("n1"), bed.Node("n2")
	for _, d := range []string{"trk0", "trk1"} { // veth pairs: a link with carrier
		bed.Exec(n1.NS, "ip", "link", "add", d, "type", "veth", "peer", "name", d+"p")
		bed.Exec(n1.NS, "ip", "link", "set", d+"p", "up")
		bed.Exec(n1.NS, "ip", "link", "set", d, "up")
	}
	dir := t.TempDir()
	healthy := filepath.Join(dir, "healthy")
	marker := filepath.Join(dir, "n1-master")
	if err := os.WriteFile(healthy, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	in1 := agenttest.Instance("VI_1", 51, 3, 100*time.Millisecond, 200, vip1)
	in1.Checks = []config.Check{{
		Name: "web", Command: []string{"test", "-f", healthy},
		Interval: config.Duration(100 * time.Millisecond), Timeout: config.Duration(time.Second),
		Rise: 1, Fall: 1, Weight: -150,
	}}
	in1.Track = []config.Track{{Interface: "trk0", Weight: -150}, {Interface: "trk1", Weight: 0}}
	in1.Notify = &config.Notify{Master: []string{"touch", marker}}
	a1 := agenttest.NewHac(t, bed, n1, in1)
	a2 := agenttest.NewHac(t, bed, n2, agenttest.Instance("VI_1", 51, 3, 100*time.Millisecond, 100, vip1))
	a1.Start()
	a2.Start()
	agenttest.WaitState(t, a1, "VI_1", "MASTER", 5*time.Second)
	agenttest.WaitState(t, a2, "VI_1", "BACKUP", 5*time.Second)
	bed.Eventually(2*time.Second, "notify master did not write its marker", func() bool {
		_, err := os.Stat(marker)
		return err == nil
	})
	type tracking struct {
		Priority, Base int
		Tracks, Checks []status.Item
	}
	in := a1.Instance("VI_1")
	want := tracking{Priority: 200, Base: 200,
		Tracks: []status.Item{{Name: "trk0", Up: true, Weight: -150}, {Name: "trk1", Up: true}},
		Checks: []status.Item{{Name: "web", Up: true, Weight: -150}},
	}
	got := tracking{Priority: in.Priority, Base: in.BasePriority, Tracks: in.Tracks, Checks: in.Checks}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(status.Item{}, "Results", "RunSeconds")); diff != "" {
		t.Errorf("n1 status (-want +got):\n%s", diff)
	}
	if c := in.Checks[0]; c.Results["ok"] == 0 || c.RunSeconds <= 0 {
		t.Errorf("n1's check ran without being counted: %v, %v s", c.Results, c.RunSeconds)
	}

	failover := func(what string, fail, heal func()) {
		t.Helper()
		fail()
		agenttest.WaitState(t, a2, "VI_1", "MASTER", 3*time.Second)
		agenttest.WaitState(t, a1, "VI_1", "BACKUP", 3*time.Second)
		if p := a1.Instance("VI_1").Priority; p != 50 {
			t.Errorf("%s: n1 priority %d, want 50", what, p)
		}
		if got := bed.Holders(netip.MustParseAddr(vip1)); len(got) != 1 || got[0] != "n2" {
			t.Errorf("%s: VIP holders %v, want [n2]", what, got)
		}
		heal()
		agenttest.WaitState(t, a1, "VI_1", "MASTER", 3*time.Second)
		agenttest.WaitState(t, a2, "VI_1", "BACKUP", 3*time.Second)
	}
	failover("check fails", func() {
		if err := os.Remove(healthy); err != nil {
			t.Fatal(err)
		}
	}, func() {
		if err := os.WriteFile(healthy, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	failover("tracked interface down", func() {
		bed.Exec(n1.NS, "ip", "link", "set", "trk0", "down")
	}, func() {
		bed.Exec(n1.NS, "ip", "link", "set", "trk0", "up")
	})

	bed.Exec(n1.NS, "ip", "link", "set", "trk1", "down")
	agenttest.WaitState(t, a1, "VI_1", "FAULT", 3*time.Second)
	agenttest.WaitState(t, a2, "VI_1", "MASTER", 3*time.Second)
	bed.Exec(n1.NS, "ip", "link", "set", "trk1", "up")
	agenttest.WaitState(t, a1, "VI_1", "MASTER", 3*time.Second)
	a1.NoDrops("VI_1")
	if r := a1.Instance("VI_1").Checks[0].Results; r["failed"] == 0 || r["ok"] == 0 {
		t.Errorf("n1's check runs by result %v, want ok and failed runs counted", r)
	}
	a1.Stop()
	a2.Stop()
}
