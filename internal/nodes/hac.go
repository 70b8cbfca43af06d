package nodes

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The static hac binary, built once per test process.
var (
	hacOnce sync.Once
	hacPath string
	hacErr  error
)

// HacBinary builds cmd/hac once per test process as a static binary
// (CGO_ENABLED=0: it runs inside the nodes whatever their C library, as
// hac apply --install-agent puts it there) and returns its path. The
// binary is removed when the test binary exits through [Main].
func HacBinary(t testing.TB) string {
	t.Helper()
	hacOnce.Do(func() {
		var dir string
		dir, hacErr = os.MkdirTemp("", "hac-static-")
		if hacErr != nil {
			return
		}
		hacPath = filepath.Join(dir, "hac")
		cmd := exec.Command("go", "build", "-trimpath", "-o", hacPath, "github.com/hac-project/hac/cmd/hac")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			hacErr = fmt.Errorf("nodes: go build (static) cmd/hac: %v\n%s", err, out)
		}
	})
	if hacErr != nil {
		t.Fatal(hacErr)
	}
	return hacPath
}

// Main runs the tests and removes the binary HacBinary built; call it
// from TestMain: os.Exit(nodes.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if hacPath != "" {
		os.RemoveAll(filepath.Dir(hacPath))
	}
	return code
}
