package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/fsm"
	"github.com/hac-project/hac/agent/netio"
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/agent/vip"
	"github.com/hac-project/hac/agent/vrrp"
)

// leaseRenewal is the least time between two renewals of a VIP lease while
// master; leases are at least a second, so a renewal is always well ahead.
const leaseRenewal = 250 * time.Millisecond

// vipOn is one VIP and the interface it goes on.
type vipOn struct {
	prefix netip.Prefix
	index  int
	dev    string
}

// instance runs one VRRP instance. Everything but the snapshot and the
// channels is owned by its goroutine.
type instance struct {
	a     *Agent
	cfg   *config.Instance
	log   *slog.Logger
	clock Clock
	six   bool
	ifi   *net.Interface

	m      *fsm.Machine
	conn   netio.Conn
	src    netip.Addr
	dsts   []netip.Addr
	pkt    vrrp.Packet
	expect vrrp.Expect
	vips   []vipOn
	addrs  []netip.Addr            // the VIP addresses, in config order
	byDev  map[string][]netip.Addr // VIP addresses per device, for announcing
	anns   map[string]Announcer
	lease  time.Duration

	msgs    chan netio.Message
	ctl     chan func()
	checked chan checkResult
	done    chan struct{}

	items  []item  // tracked interfaces (first, as tracks), then checks
	tracks []track // the tracked interfaces, as items[:len(tracks)]

	timer     Timer // the machine's deadline
	garpTimer Timer // delayed burst and refresh

	linkUp      bool
	held        bool // AddVIPs done (the VIPs are ours) and no RemoveVIPs since
	addPending  bool // AddVIPs failed; retried on the next advert
	renewed     time.Time
	garpAt      time.Time // second burst (garp_master_delay)
	refreshAt   time.Time // periodic refresh (garp_master_refresh)
	stopping    bool      // the agent is stopping: exit once Stopped
	handingOff  bool      // Handoff: rejoin after Stopped
	lastAdvert  time.Time
	warned      map[string]bool
	counters    status.Counters
	since       time.Time
	reason      string
	masterAddr  netip.Addr
	heldPrefix  []netip.Prefix
	handoffPrio bool // priority lowered by Handoff
	takeover    bool // priority raised by Takeover

	mu   sync.Mutex
	snap status.Instance
	last time.Time // lastAdvert, for the snapshot
}

func (a *Agent) newInstance(c *config.Instance, lookup func(string) (*net.Interface, error), anns map[string]Announcer) (*instance, error) {
	ifi, err := lookup(c.Interface)
	if err != nil {
		return nil, err
	}
	in := &instance{
		a: a, cfg: c, clock: a.clock, ifi: ifi,
		log:     a.log.With("instance", c.Name),
		six:     c.VIPs[0].Prefix.Addr().Is6(),
		byDev:   map[string][]netip.Addr{},
		anns:    anns,
		msgs:    make(chan netio.Message, 64),
		ctl:     make(chan func(), 64),
		checked: make(chan checkResult),
		done:    make(chan struct{}),
		timer:   a.clock.NewTimer(), garpTimer: a.clock.NewTimer(),
		warned:   map[string]bool{},
		counters: status.Counters{Drops: map[string]uint64{}},
	}
	for _, v := range c.VIPs {
		dev := v.Device
		if dev == "" {
			dev = c.Interface
		}
		difi, err := lookup(dev)
		if err != nil {
			return nil, err
		}
		in.vips = append(in.vips, vipOn{prefix: v.Prefix, index: difi.Index, dev: dev})
		in.addrs = append(in.addrs, v.Prefix.Addr())
		in.byDev[dev] = append(in.byDev[dev], v.Prefix.Addr())
	}
	// keepalived removes its VIPs at start (remove_residual_vips): a
	// killed predecessor may have left them, and a backup must not hold
	// them.
	for dev, as := range in.byDev {
		var ps []netip.Prefix
		idx := 0
		for _, v := range in.vips {
			if v.dev == dev {
				ps, idx = append(ps, v.prefix), v.index
			}
		}
		removed, err := a.env.addrs.RemoveStale(idx, ps)
		if err != nil {
			return nil, fmt.Errorf("agent: instance %s: remove stale VIPs %v: %w", c.Name, as, err)
		}
		if len(removed) > 0 {
			in.log.Warn("removed stale VIPs left by a previous run", "vips", removed, "device", dev)
		}
	}
	return in, nil
}

