package compiler

import (
	"fmt"
	"strings"

	"github.com/hac-project/hac/model"
)

// FailoverCase is the outcome of one event in an instance: every member's
// effective priority and who becomes master.
type FailoverCase struct {
	// Event is "healthy", "track_interface eth2 down" or "check nginx down".
	Event string
	// Node is where the event happens; empty for the healthy case.
	Node string
	// Priorities are the members' effective priorities, in member order.
	Priorities []NodePriority
	// Master is the node that becomes master; empty when two nodes tie
	// for the highest priority or every node is in fault.
	Master string
	// Tie reports two or more nodes with the highest priority.
	Tie bool
}

// NodePriority is one member's effective priority in a [FailoverCase].
type NodePriority struct {
	Node     string
	Priority int
	Fault    bool // the instance is in FAULT on this node (an event with weight 0)
}

// event is a tracked interface or a check that can fail.
type event struct {
	kind   string // "track_interface" or "check"
	name   string
	weight int
	index  int // position in Track, for diagnostics
}

// String names the event, e.g. "check nginx".
func (e event) String() string { return e.kind + " " + e.name }

func events(in *model.Instance) []event {
	var evs []event
	for i, t := range in.Track {
		evs = append(evs, event{kind: "track_interface", name: t.Interface, weight: t.Weight, index: i})
	}
	for i, c := range in.Checks {
		evs = append(evs, event{kind: "check", name: c.Name, weight: c.Weight, index: i})
	}
	return evs
}

// effective computes a member's priority (keepalived's rules) when the
// event failed fails on node failed ("" for none): a positive weight is
// added while the thing is up, a negative one while it is down; weight 0
// puts the instance in fault while down. The result stays within 1..254;
// an address owner (255) keeps 255.
func effective(in *model.Instance, m model.Member, failed *event, failedNode string) NodePriority {
	np := NodePriority{Node: m.Node, Priority: int(m.Priority)}
	if m.Priority == ownerPrio {
		return np
	}
	for _, ev := range events(in) {
		down := failed != nil && failedNode == m.Node && ev.kind == failed.kind && ev.index == failed.index
		switch {
		case ev.weight > 0 && !down, ev.weight < 0 && down:
			np.Priority += ev.weight
		case ev.weight == 0 && down:
			np.Fault = true
		}
	}
	np.Priority = min(max(np.Priority, 1), 254)
	return np
}

// outcome computes one failover case.
func outcome(in *model.Instance, failed *event, node string) FailoverCase {
	fc := FailoverCase{Event: "healthy", Node: node}
	if failed != nil {
		fc.Event = failed.String() + " down"
	}
	best := -1
	for _, m := range in.Members {
		np := effective(in, m, failed, node)
		fc.Priorities = append(fc.Priorities, np)
		switch {
		case np.Fault:
		case np.Priority > best:
			best, fc.Master, fc.Tie = np.Priority, m.Node, false
		case np.Priority == best:
			fc.Tie = true
		}
	}
	if fc.Tie {
		fc.Master = ""
	}
	return fc
}

// Failover returns, for an instance, the healthy case and then, for every
// tracked interface and check failing on each member in turn, the
// effective priorities and who becomes master.
func Failover(c *model.Cluster, in *model.Instance) []FailoverCase {
	cases := []FailoverCase{outcome(in, nil, "")}
	for _, ev := range events(in) {
		for _, m := range in.Members {
			cases = append(cases, outcome(in, &ev, m.Node))
		}
	}
	return cases
}

// String formats the priorities as "lb1 200, lb2 100 (fault)".
func (fc FailoverCase) String() string {
	parts := make([]string, 0, len(fc.Priorities))
	for _, p := range fc.Priorities {
		s := fmt.Sprintf("%s %d", p.Node, p.Priority)
		if p.Fault {
			s += " (fault)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// failover refuses an instance where a tracked interface or check with a
// weight, failing on the master, does not move the master elsewhere, or
// where two nodes would tie for master.
func (b *builder) failover(c *model.Cluster, in *model.Instance) {
	if len(in.Members) < 2 {
		return
	}
	master := in.Master().Node
	for _, ev := range events(in) {
		if ev.weight == 0 {
			continue
		}
		loc := at("vrrp", in.Name, "track_interfaces", ev.index, "weight")
		if ev.kind == "check" {
			loc = at("vrrp", in.Name, "checks", ev.name, "weight")
		}
		for _, m := range in.Members {
			fc := outcome(in, &ev, m.Node)
			switch {
			case fc.Tie:
				b.errf(loc, "if %s fails on %s, nodes tie for master (%s): change the weight or the priorities so that one node is highest", ev, m.Node, fc)
			case m.Node == master && fc.Master == master:
				b.errf(loc, "if %s fails on master %s, %s stays master (%s): the weight %d is smaller than the priority gap; make it larger", ev, master, master, fc, ev.weight)
			}
		}
	}
}
