package election

import (
	"fmt"
	"strings"

	"github.com/hac-project/hac/model"
)

// Case is the outcome of one event in an instance: every member's
// effective priority and who becomes master.
type Case struct {
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

// NodePriority is one member's effective priority in a [Case].
type NodePriority struct {
	Node     string
	Priority int
	Fault    bool // the instance is in FAULT on this node (an event with weight 0)
}

// Event is a tracked interface or a check of an instance that can fail.
type Event struct {
	Kind   string // "track_interface" or "check"
	Name   string // the interface or the check
	Weight int
	Index  int // position in the instance's Track or Checks
}

// String names the event, e.g. "check nginx".
func (e Event) String() string { return e.Kind + " " + e.Name }

// Events returns the instance's tracked interfaces, then its checks.
func Events(in *model.Instance) []Event {
	var evs []Event
	for i, t := range in.Track {
		evs = append(evs, Event{Kind: "track_interface", Name: t.Interface, Weight: t.Weight, Index: i})
	}
	for i, c := range in.Checks {
		evs = append(evs, Event{Kind: "check", Name: c.Name, Weight: c.Weight, Index: i})
	}
	return evs
}

// Outcome computes the case where event failed fails on node (nil for the
// healthy case): each member's [Effective] priority with every item up
// but that one, and who becomes master.
func Outcome(in *model.Instance, failed *Event, node string) Case {
	c := Case{Event: "healthy", Node: node}
	if failed != nil {
		c.Event = failed.String() + " down"
	}
	evs := Events(in)
	items := make([]Item, len(evs))
	for _, m := range in.Members {
		for i, ev := range evs {
			down := failed != nil && node == m.Node && ev.Kind == failed.Kind && ev.Index == failed.Index
			items[i] = Item{Weight: ev.Weight, Up: !down}
		}
		p := Effective(m.Priority, items)
		np := NodePriority{Node: m.Node, Priority: int(p), Fault: p == 0}
		if np.Fault {
			// Show the priority the node would have without the fault.
			for i := range items {
				items[i].Up = items[i].Up || items[i].Weight == 0
			}
			np.Priority = int(Effective(m.Priority, items))
		}
		c.Priorities = append(c.Priorities, np)
	}
	c.elect()
	return c
}

// elect sets Master and Tie from the priorities: the highest priority
// not in fault.
func (c *Case) elect() {
	best := -1
	c.Master, c.Tie = "", false
	for _, p := range c.Priorities {
		switch {
		case p.Fault:
		case p.Priority > best:
			best, c.Master, c.Tie = p.Priority, p.Node, false
		case p.Priority == best:
			c.Tie = true
		}
	}
	if c.Tie {
		c.Master = ""
	}
}

// ClusterTable is [Table] for an instance of cluster c, followed by its
// [GroupCases]: the failover table hac vet -v and hac explain print.
func ClusterTable(c *model.Cluster, in *model.Instance) []Case {
	return append(Table(in), GroupCases(c, in)...)
}

// GroupCases returns, for an instance in a sync group of c, the cases
// where a weight-0 tracked interface or check of another member fails on
// each node: the group puts this instance in FAULT on that node too
// (keepalived's vrrp_sync_fault), so it moves with that member. Members
// have no weighted items (the compiler refuses them), so faults are the
// only way a group moves. Nil when the instance is in no group.
func GroupCases(c *model.Cluster, in *model.Instance) []Case {
	g := c.SyncGroupOf(in.Name)
	if g == nil {
		return nil
	}
	var out []Case
	for _, name := range g.Instances {
		o := c.Instance(name)
		if o == nil || o == in {
			continue
		}
		for _, ev := range Events(o) {
			if ev.Weight != 0 {
				continue
			}
			for _, m := range in.Members {
				fc := Outcome(in, nil, m.Node)
				fc.Event = name + " " + ev.String() + " down (sync group " + g.Name + ")"
				for i := range fc.Priorities {
					fc.Priorities[i].Fault = fc.Priorities[i].Fault || fc.Priorities[i].Node == m.Node
				}
				fc.elect()
				out = append(out, fc)
			}
		}
	}
	return out
}

// Table returns, for an instance, the healthy case and then, for every
// tracked interface and check failing on each member in turn, the
// effective priorities and who becomes master.
func Table(in *model.Instance) []Case {
	cases := []Case{Outcome(in, nil, "")}
	for _, ev := range Events(in) {
		for _, m := range in.Members {
			cases = append(cases, Outcome(in, &ev, m.Node))
		}
	}
	return cases
}

// String formats the priorities as "lb1 200, lb2 100 (fault)".
func (c Case) String() string {
	parts := make([]string, 0, len(c.Priorities))
	for _, p := range c.Priorities {
		s := fmt.Sprintf("%s %d", p.Node, p.Priority)
		if p.Fault {
			s += " (fault)"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}