// initMachine builds the state machine and the packet templates once the
// socket (and so the source address) is known.
func (in *instance) initMachine() error {
	c := in.cfg
	m, err := fsm.New(fsm.Config{
		Version:       c.Version,
		Priority:      c.Priority,
		AdvertInt:     time.Duration(c.AdvertInt),
		Preempt:       c.Preempt,
		PreemptDelay:  time.Duration(c.PreemptDelay),
		Primary:       in.src,
		HandoffLinger: in.a.opts.HandoffLinger,
	})
	if err != nil {
		return fmt.Errorf("agent: instance %s: %w", c.Name, err)
	}
	in.m = m
	in.pkt = vrrp.Packet{Version: c.Version, VRID: c.VRID, AdvertInt: time.Duration(c.AdvertInt), Addrs: in.addrs}
	in.expect = vrrp.Expect{Version: c.Version, VRID: c.VRID, AdvertInt: time.Duration(c.AdvertInt), Addrs: in.addrs, Unicast: c.Unicast, Peers: c.Peers}
	if c.Version == 2 && c.Auth != nil {
		in.pkt.AuthType, in.pkt.Auth = vrrp.AuthPass, vrrp.PassAuth(c.Auth.Pass)
		in.expect.AuthType, in.expect.Auth = in.pkt.AuthType, in.pkt.Auth
	}
	switch {
	case c.Unicast:
		in.dsts = c.Peers
	case in.six:
		in.dsts = []netip.Addr{vrrp.GroupIPv6}
	default:
		in.dsts = []netip.Addr{vrrp.GroupIPv4}
	}
	in.lease = vip.LeaseFor(fsm.MasterDownInterval(c.Version, c.Priority, time.Duration(c.AdvertInt), fsm.DefaultDownAdverts))
	in.publish()
	return nil
}

// post runs f on the instance goroutine; it returns at once if the
// instance has stopped.
func (in *instance) post(f func()) {
	select {
	case in.ctl <- f:
	case <-in.done:
	}
}

// deliver queues a received advert; a full queue drops it (counted).
func (in *instance) deliver(m netio.Message) {
	select {
	case in.msgs <- m:
	default:
		in.post(func() { in.drop("queue_full", "receive queue full") })
	}
}

func (in *instance) run() {
	defer close(in.done)
	defer in.timer.Stop()
	defer in.garpTimer.Stop()
	now := in.clock.Now()
	in.since = now
	up, err := in.a.env.addrs.LinkUp(in.ifi.Index)
	if err != nil {
		in.log.Warn("cannot read the link state; assuming up", "err", err)
		up = true
	}
	in.linkUp = up
	if !up {
		in.do(in.m.Step(now, fsm.LinkDown{}))
	}
	in.setupTracks()
	ctx, cancel := context.WithCancel(context.Background())
	var checks sync.WaitGroup
	defer checks.Wait()
	defer cancel()
	in.startChecks(ctx, &checks)
	now = in.clock.Now()
	in.applyPriority(now)
	in.do(in.m.Step(now, fsm.Start{}))
	for {
		in.arm()
		in.publish()
		if in.stopping && in.m.State() == fsm.Stopped {
			return
		}
		select {
		case m := <-in.msgs:
			in.receive(m)
		case f := <-in.ctl:
			f()
		case r := <-in.checked:
			in.setItem(in.clock.Now(), r.item, r.up)
		case <-in.timer.C():
			in.do(in.m.Step(in.clock.Now(), fsm.Timeout{}))
		case <-in.garpTimer.C():
			in.garpDue()
		}
	}
}

// arm sets the timers to the machine's deadline and the next GARP.
func (in *instance) arm() {
	now := in.clock.Now()
	if d, ok := in.m.Deadline(); ok {
		in.timer.Reset(max(d.Sub(now), 0))
	} else {
		in.timer.Stop()
	}
	next := in.garpAt
	if !in.refreshAt.IsZero() && (next.IsZero() || in.refreshAt.Before(next)) {
		next = in.refreshAt
	}
	if next.IsZero() {
		in.garpTimer.Stop()
	} else {
		in.garpTimer.Reset(max(next.Sub(now), 0))
	}
}

