package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/internal/version"
)

// TestRun: the version, and usage errors that say what to do instead
// (hac-metrics is started by the agent, not by hand).
func TestRun(t *testing.T) {
	// A descriptor that is no socket (listener closes what it is given).
	file, err := os.Create(filepath.Join(t.TempDir(), "not-a-socket"))
	if err != nil {
		t.Fatal(err)
	}
	notSocket := strconv.Itoa(int(file.Fd()))
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string // in stdout, or stderr for a failure
	}{
		{"version", []string{"version"}, 0, version.Line(config.MetricsProgram)},
		{"no socket given", nil, 2, "--listen-fd is missing: the hac agent runs hac-metrics with the socket it listens on; set agent.metrics in agent.json instead"},
		{"stray argument", []string{"--listen-fd", "3", "serve"}, 2, `unexpected argument "serve"`},
		{"log format", []string{"--listen-fd", "3", "--log-format", "xml"}, 2, `unknown --log-format "xml": use text or json`},
		{"log level", []string{"--listen-fd", "3", "--log-level", "loud"}, 2, `unknown --log-level "loud": use debug, info, warn or error`},
		{"unknown flag", []string{"--listen", "127.0.0.1:9650"}, 2, "flag provided but not defined: -listen"},
		{"not a socket", []string{"--listen-fd", notSocket}, 1, "--listen-fd " + notSocket + " is not a listening socket"},
		{"no such descriptor", []string{"--listen-fd", "999"}, 1, "--listen-fd 999 is not a listening socket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			got := stdout.String()
			if tc.code != 0 {
				got = stderr.String()
			}
			if code != tc.code || !strings.Contains(got, tc.out) {
				t.Errorf("run(%q) = %d, output:\n%s\nwant %d and %q", tc.args, code, got, tc.code, tc.out)
			}
		})
	}
}
