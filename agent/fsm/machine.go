// Package fsm is the VRRP state machine of hac agent: RFC 5798 section 6
// (VRRPv3) and RFC 3768 section 6 (VRRPv2), with keepalived 2.2.7's
// behaviour where it differs and hac's make-before-break handoff.
//
// A [Machine] has no clock, no sockets and no goroutines. The driver that
// owns the sockets and the timer calls [Machine.Step] with the current time
// and an [Event], carries out the returned [Action]s in order, and arms one
// timer for [Machine.Deadline], delivering [Timeout] when it fires:
//
//	for {
//		d, ok := m.Deadline()           // re-read after every Step
//		select {
//		case <-timerAt(d, ok):
//			do(m.Step(clock.Now(), fsm.Timeout{}))
//		case adv := <-received:          // valid adverts, not our own
//			do(m.Step(clock.Now(), fsm.Advert{...}))
//		...
//		}
//	}
//
// For each action the driver: [SendAdvert]: sends one advert with that
// priority; [AddVIPs]: adds the VIPs, then steps [VIPsReady] (before any
// other event, so it always answers the latest AddVIPs; on failure it
// retries, the machine keeps advertising meanwhile); [RemoveVIPs]: removes
// them and cancels pending gratuitous ARPs; [SendGratuitous]: sends a
// GARP/NA burst now and schedules the delayed burst and refreshes itself;
// [ProbeSend]: checks whether an advert could be sent now and steps
// [SendRecovered] if so; [Transition]: logs, counts, runs notify hooks;
// [Warning]: logs.
//
// Events the driver steps: [LinkDown] before [Start] if the interface is
// down at start; [Resume] instead of [Start] when the VIPs are still on
// the interface under a lease of a previous run; [SendFailed] when an
// advert could not be sent; [Advert] only for packets that passed every receive check
// and are not our own looped-back adverts; [PriorityChange] whenever the
// effective priority changes (0 for a failed weight-0 tracked item);
// [Shutdown] on SIGTERM, then it waits for [Stopped] (bounded by
// [Machine.Deadline]) before exiting.
package fsm

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Config is what a [Machine] needs from the instance's configuration.
type Config struct {
	// Version is the VRRP version, 2 (RFC 3768) or 3 (RFC 5798).
	Version int
	// Priority is the configured priority, 1 to 255; 255 is the address
	// owner, which becomes master at once and always preempts.
	Priority uint8
	// AdvertInt is the local Advertisement_Interval: whole seconds from
	// 1 s to 255 s for VRRPv2, 10 ms steps from 10 ms to 40.95 s for VRRPv3.
	AdvertInt time.Duration
	// Preempt is Preempt_Mode (RFC 5798 section 6.1; keepalived's default,
	// off with nopreempt). It is always on at priority 255.
	Preempt bool
	// PreemptDelay delays preemption, as keepalived's preempt_delay: for
	// this long after entering Backup at start or link up, and after the
	// first lower-priority advert following an advert of at least our
	// priority, lower-priority adverts are obeyed instead of discarded.
	PreemptDelay time.Duration
	// Primary is our address as peers see it in our adverts' source,
	// compared with theirs, as big-endian numbers, to break priority ties
	// (RFC 5798 section 6.4.3; keepalived's vrrp_saddr_cmp).
	Primary netip.Addr
	// DownAdverts is the number of advert intervals in the
	// Master_Down_Interval; 0 means [DefaultDownAdverts].
	DownAdverts int
	// HandoffLinger is how long a draining node keeps the VIPs after it
	// saw the new master's first advert, to cover the new master adding
	// its VIPs and sending its gratuitous ARPs; 0 removes them at once.
	HandoffLinger time.Duration
	// AdvertGrid, when set, puts a master's adverts on the grid
	// AdvertGrid + k x AdvertInt: after the advert of becoming master (at
	// once, as RFC 5798 section 6.4.2 says) the next one comes at the
	// first grid point after it, at most AdvertInt later, and then one
	// every AdvertInt. The agent gives all its instances one grid (its
	// start), so masters with the same interval advertise in the same
	// instant, one wake-up of the process for all of them, whatever time
	// each became master; receivers see intervals of AdvertInt. Zero:
	// every advert AdvertInt after the last.
	AdvertGrid time.Time
	// Synced makes the instance a member of a sync group (keepalived's
	// vrrp_sync_group): when its Master_Down_Timer fires it returns
	// [WantMaster] and stays Backup until the group's coordinator
	// ([Group]) steps [GroupMaster]. See group.go.
	Synced bool
}

