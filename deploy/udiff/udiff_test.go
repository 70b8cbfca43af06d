package udiff

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUnified(t *testing.T) {
	for _, tc := range []struct {
		name, a, b, want string
	}{
		{"equal", "x\n", "x\n", ""},
		{"create", "", "a\nb\n", "--- old\n+++ new\n@@ -0,0 +1,2 @@\n+a\n+b\n"},
		{"delete all", "a\n", "", "--- old\n+++ new\n@@ -1,1 +0,0 @@\n-a\n"},
		{"change middle", "1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n",
			"--- old\n+++ new\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"},
		{"no newline at end", "a\nb", "a\nb\n",
			"--- old\n+++ new\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"},
		{"two hunks", "a\n1\n2\n3\n4\n5\n6\n7\n8\nz\n", "A\n1\n2\n3\n4\n5\n6\n7\n8\nZ\n",
			"--- old\n+++ new\n@@ -1,4 +1,4 @@\n-a\n+A\n 1\n 2\n 3\n@@ -7,4 +7,4 @@\n 6\n 7\n 8\n-z\n+Z\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Unified("old", "new", tc.a, tc.b)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got != "" {
				checkApply(t, tc.a, tc.b, got)
			}
		})
	}
}

// checkApply applies a unified diff to a and checks that it gives b.
func checkApply(t *testing.T, a, b, diff string) {
	t.Helper()
	old := split(a)
	var out []string
	next := 0 // next unconsumed line of old
	lines := strings.SplitAfter(diff, "\n")
	for i := 2; i < len(lines) && lines[i] != ""; i++ {
		l := lines[i]
		if strings.HasPrefix(l, "@@ ") {
			f := strings.Fields(l)
			start, _ := strconv.Atoi(strings.Split(f[1][1:], ",")[0])
			if !strings.Contains(f[1], ",0") {
				start--
			}
			out = append(out, old[next:start]...)
			next = start
			continue
		}
		if strings.HasPrefix(l, `\`) {
			continue
		}
		body := l[1:]
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], `\`) {
			body += lines[i+1]
		}
		switch l[0] {
		case ' ':
			out = append(out, body)
			next++
		case '-':
			if old[next] != body {
				t.Fatalf("diff deletes %q, old line %d is %q", body, next, old[next])
			}
			next++
		case '+':
			out = append(out, body)
		}
	}
	out = append(out, old[next:]...)
	if got, want := strings.Join(out, ""), strings.Join(split(b), ""); got != want {
		t.Fatalf("applying the diff gives %q, want %q\n%s", got, want, diff)
	}
}

// split cuts text into lines, each with its newline; a last line without
// one gets the "\ No newline at end of file" marker, as in a diff.
func split(s string) []string {
	var out []string
	for s != "" {
		line, rest, ok := strings.Cut(s, "\n")
		if !ok {
			out = append(out, line+"\n\\ No newline at end of file\n")
			break
		}
		out = append(out, line+"\n")
		s = rest
	}
	return out
}

// FuzzUnified: every diff applies to the old text and gives the new one.
func FuzzUnified(f *testing.F) {
	f.Add("a\nb\nc\n", "a\nc\nd\n")
	f.Add("", "x")
	f.Add("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "0\n1\n2\n3\n5\n6\n7\n8\n9\n10\n11")
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 2000 || len(b) > 2000 {
			return
		}
		if d := Unified("a", "b", a, b); d != "" {
			checkApply(t, a, b, d)
		} else if a != b {
			t.Fatal("no diff for different texts")
		}
	})
}

func TestColorize(t *testing.T) {
	got := Colorize("--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y\n z\n")
	want := "\x1b[1m--- a\x1b[0m\n\x1b[1m+++ b\x1b[0m\n\x1b[36m@@ -1 +1 @@\x1b[0m\n\x1b[31m-x\x1b[0m\n\x1b[32m+y\x1b[0m\n z\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
