package deploy

import (
	"fmt"
	"strings"
	"time"

	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/election"
	"github.com/hac-project/hac/targets/manifest"
)

// view is one node as the drift checker sees it: its manifest (the
// intent) and what its agent reports, or why it could not be asked.
type view struct {
	name   string
	node   *Node
	report *status.Report
	err    string
	// keepalived is set for a node that runs keepalived, not the agent:
	// there is no report to compare, only whether its service is active
	// (err says why not).
	keepalived bool
}

// drift is the one drift checker of hac apply (its verification after each
// node and once the cluster is done) and hac status. For every node: the
// agent runs the built configuration, and every expected instance runs,
// is settled (MASTER or BACKUP) with its configured priority, holds no VIP
// unless master, and as a backup has heard its master within its
// Master_Down_Interval (from the manifest's facts). With whole set, the
// views are a whole cluster (as the tree has it) and, per instance, there
// is at most one master, and it is the expected node when one of the views
// expects to be master. Node problems start with "node: ".
func drift(views []view, whole bool) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	var instances []string
	expectMaster := map[string]string{}
	masters := map[string][]string{}
	for _, v := range views {
		if v.keepalived {
			if v.err != "" {
				add("%s: %s", v.name, v.err)
			}
			continue
		}
		for _, e := range v.node.Manifest.Expect {
			if _, ok := expectMaster[e.Instance]; !ok {
				instances = append(instances, e.Instance)
				expectMaster[e.Instance] = ""
			}
			if e.State == "MASTER" {
				expectMaster[e.Instance] = v.name
			}
		}
		if v.report == nil {
			add("%s: agent status unavailable: %s", v.name, v.err)
			continue
		}
		if want := wantDigest(v.node); want != "" && v.report.ConfigDigest != want {
			// No digest in the message: agent.json holds the pass, and an
			// unkeyed digest of it (even a prefix) in a CI log would let
			// anyone test guesses of the pass offline.
			add("%s: the agent runs another agent.json than the build: run hac apply", v.name)
		}
		for _, e := range v.node.Manifest.Expect {
			in := findInstance(v.report, e.Instance)
			switch {
			case in == nil:
				add("%s: instance %s is not running", v.name, e.Instance)
				continue
			case in.State == "MASTER":
				masters[e.Instance] = append(masters[e.Instance], v.name)
			case in.State != "BACKUP":
				add("%s: instance %s: %s, want %s", v.name, e.Instance, in.State, e.State)
			}
			if basePriority(in) != e.Priority {
				add("%s: instance %s: priority %d, want %d", v.name, e.Instance, basePriority(in), e.Priority)
			}
			if in.State == "MASTER" {
				continue
			}
			if len(in.VIPs) > 0 {
				add("%s: instance %s is %s but holds VIPs %v", v.name, e.Instance, in.State, in.VIPs)
			}
			limit := advertLimit(e)
			switch {
			case in.State != "BACKUP":
			case in.LastAdvertMillis < 0:
				// A backup must hear its master before hac touches the
				// master: it is the one that takes over.
				add("%s: instance %s hears no adverts from its peers", v.name, e.Instance)
			case time.Duration(in.LastAdvertMillis)*time.Millisecond > limit:
				add("%s: instance %s heard its master %s ago (more than %s)", v.name, e.Instance, time.Duration(in.LastAdvertMillis)*time.Millisecond, limit)
			}
		}
	}
	if !whole {
		return out
	}
	for _, name := range instances {
		switch m := masters[name]; {
		case len(m) == 0 && expectMaster[name] != "":
			add("instance %s has no master", name)
		case len(m) > 1:
			add("instance %s has %d masters (split brain): %s", name, len(m), strings.Join(m, ", "))
		case expectMaster[name] != "" && m[0] != expectMaster[name]:
			add("instance %s: master is %s, expected %s", name, m[0], expectMaster[name])
		}
	}
	return out
}

// advertSlack is added to the Master_Down_Interval before an advert counts
// as missed: the status is read over SSH, some time after the agent's.
const advertSlack = 500 * time.Millisecond

// advertLimit is how old a backup's last advert may be: the backup's
// Master_Down_Interval (after which it would take over) and advertSlack;
// 3.5 s for a manifest from an older hac, without the facts.
func advertLimit(e manifest.Expect) time.Duration {
	if e.Version == 0 || e.AdvertIntMillis <= 0 {
		return 3*time.Second + advertSlack
	}
	advert := time.Duration(e.AdvertIntMillis) * time.Millisecond
	return election.MasterDownInterval(e.Version, uint8(e.Priority), advert, election.DefaultDownAdverts) + advertSlack
}
