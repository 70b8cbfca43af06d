package agent

import (
	"context"
	"maps"
	"net/netip"
	"sync"
	"time"

	"github.com/hac-project/hac/agent/vip"
)

// renewCoalesce is how long the renewer waits, after a renewal is asked
// for, for the others: instances with the same advert interval that became
// master together send their adverts within milliseconds of each other,
// and their renewals go to the kernel in one request. A lease is renewed
// at most this much later than the advert that asked for it; leases are
// whole seconds.
const renewCoalesce = 10 * time.Millisecond

// leaseRenewals is what the agent needs of [vip.Renewals]: renewals the
// kernel answers only when they fail.
type leaseRenewals interface {
	Renew(ls []vip.Lease) []vip.Failure
	Failures(ctx context.Context, fn func(vip.Failure)) error
	Sync()
}

// renewer renews the VIP leases of the master instances in batches: one
// netlink request (vip.Renewals.Renew) for the renewals asked for within
// renewCoalesce, instead of a round trip to the kernel per VIP and advert.
// An agent of one instance has no batch to wait for: its renewer is
// inline, and renews on the asker's goroutine, at once, sparing the
// process a goroutine hand-off per renewal. No renewal waits for the
// kernel's answer: the few it refuses come back to failed, which tells
// the instance that asked; the instance logs it at its next advert and
// asks for the lease again (see leasedVIPs.renewFailed).
type renewer struct {
	rn    leaseRenewals
	clock Clock
	// inline is set before the instances run when they are one: request
	// renews at once and run is not needed.
	inline bool

	mu      sync.Mutex
	pending map[*leasedVIPs][]vip.Lease
	// spare is the map the next batch's requests go to while send reads
	// pending: the two take turns, and an idle agent's renewals
	// allocate nothing.
	spare map[*leasedVIPs][]vip.Lease
	wake  chan struct{}
	// owner is the instance whose renewal of each lease was sent last:
	// a failure goes to it. ownedBy and owned are the last list of
	// leases recorded there and its instance: an instance renews the
	// same list (leasedVIPs.leases) until its VIPs change, and recording
	// it again at each renewal would only write the same entries.
	owner   map[leaseKey]*leasedVIPs
	ownedBy *leasedVIPs
	owned   []vip.Lease

	// flight is held while a batch is with the kernel (see cancel), and
	// guards send's buffers.
	flight sync.Mutex
	ls     []vip.Lease
}

// leaseKey is a VIP on an interface, as a renewal failure names it.
type leaseKey struct {
	index  int
	prefix netip.Prefix
}

func newRenewer(rn leaseRenewals, clock Clock) *renewer {
	return &renewer{rn: rn, clock: clock, pending: map[*leasedVIPs][]vip.Lease{}, spare: map[*leasedVIPs][]vip.Lease{},
		owner: map[leaseKey]*leasedVIPs{}, wake: make(chan struct{}, 1)}
}

// request asks for the renewal of the leases of l (replacing one it
// asked for before that is still pending).
func (r *renewer) request(l *leasedVIPs, ls []vip.Lease) {
	if r.inline {
		r.flight.Lock()
		r.own(l, ls)
		fs := r.rn.Renew(ls)
		r.flight.Unlock()
		for _, f := range fs {
			r.failed(f) // l's: recorded by own
		}
		return
	}
	r.mu.Lock()
	r.pending[l] = ls
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// own records l as the owner of the leases ls it is renewing. r.flight
// is held.
func (r *renewer) own(l *leasedVIPs, ls []vip.Lease) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l == r.ownedBy && len(ls) == len(r.owned) && (len(ls) == 0 || &ls[0] == &r.owned[0]) {
		return // recorded already
	}
	for _, x := range ls {
		r.owner[leaseKey{x.Index, x.Prefix}] = l
	}
	r.ownedBy, r.owned = l, ls
}

// failed tells the owner of a lease the kernel refused to renew; a
// failure that names no lease (answers lost) is every lease's.
func (r *renewer) failed(f vip.Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f.Prefix.IsValid() {
		if l := r.owner[leaseKey{f.Index, f.Prefix}]; l != nil {
			l.renewFailed(f.Prefix, f.Err)
		}
		return
	}
	for k, l := range r.owner {
		l.renewFailed(k.prefix, f.Err)
	}
}

// cancel drops the pending renewal of l and waits for a batch being
// sent to finish and for its failures to be told: once it returns, no
// renewal l asked for reaches the kernel, so a VIP removed next stays
// removed (a renewal adds the address when it is missing), and no failure
// of one comes to l afterwards.
func (r *renewer) cancel(l *leasedVIPs) {
	r.mu.Lock()
	delete(r.pending, l)
	r.mu.Unlock()
	r.flight.Lock()
	defer r.flight.Unlock()
	r.rn.Sync()
	r.mu.Lock()
	defer r.mu.Unlock()
	maps.DeleteFunc(r.owner, func(_ leaseKey, o *leasedVIPs) bool { return o == l })
	if r.ownedBy == l {
		r.ownedBy, r.owned = nil, nil
	}
}

// run sends the batches until ctx ends, each renewCoalesce after its
// first request (an inline renewer needs no run).
func (r *renewer) run(ctx context.Context) {
	t := r.clock.NewTimer()
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		t.Reset(renewCoalesce)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		r.send()
	}
}

// send renews what is pending in one request; a lease that cannot be
// sent is a failure of its owner.
func (r *renewer) send() {
	r.flight.Lock()
	defer r.flight.Unlock()
	r.mu.Lock()
	batch := r.pending
	r.pending, r.spare = r.spare, nil
	select {
	case <-r.wake: // asked for during the wait: in this batch
	default:
	}
	r.mu.Unlock()
	r.ls = r.ls[:0]
	for o, l := range batch {
		r.ls = append(r.ls, l...)
		r.own(o, l)
	}
	if len(r.ls) > 0 {
		for _, f := range r.rn.Renew(r.ls) {
			r.failed(f) // its owner is recorded
		}
	}
	clear(batch)
	r.mu.Lock()
	r.spare = batch
	r.mu.Unlock()
}
