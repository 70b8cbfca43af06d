// Package netns builds network beds out of Linux network namespaces: a
// bridge namespace holding br0, one namespace per node with its interface
// plugged into the bridge through a veth pair, and a client namespace. The
// project's integration tests and benchmarks use it through [Bed] (the
// testing wrapper: it fails the test on error and cleans up with it); hac
// lab uses the same core, [Create] and [Net], whose methods return errors.
//
// Every name starts with the net's ID (tests: "hac-<pid>-<random>", so
// parallel beds and test binaries never collide). Nothing touches the
// host's own interfaces or routes: every link lives inside the net's
// namespaces, and no veth reaches the root namespace, so what the nodes
// hold is never routed to or from the host. [Remove] deletes the
// namespaces by name, so a net recorded before it was made can be removed
// after a crash.
package netns

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hac-project/hac/agent/rundir"
)

// Interface names inside a test bed.
const (
	NodeIface   = "eth1" // a node's interface on the bridge
	ClientIface = "eth0" // the client's interface on the bridge
	BridgeName  = "br0"  // the bridge, in the bridge namespace
)

// Host describes one namespace plugged into the bridge.
type Host struct {
	// Name is the host's short name; a node's namespace is "<ID>-<Name>".
	Name string
	// Iface is the interface name inside the namespace (1..15 bytes).
	Iface string
	// Addrs are the interface's addresses with their prefix lengths.
	Addrs []netip.Prefix
	// MTU is the interface's MTU (both ends of its veth); 0 leaves the
	// kernel's default.
	MTU int `json:",omitempty"`
}

// Layout describes a net: its nodes and its client, on one bridge.
type Layout struct {
	// ID starts every namespace name; empty means "hac-<pid>-<random>".
	ID string
	// Nodes are the node namespaces, in order.
	Nodes []Host
	// Client is the namespace programs probe the nodes from; its Name is
	// ignored ("c").
	Client Host
	// NoDAD turns off IPv6 duplicate address detection everywhere, so
	// IPv6 and link-local addresses are usable at once.
	NoDAD bool
}

// Node is one node namespace of a net.
type Node struct {
	Name  string     // the short name ("n1", "lb1")
	NS    string     // the namespace name
	Iface string     // its interface on the bridge
	Addr  netip.Addr // its first IPv4 address, if any
	Addr6 netip.Addr // its first IPv6 address, if any
	port  string     // the bridge-side veth
}

// Net is a created net. Its methods return errors and never log.
type Net struct {
	ID     string
	Bridge string // the bridge namespace
	Client string // the client namespace
	Nodes  []*Node
}

// NewID returns a fresh ID: "hac-<pid>-<6 hex digits>".
func NewID() string {
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	return fmt.Sprintf("hac-%d-%s", os.Getpid(), hex.EncodeToString(rnd[:]))
}

// Namespaces returns the names of the namespaces Create makes for l,
// client first ("<ID>@c"), then the nodes ("<ID>-<name>"), bridge last
// ("<ID>@br"), the order Remove deletes them in. It
// does not look at the system, so the names can be recorded before Create
// runs.
func (l Layout) Namespaces() []string {
	ns := []string{l.ID + "@c"}
	for _, n := range l.Nodes {
		ns = append(ns, l.ID+"-"+n.Name)
	}
	return append(ns, l.ID+"@br")
}

// Check reports the first problem with l: names that cannot be namespace
// or interface names, duplicates, hosts without addresses.
func (l Layout) Check() error {
	if l.ID == "" || strings.ContainsAny(l.ID, " /") {
		return fmt.Errorf("netns: ID %q: use a name without spaces or slashes", l.ID)
	}
	seen := map[string]bool{}
	for i, h := range append([]Host{{Name: "c", Iface: l.Client.Iface, Addrs: l.Client.Addrs}}, l.Nodes...) {
		if h.Name == "" || len(h.Name) > 63 || strings.ContainsAny(h.Name, " /") || h.Name == "." || h.Name == ".." {
			return fmt.Errorf("netns: host name %q: use 1 to 63 characters without spaces or slashes", h.Name)
		}
		if i > 0 && seen[h.Name] {
			return fmt.Errorf("netns: node name %q used twice", h.Name)
		}
		if i > 0 {
			seen[h.Name] = true
		}
		if len(h.Iface) == 0 || len(h.Iface) > 15 || strings.ContainsAny(h.Iface, " /:") {
			return fmt.Errorf("netns: host %s: interface name %q: use 1 to 15 characters without spaces, slashes or colons", h.Name, h.Iface)
		}
	}
	if len(l.Nodes) > 250 {
		return fmt.Errorf("netns: %d nodes: at most 250", len(l.Nodes))
	}
	return nil
}

