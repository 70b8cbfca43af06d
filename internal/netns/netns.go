// Package netns builds throwaway network test beds out of Linux network
// namespaces: a bridge namespace holding br0, one namespace per node with
// eth1 plugged into the bridge, and a client namespace with eth0. Tests and
// benchmarks (the agent's integration tests, hac apply's end-to-end tests,
// the failover benchmark) run real programs inside the nodes, cut and heal
// links, and probe addresses from the client.
//
// Every name carries the process id and a random suffix, so parallel beds
// and parallel test binaries never collide; the bed removes its namespaces
// and kills the processes it started when the test ends. Nothing touches
// the host's own interfaces or routes. Addresses come from 198.18.0.0/24
// and, with Spec.IPv6, from 2001:db8:18::/64.
package netns

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hac-project/hac/internal/testenv"
)

// Interface names inside the bed.
const (
	NodeIface   = "eth1" // a node's interface on the bridge
	ClientIface = "eth0" // the client's interface on the bridge
	BridgeName  = "br0"  // the bridge, in the bridge namespace
)

// Spec describes a bed.
type Spec struct {
	// Nodes are short node names (at most 8 characters, e.g. "n1"). Empty
	// means two nodes, n1 and n2.
	Nodes []string
	// IPv6 also gives every interface an address in 2001:db8:18::/64 and
	// turns off duplicate address detection, so link-local addresses are
	// usable at once.
	IPv6 bool
}

// Node is one node namespace of a bed.
type Node struct {
	Name  string     // the short name from the Spec ("n1")
	NS    string     // the namespace name
	Addr  netip.Addr // its IPv4 address on eth1 (198.18.0.11, .12, …)
	Addr6 netip.Addr // its IPv6 address on eth1 when Spec.IPv6 (2001:db8:18::11, …)
	port  string     // the bridge-side veth
}

// Prefix is the bed's IPv4 subnet; Prefix6 the IPv6 one.
var (
	Prefix  = netip.MustParsePrefix("198.18.0.0/24")
	Prefix6 = netip.MustParsePrefix("2001:db8:18::/64")
)

// ClientAddr is the client's IPv4 address; ClientAddr6 its IPv6 one.
var (
	ClientAddr  = netip.MustParseAddr("198.18.0.100")
	ClientAddr6 = netip.MustParseAddr("2001:db8:18::100")
)

// A Bed is a running test bed. Its methods fail the test on error, except
// where they return one.
type Bed struct {
	t      testing.TB
	id     string
	Bridge string // the bridge namespace
	Client string // the client namespace
	Nodes  []*Node

	mu    sync.Mutex
	procs []*exec.Cmd
}

