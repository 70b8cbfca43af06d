// Package testenv lets tests that need root or a real tool (keepalived,
// netplan, sshd, tshark…) say so. Outside CI a missing requirement skips
// the test; in CI (the CI variable set to a true value) it fails the test
// loudly, so a green CI always means the real tools ran.
package testenv

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// InCI reports whether the tests run in CI, from the CI variable as
// [ParseCI] reads it.
func InCI() bool { return ParseCI(os.Getenv("CI")) }

// ParseCI reads the CI variable as a boolean. CI services set it to
// "true" (GitHub, GitLab) or "1" (some others): unset, empty, "0",
// "false", "no" and "off" (any case) are false, and any other value is
// true, so that an unusual spelling fails a test with a missing tool
// instead of silently skipping it.
func ParseCI(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false", "f", "no", "n", "off":
		return false
	}
	return true
}

// missing fails the test in CI and skips it elsewhere.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI="+os.Getenv("CI")+" but "+format+": .ci/run must provide it", args...)
	}
	t.Skipf(format+" (this test fails instead of skipping when CI is set, e.g. CI=true)", args...)
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

// Buffer is a bytes.Buffer that a process or goroutine writes while the
// test reads it: safe for concurrent use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// childEnv names, in the child process KilledChild runs, the test it runs.
const childEnv = "HAC_KILLED_CHILD"

// InKilledChild reports whether this process is the child that
// [KilledChild] runs for test t: there the test sets up what a killed
// test leaves behind, calls [Ready] and waits to be killed.
func InKilledChild(t testing.TB) bool { return os.Getenv(childEnv) == t.Name() }

// Ready tells the parent in [KilledChild] that the child is set up, with
// fields (without spaces) for it.
func Ready(fields ...string) {
	os.Stdout.WriteString("READY " + strings.Join(fields, " ") + "\n")
}

// KilledChild runs test t again in a child process of the test binary
// ([InKilledChild] is true there), waits for its [Ready] line, kills it
// with SIGKILL (no cleanup runs, as when go test times out or a developer
// hits Ctrl-C twice) and returns the line's fields: what a sweep must
// remove. A child that skips skips t (fails it in CI); one that ends
// before it is ready fails t.
func KilledChild(t testing.TB) []string {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.v")
	child.Env = append(os.Environ(), childEnv+"="+t.Name())
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var ready []string
	skipped := false
	for sc := bufio.NewScanner(out); ready == nil && !skipped && sc.Scan(); {
		if f := strings.Fields(sc.Text()); len(f) > 0 && f[0] == "READY" {
			ready = f[1:]
		}
		skipped = strings.HasPrefix(sc.Text(), "--- SKIP")
	}
	_ = child.Process.Signal(syscall.SIGKILL)
	_ = child.Wait()
	if skipped {
		missing(t, "the child test skipped")
	}
	if ready == nil {
		t.Fatal("the child test ended before it was ready")
	}
	return ready
}
