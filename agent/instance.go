package agent

import (
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
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/agent/vip"
	"github.com/hac-project/hac/agent/vrrp"
)

// warnEvery is the least time between two log lines of one repeated
// warning (a send failure, a drop reason): the first is logged at once, the
// next ones at most this often with how many were left out.
const warnEvery = 10 * time.Second

// instance runs one VRRP instance: it drives the state machine (package
// fsm) and carries out its actions with the parts it composes, each with
// one job: adv (advert I/O), vips (the leased VIPs), garp (the GARP
// schedule), prio (priority tracking) and checks (running the health
// checks). Its goroutine (run) handles what arrives on its channels; the
// machine's deadline is handled by timeout, on the clock's goroutine (with
// the agent's timerfd clock: as the expiry is read, without waking
// another goroutine, which at an advert a second is most of an idle
// master's cost). Both hold step while they handle anything: everything
// but the snapshot, the channels and what a part's doc says is owned by
// whoever holds it.
type instance struct {
	a     *Agent
	cfg   *config.Instance
	log   *slog.Logger
	clock Clock
	six   bool
	ifi   *net.Interface

	m    *fsm.Machine
	adv  *advertIO
	vips leasedVIPs
	garp garpSchedule
	prio priority

	checks checkRunner

	ctl  chan func()
	done chan struct{}

	group  *syncGroup // nil: not in a sync group (group.go)
	member int        // the instance's index in group

	step   stepLock // held while the instance handles an event
	exited bool     // run has returned: timeout does nothing
	timer  Timer    // the machine's deadline: calls timeout

	linkUp     bool
	resume     bool // VIPs still leased from a previous run at start: fsm.Resume
	sendFailed bool // an advert could not be sent: step fsm.SendFailed
	sendOK     bool // a send probe succeeded: step fsm.SendRecovered
	stopping   bool // the agent is stopping: exit once Stopped
	lastAdvert time.Time
	warned     warnings
	counters   status.Counters
	since      time.Time
	reason     string

	mu   sync.Mutex
	snap status.Instance
	last time.Time // lastAdvert, for the snapshot

	seenMaster netip.Addr    // the last master seen, for counters.MasterChanges
	started    chan struct{} // closed once the instance has its initial state
	beat       atomic.Uint64 // the last watchdog round the loop answered
}

// stepLock is a mutual exclusion lock made of a channel of one slot: a
// goroutine waiting for it is durably blocked to testing/synctest (one
// waiting for a sync.Mutex is not, and would stop a bubble's clock).
type stepLock chan struct{}

// Lock waits for the lock.
func (l stepLock) Lock() { l <- struct{}{} }

// Unlock releases the lock.
func (l stepLock) Unlock() { <-l }

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
	log := a.log.With("instance", c.Name)
	in := &instance{
		a: a, cfg: c, clock: a.clock, ifi: ifi, log: log,
		six:     c.VIPs[0].Prefix.Addr().Is6(),
		adv:     newAdvertIO(a.clock, log),
		vips:    leasedVIPs{mgr: a.env.addrs, renewals: a.renewals, clock: a.clock, log: log},
		garp:    garpSchedule{cfg: c.GARP, timer: a.clock.NewTimer()},
		prio:    priority{takeover: a.takeovers.of(c.Name)},
		checks:  checkRunner{clock: a.clock, run: a.env.run, log: log, results: make(chan checkResult)},
		ctl:     make(chan func(), 64),
		done:    make(chan struct{}),
		started: make(chan struct{}),
		step:    make(stepLock, 1),
	}
	in.timer = a.clock.AfterFunc(in.timeout)
	if err := in.vips.set(c, lookup, anns); err != nil {
		return nil, err
	}
	if err := in.residualVIPs(); err != nil {
		return nil, err
	}
	in.promote()
	return in, nil
}

