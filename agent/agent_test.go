package agent

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/netio"
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/agent/vip"
	"github.com/hac-project/hac/agent/vrrp"
)

var (
	self = netip.MustParseAddr("198.18.0.11")
	peer = netip.MustParseAddr("198.18.0.12")
	vip1 = netip.MustParsePrefix("198.18.0.200/32")
)

// fakeConn is a VRRP socket: Send records, Receive returns what the test
// injects.
type fakeConn struct {
	mu      sync.Mutex
	sent    []*vrrp.Packet
	sendErr error // Send and Probe fail with it when set
	in      chan netio.Message
	once    sync.Once
	done    chan struct{}
}

func newFakeConn() *fakeConn {
	return &fakeConn{in: make(chan netio.Message), done: make(chan struct{})}
}

func (c *fakeConn) Source() netip.Addr { return self }
func (c *fakeConn) Send(b []byte, src, dst netip.Addr) error {
	p, err := vrrp.Parse(b, src, dst)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sendErr != nil {
		return c.sendErr
	}
	c.sent = append(c.sent, p)
	return nil
}
func (c *fakeConn) Probe(src, dst netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sendErr
}
func (c *fakeConn) Receive() (netio.Message, error) {
	select {
	case m := <-c.in:
		return m, nil
	case <-c.done:
		return netio.Message{}, net.ErrClosed
	}
}
func (c *fakeConn) Close() error { c.once.Do(func() { close(c.done) }); return nil }

// priorities returns the priorities of the adverts sent so far.
func (c *fakeConn) priorities() []uint8 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ps []uint8
	for _, p := range c.sent {
		ps = append(ps, p.Priority)
	}
	return ps
}

// advert injects an advert from the peer.
func (c *fakeConn) advert(t *testing.T, prio uint8) {
	t.Helper()
	p := vrrp.Packet{Version: 3, VRID: 51, Priority: prio, AdvertInt: 100 * time.Millisecond, Addrs: []netip.Addr{vip1.Addr()}}
	b, err := p.Marshal(peer, vrrp.GroupIPv4)
	if err != nil {
		t.Fatal(err)
	}
	c.in <- netio.Message{Payload: b, Src: peer, Dst: vrrp.GroupIPv4, TTL: 255, IfIndex: 2}
}

// fakeAddrs is the kernel's address table.
type fakeAddrs struct {
	mu     sync.Mutex
	addrs  map[netip.Prefix]time.Duration // prefix -> lease
	adds   int
	linkUp bool
}

func (f *fakeAddrs) Add(_ int, p netip.Prefix, lease time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs[p] = lease
	f.adds++
	return nil
}

// syncRenewals renews leases with addAll (a fake's AddAll), at once, and
// tells the failures to Failures' function as it renews, or keeps them
// until Failures runs: the kernel's answers without the socket between.
type syncRenewals struct {
	addAll func([]vip.Lease) []error
	mu     sync.Mutex
	fn     func(vip.Failure)
	kept   []vip.Failure
}

func (s *syncRenewals) Renew(ls []vip.Lease) []vip.Failure {
	errs := s.addAll(ls)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, err := range errs {
		if err == nil {
			continue
		}
		f := vip.Failure{Index: ls[i].Index, Prefix: ls[i].Prefix, Err: err}
		if s.fn == nil {
			s.kept = append(s.kept, f)
			continue
		}
		s.fn(f)
	}
	return nil // all sent; the refusals go to Failures
}

func (s *syncRenewals) Failures(ctx context.Context, fn func(vip.Failure)) error {
	s.mu.Lock()
	s.fn = fn
	for _, f := range s.kept {
		fn(f)
	}
	s.kept = nil
	s.mu.Unlock()
	<-ctx.Done()
	return nil
}

func (*syncRenewals) Sync() {}

