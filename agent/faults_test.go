package agent

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/netio"
	"github.com/hac-project/hac/agent/vrrp"
)

// TestSendFailureFault: a master whose adverts cannot be sent (its
// address was removed) goes to FAULT and removes its VIPs at once instead
// of renewing their lease, counts every failure, logs them rate-limited
// (more than one line over time, far fewer than failures), probes every
// advert interval without sending, and comes back when sending works.
func TestSendFailureFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startMaster(t, 100)
		r.conn.mu.Lock()
		r.conn.sendErr = errors.New("sendmsg: cannot assign requested address")
		r.conn.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		in := r.instance()
		if in.State != "FAULT" || r.addrs.holds(vip1) || in.Counters.SendErrors != 1 {
			t.Fatalf("after a failed advert: %s, VIP held %v, send errors %d; want FAULT, no VIP, 1", in.State, r.addrs.holds(vip1), in.Counters.SendErrors)
		}
		sent := len(r.conn.priorities())
		time.Sleep(25 * time.Second) // 250 probes
		synctest.Wait()
		if got := r.instance().State; got != "FAULT" || len(r.conn.priorities()) != sent {
			t.Fatalf("while sending fails: %s, %d adverts sent; want FAULT, none", got, len(r.conn.priorities())-sent)
		}
		if n := strings.Count(r.log.String(), "level=WARN msg=\"adverts still cannot be sent"); n < 2 || n > 4 {
			t.Errorf("%d warnings for 250 failed probes in 25 s, want one every 10 s:\n%s", n, r.log)
		}
		r.conn.mu.Lock()
		r.conn.sendErr = nil
		r.conn.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if got := r.instance(); got.State != "BACKUP" || got.Reason != "send_ok" {
			t.Fatalf("sending works again: %s (%s), want BACKUP (send_ok)", got.State, got.Reason)
		}
		time.Sleep(400 * time.Millisecond)
		synctest.Wait()
		if got := r.instance().State; got != "MASTER" || !r.addrs.holds(vip1) {
			t.Errorf("Master_Down_Interval later: %s, VIP held %v; want MASTER with the VIP", got, r.addrs.holds(vip1))
		}
		r.stop(t)
	})
}

// TestResumeLeasedVIP: a VIP still under a lease at start is a previous
// run's, killed while master: the agent resumes as master at once and
// renews it, instead of removing it and waiting Master_Down_Interval; a
// better master makes it step down (RFC 5798 section 6.4.3).
func TestResumeLeasedVIP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, 100, false, func(_ *config.Instance, e *env) {
			e.addrs.(*fakeAddrs).addrs[vip1] = 700 * time.Millisecond // what is left of the lease
		})
		in := r.instance()
		if in.State != "MASTER" || in.Reason != "resume" || !r.addrs.holds(vip1) || r.addrs.lease(vip1) != time.Second {
			t.Fatalf("at start with a leased VIP: %s (%s), VIP held %v with lease %v; want MASTER (resume) with a renewed 1s lease",
				in.State, in.Reason, r.addrs.holds(vip1), r.addrs.lease(vip1))
		}
		if got := r.conn.priorities(); len(got) != 1 || got[0] != 100 {
			t.Errorf("adverts at start %v, want one at once", got)
		}
		r.conn.advert(t, 200)
		synctest.Wait()
		if got := r.instance().State; got != "BACKUP" || r.addrs.holds(vip1) {
			t.Errorf("after a better master's advert: %s, VIP held %v; want BACKUP without it", got, r.addrs.holds(vip1))
		}
		r.stop(t)
	})
	// A permanent address (keepalived's, a static alias) is not evidence:
	// removed as before (TestBecomeMaster), and so is a leased VIP when
	// the instance cannot run.
	synctest.Test(t, func(t *testing.T) {
		r := start(t, 100, false, func(_ *config.Instance, e *env) {
			e.addrs.(*fakeAddrs).addrs[vip1] = 700 * time.Millisecond
			e.addrs.(*fakeAddrs).linkUp = false
		})
		if in := r.instance(); in.State != "FAULT" || r.addrs.holds(vip1) {
			t.Errorf("link down at start with a leased VIP: %s, VIP held %v; want FAULT without it", in.State, r.addrs.holds(vip1))
		}
		r.stop(t)
	})
}

// TestHandoffReleaseWhileDraining: `hac-agent handoff --release` right
// after `handoff` (still draining) releases: the instance rejoins at its
// configured priority and, preempting, takes mastership back.
func TestHandoffReleaseWhileDraining(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, 100, false)
		time.Sleep(time.Second)
		synctest.Wait()
		if got, err := r.a.Handoff("", false); err != nil || len(got) != 1 {
			t.Fatalf("Handoff = %v, %v; want VI_1", got, err)
		}
		if got, err := r.a.Handoff("", true); err != nil || len(got) != 1 {
			t.Fatalf("Handoff release right after handoff = %v, %v; want VI_1 (released)", got, err)
		}
		r.conn.advert(t, 90) // the new master
		time.Sleep(DefaultHandoffLinger + time.Millisecond)
		synctest.Wait()
		if in := r.instance(); in.State != "BACKUP" || in.Priority != 100 {
			t.Fatalf("after the handoff: %s at priority %d, want BACKUP at the configured 100", in.State, in.Priority)
		}
		time.Sleep(400 * time.Millisecond) // Master_Down_Interval: 90 < 100 is discarded (preempt)
		synctest.Wait()
		if got := r.instance().State; got != "MASTER" {
			t.Errorf("released node: %s, want MASTER again", got)
		}
		r.stop(t)
	})
}

// TestOwnAndForeignSources: an advert carrying our own source address is
// counted (own_address) and logged as another node using our address; with
// unicast peers, an advert from any other source is dropped (source), as
// keepalived's unicast_peer does, and never obeyed.
func TestOwnAndForeignSources(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stranger := netip.MustParseAddr("198.18.0.66")
		r := start(t, 100, false, func(c *config.Instance, _ *env) {
			c.Unicast, c.Peers = true, []netip.Addr{peer}
		})
		time.Sleep(time.Second)
		synctest.Wait()
		for _, src := range []netip.Addr{self, stranger} {
			p := vrrp.Packet{Version: 3, VRID: 51, Priority: 255, AdvertInt: 100 * time.Millisecond, Addrs: []netip.Addr{vip1.Addr()}}
			b, err := p.Marshal(src, self)
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				r.conn.in <- netio.Message{Payload: b, Src: src, Dst: self, TTL: 63}
			}
		}
		synctest.Wait()
		in := r.instance()
		if in.State != "MASTER" || in.Counters.Drops["own_address"] != 3 || in.Counters.Drops["source"] != 3 || in.Counters.AdvertsReceived != 0 {
			t.Errorf("after priority-255 adverts from our address and a stranger: %s, drops %v, received %d; want MASTER, own_address=3 source=3, none received",
				in.State, in.Counters.Drops, in.Counters.AdvertsReceived)
		}
		if !strings.Contains(r.log.String(), "another node uses our address") {
			t.Errorf("no warning about another node using our address:\n%s", r.log)
		}
		r.stop(t)
	})
}
