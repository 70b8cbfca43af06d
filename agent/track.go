package agent

import (
	"time"

	"github.com/hac-project/hac/election"

	"github.com/hac-project/hac/agent/fsm"
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/agent/vip"
)

// item is one tracked thing of an instance: a tracked interface or a
// health check, with its weight and whether it is up now.
type item struct {
	name   string
	weight int
	up     bool
}

// track is a tracked interface: its item is tracks[i] in the instance.
type track struct {
	index int // interface index; 0: the interface does not exist
}

// setupTracks resolves the tracked interfaces and reads their link state.
// A tracked interface missing at start counts as down for good (the agent
// follows interfaces by index): create it before starting the agent.
func (in *instance) setupTracks() {
	for _, t := range in.cfg.Track {
		tr := track{}
		up := false
		ifi, err := in.a.env.iface(t.Interface)
		if err != nil {
			in.log.Warn("tracked interface not found: it counts as down", "track", t.Interface, "weight", t.Weight, "err", err)
		} else {
			tr.index = ifi.Index
			up = in.linkState(ifi.Index, t.Interface)
		}
		in.tracks = append(in.tracks, tr)
		in.items = append(in.items, item{name: t.Interface, weight: t.Weight, up: up})
	}
}

func (in *instance) linkState(index int, name string) bool {
	up, err := in.a.env.addrs.LinkUp(index)
	if err != nil {
		in.log.Warn("cannot read the link state of a tracked interface; assuming down", "track", name, "err", err)
		return false
	}
	return up
}

// trackEvent updates tracked interfaces from a netlink event.
func (in *instance) trackEvent(now time.Time, e vip.Event) {
	for i, tr := range in.tracks {
		switch {
		case tr.index == 0:
		case e.Kind == vip.Link && e.Index == tr.index:
			in.setItem(now, i, e.Up)
		case e.Kind == vip.Resync:
			in.setItem(now, i, in.linkState(tr.index, in.items[i].name))
		}
	}
}

// setItem records the state of items[i] and applies the new effective
// priority.
func (in *instance) setItem(now time.Time, i int, up bool) {
	it := &in.items[i]
	if it.up == up {
		return
	}
	it.up = up
	kind := "track"
	if i >= len(in.tracks) {
		kind = "check"
	}
	in.log.Info(kind+" changed", kind, it.name, "up", up, "weight", it.weight)
	in.applyPriority(now)
}

// wantPriority is the priority the machine should run with: the effective
// one, 1 after a handoff or TakeoverPriority during a takeover (until
// released), unless the tracking faults.
func (in *instance) wantPriority() uint8 {
	items := make([]election.Item, len(in.items))
	for i, it := range in.items {
		items[i] = election.Item{Weight: it.weight, Up: it.up}
	}
	p := election.Effective(in.cfg.Priority, items)
	switch {
	case p == 0:
	case in.takeover:
		return TakeoverPriority
	case in.handoffPrio:
		return 1
	}
	return p
}

// applyPriority steps the machine with the wanted priority if it changed.
func (in *instance) applyPriority(now time.Time) {
	if p := in.wantPriority(); p != in.m.Priority() {
		in.log.Info("effective priority changed", "from", in.m.Priority(), "to", p, "base", in.cfg.Priority)
		in.do(in.m.Step(now, fsm.PriorityChange{Priority: p}))
	}
}

// itemStates returns the status of the tracked interfaces and checks.
func (in *instance) itemStates() (tracks, checks []status.Item) {
	for i, it := range in.items {
		s := status.Item{Name: it.name, Up: it.up, Weight: it.weight}
		if i < len(in.tracks) {
			tracks = append(tracks, s)
		} else {
			checks = append(checks, s)
		}
	}
	return tracks, checks
}
