package agent

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
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

// warnEvery is the least time between two log lines of one repeated
// warning (a send failure, a drop reason): the first is logged at once, the
// next ones at most this often with how many were left out.
const warnEvery = 10 * time.Second

// rxQueue is how many valid adverts wait for the instance goroutine; when
// it is full the newest is dropped and counted (queue_full).
const rxQueue = 64

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
	leases []vip.Lease // what renew asks for; read by the renewer

	msgs    chan received
	ctl     chan func()
	checked chan checkResult
	done    chan struct{}

	items  []item  // tracked interfaces (first, as tracks), then checks
	tracks []track // the tracked interfaces, as items[:len(tracks)]
	// stopChecks ends the check loops and waits for them.
	stopChecks func()

	group  *syncGroup // nil: not in a sync group (group.go)
	member int        // the instance's index in group

	timer     Timer // the machine's deadline
	garpTimer Timer // delayed burst and refresh

	linkUp      bool
	resume      bool // VIPs still leased from a previous run at start: fsm.Resume
	sendFailed  bool // an advert could not be sent: step fsm.SendFailed
	sendOK      bool // a send probe succeeded: step fsm.SendRecovered
	held        bool // AddVIPs done (the VIPs are ours) and no RemoveVIPs since
	addPending  bool // AddVIPs failed; retried on the next advert
	renewed     time.Time
	garpAt      time.Time // second burst (garp_master_delay)
	refreshAt   time.Time // periodic refresh (garp_master_refresh)
	stopping    bool      // the agent is stopping: exit once Stopped
	handingOff  bool      // Handoff: rejoin after Stopped
	lastAdvert  time.Time
	warned      warnings
	counters    status.Counters
	since       time.Time
	reason      string
	heldPrefix  []netip.Prefix
	handoffPrio bool // priority lowered by Handoff
	takeover    bool // priority raised by Takeover
	released    bool // Handoff release asked while handing off: rejoin at the configured priority

	// The receive side: the reader goroutine of the socket checks every
	// packet (deliver), so that only valid adverts reach the instance
	// goroutine and a flood of invalid packets costs no more than their
	// checks; drops are counted under dropMu.
	dropMu  sync.Mutex
	drops   map[string]uint64
	dropLog warnings

	// exp is what deliver checks adverts with: expect, or a copy a
	// reload stored with the new VIPs.
	exp atomic.Pointer[vrrp.Expect]

	mu   sync.Mutex
	snap status.Instance
	last time.Time // lastAdvert, for the snapshot

	seenMaster netip.Addr    // the last master seen, for counters.MasterChanges
	started    chan struct{} // closed once the instance has its initial state
	beat       atomic.Uint64 // the last watchdog round the loop answered
	runs       checkRuns     // health-check results, counted on the checks' goroutines
}

// received is a valid advert and where it came from.
type received struct {
	p      *vrrp.Packet
	src    netip.Addr
	differ bool // its VIP set differs from ours
}

// warnings rate-limits repeated warnings by key.
type warnings struct {
	last    map[string]time.Time
	skipped map[string]int
}

// allow reports whether the warning key may be logged at now, and how many
// were left out since the last one logged.
func (w *warnings) allow(key string, now time.Time) (bool, int) {
	if w.last == nil {
		w.last, w.skipped = map[string]time.Time{}, map[string]int{}
	}
	if last, ok := w.last[key]; ok && now.Sub(last) < warnEvery {
		w.skipped[key]++
		return false, 0
	}
	n := w.skipped[key]
	w.last[key], w.skipped[key] = now, 0
	return true, n
}

