package compiler

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/encoding/json"
)

// extensions are the file kinds Compile reads from a directory.
var extensions = []string{".cue", ".yaml", ".yml", ".json"}

// expand turns the command-line paths into the list of files to read: a
// file as given, a directory's *.cue, *.yaml, *.yml and *.json files
// (recursively, skipping hidden directories, cue.mod and testdata).
func expand(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("no path given: name a file or a directory of .cue, .yaml or .json files")
	}
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, filepath.Clean(p))
			continue
		}
		n := len(files)
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if path != p && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "cue.mod" || name == "testdata") {
					return filepath.SkipDir
				}
				return nil
			}
			if slices.Contains(extensions, filepath.Ext(name)) && !strings.HasPrefix(name, ".") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(files) == n {
			return nil, fmt.Errorf("%s: no .cue, .yaml, .yml or .json file in this directory", p)
		}
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

// source is one file as read, with the package name of a CUE file.
type source struct {
	index int // among all files
	name  string
	src   []byte
	// pkg is the package clause's name of a .cue file; "" for other
	// files and for a clause that does not parse.
	pkg string
}

// readAll reads the files in parallel, and the package clause of each CUE
// file (only the clause: the whole file is parsed when its group is
// evaluated, so that a worker holds the syntax of one group at a time).
// It returns the first read error, in the order of names.
func readAll(names []string) ([]source, error) {
	srcs := make([]source, len(names))
	errs := make([]error, len(names))
	parallel(len(names), func(i int) {
		s := &srcs[i]
		s.index, s.name = i, names[i]
		s.src, errs[i] = os.ReadFile(s.name)
		if errs[i] != nil || filepath.Ext(s.name) != ".cue" {
			return
		}
		if f, err := parser.ParseFile(s.name, s.src, parser.PackageClauseOnly); err == nil {
			s.pkg = f.PackageName()
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return srcs, nil
}

// parse parses the file into CUE syntax. Syntax errors are returned as CUE
// errors carrying positions.
func (s *source) parse() (*ast.File, error) {
	switch filepath.Ext(s.name) {
	case ".yaml", ".yml":
		return parseYAML(s.name, s.src)
	case ".json":
		expr, err := json.Extract(s.name, s.src)
		if err != nil {
			return nil, err
		}
		return &ast.File{Filename: s.name, Decls: []ast.Decl{&ast.EmbedDecl{Expr: expr}}}, nil
	default:
		return parser.ParseFile(s.name, s.src, parser.ParseComments)
	}
}

// group is a set of files evaluated together: the CUE files of one package
// in one directory, or a single file.
type group struct {
	srcs []*source
}

// groupSources puts CUE files with the same package clause in the same
// directory into one group, and every other file into its own.
func groupSources(srcs []source) []*group {
	var groups []*group
	byPkg := map[string]*group{}
	for i := range srcs {
		s := &srcs[i]
		if s.pkg == "" || s.pkg == "_" {
			groups = append(groups, &group{srcs: []*source{s}})
			continue
		}
		key := filepath.Dir(s.name) + "\x00" + s.pkg
		g := byPkg[key]
		if g == nil {
			g = &group{}
			byPkg[key] = g
			groups = append(groups, g)
		}
		g.srcs = append(g.srcs, s)
	}
	return groups
}
