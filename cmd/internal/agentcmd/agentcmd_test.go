package agentcmd

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hac-project/hac/cmd/internal/exitcode"
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
