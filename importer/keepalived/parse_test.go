package keepalived

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hac-project/hac/model"
)

// words returns the texts of a statement's words, for compact expectations.
type flat struct {
	Line  int
	Words []string
	Block []flat
}

func flatten(stmts []*Stmt) []flat {
	var out []flat
	for _, s := range stmts {
		f := flat{Line: s.Pos.Line}
		for _, w := range s.Words {
			f.Words = append(f.Words, w.Text)
		}
		if s.HasBlock {
			f.Block = flatten(s.Block)
			if f.Block == nil {
				f.Block = []flat{}
			}
		}
		out = append(out, f)
	}
	return out
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []flat
	}{
		{
			name: "brace on the keyword's line",
			src:  "vrrp_instance VI_1 {\n  state MASTER\n}\n",
			want: []flat{{Line: 1, Words: []string{"vrrp_instance", "VI_1"}, Block: []flat{{Line: 2, Words: []string{"state", "MASTER"}}}}},
		},
		{
			name: "brace on the next line",
			src:  "vrrp_instance VI_1\n\n{\n  state MASTER\n}\n",
			want: []flat{{Line: 1, Words: []string{"vrrp_instance", "VI_1"}, Block: []flat{{Line: 4, Words: []string{"state", "MASTER"}}}}},
		},
		{
			name: "one-line block and comments",
			src:  "# top\nvirtual_ipaddress { 10.0.0.1 } ! trailing\nnopreempt # why\n",
			want: []flat{
				{Line: 2, Words: []string{"virtual_ipaddress"}, Block: []flat{{Line: 2, Words: []string{"10.0.0.1"}}}},
				{Line: 3, Words: []string{"nopreempt"}},
			},
		},
		{
			name: "quoted words keep spaces and comment characters",
			src:  `notify_master "/bin/echo # not a comment" x` + "\n" + `s "a\"b\\c"`,
			want: []flat{
				{Line: 1, Words: []string{"notify_master", "/bin/echo # not a comment", "x"}},
				{Line: 2, Words: []string{"s", `a"b\c`}},
			},
		},
		{
			name: "empty block and CRLF",
			src:  "a {\r\n}\r\nb\r\n",
			want: []flat{{Line: 1, Words: []string{"a"}, Block: []flat{}}, {Line: 3, Words: []string{"b"}}},
		},
		{
			name: "nested blocks",
			src:  "x {\n y {\n  z 1\n }\n}",
			want: []flat{{Line: 1, Words: []string{"x"}, Block: []flat{{Line: 2, Words: []string{"y"}, Block: []flat{{Line: 3, Words: []string{"z", "1"}}}}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("k.conf", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, flatten(f.Stmts)); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
			// Round trip: String re-parses to the same words.
			g, err := Parse("k.conf", []byte(f.String()))
			if err != nil {
				t.Fatalf("re-parse of String():\n%s\n%v", f.String(), err)
			}
			if diff := cmp.Diff(wordsOnly(f.Stmts), wordsOnly(g.Stmts)); diff != "" {
				t.Errorf("String round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParsePositions(t *testing.T) {
	f, err := Parse("k.conf", []byte("a {\n\tb  \"c d\"\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := f.Stmts[0].Block[0]
	want := []Word{
		{Text: "b", Pos: model.Pos{File: "k.conf", Line: 2, Col: 2}},
		{Text: "c d", Pos: model.Pos{File: "k.conf", Line: 2, Col: 5}, Quoted: true},
	}
	if diff := cmp.Diff(want, b.Words); diff != "" {
		t.Errorf("words (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{"a {\n b\n", `k.conf:1:3: '{' is never closed: add the matching '}'`},
		{"a\n}\n", `k.conf:2:1: unexpected '}' without a matching '{'`},
		{"{\n}", `k.conf:1:1: '{' without a keyword before it`},
		{"a \"b\nc\"", `k.conf:1:3: unterminated quoted string: add the closing " on the same line`},
		{`a "b`, `k.conf:1:3: unterminated quoted string: add the closing "`},
		{"notify_backup /us\xffr/bin/x\n", `k.conf:1:15: "/us\xffr/bin/x" is not valid UTF-8, which hac's files (CUE, JSON) need: convert the file (e.g. iconv -f LATIN1 -t UTF-8) or fix those bytes`},
		{"notify_backup \"caf\xe9\"\n", `k.conf:1:15: "caf\xe9" is not valid UTF-8, which hac's files (CUE, JSON) need: convert the file (e.g. iconv -f LATIN1 -t UTF-8) or fix those bytes`},
	}
	for _, tt := range tests {
		_, err := Parse("k.conf", []byte(tt.src))
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q) error = %v, want %s", tt.src, err, tt.want)
		}
	}
}

func TestParseTestdata(t *testing.T) {
	names, _ := filepath.Glob("testdata/*.conf")
	if len(names) == 0 {
		t.Fatal("no testdata/*.conf")
	}
	for _, name := range names {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(name, src); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// wordsOnly drops positions, which String does not keep.
func wordsOnly(stmts []*Stmt) []*Stmt {
	var out []*Stmt
	for _, s := range stmts {
		c := &Stmt{HasBlock: s.HasBlock}
		for _, w := range s.Words {
			c.Words = append(c.Words, Word{Text: w.Text})
		}
		if s.HasBlock {
			c.Block = wordsOnly(s.Block)
		}
		out = append(out, c)
	}
	return out
}

func FuzzParse(f *testing.F) {
	names, _ := filepath.Glob("testdata/*.conf")
	for _, name := range names {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte("a {\n b \"c\\\"d\" }\n!x\n#y\n"))
	f.Add([]byte("a\\\nb {}"))
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := Parse("f.conf", src)
		if err != nil {
			return
		}
		// What parses prints, and re-parses to the same statements.
		again, err := Parse("f.conf", []byte(file.String()))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", file.String(), err)
		}
		if diff := cmp.Diff(wordsOnly(file.Stmts), wordsOnly(again.Stmts), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
		// Decoding never panics.
		Decode(file)
	})
}

// TestParseCommentsHoldAnyBytes: only words must be UTF-8; a comment in
// Latin-1 is still a comment.
func TestParseCommentsHoldAnyBytes(t *testing.T) {
	if _, err := Parse("k.conf", []byte("# caf\xe9 config\nglobal_defs {\n}\n")); err != nil {
		t.Errorf("Parse: %v, want a comment in Latin-1 accepted", err)
	}
}
