package keepalived_test

import (
	"flag"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hac-project/hac/model"
	"github.com/hac-project/hac/targets/internal/fixture"
	"github.com/hac-project/hac/targets/keepalived"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestGolden(t *testing.T) {
	fixture.GoldenTarget(t, keepalived.Keepalived{}, fixture.WithKeepalived, *update)
}

func TestNotForAgent(t *testing.T) {
	c := fixture.Seed()
	if files, err := (keepalived.Keepalived{}).Render(c, c.Nodes[0]); err != nil || files != nil {
		t.Errorf("Render = %v, %v; want nothing when the cluster runs the hac agent", files, err)
	}
}

// TestErrors covers the values keepalived.conf cannot express. No error
// may carry the auth pass.
func TestErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *model.Cluster)
		want   string
	}{
		{"fractional v2 advert", func(c *model.Cluster) { c.Instances[0].AdvertInt = 1500 * time.Millisecond }, "VRRPv2 adverts are whole seconds"},
		{"tracks own interface", func(c *model.Cluster) {
			c.Instances[0].Track = []model.TrackInterface{{Interface: "eth1", Weight: 10}}
		}, "track_interfaces[0].interface: keepalived always tracks the instance's own interface eth1"},
		{"fractional check interval", func(c *model.Cluster) {
			c.Instances[0].Checks = []model.Check{{Name: "chk", Command: []string{"/bin/true"}, Interval: 500 * time.Millisecond, Timeout: time.Second}}
		}, "checks.chk.interval: interval 500ms: keepalived takes whole seconds here"},
		{"quote in argument", func(c *model.Cluster) {
			c.Instances[0].Notify.Master = []string{"/usr/bin/logger", `say "hi"`}
		}, "vrrp.VI_1.notify.master: argument"},
		{"empty argument", func(c *model.Cluster) {
			c.Instances[0].Notify.Stop = []string{"/usr/bin/logger", ""}
		}, "cannot carry empty arguments"},
		{"pass with a space", func(c *model.Cluster) {
			c.Instances[0].Auth.Pass = model.NewSecret("se cret", "")
		}, "the auth pass holds a space"},
		{"unicast without source", func(c *model.Cluster) { c.Instances[0].Members[0].Source = netipZero }, "unicast needs the node's source address"},
		{"differing checks", func(c *model.Cluster) {
			in2 := *c.Instances[0]
			in2.Name, in2.VRID = "VI_2", 52
			c.Instances = append(c.Instances, &in2)
			chk := model.Check{Name: "chk", Command: []string{"/bin/true"}, Interval: time.Second, Timeout: time.Second}
			c.Instances[0].Checks = []model.Check{chk}
			chk.Weight = -10
			in2.Checks = []model.Check{chk}
		}, "vrrp.VI_2.checks.chk: check chk differs from the check of that name in instance VI_1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fixture.WithKeepalived(fixture.Seed())
			tt.change(c)
			_, err := keepalived.Keepalived{}.Render(c, c.Nodes[0])
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Render error = %v, want one containing %q", err, tt.want)
			}
			if p := c.Instances[0].Auth.Pass.Reveal(); strings.Contains(err.Error(), p) {
				t.Errorf("error %q carries the auth pass", err)
			}
		})
	}
}

// TestState checks that only a preempting instance without delay starts
// its preferred master as MASTER: keepalived clears nopreempt and
// preempt_delay on a MASTER.
func TestState(t *testing.T) {
	tests := []struct {
		name    string
		preempt bool
		delay   time.Duration
		want    []string
	}{
		{"preempt", true, 0, []string{"state MASTER", "state BACKUP"}},
		{"nopreempt", false, 0, []string{"state BACKUP\n    interface eth1\n    virtual_router_id 51\n    version 2\n    priority 200\n    advert_int 1\n    nopreempt", "state BACKUP"}},
		{"preempt delay", true, 30 * time.Second, []string{"state BACKUP", "state BACKUP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fixture.WithKeepalived(fixture.Seed())
			c.Instances[0].Preempt, c.Instances[0].PreemptDelay = tt.preempt, tt.delay
			for i, n := range c.Nodes {
				b, err := keepalived.Config(c, n)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(b), tt.want[i]) {
					t.Errorf("%s: config lacks %q:\n%s", n.Name, tt.want[i], b)
				}
			}
		})
	}
}

var netipZero netip.Addr
