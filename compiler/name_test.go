package compiler

import (
	"regexp"
	"strings"
	"testing"
)

// nameRe is the rule validName implements.
var nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

var nameSeeds = []string{
	"", "a", "ncp-lb", "VI_1", "lb1.example", "_x", ".x", "-x", "x y", "x/y", "é",
	strings.Repeat("a", 63), strings.Repeat("a", 64), "a\n", "9", "a..b",
}

func TestValidName(t *testing.T) {
	for _, s := range nameSeeds {
		if got, want := validName(s), nameRe.MatchString(s); got != want {
			t.Errorf("validName(%q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzValidName(f *testing.F) {
	for _, s := range nameSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validName(s), nameRe.MatchString(s); got != want {
			t.Errorf("validName(%q) = %v, want %v", s, got, want)
		}
	})
}
