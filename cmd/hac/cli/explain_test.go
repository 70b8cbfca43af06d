package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/internal/testenv"
)

// TestExplainDot renders hac explain --format dot of the explain script's
// clusters with Graphviz's real dot, which must accept it.
func TestExplainDot(t *testing.T) {
	dot := testenv.NeedTool(t, "dot")
	ar, err := txtar.ParseFile("testdata/script/explain.txtar")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range ar.Files {
		if strings.HasSuffix(f.Name, ".cue") && !strings.HasPrefix(f.Name, "broken/") {
			if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"explain", "--format", "dot", dir}, &stdout, &stderr); code != exitcode.OK {
		t.Fatalf("hac explain --format dot: exit %d\n%s", code, stderr.String())
	}
	cmd := exec.Command(dot, "-Tsvg")
	cmd.Stdin = &stdout
	var svg, dotErr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &svg, &dotErr
	if err := cmd.Run(); err != nil || dotErr.Len() > 0 {
		t.Fatalf("dot -Tsvg: %v\n%s", err, dotErr.String())
	}
	for _, want := range []string{"<svg", "cluster ncp&#45;lb", "1. prio 200 (master)", "198.18.0.100/32"} {
		if !strings.Contains(svg.String(), want) {
			t.Errorf("the SVG lacks %q", want)
		}
	}
}
