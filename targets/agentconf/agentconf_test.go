package agentconf_test

import (
	"flag"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/model"
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

// TestRenderedPassValidate: every agent.json rendered from the fixtures
// passes the agent's own validation, the one it runs before it touches
// anything.
func TestRenderedPassValidate(t *testing.T) {
	for _, fx := range fixture.All() {
		for _, n := range fx.Cluster.Nodes {
			if err := agentconf.Config(fx.Cluster, n).Validate(); err != nil {
				t.Errorf("%s/%s: the agent would refuse the rendered agent.json:\n%v", fx.Name, n.Name, err)
			}
		}
	}
}

// TestRenderRefusesInvalid: hac build never writes an agent.json the agent
// would refuse; the error names the field and never shows the pass.
func TestRenderRefusesInvalid(t *testing.T) {
	c := fixture.Seed()
	const pass = "a-pass-of-twenty-four-b"
	c.Instances[0].Auth.Pass = model.NewSecret(pass, "")
	files, err := agentconf.AgentConf{}.Render(c, c.Nodes[0])
	if err == nil || files != nil {
		t.Fatalf("Render = %d files, %v; want an error", len(files), err)
	}
	want := "instances[0].auth.pass: 23 bytes long: PASS needs 1..8"
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), pass) {
		t.Errorf("Render error %q: want it to say %q without the pass", err, want)
	}
}
