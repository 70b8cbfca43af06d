package agent

import (
	"time"

	"github.com/hac-project/hac/agent/timerfd"
)

// Clock is the agent's source of time. The real one is [SystemClock];
// tests inject another (or run the real one inside testing/synctest).
type Clock interface {
	Now() time.Time
	// NewTimer returns a stopped timer.
	NewTimer() Timer
}

// Timer is a resettable one-shot timer, like [time.Timer].
type Timer interface {
	// C delivers the time when the timer fires.
	C() <-chan time.Time
	// Reset (re)arms the timer to fire after d.
	Reset(d time.Duration)
	// Stop disarms the timer; nothing is delivered afterwards.
	Stop()
}

// SystemClock is the [Clock] of package time.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer returns a stopped [time.Timer].
func (SystemClock) NewTimer() Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return sysTimer{t}
}

type sysTimer struct{ t *time.Timer }

func (s sysTimer) C() <-chan time.Time   { return s.t.C }
func (s sysTimer) Reset(d time.Duration) { s.t.Reset(d) }
func (s sysTimer) Stop()                 { s.t.Stop() }

// fdClock is the [Clock] an agent New makes runs on: its timers share one
// timerfd and wake the one thread blocked in the runtime's poller, never
// the runtime's monitor thread (see package timerfd).
type fdClock struct{ *timerfd.Clock }

// NewTimer returns a stopped timer of the timerfd.
func (c fdClock) NewTimer() Timer { return c.Clock.NewTimer() }