// Create makes the net l describes: the namespaces (lo up in each), the
// bridge, a veth pair per host with the host's end in its namespace under
// its interface name, and the addresses. On error it removes what it made.
// It needs root and ip(8).
func Create(l Layout) (_ *Net, err error) {
	if l.ID == "" {
		l.ID = NewID()
	}
	if err := l.Check(); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("netns: ip(8) is missing: install iproute2")
	}
	names := l.Namespaces()
	n := &Net{ID: l.ID, Client: names[0], Bridge: names[len(names)-1]}
	defer func() {
		if err != nil {
			err = errors.Join(err, Remove(names))
		}
	}()
	if err := n.addNS(n.Bridge, l.NoDAD); err != nil {
		return nil, err
	}
	if err := ip("-n", n.Bridge, "link", "add", BridgeName, "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"); err != nil {
		return nil, err
	}
	if err := ip("-n", n.Bridge, "link", "set", BridgeName, "up"); err != nil {
		return nil, err
	}
	for i, h := range l.Nodes {
		node := newNode(h, names[1+i], i)
		n.Nodes = append(n.Nodes, node)
		if err := n.plug(node.NS, node.port, h, l.NoDAD); err != nil {
			return nil, err
		}
	}
	if err := n.plug(n.Client, "pc", l.Client, l.NoDAD); err != nil {
		return nil, err
	}
	return n, nil
}

// Attach returns the view of a net Create made for l earlier (perhaps in
// another process), without looking at the system.
func Attach(l Layout) *Net {
	names := l.Namespaces()
	n := &Net{ID: l.ID, Client: names[0], Bridge: names[len(names)-1]}
	for i, h := range l.Nodes {
		n.Nodes = append(n.Nodes, newNode(h, names[1+i], i))
	}
	return n
}

// newNode is the i-th node of a layout, in namespace ns.
func newNode(h Host, ns string, i int) *Node {
	node := &Node{Name: h.Name, NS: ns, Iface: h.Iface, port: fmt.Sprintf("p%d", i)}
	for _, p := range h.Addrs {
		if p.Addr().Is4() && !node.Addr.IsValid() {
			node.Addr = p.Addr()
		}
		if p.Addr().Is6() && !node.Addr6.IsValid() {
			node.Addr6 = p.Addr()
		}
	}
	return node
}

// addNS creates a namespace with lo up.
func (n *Net) addNS(ns string, noDAD bool) error {
	if err := ip("netns", "add", ns); err != nil {
		return err
	}
	if err := ip("-n", ns, "link", "set", "lo", "up"); err != nil {
		return err
	}
	if noDAD {
		if _, err := n.Run(ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"); err != nil {
			return fmt.Errorf("netns: sysctl in %s: %w", ns, err)
		}
	}
	return nil
}

// plug creates namespace ns and connects h's interface to the bridge
// through the bridge-side veth port.
func (n *Net) plug(ns, port string, h Host, noDAD bool) error {
	if err := n.addNS(ns, noDAD); err != nil {
		return err
	}
	if err := ip("-n", n.Bridge, "link", "add", port, "type", "veth", "peer", "name", h.Iface, "netns", ns); err != nil {
		return err
	}
	if err := ip("-n", n.Bridge, "link", "set", port, "master", BridgeName, "up"); err != nil {
		return err
	}
	if h.MTU > 0 {
		mtu := strconv.Itoa(h.MTU)
		if err := ip("-n", n.Bridge, "link", "set", port, "mtu", mtu); err != nil {
			return err
		}
		if err := ip("-n", ns, "link", "set", h.Iface, "mtu", mtu); err != nil {
			return err
		}
	}
	if noDAD {
		if _, err := n.Run(ns, "sysctl", "-qw", "net.ipv6.conf."+h.Iface+".accept_dad=0"); err != nil {
			return fmt.Errorf("netns: sysctl in %s: %w", ns, err)
		}
	}
	for _, p := range h.Addrs {
		args := []string{"-n", ns, "addr", "add", p.String(), "dev", h.Iface}
		if p.Addr().Is6() {
			args = append(args, "nodad")
		}
		if err := ip(args...); err != nil {
			return err
		}
	}
	return ip("-n", ns, "link", "set", h.Iface, "up")
}

