package agent

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/vip"
)

// batchAddrs records the batches of AddAll.
type batchAddrs struct {
	fakeAddrs
	mu      sync.Mutex
	batches [][]string
}

func (b *batchAddrs) AddAll(ls []vip.Lease) []error {
	var ps []string
	for _, l := range ls {
		ps = append(ps, l.Prefix.String())
	}
	slices.Sort(ps)
	b.mu.Lock()
	b.batches = append(b.batches, ps)
	b.mu.Unlock()
	return b.fakeAddrs.AddAll(ls)
}

// doneAddrs renews every lease (AddAll returns nil) and allocates nothing.
type doneAddrs struct{ fakeAddrs }

func (*doneAddrs) AddAll([]vip.Lease) []error { return nil }

// TestRenewerBatchAllocatesNothing: the batches of the masters' renewals,
// once as large as they get, reuse the renewer's maps and buffers.
func TestRenewerBatchAllocatesNothing(t *testing.T) {
	r := newRenewer(&syncRenewals{addAll: (&doneAddrs{}).AddAll}, SystemClock{})
	owners := make([]*leasedVIPs, 100)
	leases := make([][]vip.Lease, len(owners))
	for i := range owners {
		owners[i] = &leasedVIPs{}
		leases[i] = []vip.Lease{{Index: 2, Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}), 32), Lease: 4 * time.Second}}
	}
	batch := func() {
		for i, o := range owners {
			r.request(o, leases[i])
		}
		r.send()
	}
	batch() // the maps and buffers grow to the batch
	if n := testing.AllocsPerRun(20, batch); n != 0 {
		t.Errorf("a batch of %d renewals allocates %v times, want 0", len(owners), n)
	}
}

// TestRenewerBatches: renewals asked for within renewCoalesce go to the
// kernel in one request, an instance's repeated request once; a renewal
// cancelled (the instance removes its VIPs) never reaches the kernel.
func TestRenewerBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		addrs := &batchAddrs{fakeAddrs: fakeAddrs{addrs: map[netip.Prefix]time.Duration{}}}
		r := newRenewer(&syncRenewals{addAll: addrs.AddAll}, SystemClock{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { r.run(ctx); close(done) }()
		lease := func(p string) []vip.Lease {
			return []vip.Lease{{Index: 2, Prefix: netip.MustParsePrefix(p), Lease: 4 * time.Second}}
		}
		a, b, c := &leasedVIPs{}, &leasedVIPs{}, &leasedVIPs{}
		r.request(a, lease("198.18.1.1/32"))
		time.Sleep(renewCoalesce / 2)
		r.request(b, lease("198.18.1.2/32"))
		r.request(a, lease("198.18.1.1/32"))
		time.Sleep(renewCoalesce)
		synctest.Wait()
		r.request(c, lease("198.18.1.3/32"))
		r.cancel(c)
		r.request(b, lease("198.18.1.2/32"))
		time.Sleep(2 * renewCoalesce)
		synctest.Wait()
		cancel()
		<-done
		want := [][]string{{"198.18.1.1/32", "198.18.1.2/32"}, {"198.18.1.2/32"}}
		if diff := cmp.Diff(want, addrs.batches); diff != "" {
			t.Errorf("batches (-want +got):\n%s", diff)
		}
		if addrs.holds(netip.MustParsePrefix("198.18.1.3/32")) {
			t.Errorf("a cancelled renewal added its VIP")
		}
	})
}

// fakeRenewals sends nothing: Renew returns the failures of the leases
// in unsent, the test tells the others itself, and Sync records that it
// was called.
type fakeRenewals struct {
	unsent map[netip.Prefix]bool
	syncs  int
}

func (f *fakeRenewals) Renew(ls []vip.Lease) []vip.Failure {
	var fs []vip.Failure
	for _, l := range ls {
		if f.unsent[l.Prefix] {
			fs = append(fs, vip.Failure{Index: l.Index, Prefix: l.Prefix, Err: errors.New("not sent")})
		}
	}
	return fs
}
func (*fakeRenewals) Failures(context.Context, func(vip.Failure)) error { return nil }
func (f *fakeRenewals) Sync()                                           { f.syncs++ }

