// Package udiff computes line differences with Myers' O(ND) algorithm
// ("An O(ND) Difference Algorithm and Its Variations", 1986) and prints
// them as unified diffs, like diff -u.
package udiff

import (
	"fmt"
	"strings"
)

// OpKind says what an edit does to a line.
type OpKind byte

// The edit kinds, printed as the unified diff prefix of the line.
const (
	Equal  OpKind = ' '
	Delete OpKind = '-'
	Insert OpKind = '+'
)

// Op is one line of an edit script. A is the line's index in the old text
// (Delete, Equal), B in the new one (Insert, Equal).
type Op struct {
	Kind OpKind
	A, B int
}

// maxCost bounds the edit distance Myers explores (its memory grows with
// its square); beyond it the diff says "replace everything", which is
// still a correct edit script.
const maxCost = 4000

// Lines returns a shortest edit script turning a into b.
func Lines(a, b []string) []Op {
	n, m := len(a), len(b)
	max := n + m
	if max > 2*maxCost {
		max = 2 * maxCost
	}
	off := max + 1
	v := make([]int, 2*max+3)
	var trace [][]int
	found := -1
	for d := 0; d <= max && found < 0; d++ {
		trace = append(trace, append([]int(nil), v...))
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				found = d
				break
			}
		}
	}
	if found < 0 {
		return replaceAll(n, m)
	}
	// Walk back through the saved frontiers.
	var rev []Op
	x, y := n, m
	for d := found; d > 0; d-- {
		vd := trace[d]
		k := x - y
		var pk int
		if k == -d || (k != d && vd[off+k-1] < vd[off+k+1]) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := vd[off+pk]
		py := px - pk
		for x > px && y > py {
			x, y = x-1, y-1
			rev = append(rev, Op{Equal, x, y})
		}
		if x == px {
			y--
			rev = append(rev, Op{Insert, x, y})
		} else {
			x--
			rev = append(rev, Op{Delete, x, y})
		}
	}
	for x > 0 && y > 0 {
		x, y = x-1, y-1
		rev = append(rev, Op{Equal, x, y})
	}
	ops := make([]Op, len(rev))
	for i, o := range rev {
		ops[len(rev)-1-i] = o
	}
	return ops
}

func replaceAll(n, m int) []Op {
	var ops []Op
	for i := range n {
		ops = append(ops, Op{Delete, i, 0})
	}
	for j := range m {
		ops = append(ops, Op{Insert, n, j})
	}
	return ops
}

// split cuts text into lines, each with its newline; a last line without
// one gets the "\ No newline at end of file" marker so that it differs
// from the same line with a newline.
func split(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	} else {
		lines[len(lines)-1] += "\n\\ No newline at end of file\n"
	}
	return lines
}

// Unified returns the unified diff turning oldText into newText with
// context lines around each change, or "" when they are equal.
func Unified(oldName, newName, oldText, newText string, context int) string {
	if oldText == newText {
		return ""
	}
	a, b := split(oldText), split(newText)
	ops := Lines(a, b)
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", oldName, newName)
	for i := 0; i < len(ops); {
		if ops[i].Kind == Equal {
			i++
			continue
		}
		// A hunk: from context lines before the change to context lines
		// after the last change closer than 2*context to the previous.
		start := max(i-context, 0)
		end := i
		for j := i; j < len(ops); j++ {
			if ops[j].Kind != Equal {
				end = j
			} else if j-end > 2*context {
				break
			}
		}
		stop := min(end+context+1, len(ops))
		writeHunk(&sb, a, b, ops[start:stop])
		i = stop
	}
	return sb.String()
}

func writeHunk(sb *strings.Builder, a, b []string, ops []Op) {
	aStart, bStart := ops[0].A, ops[0].B
	var aLen, bLen int
	for _, o := range ops {
		if o.Kind != Insert {
			aLen++
		}
		if o.Kind != Delete {
			bLen++
		}
	}
	fmt.Fprintf(sb, "@@ -%s +%s @@\n", span(aStart, aLen), span(bStart, bLen))
	for _, o := range ops {
		var line string
		if o.Kind == Insert {
			line = b[o.B]
		} else {
			line = a[o.A]
		}
		sb.WriteByte(byte(o.Kind))
		sb.WriteString(line)
	}
}

// span prints a hunk range as diff -u does: "start,len", 1-based, with
// the line before the hunk as start when it is empty.
func span(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	if n == 1 {
		return fmt.Sprint(start + 1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
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
