package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/internal/version"
)

// The hac-agent and hac-metrics binaries the tests install, built once
// per test process.
var (
	agentOnce sync.Once
	agentDir  string
	agentErr  error
)

// buildAgent builds cmd/hac-agent and cmd/hac-metrics into the folder
// named variant of the tests' folder, static and without VCS stamping
// (the test binary has none either, so the versions match), with extra go
// build arguments, and returns the hac-agent's path.
func buildAgent(t *testing.T, variant string, env []string, extra ...string) string {
	t.Helper()
	agentOnce.Do(func() { agentDir, agentErr = os.MkdirTemp("", "hac-cli-agent-") })
	if agentErr != nil {
		t.Fatal(agentErr)
	}
	dir := filepath.Join(agentDir, variant)
	for _, prog := range []string{"hac-metrics", "hac-agent"} {
		p := filepath.Join(dir, prog)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		args := append([]string{"build", "-buildvcs=false", "-o", p}, extra...)
		cmd := exec.Command("go", append(args, "github.com/hac-project/hac/cmd/"+prog)...)
		cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build cmd/%s: %v\n%s", prog, err, out)
		}
	}
	return filepath.Join(dir, "hac-agent")
}

// testAgent is a hac-agent plan and apply can install, with its
// hac-metrics next to it: static, for this machine, of the test binary's
// version.
func testAgent(t *testing.T) string {
	t.Helper()
	return buildAgent(t, "current", nil)
}

// pair returns a folder holding a copy of the hac-agent at agent and,
// when metrics is not empty, of the file at metrics as its hac-metrics,
// and the hac-agent's path there (copies: a link to hac-agent would find
// the hac-metrics next to its target).
func pair(t *testing.T, agent, metrics string) string {
	t.Helper()
	dir := t.TempDir()
	cp := func(from, to string) {
		b, err := os.ReadFile(from)
		if err == nil {
			err = os.WriteFile(to, b, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	cp(agent, filepath.Join(dir, "hac-agent"))
	if metrics != "" {
		cp(metrics, filepath.Join(dir, "hac-metrics"))
	}
	return filepath.Join(dir, "hac-agent")
}

// cleanup runs the tests, then removes the binaries buildAgent built.
type cleanup struct{ m *testing.M }

func (c cleanup) Run() int {
	code := c.m.Run()
	if agentDir != "" {
		os.RemoveAll(agentDir)
	}
	return code
}

// TestLoadAgent: hac installs only a static hac-agent for Linux of its own
// version, with the hac-metrics of the same build and architecture next to
// it, and says what is wrong with any other file, naming it.
func TestLoadAgent(t *testing.T) {
	good := testAgent(t)
	a, err := loadAgent(good)
	if err != nil {
		t.Fatalf("loadAgent(hac-agent): %v", err)
	}
	rest := strings.TrimPrefix(version.Line("hac"), "hac")
	if diff := cmp.Diff([]string{unameMachine[runtime.GOARCH], "hac-agent" + rest, "hac-metrics" + rest},
		[]string{a.Machine, a.Version, a.MetricsVersion}); diff != "" {
		t.Errorf("loadAgent: machine and versions (-want +got):\n%s", diff)
	}
	goodMetrics := filepath.Join(filepath.Dir(good), "hac-metrics")
	if want, _ := os.ReadFile(goodMetrics); !bytes.Equal(a.Metrics, want) || len(a.Binary) == 0 || bytes.Equal(a.Binary, a.Metrics) {
		t.Errorf("loadAgent: %d bytes of hac-agent, %d of hac-metrics", len(a.Binary), len(a.Metrics))
	}
	// A link to hac-agent, alone in its folder: the hac-metrics next to
	// the link's target goes with it.
	link := filepath.Join(t.TempDir(), "hac-agent")
	if err := os.Symlink(good, link); err != nil {
		t.Fatal(err)
	}
	if l, err := loadAgent(link); err != nil || !bytes.Equal(l.Metrics, a.Metrics) {
		t.Errorf("loadAgent(link to hac-agent) = %v; want the hac-metrics next to its target", err)
	}
	hac := filepath.Join(t.TempDir(), "hac")
	cmd := exec.Command("go", "build", "-buildvcs=false", "-o", hac, "github.com/hac-project/hac/cmd/hac")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/hac: %v\n%s", err, out)
	}
	old := buildAgent(t, "old", nil, "-ldflags", "-X "+version.ReleaseFlag+"=v0.0.1-old")
	otherArch := "arm64"
	if runtime.GOARCH == "arm64" {
		otherArch = "amd64"
	}
	arch := buildAgent(t, otherArch, []string{"GOARCH=" + otherArch})
	for _, tc := range []struct {
		name, path string
		want       []string // in the error, in order
	}{
		{"missing", filepath.Join(t.TempDir(), "hac-agent"), []string{"no such file or directory"}},
		{"a script", writeFile(t, "#!/bin/sh\n"), []string{"not an ELF binary"}},
		{"dynamic", "/bin/sh", []string{"dynamically linked"}},
		{"hac itself", hac, []string{"is not hac-agent: it is built from github.com/hac-project/hac/cmd/hac"}},
		{"other version", old, []string{"is hac-agent v0.0.1-old"}},
		{"other OS", buildFreeBSD(t), []string{"is built for freebsd; nodes run Linux"}},
		{"no hac-metrics next to it", pair(t, good, ""), []string{"/hac-metrics: no such file or directory",
			"the agent runs hac-metrics (its Prometheus exporter) from its own folder", "make build writes hac, hac-agent and hac-metrics"}},
		{"hac-metrics of another version", pair(t, good, filepath.Join(filepath.Dir(old), "hac-metrics")), []string{"/hac-metrics is hac-metrics v0.0.1-old", "this is hac", "install the hac-metrics of the same build next to hac"}},
		{"hac-agent as hac-metrics", pair(t, good, good), []string{"/hac-metrics is not hac-metrics: it is built from github.com/hac-project/hac/cmd/hac-agent"}},
		{"dynamic hac-metrics", pair(t, good, "/bin/sh"), []string{"/hac-metrics: dynamically linked"}},
		{"hac-metrics of another architecture", pair(t, good, filepath.Join(filepath.Dir(arch), "hac-metrics")),
			[]string{"/hac-agent is built for " + unameMachine[runtime.GOARCH] + ", ", "/hac-metrics for " + unameMachine[otherArch], "make build GOARCH="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadAgent(tc.path)
			got := fmt.Sprint(err)
			for _, w := range tc.want {
				i := strings.Index(got, w)
				if err == nil || i < 0 {
					t.Fatalf("loadAgent = %v, want %q", err, w)
				}
				got = got[i+len(w):]
			}
		})
	}
}

// writeFile writes data to a new file and returns its path.
func writeFile(t *testing.T, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// buildFreeBSD builds a small static Go program for FreeBSD (the agent
// itself builds for Linux only).
func buildFreeBSD(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x")
	cmd := exec.Command("go", "build", "-o", p, "github.com/hac-project/hac/internal/version/testdata/x")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=freebsd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build (freebsd): %v\n%s", err, out)
	}
	return p
}
