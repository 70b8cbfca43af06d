package sshconn

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kevinburke/ssh_config"
)

// Target is what a manifest says about reaching a node (see
// [manifest.SSH]): a host name, address or ~/.ssh/config alias, and
// optional overrides.
type Target struct {
	Host string
	User string // empty: from the ssh config, else the local user
	Port int    // 0: from the ssh config, else 22
	// Jump is a comma-separated list of jump hosts, each
	// "[user@]host[:port]", like ssh -J. It replaces any ProxyJump of the
	// ssh config for this host.
	Jump string
}

// String returns "[user@]host[:port]".
func (t Target) String() string {
	s := t.Host
	if t.Port != 0 {
		s = net.JoinHostPort(s, strconv.Itoa(t.Port))
	}
	if t.User != "" {
		s = t.User + "@" + s
	}
	return s
}

// ParseTarget reads "[user@]host[:port]" (IPv6 addresses in brackets).
func ParseTarget(s string) (Target, error) {
	var t Target
	if i := strings.LastIndex(s, "@"); i >= 0 {
		t.User, s = s[:i], s[i+1:]
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Target{}, fmt.Errorf("ssh: invalid port %q in %q", p, s)
		}
		t.Host, t.Port = h, n
	} else {
		t.Host = strings.Trim(s, "[]")
	}
	if t.Host == "" {
		return Target{}, fmt.Errorf("ssh: empty host in %q: write it as [user@]host[:port]", s)
	}
	return t, nil
}

// endpoint is a target resolved through the ssh config: where to connect,
// as whom, with which keys and through which jump hosts.
type endpoint struct {
	alias      string // the name the user wrote
	hostName   string
	port       int
	user       string
	identities []string
	jumps      []Target // outermost first
}

// addr returns host:port for dialing and for known_hosts.
func (e endpoint) addr() string { return net.JoinHostPort(e.hostName, strconv.Itoa(e.port)) }

// sshConfig is a parsed ssh client configuration file; the zero value (or
// a nil pointer) has no entries.
type sshConfig struct {
	cfg  *ssh_config.Config
	path string
}

// loadSSHConfig parses path. An empty path means ~/.ssh/config; "none"
// means no file, like ssh -F none. A missing default file is no error.
func loadSSHConfig(path string) (*sshConfig, error) {
	explicit := path != ""
	if path == "none" {
		return &sshConfig{}, nil
	}
	if !explicit {
		home, err := os.UserHomeDir()
		if err != nil {
			return &sshConfig{}, nil
		}
		path = filepath.Join(home, ".ssh", "config")
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return &sshConfig{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ssh config: %w", err)
	}
	cfg, err := ssh_config.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("ssh config %s: %w", path, err)
	}
	return &sshConfig{cfg: cfg, path: path}, nil
}

func (c *sshConfig) get(alias, key string) string {
	if c == nil || c.cfg == nil {
		return ""
	}
	v, err := c.cfg.Get(alias, key)
	if err != nil {
		return ""
	}
	return v
}

func (c *sshConfig) getAll(alias, key string) []string {
	if c == nil || c.cfg == nil {
		return nil
	}
	v, _ := c.cfg.GetAll(alias, key)
	return v
}

// resolve applies the ssh config to t. Explicit fields of t win over the
// config, as options on ssh's command line do. Jump hosts are resolved
// too, but their own ProxyJump is not followed.
func (c *sshConfig) resolve(t Target, withJumps bool) (endpoint, error) {
	e := endpoint{alias: t.Host, hostName: t.Host, port: t.Port, user: t.User}
	if hn := c.get(t.Host, "HostName"); hn != "" {
		e.hostName = strings.ReplaceAll(hn, "%h", t.Host)
	}
	if e.port == 0 {
		if p := c.get(t.Host, "Port"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return endpoint{}, fmt.Errorf("ssh config %s: Host %s: invalid Port %q", c.path, t.Host, p)
			}
			e.port = n
		} else {
			e.port = 22
		}
	}
	if e.user == "" {
		e.user = c.get(t.Host, "User")
	}
	if e.user == "" {
		if u, err := user.Current(); err == nil {
			e.user = u.Username
		}
	}
	for _, f := range c.getAll(t.Host, "IdentityFile") {
		e.identities = append(e.identities, expandHome(strings.ReplaceAll(f, "%h", t.Host)))
	}
	if !withJumps {
		return e, nil
	}
	jump := t.Jump
	if jump == "" {
		jump = c.get(t.Host, "ProxyJump")
	}
	if jump != "" && jump != "none" {
		for _, hop := range strings.Split(jump, ",") {
			jt, err := ParseTarget(strings.TrimSpace(hop))
			if err != nil {
				return endpoint{}, fmt.Errorf("jump host for %s: %w", t.Host, err)
			}
			e.jumps = append(e.jumps, jt)
		}
	}
	return e, nil
}

// expandHome replaces a leading ~/ with the home directory.
func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}