func (f *fakeAddrs) AddAll(ls []vip.Lease) []error {
	errs := make([]error, len(ls))
	for i, l := range ls {
		errs[i] = f.Add(l.Index, l.Prefix, l.Lease)
	}
	return errs
}
func (f *fakeAddrs) Remove(_ int, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.addrs, p)
	return nil
}
func (f *fakeAddrs) Has(_ int, a netip.Addr) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p := range f.addrs {
		if p.Addr() == a {
			return true, nil
		}
	}
	return false, nil
}
func (f *fakeAddrs) Find(index int, vips []netip.Prefix) ([]vip.Address, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var found []vip.Address
	for p, lease := range f.addrs {
		for _, v := range vips {
			if p.Addr() == v.Addr() {
				found = append(found, vip.Address{Index: index, Prefix: p, Valid: lease, Preferred: lease})
			}
		}
	}
	return found, nil
}
func (f *fakeAddrs) LinkUp(int) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.linkUp, nil
}
func (f *fakeAddrs) holds(p netip.Prefix) bool { ok, _ := f.Has(0, p.Addr()); return ok }
func (f *fakeAddrs) lease(p netip.Prefix) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addrs[p]
}
func (f *fakeAddrs) addCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.adds
}

// fakeAnnouncer counts announcements.
type fakeAnnouncer struct {
	mu sync.Mutex
	n  int
}

func (f *fakeAnnouncer) Announce(as []netip.Addr) error {
	f.mu.Lock()
	f.n += len(as)
	f.mu.Unlock()
	return nil
}
func (f *fakeAnnouncer) count() int { f.mu.Lock(); defer f.mu.Unlock(); return f.n }

// rig is an agent on fakes.
type rig struct {
	a      *Agent
	conn   *fakeConn
	addrs  *fakeAddrs
	ann    *fakeAnnouncer
	events chan []vip.Event
	cancel context.CancelFunc
	done   chan error
	log    *strings.Builder
}

// start runs an agent for one VRRPv3 instance at 100 ms with priority prio
// on fakes, inside a synctest bubble; mods change the instance and the
// environment before it starts. Interface eth1 has index 2, any other 3.
func start(t *testing.T, prio uint8, stale bool, mods ...func(*config.Instance, *env)) *rig {
	t.Helper()
	r := &rig{
		conn:   newFakeConn(),
		addrs:  &fakeAddrs{addrs: map[netip.Prefix]time.Duration{}, linkUp: true},
		ann:    &fakeAnnouncer{},
		events: make(chan []vip.Event),
		done:   make(chan error, 1),
		log:    &strings.Builder{},
	}
	if stale {
		r.addrs.addrs[vip1] = vip.Forever
	}
	cfg := &config.Config{Format: 1, Cluster: "c", Node: "n1", Instances: []config.Instance{{
		Name: "VI_1", VRID: 51, Version: 3, Interface: "eth1", Priority: prio,
		AdvertInt: config.Duration(100 * time.Millisecond), Preempt: true,
		VIPs: []config.VIP{{Prefix: vip1}},
		GARP: config.GARP{Repeat: 5, Delay: config.Duration(5 * time.Second)},
	}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e := &env{
		iface: func(name string) (*net.Interface, error) {
			idx := 2
			if name != "eth1" {
				idx = 3
			}
			return &net.Interface{Index: idx, Name: name, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}, nil
		},
		addrs: r.addrs,
		events: func(ctx context.Context, fn func([]vip.Event)) error {
			for {
				select {
				case evs := <-r.events:
					fn(evs)
				case <-ctx.Done():
					return nil
				}
			}
		},
		listen:   func(context.Context, netio.Config) (netio.Conn, error) { return r.conn, nil },
		announce: func(*net.Interface, bool, bool) (Announcer, error) { return r.ann, nil },
	}
	for _, mod := range mods {
		mod(&cfg.Instances[0], e)
	}
	e.renewals = &syncRenewals{addAll: e.addrs.(interface{ AddAll([]vip.Lease) []error }).AddAll}
	log := slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.a = newAgent(cfg, Options{Logger: log, StatusSocket: "-"}, e)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.a.Run(ctx) }()
	synctest.Wait()
	return r
}

// startMaster is start after the instance became master (its
// Master_Down_Interval passed with no advert heard).
func startMaster(t *testing.T, prio uint8, mods ...func(*config.Instance, *env)) *rig {
	t.Helper()
	r := start(t, prio, false, mods...)
	time.Sleep(time.Second)
	synctest.Wait()
	if got := r.instance().State; got != "MASTER" {
		t.Fatalf("state %s, want MASTER", got)
	}
	return r
}

func (r *rig) instance() status.Instance { return r.a.Report().Instances[0] }

func (r *rig) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
}

