// Package timerfd runs a process's timers on one Linux timerfd that the Go
// runtime's poller watches, read and armed with raw system calls.
//
// It exists for an idle daemon's CPU. A timer of package time makes the
// runtime's monitor thread (sysmon) sleep until that timer's deadline
// too, and every system call made the ordinary way wakes that thread
// again when it sleeps: an agent that only sends an advert a second then
// wakes three to five threads a second instead of one. Timers on a
// timerfd are, to the runtime, a file descriptor becoming readable: the
// one thread blocked in the poller wakes, runs the timer's goroutine and
// goes back to the poller, and the monitor thread sleeps on (measured in
// bench/footprint and docs/agent.md).
//
// Its channel timers keep the semantics of package time's since Go 1.23:
// after Reset or Stop returns, no value from before is received. Its
// function timers ([Clock.AfterFunc]) run their function on the clock's
// own goroutine, as the expiry is read: no hand-off to another goroutine,
// which at one expiry a second is most of what waking costs.
package timerfd

import (
	"container/heap"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Clock multiplexes its timers on one timerfd, armed for the earliest
// deadline. Its methods are safe for concurrent use.
type Clock struct {
	f    *os.File
	rc   syscall.RawConn
	done chan struct{} // closed when the reading goroutine has returned

	mu     sync.Mutex
	timers timerHeap
	armed  time.Time // the deadline the timerfd is armed for; zero: disarmed
	err    error     // the first arming that failed (see Err)
	// firing is set while fire runs the functions that are due and lets
	// the goroutines it delivered to run: it arms the timerfd once they
	// are done, so Reset and Stop leave it.
	firing bool

	due []func() // the functions fire runs; its own

	// spec and setErr are settime's argument and result, and settime is
	// bound once: a closure or a method value made at each arming would
	// allocate, and an idle agent allocates nothing. c.mu is held.
	spec    unix.ItimerSpec
	setErr  syscall.Errno
	settime func(fd uintptr)
}

// New opens a clock and starts the goroutine that fires its timers. Close
// it when done.
func New() (*Clock, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd: create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "timerfd") // non-blocking: the runtime's poller watches it
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("timerfd: %w", err)
	}
	c := &Clock{f: f, rc: rc, done: make(chan struct{})}
	c.settime = c.setTime
	go c.run()
	return c, nil
}

// Close stops the clock: its timers fire no more. It waits for the
// reading goroutine to return.
func (c *Clock) Close() error {
	err := c.f.Close()
	<-c.done
	return err
}

// Now returns time.Now(): the deadlines use its monotonic reading, the
// clock (CLOCK_MONOTONIC) the timerfd counts in.
func (c *Clock) Now() time.Time { return time.Now() }

// Err returns the first error arming the timerfd met, if any: a timer
// armed then fires at the next arming that succeeds instead. Arming a
// valid timerfd with a valid time does not fail; Err is for the tests
// and the record.
func (c *Clock) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// NewTimer returns a stopped timer that delivers on its channel.
func (c *Clock) NewTimer() *Timer {
	return &Timer{c: c, ch: make(chan time.Time, 1), index: -1}
}

// AfterFunc returns a stopped timer that calls f each time it fires, on
// the clock's goroutine: f may Reset and Stop timers of the clock, and
// the next expiry waits for it to return (keep it short). As with
// [time.AfterFunc], f may still run once after a Stop or Reset that comes
// when it is already due; f finds out whether it is still wanted. Its C
// delivers nothing.
func (c *Clock) AfterFunc(f func()) *Timer {
	return &Timer{c: c, f: f, index: -1}
}

// run fires what is due each time the poller reports that the timerfd
// expired, without reading it: arming it (timerfd_settime(2)) clears its
// expiry count, and the poller watches it edge-triggered, so each expiry
// after an arming is reported once whether or not it was read. A read
// would be a system call a wake-up for a count nothing needs; a report
// that comes with nothing due (the deadline moved meanwhile) only re-arms
// it. Read returns once the timerfd is closed.
func (c *Clock) run() {
	defer close(c.done)
	_ = c.rc.Read(func(uintptr) bool {
		c.fire()
		return false // wait for the next expiry
	})
}

