// Package testenv lets tests that need root or a real tool (keepalived,
// netplan, sshd, tshark…) say so. Outside CI a missing requirement skips
// the test; in CI (CI=true) it fails the test loudly, so a green CI always
// means the real tools ran.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI (the CI variable is "true").
func InCI() bool { return os.Getenv("CI") == "true" }

// missing fails the test in CI and skips it elsewhere.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true but "+format+": .ci/run must provide it", args...)
	}
	t.Skipf(format+" (this test fails instead of skipping when CI=true)", args...)
}

// NeedRoot requires the test to run as root (network namespaces, raw sockets).
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "the test needs root")
	}
}

// NeedTool requires an executable on PATH and returns its path.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, "the test needs %s on PATH", name)
	}
	return p
}