// do carries out the machine's actions in order, with one exception: on
// becoming master ([fsm.SendAdvert] then [fsm.AddVIPs]) the VIPs are added
// and announced before the advert goes out. The old master drops its VIPs
// when it hears that advert, so clients already follow the new one: a
// make-before-break takeback (keepalived sends the advert first).
func (in *instance) do(acts []fsm.Action) {
	for i := 0; i < len(acts); i++ {
		switch act := acts[i].(type) {
		case fsm.SendAdvert:
			if i+1 < len(acts) {
				if _, ok := acts[i+1].(fsm.AddVIPs); ok {
					i++
					in.do(acts[i : i+1])
				}
			}
			in.send(act.Priority)
		case fsm.AddVIPs:
			in.held = true
			in.addVIPs()
		case fsm.RemoveVIPs:
			in.removeVIPs()
		case fsm.SendGratuitous:
			in.burst(in.garpRepeat())
			now := in.clock.Now()
			in.garpAt, in.refreshAt = time.Time{}, time.Time{}
			if d := time.Duration(in.cfg.GARP.Delay); d > 0 {
				in.garpAt = now.Add(d)
			}
			if d := time.Duration(in.cfg.GARP.Refresh); d > 0 {
				in.refreshAt = now.Add(d)
			}
		case fsm.Transition:
			in.transition(act)
		case fsm.Warning:
			in.log.Warn(act.Message, "peer", addrAttr(act.Peer))
		}
	}
}

func addrAttr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func (in *instance) transition(t fsm.Transition) {
	now := in.clock.Now()
	in.counters.Transitions++
	in.since, in.reason = now, t.Reason
	in.log.Info("transition", "from", t.From.String(), "to", t.To.String(), "reason", t.Reason, "peer", addrAttr(t.Peer), "priority", in.m.Priority())
	in.notify(t.To)
	if t.To == fsm.Stopped && in.handingOff && !in.stopping {
		// Handoff without stopping: rejoin as a backup that does not
		// preempt back.
		in.handingOff = false
		in.handoffPrio = true
		in.applyPriority(now)
		in.do(in.m.Step(now, fsm.Start{}))
	}
}

// send sends one advert with priority prio to every destination, and
// renews the VIP lease while the VIPs are ours.
func (in *instance) send(prio uint8) {
	p := in.pkt
	p.Priority = prio
	for _, dst := range in.dsts {
		b, err := p.Marshal(in.src, dst)
		if err == nil {
			err = in.conn.Send(b, in.src, dst)
		}
		if err != nil {
			in.warnOnce("send", "cannot send advert", "dst", dst.String(), "err", err)
			continue
		}
		in.counters.AdvertsSent++
	}
	if in.held {
		in.renew()
	}
}

// renew renews the VIP lease, or retries adding the VIPs after a failure.
func (in *instance) renew() {
	now := in.clock.Now()
	if in.addPending {
		in.addVIPs()
		return
	}
	if now.Sub(in.renewed) < leaseRenewal {
		return
	}
	for _, v := range in.vips {
		if err := in.a.env.addrs.Add(v.index, v.prefix, in.lease); err != nil {
			in.warnOnce("renew", "cannot renew the VIP lease", "vip", v.prefix.String(), "err", err)
			return
		}
	}
	in.renewed = now
}

// addVIPs adds every VIP with its lease and, when all are there, tells the
// machine so.
func (in *instance) addVIPs() {
	for _, v := range in.vips {
		if err := in.a.env.addrs.Add(v.index, v.prefix, in.lease); err != nil {
			in.addPending = true
			in.log.Error("cannot add VIP; retrying at the next advert", "vip", v.prefix.String(), "device", v.dev, "err", err)
			return
		}
	}
	in.addPending = false
	in.renewed = in.clock.Now()
	in.heldPrefix = in.prefixes()
	in.log.Info("VIPs added", "vips", in.heldPrefix, "lease", in.lease.String())
	in.do(in.m.Step(in.clock.Now(), fsm.VIPsReady{}))
}

