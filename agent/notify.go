package agent

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/fsm"
)

// Notify timeouts: a notify command is killed (with its process group)
// after notifyTimeout, a stop command after stopTimeout (keepalived runs
// its STOP scripts with a 1 s timeout).
const (
	notifyTimeout = 10 * time.Second
	stopTimeout   = time.Second
)

// notifyState is the state word keepalived's generic notify script gets
// (vrrp_notify.c): MASTER, BACKUP, FAULT or STOP; "" for a state that
// runs no command (INIT, DRAINING).
func notifyState(s fsm.State) string {
	switch s {
	case fsm.Master, fsm.Backup, fsm.Fault:
		return s.String()
	case fsm.Stopped:
		return "STOP"
	}
	return ""
}

// notifyCommands returns the commands n runs on entering state (a word of
// notifyState), for an instance or a group (kind "INSTANCE" or "GROUP")
// named name at priority prio: the state's own command with only its
// configured arguments (keepalived's notify_master etc.), then the
// generic one (keepalived's notify) with kind, name, state and prio
// appended, as keepalived calls it.
func notifyCommands(n *config.Notify, state, kind, name string, prio int) [][]string {
	if n == nil || state == "" {
		return nil
	}
	var cmds [][]string
	if own := map[string][]string{"MASTER": n.Master, "BACKUP": n.Backup, "FAULT": n.Fault, "STOP": n.Stop}[state]; len(own) > 0 {
		cmds = append(cmds, own)
	}
	if len(n.All) > 0 {
		argv := append(append([]string(nil), n.All...), kind, name, state, strconv.Itoa(prio))
		cmds = append(cmds, argv)
	}
	return cmds
}

// notify runs the instance's notify commands for a transition to state
// to, if configured, in the background: the state machine never waits.
// The agent waits for running notify commands (bounded by their timeouts)
// before it exits.
func (in *instance) notify(to fsm.State) {
	if to == fsm.Stopped && !in.stopping {
		return // a handoff without stopping: the instance rejoins
	}
	state := notifyState(to)
	in.a.runNotify(in.log, state, notifyCommands(in.cfg.Notify, state, "INSTANCE", in.cfg.Name, in.notifyPriority()))
}

// notifyPriority is the priority the generic notify command gets:
// keepalived's effective priority, which a weight-0 item in fault does
// not change (hac's machine runs at 0 then).
func (in *instance) notifyPriority() int {
	return in.prio.notifyPriority(in.cfg.Priority, in.m.Priority())
}

// runNotify starts each command in the background, killed after
// notifyTimeout, or stopTimeout on entering STOP (keepalived runs its STOP
// scripts with a 1 s timeout). Failures are logged with the program name
// only: arguments may hold secrets.
func (a *Agent) runNotify(log *slog.Logger, state string, cmds [][]string) {
	timeout := notifyTimeout
	if state == "STOP" {
		timeout = stopTimeout
	}
	for _, argv := range cmds {
		a.notifying.Add(1)
		go func() {
			defer a.notifying.Done()
			if err := a.env.run(context.Background(), argv, "", timeout); err != nil {
				log.Warn("notify command failed", "state", state, "program", argv[0], "err", err)
				return
			}
			log.Debug("notify command done", "state", state, "program", argv[0])
		}()
	}
}
