// Package discover finds hac cluster definitions in a repository, for
// `hac vet ./...` and `hac fmt`: it walks directories like the go tool
// walks packages, skipping what is never configuration.
//
// Skipped directories: hidden ones (.git, .github…), ones starting with
// '_', cue.mod (CUE's module and vendored packages), vendor and
// node_modules (vendored code), out (hac build's default output), and
// testdata (fixtures, often invalid on purpose, as in Go). Name a skipped
// directory explicitly to search it anyway.
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
	case "cue.mod", "vendor", "node_modules", "out", "testdata":
		return true
	}
	return false
}

// IsPattern reports whether arg is a recursive pattern ("dir/..." or "...").
func IsPattern(arg string) bool {
	return arg == "..." || strings.HasSuffix(filepath.ToSlash(arg), Recursive)
}

// Root returns the directory a pattern searches: "dir" for "dir/...",
// "." for "...".
func Root(arg string) string {
	if arg == "..." {
		return "."
	}
	return filepath.FromSlash(strings.TrimSuffix(filepath.ToSlash(arg), Recursive))
}

// Walk returns the files under root whose extension is in exts, sorted,
// skipping the directories SkipDir names (root itself is always searched)
// and hidden files.
func Walk(root string, exts []string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && SkipDir(d.Name()) {
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

// ClusterExtensions are the file kinds that can hold cluster definitions.
var ClusterExtensions = []string{".cue", ".yaml", ".yml", ".json"}

// ErrNoClusters is returned (wrapped) when a pattern matches no cluster
// definition.
var ErrNoClusters = errors.New("no cluster definitions found")

// Expand turns command-line arguments into the paths to compile. A
// pattern "dir/..." becomes every CUE file under dir and every YAML or
// JSON file that declares clusters at its top level (other YAML and JSON
// files, such as CI workflows or docker-compose.yml, are not hac's);
// other arguments are returned unchanged.
func Expand(args []string) ([]string, error) {
	var out []string
	for _, arg := range args {
		if !IsPattern(arg) {
			out = append(out, arg)
			continue
		}
		root := Root(arg)
		fi, err := os.Stat(root)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%s: %s is not a directory", arg, root)
		}
		files, err := Walk(root, ClusterExtensions)
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
			return nil, fmt.Errorf("%s: %w (CUE files, or YAML/JSON files with a top-level clusters: key)", arg, ErrNoClusters)
		}
	}
	return slices.Compact(out), nil
}

var (
	yamlClusters = regexp.MustCompile(`(?m)^(clusters|"clusters"|'clusters')[ \t]*:`)
	jsonClusters = regexp.MustCompile(`"clusters"\s*:`)
)

// declaresClusters reports whether a file is a cluster definition: every
// CUE file is; a YAML file needs a top-level clusters: key, a JSON file a
// "clusters" key.
func declaresClusters(name string) (bool, error) {
	switch filepath.Ext(name) {
	case ".cue":
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
