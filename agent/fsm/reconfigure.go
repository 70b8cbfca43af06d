package fsm

import (
	"errors"
	"fmt"
)

// ErrRestart is returned, wrapped, by [Machine.Reconfigure] for a change
// that a running machine cannot take: the driver restarts the instance
// instead (a make-before-break handoff, then a new machine).
var ErrRestart = errors.New("fsm: needs a restart")

// Reconfigure applies a new configuration to a running machine without
// touching its state, its timers or the VIPs: the reload of an instance
// whose identity on the wire stays the same. It takes changes of
// Priority, Preempt, PreemptDelay and HandoffLinger:
//
//   - Priority is the configured priority, and only [New] reads it: the
//     effective priority comes with [PriorityChange], which the driver
//     steps after Reconfigure (RFC 5798 section 6.4: a master advertises
//     the new priority from its next advert; a backup compares it with
//     the master's on the next advert).
//   - Preempt_Mode is read on every advert in Backup (RFC 5798 section
//     6.4.2), so a change decides the next comparison and moves no
//     mastership by itself.
//   - PreemptDelay applies from the next time the machine enters Backup;
//     a delay already running keeps its end.
//   - HandoffLinger applies to the next handoff.
//   - AdvertGrid applies from the next advert.
//
// Version, AdvertInt, Primary and DownAdverts define what the machine's
// adverts and timers are; a change of any of them returns an error
// wrapping [ErrRestart] (and one wrapping [ErrConfig] for an invalid
// config), and the machine is left as it was.
func (m *Machine) Reconfigure(c Config) error {
	if err := c.check(); err != nil {
		return err
	}
	if c.DownAdverts == 0 {
		c.DownAdverts = DefaultDownAdverts
	}
	old := m.cfg
	switch {
	case c.Version != old.Version:
		return fmt.Errorf("%w: VRRP version %d to %d", ErrRestart, old.Version, c.Version)
	case c.AdvertInt != old.AdvertInt:
		return fmt.Errorf("%w: advert interval %v to %v", ErrRestart, old.AdvertInt, c.AdvertInt)
	case c.Primary != old.Primary:
		return fmt.Errorf("%w: primary address %v to %v", ErrRestart, old.Primary, c.Primary)
	case c.DownAdverts != old.DownAdverts:
		return fmt.Errorf("%w: down adverts %d to %d", ErrRestart, old.DownAdverts, c.DownAdverts)
	}
	m.cfg = c
	return nil
}
