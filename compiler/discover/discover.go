// Package discover is hac's one loader of paths: it turns the arguments of
// every command (vet, build, plan, apply, status, explain, fmt) into the
// files to read, so that the same argument means the same files
// everywhere.
//
// A file is taken as given. A directory, and a pattern dir/... (or ...),
// is walked recursively like the go tool walks packages, skipping what is
// never configuration: hidden directories (.git, .github…), ones starting
// with '_', cue.mod (CUE's module and vendored packages), vendor and
// node_modules (vendored code), testdata (fixtures, often invalid on
// purpose, as in Go) and build trees (a directory holding the
// [BuildMarker] file hac build writes); in a walk, YAML and JSON files that
// declare no top-level clusters (CI workflows, docker-compose.yml) are not
// hac's and are skipped too. Name a skipped directory or file explicitly
// to read it anyway.
package discover

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// BuildMarker is the file at the top of every tree hac build writes; a
// walk skips the directory that holds it.
const BuildMarker = ".hac-build"

// Recursive is the suffix that makes a path argument a recursive search,
// as in "./..." or "configs/...".
const Recursive = "/..."

// SkipDir reports whether a directory of that name is skipped by a walk.
func SkipDir(name string) bool {
	if strings.HasPrefix(name, ".") && name != "." && name != ".." {
		return true
	}
	if strings.HasPrefix(name, "_") {
		return true
	}
	switch name {
	case "cue.mod", "vendor", "node_modules", "testdata":
		return true
	}
	return false
}

// IsPattern reports whether arg is a recursive pattern ("dir/..." or "...").
func IsPattern(arg string) bool {
	return arg == "..." || strings.HasSuffix(filepath.ToSlash(arg), Recursive)
}

// Root returns the directory a pattern searches: "dir" for "dir/...",
// "." for "..."; other arguments are returned unchanged.
func Root(arg string) string {
	if arg == "..." {
		return "."
	}
	return filepath.FromSlash(strings.TrimSuffix(filepath.ToSlash(arg), Recursive))
}

// IsPath reports whether arg names files for [Files]: a pattern, or a
// file or directory that exists. Commands that also take cluster names
// (plan, apply, status, explain) read other arguments as names.
func IsPath(arg string) bool {
	if IsPattern(arg) {
		return true
	}
	_, err := os.Stat(arg)
	return err == nil
}

// ClusterExtensions are the file kinds that can hold cluster definitions.
var ClusterExtensions = []string{".cue", ".yaml", ".yml", ".json"}

// ErrNoClusters is returned (wrapped) when a directory or pattern holds no
// cluster definition.
var ErrNoClusters = errors.New("no cluster definitions found")

// Files returns the files the arguments name, sorted within each
// argument, in argument order, each once. A file argument is taken as
// given; a directory or a pattern is walked (see the package doc) for
// files whose extension is in exts, keeping the YAML and JSON ones that
// declare clusters. A missing path, or a directory or pattern with no
// such file, is an error.
func Files(args []string, exts []string) ([]string, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("no path given: name a file, a directory or a dir/... pattern")
	}
	var out []string
	for _, arg := range args {
		root := Root(arg)
		fi, err := os.Stat(root)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, notExist(arg)
			}
			return nil, err
		}
		if !fi.IsDir() {
			if IsPattern(arg) {
				return nil, fmt.Errorf("%s: %s is not a directory", arg, root)
			}
			out = append(out, filepath.Clean(arg))
			continue
		}
		files, err := walk(root, exts)
		if err != nil {
			return nil, err
		}
		n := len(out)
		for _, f := range files {
			ok, err := declaresClusters(f)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, f)
			}
		}
		if len(out) == n {
			return nil, fmt.Errorf("%s: %w (%s files; YAML and JSON ones with a top-level clusters: key; build trees are skipped)", arg, ErrNoClusters, strings.Join(exts, ", "))
		}
	}
	seen := map[string]bool{}
	return slices.DeleteFunc(out, func(f string) bool {
		dup := seen[f]
		seen[f] = true
		return dup
	}), nil
}

// notExist is a path argument that does not exist; it matches
// fs.ErrNotExist.
type notExist string

func (e notExist) Error() string {
	return string(e) + ": no such file or directory: name a file, a directory or a dir/... pattern"
}

func (e notExist) Is(target error) bool { return target == fs.ErrNotExist }

// walk returns the files under root whose extension is in exts, sorted,
// skipping the directories SkipDir names and build trees (root itself is
// always searched, unless it is a build tree) and hidden files.
func walk(root string, exts []string) ([]string, error) {
	var files []string
	start := root
	if fi, err := os.Lstat(root); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		// A root named through a link: WalkDir follows no link, not even
		// its root; a trailing separator makes the kernel resolve it.
		// Links met below are still not followed (no loops).
		start = root + string(filepath.Separator)
	}
	err := filepath.WalkDir(start, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != start && SkipDir(d.Name()) {
				return filepath.SkipDir
			}
			if _, err := os.Lstat(filepath.Join(path, BuildMarker)); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && slices.Contains(exts, filepath.Ext(path)) && !strings.HasPrefix(d.Name(), ".") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	return files, nil
}

var (
	yamlClusters = regexp.MustCompile(`(?m)^(clusters|"clusters"|'clusters')[ \t]*:`)
	jsonClusters = regexp.MustCompile(`"clusters"\s*:`)
)

// declaresClusters reports whether a file found by a walk is a cluster
// definition: every CUE file is; a YAML file needs a top-level clusters:
// key, a JSON file a "clusters" key.
func declaresClusters(name string) (bool, error) {
	switch filepath.Ext(name) {
	case ".yaml", ".yml", ".json":
	default:
		return true, nil
	}
	src, err := os.ReadFile(name)
	if err != nil {
		return false, err
	}
	if filepath.Ext(name) == ".json" {
		return jsonClusters.Match(src), nil
	}
	return yamlClusters.Match(bytes.TrimPrefix(src, []byte("\xef\xbb\xbf"))), nil
}