func TestBecomeMaster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, 100, true)
		if r.addrs.holds(vip1) {
			t.Errorf("the stale VIP is still there after start")
		}
		if got := r.instance().State; got != "BACKUP" {
			t.Fatalf("state at start %s, want BACKUP", got)
		}
		// RFC 5798 section 6.4.2: no advert for Master_Down_Interval
		// (3 x 100 ms + Skew_Time 61 ms): master.
		time.Sleep(360 * time.Millisecond)
		synctest.Wait()
		if got := r.instance().State; got != "BACKUP" {
			t.Fatalf("state before Master_Down_Interval %s, want BACKUP", got)
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		in := r.instance()
		if in.State != "MASTER" || !r.addrs.holds(vip1) {
			t.Fatalf("after Master_Down_Interval: state %s, VIP held %v; want MASTER with the VIP", in.State, r.addrs.holds(vip1))
		}
		if got := r.addrs.lease(vip1); got != time.Second {
			t.Errorf("VIP lease %v, want 1s (Master_Down_Interval rounded up)", got)
		}
		if got := r.ann.count(); got != 5 {
			t.Errorf("%d gratuitous ARPs at once, want 5 (garp_master_repeat)", got)
		}
		if got := r.conn.priorities(); len(got) != 1 || got[0] != 100 {
			t.Errorf("adverts %v, want one at priority 100", got)
		}
		// The adverts after the first are on the agent's grid (its start
		// + k x 100ms: 400ms, 500ms, ...), and every fifth renews the 1s
		// lease added at 361ms (renewEvery: 450ms): 900ms, 1.4s, ...,
		// 4.9s. The second GARP burst comes after garp_master_delay.
		adds := r.addrs.addCount()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := len(r.conn.priorities()); got != 51 {
			t.Errorf("%d adverts after 5 s of mastership, want 51", got)
		}
		if got := r.addrs.addCount() - adds; got != 9 {
			t.Errorf("%d lease renewals in 5 s, want 9 (every fifth advert)", got)
		}
		if got := r.ann.count(); got != 10 {
			t.Errorf("%d gratuitous ARPs after garp_master_delay, want 10", got)
		}
		r.stop(t)
	})
}

func TestHigherPriorityAndGracefulStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, 100, false)
		time.Sleep(time.Second)
		synctest.Wait()
		// RFC 5798 section 6.4.3: a higher priority advert makes the
		// master a backup, and the VIPs go.
		r.conn.advert(t, 200)
		synctest.Wait()
		in := r.instance()
		if in.State != "BACKUP" || r.addrs.holds(vip1) || in.Master != peer {
			t.Fatalf("after a higher priority advert: %s, VIP held %v, master %v; want BACKUP without the VIP, master %v", in.State, r.addrs.holds(vip1), in.Master, peer)
		}
		// The peer stops (priority 0): we take over after Skew_Time.
		r.conn.advert(t, 0)
		time.Sleep(62 * time.Millisecond)
		synctest.Wait()
		if got := r.instance().State; got != "MASTER" {
			t.Fatalf("Skew_Time after priority 0: %s, want MASTER", got)
		}
		// Graceful stop: priority 0, the VIP kept until the new master is
		// heard, then removed after the linger.
		sent := len(r.conn.priorities())
		r.cancel()
		synctest.Wait()
		if got := r.conn.priorities()[sent:]; len(got) != 1 || got[0] != 0 {
			t.Errorf("on stop sent %v, want one priority-0 advert", got)
		}
		if got := r.instance().State; got != "DRAINING" || !r.addrs.holds(vip1) {
			t.Errorf("stopping: %s, VIP held %v; want DRAINING with the VIP", got, r.addrs.holds(vip1))
		}
		time.Sleep(50 * time.Millisecond)
		r.conn.advert(t, 200)
		synctest.Wait()
		if !r.addrs.holds(vip1) {
			t.Errorf("the VIP went at once; want it kept for the handoff linger")
		}
		time.Sleep(DefaultHandoffLinger)
		if err := <-r.done; err != nil {
			t.Fatal(err)
		}
		if r.addrs.holds(vip1) {
			t.Errorf("the VIP is still there after the handoff")
		}
	})
}

