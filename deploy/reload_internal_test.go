package deploy

import (
	"testing"

	"github.com/hac-project/hac/agent/config"
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
