package agent

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/status"
)

// TestPriorityWant: the effective priority moves with the items' weights
// (election.Effective); a weight-0 item down faults (0) whatever else
// holds; a takeover runs at TakeoverPriority and a rejoined handoff at 1.
func TestPriorityWant(t *testing.T) {
	up := func(name string, w int) item { return item{name: name, weight: w, up: true} }
	down := func(name string, w int) item { return item{name: name, weight: w} }
	for _, tc := range []struct {
		name   string
		p      priority
		want   uint8
		notify int // the generic notify command's priority when the machine runs at want
	}{
		{"no items", priority{}, 100, 100},
		{"positive weight up adds", priority{items: []item{up("web", 20)}}, 120, 120},
		{"positive weight down adds nothing", priority{items: []item{down("web", 20)}}, 100, 100},
		{"negative weight down subtracts", priority{items: []item{down("eth2", -30)}}, 70, 70},
		{"negative weight up subtracts nothing", priority{items: []item{up("eth2", -30)}}, 100, 100},
		{"clamped to 254", priority{items: []item{up("a", 200)}}, 254, 254},
		{"clamped to 1", priority{items: []item{down("a", -200)}}, 1, 1},
		{"weight 0 down faults", priority{items: []item{up("web", 20), down("db", 0)}}, 0, 120},
		{"takeover", priority{takeover: true, items: []item{down("eth2", -30)}}, TakeoverPriority, TakeoverPriority},
		{"takeover does not hide a fault", priority{takeover: true, items: []item{down("db", 0)}}, 0, 100},
		{"rejoined after a handoff", priority{lowered: true}, 1, 1},
		{"rejoined after a handoff, faulted", priority{lowered: true, items: []item{down("db", 0)}}, 0, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.p.want(100)
			if got != tc.want {
				t.Errorf("want(100) = %d, want %d", got, tc.want)
			}
			if n := tc.p.notifyPriority(100, got); n != tc.notify {
				t.Errorf("notifyPriority(100, %d) = %d, want %d", got, n, tc.notify)
			}
		})
	}
}

// TestPriorityHandoff walks the handoff and takeover state: a handoff
// without stopping rejoins lowered (1) unless released while draining; a
// release ends the lowered priority; a takeover ends it too.
func TestPriorityHandoff(t *testing.T) {
	type state struct {
		Want                                    uint8
		HandingOff, Released, Lowered, Takeover bool
	}
	snap := func(p *priority) state {
		return state{p.want(100), p.handingOff, p.released, p.lowered, p.takeover}
	}
	type step struct {
		name       string
		do         func(p *priority) bool
		wantResult bool
		want       state
	}
	handoff := func(p *priority) bool { p.handingOff = true; return true }
	release := func(p *priority) bool { did, _ := p.release(); return did }
	rejoin := func(p *priority) bool { return p.rejoin() }
	takeover := func(on bool) func(p *priority) bool { return func(p *priority) bool { return p.setTakeover(on) } }
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"handoff, rejoin lowered, release", []step{
			{"handoff", handoff, true, state{Want: 100, HandingOff: true}},
			{"stopped", rejoin, true, state{Want: 1, Lowered: true}},
			{"release", release, true, state{Want: 100}},
			{"release again", release, false, state{Want: 100}},
		}},
		{"released while draining", []step{
			{"handoff", handoff, true, state{Want: 100, HandingOff: true}},
			{"release", release, true, state{Want: 100, HandingOff: true, Released: true}},
			{"stopped", rejoin, true, state{Want: 100}},
		}},
		{"rejoin without a handoff", []step{
			{"stopped", rejoin, false, state{Want: 100}},
		}},
		{"takeover ends the lowered priority", []step{
			{"handoff", handoff, true, state{Want: 100, HandingOff: true}},
			{"stopped", rejoin, true, state{Want: 1, Lowered: true}},
			{"takeover", takeover(true), true, state{Want: TakeoverPriority, Takeover: true}},
			{"takeover again", takeover(true), false, state{Want: TakeoverPriority, Takeover: true}},
			{"takeover release", takeover(false), true, state{Want: 100}},
			{"takeover release again", takeover(false), false, state{Want: 100}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p priority
			for _, s := range tc.steps {
				if got := s.do(&p); got != s.wantResult {
					t.Errorf("%s: reported %v, want %v", s.name, got, s.wantResult)
				}
				if d := cmp.Diff(s.want, snap(&p)); d != "" {
					t.Errorf("after %s (-want +got):\n%s", s.name, d)
				}
			}
		})
	}
}

// TestPriorityItems: tracked interfaces come first and report as tracks,
// checks after them; set reports only changes.
func TestPriorityItems(t *testing.T) {
	var p priority
	p.addTrack("eth2", -30, 4, true)
	p.addTrack("eth9", -10, 0, false) // missing
	if i := p.addCheck("web", 20, false); i != 2 {
		t.Fatalf("addCheck index %d, want 2", i)
	}
	if p.set(0, true) {
		t.Errorf("set to the same state reported a change")
	}
	if !p.set(2, true) || p.kind(2) != "check" || p.kind(1) != "track" {
		t.Errorf("set(2, true) or kind wrong: kinds %q %q", p.kind(1), p.kind(2))
	}
	tracks, checks := p.states()
	want := []status.Item{{Name: "eth2", Up: true, Weight: -30}, {Name: "eth9", Weight: -10}}
	if d := cmp.Diff(want, tracks); d != "" {
		t.Errorf("tracks (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]status.Item{{Name: "web", Up: true, Weight: 20}}, checks); d != "" {
		t.Errorf("checks (-want +got):\n%s", d)
	}
	if got := p.want(100); got != 110 {
		t.Errorf("want(100) = %d, want 110 (100 - 10 for eth9 + 20 for web)", got)
	}
	p.clearItems()
	if tracks, checks := p.states(); tracks != nil || checks != nil || p.want(100) != 100 {
		t.Errorf("after clearItems: %v %v, priority %d", tracks, checks, p.want(100))
	}
}
