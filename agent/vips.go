package agent

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/vip"
)

// leaseRenewal is the least time between two renewals of a VIP lease while
// master; leases are at least a second, so a renewal is always well ahead.
const leaseRenewal = 250 * time.Millisecond

// renewEvery is how long a master lets a VIP lease of length lease run
// before it renews it at an advert (adverts every advert): once half of
// it, less half an advert interval (so that the ms a timer is late never
// puts the renewal one advert later), has gone. At least half the lease
// less half an advert is left at every renewal (2 s of the seed's 4 s
// lease, renewed every other advert), and a master that stops advertising
// loses its VIPs within the lease as before; a renewal at every advert
// took a netlink round trip a second per instance for nothing.
func renewEvery(lease, advert time.Duration) time.Duration {
	return max(lease/2-advert/2, leaseRenewal)
}

// vipOn is one VIP and the interface it goes on.
type vipOn struct {
	prefix netip.Prefix
	index  int
	dev    string
}

// leasedVIPs is one instance's VIPs on the node; its one job is to hold
// them exactly while the instance is master. It resolves them to their
// devices, adds them with a kernel-enforced lease (a killed agent's VIPs
// expire by themselves), has the lease renewed while they are held (in a
// batch with the other instances, see [renewer]), retries a failed add,
// puts back a VIP something else removed, sends their gratuitous ARP/NA
// rounds and removes them. It is owned by its instance (see instance),
// but for on (the netlink reader's question, answered from shared) and
// renewFailed (called by the renewer).
type leasedVIPs struct {
	mgr      AddrManager
	renewals *renewer
	clock    Clock
	log      *slog.Logger

	// failures are the renewals the renewer could not make, for the next
	// advert to log and ask for again (takeFailures).
	failMu   sync.Mutex
	failures []renewFailure

	list []vipOn
	// shared is list for other goroutines (on): a reload replaces it
	// while netlink events are dispatched.
	shared atomic.Pointer[[]vipOn]
	addrs  []netip.Addr            // the VIP addresses, in config order
	byDev  map[string][]netip.Addr // VIP addresses per device, for announcing
	anns   map[string]Announcer    // by device
	lease  time.Duration
	every  time.Duration // renewEvery(lease, the advert interval)
	// leases is what renew asks for; read by the renewer.
	leases []vip.Lease

	held       bool // added (the VIPs are ours) and not removed since
	addPending bool // an add failed: retried at the next renewal
	renewed    time.Time
	heldPrefix []netip.Prefix // what the status shows as held
}

// set resolves the VIPs of c to the interfaces they go on, with the
// announcers by device; it changes nothing when one cannot be resolved.
func (l *leasedVIPs) set(c *config.Instance, lookup func(string) (*net.Interface, error), anns map[string]Announcer) error {
	var list []vipOn
	var addrs []netip.Addr
	byDev := map[string][]netip.Addr{}
	for _, v := range c.VIPs {
		dev := v.Device
		if dev == "" {
			dev = c.Interface
		}
		difi, err := lookup(dev)
		if err != nil {
			return err
		}
		list = append(list, vipOn{prefix: v.Prefix, index: difi.Index, dev: dev})
		addrs = append(addrs, v.Prefix.Addr())
		byDev[dev] = append(byDev[dev], v.Prefix.Addr())
	}
	l.list, l.addrs, l.byDev, l.anns = list, addrs, byDev, anns
	l.shared.Store(&list)
	l.leases = nil // renew asks for the new list from now on
	return nil
}

// prefixes returns the VIPs, in config order.
func (l *leasedVIPs) prefixes() []netip.Prefix {
	ps := make([]netip.Prefix, len(l.list))
	for i, v := range l.list {
		ps[i] = v.prefix
	}
	return ps
}

// on reports whether a is one of the VIPs on interface index; it is safe
// on any goroutine.
func (l *leasedVIPs) on(index int, a netip.Addr) bool {
	list := l.shared.Load()
	if list == nil {
		return false
	}
	return slices.ContainsFunc(*list, func(v vipOn) bool { return v.index == index && v.prefix.Addr() == a })
}

// residual looks for the VIPs a previous run left on the interfaces: it
// reports whether one is still under a lease (the previous agent was
// master until moments ago: resume), and removes every one left but the
// VIPs themselves when resuming. It returns what it removed.
func (l *leasedVIPs) residual() (resume bool, removed []netip.Prefix, err error) {
	var found []vip.Address
	for _, v := range l.list {
		fs, err := l.mgr.Find(v.index, []netip.Prefix{v.prefix})
		if err != nil {
			return false, nil, fmt.Errorf("look for VIPs left by a previous run: %w", err)
		}
		found = append(found, fs...)
	}
	for _, f := range found {
		resume = resume || f.Leased()
	}
	for _, f := range found {
		if resume && slices.ContainsFunc(l.list, func(v vipOn) bool { return v.index == f.Index && v.prefix == f.Prefix }) {
			continue // renewed when the instance resumes
		}
		if err := l.mgr.Remove(f.Index, f.Prefix); err != nil {
			return false, removed, fmt.Errorf("remove VIP %v left by a previous run: %w", f.Prefix, err)
		}
		removed = append(removed, f.Prefix)
	}
	return resume, removed, nil
}

// add adds every VIP with its lease; the VIPs are held from now on. It
// reports whether all are there: when one fails, the add is retried at
// the next renew.
func (l *leasedVIPs) add() bool {
	l.held = true
	for _, v := range l.list {
		if !l.addOne(v) {
			return false
		}
	}
	l.addPending = false
	l.renewed = l.clock.Now()
	l.heldPrefix = l.prefixes()
	l.log.Info("VIPs added", "vips", l.heldPrefix, "lease", l.lease.String())
	return true
}

