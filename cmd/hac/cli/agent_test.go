package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/internal/testenv"
)

// oneInstance is an agent on the status socket that runs VI_1 and VI_2
// and refuses every reload, as the real agent answers: with restartOnly,
// only for settings a restart applies.
type oneInstance struct{ restartOnly bool }

func (oneInstance) Report() status.Report { return status.Report{} }
func (oneInstance) Handoff(name string, _ bool) ([]string, error) {
	if name != "" && name != "VI_1" && name != "VI_2" {
		return nil, &status.UnknownInstanceError{Name: name, Known: []string{"VI_1", "VI_2"}}
	}
	return []string{"VI_1"}, nil
}
func (o oneInstance) Takeover(name string, release bool) ([]string, error) {
	return o.Handoff(name, release)
}
func (o oneInstance) Reload() ([]string, error) {
	if o.restartOnly {
		return nil, fmt.Errorf("reload refused, the running configuration stays: %w",
			&status.RestartOnlyError{Err: errors.New(`metrics: changed from "" to "127.0.0.1:9650", which only a restart applies`)})
	}
	return nil, errors.New("reload refused, the running configuration stays: instances[0].vrid: 0")
}

// TestAgentExitCodes: the agent's clients follow the exit-code table: an
// instance the agent does not run is a usage error (3) whose message names
// those it runs (it exited 4), as is a bad flag; a refused reload and a
// missing agent failed (4).
func TestAgentExitCodes(t *testing.T) {
	testenv.NeedRoot(t) // the socket answers root peers only
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	l, err := status.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go status.Serve(ctx, l, oneInstance{})
	restart := filepath.Join(dir, "restart.sock")
	l2, err := status.Listen(restart)
	if err != nil {
		t.Fatal(err)
	}
	go status.Serve(ctx, l2, oneInstance{restartOnly: true})
	nowhere := filepath.Join(dir, "nowhere.sock")
	for _, tc := range []struct {
		args   []string
		want   int
		stderr string
	}{
		{[]string{"agent", "handoff", "--socket", sock, "--instance", "nope"}, exitcode.Usage, `no instance named "nope": the agent runs VI_1, VI_2`},
		{[]string{"agent", "takeover", "--socket", sock, "--instance", "nope"}, exitcode.Usage, `no instance named "nope": the agent runs VI_1, VI_2`},
		{[]string{"agent", "takeover", "--status-socket", sock, "--instance", "nope", "--release"}, exitcode.Usage, `no instance named "nope"`},
		{[]string{"agent", "handoff", "--socket", sock, "--instance", "VI_2"}, exitcode.OK, ""},
		{[]string{"agent", "status", "--socket", sock}, exitcode.OK, ""},
		{[]string{"agent", "reload", "--socket", sock}, exitcode.Failed, "reload refused"},
		{[]string{"agent", "reload", "--socket", restart}, exitcode.Restart, "metrics: changed from"},
		{[]string{"agent", "status", "--socket", nowhere}, exitcode.Failed, "is the hac agent running"},
		{[]string{"agent", "handoff", "--socket", nowhere, "--instance", "nope"}, exitcode.Failed, "is the hac agent running"},
		{[]string{"agent", "--no-such-flag"}, exitcode.Usage, "unknown flag"},
		{[]string{"agent", "--config", filepath.Join(dir, "missing.json")}, exitcode.Usage, "missing.json: no such file or directory: give the agent.json hac build wrote with --config"},
		{[]string{"agent", "status", "--no-such-flag"}, exitcode.Usage, "unknown flag"},
		{[]string{"agent", "status", "--format", "yaml"}, exitcode.Usage, `unknown --format "yaml"`},
		{[]string{"agent", "handoff", "--no-such-flag"}, exitcode.Usage, "unknown flag"},
		{[]string{"agent", "takeover", "--no-such-flag"}, exitcode.Usage, "unknown flag"},
		{[]string{"agent", "reload", "--no-such-flag"}, exitcode.Usage, "unknown flag"},
		{[]string{"agent", "reload", "extra"}, exitcode.Usage, "unknown command"},
		{[]string{"agent", "handoff", "--socket", sock, "VI_1"}, exitcode.Usage, "unknown command"},
	} {
		t.Run(strings.Join(tc.args[1:], " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := run(tc.args, &stdout, &stderr); got != tc.want {
				t.Errorf("exit %d, want %d\nstderr: %s", got, tc.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tc.stderr)
			}
		})
	}
}