// ip runs ip(8) with args.
func ip(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("netns: ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Remove deletes the named namespaces that exist (with every link inside
// them) and reports the ones it could not delete. Processes still running
// in a namespace keep it alive until they exit: kill them first. The node
// lock file a hac agent killed in a namespace leaves in /run/hac
// ([rundir.RemoveStale]) goes with the namespace, unless an agent still
// holds it.
func Remove(namespaces []string) error {
	var errs []error
	for _, ns := range namespaces {
		if !Exists(ns) {
			continue
		}
		var st unix.Stat_t
		statErr := unix.Stat("/run/netns/"+ns, &st)
		if err := ip("netns", "del", ns); err != nil {
			errs = append(errs, err)
			continue
		}
		if statErr == nil {
			if err := rundir.RemoveStale(rundir.Dir, st.Ino); err != nil {
				errs = append(errs, fmt.Errorf("netns: %s: %w", ns, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Exists reports whether a namespace named ns is mounted under /run/netns.
func Exists(ns string) bool {
	if ns == "" || strings.Contains(ns, "/") || ns == "." || ns == ".." {
		return false
	}
	_, err := os.Lstat("/run/netns/" + ns)
	return err == nil
}

// Remove deletes the net's namespaces.
func (n *Net) Remove() error { return Remove(n.Namespaces()) }

// Namespaces returns the net's namespace names, client first, bridge last.
func (n *Net) Namespaces() []string {
	ns := []string{n.Client}
	for _, nd := range n.Nodes {
		ns = append(ns, nd.NS)
	}
	return append(ns, n.Bridge)
}

// Node returns the node with the given short name, or nil.
func (n *Net) Node(name string) *Node {
	for _, nd := range n.Nodes {
		if nd.Name == name {
			return nd
		}
	}
	return nil
}

// Run runs a command in namespace ns and returns its standard output and an
// error carrying its standard error when it fails.
func (n *Net) Run(ns string, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := Command(ns, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.String(), nil
}

// Command returns an unstarted command that runs in namespace ns, through
// ip netns exec (which replaces itself with the program, in a mount
// namespace of its own whose mounts never reach the host).
func Command(ns string, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// CutLink takes the node's bridge port down: the node sees carrier loss,
// as when its cable is pulled.
func (n *Net) CutLink(nd *Node) error {
	return ip("-n", n.Bridge, "link", "set", nd.port, "down")
}

// Isolate detaches the node's port from the bridge while the link stays
// up: the node keeps carrier but hears no one (split brain).
func (n *Net) Isolate(nd *Node) error {
	return ip("-n", n.Bridge, "link", "set", nd.port, "nomaster")
}

// Heal undoes CutLink and Isolate.
func (n *Net) Heal(nd *Node) error {
	return ip("-n", n.Bridge, "link", "set", nd.port, "master", BridgeName, "up")
}

// Addrs lists the addresses on iface in namespace ns, as prefixes.
func (n *Net) Addrs(ns, iface string) ([]netip.Prefix, error) {
	out, err := n.Run(ns, "ip", "-o", "addr", "show", "dev", iface)
	if err != nil {
		return nil, fmt.Errorf("netns: addresses of %s in %s: %w", iface, ns, err)
	}
	var ps []netip.Prefix
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" || f[i] == "inet6" {
				if p, err := netip.ParsePrefix(f[i+1]); err == nil {
					ps = append(ps, p)
				}
			}
		}
	}
	return ps, nil
}

// Holders returns the nodes whose interface carries address a.
func (n *Net) Holders(a netip.Addr) ([]string, error) {
	var hs []string
	for _, nd := range n.Nodes {
		ps, err := n.Addrs(nd.NS, nd.Iface)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if p.Addr() == a {
				hs = append(hs, nd.Name)
				break
			}
		}
	}
	return hs, nil
}

// Do runs fn on an OS thread that has entered namespace ns. Sockets fn
// opens (netlink, packet, raw IP) stay in ns after Do returns. Goroutines
// started by fn do not run in ns.
func Do(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("netns: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- fmt.Errorf("netns: namespace %s: %w", ns, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netns: enter %s: %w", ns, err)
			return
		}
		ferr := fn()
		// Leave the thread locked (it dies with this goroutine) unless we
		// are back in the original namespace.
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}
