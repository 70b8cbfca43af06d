package keepalived

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"cuelang.org/go/cue/ast"
	cuetoken "cuelang.org/go/cue/token"
)

// The import's output is a CUE syntax tree (cuelang.org/go/cue/ast),
// printed by cue/format: every string and label from keepalived.conf is
// quoted by the CUE library, so no value (quotes, backslashes, newlines,
// \( interpolations) can change the structure of the output.

// block collects the fields of one CUE struct, in order.
type block struct{ elts []ast.Decl }

// set appends the field name: v and returns it (to attach a comment).
func (b *block) set(name string, v ast.Expr) *ast.Field {
	f := &ast.Field{Label: label(name), Value: v}
	b.elts = append(b.elts, f)
	return f
}

// lines returns the struct written one field a line.
func (b *block) lines() *ast.StructLit { return ast.NewStruct(declsAny(b.elts)...) }

// line returns the struct written on one line, {a: 1, b: 2}; cue/format
// keeps a struct on one line when its fields and closing brace carry a
// relative position on the same line.
func (b *block) line() *ast.StructLit {
	s := b.lines()
	s.Rbrace = cuetoken.NoSpace.Pos()
	for i, e := range s.Elts {
		rel := cuetoken.Blank
		if i == 0 {
			rel = cuetoken.NoSpace
		}
		ast.SetRelPos(e, rel)
	}
	return s
}

func declsAny(ds []ast.Decl) []any {
	out := make([]any, len(ds))
	for i, d := range ds {
		out[i] = d
	}
	return out
}

// nested returns outer: inner: v written on one line, as CUE's shorthand
// for a struct of one field (clusters: "name": {...}).
func nested(outer, inner string, v ast.Expr) *ast.Field {
	l := label(outer)
	ast.SetRelPos(l, cuetoken.Newline) // a label with a position lets cue/format collapse the struct
	return &ast.Field{Label: l, Value: &ast.StructLit{Elts: []ast.Decl{&ast.Field{Label: label(inner), Value: v}}}}
}

// label is a field name: an identifier when CUE reads it as that name, a
// quoted string otherwise (names starting with # or _, keywords, any
// other character).
func label(s string) ast.Label {
	if cuetoken.Lookup(s) != cuetoken.IDENT { // a keyword (if, for, true, ...) reads as itself only in some places
		return ast.NewString(s)
	}
	return ast.NewStringLabel(s)
}

// str is a CUE string literal holding exactly s.
func str(s string) ast.Expr { return ast.NewString(s) }

// num is a CUE integer literal.
func num(n int) ast.Expr {
	lit := ast.NewLit(cuetoken.INT, strconv.Itoa(max(n, -n)))
	if n < 0 {
		return &ast.UnaryExpr{Op: cuetoken.SUB, X: lit}
	}
	return lit
}

// strs is a list of string literals.
func strs(ss []string) *ast.ListLit {
	l := make([]ast.Expr, len(ss))
	for i, s := range ss {
		l[i] = str(s)
	}
	return ast.NewList(l...)
}

// comment returns the lines of text as // comments, to be put above a
// field or at the top of the file; nil when there is no text.
func comment(text string) *ast.CommentGroup {
	cg := &ast.CommentGroup{Doc: true}
	for _, l := range strings.Split(text, "\n") {
		if l = commentSafe(l); l != "" {
			cg.List = append(cg.List, &ast.Comment{Text: "// " + l})
		}
	}
	if len(cg.List) == 0 {
		return nil
	}
	return cg
}

// commentSafe replaces what a CUE comment cannot hold (invalid UTF-8, NUL
// and other control characters, a byte order mark) with U+FFFD, so text
// from the user's files (file names, directives) never breaks the file.
func commentSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || r == '\uFEFF' || unicode.IsControl(r) && r != '\t' {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, string(utf8.RuneError)))
}
