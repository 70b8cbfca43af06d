package compiler

import (
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
