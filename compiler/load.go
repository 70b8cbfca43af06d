package compiler

import (
	"os"
	"path/filepath"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/encoding/json"
)

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