func (a *Agent) newInstance(c *config.Instance, lookup func(string) (*net.Interface, error), anns map[string]Announcer) (*instance, error) {
	ifi, err := lookup(c.Interface)
	if err != nil {
		return nil, err
	}
	in := &instance{
		a: a, cfg: c, clock: a.clock, ifi: ifi,
		log:      a.log.With("instance", c.Name),
		takeover: a.takeovers.of(c.Name),
		six:      c.VIPs[0].Prefix.Addr().Is6(),
		anns:     anns,
		msgs:     make(chan received, rxQueue),
		ctl:      make(chan func(), 64),
		checked:  make(chan checkResult),
		done:     make(chan struct{}),
		started:  make(chan struct{}),
		timer:    a.clock.NewTimer(), garpTimer: a.clock.NewTimer(),
		drops: map[string]uint64{},
	}
	if err := in.setVIPs(c, lookup); err != nil {
		return nil, err
	}
	if err := in.residualVIPs(); err != nil {
		return nil, err
	}
	in.promote()
	return in, nil
}

// setVIPs resolves the VIPs of c to the interfaces they go on; it
// changes nothing when one cannot be resolved.
func (in *instance) setVIPs(c *config.Instance, lookup func(string) (*net.Interface, error)) error {
	var vips []vipOn
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
		vips = append(vips, vipOn{prefix: v.Prefix, index: difi.Index, dev: dev})
		addrs = append(addrs, v.Prefix.Addr())
		byDev[dev] = append(byDev[dev], v.Prefix.Addr())
	}
	in.vips, in.addrs, in.byDev = vips, addrs, byDev
	return nil
}

// promote sets promote_secondaries on the devices of IPv4 VIPs.
func (in *instance) promote() {
	for dev, as := range in.byDev {
		if as[0].Is4() && in.a.env.promote != nil {
			if err := in.a.env.promote(dev); err != nil {
				in.log.Warn("cannot set promote_secondaries: removing a VIP that became primary may remove the addresses of its subnet", "device", dev, "err", err)
			}
		}
	}
}

// residualVIPs looks for VIPs a previous run left on the interfaces. A VIP
// still under a lease (a finite lifetime, which only the agent sets) means
// that the previous agent was master until moments ago and was killed: the
// instance resumes (fsm.Resume) instead of removing it, so a crash restart
// is no outage. A leased VIP that is not resumed is removed: a backup must
// not hold it. (Permanent copies of a VIP, which keepalived leaves after
// SIGKILL or a static alias holds, never get here: the start-up checks
// refuse them before anything is touched, see hostProblems.)
func (in *instance) residualVIPs() error {
	var found []vip.Address
	for _, v := range in.vips {
		fs, err := in.a.env.addrs.Find(v.index, []netip.Prefix{v.prefix})
		if err != nil {
			return fmt.Errorf("agent: instance %s: look for VIPs left by a previous run: %w", in.cfg.Name, err)
		}
		found = append(found, fs...)
	}
	for _, f := range found {
		in.resume = in.resume || f.Leased()
	}
	var removed []netip.Prefix
	for _, f := range found {
		if in.resume && slices.ContainsFunc(in.vips, func(v vipOn) bool { return v.index == f.Index && v.prefix == f.Prefix }) {
			continue // renewed when the instance resumes
		}
		if err := in.a.env.addrs.Remove(f.Index, f.Prefix); err != nil {
			return fmt.Errorf("agent: instance %s: remove VIP %v left by a previous run: %w", in.cfg.Name, f.Prefix, err)
		}
		removed = append(removed, f.Prefix)
	}
	if len(removed) > 0 {
		in.log.Warn("removed stale VIPs left by a previous run", "vips", removed)
	}
	switch {
	case in.resume && in.takeover:
		in.log.Warn("VIPs leased for a takeover (hac apply moving mastership here): resuming as master", "vips", in.prefixes())
	case in.resume:
		in.log.Warn("VIPs still leased from a previous run (killed while master?): resuming as master; a better master makes us step down", "vips", in.prefixes())
	}
	return nil
}

