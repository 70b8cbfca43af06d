package timerfd

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// wait is the most a test waits for a timer that should fire (they are
// set for milliseconds): a bound for a broken clock, not a timing.
const wait = 10 * time.Second

func newClock(t *testing.T) *Clock {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Err(); err != nil {
			t.Error(err)
		}
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// recv returns the value t delivers, failing the test after wait.
func recv(t *testing.T, tm *Timer, what string) time.Time {
	t.Helper()
	select {
	case v := <-tm.C():
		return v
	case <-time.After(wait):
		t.Fatalf("%s did not fire within %v", what, wait)
		return time.Time{}
	}
}

func empty(t *testing.T, tm *Timer, what string) {
	t.Helper()
	select {
	case v := <-tm.C():
		t.Errorf("%s delivered %v, want nothing", what, v)
	default:
	}
}

func TestFiresNoEarlierThanItsDeadline(t *testing.T) {
	c := newClock(t)
	for _, d := range []time.Duration{time.Nanosecond, time.Microsecond, time.Millisecond, 20 * time.Millisecond} {
		tm := c.NewTimer()
		start := time.Now()
		tm.Reset(d)
		got := recv(t, tm, d.String())
		if el := got.Sub(start); el < d {
			t.Errorf("Reset(%v) fired after %v", d, el)
		}
		empty(t, tm, d.String()+" after its one value")
	}
}

func TestOrderOfManyTimers(t *testing.T) {
	c := newClock(t)
	const n = 500
	type fired struct {
		i  int
		at time.Time
	}
	var (
		mu  sync.Mutex
		got []fired
		wg  sync.WaitGroup
	)
	deadlines := make([]time.Time, n)
	for i := range n {
		tm := c.NewTimer()
		// Never 0: Reset(0) delivers at once, on this goroutine, ahead of
		// timers already due that the clock has not read yet
		// (TestResetZeroFiresAtOnce); this test is the clock's order.
		tm.Reset(time.Duration(1+rand.IntN(50_000)) * time.Microsecond)
		deadlines[i] = tm.when // set by Reset, which this goroutine called
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := recv(t, tm, "timer")
			mu.Lock()
			got = append(got, fired{i, v})
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(got) != n {
		t.Fatalf("%d of %d timers fired", len(got), n)
	}
	for _, f := range got {
		if f.at.Before(deadlines[f.i]) {
			t.Errorf("timer %d fired %v before its deadline", f.i, deadlines[f.i].Sub(f.at))
		}
	}
	// Values carry the firing time: sorted by deadline, they never go back.
	slices.SortFunc(got, func(a, b fired) int { return deadlines[a.i].Compare(deadlines[b.i]) })
	for i := 1; i < n; i++ {
		if got[i].at.Before(got[i-1].at) {
			t.Fatalf("timer due at %v fired at %v, before timer due at %v (fired %v)",
				deadlines[got[i].i], got[i].at, deadlines[got[i-1].i], got[i-1].at)
		}
	}
}

func TestResetDropsAnUnreceivedValue(t *testing.T) {
	c := newClock(t)
	a, b := c.NewTimer(), c.NewTimer()
	a.Reset(time.Millisecond)
	b.Reset(20 * time.Millisecond)
	recv(t, b, "b") // a fired before b, and nobody received its value
	a.Reset(time.Hour)
	empty(t, a, "a reset after it fired")
	a.Reset(time.Millisecond)
	recv(t, a, "a reset again")
}

func TestStop(t *testing.T) {
	c := newClock(t)
	a, b := c.NewTimer(), c.NewTimer()
	a.Reset(5 * time.Millisecond)
	a.Stop()
	b.Reset(30 * time.Millisecond)
	recv(t, b, "b")
	empty(t, a, "a stopped before its deadline")

	a.Reset(time.Millisecond)
	b.Reset(20 * time.Millisecond)
	recv(t, b, "b")
	a.Stop()
	empty(t, a, "a stopped after it fired")
	a.Stop() // stopping a stopped timer is nothing
}

func TestResetToEarlierAndLater(t *testing.T) {
	c := newClock(t)
	a, b := c.NewTimer(), c.NewTimer()
	a.Reset(time.Hour)
	b.Reset(time.Millisecond) // earlier than the armed deadline: rearms
	recv(t, b, "b, set earlier than a")

	start := time.Now()
	a.Reset(time.Millisecond)
	a.Reset(30 * time.Millisecond) // later: the first deadline is gone
	if got := recv(t, a, "a, postponed"); got.Sub(start) < 30*time.Millisecond {
		t.Errorf("a postponed to 30ms fired after %v", got.Sub(start))
	}
}

func TestResetZeroFiresAtOnce(t *testing.T) {
	c := newClock(t)
	a := c.NewTimer()
	a.Reset(time.Hour)
	a.Reset(0)
	select {
	case <-a.C():
	default:
		t.Fatal("Reset(0) delivered nothing")
	}
	a.Reset(-time.Second)
	select {
	case <-a.C():
	default:
		t.Fatal("Reset(-1s) delivered nothing")
	}
}

func TestClose(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	a := c.NewTimer()
	a.Reset(time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	a.Reset(time.Millisecond) // after Close: nothing fires, nothing fails
	a.Stop()
	if err := c.Err(); err != nil {
		t.Errorf("Err after Close: %v", err)
	}
}

// TestConcurrentResets runs timers reset from many goroutines while they
// fire, for the race detector; every timer ends with one value.
func TestConcurrentResets(t *testing.T) {
	c := newClock(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tm := c.NewTimer()
			for i := range 200 {
				tm.Reset(time.Duration(i%5) * 100 * time.Microsecond)
				if i%7 == 0 {
					tm.Stop()
				}
			}
			tm.Reset(time.Millisecond)
			recv(t, tm, "the last reset")
		}()
	}
	wg.Wait()
}

// TestPeriodicResetFromTheReceiver: an advert timer's receiver resets it
// as soon as it fires, while fire leaves the arming to itself; the timer
// keeps firing, in step with a second timer that no one resets between
// its firings, and the arming is left to nothing (each period fires).
func TestPeriodicResetFromTheReceiver(t *testing.T) {
	c := newClock(t)
	tick, slow := c.NewTimer(), c.NewTimer()
	const period = 2 * time.Millisecond
	slow.Reset(50 * period)
	tick.Reset(period)
	start := time.Now()
	for i := range 20 {
		recv(t, tick, "the periodic timer")
		tick.Reset(period) // at once, as an instance does
		if i == 9 {
			// A Reset to an earlier deadline than the armed one while
			// other timers wait.
			slow.Reset(period / 2)
			recv(t, slow, "the slow timer reset to earlier")
			slow.Reset(50 * period)
		}
	}
	if el := time.Since(start); el < 20*period {
		t.Errorf("20 periods of %v took %v: fired early", period, el)
	}
	recv(t, slow, "the slow timer")
}

// TestResetFromOthersWhileFiring: while a busy timer fires every 50 µs
// (so fire's window, when it leaves the arming to itself, is open most of
// the time), other goroutines — not the receivers — reset and stop their
// timers to deadlines earlier than the busy one's; every last Reset
// fires, none is left unarmed.
func TestResetFromOthersWhileFiring(t *testing.T) {
	c := newClock(t)
	busy := c.NewTimer()
	stop := make(chan struct{})
	var busyWG sync.WaitGroup
	busyWG.Add(1)
	go func() {
		defer busyWG.Done()
		busy.Reset(50 * time.Microsecond)
		for {
			select {
			case <-stop:
				busy.Stop()
				return
			case <-busy.C():
				busy.Reset(50 * time.Microsecond)
			}
		}
	}()
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tms := []*Timer{c.NewTimer(), c.NewTimer(), c.NewTimer()}
			for i := range 300 {
				tm := tms[i%len(tms)]
				switch (i + g) % 4 {
				case 0:
					tm.Stop()
				case 1:
					tm.Reset(0)
				default:
					tm.Reset(time.Duration(i%3) * 10 * time.Microsecond)
				}
			}
			for _, tm := range tms {
				tm.Reset(20 * time.Microsecond)
			}
			for _, tm := range tms {
				recv(t, tm, "a timer reset while another fired")
			}
		}()
	}
	wg.Wait()
	close(stop)
	busyWG.Wait()
}

