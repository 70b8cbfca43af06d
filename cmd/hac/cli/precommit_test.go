package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hac-project/hac/internal/testenv"
)

// TestPreCommit installs the repository's published hooks
// (.pre-commit-hooks.yaml) with Debian's real pre-commit into throw-away
// git repositories (testdata/precommit/*.txtar) and commits good and bad
// cluster descriptions.
//
// The published hooks are language: golang, which makes pre-commit build
// hac with the Go module proxy on first use: too slow and too dependent on
// the network for every CI run. The test therefore turns them into
// repo: local hooks with language: system, calling the hac under test
// (testscript puts it on PATH), and keeps everything else (ids, entries,
// pass_filenames, file patterns) exactly as published.
func TestPreCommit(t *testing.T) {
	testenv.NeedTool(t, "git")
	testenv.NeedTool(t, "pre-commit")
	hooks, err := os.ReadFile("../../../.pre-commit-hooks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg strings.Builder
	cfg.WriteString("repos:\n  - repo: local\n    hooks:\n")
	for _, line := range strings.Split(string(hooks), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") || strings.TrimSpace(line) == "" {
			continue
		}
		if !strings.Contains(line, "language: golang") {
			cfg.WriteString("      " + line + "\n")
			continue
		}
		cfg.WriteString("      " + strings.Replace(line, "language: golang", "language: system", 1) + "\n")
	}
	if strings.Count(cfg.String(), "language: system") != 2 {
		t.Fatalf("expected two golang hooks in .pre-commit-hooks.yaml:\n%s", hooks)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/precommit",
		Setup: func(env *testscript.Env) error {
			home := filepath.Join(env.WorkDir, ".home")
			env.Setenv("HOME", home)
			env.Setenv("PRE_COMMIT_HOME", filepath.Join(home, "pre-commit"))
			env.Setenv("GIT_CONFIG_NOSYSTEM", "1")
			return os.WriteFile(filepath.Join(env.WorkDir, ".pre-commit-config.yaml"), []byte(cfg.String()), 0o644)
		},
	})
}