func (in *instance) prefixes() []netip.Prefix {
	ps := make([]netip.Prefix, len(in.vips))
	for i, v := range in.vips {
		ps[i] = v.prefix
	}
	return ps
}

func (in *instance) removeVIPs() {
	in.held, in.addPending = false, false
	in.garpAt, in.refreshAt = time.Time{}, time.Time{}
	for _, v := range in.vips {
		if err := in.a.env.addrs.Remove(v.index, v.prefix); err != nil {
			in.log.Error("cannot remove VIP; its lease ends it", "vip", v.prefix.String(), "err", err)
		}
	}
	in.heldPrefix = nil
	in.log.Info("VIPs removed", "vips", in.prefixes())
}

func (in *instance) garpRepeat() int { return max(in.cfg.GARP.Repeat, 1) }

// burst sends n rounds of gratuitous ARP / NA for every VIP.
func (in *instance) burst(n int) {
	for range n {
		for dev, as := range in.byDev {
			if err := in.anns[dev].Announce(as); err != nil {
				in.warnOnce("garp", "cannot send gratuitous ARP/NA", "err", err)
			}
		}
	}
}

// garpDue sends the delayed burst and the periodic refresh when due.
func (in *instance) garpDue() {
	now := in.clock.Now()
	if !in.garpAt.IsZero() && !now.Before(in.garpAt) {
		in.garpAt = time.Time{}
		in.burst(in.garpRepeat())
	}
	if !in.refreshAt.IsZero() && !now.Before(in.refreshAt) {
		in.refreshAt = now.Add(time.Duration(in.cfg.GARP.Refresh))
		in.burst(max(in.cfg.GARP.RefreshRepeat, 1))
	}
}

// receive checks one advert and gives it to the machine.
func (in *instance) receive(m netio.Message) {
	p, err := vrrp.Parse(m.Payload, m.Src, m.Dst)
	var differ bool
	if err == nil {
		differ, err = in.expect.Check(p, m.Src, m.TTL, m.Multicast())
	}
	if err != nil {
		reason := "invalid"
		if de, ok := err.(*vrrp.DropError); ok {
			reason = string(de.Reason)
		}
		in.drop(reason, err.Error())
		return
	}
	if differ {
		in.counters.VIPMismatch++
		in.warnOnce("vip_mismatch", "advert with another VIP set: obeyed, but make every node's VIPs the same", "peer", m.Src.String(), "theirs", p.Addrs, "ours", in.addrs)
	}
	if p.Version == 3 && p.Checksum != vrrp.ChecksumPseudoHeader {
		in.warnOnce("checksum_form", "peer uses another VRRPv3 checksum form: accepted", "peer", m.Src.String(), "form", p.Checksum.String())
	}
	now := in.clock.Now()
	in.counters.AdvertsReceived++
	in.lastAdvert = now
	adv := fsm.Advert{Priority: p.Priority, Src: m.Src}
	if p.Version == 3 {
		adv.AdvertInt = p.AdvertInt
	}
	in.do(in.m.Step(now, adv))
}

// drop counts a discarded packet and logs the first of each reason.
func (in *instance) drop(reason, detail string) {
	in.counters.Drops[reason]++
	if !in.warned["drop:"+reason] {
		in.warned["drop:"+reason] = true
		in.log.Warn("advert dropped (logged once per reason, counted in status)", "reason", reason, "detail", detail)
		return
	}
	in.log.Debug("advert dropped", "reason", reason, "detail", detail)
}

func (in *instance) warnOnce(key, msg string, args ...any) {
	if in.warned[key] {
		in.log.Debug(msg, args...)
		return
	}
	in.warned[key] = true
	in.log.Warn(msg+" (logged once)", args...)
}