// ErrConfig is returned, wrapped, by [New] for an invalid [Config].
var ErrConfig = errors.New("fsm: invalid config")

func (c *Config) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch c.Version {
	case 2:
		if c.AdvertInt < time.Second || c.AdvertInt > 255*time.Second || c.AdvertInt%time.Second != 0 {
			return bad("VRRPv2 advert interval %v: use whole seconds from 1s to 255s", c.AdvertInt)
		}
	case 3:
		if c.AdvertInt < 10*time.Millisecond || c.AdvertInt > 4095*10*time.Millisecond || c.AdvertInt%(10*time.Millisecond) != 0 {
			return bad("VRRPv3 advert interval %v: use 10ms steps from 10ms to 40.95s", c.AdvertInt)
		}
	default:
		return bad("VRRP version %d: use 2 or 3", c.Version)
	}
	if c.Priority == 0 {
		return bad("priority 0 is reserved for a stopping master: use 1 to 255")
	}
	if !c.Primary.IsValid() {
		return bad("no primary address: set the address our adverts are sent from")
	}
	if c.DownAdverts < 0 || c.PreemptDelay < 0 || c.HandoffLinger < 0 {
		return bad("negative down adverts, preempt delay or handoff linger")
	}
	return nil
}

// Machine is one VRRP instance's state machine. It is not safe for
// concurrent use: one driver goroutine owns it.
type Machine struct {
	cfg      Config
	priority uint8 // effective priority; 0 while a tracked item is in fault

	state    State // protocol state; Master also while becoming master
	reported State // the state last reported by a Transition
	becoming bool  // Master, AddVIPs sent, VIPsReady not yet seen
	pending  Transition
	holding  bool // AddVIPs sent and no RemoveVIPs since

	masterAdverInt time.Duration // v3 Master_Adver_Interval
	master         netip.Addr    // current master as we see it

	timer      time.Time // Master_Down_Timer (Backup) or Adver_Timer (Master, Draining)
	timerCause string    // reason to report when the Master_Down_Timer fires
	drainUntil time.Time // Draining: when the VIPs go whatever happens
	handedOff  bool      // Draining: the new master was seen
	preemptAt  time.Time // lower-priority adverts are discarded from then on; zero: not started

	linkDown  bool
	sendFault bool      // adverts cannot be sent: Fault until SendRecovered
	answered  time.Time // Master: when a lower-priority advert was last answered

	sync syncState // sync group membership (group.go)
}

// New returns a machine in Initialize for cfg, or an error wrapping
// [ErrConfig] saying what to fix.
func New(cfg Config) (*Machine, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.DownAdverts == 0 {
		cfg.DownAdverts = DefaultDownAdverts
	}
	return &Machine{cfg: cfg, priority: cfg.Priority, masterAdverInt: cfg.AdvertInt}, nil
}

// State returns the reported state: it becomes Master only after
// [VIPsReady].
func (m *Machine) State() State { return m.reported }

// Priority returns the effective priority, the one sent in adverts.
func (m *Machine) Priority() uint8 { return m.priority }

// Master returns the current master as this machine sees it: [Config.Primary]
// when master, the source of the last advert heard in Backup, invalid when
// unknown.
func (m *Machine) Master() netip.Addr {
	if m.state == Master || m.state == Draining {
		return m.cfg.Primary
	}
	return m.master
}

// MasterAdverInterval returns Master_Adver_Interval (RFC 5798 section 6.1):
// the interval learned from the master's adverts in Backup, the local one
// otherwise. It is always the local one for VRRPv2.
func (m *Machine) MasterAdverInterval() time.Duration { return m.masterAdverInt }

