package sshconn

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ErrUnknownHost is wrapped by the error returned when a host's key is not
// in known_hosts and --accept-new was not given.
var ErrUnknownHost = errors.New("unknown host key")

// ErrChangedHostKey is wrapped by the error returned when a host presents
// a key other than the one recorded in known_hosts. hac never accepts it.
var ErrChangedHostKey = errors.New("host key changed")

// HostKeyError says why a host key was refused and how to trust it.
type HostKeyError struct {
	Host        string // the address as written in known_hosts, e.g. "[127.0.0.1]:2222"
	Key         ssh.PublicKey
	KnownHosts  string // the file hac reads and, with --accept-new, writes
	Changed     bool   // a different key is recorded for the host
	KnownAt     []string
	Fingerprint string // SHA256 fingerprint of the presented key
}

// Unwrap returns ErrChangedHostKey or ErrUnknownHost.
func (e *HostKeyError) Unwrap() error {
	if e.Changed {
		return ErrChangedHostKey
	}
	return ErrUnknownHost
}

func (e *HostKeyError) Error() string {
	if e.Changed {
		return fmt.Sprintf("host key for %s CHANGED: it now presents %s %s, but %s records another key (%s). "+
			"This may be an attack, or the host was reinstalled. hac refuses it; if you know the new key is right, "+
			"remove the old entry with: ssh-keygen -f %s -R %s",
			e.Host, e.Key.Type(), e.Fingerprint, e.KnownHosts, strings.Join(e.KnownAt, ", "), shellQuote(e.KnownHosts), shellQuote(e.Host))
	}
	line := knownhosts.Line([]string{e.Host}, e.Key)
	return fmt.Sprintf("host key for %s is unknown: %s %s. Check this fingerprint with the host's owner "+
		"(on the host: ssh-keygen -lf /etc/ssh/ssh_host_%s_key.pub), then trust it with: echo %s >> %s "+
		"(or rerun with --accept-new to trust it on first use)",
		e.Host, e.Key.Type(), e.Fingerprint, keyFileType(e.Key), shellQuote(line), shellQuote(e.KnownHosts))
}

func keyFileType(k ssh.PublicKey) string {
	switch k.Type() {
	case ssh.KeyAlgoED25519:
		return "ed25519"
	case ssh.KeyAlgoRSA:
		return "rsa"
	default:
		return "ecdsa"
	}
}

// hostKeys verifies host keys against known_hosts files; with acceptNew
// it records keys of hosts it does not know yet in the first file.
type hostKeys struct {
	files     []string // the first one is written by acceptNew
	acceptNew bool
	logf      func(format string, args ...any)

	mu       sync.Mutex
	callback ssh.HostKeyCallback // nil when no file exists yet
}

func newHostKeys(files []string, acceptNew bool, logf func(string, ...any)) (*hostKeys, error) {
	h := &hostKeys{files: files, acceptNew: acceptNew, logf: logf}
	return h, h.reload()
}

// reload re-reads the existing files; h.mu must be held or h unshared.
func (h *hostKeys) reload() error {
	var existing []string
	for _, f := range h.files {
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		}
	}
	h.callback = nil
	if len(existing) == 0 {
		return nil
	}
	cb, err := knownhosts.New(existing...)
	if err != nil {
		return fmt.Errorf("known_hosts: %w: fix or remove the bad line", err)
	}
	h.callback = cb
	return nil
}

// algorithms returns the host key algorithms to ask for when known_hosts
// has keys for addr, so that a host with several keys is checked against
// the one we know rather than reported as changed. Nil means "any".
func (h *hostKeys) algorithms(addr string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.callback == nil {
		return nil
	}
	var ke *knownhosts.KeyError
	err := h.callback(addr, tcpAddr(addr), probeKey{})
	if !errors.As(err, &ke) || len(ke.Want) == 0 {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, w := range ke.Want {
		t := w.Key.Type()
		names := []string{t}
		if t == ssh.KeyAlgoRSA {
			names = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				algos = append(algos, n)
			}
		}
	}
	return algos
}

// check is the ssh.HostKeyCallback.
func (h *hostKeys) check(hostname string, remote net.Addr, key ssh.PublicKey) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var err error
	if h.callback == nil {
		err = &knownhosts.KeyError{}
	} else {
		err = h.callback(hostname, remote, key)
	}
	var ke *knownhosts.KeyError
	if err == nil || !errors.As(err, &ke) {
		return err
	}
	he := &HostKeyError{
		Host:        knownhosts.Normalize(hostname),
		Key:         key,
		KnownHosts:  h.files[0],
		Changed:     len(ke.Want) > 0,
		Fingerprint: ssh.FingerprintSHA256(key),
	}
	for _, w := range ke.Want {
		he.KnownAt = append(he.KnownAt, fmt.Sprintf("%s:%d", w.Filename, w.Line))
	}
	if he.Changed || !h.acceptNew {
		return he
	}
	if err := h.record(he.Host, key); err != nil {
		return err
	}
	if h.logf != nil {
		h.logf("trusted new host key for %s: %s %s (recorded in %s)", he.Host, key.Type(), he.Fingerprint, h.files[0])
	}
	return h.reload()
}

// record appends a known_hosts line to the first file, creating it (and
// its directory) when missing.
func (h *hostKeys) record(host string, key ssh.PublicKey) error {
	f := h.files[0]
	if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	fh, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	_, err = fmt.Fprintln(fh, knownhosts.Line([]string{host}, key))
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("known_hosts %s: %w", f, err)
	}
	return nil
}

// tcpAddr turns host:port into a net.Addr for the knownhosts callback,
// which matches IP addresses too.
func tcpAddr(addr string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return &net.TCPAddr{}
	}
	return a
}

// probeKey is a key no host has: asking known_hosts about it lists the
// keys recorded for a host.
type probeKey struct{}

func (probeKey) Type() string                        { return "hac-probe" }
func (probeKey) Marshal() []byte                     { return []byte("hac-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }
func (probeKey) String() string                      { return "hac-probe" }

var _ ssh.PublicKey = probeKey{}
