package agent

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/vip"
)

// flakyAddrs is fakeAddrs whose Add fails for the prefixes in failAdd.
type flakyAddrs struct {
	*fakeAddrs
	failAdd map[netip.Prefix]bool
}

func (f *flakyAddrs) Add(index int, p netip.Prefix, lease time.Duration) error {
	if f.failAdd[p] {
		return errors.New("netlink: no buffer space available")
	}
	return f.fakeAddrs.Add(index, p, lease)
}

// recAnnouncer records what it announced, in order.
type recAnnouncer struct{ got []netip.Addr }

func (r *recAnnouncer) Announce(as []netip.Addr) error { r.got = append(r.got, as...); return nil }

var (
	vip2 = netip.MustParsePrefix("198.18.0.201/32")
	vip3 = netip.MustParsePrefix("198.18.0.202/32")
)

// testVIPs returns the leased VIPs of an instance on eth1 (index 2) with
// vips, on fake addresses that hold held (prefix -> lease).
func testVIPs(t *testing.T, held map[netip.Prefix]time.Duration, vips ...netip.Prefix) (*leasedVIPs, *flakyAddrs, *recAnnouncer, *fakeClock) {
	t.Helper()
	addrs := &flakyAddrs{fakeAddrs: &fakeAddrs{addrs: map[netip.Prefix]time.Duration{}, linkUp: true}, failAdd: map[netip.Prefix]bool{}}
	for p, l := range held {
		addrs.addrs[p] = l
	}
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	ann := &recAnnouncer{}
	l := &leasedVIPs{mgr: addrs, renewals: newRenewer(&syncRenewals{addAll: addrs.AddAll}, clock), clock: clock, log: slog.New(slog.DiscardHandler)}
	l.setLease(time.Second, 100*time.Millisecond)
	if err := l.set(testInstance(vips...), testLookup, map[string]Announcer{"eth1": ann}); err != nil {
		t.Fatal(err)
	}
	return l, addrs, ann, clock
}

func testInstance(vips ...netip.Prefix) *config.Instance {
	c := &config.Instance{Name: "VI_1", Interface: "eth1"}
	for _, p := range vips {
		c.VIPs = append(c.VIPs, config.VIP{Prefix: p})
	}
	return c
}

func testLookup(name string) (*net.Interface, error) {
	if name != "eth1" {
		return nil, errors.New("no such interface")
	}
	return &net.Interface{Index: 2, Name: name}, nil
}

// pending returns the prefixes the renewer was asked to renew for l.
func pending(l *leasedVIPs) []netip.Prefix {
	l.renewals.mu.Lock()
	defer l.renewals.mu.Unlock()
	var ps []netip.Prefix
	for _, ls := range l.renewals.pending[l] {
		ps = append(ps, ls.Prefix)
	}
	return ps
}