// TestDrainingSendsNoGARP: a master handing off keeps its VIPs until the
// new master is heard, but its second GARP burst (garp_master_delay), due
// meanwhile, is not sent: it would pull the clients back from the new
// master, which just announced itself, to a node about to drop the VIP.
func TestDrainingSendsNoGARP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startMaster(t, 100) // master at 361ms: the second burst is due at 5.361s
		time.Sleep(4200 * time.Millisecond)
		r.cancel() // Draining until 5.6s (election.HandoffTime)
		time.Sleep(250 * time.Millisecond)
		synctest.Wait()
		if got := r.instance().State; got != "DRAINING" || !r.addrs.holds(vip1) {
			t.Fatalf("%s, VIP held %v; want DRAINING with the VIP", got, r.addrs.holds(vip1))
		}
		if got := r.ann.count(); got != 5 {
			t.Errorf("%d gratuitous ARPs while draining past garp_master_delay, want the 5 of the first burst", got)
		}
		if err := <-r.done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestLinkAndRestore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, 100, false)
		time.Sleep(time.Second)
		synctest.Wait()
		// Something removes the VIP: it is put back and counted.
		r.addrs.Remove(2, vip1)
		r.events <- []vip.Event{{Kind: vip.AddrRemoved, Index: 2, Prefix: vip1}}
		synctest.Wait()
		if !r.addrs.holds(vip1) || r.instance().Counters.VIPRestored != 1 {
			t.Errorf("VIP held %v, restored %d; want it back and counted", r.addrs.holds(vip1), r.instance().Counters.VIPRestored)
		}
		// Carrier loss: FAULT, VIP removed, no adverts.
		r.events <- []vip.Event{{Kind: vip.Link, Index: 2, Up: false}}
		synctest.Wait()
		sent := len(r.conn.priorities())
		time.Sleep(time.Second)
		synctest.Wait()
		in := r.instance()
		if in.State != "FAULT" || r.addrs.holds(vip1) || len(r.conn.priorities()) != sent {
			t.Errorf("link down: %s, VIP held %v, %d adverts sent in FAULT; want FAULT, no VIP, none", in.State, r.addrs.holds(vip1), len(r.conn.priorities())-sent)
		}
		r.events <- []vip.Event{{Kind: vip.Link, Index: 2, Up: true}}
		synctest.Wait()
		if got := r.instance().State; got != "BACKUP" {
			t.Errorf("link up: %s, want BACKUP", got)
		}
		r.stop(t)
	})
}

func TestDrops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, 100, false)
		p := vrrp.Packet{Version: 2, VRID: 51, Priority: 200, AdvertInt: time.Second, Addrs: []netip.Addr{vip1.Addr()}}
		b, err := p.Marshal(peer, vrrp.GroupIPv4)
		if err != nil {
			t.Fatal(err)
		}
		r.conn.in <- netio.Message{Payload: b, Src: peer, Dst: vrrp.GroupIPv4, TTL: 255}
		r.conn.in <- netio.Message{Payload: b, Src: peer, Dst: vrrp.GroupIPv4, TTL: 64}
		r.conn.in <- netio.Message{Payload: []byte{0x31, 99, 1, 1}, Src: peer, Dst: vrrp.GroupIPv4, TTL: 255}
		synctest.Wait()
		in := r.instance()
		want := map[string]uint64{"version": 1, "ttl": 1}
		for k, v := range want {
			if in.Counters.Drops[k] != v {
				t.Errorf("drops %v, want %v", in.Counters.Drops, want)
				break
			}
		}
		if got := r.a.Report().Drops["vrid"]; got != 1 {
			t.Errorf("unclaimed drops %v, want vrid=1", r.a.Report().Drops)
		}
		if strings.Count(r.log.String(), "advert dropped (") != 2 {
			t.Errorf("want one warning per drop reason; log:\n%s", r.log)
		}
		r.stop(t)
	})
}

