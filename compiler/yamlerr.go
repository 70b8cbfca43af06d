package compiler

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/encoding/yaml"

	"github.com/hac-project/hac/model"
)

// syntaxError is a YAML syntax error as a diagnostic: the YAML decoder's
// errors are plain strings without a column, in its own words.
type syntaxError struct{ Diagnostic }

func (e *syntaxError) Error() string { return e.Pos.String() + ": " + e.Msg }

// yamlErrLine splits "file:LINE: message" (the line is missing from some
// of the decoder's errors).
var yamlErrLine = regexp.MustCompile(`^.*?:(?:(\d+):)? (.*)$`)

// yamlWords puts the YAML decoder's messages in plain words, each with
// the fix.
var yamlWords = []struct{ prefix, words string }{
	{"found character that cannot start any token", "this character cannot start a value here: quote the value"},
	{"mapping values are not allowed in this context", "a second ':' on this line: quote a value that holds ': ', or put the nested key on its own line, indented"},
	{"did not find expected key", "this line's indentation does not match the keys above it: indent keys of one level by the same number of spaces"},
	{"could not find expected ':'", "a key without ':': write key: value"},
	{"found unexpected end of stream", "the file ends inside a quoted string or a [list] or {map}: close it"},
	{"did not find expected ',' or ']'", "a [list] is not closed, or two of its items lack a ',' between them"},
	{"did not find expected ',' or '}'", "a {map} is not closed, or two of its entries lack a ',' between them"},
	{"did not find expected '-' indicator", "a list item among keys, or a key among list items: give each level one kind, indented by the same number of spaces"},
	{"found undefined alias", "an *alias names no &anchor above it"},
}

// tabAdvice is what a tab in indentation gets, wherever the decoder
// noticed it.
const tabAdvice = "tabs are not allowed in YAML indentation; use spaces"

// parseYAML extracts a YAML file as CUE syntax; a syntax error comes back
// as a *syntaxError with file:line:col and plain words.
func parseYAML(name string, src []byte) (*ast.File, error) {
	f, err := extractYAML(name, src)
	if err == nil {
		return f, nil
	}
	return nil, yamlSyntaxError(name, src, err.Error())
}

// extractYAML is yaml.Extract, with a panic of the decoder (cuelang.org/go
// v0.17.1 indexes out of range on "\r\r\r\r0") returned as an error.
func extractYAML(name string, src []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("%s: the YAML decoder failed on this file (%v): check its line endings and indentation", name, r)
		}
	}()
	return yaml.Extract(name, src)
}

// yamlSyntaxError turns the decoder's message for src into a diagnostic.
// A tab in the indentation of the reported line or a neighbour is named
// as the cause (the decoder reports it in several ways).
func yamlSyntaxError(name string, src []byte, msg string) *syntaxError {
	line, text := 0, msg
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		text = m[2]
		line, _ = strconv.Atoi(m[1])
	}
	lines := strings.Split(string(src), "\n")
	// The decoder reports some errors at the line where the enclosing
	// block starts ("did not find expected key" for a misindented line
	// below it) and some without a line: the first line at which the
	// file stops decoding is the better place when it comes later.
	if len(lines) <= maxBisectLines {
		line = max(line, firstFailingLine(name, lines))
	}
	line = min(max(line, 1), len(lines))
	if l, col := tabIndent(lines, line); l > 0 {
		return &syntaxError{Diagnostic{Msg: tabAdvice, Pos: model.Pos{File: name, Line: l, Col: col}}}
	}
	words := text
	for _, w := range yamlWords {
		if strings.HasPrefix(text, w.prefix) {
			words = w.words
			break
		}
	}
	col := 1 + len(lines[line-1]) - len(strings.TrimLeft(lines[line-1], " "))
	return &syntaxError{Diagnostic{Msg: "YAML syntax: " + words, Pos: model.Pos{File: name, Line: line, Col: col}}}
}

// tabIndent finds the first of the lines around line (1-based; the
// decoder reports one line off as often as not) with a tab in its
// leading whitespace, and the tab's column; 0, 0 when there is none.
func tabIndent(lines []string, line int) (int, int) {
	for i := max(line-2, 0); i < min(line+1, len(lines)); i++ {
		indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " \t"))
		if j := strings.IndexByte(lines[i][:indent], '\t'); j >= 0 && indent < len(lines[i]) {
			return i + 1, j + 1
		}
	}
	return 0, 0
}

// maxBisectLines bounds the files firstFailingLine searches (it decodes
// the file once per line).
const maxBisectLines = 2000

// firstFailingLine returns the number of the first line such that the
// file up to it does not decode, or 1.
func firstFailingLine(name string, lines []string) int {
	var buf bytes.Buffer
	for i, l := range lines {
		buf.WriteString(l)
		buf.WriteByte('\n')
		if _, err := extractYAML(name, buf.Bytes()); err != nil {
			return i + 1
		}
	}
	return 1
}
