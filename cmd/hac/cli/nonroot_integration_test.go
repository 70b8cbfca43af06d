package cli

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/internal/testenv"
)

// nobody is the user the non-root tests run hac as.
const nobody = 65534

// TestAgentNotRoot runs hac agent as an ordinary user (this test binary,
// as "hac", with the credentials of nobody): it says that the agent needs
// root and how to run it, where it said "permission denied" about its
// lock file, whether agent.json is readable (a hand copy) or root's only
// (what hac apply writes).
func TestAgentNotRoot(t *testing.T) {
	testenv.NeedRoot(t) // to switch to another user
	dir, err := os.MkdirTemp("", "hac-notroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // nobody runs hac from here
		t.Fatal(err)
	}
	hac := filepath.Join(dir, "hac")
	copyFile(t, hac, 0o755)
	const cfg = `{"format": 1, "cluster": "c", "node": "n1", "instances": [{"name": "VI_1", "vrid": 51, "version": 3, "interface": "eth1", "priority": 100, "advert_int": "1s", "preempt": true, "unicast": false, "vips": [{"prefix": "198.18.0.200/32"}], "garp": {"repeat": 1, "delay": "0s"}}]}`
	for _, tc := range []struct {
		name string
		mode os.FileMode
	}{
		{"readable agent.json", 0o644},
		{"root's agent.json", 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "agent.json")
			if err := os.WriteFile(path, []byte(cfg), tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(hac, "agent", "--config", path)
			cmd.Dir = dir
			cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir}
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitcode.Failed {
				t.Fatalf("hac agent as nobody: %v, want exit %d\nstderr: %s", err, exitcode.Failed, stderr.String())
			}
			for _, want := range []string{"hac agent needs root", "CAP_NET_ADMIN and CAP_NET_RAW", "systemctl start hac-agent", "sudo hac-agent", "permission denied)"} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr %q, want it to contain %q", stderr.String(), want)
				}
			}
		})
	}
}

// copyFile copies this test binary to path: run as "hac", it runs the CLI
// (see TestMain).
func copyFile(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