// TestRenewerUnsent: a lease Renew could not send is a failure of the
// instance that asked for it, inline or in a batch, and of no other.
func TestRenewerUnsent(t *testing.T) {
	pa, pb := netip.MustParsePrefix("198.18.1.1/32"), netip.MustParsePrefix("198.18.1.2/32")
	for _, inline := range []bool{true, false} {
		r := newRenewer(&fakeRenewals{unsent: map[netip.Prefix]bool{pb: true}}, SystemClock{})
		r.inline = inline
		a, b := &leasedVIPs{}, &leasedVIPs{}
		r.request(a, []vip.Lease{{Index: 2, Prefix: pa, Lease: 4 * time.Second}})
		r.request(b, []vip.Lease{{Index: 2, Prefix: pb, Lease: 4 * time.Second}})
		if !inline {
			r.send()
		}
		if fs := a.takeFailures(); fs != nil {
			t.Errorf("inline %v: a's failures %v, want none", inline, fs)
		}
		if fs := b.takeFailures(); len(fs) != 1 || fs[0].prefix != pb {
			t.Errorf("inline %v: b's failures %v, want %v not sent", inline, fs, pb)
		}
	}
}

// TestRenewerFailures: the kernel's refusal of a renewal goes to the
// instance that asked for it last; answers lost go to every instance, for
// each of its leases; an instance whose renewals were cancelled gets none
// of them, and cancel waits for the failures the kernel answered already
// (Sync); once it renews again, its failures come to it again.
func TestRenewerFailures(t *testing.T) {
	rn := &fakeRenewals{}
	r := newRenewer(rn, SystemClock{})
	r.inline = true
	lease := func(p string) vip.Lease {
		return vip.Lease{Index: 2, Prefix: netip.MustParsePrefix(p), Lease: 4 * time.Second}
	}
	a, b := &leasedVIPs{}, &leasedVIPs{}
	la, lb := lease("198.18.1.1/32"), lease("198.18.1.2/32")
	lsb := []vip.Lease{lb} // renewed as is, as leasedVIPs.leases is
	r.request(a, []vip.Lease{la})
	r.request(b, lsb)
	r.request(b, lsb)
	refused := errors.New("no such device")
	r.failed(vip.Failure{Index: 2, Prefix: lb.Prefix, Err: refused})
	r.failed(vip.Failure{Index: 3, Prefix: lb.Prefix, Err: refused}) // another interface's: nobody's
	lost := errors.New("answers lost")
	r.failed(vip.Failure{Err: lost})
	got := func(l *leasedVIPs) []string {
		var s []string
		for _, f := range l.takeFailures() {
			s = append(s, f.prefix.String()+": "+f.err.Error())
		}
		return s
	}
	if d := cmp.Diff([]string{"198.18.1.1/32: answers lost"}, got(a)); d != "" {
		t.Errorf("a's failures (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"198.18.1.2/32: no such device", "198.18.1.2/32: answers lost"}, got(b)); d != "" {
		t.Errorf("b's failures (-want +got):\n%s", d)
	}
	r.cancel(b)
	if rn.syncs != 1 {
		t.Errorf("cancel synced %d times, want 1", rn.syncs)
	}
	r.failed(vip.Failure{Index: 2, Prefix: lb.Prefix, Err: refused})
	r.failed(vip.Failure{Err: lost})
	if fs := got(b); fs != nil {
		t.Errorf("failures of a cancelled instance: %v", fs)
	}
	if d := cmp.Diff([]string{"198.18.1.1/32: answers lost"}, got(a)); d != "" {
		t.Errorf("a's failures after b's cancel (-want +got):\n%s", d)
	}
	r.request(b, lsb) // master again, the same leases
	r.failed(vip.Failure{Index: 2, Prefix: lb.Prefix, Err: refused})
	if d := cmp.Diff([]string{"198.18.1.2/32: no such device"}, got(b)); d != "" {
		t.Errorf("b's failures once it renews again (-want +got):\n%s", d)
	}
}
