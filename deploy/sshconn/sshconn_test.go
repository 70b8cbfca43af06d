package sshconn_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hac-project/hac/deploy/sshconn"
	"github.com/hac-project/hac/deploy/sshtest"
	"golang.org/x/crypto/ssh"
)

// env is a client key and a known_hosts file in a temp dir.
type env struct {
	dir, key, pub, knownHosts string
}

func newEnv(t *testing.T) env {
	t.Helper()
	dir := t.TempDir()
	key, pub := sshtest.ClientKey(t, dir)
	return env{dir: dir, key: key, pub: pub, knownHosts: filepath.Join(dir, "known_hosts")}
}

func (e env) trust(t *testing.T, s *sshtest.Server) {
	t.Helper()
	f, err := os.OpenFile(e.knownHosts, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintln(f, s.KnownHostsLine())
}

func (e env) dialer(t *testing.T, mod func(*sshconn.Options)) *sshconn.Dialer {
	t.Helper()
	o := sshconn.Options{ConfigFile: "none", KnownHosts: []string{e.knownHosts}, IdentityFiles: []string{e.key}, NoAgent: true, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&o)
	}
	d, err := sshconn.NewDialer(o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func target(s *sshtest.Server) sshconn.Target {
	return sshconn.Target{Host: s.Host, Port: s.Port}
}

func run(t *testing.T, d *sshconn.Dialer, tg sshconn.Target, cmd string) (string, error) {
	t.Helper()
	c, err := d.Dial(context.Background(), tg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	out, err := c.Run(context.Background(), "test", cmd, nil)
	return string(out), err
}

func TestKnownHostRuns(t *testing.T) {
	e := newEnv(t)
	s := sshtest.Start(t, sshtest.Options{ClientKeys: []string{e.pub}})
	e.trust(t, s)
	out, err := run(t, e.dialer(t, nil), target(s), "echo "+sshconn.Quote("it's ok"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("it's ok\n", out); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestUnknownHostRefusedWithFingerprint(t *testing.T) {
	e := newEnv(t)
	s := sshtest.Start(t, sshtest.Options{ClientKeys: []string{e.pub}})
	_, err := run(t, e.dialer(t, nil), target(s), "true")
	if !errors.Is(err, sshconn.ErrUnknownHost) {
		t.Fatalf("err = %v, want ErrUnknownHost", err)
	}
	msg := err.Error()
	for _, want := range []string{ssh.FingerprintSHA256(s.HostKey), s.KnownHostsLine(), e.knownHosts, "--accept-new"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if _, err := os.Stat(e.knownHosts); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("known_hosts written without --accept-new: %v", err)
	}
}

func TestAcceptNewRecordsKey(t *testing.T) {
	e := newEnv(t)
	s := sshtest.Start(t, sshtest.Options{ClientKeys: []string{e.pub}})
	var notes []string
	d := e.dialer(t, func(o *sshconn.Options) {
		o.AcceptNew = true
		o.Logf = func(f string, a ...any) { notes = append(notes, fmt.Sprintf(f, a...)) }
	})
	if _, err := run(t, d, target(s), "true"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(e.knownHosts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s.KnownHostsLine()+"\n", string(b)); diff != "" {
		t.Errorf("known_hosts (-want +got):\n%s", diff)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], ssh.FingerprintSHA256(s.HostKey)) {
		t.Errorf("notes = %q, want one naming the fingerprint", notes)
	}
	// A new dialer without --accept-new now trusts it.
	if _, err := run(t, e.dialer(t, nil), target(s), "true"); err != nil {
		t.Fatal(err)
	}
}

func TestChangedKeyAlwaysRefused(t *testing.T) {
	e := newEnv(t)
	s := sshtest.Start(t, sshtest.Options{ClientKeys: []string{e.pub}})
	// Record another key for this address.
	other := sshtest.Start(t, sshtest.Options{})
	line := strings.Replace(other.KnownHostsLine(), fmt.Sprint(other.Port), fmt.Sprint(s.Port), 1)
	if err := os.WriteFile(e.knownHosts, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, acceptNew := range []bool{false, true} {
		d := e.dialer(t, func(o *sshconn.Options) { o.AcceptNew = acceptNew })
		_, err := run(t, d, target(s), "true")
		if !errors.Is(err, sshconn.ErrChangedHostKey) {
			t.Fatalf("accept-new=%v: err = %v, want ErrChangedHostKey", acceptNew, err)
		}
		if !strings.Contains(err.Error(), "ssh-keygen -f") {
			t.Errorf("error does not say how to remove the old key: %v", err)
		}
	}
	b, _ := os.ReadFile(e.knownHosts)
	if diff := cmp.Diff(line+"\n", string(b)); diff != "" {
		t.Errorf("known_hosts changed (-want +got):\n%s", diff)
	}
}

func TestSSHConfigAliasAndProxyJump(t *testing.T) {
	e := newEnv(t)
	bastion := sshtest.Start(t, sshtest.Options{ClientKeys: []string{e.pub}})
	node := sshtest.Start(t, sshtest.Options{ClientKeys: []string{e.pub}})
	e.trust(t, bastion)
	e.trust(t, node)
	cfg := filepath.Join(e.dir, "ssh_config")
	conf := fmt.Sprintf(`Host bastion
  HostName %s
  Port %d
  User root
  IdentityFile %s

Host node1
  HostName %s
  Port %d
  ProxyJump bastion
  IdentityFile %s
`, bastion.Host, bastion.Port, e.key, node.Host, node.Port, e.key)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	d := e.dialer(t, func(o *sshconn.Options) { o.ConfigFile = cfg; o.IdentityFiles = nil })
	// The node's sshd sees the connection coming from the bastion, and
	// both are on loopback: SSH_CONNECTION shows the node's port.
	out, err := run(t, d, sshconn.Target{Host: "node1"}, `echo "$SSH_CONNECTION"`)
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(out); len(f) != 4 || f[3] != fmt.Sprint(node.Port) {
		t.Errorf("SSH_CONNECTION = %q, want the node's port %d", out, node.Port)
	}
	// The jump host from the manifest, without any config.
	d = e.dialer(t, nil)
	tg := target(node)
	tg.Jump = bastion.Addr()
	if _, err := run(t, d, tg, "true"); err != nil {
		t.Fatalf("manifest jump: %v", err)
	}
	// A bastion with an unknown key is refused too.
	e2 := newEnv(t)
	e2.key = e.key
	e2.trust(t, node)
	_, err = run(t, e2.dialer(t, nil), tg, "true")
	if !errors.Is(err, sshconn.ErrUnknownHost) {
		t.Errorf("unknown bastion: err = %v, want ErrUnknownHost", err)
	}
}

func TestRunErrorCarriesStatusAndStderr(t *testing.T) {
	e := newEnv(t)
	s := sshtest.Start(t, sshtest.Options{ClientKeys: []string{e.pub}})
	e.trust(t, s)
	_, err := run(t, e.dialer(t, nil), target(s), "echo boom >&2; exit 3")
	var re *sshconn.RunError
	if !errors.As(err, &re) || re.Status != 3 || !strings.Contains(re.Stderr, "boom") || re.ConnectionLost() {
		t.Fatalf("err = %#v", err)
	}
}

func TestConnectRefusedIsRetriedThenReported(t *testing.T) {
	e := newEnv(t)
	s := sshtest.Start(t, sshtest.Options{ClientKeys: []string{e.pub}})
	tg := target(s)
	s.Stop()
	d := e.dialer(t, func(o *sshconn.Options) { o.Retries = 2; o.Backoff = time.Millisecond })
	_, err := run(t, d, tg, "true")
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v, want connection refused", err)
	}
}

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want sshconn.Target
	}{
		{"host", sshconn.Target{Host: "host"}},
		{"root@10.0.0.1:2222", sshconn.Target{Host: "10.0.0.1", User: "root", Port: 2222}},
		{"u@[2001:db8::1]:22", sshconn.Target{Host: "2001:db8::1", User: "u", Port: 22}},
		{"[2001:db8::1]", sshconn.Target{Host: "2001:db8::1"}},
	} {
		got, err := sshconn.ParseTarget(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.in, diff)
		}
	}
	if _, err := sshconn.ParseTarget("h:99999"); err == nil {
		t.Error("port 99999 accepted")
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"host", "root@10.0.0.1:2222", "u@[2001:db8::1]:22", "a@b@c", ":22", "[::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := sshconn.ParseTarget(s)
		if err != nil {
			return
		}
		if tg.Host == "" || tg.Port < 0 || tg.Port > 65535 {
			t.Fatalf("%q: parsed to %+v", s, tg)
		}
		if strings.ContainsAny(tg.Host, "[]") || (tg.Port == 0 && strings.Contains(tg.Host, ":")) {
			return // not a host name or address, or ambiguous without a port
		}
		again, err := sshconn.ParseTarget(tg.String())
		if err != nil || again != tg {
			t.Fatalf("%q: %+v prints as %q, which parses to %+v, %v", s, tg, tg.String(), again, err)
		}
	})
}

func TestUserKnownHostsFileFromConfig(t *testing.T) {
	e := newEnv(t)
	s := sshtest.Start(t, sshtest.Options{ClientKeys: []string{e.pub}})
	e.trust(t, s)
	cfg := filepath.Join(e.dir, "ssh_config")
	conf := fmt.Sprintf("Host *\n  UserKnownHostsFile /dev/null %s\n  StrictHostKeyChecking no\n", e.knownHosts)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	d := e.dialer(t, func(o *sshconn.Options) { o.ConfigFile = cfg; o.KnownHosts = nil })
	if _, err := run(t, d, target(s), "true"); err != nil {
		t.Fatalf("known host from UserKnownHostsFile: %v", err)
	}
	// StrictHostKeyChecking no is not honoured: an unknown host is refused.
	other := sshtest.Start(t, sshtest.Options{ClientKeys: []string{e.pub}})
	if _, err := run(t, d, target(other), "true"); !errors.Is(err, sshconn.ErrUnknownHost) {
		t.Errorf("unknown host with StrictHostKeyChecking no: err = %v, want ErrUnknownHost", err)
	}
}
