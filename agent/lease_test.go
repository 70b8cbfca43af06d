package agent

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/vip"
)

// leaseWatch is an AddrManager that keeps, like the kernel, when each
// VIP's lease ends, and records every time a lease was renewed when it
// had ended (the kernel removes an address whose lifetime is 0). Its
// renewals (AddAll) fail while failing is above zero, counting down.
type leaseWatch struct {
	*fakeAddrs
	mu      sync.Mutex
	expires map[netip.Prefix]time.Time
	lapses  []string
	failing int
}

func (w *leaseWatch) held(p netip.Prefix, lease time.Duration) {
	now := time.Now()
	if e, ok := w.expires[p]; ok && !now.Before(e) {
		w.lapses = append(w.lapses, p.String()+" renewed "+now.Sub(e).String()+" after its lease ended")
	}
	w.expires[p] = now.Add(lease)
}

func (w *leaseWatch) Add(index int, p netip.Prefix, lease time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.held(p, lease)
	return w.fakeAddrs.Add(index, p, lease)
}

func (w *leaseWatch) AddAll(ls []vip.Lease) []error {
	w.mu.Lock()
	defer w.mu.Unlock()
	errs := make([]error, len(ls))
	if w.failing > 0 {
		w.failing--
		for i := range errs {
			errs[i] = errors.New("netlink: no buffer space available")
		}
		return errs
	}
	for i, l := range ls {
		w.held(l.Prefix, l.Lease)
		errs[i] = w.fakeAddrs.Add(l.Index, l.Prefix, l.Lease)
	}
	return errs
}

// check fails t when a lease lapsed, or has ended by now.
func (w *leaseWatch) check(t *testing.T, what string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.lapses) > 0 {
		t.Errorf("%s: a healthy master's VIP lease lapsed before its renewal: %v", what, w.lapses)
	}
	for p, e := range w.expires {
		if !time.Now().Before(e) {
			t.Errorf("%s: the lease of %s ended %v ago", what, p, time.Since(e))
		}
	}
}

// startWatched starts the rig's agent with a leaseWatch for the
// addresses, the instance changed by mod, and waits until it is master.
func startWatched(t *testing.T, prio uint8, mod func(*config.Instance)) (*rig, *leaseWatch, config.Instance) {
	t.Helper()
	var w *leaseWatch
	var inst config.Instance
	r := start(t, prio, false, func(c *config.Instance, e *env) {
		mod(c)
		w = &leaseWatch{fakeAddrs: e.addrs.(*fakeAddrs), expires: map[netip.Prefix]time.Time{}}
		e.addrs = w
		inst = *c
	})
	time.Sleep(5 * time.Second) // a Master_Down_Interval at 1s adverts
	synctest.Wait()
	if got := r.instance().State; got != "MASTER" {
		r.stop(t)
		t.Fatalf("state %s, want MASTER (no peer)", got)
	}
	return r, w, inst
}

// TestLeaseRenewalRetried: a renewal the kernel refuses is asked for
// again at the next advert, not one renewal interval later, when the
// lease has ended (a 4s lease at 1s adverts: renewed every 2s, so the
// one after a failed renewal came as the lease ended).
func TestLeaseRenewalRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, w, _ := startWatched(t, 100, func(c *config.Instance) { c.AdvertInt = config.Duration(time.Second) })
		if got := r.addrs.lease(vip1); got != 4*time.Second {
			t.Fatalf("lease %v, want 4s", got)
		}
		for range 3 {
			w.mu.Lock()
			w.failing = 1
			w.mu.Unlock()
			time.Sleep(6 * time.Second)
			synctest.Wait()
			w.check(t, "after a failed renewal")
		}
		r.stop(t)
	})
}

// TestLeaseGrowsOnReload: a reload that lengthens the lease (a VRRPv3
// instance at 260ms whose priority drops from 250 to 30: its
// Master_Down_Interval goes from 0.79s to 1.01s, its lease from 1s to 2s,
// renewed every 870ms, at the fourth advert, 1.04s after the last renewal)
// renews the held VIPs before the old, shorter lease ends.
func TestLeaseGrowsOnReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, w, inst := startWatched(t, 250, func(c *config.Instance) { c.AdvertInt = config.Duration(260 * time.Millisecond) })
		if got := r.addrs.lease(vip1); got != time.Second {
			t.Fatalf("lease %v, want 1s", got)
		}
		for i := range 4 {
			// Reload at each point of the renewal interval.
			time.Sleep(time.Duration(100+i*60) * time.Millisecond)
			synctest.Wait()
			inst.Priority = map[bool]uint8{true: 30, false: 250}[inst.Priority == 250]
			cfg := &config.Config{Format: 1, Cluster: "c", Node: "n1", Instances: []config.Instance{inst}}
			if _, err := r.a.ReloadConfig(cfg, "d"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * time.Second)
			synctest.Wait()
			w.check(t, fmt.Sprintf("after a reload to priority %d", inst.Priority))
			if got := r.instance().State; got != "MASTER" {
				t.Fatalf("state %s, want MASTER", got)
			}
		}
		r.stop(t)
	})
}