// fire delivers every timer whose deadline has come, runs the functions
// of those that have one, lets the goroutines it delivered to run (they
// mostly reset their timer at once: an advert timer), and then arms the
// timerfd for the next deadline: once per expiry, rather than once here
// and once more at each Reset.
func (c *Clock) fire() {
	c.mu.Lock()
	c.armed = time.Time{} // a one-shot timerfd that expired is disarmed
	now := time.Now()
	delivered := false
	for len(c.timers) > 0 && !c.timers[0].when.After(now) {
		t := heap.Pop(&c.timers).(*Timer)
		if t.f != nil {
			c.due = append(c.due, t.f)
		} else {
			t.deliver(now)
			delivered = true
		}
	}
	if delivered || len(c.due) > 0 {
		c.firing = true
		c.mu.Unlock()
		for i, f := range c.due {
			c.due[i] = nil
			f()
		}
		c.due = c.due[:0]
		if delivered {
			runtime.Gosched()
		}
		c.mu.Lock()
		c.firing = false
	}
	c.arm(time.Now())
	c.mu.Unlock()
}

// arm sets the timerfd to expire at the earliest deadline (or disarms it
// when there is none), unless it is set so already or fire is about to.
// c.mu is held.
func (c *Clock) arm(now time.Time) {
	if c.firing {
		return
	}
	var next time.Time
	if len(c.timers) > 0 {
		next = c.timers[0].when
	}
	if next.Equal(c.armed) {
		return
	}
	c.spec = unix.ItimerSpec{} // zero: disarm
	if !next.IsZero() {
		// Relative to now, in the monotonic clock both count in: the
		// timerfd expires no earlier than the deadline. 0 would disarm it.
		c.spec.Value = unix.NsecToTimespec(max(int64(next.Sub(now)), 1))
	}
	if c.rc.Control(c.settime) != nil { // fails only once closed: nothing fires then
		return
	}
	if c.setErr != 0 {
		if c.err == nil {
			c.err = fmt.Errorf("timerfd: arm for %v: %w", next.Sub(now), c.setErr)
		}
		return
	}
	c.armed = next
}

// setTime arms the timerfd fd with c.spec (c.settime). c.mu is held.
func (c *Clock) setTime(fd uintptr) {
	_, _, c.setErr = syscall.RawSyscall6(syscall.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&c.spec)), 0, 0, 0)
}

// Timer is a one-shot timer of a [Clock], like [time.Timer]: it delivers
// on its channel, or calls its function ([Clock.AfterFunc]).
type Timer struct {
	c     *Clock
	ch    chan time.Time // nil for a function timer
	f     func()
	when  time.Time
	index int // in c.timers; -1: not armed
}

// C delivers the time when the timer fires; nil (nothing) for a function
// timer.
func (t *Timer) C() <-chan time.Time { return t.ch }

// Reset (re)arms the timer to fire after d; d <= 0 fires it at once (a
// function timer at the clock's next expiry, which comes at once: its
// function never runs on the caller's goroutine). A value not received
// from before is dropped.
func (t *Timer) Reset(d time.Duration) {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	t.stop()
	now := time.Now()
	if d <= 0 && t.f == nil {
		t.deliver(now)
		c.arm(now)
		return
	}
	t.when = now.Add(d)
	heap.Push(&c.timers, t)
	c.arm(now)
}

// Stop disarms the timer; nothing is delivered afterwards, and a value
// not received yet is dropped.
func (t *Timer) Stop() {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.stop() {
		c.arm(time.Now())
	}
}

// stop takes t off the heap and drops an undelivered value; it reports
// whether t was on the heap. c.mu is held.
func (t *Timer) stop() bool {
	if t.ch != nil {
		select {
		case <-t.ch:
		default:
		}
	}
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.c.timers, t.index)
	return true
}

// deliver sends now on t.ch, which Reset and Stop emptied. c.mu is held.
func (t *Timer) deliver(now time.Time) {
	select {
	case t.ch <- now:
	default:
	}
}

// timerHeap orders timers by deadline (container/heap).
type timerHeap []*Timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].when.Before(h[j].when) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*Timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}
