package compiler

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/model"
)

// TestYAMLSyntax checks that YAML syntax errors become diagnostics at
// file:line:col, in plain words with the fix.
func TestYAMLSyntax(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      Diagnostic
	}{
		{"tab indent", "clusters:\n  ncp-lb:\n    network:\n\tinterface: eth1\n",
			Diagnostic{Msg: tabAdvice, Pos: model.Pos{File: "f.yaml", Line: 4, Col: 1}}},
		{"tab after spaces", "x:\n  y: 1\n \tz: 2\n",
			Diagnostic{Msg: tabAdvice, Pos: model.Pos{File: "f.yaml", Line: 3, Col: 2}}},
		{"two colons", "clusters:\n  a: b: c\n",
			Diagnostic{Msg: "YAML syntax: a second ':' on this line: quote a value that holds ': ', or put the nested key on its own line, indented", Pos: model.Pos{File: "f.yaml", Line: 2, Col: 3}}},
		{"misindented key", "clusters:\n  a: 1\n b: 2\n",
			Diagnostic{Msg: "YAML syntax: this line's indentation does not match the keys above it: indent keys of one level by the same number of spaces", Pos: model.Pos{File: "f.yaml", Line: 3, Col: 2}}},
		{"multi-line flow list", "clusters: [1,\n  2,\n  3\nx: 1\n",
			Diagnostic{Msg: "YAML syntax: a [list] is not closed, or two of its items lack a ',' between them", Pos: model.Pos{File: "f.yaml", Line: 3, Col: 3}}},
		{"unclosed list", "vips: [1, 2\n",
			Diagnostic{Msg: "YAML syntax: a [list] is not closed, or two of its items lack a ',' between them", Pos: model.Pos{File: "f.yaml", Line: 1, Col: 1}}},
	} {
		_, err := parseYAML("f.yaml", []byte(tc.src))
		se, ok := err.(*syntaxError)
		if !ok {
			t.Errorf("%s: error %T %v, want a *syntaxError", tc.name, err, err)
			continue
		}
		if diff := cmp.Diff(tc.want, se.Diagnostic); diff != "" {
			t.Errorf("%s: diagnostic (-want +got):\n%s", tc.name, diff)
		}
	}
}

// FuzzYAMLSyntax: any input either decodes or gives a diagnostic with a
// position inside the file.
func FuzzYAMLSyntax(f *testing.F) {
	for _, s := range []string{"a: b: c\n", "x:\n\ty: 1\n", "a: [1\n", "clusters: {}\n", "a: 'x\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		_, err := parseYAML("f.yaml", src)
		if err == nil {
			return
		}
		se, ok := err.(*syntaxError)
		if !ok {
			t.Fatalf("error %T %v, want a *syntaxError", err, err)
		}
		if se.Pos.Line < 1 || se.Pos.Col < 1 || se.Msg == "" {
			t.Fatalf("diagnostic %+v: want a line, a column and a message", se.Diagnostic)
		}
	})
}

// TestJSONAndEmptyDocuments: JSON syntax errors say what is wrong at
// line:col (CUE's decoder said only "invalid JSON for file" at 1:1), a
// byte order mark is not an error, and an empty YAML or JSON file named
// on the command line says so (it was "cannot use value null (type null)
// as struct").
func TestJSONAndEmptyDocuments(t *testing.T) {
	empty := func(name, kind string) *Diagnostic {
		return &Diagnostic{Msg: "the " + kind + " file is empty (or only null): a hac file declares clusters: {NAME: {...}}; fill it in, or leave the file out", Pos: model.Pos{File: name, Line: 1, Col: 1}}
	}
	for _, tc := range []struct {
		name, file, src string
		want            *Diagnostic // nil: parses
	}{
		{"missing value", "f.json", `{"clusters": {"k": }}`,
			&Diagnostic{Msg: "JSON syntax: invalid character '}' looking for beginning of value", Pos: model.Pos{File: "f.json", Line: 1, Col: 20}}},
		{"trailing comma", "f.json", "{\n  \"clusters\": {\n    \"k\": 1,\n  }\n}",
			&Diagnostic{Msg: "JSON syntax: invalid character '}' looking for beginning of object key string", Pos: model.Pos{File: "f.json", Line: 4, Col: 3}}},
		{"truncated", "f.json", "{\"clusters\": {",
			&Diagnostic{Msg: "JSON syntax: unexpected end of JSON input", Pos: model.Pos{File: "f.json", Line: 1, Col: 14}}},
		{"byte order mark", "f.json", "\xef\xbb\xbf{\"clusters\": {}}", nil},
		{"empty JSON", "f.json", "", empty("f.json", "JSON")},
		{"blank JSON", "f.json", " \n", empty("f.json", "JSON")},
		{"null JSON", "f.json", "null", empty("f.json", "JSON")},
		{"empty YAML", "f.yaml", "", empty("f.yaml", "YAML")},
		{"comment-only YAML", "f.yaml", "# nothing yet\n", empty("f.yaml", "YAML")},
		{"null YAML", "f.yaml", "---\n", empty("f.yaml", "YAML")},
	} {
		s := &source{name: tc.file, src: []byte(tc.src)}
		_, err := s.parse()
		var got *Diagnostic
		if se, ok := err.(*syntaxError); ok {
			got = &se.Diagnostic
		} else if err != nil {
			t.Errorf("%s: error %T %v, want a *syntaxError", tc.name, err, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: diagnostic (-want +got):\n%s", tc.name, diff)
		}
	}
}

// FuzzJSONSyntax: any JSON input either parses or gives a diagnostic with
// a position inside the file.
func FuzzJSONSyntax(f *testing.F) {
	for _, s := range []string{`{"clusters": {"k": }}`, "{\n\"a\": 1,\n}", "\xef\xbb\xbf{}", "", "null", "[1, 2"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		s := &source{name: "f.json", src: src}
		_, err := s.parse()
		se, ok := err.(*syntaxError)
		if !ok {
			return // parsed, or an error CUE's decoder reports with its position
		}
		lines := 1 + strings.Count(string(src), "\n")
		if se.Pos.Line < 1 || se.Pos.Line > lines || se.Pos.Col < 1 || se.Msg == "" {
			t.Fatalf("diagnostic %+v for %q: want a line and column inside the file and a message", se.Diagnostic, src)
		}
	})
}
