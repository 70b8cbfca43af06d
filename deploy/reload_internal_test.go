package deploy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/targets"
	"github.com/hac-project/hac/targets/manifest"
)

// Restart keys of two agent.json files that differ in a restart-only
// setting (the metrics listener).
var (
	keyBase    = config.RestartKey(&config.Config{Format: config.FormatVersion, StatusSocket: config.DefaultStatusSocket})
	keyMetrics = config.RestartKey(&config.Config{Format: config.FormatVersion, StatusSocket: config.DefaultStatusSocket, Metrics: "127.0.0.1:9650"})
)

// keyed returns a manifest with restart key key.
func keyed(key string) *manifest.Manifest { return &manifest.Manifest{AgentRestartKey: key} }

// agentJSONChange is a change of agent.json; exists says the node has one.
func agentJSONChange(exists bool) *change {
	return &change{file: manifest.File{Path: config.DefaultPath, Activate: targets.ActivateAgentConfig}, remote: config.DefaultPath,
		data: []byte("new"), old: remoteFile{exists: exists, content: []byte("old")}}
}

// TestNeedsRestart: apply restarts the agent for an agent.json change when
// the restart key the node recorded differs from the new manifest's (an
// agent-wide field the reload refuses, such as the metrics listener), and
// when it cannot know (no record, or a record or tree without a key: an
// older hac's), the safe side; it reloads for an instance change and
// starts the agent on a first install. It never reads agent.json: the
// files' contents here are not agent.json at all.
func TestNeedsRestart(t *testing.T) {
	netplan := &change{file: manifest.File{Path: "/etc/netplan/60-hac.yaml", Activate: "netplan apply"}, old: remoteFile{exists: true}}
	tests := []struct {
		name      string
		was, next *manifest.Manifest
		changes   []*change
		want      bool
	}{
		{"metrics listener added", keyed(keyBase), keyed(keyMetrics), []*change{agentJSONChange(true)}, true},
		{"metrics listener removed", keyed(keyMetrics), keyed(keyBase), []*change{agentJSONChange(true)}, true},
		{"an instance change: same key", keyed(keyBase), keyed(keyBase), []*change{agentJSONChange(true)}, false},
		{"first install", nil, keyed(keyMetrics), []*change{agentJSONChange(false)}, false},
		{"agent.json unchanged", keyed(keyBase), keyed(keyMetrics), []*change{netplan}, false},
		// Safe side: what the running agent's settings are is unknown.
		{"no record on the node", nil, keyed(keyBase), []*change{agentJSONChange(true)}, true},
		{"a record without the key (an older hac)", keyed(""), keyed(keyBase), []*change{agentJSONChange(true)}, true},
		{"a tree without the key (an older hac)", keyed(keyBase), keyed(""), []*change{agentJSONChange(true)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := needsRestart(tt.was, tt.next, tt.changes); got != tt.want {
				t.Errorf("needsRestart = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestActivations: the plan and the restore script run the same commands
// for the same changes: agent.json alone reloads, a change only a restart
// applies restarts (once, even with the unit's restart), and the restart
// covers the reload. A rollback of a metrics change (the node's old file
// put back) must restart too: the running agent's reload would refuse it.
func TestActivations(t *testing.T) {
	netplan := &change{file: manifest.File{Path: "/etc/netplan/60-hac.yaml", Activate: "netplan apply"}, remote: "/etc/netplan/60-hac.yaml", old: remoteFile{exists: true}}
	unit := &change{file: manifest.File{Path: "/etc/systemd/system/hac-agent.service", Activate: targets.ActivateAgent}, remote: "/etc/systemd/system/hac-agent.service", old: remoteFile{exists: true}}
	for _, tc := range []struct {
		name string
		next string // the new manifest's restart key; the node recorded keyBase
		cs   []*change
		want []string
	}{
		{"agent.json alone reloads", keyBase, []*change{agentJSONChange(true)}, []string{targets.ActivateAgentConfig}},
		{"a metrics change restarts", keyMetrics, []*change{netplan, agentJSONChange(true)}, []string{"netplan apply", targets.ActivateAgent}},
		{"with the unit: one restart", keyMetrics, []*change{agentJSONChange(true), netplan, unit}, []string{targets.ActivateAgent, "netplan apply"}},
		{"the unit's restart covers the reload", keyBase, []*change{agentJSONChange(true), unit}, []string{targets.ActivateAgent}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			np := &NodePlan{changes: tc.cs, recorded: keyed(keyBase), node: &Node{Manifest: keyed(tc.next)}}
			var cmds []string
			for _, c := range tc.cs {
				cmds = append(cmds, c.file.Activate)
			}
			if d := cmp.Diff(tc.want, activations(np, cmds)); d != "" {
				t.Errorf("activations (-want +got):\n%s", d)
			}
			script := string(restoreScript("/var/lib/hac", "tok", np, false))
			var got []string
			for _, l := range strings.Split(script, "\n") {
				if cmd, ok := strings.CutPrefix(l, "HAC_ROOT='' sh -c "); ok {
					got = append(got, strings.Trim(strings.TrimSuffix(cmd, " || rc=1"), "'"))
				}
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("restore script's commands (-want +got):\n%s\n%s", d, script)
			}
		})
	}
}