// New creates a bed and registers its removal with t.Cleanup. It needs
// root (testenv.NeedRoot: skipped locally, a failure in CI) and ip(8).
func New(t testing.TB, spec Spec) *Bed {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedTool(t, "ip")
	names := spec.Nodes
	if len(names) == 0 {
		names = []string{"n1", "n2"}
	}
	if len(names) > 80 {
		t.Fatalf("netns: %d nodes: at most 80 fit the address plan", len(names))
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	b := &Bed{t: t, id: fmt.Sprintf("hac-%d-%s", os.Getpid(), hex.EncodeToString(rnd[:]))}
	b.Bridge = b.id + "-br"
	b.Client = b.id + "-c"
	t.Cleanup(b.close)

	b.addNS(b.Bridge, spec.IPv6)
	b.ip("-n", b.Bridge, "link", "add", BridgeName, "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0")
	b.ip("-n", b.Bridge, "link", "set", BridgeName, "up")
	for i, name := range names {
		if len(name) == 0 || len(name) > 8 || strings.ContainsAny(name, " /") {
			t.Fatalf("netns: node name %q: use 1 to 8 characters without spaces or slashes", name)
		}
		n := &Node{
			Name: name,
			NS:   b.id + "-" + name,
			Addr: netip.AddrFrom4([4]byte{198, 18, 0, byte(11 + i)}),
			port: "v" + name,
		}
		if spec.IPv6 {
			n.Addr6 = netip.MustParseAddr(fmt.Sprintf("2001:db8:18::%d", 11+i))
		}
		b.Nodes = append(b.Nodes, n)
		b.plug(n.NS, n.port, NodeIface, n.Addr, n.Addr6, spec.IPv6)
	}
	var c6 netip.Addr
	if spec.IPv6 {
		c6 = ClientAddr6
	}
	b.plug(b.Client, "vclient", ClientIface, ClientAddr, c6, spec.IPv6)
	return b
}

// addNS creates a namespace with lo up.
func (b *Bed) addNS(ns string, v6 bool) {
	b.ip("netns", "add", ns)
	b.ip("-n", ns, "link", "set", "lo", "up")
	if v6 {
		b.Exec(ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	}
}

// plug creates namespace ns and connects its interface iface to the bridge
// through the bridge-side veth port.
func (b *Bed) plug(ns, port, iface string, a4, a6 netip.Addr, v6 bool) {
	b.addNS(ns, v6)
	b.ip("-n", b.Bridge, "link", "add", port, "type", "veth", "peer", "name", iface, "netns", ns)
	b.ip("-n", b.Bridge, "link", "set", port, "master", BridgeName, "up")
	if v6 {
		b.Exec(ns, "sysctl", "-qw", "net.ipv6.conf."+iface+".accept_dad=0")
	}
	b.ip("-n", ns, "addr", "add", netip.PrefixFrom(a4, Prefix.Bits()).String(), "dev", iface)
	if a6.IsValid() {
		b.ip("-n", ns, "addr", "add", netip.PrefixFrom(a6, Prefix6.Bits()).String(), "dev", iface, "nodad")
	}
	b.ip("-n", ns, "link", "set", iface, "up")
}

// Node returns the node with the given short name.
func (b *Bed) Node(name string) *Node {
	b.t.Helper()
	for _, n := range b.Nodes {
		if n.Name == name {
			return n
		}
	}
	b.t.Fatalf("netns: no node %q in this bed", name)
	return nil
}

func (b *Bed) ip(args ...string) {
	b.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		b.t.Fatalf("netns: ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Exec runs a command in namespace ns and returns its standard output; it
// fails the test when the command fails.
func (b *Bed) Exec(ns string, name string, args ...string) string {
	b.t.Helper()
	out, err := b.Run(ns, name, args...)
	if err != nil {
		b.t.Fatalf("netns: %s %s in %s: %v", name, strings.Join(args, " "), ns, err)
	}
	return out
}

// Run runs a command in namespace ns and returns its standard output and an
// error carrying its standard error when it fails.
func (b *Bed) Run(ns string, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	return stdout.String(), nil
}

// Command returns an unstarted command that runs in namespace ns. Start it
// with [Bed.Start] so the bed kills it at cleanup.
func (b *Bed) Command(ns string, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Start starts cmd (usually from [Bed.Command]) and remembers it: the bed
// kills it (SIGKILL) at cleanup if it still runs, and reaps it. ip netns
// exec replaces itself with the program, so cmd.Process is the program.
func (b *Bed) Start(cmd *exec.Cmd) {
	b.t.Helper()
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("netns: start %s: %v", strings.Join(cmd.Args, " "), err)
	}
	b.mu.Lock()
	b.procs = append(b.procs, cmd)
	b.mu.Unlock()
}

// Signal sends sig to a process started with [Bed.Start].
func (b *Bed) Signal(cmd *exec.Cmd, sig syscall.Signal) {
	b.t.Helper()
	if err := cmd.Process.Signal(sig); err != nil {
		b.t.Fatalf("netns: signal %v to %s: %v", sig, cmd.Path, err)
	}
}

// Wait waits at most timeout for a process started with [Bed.Start] to
// exit and returns its exit error; it kills the process and fails the test
// when the time runs out.
func (b *Bed) Wait(cmd *exec.Cmd, timeout time.Duration) error {
	b.t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		b.forget(cmd)
		return err
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		b.forget(cmd)
		b.t.Fatalf("netns: %s did not exit within %v", strings.Join(cmd.Args, " "), timeout)
		return nil
	}
}

func (b *Bed) forget(cmd *exec.Cmd) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, c := range b.procs {
		if c == cmd {
			b.procs = append(b.procs[:i], b.procs[i+1:]...)
			return
		}
	}
}

// close kills the bed's processes and deletes its namespaces.
func (b *Bed) close() {
	b.mu.Lock()
	procs := b.procs
	b.procs = nil
	b.mu.Unlock()
	for _, c := range procs {
		_ = c.Process.Kill()
		_ = c.Wait()
	}
	for _, ns := range b.namespaces() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such file") {
			b.t.Errorf("netns: ip netns del %s: %v\n%s", ns, err, out)
		}
	}
}

func (b *Bed) namespaces() []string {
	ns := []string{b.Client}
	for _, n := range b.Nodes {
		ns = append(ns, n.NS)
	}
	return append(ns, b.Bridge)
}

// CutLink takes the node's bridge port down: the node sees carrier loss,
// as when its cable is pulled.
func (b *Bed) CutLink(n *Node) {
	b.t.Helper()
	b.ip("-n", b.Bridge, "link", "set", n.port, "down")
}

