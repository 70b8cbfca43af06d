// Package sshconn opens verified SSH connections to nodes and runs shell
// commands on them. It honours ~/.ssh/config (Host aliases, HostName,
// User, Port, IdentityFile, ProxyJump), takes keys from ssh-agent and key
// files, and ALWAYS verifies host keys against known_hosts: an unknown
// host is refused with its fingerprint and the command to trust it unless
// AcceptNew is set, and a changed key is always refused. There is no way
// to turn host key checking off.
package sshconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Options configure a [Dialer]. The zero value uses ~/.ssh/config,
// ~/.ssh/known_hosts, ssh-agent (SSH_AUTH_SOCK) and the default key files.
type Options struct {
	// ConfigFile is the ssh client config; empty: ~/.ssh/config; "none": none.
	ConfigFile string
	// KnownHosts are the known_hosts files; empty: the ssh config's
	// UserKnownHostsFile (Host *), else ~/.ssh/known_hosts. AcceptNew
	// records new keys in the first one.
	KnownHosts []string
	// AcceptNew trusts the key of a host not in known_hosts on first use
	// and records it. A changed key is refused regardless.
	AcceptNew bool
	// IdentityFiles are private key files tried after the agent and the
	// ssh config's IdentityFile entries.
	IdentityFiles []string
	// NoAgent ignores SSH_AUTH_SOCK.
	NoAgent bool
	// Timeout bounds each connection attempt (TCP and SSH handshake);
	// 0 means 10 s.
	Timeout time.Duration
	// Retries is how many times a failed connection is retried (network
	// errors only; never host key or authentication errors); negative: 0.
	Retries int
	// Backoff is the wait before the first retry, doubled after each.
	// 0 means 500 ms.
	Backoff time.Duration
	// Logf, when set, receives notices (e.g. a host key trusted on first use).
	Logf func(format string, args ...any)
}

// Dialer opens connections. It is safe for concurrent use.
type Dialer struct {
	opts  Options
	cfg   *sshConfig
	keys  *hostKeys
	agent agent.ExtendedAgent // nil without SSH_AUTH_SOCK

	mu      sync.Mutex
	signers map[string]ssh.Signer // by key file path; nil value: unusable
}

// NewDialer reads the ssh config and known_hosts files and connects to
// ssh-agent when SSH_AUTH_SOCK is set.
func NewDialer(o Options) (*Dialer, error) {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Backoff == 0 {
		o.Backoff = 500 * time.Millisecond
	}
	o.Retries = max(o.Retries, 0)
	cfg, err := loadSSHConfig(o.ConfigFile)
	if err != nil {
		return nil, err
	}
	if len(o.KnownHosts) == 0 {
		// UserKnownHostsFile from the config's global section; never
		// /dev/null, which would make every host unknown (and, with
		// --accept-new, trusted every time).
		for _, f := range strings.Fields(cfg.get("*", "UserKnownHostsFile")) {
			if f != "/dev/null" {
				o.KnownHosts = append(o.KnownHosts, expandHome(f))
			}
		}
		if len(o.KnownHosts) == 0 {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, fmt.Errorf("ssh: no home directory for known_hosts: %w (give --known-hosts)", err)
			}
			o.KnownHosts = []string{filepath.Join(home, ".ssh", "known_hosts")}
		}
	}
	keys, err := newHostKeys(o.KnownHosts, o.AcceptNew, o.Logf)
	if err != nil {
		return nil, err
	}
	d := &Dialer{opts: o, cfg: cfg, keys: keys, signers: map[string]ssh.Signer{}}
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" && !o.NoAgent {
		if c, err := net.Dial("unix", sock); err == nil {
			d.agent = agent.NewClient(c)
		} else if o.Logf != nil {
			o.Logf("ssh-agent at SSH_AUTH_SOCK unreachable (%v): using key files only", err)
		}
	}
	return d, nil
}

// Client is a connection to one node, possibly through jump hosts.
type Client struct {
	*ssh.Client
	// Name is the target as the user wrote it.
	Name  string
	jumps []*ssh.Client
}

// Close closes the connection and those to the jump hosts.
func (c *Client) Close() error {
	err := c.Client.Close()
	for i := len(c.jumps) - 1; i >= 0; i-- {
		c.jumps[i].Close()
	}
	return err
}

// Dial connects to t, retrying network failures with backoff.
func (d *Dialer) Dial(ctx context.Context, t Target) (*Client, error) {
	ep, err := d.cfg.resolve(t, true)
	if err != nil {
		return nil, err
	}
	wait := d.opts.Backoff
	for attempt := 0; ; attempt++ {
		c, err := d.dialOnce(ctx, ep)
		if err == nil {
			c.Name = t.String()
			return c, nil
		}
		if !retryable(err) || attempt >= d.opts.Retries || ctx.Err() != nil {
			return nil, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, err
		}
		wait *= 2
	}
}

// retryable reports whether a dial error may go away by itself.
func retryable(err error) bool {
	var he *HostKeyError
	if errors.As(err, &he) || strings.Contains(err.Error(), "unable to authenticate") {
		return false
	}
	return true
}

func (d *Dialer) dialOnce(ctx context.Context, ep endpoint) (*Client, error) {
	var jumps []*ssh.Client
	fail := func(err error) (*Client, error) {
		for i := len(jumps) - 1; i >= 0; i-- {
			jumps[i].Close()
		}
		return nil, err
	}
	var via *ssh.Client
	for _, jt := range ep.jumps {
		jep, err := d.cfg.resolve(jt, false)
		if err != nil {
			return fail(err)
		}
		c, err := d.hop(ctx, via, jep)
		if err != nil {
			return fail(fmt.Errorf("jump host %s: %w", jt, err))
		}
		jumps = append(jumps, c)
		via = c
	}
	c, err := d.hop(ctx, via, ep)
	if err != nil {
		return fail(err)
	}
	return &Client{Client: c, jumps: jumps}, nil
}

