package compiler

import (
	"github.com/hac-project/hac/election"
	"github.com/hac-project/hac/model"
)

// failover refuses an instance where a tracked interface or check with a
// weight, failing on the master, does not move the master elsewhere, or
// where two nodes would tie for master ([election.Outcome] decides).
func (b *builder) failover(in *model.Instance) {
	if len(in.Members) < 2 {
		return
	}
	master := in.Master().Node
	for _, ev := range election.Events(in) {
		if ev.Weight == 0 {
			continue
		}
		loc := at("vrrp", in.Name, "track_interfaces", ev.Index, "weight")
		if ev.Kind == "check" {
			loc = at("vrrp", in.Name, "checks", ev.Name, "weight")
		}
		for _, m := range in.Members {
			fc := election.Outcome(in, &ev, m.Node)
			switch {
			case fc.Tie:
				b.errf(loc, "if %s fails on %s, nodes tie for master (%s): change the weight or the priorities so that one node is highest", ev, m.Node, fc)
			case m.Node == master && fc.Master == master:
				b.errf(loc, "if %s fails on master %s, %s stays master (%s): the weight %d is smaller than the priority gap; make it larger", ev, master, master, fc, ev.Weight)
			}
		}
	}
}
