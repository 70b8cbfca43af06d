package fsm

import (
	"net/netip"
	"time"
)

// Sync groups: keepalived's vrrp_sync_group (vrrp_sync.c), instances of
// one node that fail over together, e.g. the inside and the outside VIP of
// a router. Each member is a [Machine] with [Config.Synced]; a [Group]
// coordinates them without a clock or sockets: after every Step of a
// member the driver hands the member's [MemberStatus] and actions to
// [Group.Update], and steps the returned [Order]s into the members (whose
// actions go to Update again). keepalived's rules:
//
//   - One member in FAULT puts the group in FAULT: every other member goes
//     to Fault too ([GroupFault]; a master sends priority 0 first, so the
//     peers take over after Skew_Time). The group leaves FAULT when no
//     member has a fault of its own any more: every member starts over
//     as at Startup ([GroupRecovered]).
//   - A member whose Master_Down_Timer fires asks to become master
//     ([WantMaster]) and stays Backup (its timer restarted) unless every
//     other member wants master too, or is master already: "prefer backup
//     state to avoid thrashing". Then every Backup member becomes master
//     at once ([GroupMaster]).
//   - A member that becomes master by other means (resume after a crash)
//     takes the Backup members with it; a master that steps down to
//     Backup (a higher priority heard) takes the other masters with it
//     ([GroupBackup]).
//
// The group's own state (for its notify commands) is Fault while a member
// has a fault of its own, Master while a member reports Master, Stopped
// once every member stopped, and Backup otherwise.

// syncState is a Machine's part in a sync group.
type syncState struct {
	fault  bool       // the group is in FAULT (GroupFault without GroupRecovered)
	want   bool       // the Master_Down_Timer fired: waiting for the group
	reason string     // the timer's cause, reported when the group lets us go
	peer   netip.Addr // the master we stopped hearing
}

// GroupMaster tells a sync group member in Backup to become master now,
// because the group goes to MASTER (keepalived's vrrp_sync_master). It is
// ignored in any other state.
type GroupMaster struct{}

// GroupBackup tells a sync group member in Master to step down to Backup,
// because another member did (keepalived's vrrp_sync_backup). It is
// ignored in any other state.
type GroupBackup struct{}

// GroupFault puts a sync group member in Fault because another member is
// (keepalived's vrrp_sync_fault): a master sends priority 0 first. The
// member stays in Fault until [GroupRecovered].
type GroupFault struct{}

// GroupRecovered clears a [GroupFault]: a member with no fault of its own
// starts over as at Startup (RFC 5798 section 6.4.1).
type GroupRecovered struct{}

func (GroupMaster) event()    {}
func (GroupBackup) event()    {}
func (GroupFault) event()     {}
func (GroupRecovered) event() {}

// WantMaster is returned by a sync group member in Backup whose
// Master_Down_Timer fired: it would become master, and waits for its group
// ([Group.Update] answers with [GroupMaster] when every member wants it).
// The timer is restarted at Master_Down_Interval meanwhile.
type WantMaster struct{}

func (WantMaster) action() {}

// ReasonSyncGroup: the transition follows the member's sync group.
const ReasonSyncGroup = "sync_group"

// MemberStatus is what a [Group] needs to know of a member, from
// [Machine.Status].
type MemberStatus struct {
	// State is the protocol state: Master also while becoming master.
	State State
	// Reported is the state last reported by a Transition.
	Reported State
	// WantMaster: the Master_Down_Timer fired and the member waits for
	// the group.
	WantMaster bool
	// Faulted: the member has a fault of its own (link down, a weight-0
	// tracked item down, adverts that cannot be sent), not only the
	// group's.
	Faulted bool
}

// Status returns what a [Group] needs to know of the machine.
func (m *Machine) Status() MemberStatus {
	return MemberStatus{
		State:      m.state,
		Reported:   m.reported,
		WantMaster: m.sync.want,
		Faulted:    m.linkDown || m.priority == 0 || m.sendFault,
	}
}

// wantMaster is a synced member's Master_Down_Timer expiry: ask the group.
func (m *Machine) wantMaster(now time.Time) []Action {
	m.sync.want = true
	m.sync.reason, m.sync.peer = m.timerCause, m.master
	m.startDownTimer(now, m.masterDownInterval())
	m.timerCause = m.sync.reason
	return []Action{WantMaster{}}
}