// TestCloseWhileFiring: Close while timers fire and are reset from their
// receivers returns, and nothing fires afterwards.
func TestCloseWhileFiring(t *testing.T) {
	for range 50 {
		c, err := New()
		if err != nil {
			t.Fatal(err)
		}
		var wg, fired sync.WaitGroup
		done := make(chan struct{})
		for range 4 {
			tm := c.NewTimer()
			tm.Reset(time.Microsecond)
			wg.Add(1)
			fired.Add(1)
			go func() {
				defer wg.Done()
				first := true
				for {
					select {
					case <-done:
						return
					case <-tm.C():
						if first {
							fired.Done()
							first = false
						}
						tm.Reset(time.Microsecond)
					}
				}
			}()
		}
		fired.Wait() // every timer fires and is being reset
		closed := make(chan error)
		go func() { closed <- c.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(wait):
			t.Fatal("Close did not return while timers fired")
		}
		close(done)
		wg.Wait()
		if err := c.Err(); err != nil {
			t.Errorf("Err: %v", err)
		}
	}
}

// onClock reports whether it is called on the clock's goroutine.
func onClock() bool {
	buf := make([]byte, 64<<10)
	return strings.Contains(string(buf[:runtime.Stack(buf, false)]), "timerfd.(*Clock).run")
}