// TestLeasedVIPsLifecycle: add holds every VIP under the lease; renewals
// are asked for once renewEvery has gone; a failed add is pending until
// an add succeeds; remove gives them up and cancels a pending renewal.
func TestLeasedVIPsLifecycle(t *testing.T) {
	l, addrs, _, clock := testVIPs(t, nil, vip1, vip2)
	addrs.failAdd[vip2] = true
	if l.add() || !l.held || !l.addPending || l.heldPrefix != nil {
		t.Fatalf("add with a failing VIP: held %v, pending %v, shown %v; want held, pending, none shown", l.held, l.addPending, l.heldPrefix)
	}
	addrs.failAdd[vip2] = false
	if !l.add() || l.addPending || !addrs.holds(vip1) || !addrs.holds(vip2) || addrs.lease(vip2) != time.Second {
		t.Fatalf("add: pending %v, vip1 %v, vip2 %v (lease %v); want both held for 1s", l.addPending, addrs.holds(vip1), addrs.holds(vip2), addrs.lease(vip2))
	}
	if d := cmp.Diff([]netip.Prefix{vip1, vip2}, l.heldPrefix, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Errorf("shown as held (-want +got):\n%s", d)
	}
	added := clock.now
	var asked []bool
	if l.every != 450*time.Millisecond {
		t.Fatalf("renewal every %v, want 450ms (half the 1s lease less half the 100ms advert interval)", l.every)
	}
	for _, after := range []time.Duration{0, l.every - time.Millisecond, l.every, l.every + 100*time.Millisecond, 2 * l.every} {
		clock.now = added.Add(after)
		asked = append(asked, l.renew())
	}
	if d := cmp.Diff([]bool{false, false, true, false, true}, asked); d != "" {
		t.Errorf("renewals asked (-want +got):\n%s", d)
	}
	if got := pending(l); !slices.Equal(got, []netip.Prefix{vip1, vip2}) {
		t.Errorf("pending renewal %v, want both VIPs", got)
	}
	l.remove()
	if l.held || addrs.holds(vip1) || addrs.holds(vip2) || pending(l) != nil || l.heldPrefix != nil {
		t.Errorf("after remove: held %v, vip1 %v, vip2 %v, pending %v, shown %v; want nothing", l.held, addrs.holds(vip1), addrs.holds(vip2), pending(l), l.heldPrefix)
	}
}

// TestRenewEvery: a lease is renewed once half of it, less half an advert
// interval, has gone, so that at least that much is left at every renewal
// and a timer a few ms late does not delay it by an advert; never more
// often than leaseRenewal.
func TestRenewEvery(t *testing.T) {
	for _, tc := range []struct {
		lease, advert, want time.Duration
		adverts             int // the renewal comes every this many adverts
	}{
		{4 * time.Second, time.Second, 1500 * time.Millisecond, 2},       // the seed: VRRPv2, advert 1s, MDI 3.22s
		{4 * time.Second, 3 * time.Second, 500 * time.Millisecond, 1},    // a long advert interval: every advert
		{10 * time.Second, time.Second, 4500 * time.Millisecond, 5},      // VRRPv2, advert 3s... lease of 10s at 1s
		{time.Second, 100 * time.Millisecond, 450 * time.Millisecond, 5}, // VRRPv3, 100ms: MinLease
		{time.Second, 10 * time.Millisecond, 495 * time.Millisecond, 50}, // VRRPv3, 10ms
		{time.Second, 600 * time.Millisecond, leaseRenewal, 1},           // the floor
	} {
		got := renewEvery(tc.lease, tc.advert)
		if got != tc.want {
			t.Errorf("renewEvery(%v, %v) = %v, want %v", tc.lease, tc.advert, got, tc.want)
		}
		// Adverts up to a quarter interval late: the renewal still
		// comes at the same advert, and the lease left is at least
		// half of it less half an advert.
		for _, late := range []time.Duration{0, tc.advert / 4} {
			n := 1
			for time.Duration(n)*tc.advert+late < got {
				n++
			}
			if n != tc.adverts {
				t.Errorf("lease %v, advert %v (%v late): renewed every %d adverts, want %d", tc.lease, tc.advert, late, n, tc.adverts)
			}
			if left := tc.lease - time.Duration(n)*tc.advert - late; left < tc.lease/2-tc.advert/2-late && got != leaseRenewal {
				t.Errorf("lease %v, advert %v: %v left at the renewal", tc.lease, tc.advert, left)
			}
		}
	}
}

// TestLeasedVIPsRestore: a VIP removed by something else is put back and
// announced only while the VIPs are held and ready.
func TestLeasedVIPsRestore(t *testing.T) {
	for _, tc := range []struct {
		name       string
		held, pend bool
		present    bool
		want       bool
	}{
		{"held and gone", true, false, false, true},
		{"held and there", true, false, true, false},
		{"not held", false, false, false, false},
		{"add pending", true, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, addrs, ann, _ := testVIPs(t, nil, vip1)
			l.held, l.addPending = tc.held, tc.pend
			if tc.present {
				addrs.addrs[vip1] = time.Second
			}
			got, err := l.restore(l.list[0])
			if err != nil || got != tc.want || addrs.holds(vip1) != (tc.want || tc.present) {
				t.Errorf("restore = %v, %v (VIP there %v), want %v", got, err, addrs.holds(vip1), tc.want)
			}
			if announced := len(ann.got) > 0; announced != tc.want {
				t.Errorf("announced %v, want %v", ann.got, tc.want)
			}
		})
	}
}

