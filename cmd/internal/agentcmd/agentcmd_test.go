package agentcmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/internal/testenv"
)

// TestUsage: hac-agent (the tree as the root of its own binary) keeps the
// exit-code table: a bad flag, value, argument or path is a usage error
// (3) that says what to do, before anything is touched.
func TestUsage(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "agent.json")
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"--no-such-flag"}, "hac-agent: unknown flag: --no-such-flag\nrun 'hac-agent --help' for usage"},
		{[]string{"--log-level", "loud"}, `unknown --log-level "loud": use debug, info, warn or error`},
		{[]string{"--log-format", "xml"}, `unknown --log-format "xml": use text or json`},
		{[]string{"--config", missing}, "no such file or directory: give the agent.json hac build wrote with --config"},
		{[]string{"extra"}, "unknown command \"extra\" for \"hac-agent\"\nrun 'hac-agent --help' for usage"},
		{[]string{"status", "--format", "yaml"}, `unknown --format "yaml"`},
		{[]string{"handoff", "VI_1"}, "unknown command \"VI_1\" for \"hac-agent handoff\"\nrun 'hac-agent handoff --help' for usage"},
		{[]string{"takeover", "--release=maybe"}, `invalid argument "maybe" for "--release"`},
		{[]string{"reload", "--no-such-flag"}, "run 'hac-agent reload --help' for usage"},
	} {
		var out, errOut bytes.Buffer
		root := New("hac-agent")
		exitcode.Prepare(root, &out, &errOut)
		if code := exitcode.Run(root, tc.args, &errOut); code != exitcode.Usage || !strings.Contains(errOut.String(), tc.stderr) {
			t.Errorf("hac-agent %s: exit %d, stderr %q; want %d and %q", strings.Join(tc.args, " "), code, errOut.String(), exitcode.Usage, tc.stderr)
		}
	}
}

// runningAgent answers the status socket like an agent running instances
// with the given advert intervals.
type runningAgent struct{ adverts []time.Duration }

func (r runningAgent) Report() status.Report {
	var rep status.Report
	for _, a := range r.adverts {
		rep.Instances = append(rep.Instances, status.Instance{Name: "VI", AdvertMillis: a.Milliseconds()})
	}
	return rep
}
func (runningAgent) Handoff(string, bool) ([]string, error)  { return nil, nil }
func (runningAgent) Takeover(string, bool) ([]string, error) { return nil, nil }
func (runningAgent) Reload() ([]string, error)               { return nil, nil }

// TestReloadWait: hac-agent reload waits for the longest graceful reload
// (election.StopTime) over the running instances and the file's, and at
// least 30 s; with no agent answering it fails at once.
func TestReloadWait(t *testing.T) {
	testenv.NeedRoot(t) // the status socket answers root only
	dir := t.TempDir()
	file := func(advert string) string {
		p := filepath.Join(dir, "agent-"+advert+".json")
		cfg := `{"format": 1, "cluster": "c", "node": "n1", "instances": [{"name": "VI_1", "vrid": 51, "version": 2,
			"interface": "eth1", "priority": 100, "advert_int": "` + advert + `", "vips": [{"prefix": "198.18.0.200/32"}]}]}`
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := config.Load(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name    string
		running []time.Duration
		file    string
		want    time.Duration
	}{
		{"seed", []time.Duration{time.Second}, file("1s"), 30 * time.Second},
		{"a running instance's long interval", []time.Duration{time.Second, 40 * time.Second}, file("1s"), 170 * time.Second},
		{"the file's long interval", []time.Duration{time.Second}, file("255s"), 1030 * time.Second},
		{"no file", []time.Duration{10 * time.Second}, filepath.Join(dir, "missing.json"), 50 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := filepath.Join(t.TempDir(), "agent.sock")
			l, err := status.Listen(sock)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- status.Serve(ctx, l, runningAgent{tc.running}) }()
			defer func() { cancel(); <-served }()
			got, err := reloadWait(sock, readConfig(tc.file))
			if err != nil || got != tc.want {
				t.Errorf("reloadWait = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if _, err := reloadWait(filepath.Join(dir, "none.sock"), readConfig(file("1s"))); err == nil {
		t.Error("reloadWait with no agent: no error")
	}
}