// hop opens one SSH connection to ep, directly or through via.
func (d *Dialer) hop(ctx context.Context, via *ssh.Client, ep endpoint) (*ssh.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	addr := ep.addr()
	var conn net.Conn
	var err error
	if via == nil {
		var nd net.Dialer
		conn, err = nd.DialContext(ctx, "tcp", addr)
	} else {
		conn, err = dialVia(ctx, via, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("ssh: connect to %s (%s): %w", ep.alias, addr, err)
	}
	cfg := &ssh.ClientConfig{
		User:              ep.user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeysCallback(d.signersFor(ep))},
		HostKeyCallback:   d.keys.check,
		HostKeyAlgorithms: d.keys.algorithms(addr),
		Timeout:           d.opts.Timeout,
	}
	type result struct {
		c   ssh.Conn
		ch  <-chan ssh.NewChannel
		req <-chan *ssh.Request
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, ch, req, err := ssh.NewClientConn(conn, addr, cfg)
		done <- result{c, ch, req, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			conn.Close()
			var he *HostKeyError
			if errors.As(r.err, &he) {
				return nil, he
			}
			return nil, fmt.Errorf("ssh: %s@%s (%s): %w", ep.user, ep.alias, addr, r.err)
		}
		return ssh.NewClient(r.c, r.ch, r.req), nil
	case <-ctx.Done():
		conn.Close()
		return nil, fmt.Errorf("ssh: %s (%s): handshake: %w", ep.alias, addr, ctx.Err())
	}
}

// dialVia opens a TCP channel through a jump host, bounded by ctx.
func dialVia(ctx context.Context, via *ssh.Client, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := via.Dial("tcp", addr)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// signersFor returns the keys to offer to ep: the agent's, then the ssh
// config's IdentityFile entries, then Options.IdentityFiles, then the
// default key files when neither names any.
func (d *Dialer) signersFor(ep endpoint) func() ([]ssh.Signer, error) {
	return func() ([]ssh.Signer, error) {
		var out []ssh.Signer
		if d.agent != nil {
			if s, err := d.agent.Signers(); err == nil {
				out = append(out, s...)
			}
		}
		files := append(append([]string(nil), ep.identities...), d.opts.IdentityFiles...)
		if len(files) == 0 {
			if home, err := os.UserHomeDir(); err == nil {
				for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
					files = append(files, filepath.Join(home, ".ssh", n))
				}
			}
		}
		for _, f := range files {
			if s := d.keyFile(f); s != nil {
				out = append(out, s)
			}
		}
		return out, nil
	}
}

// keyFile loads and caches a private key; nil when it is missing or
// encrypted (hac cannot prompt: load such keys into ssh-agent).
func (d *Dialer) keyFile(path string) ssh.Signer {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.signers[path]; ok {
		return s
	}
	var s ssh.Signer
	b, err := os.ReadFile(path)
	if err == nil {
		s, err = ssh.ParsePrivateKey(b)
		var ppe *ssh.PassphraseMissingError
		if errors.As(err, &ppe) && d.opts.Logf != nil {
			d.opts.Logf("key %s is encrypted: add it to ssh-agent (ssh-add %s)", path, path)
		}
	}
	d.signers[path] = s
	return s
}

// RunError is a remote command that failed: its exit status and the end
// of its standard error.
type RunError struct {
	Host   string
	What   string // what the command was for, e.g. "write files"
	Status int    // exit status; -1 when the connection failed
	Stderr string
	Err    error
}

func (e *RunError) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Host, e.What)
	if e.Status >= 0 {
		msg += fmt.Sprintf(": exit status %d", e.Status)
	} else if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

func (e *RunError) Unwrap() error { return e.Err }

// ConnectionLost reports whether the command failed because the
// connection broke rather than because it exited non-zero.
func (e *RunError) ConnectionLost() bool { return e.Status < 0 }

// Run runs cmd on the node with stdin, returns its standard output, and
// a *RunError when it fails. Cancelling ctx closes the session. what says
// in errors what the command was for. Standard error is kept to the last
// 4 KiB.
func (c *Client) Run(ctx context.Context, what, cmd string, stdin io.Reader) ([]byte, error) {
	s, err := c.NewSession()
	if err != nil {
		return nil, &RunError{Host: c.Name, What: what, Status: -1, Err: err}
	}
	defer s.Close()
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 4096}
	s.Stdin, s.Stdout, s.Stderr = stdin, &stdout, stderr
	if err := s.Start(cmd); err != nil {
		return nil, &RunError{Host: c.Name, What: what, Status: -1, Err: err}
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		s.Close()
		<-done
		return nil, &RunError{Host: c.Name, What: what, Status: -1, Err: ctx.Err(), Stderr: stderr.String()}
	}
	if err != nil {
		re := &RunError{Host: c.Name, What: what, Status: -1, Err: err, Stderr: stderr.String()}
		var ee *ssh.ExitError
		if errors.As(err, &ee) {
			re.Status = ee.ExitStatus()
		}
		return stdout.Bytes(), re
	}
	return stdout.Bytes(), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// Quote quotes s for a POSIX shell, always in single quotes.
func Quote(s string) string { return shellQuote(s) }

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
