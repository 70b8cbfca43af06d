package fsm

import (
	"fmt"
	"net/netip"
	"time"
)

// State is the state of a VRRP instance as RFC 5798 section 6.4 (RFC 3768
// section 6.4 for VRRPv2) names it, plus the Fault, Draining and Stopped
// states keepalived and hac add around the protocol.
type State int

const (
	// Initialize is the state before Start and while waiting to start
	// (RFC 5798 section 6.4.1).
	Initialize State = iota
	// Backup monitors the master and takes over when it disappears
	// (RFC 5798 section 6.4.2). A Backup never holds the VIPs.
	Backup
	// Master holds the VIPs and advertises (RFC 5798 section 6.4.3).
	// A Machine reports Master only after the driver confirmed with
	// [VIPsReady] that the VIPs are on the interface.
	Master
	// Fault means the interface is down or a tracked check failed: no
	// adverts are sent, the VIPs are not held (keepalived's FAULT).
	Fault
	// Draining is the make-before-break handoff after Shutdown in Master:
	// a priority-0 advert was sent but the VIPs are kept until the new
	// master's first advert is seen, bounded in time (hac only).
	Draining
	// Stopped is the state after Shutdown: no adverts, no VIPs.
	Stopped
)

var stateNames = [...]string{
	Initialize: "INIT",
	Backup:     "BACKUP",
	Master:     "MASTER",
	Fault:      "FAULT",
	Draining:   "DRAINING",
	Stopped:    "STOPPED",
}

// String returns the name hac-agent status prints: INIT, BACKUP, MASTER,
// FAULT, DRAINING or STOPPED.
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("State(%d)", int(s))
	}
	return stateNames[s]
}

// An Event is something the driver tells a [Machine] with [Machine.Step]:
// one of [Start], [Resume], [Advert], [Timeout], [Shutdown], [LinkDown],
// [LinkUp], [PriorityChange], [VIPsReady], [SendFailed] or [SendRecovered],
// and for a sync group member [GroupMaster], [GroupBackup], [GroupFault] or
// [GroupRecovered] (see [Group]).
type Event interface{ event() }

// Start starts the instance: the Startup event of RFC 5798 section 6.4.1.
// It is ignored unless the machine is in Initialize or Stopped.
type Start struct{}

// Resume starts the instance like [Start] when the VIPs are still on the
// interface under a lease of ours: a previous run of this node was master
// moments ago and was killed (crash restart). Instead of waiting
// Master_Down_Interval in Backup with the VIPs removed (an outage, since
// the backups still wait for the dead master's Master_Down_Interval too),
// the machine goes to Master at once: it advertises, renews the VIPs and
// announces them, and steps down as RFC 5798 section 6.4.3 says when a
// master with a higher priority (or the same priority and a greater
// address) answers. If the instance cannot run (link down, tracking
// fault), the VIPs are removed. It is ignored unless the machine is in
// Initialize or Stopped.
type Resume struct{}

// Advert is a received advertisement that passed every receive check of
// RFC 5798 section 7.1 (the driver drops invalid packets and its own
// looped-back adverts before they get here).
type Advert struct {
	// Priority is the sender's priority; 0 means the master is stopping.
	Priority uint8
	// AdvertInt is the Max Adver Int field of a VRRPv3 advert. It is
	// ignored for VRRPv2 and when zero.
	AdvertInt time.Duration
	// Src is the advert's IP source address, compared with
	// [Config.Primary] to break ties.
	Src netip.Addr
}

// Timeout tells the machine that the time it returned from
// [Machine.Deadline] has come. A Timeout delivered early does nothing.
type Timeout struct{}

// Shutdown asks the instance to stop gracefully. In Master (and while
// becoming master) it starts the make-before-break handoff: a priority-0
// advert, the VIPs kept in Draining until the new master is seen. A second
// Shutdown while Draining ends the handoff at once.
type Shutdown struct{}

// LinkDown reports that the instance's interface lost its link or went down.
type LinkDown struct{}

// LinkUp reports that the instance's interface is up again.
type LinkUp struct{}

// PriorityChange sets the effective priority (the configured priority
// adjusted by tracking weights). Priority 0 means a tracked item with
// weight 0 failed: the instance goes to Fault until a non-zero priority
// comes back, like keepalived.
type PriorityChange struct {
	Priority uint8
}

// VIPsReady confirms that the VIPs of the last [AddVIPs] are on the
// interface. Only then does the machine send gratuitous ARPs and report
// Master.
type VIPsReady struct{}

func (Start) event()          {}
func (Resume) event()         {}
func (SendFailed) event()     {}
func (SendRecovered) event()  {}
func (Advert) event()         {}
func (Timeout) event()        {}
func (Shutdown) event()       {}
func (LinkDown) event()       {}
func (LinkUp) event()         {}
func (PriorityChange) event() {}
func (VIPsReady) event()      {}

