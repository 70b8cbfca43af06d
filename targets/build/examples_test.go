package build_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/compiler"
	"github.com/hac-project/hac/internal/realtool"
	"github.com/hac-project/hac/model"
	"github.com/hac-project/hac/targets"
	"github.com/hac-project/hac/targets/agentconf"
	"github.com/hac-project/hac/targets/build"
	"github.com/hac-project/hac/targets/internal/fixture"
	"github.com/hac-project/hac/targets/keepalived"
	"github.com/hac-project/hac/targets/systemd"
)

const examplesDir = "../../examples"

// examples returns the example folders of the repository.
func examples(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(examplesDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		t.Fatalf("no examples in %s", examplesDir)
	}
	return names
}

// compile compiles one example; a secret read from the environment gets
// a fixed value so the output stays the same everywhere.
func compile(t *testing.T, name string) []*model.Cluster {
	t.Helper()
	res, err := compiler.Compile([]string{filepath.Join(examplesDir, name)}, compiler.Options{
		LookupEnv: func(string) (string, bool) { return "example", true },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Diags.HasErrors() {
		var b strings.Builder
		res.Diags.WriteText(&b)
		t.Fatalf("example %s is invalid:\n%s", name, b.String())
	}
	return res.Clusters
}

// TestExamples compiles every example, writes its build and compares the
// whole output folder with testdata/examples/<name>.txtar.
func TestExamples(t *testing.T) {
	for _, name := range examples(t) {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			if err := build.Write(out, mustBuild(t, compile(t, name))); err != nil {
				t.Fatal(err)
			}
			fixture.Golden(t, "testdata/examples/"+name+".txtar", fixture.Dir(t, out), *update)
		})
	}
}

// TestExamplesAgentValidate: every node's agent.json of every example
// passes the agent's own validation (config.Validate), so an example that
// vets is one the agent runs.
func TestExamplesAgentValidate(t *testing.T) {
	for _, name := range examples(t) {
		for _, c := range compile(t, name) {
			for _, n := range c.Nodes {
				files, err := agentconf.AgentConf{}.Render(c, n)
				if err != nil {
					t.Errorf("%s/%s: %v", name, n.Name, err)
					continue
				}
				for _, f := range files {
					cfg, err := config.Parse(f.Data)
					if err == nil {
						err = cfg.Validate()
					}
					if err != nil {
						t.Errorf("%s/%s: the agent would refuse %s:\n%v", name, n.Name, f.Path, err)
					}
				}
			}
		}
	}
}

// TestExamplesRealTools hands every example's files to the real tools:
// netplan generate, ifquery and ifup --no-act, systemd-analyze verify, and
// keepalived --config-test (on the keepalived.conf the example would get
// with keepalived: true).
func TestExamplesRealTools(t *testing.T) {
	for _, name := range examples(t) {
		for _, c := range compile(t, name) {
			for _, n := range c.Nodes {
				t.Run(name+"/"+n.Name, func(t *testing.T) {
					trees := mustBuild(t, []*model.Cluster{c})
					for _, f := range trees[c.Name+"/"+n.Name].Files {
						checkFile(t, c, n, f)
					}
					kc := fixture.WithKeepalived(c)
					files, err := keepalived.Keepalived{}.Render(kc, n)
					if err != nil || len(files) != 1 {
						t.Fatalf("keepalived: Render = %d files, %v; want 1", len(files), err)
					}
					realtool.KeepalivedConfigTest(t, files[0], realtool.Interfaces(kc, n))
				})
			}
		}
	}
}

// checkFile runs the real tool that reads f, if any, and checks the node's
// addresses come out of it.
func checkFile(t *testing.T, c *model.Cluster, n *model.Node, f targets.File) {
	t.Helper()
	var out string
	switch {
	case strings.HasPrefix(f.Path, "/etc/netplan/"):
		out = realtool.Netplan(t, f, n.Interface)
	case strings.HasPrefix(f.Path, "/etc/network/interfaces.d/"):
		out = realtool.Ifupdown(t, f, n.Interface)
	case f.Path == systemd.Path:
		realtool.SystemdVerify(t, f, systemd.Binary)
		return
	default:
		return
	}
	for _, a := range n.Addresses {
		if !strings.Contains(out, a.String()) {
			t.Errorf("%s: the tool's output lacks address %s:\n%s", f.Path, a, out)
		}
	}
}
