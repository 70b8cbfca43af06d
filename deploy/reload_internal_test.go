package deploy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/targets"
	"github.com/hac-project/hac/targets/manifest"
)

// TestNeedsRestart: an agent.json change the agent's reload refuses (an
// agent-wide field such as the metrics listener) makes apply restart the
// agent; an instance change, or a first install, leaves the reload.
func TestNeedsRestart(t *testing.T) {
	base := `{"format":1,"cluster":"c","node":"n1","status_socket":"/run/hac/agent.sock","instances":[{"name":"VI_1","vrid":51,"version":3,"interface":"eth1","priority":100,"advert_int":"1s","vips":[{"prefix":"198.18.0.200/32"}]}]}`
	if _, err := config.Parse([]byte(base)); err != nil {
		t.Fatalf("the test's agent.json: %v", err)
	}
	metrics := `{"format":1,"cluster":"c","node":"n1","status_socket":"/run/hac/agent.sock","metrics":"127.0.0.1:9650","instances":[{"name":"VI_1","vrid":51,"version":3,"interface":"eth1","priority":100,"advert_int":"1s","vips":[{"prefix":"198.18.0.200/32"}]}]}`
	prio := `{"format":1,"cluster":"c","node":"n1","status_socket":"/run/hac/agent.sock","instances":[{"name":"VI_1","vrid":51,"version":3,"interface":"eth1","priority":150,"advert_int":"1s","vips":[{"prefix":"198.18.0.200/32"}]}]}`
	agentJSON := func(old, cur string, exists bool) []*change {
		return []*change{{file: manifest.File{Path: config.DefaultPath}, data: []byte(cur), old: remoteFile{exists: exists, content: []byte(old)}}}
	}
	for _, tc := range []struct {
		name string
		cs   []*change
		want bool
	}{
		{"metrics listener added", agentJSON(base, metrics, true), true},
		{"priority changed", agentJSON(base, prio, true), false},
		{"first install", agentJSON("", metrics, false), false},
		{"unreadable old file", agentJSON("{", metrics, true), false},
	} {
		if got := needsRestart(tc.cs); got != tc.want {
			t.Errorf("%s: needsRestart = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestActivations: the plan and the restore script run the same commands
// for the same changes: agent.json alone reloads, a change only a restart
// applies restarts (once, even with the unit's restart), and the restart
// covers the reload. A rollback of a metrics change (the node's old file
// put back) must restart too: the running agent's reload would refuse it.
func TestActivations(t *testing.T) {
	base := `{"format":1,"cluster":"c","node":"n1","status_socket":"/run/hac/agent.sock","instances":[{"name":"VI_1","vrid":51,"version":3,"interface":"eth1","priority":100,"advert_int":"1s","vips":[{"prefix":"198.18.0.200/32"}]}]}`
	metrics := `{"format":1,"cluster":"c","node":"n1","status_socket":"/run/hac/agent.sock","metrics":"127.0.0.1:9650","instances":[{"name":"VI_1","vrid":51,"version":3,"interface":"eth1","priority":100,"advert_int":"1s","vips":[{"prefix":"198.18.0.200/32"}]}]}`
	prio := strings.Replace(base, `"priority":100`, `"priority":150`, 1)
	agentJSON := func(cur string) *change {
		return &change{file: manifest.File{Path: config.DefaultPath, Activate: targets.ActivateAgentConfig}, remote: config.DefaultPath,
			data: []byte(cur), old: remoteFile{exists: true, content: []byte(base)}}
	}
	netplan := &change{file: manifest.File{Path: "/etc/netplan/60-hac.yaml", Activate: "netplan apply"}, remote: "/etc/netplan/60-hac.yaml", old: remoteFile{exists: true}}
	unit := &change{file: manifest.File{Path: "/etc/systemd/system/hac-agent.service", Activate: targets.ActivateAgent}, remote: "/etc/systemd/system/hac-agent.service", old: remoteFile{exists: true}}
	for _, tc := range []struct {
		name string
		cs   []*change
		want []string
	}{
		{"agent.json alone reloads", []*change{agentJSON(prio)}, []string{targets.ActivateAgentConfig}},
		{"a metrics change restarts", []*change{netplan, agentJSON(metrics)}, []string{"netplan apply", targets.ActivateAgent}},
		{"with the unit: one restart", []*change{agentJSON(metrics), netplan, unit}, []string{targets.ActivateAgent, "netplan apply"}},
		{"the unit's restart covers the reload", []*change{agentJSON(prio), unit}, []string{targets.ActivateAgent}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cmds []string
			for _, c := range tc.cs {
				cmds = append(cmds, c.file.Activate)
			}
			if d := cmp.Diff(tc.want, activations(tc.cs, cmds)); d != "" {
				t.Errorf("activations (-want +got):\n%s", d)
			}
			script := string(restoreScript("/var/lib/hac", "tok", &NodePlan{changes: tc.cs}, false))
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
