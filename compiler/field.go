package compiler

import (
	"fmt"
	"slices"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/format"
)

// FieldDoc is the schema's documentation of one field, for hac schema --field.
type FieldDoc struct {
	Path       string // as asked, e.g. vrrp.advert_int
	Doc        string // the field's doc comment
	Constraint string // the field's CUE constraint, e.g. *"1s" | #Duration
	Want       string // the constraint in words, e.g. a duration such as "1s"
}

// SchemaField documents the schema field at path, relative to a cluster
// (e.g. "vrrp.advert_int"; map keys such as instance names may be given as
// any name: "vrrp.VI_1.priority"; list elements are reached through the
// list: "vrrp.vips.address"). A path that is not one of the schema's but
// ends like some are (auth.pass) is refused with those paths as advice.
func SchemaField(path string) (FieldDoc, error) {
	e := newEvaluator(Options{})
	labels := strings.Split(strings.TrimPrefix(path, "clusters."), ".")
	v := e.schema
	for _, l := range labels {
		if v = fieldAt(v, l); !v.Exists() {
			break
		}
	}
	if !v.Exists() || path == "" {
		msg := fmt.Sprintf("the schema has no field %q", path)
		if s := suffixMatches(e.schema, labels); len(s) > 0 {
			return FieldDoc{}, fmt.Errorf("%s: did you mean %s?", msg, strings.Join(s, " or "))
		}
		return FieldDoc{}, fmt.Errorf("%s: run hac schema to see them all", msg)
	}
	fd := FieldDoc{Path: path, Want: describeValue(v)}
	for _, cg := range v.Doc() {
		fd.Doc += cg.Text()
	}
	if src, err := format.Node(v.Syntax(cue.Raw())); err == nil {
		fd.Constraint = string(src)
	}
	return fd, nil
}

// fieldAt looks up one label of a field path, where map keys (node and
// instance names) may be left out: "vrrp.advert_int" means
// vrrp.<any>.advert_int, and list elements are looked into. It returns
// the zero Value when there is no such field.
func fieldAt(v cue.Value, label string) cue.Value {
	for _, s := range structsOf(v) {
		if it, err := s.Fields(cue.Optional(true)); err == nil {
			for it.Next() {
				if it.Selector().Unquoted() == label {
					return it.Value()
				}
			}
		}
	}
	if elem := v.LookupPath(cue.MakePath(cue.AnyString)); elem.Exists() {
		if next := fieldAt(elem, label); next.Exists() {
			return next
		}
		return elem
	}
	if elem := listElem(v); elem.Exists() {
		return fieldAt(elem, label)
	}
	return cue.Value{}
}

// structsOf returns v, or the alternatives of a disjunction such as
// #VIP: "a.b.c.d" | {address, device} (whose fields only its struct
// alternative has).
func structsOf(v cue.Value) []cue.Value {
	if op, args := cue.Dereference(v).Expr(); op == cue.OrOp {
		var out []cue.Value
		for _, a := range args {
			out = append(out, structsOf(a)...)
		}
		return out
	}
	return []cue.Value{v}
}

// fieldPaths lists the schema's field paths below v as label lists, map
// keys and list elements left out as SchemaField accepts them.
func fieldPaths(v cue.Value, prefix []string, depth int, out *[][]string) {
	if depth == 0 {
		return
	}
	for _, s := range structsOf(v) {
		if it, err := s.Fields(cue.Optional(true)); err == nil {
			for it.Next() {
				p := append(slices.Clip(prefix), it.Selector().Unquoted())
				*out = append(*out, p)
				fieldPaths(it.Value(), p, depth-1, out)
			}
		}
	}
	if elem := v.LookupPath(cue.MakePath(cue.AnyString)); elem.Exists() {
		fieldPaths(elem, prefix, depth-1, out)
	}
	if elem := listElem(v); elem.Exists() {
		fieldPaths(elem, prefix, depth-1, out)
	}
}

// listElem returns the element type of a list such as [#VIP, ...#VIP],
// or the zero Value.
func listElem(v cue.Value) cue.Value {
	if v.IncompleteKind() != cue.ListKind {
		return cue.Value{}
	}
	if elem := v.LookupPath(cue.MakePath(cue.AnyIndex)); elem.Exists() {
		return elem
	}
	return v.LookupPath(cue.MakePath(cue.Index(0)))
}

// suffixMatches returns the schema's field paths that end with labels,
// e.g. vrrp.auth.pass for auth.pass, sorted and without repeats.
func suffixMatches(schema cue.Value, labels []string) []string {
	var all [][]string
	fieldPaths(schema, nil, 8, &all)
	var out []string
	for _, p := range all {
		if len(p) > len(labels) && slices.Equal(p[len(p)-len(labels):], labels) {
			out = append(out, strings.Join(p, "."))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