// initMachine builds the state machine and the packet templates once the
// socket (and so the source address) is known.
func (in *instance) initMachine() error {
	c := in.cfg
	m, err := fsm.New(in.fsmConfig(c))
	if err != nil {
		return fmt.Errorf("agent: instance %s: %w", c.Name, err)
	}
	in.m = m
	in.pkt = vrrp.Packet{Version: c.Version, VRID: c.VRID, AdvertInt: time.Duration(c.AdvertInt), Addrs: in.addrs}
	in.expect = expectFor(c, in.src, in.addrs)
	if c.Version == 2 && c.Auth != nil {
		in.pkt.AuthType, in.pkt.Auth = vrrp.AuthPass, vrrp.PassAuth(c.Auth.Pass)
	}
	in.exp.Store(&in.expect)
	switch {
	case c.Unicast:
		in.dsts = c.Peers
	case in.six:
		in.dsts = []netip.Addr{vrrp.GroupIPv6}
	default:
		in.dsts = []netip.Addr{vrrp.GroupIPv4}
	}
	in.lease = leaseOf(c)
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

// deliver checks a received packet on the socket's reader goroutine and
// queues it for the instance if it is a valid advert; an invalid one is
// dropped and counted, and so is a valid one when the queue is full (the
// newest is dropped). Only in.exp, replaced whole by a reload, and
// the drop counters are used here.
func (in *instance) deliver(m netio.Message) { in.deliverAs(m, in.exp.Load()) }

// deliverAs is deliver checking the packet against exp: the instance's
// own expectations, or another identity's it watches (see watcher).
func (in *instance) deliverAs(m netio.Message, exp *vrrp.Expect) {
	p, err := vrrp.Parse(m.Payload, m.Src, m.Dst)
	var differ bool
	if err == nil {
		differ, err = exp.Check(p, m.Src, m.TTL, m.Multicast())
	}
	if err != nil {
		reason := "invalid"
		if de, ok := err.(*vrrp.DropError); ok {
			reason = string(de.Reason)
		}
		in.drop(reason, err)
		return
	}
	select {
	case in.msgs <- received{p: p, src: m.Src, differ: differ}:
	default:
		in.drop("queue_full", errQueueFull)
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
	in.stopChecks = func() { cancel(); checks.Wait() }
	defer func() { in.stopChecks() }() // a reload may replace the checks
	in.startChecks(ctx, &checks)
	now = in.clock.Now()
	in.applyPriority(now)
	in.checkSource(now)
	if in.resume {
		in.do(in.m.Step(now, fsm.Resume{}))
	} else {
		in.do(in.m.Step(now, fsm.Start{}))
	}
	in.publish()
	close(in.started)
	for {
		in.arm()
		in.publish()
		if in.stopping && in.m.State() == fsm.Stopped {
			return
		}
		select {
		case r := <-in.msgs:
			in.receive(r)
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
// make-before-break takeback (keepalived sends the advert first). A send
// failure or a successful send probe is stepped once the actions are done.
func (in *instance) do(acts []fsm.Action) {
	defer in.sendResult()
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
		case fsm.ProbeSend:
			in.probeSend()
		case fsm.Transition:
			in.transition(act)
		case fsm.Warning:
			in.warn("fsm:"+act.Message, act.Message, "peer", addrAttr(act.Peer))
		}
	}
	in.syncGroupStep(acts)
}

// sendResult steps the machine with what send and probe found.
func (in *instance) sendResult() {
	switch {
	case in.sendFailed:
		in.sendFailed = false
		in.do(in.m.Step(in.clock.Now(), fsm.SendFailed{}))
	case in.sendOK:
		in.sendOK = false
		in.log.Info("adverts can be sent again")
		in.do(in.m.Step(in.clock.Now(), fsm.SendRecovered{}))
	}
}

// probeSend checks, without sending, whether adverts could be sent to every
// destination.
func (in *instance) probeSend() {
	for _, dst := range in.dsts {
		if err := in.conn.Probe(in.src, dst); err != nil {
			in.warn("send", "adverts still cannot be sent: FAULT, VIPs removed, probing every advert interval", "dst", dst.String(), "err", err)
			return
		}
	}
	in.sendOK = true
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
	if in.counters.TransitionReasons == nil {
		in.counters.TransitionReasons = map[string]uint64{}
	}
	in.counters.TransitionReasons[t.Reason]++
	in.since, in.reason = now, t.Reason
	in.log.Info("transition", "from", t.From.String(), "to", t.To.String(), "reason", t.Reason, "peer", addrAttr(t.Peer), "priority", in.m.Priority())
	in.notify(t.To)
	if t.To == fsm.Stopped && in.handingOff && !in.stopping {
		// Handoff without stopping: rejoin as a backup that does not
		// preempt back (unless released meanwhile).
		in.handingOff = false
		in.handoffPrio = !in.released
		in.released = false
		in.applyPriority(now)
		in.do(in.m.Step(now, fsm.Start{}))
	}
}

// send sends one advert with priority prio to every destination, and
// renews the VIP lease while the VIPs are ours. When a destination cannot
// be reached the lease is not renewed and the machine goes to FAULT (see
// sendResult): a peer that does not hear us takes over.
func (in *instance) send(prio uint8) {
	p := in.pkt
	p.Priority = prio
	for _, dst := range in.dsts {
		b, err := p.Marshal(in.src, dst)
		if err == nil {
			err = in.conn.Send(b, in.src, dst)
		}
		if err != nil {
			in.counters.SendErrors++
			in.sendFailed = true
			in.warn("send", "cannot send advert: FAULT, VIPs removed until sending works again (counted as send_errors)", "dst", dst.String(), "err", err)
			continue
		}
		in.counters.AdvertsSent++
	}
	if in.held && !in.sendFailed {
		in.renew()
	}
}

// renew has the VIP lease renewed (in a batch with the other instances,
// see renewer), or retries adding the VIPs after a failure.
func (in *instance) renew() {
	now := in.clock.Now()
	if in.addPending {
		in.addVIPs()
		return
	}
	if now.Sub(in.renewed) < leaseRenewal {
		return
	}
	if in.leases == nil {
		for _, v := range in.vips {
			in.leases = append(in.leases, vip.Lease{Index: v.index, Prefix: v.prefix, Lease: in.lease})
		}
	}
	in.counters.LeaseRenewals++
	in.a.renewals.request(in, in.leases)
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
	in.a.renewals.cancel(in) // a renewal after the removal would add them back
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
				in.warn("garp", "cannot send gratuitous ARP/NA", "err", err)
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

// receive gives a valid advert (see deliver) to the machine.
func (in *instance) receive(r received) {
	p := r.p
	if r.differ {
		in.counters.VIPMismatch++
		in.warn("vip_mismatch", "advert with another VIP set: obeyed, but make every node's VIPs the same", "peer", r.src.String(), "theirs", p.Addrs, "ours", in.addrs)
	}
	if p.Version == 3 && p.Checksum != vrrp.ChecksumPseudoHeader {
		in.warn("checksum_form", "peer uses another VRRPv3 checksum form: accepted", "peer", r.src.String(), "form", p.Checksum.String())
	}
	now := in.clock.Now()
	in.counters.AdvertsReceived++
	in.lastAdvert = now
	adv := fsm.Advert{Priority: p.Priority, Src: r.src}
	if p.Version == 3 {
		adv.AdvertInt = p.AdvertInt
	}
	in.do(in.m.Step(now, adv))
}

// errQueueFull is the detail of a queue_full drop.
var errQueueFull = fmt.Errorf("receive queue full (%d valid adverts waiting): the newest dropped; a flood of valid adverts?", rxQueue)

// drop counts a discarded packet and logs why, rate-limited per reason.
// It runs on the socket's reader goroutine; the error is only formatted
// when logged.
func (in *instance) drop(reason string, why error) {
	in.dropMu.Lock()
	defer in.dropMu.Unlock()
	in.drops[reason]++
	if ok, skipped := in.dropLog.allow(reason, in.clock.Now()); ok {
		in.log.Warn("advert dropped (counted in status; logged at most every "+warnEvery.String()+" per reason)", "reason", reason, "detail", why.Error(), "not_logged", skipped)
	}
}

// warn logs a warning, at most once every warnEvery per key, with how
// many were left out since the last.
func (in *instance) warn(key, msg string, args ...any) {
	if ok, skipped := in.warned.allow(key, in.clock.Now()); ok {
		if skipped > 0 {
			args = append(args, "not_logged", skipped)
		}
		in.log.Warn(msg, args...)
	}
}

// concerns reports whether onEvents would act on e: a link change (of
// its interface or a tracked one), a resync, or the removal of one of its
// VIPs; never an address added (the lease renewals' own echoes). It runs
// on the netlink reader's goroutine and reads only what is fixed once the
// instance exists.
func (in *instance) concerns(e vip.Event) bool {
	switch e.Kind {
	case vip.Link, vip.Resync:
		return true
	case vip.AddrAdded:
		return e.Index == in.ifi.Index && e.Prefix.Addr() == in.src // the source is back: out of FAULT at once
	case vip.AddrRemoved:
		if e.Index == in.ifi.Index && e.Prefix.Addr() == in.src {
			return true // a backup goes to FAULT at once
		}
		for _, v := range in.vips {
			if v.index == e.Index && v.prefix.Addr() == e.Prefix.Addr() {
				return true
			}
		}
	}
	return false
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
		case vip.AddrAdded:
			if e.Index == in.ifi.Index && e.Prefix.Addr() == in.src && in.m.State() == fsm.Fault {
				in.probeSend() // back at once, not at the next probe
				in.sendResult()
			}
		case vip.AddrRemoved:
			// A backup sends nothing, so no send failure would tell it;
			// a master finds out at its next advert (send_errors).
			if e.Index == in.ifi.Index && e.Prefix.Addr() == in.src && in.m.State() == fsm.Backup {
				in.warn("source", "our source address was removed from the interface: FAULT until it is back", "source", in.src.String(), "interface", in.cfg.Interface)
				in.do(in.m.Step(now, fsm.SendFailed{}))
			}
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
		in.warn("garp", "cannot send gratuitous ARP/NA", "err", err)
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
		switch {
		case in.handoffPrio:
			in.handoffPrio = false
			in.applyPriority(now)
			return true
		case in.handingOff:
			// Still draining: rejoin at the configured priority.
			in.released = true
			return true
		}
		return false
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
	if m := in.m.Master(); m.IsValid() && m != in.seenMaster {
		in.seenMaster = m
		in.counters.MasterChanges++
	}
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
	s.Counters.TransitionReasons = maps.Clone(in.counters.TransitionReasons)
	s.Tracks, s.Checks = in.itemStates()
	in.mu.Lock()
	changed := in.snap.State != s.State
	in.snap, in.last = s, in.lastAdvert
	in.mu.Unlock()
	if changed {
		in.a.stateChanged()
	}
}

// snapshot returns the last published state with the advert age at now.
func (in *instance) snapshot(now time.Time) status.Instance {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.snap
	in.dropMu.Lock()
	s.Counters.Drops = maps.Clone(in.drops) // counted on the reader goroutine
	in.dropMu.Unlock()
	s.Checks = in.runs.fill(s.Checks)
	s.LastAdvertMillis = -1
	if !in.last.IsZero() {
		s.LastAdvertMillis = now.Sub(in.last).Milliseconds()
	}
	return s
}

// checkSource checks at start, without sending, that adverts could be
// sent (the source address is on the interface, the peers are
// reachable); when not, the instance starts in FAULT instead of waiting
// for the address (or becoming master without a way to advertise) and
// the machine's send probe brings it back once they can.
func (in *instance) checkSource(now time.Time) {
	for _, dst := range in.dsts {
		if err := in.conn.Probe(in.src, dst); err != nil {
			in.warn("source", "adverts cannot be sent (is the source address on the interface?): FAULT until they can, probing every advert interval", "source", in.src.String(), "dst", dst.String(), "err", err)
			in.do(in.m.Step(now, fsm.SendFailed{}))
			return
		}
	}
}
