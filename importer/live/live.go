// Package live reads what hac import needs from a running node over SSH:
// its keepalived.conf with every include (as a [keepalived.FS]), the
// addresses on its VRRP interfaces (ip -j addr) and the static aliases of
// its network configuration (ifupdown's interfaces files, netplan's
// files). Files are read as root: through sudo -n when the login is
// another user ([Node.AsRoot]), and a sudo that wants a password is an
// error saying so.
package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/hac-project/hac/deploy"
	"github.com/hac-project/hac/deploy/sshconn"
	"github.com/hac-project/hac/importer/interfaces"
)

// Runner runs a shell command on the node: a [deploy.Conn].
type Runner = deploy.Conn

// A Node is a running node. Its file names carry the prefix "NAME:" (the
// node's name), so positions in problems say which node they are on.
type Node struct {
	Name string
	ctx  context.Context
	r    Runner
}

// New returns the node name reached through r; see [Node.AsRoot].
func New(ctx context.Context, name string, r Runner) *Node { return &Node{Name: name, ctx: ctx, r: r} }

func (n *Node) run(what string, argv ...string) ([]byte, error) {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(sshconn.Quote(a))
	}
	out, err := n.r.Run(n.ctx, what, b.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.Name, err)
	}
	return out, nil
}

// AsRoot makes the node read as root: through sudo -n ([deploy.Sudo], so a
// sudo that wants a password is refused as hac apply refuses it) when the
// login is not root. It reports whether it uses sudo (and hac apply must
// too: ssh.become "sudo").
func (n *Node) AsRoot() (bool, error) {
	out, err := n.r.Run(n.ctx, "who am I", "id -u", nil)
	if err != nil {
		return false, fmt.Errorf("%s: %w", n.Name, err)
	}
	if strings.TrimSpace(string(out)) == "0" {
		return false, nil
	}
	c, err := deploy.Sudo(n.ctx, n.r, "")
	if err != nil {
		return false, fmt.Errorf("%s: %w", n.Name, err)
	}
	n.r = c
	return true, nil
}

// Path returns the name a node's file has in positions: "NODE:PATH".
func (n *Node) Path(p string) string { return n.Name + ":" + p }

func (n *Node) local(name string) string { return strings.TrimPrefix(name, n.Name+":") }

// ReadFile reads a file of the node, named with or without the node's prefix.
func (n *Node) ReadFile(name string) ([]byte, error) {
	return n.run("read "+n.local(name), "cat", "--", n.local(name))
}

// Glob lists the node's files matching pattern, sorted, with the node's prefix.
func (n *Node) Glob(pattern string) ([]string, error) {
	out, err := n.run("list "+n.local(pattern), "sh", "-c", `for p in $1; do [ -e "$p" ] && printf '%s\n' "$p"; done; true`, "glob", n.local(pattern))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			names = append(names, n.Path(l))
		}
	}
	slices.Sort(names)
	return names, nil
}

// An Addr is one address of an interface, as ip -j addr reports it.
type Addr struct {
	Prefix netip.Prefix
	Label  string // IPv4 label, e.g. "eth1:0"
	Scope  string // "global", "link", "host"
	// Permanent is an address without a lifetime (a static one, or a VIP
	// keepalived added); a hac agent's VIP has a lifetime.
	Permanent bool
}

// Addrs returns the addresses of interface dev.
func (n *Node) Addrs(dev string) ([]Addr, error) {
	out, err := n.r.Run(n.ctx, "addresses of "+dev, "ip -j addr show dev "+sshconn.Quote(dev), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.Name, err)
	}
	return parseAddrs(out)
}