// promote sets promote_secondaries on the devices of IPv4 VIPs.
func (in *instance) promote() {
	for dev, as := range in.vips.byDev {
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
	resume, removed, err := in.vips.residual()
	if err != nil {
		return fmt.Errorf("agent: instance %s: %w", in.cfg.Name, err)
	}
	in.resume = resume
	if len(removed) > 0 {
		in.log.Warn("removed stale VIPs left by a previous run", "vips", removed)
	}
	switch {
	case in.resume && in.prio.takeover:
		in.log.Warn("VIPs leased for a takeover (hac apply moving mastership here): resuming as master", "vips", in.vips.prefixes())
	case in.resume:
		in.log.Warn("VIPs still leased from a previous run (killed while master?): resuming as master; a better master makes us step down", "vips", in.vips.prefixes())
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
	in.adv.setup(c, in.six, in.vips.addrs)
	in.vips.setLease(leaseOf(c), time.Duration(c.AdvertInt))
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

// run starts the instance and handles what arrives on its channels until
// it has stopped.
func (in *instance) run() {
	defer close(in.done)
	defer in.garp.timer.Stop()
	in.step.Lock()
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
	defer in.checks.halt() // a reload may replace the checks
	in.startChecks(in.checks.first(in.cfg.Checks))
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
		if in.stopped() {
			in.exited = true
			in.timer.Stop()
			in.step.Unlock()
			return
		}
		in.step.Unlock()
		select {
		case r := <-in.adv.msgs:
			in.step.Lock()
			in.receive(r)
		case f := <-in.ctl:
			in.step.Lock()
			f()
		case r := <-in.checks.results:
			in.step.Lock()
			in.setItem(in.clock.Now(), r.item, r.up)
		case <-in.garp.timer.C():
			in.step.Lock()
			in.garpDue()
		}
	}
}

// stopped reports whether the agent is stopping and the instance has
// stopped: run returns. step is held.
func (in *instance) stopped() bool {
	return in.stopping && in.m.State() == fsm.Stopped
}

// timeout steps the machine at its deadline; the timer calls it on the
// clock's goroutine. A call that comes early (the deadline moved meanwhile)
// only re-arms the timer.
func (in *instance) timeout() {
	in.step.Lock()
	defer in.step.Unlock()
	if in.exited {
		return
	}
	in.do(in.m.Step(in.clock.Now(), fsm.Timeout{}))
	in.arm()
	in.publish()
	if in.stopped() {
		select { // wake run to return; a full channel wakes it anyway
		case in.ctl <- func() {}:
		default:
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
	in.garp.arm(now)
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
			in.addVIPs()
		case fsm.RemoveVIPs:
			in.removeVIPs()
		case fsm.SendGratuitous:
			in.burst(in.garp.repeat())
			in.garp.start(in.clock.Now())
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
	if dst, err := in.adv.probe(); err != nil {
		in.warn("send", "adverts still cannot be sent: FAULT, VIPs removed, probing every advert interval", "dst", dst.String(), "err", err)
		return
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
	if t.From == fsm.Master {
		// A master handing off (Draining) keeps its VIPs for a moment,
		// but its GARP bursts still to come would pull the clients back
		// from the new master, which just announced itself.
		in.garp.stop()
	}
	in.notify(t.To)
	if t.To == fsm.Stopped && !in.stopping && in.prio.rejoin() {
		// Handoff without stopping: rejoin as a backup that does not
		// preempt back (unless released meanwhile).
		in.applyPriority(now)
		in.do(in.m.Step(now, fsm.Start{}))
	}
}

// send sends one advert with priority prio to every destination, and
// renews the VIP lease while the VIPs are ours. When a destination cannot
// be reached the lease is not renewed and the machine goes to FAULT (see
// sendResult): a peer that does not hear us takes over.
func (in *instance) send(prio uint8) {
	sent, failed := in.adv.send(prio)
	in.counters.AdvertsSent += uint64(sent)
	for _, f := range failed {
		in.counters.SendErrors++
		in.sendFailed = true
		in.warn("send", "cannot send advert: FAULT, VIPs removed until sending works again (counted as send_errors)", "dst", f.dst.String(), "err", f.err)
	}
	if in.vips.held && !in.sendFailed {
		in.renew()
	}
}

// renew has the VIP lease renewed (in a batch with the other instances,
// see renewer), or retries adding the VIPs after a failure.
func (in *instance) renew() {
	if in.vips.addPending {
		in.addVIPs()
		return
	}
	for _, f := range in.vips.takeFailures() {
		in.warn("renew", "cannot renew the VIP lease: asked again now", "vip", f.prefix.String(), "err", f.err)
	}
	if in.vips.renew() {
		in.counters.LeaseRenewals++
	}
}

// addVIPs adds every VIP with its lease and, when all are there, tells the
// machine so.
func (in *instance) addVIPs() {
	if in.vips.add() {
		in.do(in.m.Step(in.clock.Now(), fsm.VIPsReady{}))
	}
}

// removeVIPs removes the VIPs and cancels the GARP bursts still to come.
func (in *instance) removeVIPs() {
	in.garp.stop()
	in.vips.remove()
}

// burst sends n rounds of gratuitous ARP / NA for every VIP.
func (in *instance) burst(n int) {
	for _, err := range in.vips.announce(n) {
		in.warn("garp", "cannot send gratuitous ARP/NA", "err", err)
	}
}

// garpDue sends the delayed burst and the periodic refresh when due.
func (in *instance) garpDue() {
	if n := in.garp.due(in.clock.Now()); n > 0 {
		in.burst(n)
	}
}

// receive gives a valid advert (see deliver) to the machine.
func (in *instance) receive(r received) {
	p := r.p
	if r.differ {
		in.counters.VIPMismatch++
		in.warn("vip_mismatch", "advert with another VIP set: obeyed, but make every node's VIPs the same", "peer", r.src.String(), "theirs", p.Addrs, "ours", in.vips.addrs)
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
// instance exists, and the VIP list through [leasedVIPs.on].
func (in *instance) concerns(e vip.Event) bool {
	switch e.Kind {
	case vip.Link, vip.Resync:
		return true
	case vip.AddrAdded:
		return e.Index == in.ifi.Index && e.Prefix.Addr() == in.adv.src // the source is back: out of FAULT at once
	case vip.AddrRemoved:
		if e.Index == in.ifi.Index && e.Prefix.Addr() == in.adv.src {
			return true // a backup goes to FAULT at once
		}
		return in.vips.on(e.Index, e.Prefix.Addr())
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
			if e.Index == in.ifi.Index && e.Prefix.Addr() == in.adv.src && in.m.State() == fsm.Fault {
				in.probeSend() // back at once, not at the next probe
				in.sendResult()
			}
		case vip.AddrRemoved:
			// A backup sends nothing, so no send failure would tell it;
			// a master finds out at its next advert (send_errors).
			if e.Index == in.ifi.Index && e.Prefix.Addr() == in.adv.src && in.m.State() == fsm.Backup {
				in.warn("source", "our source address was removed from the interface: FAULT until it is back", "source", in.adv.src.String(), "interface", in.cfg.Interface)
				in.do(in.m.Step(now, fsm.SendFailed{}))
			}
			for _, v := range in.vips.list {
				if v.index == e.Index && v.prefix.Addr() == e.Prefix.Addr() {
					in.restore(v)
				}
			}
		case vip.Resync:
			if up, err := in.a.env.addrs.LinkUp(in.ifi.Index); err == nil {
				in.setLink(now, up)
			}
			for _, v := range in.vips.list {
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
	ok, err := in.vips.restore(v)
	if ok {
		in.counters.VIPRestored++
	}
	if err != nil {
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
		did, changed := in.prio.release()
		if changed {
			in.applyPriority(now)
		}
		return did
	}
	if in.m.State() != fsm.Master || in.stopping {
		return false
	}
	in.prio.handingOff = true
	in.do(in.m.Step(now, fsm.Shutdown{}))
	return true
}

// takeOver raises the priority to TakeoverPriority (ending a handoff), or
// with release restores the configured one; it reports whether it did
// anything.
func (in *instance) takeOver(release bool) bool {
	if in.stopping || !in.prio.setTakeover(!release) {
		return false
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
	// The last snapshot's slices and map are shared with its readers and
	// never changed: they are copied only when they differ, and an idle
	// master's publish at every advert allocates nothing.
	last := in.snap // written by this goroutine alone
	s := status.Instance{
		Name:         in.cfg.Name,
		VRID:         in.cfg.VRID,
		Interface:    in.cfg.Interface,
		State:        in.m.State().String(),
		Priority:     int(in.m.Priority()),
		BasePriority: int(in.cfg.Priority),
		AdvertMillis: time.Duration(in.cfg.AdvertInt).Milliseconds(),
		Master:       in.m.Master(),
		VIPs:         last.VIPs,
		Since:        in.since,
		Reason:       in.reason,
		Counters:     in.counters,
		Tracks:       last.Tracks,
		Checks:       last.Checks,
	}
	if s.VIPs == nil || !slices.Equal(s.VIPs, in.vips.heldPrefix) {
		s.VIPs = append([]netip.Prefix{}, in.vips.heldPrefix...)
	}
	s.Counters.TransitionReasons = last.Counters.TransitionReasons
	if last.Counters.Transitions != in.counters.Transitions { // each transition counts its reason
		s.Counters.TransitionReasons = maps.Clone(in.counters.TransitionReasons)
	}
	if in.prio.changedStates(s.Tracks, s.Checks) {
		s.Tracks, s.Checks = in.prio.states()
	}
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
	s.Counters.Drops = in.adv.dropCounts() // counted on the reader goroutine
	s.Checks = in.checks.runs.fill(s.Checks)
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
	if dst, err := in.adv.probe(); err != nil {
		in.warn("source", "adverts cannot be sent (is the source address on the interface?): FAULT until they can, probing every advert interval", "source", in.adv.src.String(), "dst", dst.String(), "err", err)
		in.do(in.m.Step(now, fsm.SendFailed{}))
	}
}
