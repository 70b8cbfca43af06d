package agentconf_test

import (
	"flag"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/targets/agentconf"
	"github.com/hac-project/hac/targets/internal/fixture"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestGolden(t *testing.T) {
	fixture.GoldenTarget(t, agentconf.AgentConf{}, nil, *update)
}

// TestParses checks that the agent reads back exactly what was rendered.
func TestParses(t *testing.T) {
	for _, fx := range fixture.All() {
		for _, n := range fx.Cluster.Nodes {
			files, err := agentconf.AgentConf{}.Render(fx.Cluster, n)
			if err != nil || len(files) != 1 {
				t.Fatalf("%s/%s: Render = %d files, %v; want 1", fx.Name, n.Name, len(files), err)
			}
			f := files[0]
			if f.Path != config.DefaultPath || f.Mode != 0o600 || !f.Secret {
				t.Errorf("%s/%s: file %s mode %04o secret %v, want %s 0600 secret", fx.Name, n.Name, f.Path, f.Mode, f.Secret, config.DefaultPath)
			}
			got, err := config.Parse(f.Data)
			if err != nil {
				t.Fatalf("%s/%s: %v", fx.Name, n.Name, err)
			}
			if diff := cmp.Diff(agentconf.Config(fx.Cluster, n), got, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
				t.Errorf("%s/%s: parsed config (-want +got):\n%s", fx.Name, n.Name, diff)
			}
		}
	}
}

func TestNotForKeepalived(t *testing.T) {
	c := fixture.WithKeepalived(fixture.Seed())
	if files, err := (agentconf.AgentConf{}).Render(c, c.Nodes[0]); err != nil || files != nil {
		t.Errorf("Render = %v, %v; want nothing when the cluster runs keepalived", files, err)
	}
}
