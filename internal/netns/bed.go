package netns

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hac-project/hac/internal/testenv"
)

// Spec describes a test bed.
type Spec struct {
	// Nodes are short node names (at most 8 characters, e.g. "n1"). Empty
	// means two nodes, n1 and n2.
	Nodes []string
	// IPv6 also gives every interface an address in 2001:db8:18::/64 and
	// turns off duplicate address detection, so link-local addresses are
	// usable at once.
	IPv6 bool
}

// Prefix is a test bed's IPv4 subnet; Prefix6 the IPv6 one.
var (
	Prefix  = netip.MustParsePrefix("198.18.0.0/24")
	Prefix6 = netip.MustParsePrefix("2001:db8:18::/64")
)

// ClientAddr is a test bed client's IPv4 address; ClientAddr6 its IPv6 one.
var (
	ClientAddr  = netip.MustParseAddr("198.18.0.100")
	ClientAddr6 = netip.MustParseAddr("2001:db8:18::100")
)

// A Bed is a [Net] for a test: its nodes n1, n2, … have eth1 at
// 198.18.0.11, .12, … and the client eth0 at 198.18.0.100. Its methods
// fail the test on error, except where they return one.
type Bed struct {
	*Net
	t testing.TB

	mu     sync.Mutex
	procs  []*exec.Cmd
	record string // the bed's record for the sweep (see claim)
}

// TestLayout returns the layout of a test bed for spec, under a fresh ID.
func TestLayout(spec Spec) (Layout, error) {
	names := spec.Nodes
	if len(names) == 0 {
		names = []string{"n1", "n2"}
	}
	if len(names) > 80 {
		return Layout{}, fmt.Errorf("netns: %d nodes: at most 80 fit the address plan", len(names))
	}
	l := Layout{ID: NewID(), NoDAD: spec.IPv6}
	for i, name := range names {
		if len(name) == 0 || len(name) > 8 || strings.ContainsAny(name, " /") {
			return Layout{}, fmt.Errorf("netns: node name %q: use 1 to 8 characters without spaces or slashes", name)
		}
		h := Host{Name: name, Iface: NodeIface, Addrs: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(11 + i)}), Prefix.Bits())}}
		if spec.IPv6 {
			h.Addrs = append(h.Addrs, netip.PrefixFrom(netip.MustParseAddr(fmt.Sprintf("2001:db8:18::%d", 11+i)), Prefix6.Bits()))
		}
		l.Nodes = append(l.Nodes, h)
	}
	l.Client = Host{Name: "c", Iface: ClientIface, Addrs: []netip.Prefix{netip.PrefixFrom(ClientAddr, Prefix.Bits())}}
	if spec.IPv6 {
		l.Client.Addrs = append(l.Client.Addrs, netip.PrefixFrom(ClientAddr6, Prefix6.Bits()))
	}
	return l, nil
}

// New creates a test bed and registers its removal with t.Cleanup. It
// needs root (testenv.NeedRoot: skipped locally, a failure in CI) and ip(8).
func New(t testing.TB, spec Spec) *Bed {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedTool(t, "ip")
	l, err := TestLayout(spec)
	if err != nil {
		t.Fatal(err)
	}
	swept, rec, err := claim(l)
	for _, s := range swept {
		t.Logf("netns: swept what a killed test left: %s", s)
	}
	if err != nil {
		t.Fatalf("netns: record the bed in %s: %v", stateDir, err)
	}
	n, err := Create(l) // removes what it made when it fails
	if err != nil {
		os.Remove(rec)
		t.Fatal(err)
	}
	b := &Bed{t: t, Net: n, record: rec}
	t.Cleanup(b.close)
	return b
}

// Node returns the node with the given short name.
func (b *Bed) Node(name string) *Node {
	b.t.Helper()
	n := b.Net.Node(name)
	if n == nil {
		b.t.Fatalf("netns: no node %q in this bed", name)
	}
	return n
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

// Command returns an unstarted command that runs in namespace ns. Start it
// with [Bed.Start] so the bed kills it at cleanup.
func (b *Bed) Command(ns string, name string, args ...string) *exec.Cmd {
	return Command(ns, name, args...)
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
	if err := b.Net.Remove(); err != nil {
		b.t.Error(err) // the record stays: the next sweep tries again
		return
	}
	os.Remove(b.record)
}

// CutLink takes the node's bridge port down: the node sees carrier loss,
// as when its cable is pulled.
func (b *Bed) CutLink(n *Node) {
	b.t.Helper()
	if err := b.Net.CutLink(n); err != nil {
		b.t.Fatal(err)
	}
}

// Isolate detaches the node's port from the bridge while the link stays
// up: the node keeps carrier but hears no one (split brain).
func (b *Bed) Isolate(n *Node) {
	b.t.Helper()
	if err := b.Net.Isolate(n); err != nil {
		b.t.Fatal(err)
	}
}

// Heal undoes CutLink and Isolate.
func (b *Bed) Heal(n *Node) {
	b.t.Helper()
	if err := b.Net.Heal(n); err != nil {
		b.t.Fatal(err)
	}
}

// Addrs lists the addresses on iface in namespace ns, as prefixes.
func (b *Bed) Addrs(ns, iface string) []netip.Prefix {
	b.t.Helper()
	ps, err := b.Net.Addrs(ns, iface)
	if err != nil {
		b.t.Fatal(err)
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
	hs, err := b.Net.Holders(a)
	if err != nil {
		b.t.Fatal(err)
	}
	return hs
}

// WatchHolders samples every 20 ms how many nodes carry address a until
// the returned stop function is called; stop returns the longest time two
// or more nodes held it together, to the sampling interval. It may run in
// a goroutine of its own: a failing ip(8) counts as not held.
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
			hs, _ := b.Net.Holders(a)
			if len(hs) < 2 {
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

// Probe starts a prober in the client namespace; the bed stops it at
// cleanup if the test does not.
func (b *Bed) Probe(target netip.Addr, every time.Duration) *Prober {
	b.t.Helper()
	p, err := StartProber(b.Client, target, every)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { p.Stop() })
	return p
}

// Answers reports whether target answers a ping from the client within
// timeout.
func (b *Bed) Answers(target netip.Addr, timeout time.Duration) bool {
	b.t.Helper()
	ok, err := Ping(b.Client, target, timeout)
	if err != nil {
		b.t.Fatal(err)
	}
	return ok
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
