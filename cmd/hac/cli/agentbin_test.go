package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/hac-project/hac/internal/version"
)

// The hac-agent binaries the tests install, built once per test process.
var (
	agentOnce sync.Once
	agentDir  string
	agentErr  error
)

// buildAgent builds cmd/hac-agent as name in the tests' folder, static
// and without VCS stamping (the test binary has none either, so the
// versions match), with extra go build arguments.
func buildAgent(t *testing.T, name string, env []string, extra ...string) string {
	t.Helper()
	agentOnce.Do(func() { agentDir, agentErr = os.MkdirTemp("", "hac-cli-agent-") })
	if agentErr != nil {
		t.Fatal(agentErr)
	}
	p := filepath.Join(agentDir, name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	args := append([]string{"build", "-buildvcs=false", "-o", p}, extra...)
	cmd := exec.Command("go", append(args, "github.com/hac-project/hac/cmd/hac-agent")...)
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/hac-agent: %v\n%s", err, out)
	}
	return p
}

// testAgent is a hac-agent plan and apply can install: static, for this
// machine, of the test binary's version.
func testAgent(t *testing.T) string {
	t.Helper()
	return buildAgent(t, "hac-agent", nil)
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
// version, and says what is wrong with any other file.
func TestLoadAgent(t *testing.T) {
	good := testAgent(t)
	a, err := loadAgent(good)
	if err != nil {
		t.Fatalf("loadAgent(hac-agent): %v", err)
	}
	if want := unameMachine[runtime.GOARCH]; a.Machine != want || a.Version != "hac-agent"+strings.TrimPrefix(version.Line("hac"), "hac") {
		t.Errorf("loadAgent = machine %q version %q, want %q and this hac's version", a.Machine, a.Version, want)
	}
	hac := filepath.Join(t.TempDir(), "hac")
	cmd := exec.Command("go", "build", "-buildvcs=false", "-o", hac, "github.com/hac-project/hac/cmd/hac")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/hac: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(t.TempDir(), "hac-agent"), "no such file or directory"},
		{"a script", writeFile(t, "#!/bin/sh\n"), "not an ELF binary"},
		{"dynamic", "/bin/sh", "dynamically linked"},
		{"hac itself", hac, "is not hac-agent: it is built from github.com/hac-project/hac/cmd/hac"},
		{"other version", buildAgent(t, "hac-agent-old", nil, "-ldflags", "-X "+version.ReleaseFlag+"=v0.0.1-old"), "is hac-agent v0.0.1-old"},
		{"other OS", buildFreeBSD(t), "is built for freebsd; nodes run Linux"},
	} {
		if _, err := loadAgent(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: loadAgent = %v, want %q", tc.name, err, tc.want)
		}
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
