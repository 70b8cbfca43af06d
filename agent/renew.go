package agent

import (
	"context"
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

// renewer renews the VIP leases of the master instances in batches: one
// netlink request (vip.Manager.AddAll) for the renewals asked for within
// renewCoalesce, instead of a round trip to the kernel per VIP and advert.
// An agent of one instance has no batch to wait for: its renewer is
// inline, and renews on the asker's goroutine, at once, sparing the
// process a goroutine hand-off per renewal. A renewal failure is logged by
// its instance at its next advert, which asks for the lease again (see
// leasedVIPs.renewFailed).
type renewer struct {
	addrs AddrManager
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

	// flight is held while a batch is with the kernel (see cancel), and
	// guards send's buffers.
	flight sync.Mutex
	ls     []vip.Lease
	owners []*leasedVIPs
}

func newRenewer(addrs AddrManager, clock Clock) *renewer {
	return &renewer{addrs: addrs, clock: clock, pending: map[*leasedVIPs][]vip.Lease{}, spare: map[*leasedVIPs][]vip.Lease{}, wake: make(chan struct{}, 1)}
}

// request asks for the renewal of the leases of l (replacing one it
// asked for before that is still pending).
func (r *renewer) request(l *leasedVIPs, ls []vip.Lease) {
	if r.inline {
		r.flight.Lock()
		errs := r.addrs.AddAll(ls)
		r.flight.Unlock()
		for i, err := range errs {
			if err != nil {
				l.renewFailed(ls[i].Prefix, err)
			}
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

// cancel drops the pending renewal of l and waits for a batch being
// sent to finish: once it returns, no renewal l asked for reaches the
// kernel, so a VIP removed next stays removed (a renewal adds the address
// when it is missing).
func (r *renewer) cancel(l *leasedVIPs) {
	r.mu.Lock()
	delete(r.pending, l)
	r.mu.Unlock()
	r.flight.Lock()
	r.flight.Unlock() // only waiting for the batch in flight
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

// send renews what is pending in one request and tells each owner of
// its failures (renewFailed).
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
	r.ls, r.owners = r.ls[:0], r.owners[:0]
	for o, l := range batch {
		r.ls = append(r.ls, l...)
		for range l {
			r.owners = append(r.owners, o)
		}
	}
	clear(batch)
	r.mu.Lock()
	r.spare = batch
	r.mu.Unlock()
	var errs []error
	if len(r.ls) > 0 {
		errs = r.addrs.AddAll(r.ls)
	}
	for i, err := range errs {
		if err != nil {
			r.owners[i].renewFailed(r.ls[i].Prefix, err)
		}
	}
}