// TestLeasedVIPsResidual: a VIP a previous run left under a lease means
// resume, and stays; anything else left is removed (a permanent copy, or
// another prefix length of a VIP address while resuming).
func TestLeasedVIPsResidual(t *testing.T) {
	other := netip.MustParsePrefix("198.18.0.200/24")
	for _, tc := range []struct {
		name        string
		left        map[netip.Prefix]time.Duration
		wantResume  bool
		wantRemoved []netip.Prefix
	}{
		{"nothing left", nil, false, nil},
		{"permanent", map[netip.Prefix]time.Duration{vip1: vip.Forever}, false, []netip.Prefix{vip1}},
		{"leased", map[netip.Prefix]time.Duration{vip1: 700 * time.Millisecond}, true, nil},
		{"leased, and another prefix length of it", map[netip.Prefix]time.Duration{vip1: 700 * time.Millisecond, other: vip.Forever}, true, []netip.Prefix{other}},
		{"leased, another length", map[netip.Prefix]time.Duration{other: 700 * time.Millisecond}, true, []netip.Prefix{other}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, addrs, _, _ := testVIPs(t, tc.left, vip1)
			resume, removed, err := l.residual()
			if err != nil || resume != tc.wantResume || !slices.Equal(removed, tc.wantRemoved) {
				t.Errorf("residual = %v, %v, %v; want %v, %v", resume, removed, err, tc.wantResume, tc.wantRemoved)
			}
			for _, p := range removed {
				if _, ok := addrs.addrs[p]; ok {
					t.Errorf("%v reported removed but still there", p)
				}
			}
		})
	}
}

// TestLeasedVIPsReplace: a held list changed in place adds and announces
// the new VIPs before the gone ones are removed, and cancels a renewal
// asked for with the old list; a list not held only changes.
func TestLeasedVIPsReplace(t *testing.T) {
	for _, held := range []bool{true, false} {
		l, addrs, ann, clock := testVIPs(t, nil, vip1, vip2)
		if held {
			l.add()
			clock.now = clock.now.Add(leaseRenewal)
			l.renew()
		}
		old := l.list
		if err := l.set(testInstance(vip2, vip3), testLookup, l.anns); err != nil {
			t.Fatal(err)
		}
		if errs := l.replace(old); errs != nil {
			t.Fatal(errs)
		}
		if l.on(2, vip1.Addr()) || !l.on(2, vip3.Addr()) || l.on(3, vip3.Addr()) {
			t.Errorf("on after the change: vip1 %v, vip3 %v, vip3 on index 3 %v; want only vip3 on index 2", l.on(2, vip1.Addr()), l.on(2, vip3.Addr()), l.on(3, vip3.Addr()))
		}
		got := []bool{addrs.holds(vip1), addrs.holds(vip2), addrs.holds(vip3)}
		want := []bool{false, held, held}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("held %v: VIPs 1-3 there (-want +got):\n%s", held, d)
		}
		wantAnn := []netip.Addr(nil)
		if held {
			wantAnn = []netip.Addr{vip3.Addr()}
		}
		if d := cmp.Diff(wantAnn, ann.got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
			t.Errorf("held %v: announced (-want +got):\n%s", held, d)
		}
		if pending(l) != nil || l.leases != nil {
			t.Errorf("held %v: renewal of the old list still pending (%v) or kept (%v)", held, pending(l), l.leases)
		}
	}
}