// Deadline returns when the driver must step [Timeout] next, and false
// when no timer runs. It changes only in Step.
func (m *Machine) Deadline() (time.Time, bool) {
	d := m.timer
	if !m.drainUntil.IsZero() && (d.IsZero() || m.drainUntil.Before(d)) {
		d = m.drainUntil
	}
	return d, !d.IsZero()
}

// Step feeds one event at time now and returns the actions the driver must
// carry out, in order. Events that mean nothing in the current state are
// ignored (nil actions). Step never panics on any sequence of events.
func (m *Machine) Step(now time.Time, ev Event) []Action {
	switch ev := ev.(type) {
	case Start:
		if m.state == Initialize || m.state == Stopped {
			return m.initialize(now, ReasonInit)
		}
	case Resume:
		if m.state == Initialize || m.state == Stopped {
			m.holding = true // the VIPs are on the interface: ours to renew or remove
			return m.initialize(now, ReasonResume)
		}
	case Advert:
		return m.advert(now, ev)
	case Timeout:
		return m.timeout(now)
	case Shutdown:
		return m.shutdown(now)
	case LinkDown:
		m.linkDown = true
		return m.fault(now, ReasonLinkDown, false)
	case LinkUp:
		m.linkDown = false
		if m.state == Fault && m.priority != 0 && !m.sendFault {
			return m.initialize(now, ReasonLinkUp)
		}
	case SendFailed:
		if m.sendFault {
			return nil
		}
		m.sendFault = true
		if m.state == Fault && m.timer.IsZero() {
			m.timer = now.Add(m.cfg.AdvertInt)
		}
		// Nothing can be sent: no priority-0 advert.
		return m.fault(now, ReasonSendFailed, false)
	case SendRecovered:
		if !m.sendFault {
			return nil
		}
		m.sendFault = false
		if m.state == Fault {
			m.timer = time.Time{}
			if !m.linkDown && m.priority != 0 {
				return m.initialize(now, ReasonSendOK)
			}
		}
	case PriorityChange:
		return m.setPriority(now, ev.Priority)
	case GroupMaster, GroupBackup, GroupFault, GroupRecovered:
		return m.groupStep(now, ev)
	case VIPsReady:
		if m.becoming {
			m.becoming = false
			t := m.pending
			t.From = m.reported
			m.reported = Master
			return []Action{SendGratuitous{}, t}
		}
	}
	return nil
}

// initialize is the Startup event of RFC 5798 section 6.4.1, also used when
// a fault clears (keepalived's vrrp_state_leave_fault) and for [Resume].
func (m *Machine) initialize(now time.Time, reason string) []Action {
	m.masterAdverInt = m.cfg.AdvertInt
	m.master = netip.Addr{}
	switch {
	case m.linkDown:
		return m.enterFault(now, nil, ReasonLinkDown)
	case m.priority == 0:
		return m.enterFault(now, nil, ReasonTrackFault)
	case m.sendFault:
		return m.enterFault(now, nil, ReasonSendFailed)
	case m.sync.fault:
		return m.enterFault(now, nil, ReasonSyncGroup)
	}
	if m.priority == 255 || reason == ReasonResume {
		if reason == ReasonInit {
			reason = ReasonOwner
		}
		return m.becomeMaster(now, reason, netip.Addr{})
	}
	m.preemptAt = time.Time{}
	if m.cfg.PreemptDelay > 0 {
		m.preemptAt = now.Add(m.cfg.PreemptDelay)
	}
	return m.enterBackup(now, reason, netip.Addr{})
}

// enterBackup goes to Backup with the Master_Down_Timer at
// Master_Down_Interval, removing the VIPs if held.
func (m *Machine) enterBackup(now time.Time, reason string, peer netip.Addr) []Action {
	acts := m.release()
	m.sync.want = false
	m.state = Backup
	m.drainUntil = time.Time{}
	m.startDownTimer(now, m.masterDownInterval())
	return append(acts, m.report(Backup, reason, peer)...)
}

