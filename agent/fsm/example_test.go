package fsm_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/hac-project/hac/agent/fsm"
)

// A driver steps the machine with the time and an event, carries out the
// actions in order, and arms its timer for Deadline.
func Example() {
	m, err := fsm.New(fsm.Config{
		Version: 3, Priority: 100, AdvertInt: 100 * time.Millisecond, Preempt: true,
		Primary: netip.MustParseAddr("198.18.0.2"),
	})
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var do func(now time.Time, ev fsm.Event)
	do = func(now time.Time, ev fsm.Event) {
		for _, a := range m.Step(now, ev) {
			fmt.Printf("%v: %T %+v\n", now.Sub(start), a, a)
			if _, ok := a.(fsm.AddVIPs); ok {
				// Add the VIPs with netlink here, then:
				do(now, fsm.VIPsReady{})
			}
		}
	}
	do(start, fsm.Start{})
	d, _ := m.Deadline() // no master heard: take over at Master_Down_Interval
	do(d, fsm.Timeout{})
	do(d.Add(50*time.Millisecond), fsm.Shutdown{}) // make-before-break
	do(d.Add(111*time.Millisecond), fsm.Advert{Priority: 90, AdvertInt: 100 * time.Millisecond, Src: netip.MustParseAddr("198.18.0.3")})
	// Output:
	// 0s: fsm.Transition {From:INIT To:BACKUP Reason:init Peer:invalid IP}
	// 360.9375ms: fsm.SendAdvert {Priority:100}
	// 360.9375ms: fsm.AddVIPs {}
	// 360.9375ms: fsm.SendGratuitous {}
	// 360.9375ms: fsm.Transition {From:BACKUP To:MASTER Reason:master_down_timer Peer:invalid IP}
	// 410.9375ms: fsm.SendAdvert {Priority:0}
	// 410.9375ms: fsm.Transition {From:MASTER To:DRAINING Reason:shutdown Peer:invalid IP}
	// 471.9375ms: fsm.RemoveVIPs {}
	// 471.9375ms: fsm.Transition {From:DRAINING To:STOPPED Reason:handoff_done Peer:198.18.0.3}
}
