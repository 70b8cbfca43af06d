package targets

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestActivations(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmds []string
		want []string
	}{
		{"agent.json alone reloads", []string{ActivateAgentConfig}, []string{ActivateAgentConfig}},
		{"a restart covers the reload", []string{ActivateAgentConfig, ActivateAgent}, []string{ActivateAgent}},
		{"others stay, in order", []string{"netplan apply", ActivateAgentConfig}, []string{"netplan apply", ActivateAgentConfig}},
		{"none", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, Activations(tc.cmds)); d != "" {
				t.Errorf("Activations(%q) (-want +got):\n%s", tc.cmds, d)
			}
		})
	}
}

// TestActivateAgentConfig runs the command with a fake systemctl and
// hac-agent: a reload systemd reports failed is asked again of the agent,
// and the agent is restarted only when it refuses the file for settings a
// restart applies (hac-agent reload exits 5); a file this node cannot run
// (exit 4) fails the activation with the running agent untouched.
func TestActivateAgentConfig(t *testing.T) {
	for _, tc := range []struct {
		name           string
		reload, direct int // exit of systemctl reload-or-restart, of hac-agent reload
		want           string
		wantOK         bool
	}{
		{"reloaded", 0, 0, "systemctl reload-or-restart hac-agent\n", true},
		{"restart-only settings", 1, 5, "systemctl reload-or-restart hac-agent\nhac-agent reload\nsystemctl restart hac-agent\n", true},
		{"refused for this node", 1, 4, "systemctl reload-or-restart hac-agent\nhac-agent reload\n", false},
		{"reloaded when asked again", 1, 0, "systemctl reload-or-restart hac-agent\nhac-agent reload\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "log")
			fake := func(name string, code int) {
				script := fmt.Sprintf("#!/bin/sh\necho %s \"$@\" >> %s\ncase \"$1\" in restart) exit 0 ;; esac\nexit %d\n", name, log, code)
				if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			fake("systemctl", tc.reload)
			fake("hac-agent", tc.direct)
			cmd := exec.Command("sh", "-c", strings.ReplaceAll(ActivateAgentConfig, AgentBinary, filepath.Join(dir, "hac-agent")))
			cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
			err := cmd.Run()
			got, _ := os.ReadFile(log)
			if diff := cmp.Diff(tc.want, string(got)); diff != "" || (err == nil) != tc.wantOK {
				t.Errorf("ran (-want +got):\n%s\nerr %v, want ok %v", diff, err, tc.wantOK)
			}
		})
	}
}
