package compiler

import (
	"fmt"
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
// any name: "vrrp.VI_1.priority").
func SchemaField(path string) (FieldDoc, error) {
	e := newEvaluator(Options{})
	labels := strings.Split(strings.TrimPrefix(path, "clusters."), ".")
	v := e.schema
	for _, l := range labels {
		v = fieldAt(v, l)
	}
	if !v.Exists() || path == "" {
		return FieldDoc{}, fmt.Errorf("the schema has no field %q: run hac schema to see them all", path)
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
// instance names) may be left out: "vrrp.advert_int" means vrrp.<any>.advert_int.
func fieldAt(v cue.Value, label string) cue.Value {
	if it, err := v.Fields(cue.Optional(true)); err == nil {
		for it.Next() {
			if it.Selector().Unquoted() == label {
				return it.Value()
			}
		}
	}
	if elem := v.LookupPath(cue.MakePath(cue.AnyString)); elem.Exists() {
		if next := fieldAt(elem, label); next.Exists() {
			return next
		}
		return elem
	}
	return cue.Value{}
}
