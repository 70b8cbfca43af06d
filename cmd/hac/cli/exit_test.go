package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tabYAML is a cluster file with a tab in its indentation on line 4.
const tabYAML = "clusters:\n  ncp-lb:\n    network:\n\tinterface: eth1\n"

// TestExitCodes checks the one exit-code table of every command: 2 means
// only "hac plan: changes pending", so a usage error or a syntax error
// must never exit 2.
func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("tab.yaml", []byte(tabYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("bad.cue", []byte("clusters: {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"no-such-command"}, ExitUsage},
		{[]string{"vet", "--no-such-flag", "."}, ExitUsage},
		{[]string{"plan", "--no-such-flag", "."}, ExitUsage},
		{[]string{"apply", "--no-such-flag", "."}, ExitUsage},
		{[]string{"status", "--no-such-flag", "."}, ExitUsage},
		{[]string{"build", "--no-such-flag"}, ExitUsage},
		{[]string{"vet", "no/such/path.cue"}, ExitUsage},
		{[]string{"build", "-o", "out", "no/such/path.cue"}, ExitUsage},
		{[]string{"plan", "no/such/path.cue"}, ExitUsage},
		{[]string{"plan", "--format", "xml", "tab.yaml"}, ExitUsage},
		{[]string{"vet", "tab.yaml"}, ExitInvalid},
		{[]string{"vet", "--format", "json", "tab.yaml"}, ExitInvalid},
		{[]string{"build", "-o", "out", "tab.yaml"}, ExitInvalid},
		{[]string{"plan", "tab.yaml"}, ExitInvalid},
		{[]string{"apply", "tab.yaml"}, ExitInvalid},
		{[]string{"vet", "bad.cue"}, ExitInvalid},
		{[]string{"plan", "bad.cue"}, ExitInvalid},
		{[]string{"schema", "--field", "no.such"}, ExitUsage},
	} {
		var stdout, stderr bytes.Buffer
		if got := run(tc.args, &stdout, &stderr); got != tc.want {
			t.Errorf("hac %s: exit %d, want %d\nstderr: %s", strings.Join(tc.args, " "), got, tc.want, stderr.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Errorf("a failed build wrote out/")
	}
}
