package cli

import (
	"path/filepath"
	"testing"
)

// TestExamplesFormatted: the README tells users to gate their repository
// on hac fmt --check ./...; the project's own examples pass it (one did not,
// so the command failed in a fresh clone).
func TestExamplesFormatted(t *testing.T) {
	files, err := filepath.Glob("../../../examples/*/*.cue")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		changed, err := fmtFile(f, true)
		switch {
		case err != nil:
			t.Errorf("%s: %v", f, err)
		case changed:
			t.Errorf("%s is not formatted: run hac fmt %s", f, f)
		}
	}
}
