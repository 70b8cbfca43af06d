package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPlanSummary: unreachable nodes are said to be unplanned, never
// "0 of 2 node(s) to change", and the JSON's "changed" is null (unknown)
// rather than false next to errors.
func TestPlanSummary(t *testing.T) {
	unreachable := func(node string) *NodePlan {
		return &NodePlan{Cluster: "ncp", Node: node, Error: "dial: no route to host", err: errors.New("dial: no route to host")}
	}
	changing := func(node string) *NodePlan {
		return &NodePlan{Cluster: "ncp", Node: node, changes: []*change{{}}}
	}
	upToDate := func(node string) *NodePlan { return &NodePlan{Cluster: "ncp", Node: node} }
	for _, tc := range []struct {
		name    string
		nodes   []*NodePlan
		summary string
		changed string // the JSON value
	}{
		{"all unreachable", []*NodePlan{unreachable("lb1"), unreachable("lb2")},
			"Of 2 node(s): 2 could not be planned (see the errors above): what they need is unknown.", "null"},
		{"mixed", []*NodePlan{changing("lb1"), upToDate("lb2"), unreachable("lb3")},
			"Of 3 node(s): 1 to change, 1 up to date, 1 could not be planned (see the errors above): what they need is unknown.", "true"},
		{"up to date", []*NodePlan{upToDate("lb1"), upToDate("lb2")}, "No changes: 2 node(s) up to date.", "false"},
		{"changes", []*NodePlan{changing("lb1"), upToDate("lb2")}, "1 of 2 node(s) to change.", "true"},
	} {
		p := &Plan{Nodes: tc.nodes}
		if got := p.Summary(); got != tc.summary {
			t.Errorf("%s: Summary = %q, want %q", tc.name, got, tc.summary)
		}
		var text bytes.Buffer
		if err := p.WriteText(&text, false); err != nil || !strings.HasSuffix(text.String(), tc.summary+"\n") {
			t.Errorf("%s: WriteText = %v\n%s", tc.name, err, text.String())
		}
		var buf bytes.Buffer
		if err := p.WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if string(got["changed"]) != tc.changed {
			t.Errorf("%s: JSON changed = %s, want %s\n%s", tc.name, got["changed"], tc.changed, buf.String())
		}
		if complete := string(got["complete"]); (complete == "true") != (p.Err() == nil) {
			t.Errorf("%s: JSON complete = %s with Err %v", tc.name, complete, p.Err())
		}
	}
}

// TestResultSummary: a dry run with unreachable nodes says nothing was
// changed and which nodes could not be planned, never "rolled back".
func TestResultSummary(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  Result
		want string
	}{
		{"dry run, unreachable", Result{DryRun: true, Nodes: []NodeResult{{Outcome: NotPlanned}, {Outcome: Skipped}}},
			"Dry run, nothing was changed. Of 2 node(s): 1 skipped (another node of the cluster failed or could not be planned), 1 could not be planned (nothing was done on them)."},
		{"dry run", Result{DryRun: true, Nodes: []NodeResult{{Outcome: WouldApply}, {Outcome: Unchanged}}},
			"Dry run, nothing was changed. Of 2 node(s): 1 would change, 1 already up to date."},
		{"rollback", Result{Nodes: []NodeResult{{Outcome: Applied}, {Outcome: RolledBack}}},
			"Of 2 node(s): 1 applied, 1 rolled back (previous files restored)."},
	} {
		if diff := cmp.Diff(tc.want, tc.res.Summary()); diff != "" {
			t.Errorf("%s: Summary (-want +got):\n%s", tc.name, diff)
		}
		if strings.Contains(tc.res.Summary(), "rolled back") != (tc.name == "rollback") {
			t.Errorf("%s: %q", tc.name, tc.res.Summary())
		}
	}
}

// TestApplyUnplannedNode: a node that could not be planned is "not
// planned" (it used to be "failed", and the CLI said it was rolled back),
// and it stops its cluster.
func TestApplyUnplannedNode(t *testing.T) {
	p := &Plan{Nodes: []*NodePlan{
		{Cluster: "ncp", Node: "lb2", Error: "dial: no route to host", err: errors.New("dial: no route to host")},
		{Cluster: "ncp", Node: "lb1", changes: []*change{{}}},
	}}
	d := New(nil, Options{DryRun: true})
	res := d.Apply(t.Context(), p)
	got := []Outcome{res.Nodes[0].Outcome, res.Nodes[1].Outcome}
	if diff := cmp.Diff([]Outcome{NotPlanned, Skipped}, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	if res.OK() || !res.DryRun {
		t.Errorf("OK %v, DryRun %v", res.OK(), res.DryRun)
	}
}

// TestApplyUnplannedLastNode: a node that could not be planned stops its
// cluster even when it comes last in rolling order: the backup before it
// is not changed either (a sudo that wants a password is found before
// anything changes on any node of the cluster).
func TestApplyUnplannedLastNode(t *testing.T) {
	p := &Plan{Nodes: []*NodePlan{
		{Cluster: "ncp", Node: "lb2", changes: []*change{{}}},
		{Cluster: "ncp", Node: "lb1", Error: "sudo: a password is required", err: errors.New("sudo: a password is required")},
	}}
	d := New(nil, Options{DryRun: true})
	res := d.Apply(t.Context(), p)
	got := []Outcome{res.Nodes[0].Outcome, res.Nodes[1].Outcome}
	if diff := cmp.Diff([]Outcome{Skipped, NotPlanned}, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
}
