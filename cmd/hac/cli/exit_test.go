package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hac-project/hac/cmd/internal/exitcode"
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
		{[]string{"no-such-command"}, exitcode.Usage},
		{[]string{"vet", "--no-such-flag", "."}, exitcode.Usage},
		{[]string{"plan", "--no-such-flag", "."}, exitcode.Usage},
		{[]string{"apply", "--no-such-flag", "."}, exitcode.Usage},
		{[]string{"status", "--no-such-flag", "."}, exitcode.Usage},
		{[]string{"build", "--no-such-flag"}, exitcode.Usage},
		{[]string{"vet", "no/such/path.cue"}, exitcode.Usage},
		{[]string{"build", "-o", "out", "no/such/path.cue"}, exitcode.Usage},
		{[]string{"plan", "no/such/path.cue"}, exitcode.Usage},
		{[]string{"plan", "--format", "xml", "tab.yaml"}, exitcode.Usage},
		{[]string{"vet", "tab.yaml"}, exitcode.Invalid},
		{[]string{"vet", "--format", "json", "tab.yaml"}, exitcode.Invalid},
		{[]string{"build", "-o", "out", "tab.yaml"}, exitcode.Invalid},
		{[]string{"plan", "tab.yaml"}, exitcode.Invalid},
		{[]string{"apply", "tab.yaml"}, exitcode.Invalid},
		{[]string{"vet", "bad.cue"}, exitcode.Invalid},
		{[]string{"plan", "bad.cue"}, exitcode.Invalid},
		{[]string{"schema", "--field", "no.such"}, exitcode.Usage},
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
