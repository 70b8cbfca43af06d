// Package sshtest starts real OpenSSH servers (Debian's /usr/sbin/sshd)
// for tests and benchmarks: own config, own host keys, a free loopback
// port, public key login only. It is the transport under test, not a mock.
package sshtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hac-project/hac/internal/testenv"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Server is a running sshd.
type Server struct {
	Host    string // "127.0.0.1"
	Port    int
	Dir     string // holds the config, host keys and authorized_keys
	HostKey ssh.PublicKey
	// AuthorizedKeys is the file sshd reads at every login; tests may
	// rewrite it.
	AuthorizedKeys string
	cmd            *exec.Cmd
	hostKeyFile    string
}

// Options configure Start.
type Options struct {
	// ClientKeys are public keys (authorized_keys lines) allowed to log in.
	ClientKeys []string
	// AuthorizedKeysFile is where sshd reads them at every login (its
	// directory must exist); empty: a file in the server's directory.
	AuthorizedKeysFile string
	// Listen is the address and port to listen on; empty: a free port on
	// 127.0.0.1.
	Listen string
	// Prefix runs sshd through a command, e.g. ip netns exec NS: it must
	// exec sshd (the PID stays sshd's).
	Prefix []string
}

// ClientKey writes a new ed25519 client key pair into dir and returns the
// private key file and the public key line.
func ClientKey(t testing.TB, dir string) (file, pub string) {
	t.Helper()
	file = filepath.Join(dir, "id_ed25519")
	keygen(t, file)
	b, err := os.ReadFile(file + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return file, strings.TrimSpace(string(b))
}

func keygen(t testing.TB, file string) {
	t.Helper()
	if out, err := exec.Command(testenv.NeedTool(t, "ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", "hac-test", "-f", file).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
}

// Start runs sshd in the foreground of a child process until the test
// ends. It needs root (testenv.NeedRoot): clients log in as root, as hac
// does on real nodes.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	testenv.NeedRoot(t)
	sshd := sshdPath(t)
	dir := t.TempDir()
	s := &Server{Host: "127.0.0.1", Dir: dir, AuthorizedKeys: o.AuthorizedKeysFile}
	if s.AuthorizedKeys == "" {
		s.AuthorizedKeys = filepath.Join(dir, "authorized_keys")
	}
	s.hostKeyFile = filepath.Join(dir, "host_ed25519")
	keygen(t, s.hostKeyFile)
	b, err := os.ReadFile(s.hostKeyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if s.HostKey, _, _, _, err = ssh.ParseAuthorizedKey(b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.AuthorizedKeys, []byte(strings.Join(o.ClientKeys, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Debian's sshd refuses to start without its privilege separation
	// directory, which only the ssh service normally creates.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	var lastErr string
	for range 5 {
		if o.Listen != "" {
			h, p, err := net.SplitHostPort(o.Listen)
			if err != nil {
				t.Fatal(err)
			}
			s.Host = h
			s.Port, _ = strconv.Atoi(p)
		} else {
			s.Port = freePort(t)
		}
		cfg := filepath.Join(dir, "sshd_config")
		conf := fmt.Sprintf(`ListenAddress %s
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
AllowTcpForwarding yes
MaxStartups 200
MaxSessions 100
LogLevel ERROR
`, net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), s.hostKeyFile, filepath.Join(dir, "sshd.pid"), s.AuthorizedKeys)
		if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd := sshdCommand(sshd, cfg)
		if len(o.Prefix) > 0 {
			cmd = exec.Command(o.Prefix[0], append(o.Prefix[1:], cmd.Args...)...)
		}
		cmd.Stderr = &stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if waitListen(filepath.Join(dir, "sshd.pid"), cmd) {
			s.cmd = cmd
			t.Cleanup(s.Stop)
			return s
		}
		cmd.Process.Kill()
		cmd.Wait()
		lastErr = stderr.String()
	}
	t.Fatalf("sshd did not start: %s", lastErr)
	return nil
}

// sshdCommand runs sshd. When the login user's ~/.bashrc exists,
// sshd runs in a mount namespace of its own where that file is empty: bash
// reads ~/.bashrc for every command sshd runs, and a developer's rc file
// (pyenv, nvm…) can take seconds, which would be measured instead of hac.
// Nothing outside that private namespace changes.
func sshdCommand(sshd, cfg string) *exec.Cmd {
	home, _ := os.UserHomeDir()
	rc := filepath.Join(home, ".bashrc")
	unshare, err := exec.LookPath("unshare")
	if _, serr := os.Stat(rc); err != nil || serr != nil {
		return exec.Command(sshd, "-D", "-e", "-f", cfg)
	}
	// unshare without --fork execs, so the PID stays sshd's.
	return exec.Command(unshare, "--mount", "--propagation", "private", "/bin/sh", "-c",
		`mount --bind /dev/null "$1" && exec "$2" -D -e -f "$3"`, "sh", rc, sshd, cfg)
}

func sshdPath(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/sshd"); err == nil {
		return "/usr/sbin/sshd" // sshd must be started by absolute path
	}
	return testenv.NeedTool(t, "sshd")
}

// waitListen waits (bounded) for sshd's pid file, which it writes once it
// listens, or for sshd to exit. It works in any network namespace.
func waitListen(pidFile string, cmd *exec.Cmd) bool {
	for range 500 {
		if _, err := os.Stat(pidFile); err == nil {
			return true
		}
		if err := syscall.Kill(cmd.Process.Pid, 0); err != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr returns "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// KnownHostsLine is the known_hosts line trusting this server.
func (s *Server) KnownHostsLine() string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, s.HostKey)
}

// Stop kills sshd and every session it started.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.KillSessions()
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	s.cmd.Wait()
	s.cmd = nil
}

// CPU returns the processor time sshd used so far, its finished sessions
// (and the commands they ran) included: for benchmarks.
func (s *Server) CPU() time.Duration {
	if s.cmd == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	// After ')': state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
	f := strings.Fields(string(b[i+1:]))
	var ticks int64
	for _, k := range []int{11, 12, 13, 14} {
		if k < len(f) {
			v, _ := strconv.ParseInt(f[k], 10, 64)
			ticks += v
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}

// KillSessions kills the per-connection sshd processes (and so the
// connections) while the server keeps listening.
func (s *Server) KillSessions() {
	if s.cmd == nil {
		return
	}
	for _, pid := range children(s.cmd.Process.Pid) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// children returns the PIDs whose parent is ppid.
func children(ppid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}
