package agent

import (
	"log/slog"
	"slices"
	"sync"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/fsm"
	"github.com/hac-project/hac/agent/status"
)

// syncGroup drives an [fsm.Group]: the instances of one of agent.json's
// sync_groups, which move between MASTER, BACKUP and FAULT together
// (keepalived's vrrp_sync_group). Each member runs on its own goroutine;
// after every step a member hands its status and actions to update, which
// asks the group what the members must do and posts those events to them
// (a member's own event is stepped at once, on its goroutine).
type syncGroup struct {
	a       *Agent
	cfg     *config.SyncGroup
	log     *slog.Logger
	members []*instance

	mu sync.Mutex
	g  *fsm.Group
}

// inSyncGroup reports whether the named instance is in one of cfg's sync
// groups.
func inSyncGroup(cfg *config.Config, name string) bool {
	for _, sg := range cfg.SyncGroups {
		if slices.Contains(sg.Instances, name) {
			return true
		}
	}
	return false
}

// setupGroups joins the instances to their sync groups; it runs before
// any instance does.
func (a *Agent) setupGroups() {
	for i := range a.cfg.SyncGroups {
		sg := &a.cfg.SyncGroups[i]
		g := &syncGroup{a: a, cfg: sg, log: a.log.With("sync_group", sg.Name), g: fsm.NewGroup(len(sg.Instances))}
		a.groups = append(a.groups, g)
		for k, name := range sg.Instances {
			for _, in := range a.instances {
				if in.cfg.Name == name {
					in.group, in.member = g, k
					g.members = append(g.members, in)
				}
			}
		}
	}
}

// syncGroupStep tells the instance's group about a step whose actions
// were acts (called from do, on the instance's goroutine).
func (in *instance) syncGroupStep(acts []fsm.Action) {
	if in.group == nil {
		return
	}
	g := in.group
	g.mu.Lock()
	orders, t := g.g.Update(in.member, in.m.Status(), acts)
	g.mu.Unlock()
	if t != nil {
		g.transition(in, *t)
	}
	for _, o := range orders {
		m := g.members[o.Member]
		ev := o.Event
		if m == in {
			in.do(in.m.Step(in.clock.Now(), ev))
			continue
		}
		m.post(func() { m.do(m.m.Step(m.clock.Now(), g.current(ev))) })
	}
}

// current returns ev, or for a fault order the one that holds now, and
// no GroupMaster once the group is in FAULT: an order posted to another
// member may arrive after a later one (the members run on their own
// goroutines).
func (g *syncGroup) current(ev fsm.Event) fsm.Event {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch ev.(type) {
	case fsm.GroupFault, fsm.GroupRecovered:
		return g.g.FaultEvent()
	case fsm.GroupMaster:
		if g.g.State() == fsm.Fault {
			return fsm.GroupFault{} // the group went to FAULT meanwhile
		}
	}
	return ev
}

// transition logs the group's transition and runs its notify commands;
// STOP only when the agent stops (a handoff without stopping rejoins).
func (g *syncGroup) transition(by *instance, t fsm.Transition) {
	g.log.Info("sync group transition", "from", t.From.String(), "to", t.To.String(), "reason", t.Reason, "instance", by.cfg.Name)
	if t.To == fsm.Stopped && !by.stopping {
		return
	}
	state := notifyState(t.To)
	g.a.runNotify(g.log, state, notifyCommands(g.cfg.Notify, state, "GROUP", g.cfg.Name, 0))
}

// groupOf returns the names of the instances that act with the named one:
// its sync group's members, or the instance alone.
func (a *Agent) groupOf(name string) []string {
	for _, sg := range a.cfg.SyncGroups {
		if slices.Contains(sg.Instances, name) {
			return sg.Instances
		}
	}
	return []string{name}
}

// report returns the group's state for hac-agent status.
func (g *syncGroup) report() status.SyncGroup {
	g.mu.Lock()
	defer g.mu.Unlock()
	return status.SyncGroup{Name: g.cfg.Name, State: g.g.State().String(), Instances: g.cfg.Instances}
}

// unknown is the error for a request naming an instance the agent does not
// run: it names those it runs, and the status socket answers it as a usage
// error.
func (a *Agent) unknown(name string) error {
	var known []string
	for _, in := range a.list() {
		known = append(known, in.cfg.Name)
	}
	return &status.UnknownInstanceError{Name: name, Known: known}
}
