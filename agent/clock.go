package agent

import (
	"time"

	"github.com/hac-project/hac/agent/timerfd"
)

// Clock is the agent's source of time. The real one is [SystemClock];
// tests inject another (or run the real one inside testing/synctest).
type Clock interface {
	Now() time.Time
	// NewTimer returns a stopped timer that delivers on its channel.
	NewTimer() Timer
	// AfterFunc returns a stopped timer that calls f each time it fires,
	// never on the goroutine that arms it, and whose C delivers nothing.
	// As with [time.AfterFunc], f may run once after a Stop or Reset that
	// comes when it is already due: f finds out whether it is still
	// wanted.
	AfterFunc(f func()) Timer
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

// AfterFunc returns a stopped [time.AfterFunc] timer: f runs on a
// goroutine of its own.
func (SystemClock) AfterFunc(f func()) Timer {
	t := time.AfterFunc(time.Hour, f)
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

// AfterFunc returns a stopped timer of the timerfd that calls f on the
// clock's goroutine, as the expiry is read.
func (c fdClock) AfterFunc(f func()) Timer { return c.Clock.AfterFunc(f) }