// onEvents reacts to netlink events: link changes move the instance to
// and from Fault; a VIP removed by someone else while master is put back.
func (in *instance) onEvents(evs []vip.Event) {
	now := in.clock.Now()
	for _, e := range evs {
		in.trackEvent(now, e)
		switch e.Kind {
		case vip.Link:
			if e.Index == in.ifi.Index {
				in.setLink(now, e.Up)
			}
		case vip.AddrRemoved:
			for _, v := range in.vips {
				if v.index == e.Index && v.prefix.Addr() == e.Prefix.Addr() {
					in.restore(v)
				}
			}
		case vip.Resync:
			if up, err := in.a.env.addrs.LinkUp(in.ifi.Index); err == nil {
				in.setLink(now, up)
			}
			for _, v := range in.vips {
				in.restore(v)
			}
		}
	}
}

func (in *instance) setLink(now time.Time, up bool) {
	if up == in.linkUp {
		return
	}
	in.linkUp = up
	if up {
		in.do(in.m.Step(now, fsm.LinkUp{}))
	} else {
		in.do(in.m.Step(now, fsm.LinkDown{}))
	}
}

// restore puts a VIP back if it is ours, ready, and gone.
func (in *instance) restore(v vipOn) {
	if !in.held || in.addPending {
		return
	}
	if ok, err := in.a.env.addrs.Has(v.index, v.prefix.Addr()); err != nil || ok {
		return
	}
	if err := in.a.env.addrs.Add(v.index, v.prefix, in.lease); err != nil {
		in.log.Error("VIP removed by something else and cannot be put back", "vip", v.prefix.String(), "err", err)
		return
	}
	in.counters.VIPRestored++
	in.log.Warn("VIP removed by something else (netplan apply? networkd?): put back", "vip", v.prefix.String(), "device", v.dev)
	if err := in.anns[v.dev].Announce([]netip.Addr{v.prefix.Addr()}); err != nil {
		in.warnOnce("garp", "cannot send gratuitous ARP/NA", "err", err)
	}
}

// shutdown is the agent stopping: the machine hands off if master (a
// second call ends the handoff at once).
func (in *instance) shutdown() {
	in.stopping = true
	in.do(in.m.Step(in.clock.Now(), fsm.Shutdown{}))
}

// handoff starts a handoff without stopping, or with release restores
// the configured priority; it reports whether it did anything.
func (in *instance) handoff(release bool) bool {
	now := in.clock.Now()
	if release {
		if !in.handoffPrio {
			return false
		}
		in.handoffPrio = false
		in.applyPriority(now)
		return true
	}
	if in.m.State() != fsm.Master || in.stopping {
		return false
	}
	in.handingOff = true
	in.do(in.m.Step(now, fsm.Shutdown{}))
	return true
}

// takeOver raises the priority to TakeoverPriority (ending a handoff), or
// with release restores the configured one; it reports whether it did
// anything.
func (in *instance) takeOver(release bool) bool {
	if in.takeover == !release || in.stopping {
		return false
	}
	in.takeover = !release
	if !release {
		in.handoffPrio = false
	}
	in.applyPriority(in.clock.Now())
	return true
}

// publish copies the instance's state for Report.
func (in *instance) publish() {
	s := status.Instance{
		Name:         in.cfg.Name,
		VRID:         in.cfg.VRID,
		Interface:    in.cfg.Interface,
		State:        in.m.State().String(),
		Priority:     int(in.m.Priority()),
		BasePriority: int(in.cfg.Priority),
		Master:       in.m.Master(),
		VIPs:         slices.Clone(in.heldPrefix),
		Since:        in.since,
		Reason:       in.reason,
		Counters:     in.counters,
	}
	if s.VIPs == nil {
		s.VIPs = []netip.Prefix{}
	}
	s.Tracks, s.Checks = in.itemStates()
	s.Counters.Drops = make(map[string]uint64, len(in.counters.Drops))
	for k, v := range in.counters.Drops {
		s.Counters.Drops[k] = v
	}
	in.mu.Lock()
	in.snap, in.last = s, in.lastAdvert
	in.mu.Unlock()
}

// snapshot returns the last published state with the advert age at now.
func (in *instance) snapshot(now time.Time) status.Instance {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.snap
	s.LastAdvertMillis = -1
	if !in.last.IsZero() {
		s.LastAdvertMillis = now.Sub(in.last).Milliseconds()
	}
	return s
}
