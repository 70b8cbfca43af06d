package compiler

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/schema"
)

// TestRawTypesMirrorSchema: the raw types a cluster decodes into have a
// field for every field of the schema, at every depth, and none that the
// schema lacks; a schema field without one would be accepted by hac vet
// and then dropped by the decoder. (This is what generating the types
// with cue exp gengotypes would guarantee; docs/architecture.md says why
// they are written by hand.)
func TestRawTypesMirrorSchema(t *testing.T) {
	v := cuecontext.New().CompileBytes(schema.Source, cue.Filename(schema.Filename)).LookupPath(cue.ParsePath(schema.ClusterDef))
	if err := v.Err(); err != nil {
		t.Fatal(err)
	}
	var got []string
	mirror(t, v, reflect.TypeFor[rawCluster](), "#Cluster", &got)
	slices.Sort(got)
	if diff := cmp.Diff([]string(nil), got); diff != "" {
		t.Errorf("schema fields without a raw field, and raw fields without a schema field (-want +got):\n%s", diff)
	}
}

// mirror compares the fields of the schema value v with the json names of
// the Go type's fields, recursively, and appends each difference.
func mirror(t *testing.T, v cue.Value, typ reflect.Type, path string, diffs *[]string) {
	t.Helper()
	switch typ.Kind() {
	case reflect.Pointer:
		mirror(t, v, typ.Elem(), path, diffs)
	case reflect.Map: // [Name=string]: X
		mirror(t, v.LookupPath(cue.MakePath(cue.AnyString)), typ.Elem(), path+".[string]", diffs)
	case reflect.Slice: // [...X]
		mirror(t, v.LookupPath(cue.MakePath(cue.AnyIndex)), typ.Elem(), path+"[]", diffs)
	case reflect.Struct:
		inGo := map[string]reflect.Type{}
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			inGo[name] = typ.Field(i).Type
		}
		it, err := v.Fields(cue.Optional(true))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var inSchema []string
		for it.Next() {
			name := it.Selector().Unquoted()
			inSchema = append(inSchema, name)
			ft, ok := inGo[name]
			if !ok {
				*diffs = append(*diffs, "schema only: "+path+"."+name)
				continue
			}
			mirror(t, it.Value(), ft, path+"."+name, diffs)
		}
		for name := range inGo {
			if !slices.Contains(inSchema, name) {
				*diffs = append(*diffs, "Go only: "+path+"."+name)
			}
		}
	}
	// Scalars, and interfaces (the disjunctions #VIP and #Secret, decoded
	// as JSON would and checked by the builder), have no fields.
}
