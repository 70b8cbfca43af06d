package agent

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hac-project/hac/agent/sdnotify"
)

// The agent under systemd (Type=notify, WatchdogSec=): it sends READY=1
// once its sockets are open and every instance has its initial state,
// STATUS= with a one-line summary (status.Report.Summary) whenever an
// instance changes state, RELOADING=1 when a reload starts and READY=1
// when it ends (see sdReloading), STOPPING=1 when it starts handing off,
// and WATCHDOG=1 only while every instance's protocol loop answers (see
// watchdog).

// sdState is what the agent told systemd: READY=1, RELOADING=1 and
// STOPPING=1 are sent under its lock, so that a reload never says READY=1
// before the start did, nor after STOPPING=1.
type sdState struct {
	mu       sync.Mutex
	ready    bool // READY=1 sent
	stopping bool // STOPPING=1 sent: no READY=1 from then on
}

// sdStopping tells systemd that the agent stops (its masters hand off).
func (a *Agent) sdStopping() {
	a.sd.mu.Lock()
	defer a.sd.mu.Unlock()
	a.sd.stopping = true
	a.sdNotify(sdnotify.Stopping + "\n" + sdnotify.Status("stopping: masters hand off"))
}

// sdReloading tells systemd that a reload starts: RELOADING=1 with
// MONOTONIC_USEC= and STATUS=, so that systemctl shows the unit
// "reloading" whoever asked for it (systemctl reload, SIGHUP, hac agent
// reload). It returns the function that tells systemd the reload ended
// with err: READY=1 with STATUS= (the instances' states, and that the
// reload was refused or failed, if it was). A reload before the start's
// READY=1 or after STOPPING=1 tells systemd nothing: READY=1 then would
// be false.
func (a *Agent) sdReloading() (end func(err error)) {
	a.sd.mu.Lock()
	defer a.sd.mu.Unlock()
	if a.env.notify == nil || !a.sd.ready || a.sd.stopping {
		return func(error) {}
	}
	a.sdNotify(sdnotify.Reloading(sdnotify.Monotonic()) + "\n" + sdnotify.Status("reloading "+a.opts.ConfigPath))
	return func(err error) {
		r := a.Report()
		s := r.Summary()
		switch {
		case errors.Is(err, ErrReloadRefused):
			s += " (reload refused, the running configuration stays: see the log)"
		case err != nil:
			s += " (reload failed for some instances: see the log)"
		}
		a.sd.mu.Lock()
		defer a.sd.mu.Unlock()
		if !a.sd.stopping {
			a.sdNotify(sdnotify.Ready + "\n" + sdnotify.Status(s))
		}
	}
}

// sdNotify sends a notification to systemd, if the agent runs under it.
func (a *Agent) sdNotify(state string) {
	if a.env.notify == nil {
		return
	}
	if err := a.env.notify(state); err != nil {
		a.log.Warn("cannot notify systemd", "err", err)
	}
}

// stateChanged tells the systemd notifier that an instance's state
// changed; it never blocks.
func (a *Agent) stateChanged() {
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

// allStarted reports whether every instance has its initial state.
func (a *Agent) allStarted() bool {
	for _, in := range a.list() {
		select {
		case <-in.started:
		default:
			return false
		}
	}
	return true
}

// notifySystemd sends READY=1 once every instance has its initial state,
// then STATUS= on every state change, until ctx ends.
func (a *Agent) notifySystemd(ctx context.Context) {
	for _, in := range a.list() {
		select {
		case <-in.started:
		case <-ctx.Done():
			return
		}
	}
	r := a.Report()
	sent := r.Summary()
	// The log line first: it is true before systemd hears READY=1 and
	// logs the unit as started, so the journal keeps that order.
	a.log.Info("ready: every instance has its initial state", "status", sent)
	a.sd.mu.Lock()
	if !a.sd.stopping {
		a.sd.ready = true
		a.sdNotify(sdnotify.Ready + "\n" + sdnotify.Status(sent))
	}
	a.sd.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.changed:
			r := a.Report()
			if s := r.Summary(); s != sent {
				sent = s
				a.sdNotify(sdnotify.Status(s))
			}
		}
	}
}

// watchdog sends WATCHDOG=1 every half of timeout (systemd's WatchdogSec)
// as long as the agent is healthy, until ctx ends. During start-up
// (bounded by the unit's TimeoutStartSec: the first check runs) it pings
// unconditionally. From then on every round asks each instance's protocol
// loop to answer (a function on its control channel, never blocking the
// asker) and the next round pings only if every loop answered, or has
// stopped: a loop that is stuck (a blocked system call, a deadlock) stops
// the pings, and systemd restarts the agent after timeout. Meanwhile the
// stuck master renews neither its adverts nor its VIPs' lease, so a
// backup takes over and the lease removes the VIPs by themselves.
func (a *Agent) watchdog(ctx context.Context, timeout time.Duration) {
	t := a.clock.NewTimer()
	defer t.Stop()
	var asked uint64      // the round every loop must answer; 0: none
	var those []*instance // the instances asked in that round (a reload may add some since)
	for {
		t.Reset(timeout / 2)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		if !a.allStarted() {
			a.sdNotify(sdnotify.Watchdog)
			continue
		}
		if asked == 0 || answered(those, asked) {
			a.sdNotify(sdnotify.Watchdog)
		} else {
			a.log.Error("an instance's protocol loop does not answer: no watchdog ping (systemd restarts the agent after WatchdogSec)", "round", asked)
		}
		asked++
		round := asked
		those = a.list()
		for _, in := range those {
			select {
			case in.ctl <- func() { in.beat.Store(round) }:
			default: // queue full: it answers next round, or the ping waits
			}
		}
	}
}

// answered reports whether every instance of ins that still runs answered
// round.
func answered(ins []*instance, round uint64) bool {
	for _, in := range ins {
		select {
		case <-in.done:
			continue
		default:
		}
		if in.beat.Load() != round {
			return false
		}
	}
	return true
}