// groupStep handles the events of the member's [Group].
func (m *Machine) groupStep(now time.Time, ev Event) []Action {
	switch ev.(type) {
	case GroupMaster:
		if m.state != Backup {
			return nil
		}
		reason, peer := ReasonSyncGroup, netip.Addr{}
		if m.sync.want {
			reason, peer = m.sync.reason, m.sync.peer
		}
		return m.becomeMaster(now, reason, peer)
	case GroupBackup:
		if m.state != Master {
			return nil
		}
		return m.enterBackup(now, ReasonSyncGroup, netip.Addr{})
	case GroupFault:
		m.sync.fault = true
		return m.fault(now, ReasonSyncGroup, true)
	case GroupRecovered:
		if !m.sync.fault {
			return nil
		}
		m.sync.fault = false
		if m.state == Fault && !m.Status().Faulted {
			return m.initialize(now, ReasonSyncGroup)
		}
	}
	return nil
}

// Order is an event the driver must step into member Member of a [Group].
type Order struct {
	Member int
	Event  Event
}

// Group coordinates the members of one sync group. It is pure: no clock,
// no sockets; one driver owns it.
type Group struct {
	members []MemberStatus
	fault   bool
	state   State
}

// NewGroup returns the coordinator of a sync group of n members, in
// Initialize.
func NewGroup(n int) *Group {
	return &Group{members: make([]MemberStatus, n)}
}

// State returns the group's state: Initialize before any member started,
// then Backup, Master, Fault or Stopped (see the package's sync group
// rules).
func (g *Group) State() State { return g.state }

// FaultEvent returns the fault event that holds now: [GroupFault] while
// the group is in FAULT, [GroupRecovered] otherwise. A driver whose
// members run concurrently steps this instead of a [GroupFault] or
// [GroupRecovered] order that was delayed on its way (both are idempotent),
// so a late order never contradicts a later one.
func (g *Group) FaultEvent() Event {
	if g.fault {
		return GroupFault{}
	}
	return GroupRecovered{}
}

// Update records member i's status after a Step whose actions (already
// carried out by the driver) were acts, and returns the events to step
// into members, in order, and the group's Transition when its state
// changed (nil otherwise). Every member's Step must reach Update,
// including the steps of the returned orders.
func (g *Group) Update(i int, st MemberStatus, acts []Action) ([]Order, *Transition) {
	g.members[i] = st
	var orders []Order
	order := func(ev Event, pick func(j int, o MemberStatus) bool) {
		for j, o := range g.members {
			if pick(j, o) {
				orders = append(orders, Order{Member: j, Event: ev})
			}
		}
	}
	other := func(s State) func(int, MemberStatus) bool {
		return func(j int, o MemberStatus) bool { return j != i && o.State == s }
	}
	anyFault := false
	for _, o := range g.members {
		anyFault = anyFault || o.Faulted
	}
	reason := ""
	for _, a := range acts {
		if t, ok := a.(Transition); ok && reason == "" {
			reason = t.Reason
		}
	}
	all := func(int, MemberStatus) bool { return true }
	switch {
	case anyFault && !g.fault:
		g.fault = true
		order(GroupFault{}, all)
	case !anyFault && g.fault:
		g.fault = false
		order(GroupRecovered{}, all)
	case !anyFault:
		for _, a := range acts {
			switch a := a.(type) {
			case Transition:
				switch {
				case a.To == Master:
					order(GroupMaster{}, other(Backup))
				case a.From == Master && a.To == Backup:
					order(GroupBackup{}, other(Master))
				}
			case WantMaster:
				if g.state == Master || g.othersWant(i) {
					order(GroupMaster{}, func(_ int, o MemberStatus) bool { return o.State == Backup })
				}
			}
		}
	}
	return orders, g.transition(reason)
}

// othersWant reports whether every member but i wants master or is master
// (keepalived's vrrp_sync_can_goto_master).
func (g *Group) othersWant(i int) bool {
	for j, o := range g.members {
		if j != i && !o.WantMaster && o.State != Master {
			return false
		}
	}
	return true
}

// transition derives the group's state and reports a change.
func (g *Group) transition(reason string) *Transition {
	s := Backup
	stopped, started := true, true
	for _, o := range g.members {
		if o.Reported == Master || o.Reported == Draining {
			s = Master
		}
		stopped = stopped && o.State == Stopped
		started = started && o.Reported != Initialize
	}
	switch {
	case !started && s != Master:
		s = Initialize
	case g.fault:
		s = Fault
	case stopped:
		s = Stopped
	}
	if s == g.state {
		return nil
	}
	t := &Transition{From: g.state, To: s, Reason: reason}
	g.state = s
	return t
}
