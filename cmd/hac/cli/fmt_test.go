package cli

import (
	"bytes"
	"os"
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

// TestFmtThroughSymlink: hac fmt on a symbolic link formats the file it
// points to and keeps the link (it replaced the link with a formatted
// copy, leaving the shared file as it was).
func TestFmtThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "shared.cue")
	if err := os.WriteFile(target, []byte("clusters:   {}\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.cue")
	if err := os.Symlink("shared.cue", link); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := runFmt(&out, &errOut, []string{link}, false); err != nil {
		t.Fatalf("hac fmt: %v\n%s", err, errOut.String())
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link is no longer a link: %v %v", fi.Mode(), err)
	}
	b, err := os.ReadFile(target)
	if err != nil || string(b) != "clusters: {}\n" {
		t.Errorf("the linked file: %q %v, want it formatted", b, err)
	}
	if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("the linked file's mode: %v %v, want 0640 kept", fi.Mode(), err)
	}
}
