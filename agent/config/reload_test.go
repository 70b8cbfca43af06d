package config

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRestartKey: the key changes exactly when RestartOnly finds a change
// (an agent-wide field), never with the instances, the names or the auth
// pass, so hac apply's choice between a reload and a restart by the key
// is the agent's own rule.
func TestRestartKey(t *testing.T) {
	tests := []struct {
		name    string
		change  func(c *Config)
		restart []string // the paths RestartOnly names; none: a reload applies it
	}{
		{"nothing", func(c *Config) {}, nil},
		{"the auth pass", func(c *Config) { c.Instances[0].Auth.Pass = "other123" }, nil},
		{"a priority", func(c *Config) { c.Instances[0].Priority = 10 }, nil},
		{"an instance less", func(c *Config) { c.Instances = c.Instances[:1] }, nil},
		{"the cluster and node names", func(c *Config) { c.Cluster, c.Node = "other", "lb9" }, nil},
		{"the metrics listener", func(c *Config) { c.Metrics = "127.0.0.1:9650" }, []string{"metrics"}},
		{"the status socket", func(c *Config) { c.StatusSocket = "/run/hac/other.sock" }, []string{"status_socket"}},
		{"the format", func(c *Config) { c.Format = 2 }, []string{"format"}},
		{"a sync group's notify command", func(c *Config) { c.SyncGroups[0].Notify.All = []string{"/bin/true"} }, []string{"sync_groups"}},
		{"no sync groups", func(c *Config) { c.SyncGroups = nil }, []string{"sync_groups"}},
		{"metrics and sync groups", func(c *Config) { c.Metrics, c.SyncGroups = "[::1]:9650", nil }, []string{"metrics", "sync_groups"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, cur := valid(), valid()
			tt.change(cur)
			var got []string
			if err := RestartOnly(old, cur); err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					got = append(got, e.(*Problem).Path)
				}
			}
			if d := cmp.Diff(tt.restart, got); d != "" {
				t.Errorf("RestartOnly's paths (-want +got):\n%s", d)
			}
			if same := RestartKey(old) == RestartKey(cur); same != (tt.restart == nil) {
				t.Errorf("RestartKey equal = %v, RestartOnly says restart %v: they must agree", same, tt.restart)
			}
		})
	}
}

// TestRestartKeyStable: the key is the SHA-256 of the set restart-only
// settings as a JSON object with sorted keys, so it does not change
// between hac versions unless those settings do (a changed key restarts
// the agent on every node once), and an unset agent-wide field leaves it
// alone.
func TestRestartKeyStable(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    *Config
		json string
	}{
		{"format and status socket", &Config{Format: FormatVersion, Cluster: "c", Node: "n", StatusSocket: DefaultStatusSocket},
			`{"format":1,"status_socket":"/run/hac/agent.sock"}`},
		{"every field", func() *Config { c := valid(); c.Metrics = "127.0.0.1:9650"; return c }(),
			`{"format":1,"metrics":"127.0.0.1:9650","status_socket":"/run/hac/agent.sock","sync_groups":[{"name":"router","instances":["VI_6"],"notify":{"all":["/usr/local/bin/notify"]}}]}`},
	} {
		sum := sha256.Sum256([]byte(tt.json))
		if got, want := RestartKey(tt.c), hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s: RestartKey = %s, want %s, the SHA-256 of %s", tt.name, got, want, tt.json)
		}
	}
}

// TestRestartOnlyMessage: the agent's refusal says what changed, in
// agent.json's own notation.
func TestRestartOnlyMessage(t *testing.T) {
	old, cur := valid(), valid()
	cur.StatusSocket, cur.SyncGroups = "/run/hac/other.sock", nil
	want := `status_socket: changed from "/run/hac/agent.sock" to "/run/hac/other.sock", which only a restart applies: restart the agent (systemctl restart hac-agent)
sync_groups: changed from [{"name":"router","instances":["VI_6"],"notify":{"all":["/usr/local/bin/notify"]}}] to null, which only a restart applies: restart the agent (systemctl restart hac-agent)`
	if d := cmp.Diff(want, RestartOnly(old, cur).Error()); d != "" {
		t.Errorf("RestartOnly (-want +got):\n%s", d)
	}
}
