package agent

import (
	"context"
	"time"

	"github.com/hac-project/hac/agent/fsm"
)

// Notify timeouts: a notify command is killed (with its process group)
// after notifyTimeout, a stop command after stopTimeout (keepalived runs
// its STOP scripts with a 1 s timeout).
const (
	notifyTimeout = 10 * time.Second
	stopTimeout   = time.Second
)

// notify runs the instance's notify command for a transition to state to,
// if one is configured, in the background: the state machine never waits.
// Like keepalived's notify_master/backup/fault/stop, the command gets only
// its configured arguments. The agent waits for running notify commands
// (bounded by their timeouts) before it exits.
func (in *instance) notify(to fsm.State) {
	n := in.cfg.Notify
	if n == nil {
		return
	}
	var argv []string
	timeout := notifyTimeout
	switch to {
	case fsm.Master:
		argv = n.Master
	case fsm.Backup:
		argv = n.Backup
	case fsm.Fault:
		argv = n.Fault
	case fsm.Stopped:
		if !in.stopping {
			return // a handoff without stopping: the instance rejoins
		}
		argv, timeout = n.Stop, stopTimeout
	}
	if len(argv) == 0 {
		return
	}
	state := to.String()
	in.a.notifying.Add(1)
	go func() {
		defer in.a.notifying.Done()
		// Only the program's name is logged: arguments may hold secrets.
		if err := in.a.env.run(context.Background(), argv, "", timeout); err != nil {
			in.log.Warn("notify command failed", "state", state, "program", argv[0], "err", err)
			return
		}
		in.log.Debug("notify command done", "state", state, "program", argv[0])
	}()
}
