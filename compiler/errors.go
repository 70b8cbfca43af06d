package compiler

import (
	"cmp"
	"errors"
	"fmt"
	"strings"

	"cuelang.org/go/cue"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"github.com/hac-project/hac/model"
	"github.com/hac-project/hac/schema"
)

// toPos converts a CUE position; positions inside the schema are dropped.
func toPos(p token.Pos) model.Pos {
	if !p.IsValid() || p.Filename() == schema.Filename {
		return model.Pos{}
	}
	return model.Pos{File: p.Filename(), Line: p.Line(), Col: p.Column()}
}

// isCUEError reports whether err carries CUE errors with positions (a
// syntax or evaluation error rather than an I/O error).
func isCUEError(err error) bool {
	var ce cueerrors.Error
	return errors.As(err, &ce)
}

// schemaContext lets cueDiags put a cluster's errors in a user's words.
type schemaContext struct {
	prefix cue.Path  // clusters."name"
	user   cue.Value // the cluster as written, for positions
	schema cue.Value // #Cluster, for describing constraints
}

// cueDiags turns CUE errors into diagnostics: positions in the user's
// files, messages in the user's words, and never a secret. With a schema
// context, the errors of one path (CUE reports each failed disjunct) make
// one diagnostic.
func cueDiags(err error, sc *schemaContext) Diagnostics {
	var ds Diagnostics
	index := map[string]int{}
	for _, e := range cueerrors.Errors(err) {
		d := Diagnostic{Path: fmtPath(e.Path())}
		var rel []string
		if sc != nil {
			rel = relPath(e.Path(), sc.prefix)
			d.Path = appendPath(sc.prefix, rel).String()
		}
		for _, p := range cueerrors.Positions(e) {
			if mp := toPos(p); mp.File != "" {
				if d.Pos.File == "" {
					d.Pos = mp
				} else if mp != d.Pos {
					d.Related = append(d.Related, mp)
				}
			}
		}
		format, args := e.Msg()
		d.Msg = fmt.Sprintf(format, args...)
		if sc != nil {
			if i, ok := index[d.Path]; ok {
				if strings.Contains(format, "disjunction") {
					ds[i].Msg = plainMessage(format, args, sc, rel)
				}
				continue
			}
			index[d.Path] = len(ds)
			if d.Pos.File == "" {
				d.Pos = userPos(sc.user, rel)
			}
			d.Msg = plainMessage(format, args, sc, rel)
			if isSecretPath(rel) {
				d.Msg = "must be a password of 1..8 characters, {env: \"NAME\"} or {file: \"/path\"}"
			}
		} else if isSecretPath(e.Path()) {
			// CUE's own words would show the value: "conflicting values
			// "newpass1" and "oldpass1"" when two files give the pass.
			d.Msg = "the password has conflicting values, or one its constraints do not allow (values not shown): give it once, as 1..8 characters, {env: \"NAME\"} or {file: \"/path\"}"
		}
		ds = append(ds, d)
	}
	return ds
}

// isSecretPath reports whether a path (relative to a cluster) is inside an
// auth pass, whose value must never be printed.
func isSecretPath(rel []string) bool {
	for i := 0; i+1 < len(rel); i++ {
		if rel[i] == "auth" && rel[i+1] == "pass" {
			return true
		}
	}
	return false
}

// relPath strips the cluster prefix (clusters.name or #Cluster) from an
// error path.
func relPath(p []string, prefix cue.Path) []string {
	sels := prefix.Selectors()
	if len(p) >= len(sels) && p[0] == "clusters" && len(sels) == 2 && strings.Trim(p[1], `"`) == sels[1].Unquoted() {
		return p[len(sels):]
	}
	if len(p) > 0 && p[0] == schema.ClusterDef {
		return p[1:]
	}
	return p
}

// appendPath appends labels to a path.
func appendPath(p cue.Path, labels []string) cue.Path {
	sels := p.Selectors()
	for _, l := range labels {
		sels = append(sels, selector(l))
	}
	return cue.MakePath(sels...)
}

// selector turns an error path element into a selector.
func selector(l string) cue.Selector {
	if l != "" && strings.Trim(l, "0123456789") == "" {
		var i int
		fmt.Sscan(l, &i)
		return cue.Index(i)
	}
	if strings.HasPrefix(l, `"`) {
		return cue.Str(strings.Trim(l, `"`))
	}
	if strings.HasPrefix(l, "#") {
		return cue.Def(l)
	}
	return cue.Str(l)
}

// fmtPath formats an error path as CUE does.
func fmtPath(p []string) string { return appendPath(cue.MakePath(), p).String() }

// userPos returns the position of the deepest part of rel the user wrote.
func userPos(user cue.Value, rel []string) model.Pos {
	pos := toPos(user.Pos())
	v := user
	for _, l := range rel {
		v = v.LookupPath(cue.MakePath(selector(l)))
		if !v.Exists() {
			break
		}
		if p := toPos(v.Pos()); p.File != "" {
			pos = p
		}
	}
	return pos
}

// plainMessage rewrites the common CUE conflict messages in a user's
// words: what the user wrote, and what the schema wants there.
func plainMessage(format string, args []any, sc *schemaContext, rel []string) string {
	raw := fmt.Sprintf(format, args...)
	want := describe(sc.schema, rel)
	got := userValue(sc.user, rel)
	switch {
	case format == "field not allowed":
		if len(rel) > 0 {
			return fmt.Sprintf("unknown field %s%s", rel[len(rel)-1], allowedFields(sc, rel[:len(rel)-1]))
		}
		return "unknown field"
	case strings.HasPrefix(format, "incomplete value") || strings.HasPrefix(format, "non-concrete value"):
		if got == "" {
			return "required field is missing: " + cmp.Or(want, "give a value")
		}
		return "value is not concrete: must be " + cmp.Or(want, "a concrete value")
	case got == "" || want == "":
		return raw
	case strings.HasPrefix(format, "invalid value %v (out of bound %s)") && strings.Contains(want, ".."):
		return fmt.Sprintf("%s is out of range: must be %s", got, want)
	case strings.HasPrefix(format, "invalid value"),
		strings.HasPrefix(format, "conflicting value"),
		strings.Contains(format, "disjunction"):
		return fmt.Sprintf("%s is not allowed: must be %s", got, want)
	}
	return raw
}

// userValue formats the scalar the user wrote at rel, or "".
func userValue(user cue.Value, rel []string) string {
	v := user
	for _, l := range rel {
		v = v.LookupPath(cue.MakePath(selector(l)))
		if !v.Exists() {
			return ""
		}
	}
	switch k := v.Kind(); {
	case k == cue.StructKind:
		return "a struct"
	case k == cue.ListKind:
		return "a list"
	case v.IsConcrete():
		return fmt.Sprint(v)
	}
	return ""
}

// allowedFields lists the fields the schema allows at rel, for an
// "unknown field" message.
func allowedFields(sc *schemaContext, rel []string) string {
	if sc == nil {
		return ""
	}
	v := schemaAt(sc.schema, rel)
	it, err := v.Fields(cue.Optional(true))
	if err != nil {
		return ""
	}
	var names []string
	for it.Next() {
		names = append(names, it.Selector().Unquoted())
	}
	if len(names) == 0 {
		return ""
	}
	return ": allowed fields are " + strings.Join(names, ", ")
}
