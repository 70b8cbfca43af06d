package compiler

import (
	"fmt"
	"reflect"
	"strings"

	"cuelang.org/go/cue"
)

// decode fills x, a pointer to one of the raw types, from a concrete,
// validated value: a struct field by its json tag name with LookupPath, a
// map with Fields, a slice with List, an interface as JSON would (string,
// float64, bool, map[string]any or []any). Absent fields keep their zero
// value, as with encoding/json.
//
// It replaces MarshalJSON followed by encoding/json.Unmarshal, which was a
// third of a cluster's evaluation: MarshalJSON, like Fields and Decode,
// sorts every struct's fields topologically, while LookupPath does not, so
// only the maps (nodes, instances, priorities, checks) are sorted here.
func decode(v cue.Value, x any) error {
	return decodeValue(v, reflect.ValueOf(x).Elem())
}

func decodeValue(v cue.Value, rv reflect.Value) error {
	v, _ = v.Default()
	switch rv.Kind() {
	case reflect.Struct:
		t := rv.Type()
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			f := v.LookupPath(cue.MakePath(cue.Str(name)))
			if !f.Exists() {
				continue
			}
			if err := decodeValue(f, rv.Field(i)); err != nil {
				return err
			}
		}
	case reflect.Pointer:
		p := reflect.New(rv.Type().Elem())
		if err := decodeValue(v, p.Elem()); err != nil {
			return err
		}
		rv.Set(p)
	case reflect.Map:
		it, err := v.Fields()
		if err != nil {
			return err
		}
		m := reflect.MakeMap(rv.Type())
		for it.Next() {
			e := reflect.New(rv.Type().Elem()).Elem()
			if err := decodeValue(it.Value(), e); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(it.Selector().Unquoted()), e)
		}
		rv.Set(m)
	case reflect.Slice:
		it, err := v.List()
		if err != nil {
			return err
		}
		s := reflect.MakeSlice(rv.Type(), 0, 0)
		for it.Next() {
			e := reflect.New(rv.Type().Elem()).Elem()
			if err := decodeValue(it.Value(), e); err != nil {
				return err
			}
			s = reflect.Append(s, e)
		}
		rv.Set(s)
	case reflect.String:
		s, err := v.String()
		if err != nil {
			return err
		}
		rv.SetString(s)
	case reflect.Int:
		n, err := v.Int64()
		if err != nil {
			return err
		}
		rv.SetInt(n)
	case reflect.Bool:
		b, err := v.Bool()
		if err != nil {
			return err
		}
		rv.SetBool(b)
	case reflect.Interface:
		a, err := decodeAny(v)
		if err != nil {
			return err
		}
		if a != nil {
			rv.Set(reflect.ValueOf(a))
		}
	default:
		panic(fmt.Sprintf("compiler: decode cannot fill a %s", rv.Type()))
	}
	return nil
}

// decodeAny returns a value as encoding/json decodes it into an any.
func decodeAny(v cue.Value) (any, error) {
	switch v.Kind() {
	case cue.StringKind:
		return v.String()
	case cue.BoolKind:
		return v.Bool()
	case cue.IntKind, cue.FloatKind, cue.NumberKind:
		return v.Float64()
	case cue.NullKind:
		return nil, nil
	case cue.StructKind:
		var m map[string]any
		err := decodeValue(v, reflect.ValueOf(&m).Elem())
		return m, err
	case cue.ListKind:
		var l []any
		err := decodeValue(v, reflect.ValueOf(&l).Elem())
		return l, err
	}
	return nil, fmt.Errorf("%v: value is not concrete", v.Path())
}
