package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// exactKeys refuses the keys encoding/json lets through although they are
// not the format's: a key that names a field only when case is ignored
// ("VRID", "Priority": json matches those to vrid and priority) and a key
// given twice in one object (json keeps the last one silently, so a
// hand-edited file could run a priority nobody sees at a glance). It also
// names unknown keys at their path. b must be valid JSON; t is the Go type
// it decodes into. It returns every problem at once, as [*Problem]s.
func exactKeys(b []byte, t reflect.Type) error {
	w := &keyWalker{dec: json.NewDecoder(bytes.NewReader(b))}
	if err := w.value(t, ""); err != nil {
		return err
	}
	return errors.Join(w.problems...)
}

type keyWalker struct {
	dec      *json.Decoder
	problems []error
}

// value walks one JSON value decoded into t (nil: not part of the
// format, already reported).
func (w *keyWalker) value(t reflect.Type, at string) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch tok {
	case json.Delim('{'):
		return w.object(t, at)
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; w.dec.More(); i++ {
			if err := w.value(elem, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
		_, err = w.dec.Token() // ']'
		return err
	}
	return nil
}

// object walks the members of a JSON object decoded into t.
func (w *keyWalker) object(t reflect.Type, at string) error {
	var fields map[string]reflect.Type
	if t != nil && t.Kind() == reflect.Struct {
		fields = map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" && f.IsExported() {
				fields[name] = f.Type
			}
		}
	}
	seen := map[string]bool{}
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		kat := key
		if at != "" {
			kat = at + "." + key
		}
		var ft reflect.Type
		switch {
		case seen[key]:
			w.bad(kat, "given twice in one object (only the last would count): keep one")
		case fields != nil:
			var ok bool
			if ft, ok = fields[key]; !ok {
				w.bad(kat, "unknown field%s", suggest(key, fields))
			}
		}
		seen[key] = true
		if err := w.value(ft, kat); err != nil {
			return err
		}
	}
	_, err := w.dec.Token() // '}'
	return err
}

func (w *keyWalker) bad(at, format string, args ...any) {
	w.problems = append(w.problems, &Problem{Path: at, Message: fmt.Sprintf(format, args...)})
}

// suggest names the field key means when only its case differs.
func suggest(key string, fields map[string]reflect.Type) string {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return fmt.Sprintf(": field names are lower case, write %q", name)
		}
	}
	return ": remove it (agent.json holds only what hac build writes)"
}