// becomeMaster is the Master_Down_Timer expiry of RFC 5798 section 6.4.2
// and the owner case of section 6.4.1: advert first, then the VIPs
// (keepalived's order); GARP and the Transition follow VIPsReady.
func (m *Machine) becomeMaster(now time.Time, reason string, peer netip.Addr) []Action {
	m.state = Master
	m.sync.want = false
	m.masterAdverInt = m.cfg.AdvertInt
	m.timer = m.nextAdvert(now)
	m.drainUntil = time.Time{}
	m.becoming = true
	m.holding = true
	m.answered = time.Time{}
	m.pending = Transition{To: Master, Reason: reason, Peer: peer}
	return []Action{SendAdvert{Priority: m.priority}, AddVIPs{}}
}

// release removes the VIPs if this machine holds them.
func (m *Machine) release() []Action {
	m.becoming = false
	if !m.holding {
		return nil
	}
	m.holding = false
	return []Action{RemoveVIPs{}}
}

// report moves the reported state to s, with a Transition when it changes.
func (m *Machine) report(s State, reason string, peer netip.Addr) []Action {
	if m.reported == s {
		return nil
	}
	t := Transition{From: m.reported, To: s, Reason: reason, Peer: peer}
	m.reported = s
	return []Action{t}
}

func (m *Machine) startDownTimer(now time.Time, d time.Duration) {
	m.timer = now.Add(d)
	m.timerCause = ReasonMasterDown
}

func (m *Machine) masterDownInterval() time.Duration {
	return MasterDownInterval(m.cfg.Version, m.priority, m.masterAdverInt, m.cfg.DownAdverts)
}

// preempt reports whether Preempt_Mode is on: always at priority 255
// (keepalived clears nopreempt for the owner).
func (m *Machine) preempt() bool { return m.cfg.Preempt || m.priority == 255 }

// adoptInterval sets Master_Adver_Interval from a VRRPv3 advert (RFC 5798
// sections 6.4.2 and 6.4.3).
func (m *Machine) adoptInterval(a Advert) {
	if m.cfg.Version == 3 && a.AdvertInt > 0 {
		m.masterAdverInt = a.AdvertInt
	}
}

func (m *Machine) advert(now time.Time, a Advert) []Action {
	if a.Src == m.cfg.Primary && (m.state == Backup || m.state == Master || m.state == Draining) {
		return []Action{Warning{Message: "advert received with our own source address: another node uses our address, or the driver did not filter our own adverts", Peer: a.Src}}
	}
	switch m.state {
	case Backup:
		return m.backupAdvert(now, a)
	case Master:
		return m.masterAdvert(now, a)
	case Draining:
		if m.handedOff {
			return nil
		}
		if a.Priority == 0 {
			// Another master is stopping too (a split brain that
			// healed): only the greater address keeps draining.
			if a.Src.Compare(m.cfg.Primary) > 0 {
				return m.stop(ReasonHigherAddress, a.Src)
			}
			return nil
		}
		m.handedOff = true
		m.master = a.Src
		m.timer = time.Time{}
		if m.cfg.HandoffLinger == 0 {
			return m.stop(ReasonHandoffDone, a.Src)
		}
		if until := now.Add(m.cfg.HandoffLinger); until.Before(m.drainUntil) {
			m.drainUntil = until
		}
		m.pending = Transition{Reason: ReasonHandoffDone, Peer: a.Src}
	}
	return nil
}

// backupAdvert is RFC 5798 section 6.4.2 on receiving an ADVERTISEMENT,
// with keepalived's preempt_delay.
func (m *Machine) backupAdvert(now time.Time, a Advert) []Action {
	m.master = a.Src
	switch {
	case a.Priority == 0:
		m.sync.want = false
		m.timer = now.Add(SkewTime(m.cfg.Version, m.priority, m.masterAdverInt))
		m.timerCause = ReasonPriorityZero
	case !m.preempt() || a.Priority >= m.priority || m.preemptDelayed(now):
		m.sync.want = false
		m.adoptInterval(a)
		m.startDownTimer(now, m.masterDownInterval())
		if m.cfg.PreemptDelay > 0 {
			if a.Priority >= m.priority {
				m.preemptAt = time.Time{}
			} else if m.preemptAt.IsZero() {
				m.preemptAt = now.Add(m.cfg.PreemptDelay)
			}
		}
	default:
		// Lower priority and preemption allowed: discard it, the timer
		// keeps running and we take over when it fires.
		m.timerCause = ReasonPreempt
	}
	return nil
}

