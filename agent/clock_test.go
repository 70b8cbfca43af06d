package agent

import "time"

// fakeClock is a [Clock] whose time moves only when the test sets now;
// its timers record how they were armed and never fire.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time  { return c.now }
func (c *fakeClock) NewTimer() Timer { return &fakeTimer{} }

func (c *fakeClock) AfterFunc(func()) Timer { return &fakeTimer{} }

// fakeTimer records the last Reset or Stop.
type fakeTimer struct {
	armed bool
	d     time.Duration
}

func (t *fakeTimer) C() <-chan time.Time   { return nil }
func (t *fakeTimer) Reset(d time.Duration) { t.armed, t.d = true, d }
func (t *fakeTimer) Stop()                 { t.armed = false }
