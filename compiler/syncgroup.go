package compiler

import (
	"slices"
	"strings"

	"cuelang.org/go/cue"

	"github.com/hac-project/hac/model"
)

// syncGroups checks and builds the sync groups: members that exist, each
// instance in one group at most, members on the same nodes with the same
// transport, no weighted tracked interface or check in a member (the
// group moves on faults, never on priorities: keepalived ignores those
// weights in a sync group).
func (b *builder) syncGroups(c *model.Cluster, raw map[string]rawSyncGroup) {
	first := map[string][]cue.Selector{} // instance -> where it was first listed
	for _, name := range sortedKeys(raw) {
		rg := raw[name]
		loc := at("sync_groups", name)
		b.checkName(loc, "sync group", name)
		g := model.SyncGroup{Name: name, Pos: b.pos(loc), Notify: b.notify(at(loc, "notify"), &rg.Notify)}
		var ref *model.Instance
		var refLoc []cue.Selector
		for k, iname := range rg.Instances {
			iloc := at(loc, "instances", k)
			in := c.Instance(iname)
			switch {
			case in == nil:
				b.errf(iloc, "instance %s is not in this cluster: instances are %s", iname, instanceList(c))
				continue
			case first[iname] != nil:
				b.both(iloc, first[iname], "instance %s is already in a sync group: an instance is in one sync group at most", iname)
				continue
			}
			first[iname] = iloc
			g.Instances = append(g.Instances, iname)
			b.unweighted(name, in)
			if ref == nil {
				ref, refLoc = in, iloc
				continue
			}
			if a, o := memberNodes(ref), memberNodes(in); !slices.Equal(a, o) {
				b.both(iloc, refLoc, "instance %s runs on %s but %s on %s: the members of a sync group run on the same nodes", iname, strings.Join(o, ", "), ref.Name, strings.Join(a, ", "))
			}
			if a, o := memberOrder(ref), memberOrder(in); slices.Equal(memberNodes(ref), memberNodes(in)) && !slices.Equal(a, o) {
				b.both(iloc, refLoc, "instance %s orders its nodes %s by priority but %s %s: the group has one master node, so one of these orders could never hold: give the members the same order", iname, strings.Join(o, " > "), ref.Name, strings.Join(a, " > "))
			}
			if in.Unicast != ref.Unicast {
				b.both(iloc, refLoc, "instance %s is %s but %s is %s: the members of a sync group use one transport", iname, transport(in), ref.Name, transport(ref))
			}
		}
		if len(rg.Instances) == 1 {
			b.warnf(at(loc, "instances"), "sync group %s has one instance: it only adds the group's notify commands; list the instances that fail over together", name)
		}
		c.SyncGroups = append(c.SyncGroups, g)
	}
}

// unweighted refuses the weights of a sync group member's tracked
// interfaces and checks.
func (b *builder) unweighted(group string, in *model.Instance) {
	for i, t := range in.Track {
		if t.Weight != 0 {
			b.errf(at("vrrp", in.Name, "track_interfaces", i, "weight"), "instance %s is in sync group %s, which moves on faults, not on priorities (keepalived ignores the weight there): use weight 0 (the group goes to fault while the interface is down)", in.Name, group)
		}
	}
	for _, ch := range in.Checks {
		if ch.Weight != 0 {
			b.errf(at("vrrp", in.Name, "checks", ch.Name, "weight"), "instance %s is in sync group %s, which moves on faults, not on priorities (keepalived ignores the weight there): use weight 0 (the group goes to fault while the check fails)", in.Name, group)
		}
	}
}

func instanceList(c *model.Cluster) string {
	names := make([]string, 0, len(c.Instances))
	for _, in := range c.Instances {
		names = append(names, in.Name)
	}
	return strings.Join(names, ", ")
}

// memberNodes returns the instance's nodes, sorted.
func memberNodes(in *model.Instance) []string {
	var ns []string
	for _, m := range in.Members {
		ns = append(ns, m.Node)
	}
	slices.Sort(ns)
	return ns
}

func transport(in *model.Instance) string {
	if in.Unicast {
		return "unicast"
	}
	return "multicast"
}

// memberOrder returns the instance's nodes, highest priority first.
func memberOrder(in *model.Instance) []string {
	var ns []string
	for _, m := range in.Members {
		ns = append(ns, m.Node)
	}
	return ns
}