// preemptDelayed reports whether preempt_delay still forbids preempting.
func (m *Machine) preemptDelayed(now time.Time) bool {
	return m.cfg.PreemptDelay > 0 && (m.preemptAt.IsZero() || now.Before(m.preemptAt))
}

// nextAdvert is when a master that advertised at now advertises next:
// Advertisement_Interval later, or the first point of the AdvertGrid
// after now (at most that much later).
func (m *Machine) nextAdvert(now time.Time) time.Time {
	since := now.Sub(m.cfg.AdvertGrid)
	if m.cfg.AdvertGrid.IsZero() || since < 0 {
		return now.Add(m.cfg.AdvertInt)
	}
	return m.cfg.AdvertGrid.Add((since/m.cfg.AdvertInt + 1) * m.cfg.AdvertInt)
}

// advertOnlys holds, for every priority, the actions of an advert and
// nothing else: what a master's every Advertisement_Interval asks for.
// They are built once and shared (read-only, capacity 1, so an append
// copies), and an idle master's step allocates nothing: an agent that
// allocates nothing at rest never runs the garbage collector.
var advertOnlys = func() (a [256][1]Action) {
	for p := range a {
		a[p][0] = SendAdvert{Priority: uint8(p)}
	}
	return a
}()

// advertOnly returns the actions of one advert with priority p alone.
func advertOnly(p uint8) []Action { return advertOnlys[p][:1:1] }

// masterAdvert is RFC 5798 section 6.4.3 on receiving an ADVERTISEMENT,
// with keepalived's answers to a lower priority and to a second owner.
func (m *Machine) masterAdvert(now time.Time, a Advert) []Action {
	if a.Priority == 0 {
		m.timer = m.nextAdvert(now)
		return advertOnly(m.priority)
	}
	var acts []Action
	cmp := a.Src.Compare(m.cfg.Primary)
	if a.Priority == 255 && m.priority == 255 {
		// keepalived: "CONFIGURATION ERROR: local instance and a remote
		// instance are both configured as address owner", and it drops
		// its own priority to 254 so that one of them wins.
		m.priority = 254
		acts = append(acts, Warning{Message: "configuration error: another node is also address owner (priority 255); lowering our priority to 254", Peer: a.Src})
	}
	if a.Priority > m.priority || (a.Priority == m.priority && cmp > 0) {
		reason := ReasonHigherPriority
		if a.Priority == m.priority {
			reason = ReasonHigherAddress
		}
		m.adoptInterval(a)
		m.preemptAt = time.Time{}
		m.master = a.Src
		return append(acts, m.enterBackup(now, reason, a.Src)...)
	}
	// Lower priority (or equal from a lower address): RFC 5798 discards
	// it; keepalived sends its own advert at once ("forcing new
	// election") and gratuitous ARPs, so a node that just came back
	// learns who is master and clients that followed it come back. hac
	// answers at most once per Advertisement_Interval: a flood of
	// lower-priority adverts must not become a flood of adverts and
	// broadcast ARPs, and a peer hears our next advert within an
	// interval anyway.
	if !m.answered.IsZero() && now.Sub(m.answered) < m.cfg.AdvertInt {
		return acts
	}
	m.answered = now
	acts = append(acts, SendAdvert{Priority: m.priority})
	if !m.becoming {
		acts = append(acts, SendGratuitous{})
	}
	return acts
}

