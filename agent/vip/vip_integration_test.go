package vip_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"

	"github.com/hac-project/hac/agent/vip"
	"github.com/hac-project/hac/internal/netns"
)

// open dials a Manager and a Watcher inside the node's namespace and
// returns them with eth1's index.
func open(t *testing.T, bed *netns.Bed, n *netns.Node) (*vip.Manager, *vip.Watcher, int) {
	t.Helper()
	var (
		m   *vip.Manager
		w   *vip.Watcher
		idx int
	)
	err := netns.Do(n.NS, func() error {
		ifi, err := net.InterfaceByName(netns.NodeIface)
		if err != nil {
			return err
		}
		idx = ifi.Index
		if m, err = vip.Dial(); err != nil {
			return err
		}
		w, err = vip.Watch()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); w.Close() })
	return m, w, idx
}

// waitEvent reads events until match returns true, failing after 5 s.
func waitEvent(t *testing.T, w *vip.Watcher, what string, match func(vip.Event) bool) {
	t.Helper()
	found := make(chan bool, 1)
	go func() {
		for {
			evs, err := w.Next()
			if err != nil {
				found <- false
				return
			}
			for _, e := range evs {
				if match(e) {
					found <- true
					return
				}
			}
		}
	}()
	select {
	case ok := <-found:
		if !ok {
			t.Fatalf("watcher closed before %s", what)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no event: %s", what)
	}
}

func TestAddLeaseRemove(t *testing.T) {
	t.Parallel()
	bed := netns.New(t, netns.Spec{Nodes: []string{"a"}, IPv6: true})
	n := bed.Node("a")
	m, w, idx := open(t, bed, n)

	v4 := netip.MustParsePrefix("198.18.0.200/32")
	v6 := netip.MustParsePrefix("2001:db8:18::200/128")
	sub := netip.MustParsePrefix("198.18.0.201/24")
	for _, p := range []netip.Prefix{v4, v6, sub} {
		if err := m.Add(idx, p, 3*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := m.Add(idx, p, 3*time.Second); err != nil {
			t.Fatalf("renewing the lease: %v", err)
		}
	}
	as, err := m.List(idx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[netip.Prefix]vip.Address{}
	for _, a := range as {
		got[a.Prefix] = a
	}
	for _, p := range []netip.Prefix{v4, v6, sub} {
		a, ok := got[p]
		if !ok {
			t.Fatalf("%v not listed on eth1: %v", p, as)
		}
		if a.Valid > 3*time.Second || a.Valid < 2*time.Second {
			t.Errorf("%v valid lifetime %v, want about 3s", p, a.Valid)
		}
	}
	if got[v6].Flags&unix.IFA_F_NODAD == 0 {
		t.Errorf("%v flags %#x lack IFA_F_NODAD", v6, got[v6].Flags)
	}
	if got[v6].Preferred != 0 {
		t.Errorf("%v preferred lifetime %v, want 0 (deprecated, never a source)", v6, got[v6].Preferred)
	}
	if !bed.Answers(v4.Addr(), 2*time.Second) || !bed.Answers(v6.Addr(), 2*time.Second) {
		t.Errorf("the VIPs do not answer the client")
	}

	// Something else removes a VIP: the watcher says so.
	bed.Exec(n.NS, "ip", "addr", "del", v4.String(), "dev", netns.NodeIface)
	waitEvent(t, w, "removal of "+v4.String(), func(e vip.Event) bool {
		return e.Kind == vip.AddrRemoved && e.Prefix == v4 && e.Index == idx
	})

	if err := m.Remove(idx, v6); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove(idx, v6); err != nil {
		t.Errorf("removing an absent VIP: %v, want nil", err)
	}
	if bed.HasAddr(n.NS, netns.NodeIface, v6.Addr()) {
		t.Errorf("%v still on eth1 after Remove", v6)
	}

	// The lease runs out: the kernel removes the address by itself.
	start := time.Now()
	bed.Eventually(5*time.Second, sub.String()+" outlived its 3s lease", func() bool {
		return !bed.HasAddr(n.NS, netns.NodeIface, sub.Addr())
	})
	t.Logf("%v expired %v after its last renewal", sub, time.Since(start).Round(10*time.Millisecond))
}

func TestFind(t *testing.T) {
	t.Parallel()
	bed := netns.New(t, netns.Spec{Nodes: []string{"a"}})
	n := bed.Node("a")
	m, _, idx := open(t, bed, n)
	// keepalived leaves permanent VIPs behind after SIGKILL; a killed hac
	// agent leaves leased ones.
	bed.Exec(n.NS, "ip", "addr", "add", "198.18.0.210/32", "dev", netns.NodeIface)
	bed.Exec(n.NS, "ip", "addr", "add", "198.18.0.211/24", "dev", netns.NodeIface)
	if err := m.Add(idx, netip.MustParsePrefix("198.18.0.213/32"), 3*time.Second); err != nil {
		t.Fatal(err)
	}
	found, err := m.Find(idx, []netip.Prefix{
		netip.MustParsePrefix("198.18.0.210/32"),
		netip.MustParsePrefix("198.18.0.211/32"), // another prefix length: still ours
		netip.MustParsePrefix("198.18.0.212/32"), // absent
		netip.MustParsePrefix("198.18.0.213/32"),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, a := range found {
		got[a.Prefix.String()] = a.Leased()
	}
	want := map[string]bool{"198.18.0.210/32": false, "198.18.0.211/24": false, "198.18.0.213/32": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Find: address -> leased (-want +got):\n%s", diff)
	}
}

// TestPromoteSecondaries: with promote_secondaries set, removing a primary
// address (a VIP that became primary after the node's address was removed
// and added again) keeps the secondary (the node's address).
func TestPromoteSecondaries(t *testing.T) {
	t.Parallel()
	bed := netns.New(t, netns.Spec{Nodes: []string{"a"}})
	n := bed.Node("a")
	m, _, idx := open(t, bed, n)
	if err := netns.Do(n.NS, func() error { return vip.PromoteSecondaries(netns.NodeIface) }); err != nil {
		t.Fatal(err)
	}
	own := netip.PrefixFrom(n.Addr, 24)
	v := netip.MustParsePrefix("198.18.0.214/24")
	bed.Exec(n.NS, "ip", "addr", "del", own.String(), "dev", netns.NodeIface)
	if err := m.Add(idx, v, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	bed.Exec(n.NS, "ip", "addr", "add", own.String(), "dev", netns.NodeIface) // secondary now
	if err := m.Remove(idx, v); err != nil {
		t.Fatal(err)
	}
	if !bed.HasAddr(n.NS, netns.NodeIface, n.Addr) {
		t.Errorf("removing the primary VIP %v removed the node's address %v", v, n.Addr)
	}
	if err := vip.PromoteSecondaries("../x"); err == nil {
		t.Errorf("PromoteSecondaries accepted a path as interface name")
	}
}

func TestLinkEvents(t *testing.T) {
	t.Parallel()
	bed := netns.New(t, netns.Spec{Nodes: []string{"a"}})
	n := bed.Node("a")
	m, w, idx := open(t, bed, n)
	if up, err := m.LinkUp(idx); err != nil || !up {
		t.Fatalf("LinkUp = %v, %v; want true", up, err)
	}
	bed.CutLink(n)
	waitEvent(t, w, "carrier loss", func(e vip.Event) bool { return e.Kind == vip.Link && e.Index == idx && !e.Up })
	if up, err := m.LinkUp(idx); err != nil || up {
		t.Errorf("LinkUp after CutLink = %v, %v; want false", up, err)
	}
	bed.Heal(n)
	waitEvent(t, w, "carrier back", func(e vip.Event) bool { return e.Kind == vip.Link && e.Index == idx && e.Up })
}

// TestIgnoreAdded: with IgnoreAdded, adding and renewing addresses
// delivers nothing; the removal that follows is the first event.
func TestIgnoreAdded(t *testing.T) {
	t.Parallel()
	bed := netns.New(t, netns.Spec{Nodes: []string{"a"}, IPv6: true})
	n := bed.Node("a")
	m, w, idx := open(t, bed, n)
	if err := w.IgnoreAdded(); err != nil {
		t.Fatal(err)
	}
	v4 := netip.MustParsePrefix("198.18.0.200/32")
	v6 := netip.MustParsePrefix("2001:db8:18::200/128")
	for range 3 { // an add, then two renewals
		for _, p := range []netip.Prefix{v4, v6} {
			if err := m.Add(idx, p, 10*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := m.Remove(idx, v4); err != nil {
		t.Fatal(err)
	}
	var first []vip.Event
	waitEvent(t, w, "the removal", func(e vip.Event) bool {
		first = append(first, e)
		return true
	})
	want := []vip.Event{{Kind: vip.AddrRemoved, Index: idx, Prefix: v4}}
	if diff := cmp.Diff(want, first, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
		t.Errorf("first event (-want +got):\n%s", diff)
	}
}

// TestAddAllBatches renews more leases than one datagram carries, with a
// refused one among them: each gets its own answer, in order.
func TestAddAllBatches(t *testing.T) {
	t.Parallel()
	bed := netns.New(t, netns.Spec{Nodes: []string{"a"}})
	n := bed.Node("a")
	m, _, idx := open(t, bed, n)

	const count = 150 // more than two batches
	ls := manyLeases(count, idx)
	const refused = 70 // in the second batch
	ls[refused].Index = 999_999
	for round := range 2 { // adds, then renews
		errs := m.AddAll(ls)
		if len(errs) != count {
			t.Fatalf("round %d: %d answers for %d leases", round, len(errs), count)
		}
		for i, err := range errs {
			if i == refused {
				if !errors.Is(err, unix.ENODEV) {
					t.Errorf("round %d: lease on a missing interface: %v, want ENODEV", round, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("round %d: lease %d (%v): %v", round, i, ls[i].Prefix, err)
			}
		}
	}
	checkLeased(t, m, idx, count-1)
}

// TestAddAllAgainAllocatesNothing: adding leases added before (a master
// taking its VIPs back) reuses their encoding and the requester's
// buffers, and AddAll returns nil when every lease was done. Not
// parallel: AllocsPerRun counts every goroutine's allocations.
func TestAddAllAgainAllocatesNothing(t *testing.T) {
	bed := netns.New(t, netns.Spec{Nodes: []string{"a"}})
	m, _, idx := open(t, bed, bed.Node("a"))
	ls := []vip.Lease{
		{Index: idx, Prefix: netip.MustParsePrefix("198.19.0.1/32"), Lease: 5 * time.Second},
		{Index: idx, Prefix: netip.MustParsePrefix("198.19.0.2/24"), Lease: 5 * time.Second},
	}
	if errs := m.AddAll(ls); errs != nil {
		t.Fatalf("AddAll = %v, want nil", errs)
	}
	var errs []error
	if n := testing.AllocsPerRun(20, func() { errs = m.AddAll(ls) }); n != 0 {
		t.Errorf("a renewal allocates %v times, want 0", n)
	}
	if errs != nil {
		t.Errorf("renewal: AddAll = %v, want nil", errs)
	}
}

// openRenewals dials Renewals inside the node's namespace.
func openRenewals(t *testing.T, n *netns.Node) *vip.Renewals {
	t.Helper()
	var r *vip.Renewals
	if err := netns.Do(n.NS, func() (err error) { r, err = vip.DialRenewals(); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestRenewalsAnswerOnlyFailures: Renew adds or renews every lease of
// more than two datagrams without waiting for answers; the one the
// kernel refuses (a missing interface) reaches Failures, by its address
// and index, and Sync delivers it before it returns.
func TestRenewalsAnswerOnlyFailures(t *testing.T) {
	t.Parallel()
	bed := netns.New(t, netns.Spec{Nodes: []string{"a"}})
	n := bed.Node("a")
	m, _, idx := open(t, bed, n)
	r := openRenewals(t, n)

	const count = 150 // more than two datagrams
	ls := manyLeases(count, idx)
	const refused = 70 // in the second datagram
	ls[refused].Index = 999_999

	var (
		mu  sync.Mutex
		got []vip.Failure
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// A failure answered before Failures starts waits for it.
	if fs := r.Renew(ls); fs != nil {
		t.Fatal(fs)
	}
	go func() {
		done <- r.Failures(ctx, func(f vip.Failure) { mu.Lock(); got = append(got, f); mu.Unlock() })
	}()
	for round := range 2 { // adds, then renews
		if round > 0 {
			if fs := r.Renew(ls); fs != nil {
				t.Fatal(fs)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			r.Sync()
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n > round || time.Now().After(deadline) {
				break
			}
			runtime.Gosched() // the first round's may be with Failures, not yet started
		}
		r.Sync()
		mu.Lock()
		if len(got) != round+1 {
			t.Fatalf("round %d: %d failures, want %d: %v", round, len(got), round+1, got)
		}
		f := got[round]
		mu.Unlock()
		if f.Index != 999_999 || f.Prefix != ls[refused].Prefix || !errors.Is(f.Err, unix.ENODEV) {
			t.Errorf("round %d: failure %+v, want %v on interface 999999, ENODEV", round, f, ls[refused].Prefix)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Failures = %v after its context ended, want nil", err)
	}
	checkLeased(t, m, idx, count-1)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if fs := r.Renew(ls[:1]); len(fs) != 1 || fs[0].Prefix != ls[0].Prefix || !errors.Is(fs[0].Err, os.ErrClosed) {
		t.Errorf("Renew after Close = %v, want the lease, os.ErrClosed", fs)
	}
}

// TestRenewalsSendAllTheyCan: a lease that cannot be encoded is the one
// failure Renew returns; the leases after it in its datagram are renewed.
// Close stops a Failures whose context is still live, which returns nil.
func TestRenewalsSendAllTheyCan(t *testing.T) {
	t.Parallel()
	bed := netns.New(t, netns.Spec{Nodes: []string{"a"}})
	n := bed.Node("a")
	m, _, idx := open(t, bed, n)
	r := openRenewals(t, n)
	ls := append([]vip.Lease{{Index: idx, Lease: 5 * time.Second}}, manyLeases(3, idx)...) // no address first
	fs := r.Renew(ls)
	if len(fs) != 1 || fs[0].Prefix.IsValid() || fs[0].Err == nil {
		t.Errorf("Renew = %v, want one failure, of the lease without an address", fs)
	}
	checkLeased(t, m, idx, 3)
	done := make(chan error, 1)
	go func() { done <- r.Failures(context.Background(), func(f vip.Failure) { t.Errorf("failure %+v", f) }) }()
	if err := r.Close(); err != nil { // before or while Failures waits

		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Failures = %v once closed, want nil", err)
	}
}

// TestRenewalsAllocateNothing: Renew of leases renewed before reuses
// their encoding and its buffer. Not parallel: AllocsPerRun counts every
// goroutine's allocations.
func TestRenewalsAllocateNothing(t *testing.T) {
	bed := netns.New(t, netns.Spec{Nodes: []string{"a"}})
	n := bed.Node("a")
	_, _, idx := open(t, bed, n)
	r := openRenewals(t, n)
	ls := []vip.Lease{
		{Index: idx, Prefix: netip.MustParsePrefix("198.19.0.1/32"), Lease: 5 * time.Second},
		{Index: idx, Prefix: netip.MustParsePrefix("198.19.0.2/24"), Lease: 5 * time.Second},
	}
	if fs := r.Renew(ls); fs != nil {
		t.Fatal(fs)
	}
	var fs []vip.Failure
	if n := testing.AllocsPerRun(20, func() { fs = r.Renew(ls) }); n != 0 {
		t.Errorf("a renewal allocates %v times, want 0", n)
	}
	if fs != nil {
		t.Errorf("Renew = %v", fs)
	}
}

// TestRenewalsLostAnswers: when more renewals fail than the socket holds
// answers for, the kernel drops some; Failures reports that as a failure
// naming no address (every lease may need renewing again), and goes on
// with the answers it kept.
func TestRenewalsLostAnswers(t *testing.T) {
	t.Parallel()
	bed := netns.New(t, netns.Spec{Nodes: []string{"a"}})
	r := openRenewals(t, bed.Node("a"))
	ls := manyLeases(8000, 999_999) // refused, answers far over the 1 MB buffer
	if fs := r.Renew(ls); fs != nil {
		t.Fatal(fs)
	}
	var named, lost int
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.Failures(ctx, func(f vip.Failure) {
			switch {
			case f.Prefix.IsValid():
				named++
			case errors.Is(f.Err, unix.ENOBUFS):
				lost++
			default:
				t.Errorf("failure %+v, want an address or ENOBUFS", f)
			}
		})
	}()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if lost == 0 || named == 0 || named >= len(ls) {
		t.Errorf("%d failures named, %d reported lost; want some of each", named, lost)
	}
}

// manyLeases returns count leases of 5 s on interface index, of
// addresses in 198.19.0.0/16.
func manyLeases(count, index int) []vip.Lease {
	var ls []vip.Lease
	for i := range count {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(i / 250), byte(1 + i%250)}), 32)
		ls = append(ls, vip.Lease{Index: index, Prefix: p, Lease: 5 * time.Second})
	}
	return ls
}

// checkLeased fails t unless interface index holds want leased addresses
// of 198.19.0.0/16.
func checkLeased(t *testing.T, m *vip.Manager, index, want int) {
	t.Helper()
	as, err := m.List(index)
	if err != nil {
		t.Fatal(err)
	}
	leased := 0
	for _, a := range as {
		if netip.MustParsePrefix("198.19.0.0/16").Contains(a.Prefix.Addr()) && a.Leased() {
			leased++
		}
	}
	if leased != want {
		t.Errorf("%d addresses of 198.19.0.0/16 leased on the interface, want %d", leased, want)
	}
}