// parseAddrs decodes ip -j addr's output.
func parseAddrs(b []byte) ([]Addr, error) {
	var links []struct {
		AddrInfo []struct {
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
			Label     string `json:"label"`
			Scope     string `json:"scope"`
			ValidLft  *int64 `json:"valid_life_time"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(b), &links); err != nil {
		return nil, fmt.Errorf("ip -j addr: %w", err)
	}
	var out []Addr
	for _, l := range links {
		for _, a := range l.AddrInfo {
			ip, err := netip.ParseAddr(a.Local)
			p := netip.PrefixFrom(ip, a.PrefixLen)
			if err != nil || !p.IsValid() {
				continue
			}
			out = append(out, Addr{Prefix: p, Label: a.Label, Scope: a.Scope,
				Permanent: a.ValidLft == nil || *a.ValidLft == 4294967295})
		}
	}
	return out, nil
}

// Own returns dev's addresses that are the node's own: of global scope
// and none of vips.
func Own(addrs []Addr, vips []netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range addrs {
		if a.Scope == "global" && !slices.Contains(vips, a.Prefix.Addr()) {
			out = append(out, a.Prefix)
		}
	}
	return out
}

// An Alias is a VIP configured statically in the node's network
// configuration (ifupdown's interfaces files or netplan's).
type Alias struct {
	File string // "NODE:PATH"
	Line int    // 0 when unknown (netplan)
	Name string // the logical interface, e.g. "eth1:0", or netplan's interface
	VIP  netip.Addr
}

// Aliases finds the VIPs (by interface) the node's network configuration
// sets statically: iface stanzas in /etc/network/interfaces and the files
// it sources, addresses in /etc/netplan/*.yaml. Missing files are no error.
func (n *Node) Aliases(vips map[string][]netip.Addr) ([]Alias, error) {
	var out []Alias
	files, err := n.Glob("/etc/network/interfaces")
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(files); i++ {
		src, err := n.ReadFile(files[i])
		if err != nil {
			return nil, err
		}
		f, err := interfaces.Parse(files[i], src)
		if err != nil {
			return nil, err
		}
		for _, s := range f.Sources() {
			if !path.IsAbs(s) {
				s = path.Join("/etc/network", s)
			}
			more, err := n.Glob(s)
			if err != nil {
				return nil, err
			}
			for _, m := range more {
				if !slices.Contains(files, m) {
					files = append(files, m)
				}
			}
		}
		for dev, vs := range vips {
			for _, a := range f.Aliases(dev, vs) {
				out = append(out, Alias{File: a.File, Line: a.Line, Name: a.Name, VIP: a.Prefix.Addr()})
			}
		}
	}
	plans, err := n.Glob("/etc/netplan/*.yaml")
	if err != nil {
		return nil, err
	}
	for _, p := range plans {
		src, err := n.ReadFile(p)
		if err != nil {
			return nil, err
		}
		as, err := netplanAliases(p, src, vips)
		if err != nil {
			return nil, err
		}
		out = append(out, as...)
	}
	return out, nil
}

// netplanAliases returns the VIPs a netplan file gives an interface as
// static addresses.
func netplanAliases(name string, src []byte, vips map[string][]netip.Addr) ([]Alias, error) {
	var doc struct {
		Network map[string]any `yaml:"network"`
	}
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var out []Alias
	for _, kind := range []string{"ethernets", "bonds", "vlans", "bridges"} {
		devs, _ := doc.Network[kind].(map[string]any)
		for dev, v := range devs {
			m, _ := v.(map[string]any)
			addrs, _ := m["addresses"].([]any)
			for _, a := range addrs {
				s, _ := a.(string)
				p, err := netip.ParsePrefix(s)
				if err != nil {
					continue
				}
				if slices.Contains(vips[dev], p.Addr()) {
					out = append(out, Alias{File: name, Name: dev, VIP: p.Addr()})
				}
			}
		}
	}
	return out, nil
}

// ErrNotFound is returned by Target for a node argument that is not an
// ssh:// URL.
var ErrNotFound = errors.New("not an ssh:// target")

// Target parses "ssh://[USER@]HOST[:PORT][/PATH]": how to reach a node,
// and the path of its keepalived.conf (default
// /etc/keepalived/keepalived.conf). Anything else is ErrNotFound.
func Target(s string) (sshconn.Target, string, error) {
	rest, ok := strings.CutPrefix(s, "ssh://")
	if !ok {
		return sshconn.Target{}, "", ErrNotFound
	}
	conf := "/etc/keepalived/keepalived.conf"
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		if p := rest[i:]; p != "/" {
			conf = p
		}
		rest = rest[:i]
	}
	t, err := sshconn.ParseTarget(rest)
	if err != nil || t.Host == "" {
		return sshconn.Target{}, "", fmt.Errorf("%q: want ssh://[USER@]HOST[:PORT][/PATH], e.g. ssh://admin@lb1.example.net", s)
	}
	return t, conf, nil
}