func (m *Machine) timeout(now time.Time) []Action {
	if !m.drainUntil.IsZero() && !now.Before(m.drainUntil) {
		reason, peer := ReasonHandoffTimeout, netip.Addr{}
		if m.handedOff {
			reason, peer = m.pending.Reason, m.pending.Peer
		}
		return m.stop(reason, peer)
	}
	if m.timer.IsZero() || now.Before(m.timer) {
		return nil
	}
	switch m.state {
	case Fault:
		if m.sendFault {
			m.timer = now.Add(m.cfg.AdvertInt)
			return []Action{ProbeSend{}}
		}
	case Backup:
		if m.cfg.Synced {
			return m.wantMaster(now)
		}
		return m.becomeMaster(now, m.timerCause, m.master)
	case Master:
		m.timer = m.nextAdvert(now)
		return advertOnly(m.priority)
	case Draining:
		m.timer = now.Add(m.cfg.AdvertInt)
		return advertOnly(0)
	}
	return nil
}

// shutdown is RFC 5798 section 6.4.2/6.4.3's Shutdown event, with hac's
// make-before-break handoff in Master: the priority-0 advert makes the
// backups take over after Skew_Time, but the VIPs stay until the new
// master's advert is seen. The priority-0 advert is repeated every
// Advertisement_Interval in case it is lost (a backup's Skew_Time is always
// shorter). The handoff is bounded by DownAdverts+1 intervals: a backup
// takes over at most Master_Down_Interval (DownAdverts intervals plus a
// Skew_Time under one interval) after our last advert.
func (m *Machine) shutdown(now time.Time) []Action {
	switch m.state {
	case Master:
		m.state = Draining
		m.becoming = false
		m.handedOff = false
		m.timer = now.Add(m.cfg.AdvertInt)
		m.drainUntil = now.Add(time.Duration(m.cfg.DownAdverts+1) * m.cfg.AdvertInt) // election.HandoffTime at the default DownAdverts
		return append([]Action{SendAdvert{Priority: 0}}, m.report(Draining, ReasonShutdown, netip.Addr{})...)
	case Draining:
		return m.stop(ReasonShutdown, netip.Addr{})
	case Stopped:
		return nil
	}
	return m.stop(ReasonShutdown, netip.Addr{})
}

// stop goes to Stopped, removing the VIPs if held.
func (m *Machine) stop(reason string, peer netip.Addr) []Action {
	acts := m.release()
	m.state = Stopped
	m.timer, m.drainUntil = time.Time{}, time.Time{}
	m.handedOff = false
	return append(acts, m.report(Stopped, reason, peer)...)
}

// fault goes to Fault from any running state. A master leaving for a
// tracking fault sends priority 0 first, like keepalived, so a backup takes
// over after Skew_Time; after a link loss or a send failure nothing can be
// sent.
func (m *Machine) fault(now time.Time, reason string, sendZero bool) []Action {
	var acts []Action
	switch m.state {
	case Initialize, Fault, Stopped:
		return nil
	case Draining:
		return m.stop(reason, netip.Addr{})
	case Master:
		if sendZero {
			acts = append(acts, SendAdvert{Priority: 0})
		}
	}
	return m.enterFault(now, acts, reason)
}

// enterFault goes to Fault after acts, removing the VIPs if held. The only
// timer in Fault is the send probe while adverts cannot be sent.
func (m *Machine) enterFault(now time.Time, acts []Action, reason string) []Action {
	acts = append(acts, m.release()...)
	m.state = Fault
	m.sync.want = false
	m.timer, m.drainUntil = time.Time{}, time.Time{}
	if m.sendFault {
		m.timer = now.Add(m.cfg.AdvertInt)
	}
	m.masterAdverInt = m.cfg.AdvertInt
	m.master = netip.Addr{}
	return append(acts, m.report(Fault, reason, netip.Addr{})...)
}

// setPriority applies a new effective priority. Nothing else changes at
// once: a master keeps advertising the new priority and a preempting
// backup takes over, and a backup whose priority now beats the master's
// discards its adverts and takes over when its timer fires (RFC 5798
// section 6.4.2). Priority 0 is keepalived's fault of a weight-0 tracked
// item.
func (m *Machine) setPriority(now time.Time, p uint8) []Action {
	old := m.priority
	m.priority = p
	switch {
	case p == 0:
		return m.fault(now, ReasonTrackFault, true)
	case old == 0 && m.state == Fault && !m.linkDown && !m.sendFault:
		return m.initialize(now, ReasonTrackOK)
	}
	return nil
}
