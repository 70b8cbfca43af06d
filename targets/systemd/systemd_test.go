package systemd_test

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/hac-project/hac/internal/realtool"
	"github.com/hac-project/hac/targets/internal/fixture"
	"github.com/hac-project/hac/targets/systemd"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestGolden(t *testing.T) {
	fixture.GoldenTarget(t, systemd.Systemd{}, nil, *update)
}

func TestNotForKeepalived(t *testing.T) {
	c := fixture.WithKeepalived(fixture.Seed())
	if files, err := (systemd.Systemd{}).Render(c, c.Nodes[0]); err != nil || files != nil {
		t.Errorf("Render = %v, %v; want nothing when the cluster runs keepalived", files, err)
	}
}

// TestVerify has systemd-analyze verify every unit.
func TestVerify(t *testing.T) {
	for _, fx := range fixture.All() {
		for _, n := range fx.Cluster.Nodes {
			t.Run(fx.Name+"/"+n.Name, func(t *testing.T) {
				files, err := systemd.Systemd{}.Render(fx.Cluster, n)
				if err != nil || len(files) != 1 {
					t.Fatalf("Render = %d files, %v; want 1", len(files), err)
				}
				realtool.SystemdVerify(t, files[0], systemd.Binary)
			})
		}
	}
}

// TestCheckUserCapabilities: a check that runs as another user needs the
// agent to switch to that user and to kill it on timeout, inside the
// same sandbox; without one the agent keeps only its two capabilities.
func TestCheckUserCapabilities(t *testing.T) {
	for _, tc := range []struct {
		user string
		want string
	}{
		{"", "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN\n"},
		{"nobody", "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN CAP_SETUID CAP_SETGID CAP_KILL\n"},
	} {
		c := fixture.ThreeNode()
		found := false
		for _, in := range c.Instances {
			for i := range in.Checks {
				in.Checks[i].User = tc.user
				found = true
			}
		}
		if !found {
			t.Fatal("the three-node fixture has no check any more: pick another")
		}
		files, err := systemd.Systemd{}.Render(c, c.Nodes[0])
		if err != nil || len(files) != 1 {
			t.Fatalf("Render = %d files, %v", len(files), err)
		}
		unit := string(files[0].Data)
		if !strings.Contains(unit, tc.want) || !strings.Contains(unit, "\nProtectSystem=strict\n") {
			t.Errorf("check user %q: unit lacks %q or the sandbox:\n%s", tc.user, tc.want, unit)
		}
		realtool.SystemdVerify(t, files[0], systemd.Binary)
	}
}

// TestStartTimeout: the unit waits for READY=1 at least as long as the
// first run of the slowest check may take, with a margin.
func TestStartTimeout(t *testing.T) {
	for _, tc := range []struct {
		timeout time.Duration
		want    string
	}{
		{2 * time.Second, "\nTimeoutStartSec=90\n"},
		{100 * time.Second, "\nTimeoutStartSec=130\n"},
	} {
		c := fixture.ThreeNode()
		for _, in := range c.Instances {
			for i := range in.Checks {
				in.Checks[i].Timeout = tc.timeout
			}
		}
		files, err := systemd.Systemd{}.Render(c, c.Nodes[0])
		if err != nil || len(files) != 1 {
			t.Fatalf("Render = %d files, %v", len(files), err)
		}
		if unit := string(files[0].Data); !strings.Contains(unit, tc.want) {
			t.Errorf("check timeout %v: unit lacks %q:\n%s", tc.timeout, tc.want, unit)
		}
	}
}

// TestStopAndReloadTimeouts: TimeoutStopSec covers the longest graceful
// stop (election.StopTime), and TimeoutStartSec, which bounds ExecReload=
// too, covers the longest reload once that is longer than 90 s.
func TestStopAndReloadTimeouts(t *testing.T) {
	for _, tc := range []struct {
		advert      time.Duration
		stop, start string
	}{
		{time.Second, "\nTimeoutStopSec=14\n", "\nTimeoutStartSec=90\n"},
		{10 * time.Second, "\nTimeoutStopSec=50\n", "\nTimeoutStartSec=90\n"},
		{40 * time.Second, "\nTimeoutStopSec=170\n", "\nTimeoutStartSec=170\n"},
		{255 * time.Second, "\nTimeoutStopSec=1030\n", "\nTimeoutStartSec=1030\n"},
	} {
		c := fixture.ThreeNode()
		for _, in := range c.Instances {
			in.AdvertInt = time.Second
		}
		c.Instances[0].AdvertInt = tc.advert
		files, err := systemd.Systemd{}.Render(c, c.Nodes[0])
		if err != nil || len(files) != 1 {
			t.Fatalf("Render = %d files, %v", len(files), err)
		}
		unit := string(files[0].Data)
		if !strings.Contains(unit, tc.stop) || !strings.Contains(unit, tc.start) {
			t.Errorf("longest advert %v: unit lacks %q or %q:\n%s", tc.advert, tc.stop, tc.start, unit)
		}
	}
}
