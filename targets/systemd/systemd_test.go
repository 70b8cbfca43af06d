package systemd_test

import (
	"flag"
	"testing"

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