// TestSetupFailureClosesSockets: when setup fails half-way (the second
// instance's socket cannot be opened), the sockets it opened before are
// closed and Run returns the error.
func TestSetupFailureClosesSockets(t *testing.T) {
	cfg := &config.Config{Format: 1, Cluster: "c", Node: "n1", Instances: []config.Instance{
		{Name: "VI_1", VRID: 51, Version: 3, Interface: "eth1", Priority: 100, AdvertInt: config.Duration(time.Second), VIPs: []config.VIP{{Prefix: vip1}}, GARP: config.GARP{Repeat: 1}},
		{Name: "VI_2", VRID: 52, Version: 3, Interface: "eth2", Priority: 100, AdvertInt: config.Duration(time.Second), VIPs: []config.VIP{{Prefix: netip.MustParsePrefix("198.18.0.201/32")}}, GARP: config.GARP{Repeat: 1}},
	}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var opened []*fakeConn
	e := &env{
		iface: func(name string) (*net.Interface, error) {
			return &net.Interface{Index: map[string]int{"eth1": 2, "eth2": 3}[name], Name: name}, nil
		},
		addrs:    &fakeAddrs{addrs: map[netip.Prefix]time.Duration{}, linkUp: true},
		renewals: &syncRenewals{addAll: func([]vip.Lease) []error { return nil }},
		events:   func(ctx context.Context, _ func([]vip.Event)) error { <-ctx.Done(); return nil },
		listen: func(_ context.Context, c netio.Config) (netio.Conn, error) {
			if c.Interface.Name == "eth2" {
				return nil, errors.New("socket: operation not permitted")
			}
			conn := newFakeConn()
			opened = append(opened, conn)
			return conn, nil
		},
		announce: func(*net.Interface, bool, bool) (Announcer, error) { return &fakeAnnouncer{}, nil },
	}
	a := newAgent(cfg, Options{Logger: slog.New(slog.DiscardHandler), StatusSocket: "-"}, e)
	err := a.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "operation not permitted") {
		t.Fatalf("Run = %v, want the socket error", err)
	}
	if len(opened) != 1 {
		t.Fatalf("%d sockets opened, want 1 (VI_1's)", len(opened))
	}
	select {
	case <-opened[0].done:
	default:
		t.Errorf("VI_1's socket is still open after setup failed")
	}
}

// TestIdleMasterPublishAllocatesNothing: the status snapshot an instance
// publishes at every advert reuses the last one's VIPs, reasons and
// items while they are unchanged (an idle master's garbage per advert).
func TestIdleMasterPublishAllocatesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startMaster(t, 100)
		in := r.a.list()[0]
		allocs := make(chan float64)
		in.ctl <- func() { allocs <- testing.AllocsPerRun(100, in.publish) } // on the instance's goroutine
		if n := <-allocs; n != 0 {
			t.Errorf("publish allocates %v times while nothing changed, want 0", n)
		}
		if got := r.instance(); len(got.VIPs) != 1 || got.VIPs[0] != vip1 || got.Counters.TransitionReasons["master_down_timer"] != 1 {
			t.Errorf("snapshot VIPs %v, reasons %v; want [%v] and one master_down_timer", got.VIPs, got.Counters.TransitionReasons, vip1)
		}
		r.stop(t)
	})
}