// Isolate detaches the node's port from the bridge while the link stays
// up: the node keeps carrier but hears no one (split brain).
func (b *Bed) Isolate(n *Node) {
	b.t.Helper()
	b.ip("-n", b.Bridge, "link", "set", n.port, "nomaster")
}

// Heal undoes CutLink and Isolate.
func (b *Bed) Heal(n *Node) {
	b.t.Helper()
	b.ip("-n", b.Bridge, "link", "set", n.port, "master", BridgeName, "up")
}

// Addrs lists the addresses on iface in namespace ns, as prefixes.
func (b *Bed) Addrs(ns, iface string) []netip.Prefix {
	b.t.Helper()
	return parseAddrs(b.Exec(ns, "ip", "-o", "addr", "show", "dev", iface))
}

// parseAddrs reads the prefixes from `ip -o addr show` output.
func parseAddrs(out string) []netip.Prefix {
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
	return ps
}

// HasAddr reports whether iface in namespace ns carries address a.
func (b *Bed) HasAddr(ns, iface string, a netip.Addr) bool {
	b.t.Helper()
	for _, p := range b.Addrs(ns, iface) {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// Holders returns the nodes whose eth1 carries address a.
func (b *Bed) Holders(a netip.Addr) []string {
	b.t.Helper()
	var hs []string
	for _, n := range b.Nodes {
		if b.HasAddr(n.NS, NodeIface, a) {
			hs = append(hs, n.Name)
		}
	}
	return hs
}

// WatchHolders samples every 20 ms how many nodes carry address a on eth1
// until the returned stop function is called; stop returns the longest
// time two or more nodes held it together, to the sampling interval. It
// may run in a goroutine of its own: a failing ip(8) counts as not held.
func (b *Bed) WatchHolders(a netip.Addr) (stop func() time.Duration) {
	done := make(chan struct{})
	res := make(chan time.Duration, 1)
	go func() {
		var longest time.Duration
		var since time.Time
		for {
			select {
			case <-done:
				res <- longest
				return
			case <-time.After(20 * time.Millisecond):
			}
			n := 0
			for _, node := range b.Nodes {
				out, _ := b.Run(node.NS, "ip", "-o", "addr", "show", "dev", NodeIface)
				if slices.ContainsFunc(parseAddrs(out), func(p netip.Prefix) bool { return p.Addr() == a }) {
					n++
				}
			}
			if n < 2 {
				since = time.Time{}
				continue
			}
			if since.IsZero() {
				since = time.Now()
			}
			longest = max(longest, time.Since(since))
		}
	}()
	return func() time.Duration {
		close(done)
		return <-res
	}
}

// Eventually polls cond every 20 ms until it holds or timeout passes, and
// fails the test with msg in the second case.
func (b *Bed) Eventually(timeout time.Duration, msg string, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			b.t.Fatalf("netns: after %v: %s", timeout, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
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

// A Capture is a running tcpdump.
type Capture struct {
	b    *Bed
	cmd  *exec.Cmd
	File string // the pcap file
}

// Capture starts tcpdump on iface in namespace ns with a filter expression
// (empty: everything), writing to a file in a temporary directory, and
// waits until it listens. It needs tcpdump (testenv.NeedTool).
func (b *Bed) Capture(ns, iface, filter string) *Capture {
	b.t.Helper()
	testenv.NeedTool(b.t, "tcpdump")
	dir := b.t.TempDir()
	c := &Capture{b: b, File: dir + "/capture.pcap"}
	errf, err := os.Create(dir + "/tcpdump.err")
	if err != nil {
		b.t.Fatal(err)
	}
	defer errf.Close()
	// --immediate-mode: without it frames wait in the capture ring and a
	// stop loses them; -Z root: the file is in a root-only directory.
	args := []string{"--immediate-mode", "-Z", "root", "-U", "-n", "-i", iface, "-w", c.File}
	if filter != "" {
		args = append(args, filter)
	}
	c.cmd = b.Command(ns, "tcpdump", args...)
	c.cmd.Stderr = errf
	b.Start(c.cmd)
	b.Eventually(5*time.Second, "tcpdump did not start listening", func() bool {
		out, _ := os.ReadFile(errf.Name())
		return bytes.Contains(out, []byte("listening on"))
	})
	return c
}

// Stop stops tcpdump after a short grace period for frames in flight and
// returns the pcap file name.
func (c *Capture) Stop() string {
	c.b.t.Helper()
	time.Sleep(200 * time.Millisecond)
	c.b.Signal(c.cmd, syscall.SIGTERM)
	_ = c.b.Wait(c.cmd, 5*time.Second)
	return c.File
}