// TestAfterFunc: a function timer runs its function on the clock's
// goroutine, no earlier than its deadline, also for Reset(0) (never on the
// caller's goroutine); the function may reset its own timer and others
// (an instance's advert), and a channel timer due at the same expiry is
// delivered too; a timer stopped before its deadline never runs.
func TestAfterFunc(t *testing.T) {
	c := newClock(t)
	const period = 2 * time.Millisecond
	type call struct {
		at      time.Time
		onClock bool
	}
	calls := make(chan call, 100)
	var tick *Timer
	mate := c.NewTimer()
	n := 0
	tick = c.AfterFunc(func() {
		calls <- call{time.Now(), onClock()}
		if n++; n < 10 {
			tick.Reset(period)
			if n == 5 {
				mate.Reset(period) // due at the same expiry as the next call
			}
		}
	})
	start := time.Now()
	tick.Reset(period)
	last := start
	for i := range 10 {
		select {
		case got := <-calls:
			if !got.onClock {
				t.Errorf("call %d not on the clock's goroutine", i)
			}
			if el := got.at.Sub(last); el < period {
				t.Errorf("call %d came %v after the previous, want at least %v", i, el, period)
			}
			last = got.at
		case <-time.After(wait):
			t.Fatalf("call %d did not come within %v", i, wait)
		}
	}
	recv(t, mate, "the channel timer reset from the function")
	if tick.C() != nil {
		t.Error("a function timer's C is not nil")
	}

	now := c.AfterFunc(func() { calls <- call{time.Now(), onClock()} })
	now.Reset(0)
	select {
	case got := <-calls:
		if !got.onClock {
			t.Error("Reset(0) ran the function on the caller's goroutine")
		}
	case <-time.After(wait):
		t.Fatalf("Reset(0) did not run the function within %v", wait)
	}

	stopped := c.AfterFunc(func() { t.Error("a stopped function timer ran") })
	stopped.Reset(5 * period)
	stopped.Stop()
	probe := c.NewTimer()
	probe.Reset(10 * period)
	recv(t, probe, "a timer due after the stopped one")
}

// A function timer that re-arms itself, as an idle agent's advert timer
// does, allocates nothing per expiry: neither the arming nor the firing.
func TestExpiryAllocatesNothing(t *testing.T) {
	c := newClock(t)
	fired := make(chan struct{}, 1)
	var tick *Timer
	tick = c.AfterFunc(func() {
		tick.Reset(time.Hour) // re-armed from the function, as in the agent
		fired <- struct{}{}
	})
	late := time.After(wait) // made once: time.After allocates
	n := testing.AllocsPerRun(50, func() {
		tick.Reset(50 * time.Microsecond)
		select {
		case <-fired:
		case <-late:
			t.Fatalf("the timer did not fire within %v", wait)
		}
	})
	if n != 0 {
		t.Errorf("an expiry and its arming allocate %v times, want 0", n)
	}
}