// addOne adds v with its lease; on failure the add is pending (retried
// at the next renew).
func (l *leasedVIPs) addOne(v vipOn) bool {
	if err := l.mgr.Add(v.index, v.prefix, l.lease); err != nil {
		l.addPending = true
		l.log.Error("cannot add VIP; retrying at the next advert", "vip", v.prefix.String(), "device", v.dev, "err", err)
		return false
	}
	return true
}

// removeOne removes v; when it cannot, its lease ends it.
func (l *leasedVIPs) removeOne(v vipOn) {
	if err := l.mgr.Remove(v.index, v.prefix); err != nil {
		l.log.Error("cannot remove VIP; its lease ends it", "vip", v.prefix.String(), "err", err)
	}
}

// setLease sets the lease of the VIPs added and renewed from now on, for
// adverts every advert. A new lease is asked for at the next advert: the
// held VIPs' lease is the old one, which a longer new one's renewal
// interval may outlast (a reload changing the priority of a VRRPv3
// instance with 300ms adverts: a 1s lease becomes 2s, renewed every
// 850ms).
func (l *leasedVIPs) setLease(lease, advert time.Duration) {
	if lease != l.lease {
		l.leases = nil // renew asks for the new lease
		l.renewed = time.Time{}
	}
	l.lease, l.every = lease, renewEvery(lease, advert)
}

// renewFailure is a lease the renewer could not renew.
type renewFailure struct {
	prefix netip.Prefix
	err    error
}

// renewFailed records a lease the renewer could not renew (on its
// goroutine, or the asker's when it is inline).
func (l *leasedVIPs) renewFailed(p netip.Prefix, err error) {
	l.failMu.Lock()
	l.failures = append(l.failures, renewFailure{p, err})
	l.failMu.Unlock()
}

// takeFailures returns the renewals that failed since it was last called,
// and when there are any makes the next renew ask again at once: the
// lease left is less than half of it by then, not enough to wait for
// another renewal interval.
func (l *leasedVIPs) takeFailures() []renewFailure {
	l.failMu.Lock()
	fs := l.failures
	l.failures = nil
	l.failMu.Unlock()
	if len(fs) > 0 {
		l.renewed = time.Time{}
	}
	return fs
}

// renew asks the renewer for a renewal of the leases once every has gone
// since the last one; it reports whether it asked. (A pending add is
// retried with add instead.)
func (l *leasedVIPs) renew() bool {
	now := l.clock.Now()
	if now.Sub(l.renewed) < l.every {
		return false
	}
	if l.leases == nil {
		for _, v := range l.list {
			l.leases = append(l.leases, vip.Lease{Index: v.index, Prefix: v.prefix, Lease: l.lease})
		}
	}
	l.renewals.request(l, l.leases)
	l.renewed = now
	return true
}

// remove removes every VIP; one that cannot be removed ends with its
// lease.
func (l *leasedVIPs) remove() {
	l.held, l.addPending = false, false
	l.renewals.cancel(l) // a renewal after the removal would add them back
	l.takeFailures()     // of leases no longer wanted
	for _, v := range l.list {
		l.removeOne(v)
	}
	l.heldPrefix = nil
	l.log.Info("VIPs removed", "vips", l.prefixes())
}

// restore puts v back if the VIPs are held, ready, and v is gone, and
// announces it; it reports whether it put it back, and the announcer's
// error.
func (l *leasedVIPs) restore(v vipOn) (bool, error) {
	if !l.held || l.addPending {
		return false, nil
	}
	if ok, err := l.mgr.Has(v.index, v.prefix.Addr()); err != nil || ok {
		return false, nil
	}
	if err := l.mgr.Add(v.index, v.prefix, l.lease); err != nil {
		l.log.Error("VIP removed by something else and cannot be put back", "vip", v.prefix.String(), "err", err)
		return false, nil
	}
	l.log.Warn("VIP removed by something else (netplan apply? networkd?): put back", "vip", v.prefix.String(), "device", v.dev)
	return true, l.anns[v.dev].Announce([]netip.Addr{v.prefix.Addr()})
}

// replace follows a change of the list (set) from old: when the VIPs are
// held, it adds and announces the new ones before it removes those that
// went, so that an address that moves between devices is never missing.
// It returns the announcers' errors.
func (l *leasedVIPs) replace(old []vipOn) []error {
	if !l.held || l.addPending {
		return nil // a master still adding retries them all at its next advert
	}
	var errs []error
	for _, v := range l.list {
		if slices.Contains(old, v) {
			continue
		}
		if !l.addOne(v) {
			continue
		}
		if err := l.anns[v.dev].Announce([]netip.Addr{v.prefix.Addr()}); err != nil {
			errs = append(errs, err)
		}
	}
	// A renewal asked for before the change holds the old list: it would
	// add a removed VIP back.
	l.renewals.cancel(l)
	for _, v := range old {
		if slices.Contains(l.list, v) {
			continue
		}
		l.removeOne(v)
	}
	l.heldPrefix = l.prefixes()
	l.log.Info("VIPs changed in place", "vips", l.heldPrefix)
	return errs
}

// announce sends rounds rounds of gratuitous ARP / unsolicited NA for
// every VIP and returns the announcers' errors.
func (l *leasedVIPs) announce(rounds int) []error {
	var errs []error
	for range rounds {
		for dev, as := range l.byDev {
			if err := l.anns[dev].Announce(as); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}