// SendFailed reports that an advert could not be sent (the source
// address was removed, no route to a unicast peer, a firewall refused
// it). An instance that cannot advertise must not keep the VIPs: the
// backups take over after Master_Down_Interval, and a master still holding
// them would make two holders. The machine goes to Fault (a draining one
// stops), removes the VIPs and from then on returns [ProbeSend] every
// Advertisement_Interval until the driver steps [SendRecovered]. The
// driver also steps it when it knows no advert could be sent before one
// is due: before [Start] or [Resume] (the source address is missing at
// start: the instance starts in Fault) and when the source address is
// removed while in Backup (a backup that cannot advertise must not take
// over).
type SendFailed struct{}

// SendRecovered reports that sending works again (a [ProbeSend]
// succeeded): the fault it caused clears and the instance starts over as
// at Startup (RFC 5798 section 6.4.1), unless another fault holds it.
type SendRecovered struct{}

// An Action is something the driver must do, in the order [Machine.Step]
// returns them: one of [SendAdvert], [AddVIPs], [RemoveVIPs],
// [SendGratuitous], [ProbeSend], [Transition] or [Warning], and for a sync
// group member [WantMaster] (for its [Group]).
type Action interface{ action() }

// SendAdvert sends one advertisement with Priority (0: the master is
// stopping, RFC 5798 section 6.4.3) and the locally configured interval.
type SendAdvert struct {
	Priority uint8
}

// AddVIPs adds every VIP of the instance to its interface. When they are
// all there the driver steps the machine with [VIPsReady].
type AddVIPs struct{}

// RemoveVIPs removes every VIP of the instance from its interface and
// cancels any gratuitous ARP still scheduled.
type RemoveVIPs struct{}

// SendGratuitous announces the VIPs: gratuitous ARP for IPv4 and
// unsolicited neighbour advertisements for IPv6 (RFC 5798 section 6.4.1).
// The driver sends a burst at once and owns the rest of the schedule
// (keepalived's garp_master_delay second burst and garp_master_refresh),
// which [RemoveVIPs] cancels.
type SendGratuitous struct{}

// ProbeSend asks the driver whether adverts could be sent now, without
// sending one (nothing may go on the wire in Fault): it steps
// [SendRecovered] when they could.
type ProbeSend struct{}

// Transition reports a change of the reported state, for logs, notify
// hooks and status.
type Transition struct {
	From, To State
	// Reason is one of the Reason constants.
	Reason string
	// Peer is the source of the advert that caused the transition, if any.
	Peer netip.Addr
}

// Warning is something the operator must know, such as two instances
// configured as address owner; the driver logs it.
type Warning struct {
	Message string
	Peer    netip.Addr
}

func (SendAdvert) action()     {}
func (AddVIPs) action()        {}
func (RemoveVIPs) action()     {}
func (SendGratuitous) action() {}
func (ProbeSend) action()      {}
func (Transition) action()     {}
func (Warning) action()        {}

// Reasons given in [Transition].
const (
	// ReasonInit: Initialize to Backup at Start (keepalived's "(init)").
	ReasonInit = "init"
	// ReasonOwner: priority 255 goes to Master at once (RFC 5798 section 6.4.1).
	ReasonOwner = "owner"
	// ReasonMasterDown: the Master_Down_Timer fired, no master was heard
	// (RFC 5798 section 6.4.2).
	ReasonMasterDown = "master_down_timer"
	// ReasonPreempt: the Master_Down_Timer fired while lower-priority
	// adverts were being discarded (RFC 5798 section 6.4.2, Preempt_Mode).
	ReasonPreempt = "preempt"
	// ReasonPriorityZero: the master sent priority 0 and Skew_Time passed
	// (RFC 5798 section 6.4.2).
	ReasonPriorityZero = "priority_zero"
	// ReasonHigherPriority: a master saw an advert with a higher priority
	// (RFC 5798 section 6.4.3).
	ReasonHigherPriority = "higher_priority"
	// ReasonHigherAddress: a master saw an advert with its own priority
	// from a greater primary address (RFC 5798 section 6.4.3).
	ReasonHigherAddress = "higher_address"
	// ReasonShutdown: Shutdown was asked.
	ReasonShutdown = "shutdown"
	// ReasonHandoffDone: a draining node saw the new master's advert.
	ReasonHandoffDone = "handoff_done"
	// ReasonHandoffTimeout: a draining node saw no new master in time.
	ReasonHandoffTimeout = "handoff_timeout"
	// ReasonLinkDown: the interface went down.
	ReasonLinkDown = "link_down"
	// ReasonLinkUp: the interface came back.
	ReasonLinkUp = "link_up"
	// ReasonTrackFault: the effective priority became 0 (a weight-0
	// tracked item failed).
	ReasonTrackFault = "track_fault"
	// ReasonTrackOK: the effective priority is no longer 0.
	ReasonTrackOK = "track_ok"
	// ReasonSendFailed: an advert could not be sent ([SendFailed]).
	ReasonSendFailed = "send_failed"
	// ReasonSendOK: sending works again ([SendRecovered]).
	ReasonSendOK = "send_ok"
	// ReasonResume: a restarted node found its VIPs still leased and
	// resumed as master ([Resume]).
	ReasonResume = "resume"
)
