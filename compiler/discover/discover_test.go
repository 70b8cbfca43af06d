package discover

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tree writes files (path -> content) under a new temporary directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestExpand(t *testing.T) {
	dir := tree(t, map[string]string{
		"a.cue":                        "clusters: {}",
		"lb/b.yaml":                    "# comment\nclusters:\n  x: {}\n",
		"lb/c.json":                    `{"clusters": {}}`,
		"lb/quoted.yml":                "\"clusters\": {}\n",
		"docker-compose.yml":           "services: {}\n",
		"package.json":                 `{"name": "x"}`,
		"nested/clusters-not-top.yaml": "a:\n  clusters: {}\n",
		".hidden.cue":                  "",
		".git/x.cue":                   "",
		".github/workflows/ci.yaml":    "clusters: {}\n",
		"out/ncp/lb1/x.cue":            "",
		"vendor/y.cue":                 "",
		"node_modules/z.json":          `{"clusters": {}}`,
		"cue.mod/module.cue":           "",
		"testdata/bad.cue":             "",
		"_scratch/bad.cue":             "",
		"deep/er/d.cue":                "",
		"notes.txt":                    "clusters:",
	})
	t.Chdir(dir)
	got, err := Expand([]string{"./...", "extra.cue"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a.cue", "deep/er/d.cue", "lb/b.yaml", "lb/c.json", "lb/quoted.yml", "extra.cue"}
	for i := range want {
		want[i] = filepath.FromSlash(want[i])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Expand (-want +got):\n%s", diff)
	}

	// A skipped directory named explicitly is searched.
	got, err = Expand([]string{"testdata/..."})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{filepath.Join("testdata", "bad.cue")}, got); diff != "" {
		t.Errorf("Expand(testdata/...) (-want +got):\n%s", diff)
	}
}

func TestExpandErrors(t *testing.T) {
	dir := tree(t, map[string]string{"empty/x.yaml": "a: 1\n", "f.cue": ""})
	t.Chdir(dir)
	if _, err := Expand([]string{"empty/..."}); !errors.Is(err, ErrNoClusters) {
		t.Errorf("Expand(empty/...) = %v, want ErrNoClusters", err)
	}
	if _, err := Expand([]string{"missing/..."}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Expand(missing/...) = %v, want not exist", err)
	}
	if _, err := Expand([]string{"f.cue/..."}); err == nil {
		t.Errorf("Expand(f.cue/...) succeeded, want an error")
	}
}

func TestWalk(t *testing.T) {
	dir := tree(t, map[string]string{"a.cue": "", "b/c.cue": "", "b/d.yaml": "", "vendor/e.cue": ""})
	got, err := Walk(dir, []string{".cue"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a.cue"), filepath.Join(dir, "b", "c.cue")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Walk (-want +got):\n%s", diff)
	}
}
