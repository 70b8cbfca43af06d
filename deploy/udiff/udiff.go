// Package udiff prints unified diffs for hac plan: the diff itself comes
// from github.com/rogpeppe/go-internal/diff (an anchored diff, O(n log n),
// the one the Go tools print); Colorize adds terminal colours.
package udiff

import (
	"strings"

	"github.com/rogpeppe/go-internal/diff"
)

// Unified returns the unified diff turning oldText into newText, with
// three lines of context around each change, or "" when they are equal.
// It starts with the ---/+++ header lines.
func Unified(oldName, newName, oldText, newText string) string {
	d := string(diff.Diff(oldName, []byte(oldText), newName, []byte(newText)))
	// Drop go-internal's "diff old new" line: diff -u has none.
	_, rest, _ := strings.Cut(d, "\n")
	return rest
}

// ANSI colours for Colorize.
const (
	red   = "\x1b[31m"
	green = "\x1b[32m"
	cyan  = "\x1b[36m"
	bold  = "\x1b[1m"
	reset = "\x1b[0m"
)

// Colorize adds terminal colours to a unified diff: headers bold, hunk
// ranges cyan, deletions red, insertions green.
func Colorize(diff string) string {
	var sb strings.Builder
	for _, l := range strings.SplitAfter(diff, "\n") {
		if l == "" {
			continue
		}
		body, nl := strings.CutSuffix(l, "\n")
		var c string
		switch {
		case strings.HasPrefix(l, "--- "), strings.HasPrefix(l, "+++ "):
			c = bold
		case strings.HasPrefix(l, "@@"):
			c = cyan
		case l[0] == '-':
			c = red
		case l[0] == '+':
			c = green
		}
		if c == "" {
			sb.WriteString(l)
			continue
		}
		sb.WriteString(c + body + reset)
		if nl {
			sb.WriteByte('\n')
		}
	}
	return sb.String()
}
