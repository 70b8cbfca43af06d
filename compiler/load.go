package compiler

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
	"cuelang.org/go/encoding/json"

	"github.com/hac-project/hac/model"
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
		f, err := parseYAML(s.name, s.src)
		if err == nil && isNull(f) {
			return nil, emptyDocument(s.name, "YAML")
		}
		return f, err
	case ".json":
		// A byte order mark (Windows editors write one) is not JSON
		// syntax but says nothing either: drop it, as the YAML decoder does.
		src := bytes.TrimPrefix(s.src, utf8BOM)
		if err := jsonSyntaxError(s.name, src); err != nil {
			return nil, err
		}
		expr, err := json.Extract(s.name, src)
		if err != nil {
			return nil, err
		}
		f := &ast.File{Filename: s.name, Decls: []ast.Decl{&ast.EmbedDecl{Expr: expr}}}
		if isNull(f) {
			return nil, emptyDocument(s.name, "JSON")
		}
		return f, nil
	default:
		return parser.ParseFile(s.name, s.src, parser.ParseComments)
	}
}

var utf8BOM = []byte("\xef\xbb\xbf")

// jsonSyntaxError checks src with encoding/json, whose messages name what
// is wrong ("invalid character '}' looking for beginning of value"), and
// returns a *syntaxError at the offending line and column, or nil. (CUE's
// JSON decoder only says "invalid JSON for file".)
func jsonSyntaxError(name string, src []byte) error {
	var v any
	err := stdjson.Unmarshal(src, &v)
	var se *stdjson.SyntaxError
	switch {
	case err == nil:
		return nil
	case len(bytes.TrimSpace(src)) == 0:
		return emptyDocument(name, "JSON")
	case errors.As(err, &se):
		line, col := lineCol(src, int(se.Offset))
		return &syntaxError{Diagnostic{Msg: "JSON syntax: " + strings.TrimPrefix(se.Error(), "json: "), Pos: model.Pos{File: name, Line: line, Col: col}}}
	}
	return nil // not a syntax error: CUE's decoder reports it
}

// lineCol turns a byte offset of src into a 1-based line and column (the
// column of the byte before offset: encoding/json's offset is just past
// the offending byte).
func lineCol(src []byte, offset int) (int, int) {
	offset = min(max(offset-1, 0), len(src))
	before := src[:offset]
	line := 1 + bytes.Count(before, []byte("\n"))
	return line, 1 + offset - (bytes.LastIndexByte(before, '\n') + 1)
}

// isNull reports whether f is a YAML or JSON document with no value: an
// empty file, only comments, or null.
func isNull(f *ast.File) bool {
	if len(f.Decls) == 0 {
		return true
	}
	if len(f.Decls) != 1 {
		return false
	}
	e, ok := f.Decls[0].(*ast.EmbedDecl)
	if !ok {
		return false
	}
	x := e.Expr
	// The YAML decoder makes an empty document "*null | _".
	if b, ok := x.(*ast.BinaryExpr); ok && b.Op == token.OR {
		if u, ok := b.X.(*ast.UnaryExpr); ok && u.Op == token.MUL {
			x = u.X
		}
	}
	l, ok := x.(*ast.BasicLit)
	return ok && l.Kind == token.NULL
}

// emptyDocument is the diagnostic for a YAML or JSON file given by name
// that holds nothing (a folder's empty files are skipped before).
func emptyDocument(name, kind string) error {
	return &syntaxError{Diagnostic{
		Msg: "the " + kind + " file is empty (or only null): a hac file declares clusters: {NAME: {...}}; fill it in, or leave the file out",
		Pos: model.Pos{File: name, Line: 1, Col: 1},
	}}
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
