package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"
	"github.com/spf13/cobra"

	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/compiler/discover"
)

func newFmtCmd() *cobra.Command {
	var check bool
	c := &cobra.Command{
		Use:   "fmt [--check] [PATH...]",
		Short: "Format CUE files the canonical way (cue fmt)",
		Long: `fmt rewrites CUE files in the canonical format of cuelang.org/go/cue/format.
A directory (or a dir/... pattern, the same) is searched recursively for
*.cue files as every command reads paths (skipping hidden directories,
cue.mod, vendor, node_modules, testdata and hac build's trees). Without a
path, fmt formats the current directory. fmt formats CUE only: a YAML or
JSON file named on the command line is refused (hac vet checks its syntax).

With --check, fmt writes nothing: it lists the files that are not formatted
and exits 1 when there is any (for CI and pre-commit).

Files are replaced atomically and keep their mode.`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"."}
			}
			return runFmt(c.OutOrStdout(), c.ErrOrStderr(), args, check)
		},
	}
	c.Flags().BoolVar(&check, "check", false, "list unformatted files and exit 1 if any; write nothing")
	return c
}

func runFmt(stdout, stderr io.Writer, args []string, check bool) error {
	for _, arg := range args {
		if ext := filepath.Ext(arg); !discover.IsPattern(arg) && ext != ".cue" && slices.Contains(discover.ClusterExtensions, ext) {
			return exitcode.New(exitcode.Usage, "%s: hac fmt formats CUE files only; YAML and JSON are left as you write them (hac vet checks their syntax)", arg)
		}
	}
	var files []string
	for _, arg := range args {
		found, err := discover.Files([]string{arg}, []string{".cue"})
		switch {
		case errors.Is(err, discover.ErrNoClusters):
			// A folder of YAML only: nothing to format.
		case err != nil:
			return exitcode.New(exitcode.Usage, "%v", err)
		}
		files = append(files, found...)
	}
	unformatted, failed := 0, false
	for _, name := range files {
		changed, err := fmtFile(name, check)
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "%v\n", err)
			failed = true
		case changed && check:
			fmt.Fprintln(stdout, name)
			unformatted++
		case changed:
			fmt.Fprintln(stdout, name)
		}
	}
	switch {
	case unformatted > 0:
		return exitcode.New(exitcode.Invalid, "%d file(s) not formatted: run hac fmt", unformatted)
	case failed:
		return exitcode.New(exitcode.Invalid, "")
	}
	return nil
}

// fmtFile formats one file and reports whether its content changes; unless
// check is set, it replaces the file. Syntax errors carry the position.
func fmtFile(name string, check bool) (bool, error) {
	src, err := os.ReadFile(name)
	if err != nil {
		return false, err
	}
	f, err := parser.ParseFile(name, src, parser.ParseComments)
	if err != nil {
		return false, errors.New(strings.TrimSpace(cueerrors.Details(err, nil))) // with file:line:col
	}
	out, err := format.Node(f)
	if err != nil {
		return false, fmt.Errorf("%s: %w", name, err)
	}
	if bytes.Equal(src, out) {
		return false, nil
	}
	if check {
		return true, nil
	}
	return true, writeFileAtomic(name, out, 0o644)
}

// writeFileAtomic replaces name with data through a temporary file in the
// same directory, synced and renamed, keeping the file's mode (mode for a
// new file). A symbolic link is followed: the file it points to is
// replaced and the link stays (renaming over the link replaced it with a
// copy, and the linked file kept its old content).
func writeFileAtomic(name string, data []byte, mode os.FileMode) error {
	if real, err := filepath.EvalSymlinks(name); err == nil {
		name = real
	}
	if fi, err := os.Stat(name); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".hac-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
