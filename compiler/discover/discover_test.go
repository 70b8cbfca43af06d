package discover

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
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

func TestFiles(t *testing.T) {
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
		"built/.hac-build":             "",
		"built/ncp/lb1/x.cue":          "",
		"built/ncp/lb1/etc/netplan/60-hac-eth1.yaml": "network: {}\n",
		"out/y.cue":           "",
		"vendor/y.cue":        "",
		"node_modules/z.json": `{"clusters": {}}`,
		"cue.mod/module.cue":  "",
		"testdata/bad.cue":    "",
		"_scratch/bad.cue":    "",
		"deep/er/d.cue":       "",
		"notes.txt":           "clusters:",
		"extra.yaml":          "not: hac\n",
	})
	t.Chdir(dir)
	want := []string{"a.cue", "deep/er/d.cue", "lb/b.yaml", "lb/c.json", "lb/quoted.yml", "out/y.cue"}
	for i := range want {
		want[i] = filepath.FromSlash(want[i])
	}
	// ".", "./..." and "..." mean the same files: the build tree (by its
	// marker), vendored and hidden folders and YAML without clusters are
	// skipped; a file named explicitly is always read.
	for _, arg := range []string{".", "./...", "...", "./"} {
		got, err := Files([]string{arg, "extra.yaml"}, ClusterExtensions)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(append(slices.Clone(want), "extra.yaml"), got); diff != "" {
			t.Errorf("Files(%s extra.yaml) (-want +got):\n%s", arg, diff)
		}
	}

	// A skipped directory named explicitly is searched.
	got, err := Files([]string{"testdata/..."}, ClusterExtensions)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{filepath.Join("testdata", "bad.cue")}, got); diff != "" {
		t.Errorf("Files(testdata/...) (-want +got):\n%s", diff)
	}
	// Only the extensions asked for (hac fmt: CUE).
	got, err = Files([]string{"lb", "a.cue", "./a.cue"}, []string{".cue"})
	if err == nil {
		t.Errorf("Files(lb, .cue only) = %v, want ErrNoClusters", got)
	}
	got, err = Files([]string{"deep", "a.cue", "./a.cue"}, []string{".cue"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{filepath.FromSlash("deep/er/d.cue"), "a.cue"}, got); diff != "" {
		t.Errorf("Files(deep a.cue ./a.cue) (-want +got):\n%s", diff)
	}
}

// TestFilesSymlinkedDir: a directory named through a symbolic link (a
// repository's clusters/ linked in from elsewhere) is walked like the
// directory itself; it used to hold "no cluster definitions" (WalkDir does
// not follow a root that is a link). Links met during the walk are still
// not followed.
func TestFilesSymlinkedDir(t *testing.T) {
	dir := tree(t, map[string]string{"real/a.cue": "clusters: {}", "real/sub/b.cue": "clusters: {}"})
	t.Chdir(dir)
	if err := os.Symlink("real", "link"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..", filepath.Join("real", "up")); err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join("link", "a.cue"), filepath.Join("link", "sub", "b.cue")}
	for _, arg := range []string{"link", "link/...", "link/"} {
		got, err := Files([]string{arg}, ClusterExtensions)
		if err != nil {
			t.Fatalf("Files(%s): %v", arg, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Files(%s) (-want +got):\n%s", arg, diff)
		}
	}
}

func TestFilesErrors(t *testing.T) {
	dir := tree(t, map[string]string{"empty/x.yaml": "a: 1\n", "f.cue": "", "built/.hac-build": "", "built/x.cue": ""})
	t.Chdir(dir)
	for _, arg := range []string{"empty/...", "empty", "built", "built/..."} {
		if _, err := Files([]string{arg}, ClusterExtensions); !errors.Is(err, ErrNoClusters) {
			t.Errorf("Files(%s) = %v, want ErrNoClusters", arg, err)
		}
	}
	for _, arg := range []string{"missing/...", "missing.cue", "missing"} {
		if _, err := Files([]string{arg}, ClusterExtensions); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Files(%s) = %v, want not exist", arg, err)
		}
	}
	if _, err := Files([]string{"f.cue/..."}, ClusterExtensions); err == nil {
		t.Errorf("Files(f.cue/...) succeeded, want an error")
	}
	if _, err := Files(nil, ClusterExtensions); err == nil {
		t.Errorf("Files() succeeded, want an error")
	}
}

func TestIsPath(t *testing.T) {
	dir := tree(t, map[string]string{"f.cue": ""})
	t.Chdir(dir)
	for arg, want := range map[string]bool{"./...": true, "...": true, "x/...": true, "f.cue": true, ".": true, "ncp-lb": false} {
		if got := IsPath(arg); got != want {
			t.Errorf("IsPath(%q) = %v, want %v", arg, got, want)
		}
	}
}
