package agent

import (
	"time"

	"github.com/hac-project/hac/agent/fsm"
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/agent/vip"
	"github.com/hac-project/hac/election"
)

// item is one tracked thing of an instance: a tracked interface or a
// health check, with its weight and whether it is up now.
type item struct {
	name   string
	weight int
	up     bool
}

// track is a tracked interface: its item is items[i] for tracks[i].
type track struct {
	index int // interface index; 0: the interface does not exist
}

// priority is what decides the priority an instance runs with; that is
// its one job. The configured priority moves with the tracked interfaces
// and health checks (their items) by [election.Effective], the rule the
// compiler's failover table uses too; a handoff lowers it to 1 once the
// instance rejoins, and a takeover raises it to [TakeoverPriority], until
// released. It is owned by its instance's goroutine (the checks' results
// reach it through the instance).
type priority struct {
	items  []item  // tracked interfaces (first, as tracks), then checks
	tracks []track // the tracked interfaces, as items[:len(tracks)]

	handingOff bool // a handoff without stopping is draining
	released   bool // released while handing off: rejoin at the configured priority
	lowered    bool // rejoined after a handoff: priority 1 until released
	takeover   bool // TakeoverPriority until released
}

// want is the priority to run with for the configured priority base:
// the effective one, 1 after a handoff or TakeoverPriority during a
// takeover (until released), unless the tracking faults (0).
func (p *priority) want(base uint8) uint8 {
	items := make([]election.Item, len(p.items))
	for i, it := range p.items {
		items[i] = election.Item{Weight: it.weight, Up: it.up}
	}
	e := election.Effective(base, items)
	switch {
	case e == 0:
	case p.takeover:
		return TakeoverPriority
	case p.lowered:
		return 1
	}
	return e
}

// notifyPriority is the priority the generic notify command gets for the
// configured priority base while the machine runs at running:
// keepalived's effective priority, which a weight-0 item in fault does
// not change (hac's machine runs at 0 then).
func (p *priority) notifyPriority(base, running uint8) int {
	if running != 0 {
		return int(running)
	}
	items := make([]election.Item, len(p.items))
	for i, it := range p.items {
		items[i] = election.Item{Weight: it.weight, Up: it.up || it.weight == 0}
	}
	return int(election.Effective(base, items))
}

// clearItems forgets the tracked interfaces and checks (a reload
// replaces them).
func (p *priority) clearItems() { p.items, p.tracks = nil, nil }

// addTrack adds a tracked interface (index 0: missing) in state up; the
// tracked interfaces come before the checks.
func (p *priority) addTrack(name string, weight, index int, up bool) {
	p.tracks = append(p.tracks, track{index: index})
	p.items = append(p.items, item{name: name, weight: weight, up: up})
}

// addCheck adds a health check in state up and returns its item's index.
func (p *priority) addCheck(name string, weight int, up bool) int {
	p.items = append(p.items, item{name: name, weight: weight, up: up})
	return len(p.items) - 1
}

// set records the state of items[i] and reports whether it changed.
func (p *priority) set(i int, up bool) bool {
	if p.items[i].up == up {
		return false
	}
	p.items[i].up = up
	return true
}

// kind names what items[i] is: "track" or "check".
func (p *priority) kind(i int) string {
	if i < len(p.tracks) {
		return "track"
	}
	return "check"
}

// states returns the status of the tracked interfaces and checks.
func (p *priority) states() (tracks, checks []status.Item) {
	for i := range p.items {
		s := p.item(i)
		if i < len(p.tracks) {
			tracks = append(tracks, s)
		} else {
			checks = append(checks, s)
		}
	}
	return tracks, checks
}

// changedStates reports whether states would return other items than
// tracks and checks.
func (p *priority) changedStates(tracks, checks []status.Item) bool {
	if len(tracks) != min(len(p.tracks), len(p.items)) || len(tracks)+len(checks) != len(p.items) {
		return true
	}
	for i := range p.items {
		s := p.item(i)
		var was status.Item
		if i < len(tracks) {
			was = tracks[i]
		} else {
			was = checks[i-len(tracks)]
		}
		if was.Name != s.Name || was.Up != s.Up || was.Weight != s.Weight {
			return true
		}
	}
	return false
}

// item is the status of item i (without a check's run counts, which
// checkRuns fills in).
func (p *priority) item(i int) status.Item {
	it := p.items[i]
	return status.Item{Name: it.name, Up: it.up, Weight: it.weight}
}

// release ends a handoff's lowered priority (changed) or, while the
// handoff still drains, makes the instance rejoin at the configured
// priority; it reports whether it did either.
func (p *priority) release() (did, changed bool) {
	switch {
	case p.lowered:
		p.lowered = false
		return true, true
	case p.handingOff:
		p.released = true
		return true, false
	}
	return false, false
}

// rejoin ends a handoff without stopping once the instance stopped: it
// runs lowered from now on, unless released meanwhile. It reports whether
// a handoff was on.
func (p *priority) rejoin() bool {
	if !p.handingOff {
		return false
	}
	p.handingOff = false
	p.lowered = !p.released
	p.released = false
	return true
}

// setTakeover starts (on) or releases a takeover; starting one ends a
// handoff's lowered priority. It reports whether anything changed.
func (p *priority) setTakeover(on bool) bool {
	if p.takeover == on {
		return false
	}
	p.takeover = on
	if on {
		p.lowered = false
	}
	return true
}

// setupTracks resolves the tracked interfaces and reads their link state.
// A tracked interface missing at start counts as down for good (the agent
// follows interfaces by index): create it before starting the agent.
func (in *instance) setupTracks() {
	for _, t := range in.cfg.Track {
		index, up := 0, false
		ifi, err := in.a.env.iface(t.Interface)
		if err != nil {
			in.log.Warn("tracked interface not found: it counts as down", "track", t.Interface, "weight", t.Weight, "err", err)
		} else {
			index = ifi.Index
			up = in.linkState(ifi.Index, t.Interface)
		}
		in.prio.addTrack(t.Interface, t.Weight, index, up)
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
	for i, tr := range in.prio.tracks {
		switch {
		case tr.index == 0:
		case e.Kind == vip.Link && e.Index == tr.index:
			in.setItem(now, i, e.Up)
		case e.Kind == vip.Resync:
			in.setItem(now, i, in.linkState(tr.index, in.prio.items[i].name))
		}
	}
}

// setItem records the state of item i and applies the new effective
// priority.
func (in *instance) setItem(now time.Time, i int, up bool) {
	if !in.prio.set(i, up) {
		return
	}
	it, kind := in.prio.items[i], in.prio.kind(i)
	in.log.Info(kind+" changed", kind, it.name, "up", up, "weight", it.weight)
	in.applyPriority(now)
}

// applyPriority steps the machine with the wanted priority if it changed.
func (in *instance) applyPriority(now time.Time) {
	if p := in.prio.want(in.cfg.Priority); p != in.m.Priority() {
		in.log.Info("effective priority changed", "from", in.m.Priority(), "to", p, "base", in.cfg.Priority)
		in.do(in.m.Step(now, fsm.PriorityChange{Priority: p}))
	}
}
