package nodes

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hac-project/hac/internal/version"
)

// The static hac, hac-agent and hac-metrics binaries, built once per test
// process.
var (
	hacOnce sync.Once
	hacPath string
	hacErr  error
)

// HacBinary builds cmd/hac, cmd/hac-agent and cmd/hac-metrics once per
// test process as static binaries in one folder (CGO_ENABLED=0: hac-agent
// and hac-metrics run inside the nodes whatever their C library, as hac
// apply puts them there, and hac apply finds them next to hac) and returns
// hac's path. The binaries are
// removed when the test binary exits through [Main].
func HacBinary(t testing.TB) string {
	t.Helper()
	hacOnce.Do(func() {
		var dir string
		dir, hacErr = os.MkdirTemp("", "hac-static-")
		if hacErr != nil {
			return
		}
		hacPath, hacErr = build(dir, "")
	})
	if hacErr != nil {
		t.Fatal(hacErr)
	}
	return hacPath
}

// BuildRelease builds static hac, hac-agent and hac-metrics binaries into dir that
// say they are release (as make build VERSION=release does), and returns
// hac's path: another version than the test's own hac.
func BuildRelease(t testing.TB, dir, release string) string {
	t.Helper()
	p, err := build(dir, release)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// build builds static hac, hac-agent and hac-metrics into dir, with the release
// version when it is set, and returns hac's path.
func build(dir, release string) (string, error) {
	for _, cmd := range []string{"hac", "hac-agent", "hac-metrics"} {
		args := []string{"build", "-trimpath", "-o", filepath.Join(dir, cmd)}
		if release != "" {
			args = append(args, "-ldflags", "-X "+version.ReleaseFlag+"="+release)
		}
		c := exec.Command("go", append(args, "github.com/hac-project/hac/cmd/"+cmd)...)
		c.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := c.CombinedOutput(); err != nil {
			return "", fmt.Errorf("nodes: go build (static) cmd/%s: %v\n%s", cmd, err, out)
		}
	}
	return filepath.Join(dir, "hac"), nil
}

// Main runs the tests and removes the binaries HacBinary built; call it
// from TestMain: os.Exit(nodes.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if hacPath != "" {
		os.RemoveAll(filepath.Dir(hacPath))
	}
	return code
}
