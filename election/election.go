// Package election is VRRP's election semantics in one place, used by the
// compiler (rules and the failover table), hac explain, hac status and the
// agent: the owner rule and the priority range, the effective priority
// under tracked interfaces and checks (keepalived's rules), the timers
// (Skew_Time, Master_Down_Interval) and who becomes master when each
// tracked thing fails.
package election

import (
	"fmt"
	"time"
)

// The priorities of RFC 5798 section 5.2.4.
const (
	// OwnerPriority is the priority of the address owner: the router whose
	// own interface address is the virtual address advertises 255 (RFC
	// 5798 section 6.1).
	OwnerPriority = 255
	// MaxPriority is the highest priority of a router that is not the
	// owner.
	MaxPriority = 254
	// MinPriority is the lowest configured priority (0 is a stopping
	// master's advert).
	MinPriority = 1
)

// CheckPriority is the owner rule of a hac cluster. A VIP is never a
// node's address in hac (a static copy of it would answer ARP on that node
// while another holds it), so no node owns an address and every priority
// is 1..254; 255 is refused with the reason.
func CheckPriority(p int) error {
	switch {
	case p == OwnerPriority:
		return fmt.Errorf("priority 255 is the address owner's (RFC 5798 section 6.1: the router whose own interface address is the VIP); in hac a VIP is never a node's address, so no node owns it: use %d..%d", MinPriority, MaxPriority)
	case p < MinPriority || p > MaxPriority:
		return fmt.Errorf("priority %d is out of range: use %d..%d", p, MinPriority, MaxPriority)
	}
	return nil
}

// Item is a tracked interface or a health check as the election sees it.
type Item struct {
	// Weight is added to the priority while the item is up (>0) or while
	// it is down (<0); 0 puts the instance in FAULT while it is down.
	Weight int
	Up     bool
}

// Effective is the priority an instance of base priority base advertises
// with the items in their current state, as keepalived 2.2.7 computes it
// (vrrp.c): a positive weight is added while its item is up, a negative
// one while it is down, and the sum is clamped to 1..254; a weight-0 item
// that is down gives 0 (FAULT). The owner (255) keeps 255: keepalived
// stops tracking its weighted items (any other priority would make it a
// non-owner), while a weight-0 item still puts it in FAULT.
func Effective(base uint8, items []Item) uint8 {
	sum := 0
	for _, it := range items {
		switch {
		case it.Weight == 0:
			if !it.Up {
				return 0
			}
		case base == OwnerPriority:
		case it.Weight > 0 && it.Up, it.Weight < 0 && !it.Up:
			sum += it.Weight
		}
	}
	if base == OwnerPriority {
		return OwnerPriority
	}
	return uint8(min(max(int(base)+sum, MinPriority), MaxPriority))
}

// DefaultDownAdverts is the number of advert intervals in the
// Master_Down_Interval: 3 in RFC 5798 section 6.1, keepalived's default
// down_timer_adverts.
const DefaultDownAdverts = 3

// SkewTime is the Skew_Time of RFC 5798 section 6.1 for a backup of the
// given priority: ((256 - priority) * masterAdverInt) / 256 for VRRPv3, and
// (256 - priority) / 256 seconds for VRRPv2 (RFC 3768 section 6.1, where it
// does not depend on the interval). It multiplies before dividing, so v3
// priority 100 at 1 s gives exactly 0.609375 s.
func SkewTime(version int, priority uint8, masterAdverInt time.Duration) time.Duration {
	if version == 2 {
		masterAdverInt = time.Second
	}
	return time.Duration(256-int64(priority)) * masterAdverInt / 256
}

// HandoffTime is the longest a master's graceful handoff (make-before-
// break, on stop, reload or hac-agent handoff) lasts with advert interval
// advert: DefaultDownAdverts+1 intervals, since a backup takes over at
// most a Master_Down_Interval (DefaultDownAdverts intervals and a
// Skew_Time under one more) after the draining master's last advert, and
// the master keeps its VIPs until then.
func HandoffTime(advert time.Duration) time.Duration {
	return time.Duration(DefaultDownAdverts+1) * advert
}

// StopMargin is what a graceful stop or reload of an agent takes beyond
// its handoffs: removing the VIPs, starting notify commands, closing
// sockets.
const StopMargin = 10 * time.Second

// StopTime bounds a graceful stop or reload of an agent whose longest
// advert interval (over the configuration it runs and the one it
// reloads) is longest: its instances hand off in parallel. It is the
// unit's TimeoutStopSec, part of its TimeoutStartSec (which bounds
// ExecReload too), what hac-agent reload waits for the answer, and part
// of the time hac apply gives an activation.
func StopTime(longest time.Duration) time.Duration {
	return HandoffTime(longest) + StopMargin
}

// MasterDownInterval is the Master_Down_Interval of RFC 5798 section 6.1:
// downAdverts * masterAdverInt + Skew_Time (downAdverts is 3 in the RFC,
// keepalived's down_timer_adverts): how long after the master's last
// advert a backup takes over, the expected failover time when the master
// dies. For VRRPv2 (RFC 3768 section 6.1) masterAdverInt is the local
// Advertisement_Interval. Priority 150, v2, 1 s gives 3.4140625 s;
// priority 200, v3, 0.5 s gives 1.609375 s.
func MasterDownInterval(version int, priority uint8, masterAdverInt time.Duration, downAdverts int) time.Duration {
	return time.Duration(downAdverts)*masterAdverInt + SkewTime(version, priority, masterAdverInt)
}
