package deploy

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/hac-project/hac/deploy/sshconn"
	"github.com/hac-project/hac/targets/manifest"
)

// commands is a Conn that answers each command it knows with its output,
// or fails it as sh does a command not found (exit status 127), or as the
// agent's status does with no agent running (4).
type commands map[string]string

func (c commands) Run(_ context.Context, what, cmd string, _ io.Reader) ([]byte, error) {
	out, ok := c[cmd]
	switch {
	case !ok:
		return nil, &sshconn.RunError{Host: "n1", What: what, Status: 127, Stderr: "sh: 1: " + strings.Fields(cmd)[0] + ": not found"}
	case out == "":
		return nil, &sshconn.RunError{Host: "n1", What: what, Status: 4, Stderr: "hac-agent: agent status socket /run/hac/agent.sock: connect: no such file or directory"}
	}
	return []byte(out), nil
}
func (commands) Close() error { return nil }

// TestAgentReportLegacy: hac status reads the agent of a node an older
// hac applied (its agent runs from /usr/local/bin/hac, no hac-agent yet),
// and says what installs hac-agent when neither is there; a status
// command given by hand, or a hac-agent that answers with an error, is
// taken as it is.
func TestAgentReportLegacy(t *testing.T) {
	const rep = `{"node":"n1","instances":[{"name":"VI_1","state":"MASTER"}]}`
	n := &Node{Manifest: &manifest.Manifest{Cluster: "c", Node: "n1"}}
	for _, tc := range []struct {
		name    string
		own     string // Options.StatusCommand
		node    commands
		wantErr string // "" : the report
	}{
		{"hac-agent", "", commands{DefaultStatusCommand: rep}, ""},
		{"legacy hac", "", commands{legacyStatusCommand: rep}, ""},
		{"neither", "", commands{}, "exit status 127: sh: 1: /usr/local/sbin/hac-agent: not found: hac-agent is not installed as /usr/local/sbin/hac-agent (nor the whole hac an older hac apply installed as /usr/local/bin/hac): hac apply installs it"},
		{"hac-agent, no agent running", "", commands{DefaultStatusCommand: "", legacyStatusCommand: rep}, "exit status 4"},
		{"own status command", "my-status", commands{legacyStatusCommand: rep}, "n1: agent status: exit status 127: sh: 1: my-status: not found"},
	} {
		d := &Deployer{Options: Options{StatusCommand: tc.own}}
		got, err := d.agentReport(context.Background(), tc.node, n)
		switch {
		case tc.wantErr == "" && (err != nil || got == nil || len(got.Instances) != 1 || got.Instances[0].State != "MASTER"):
			t.Errorf("%s: agentReport = %+v, %v; want the MASTER report", tc.name, got, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: agentReport error %v, want %q", tc.name, err, tc.wantErr)
		}
	}
}
