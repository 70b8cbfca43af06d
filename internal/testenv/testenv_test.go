package testenv

import "testing"

func TestParseCI(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{"", false}, {"0", false}, {"false", false}, {"False", false}, {"no", false}, {"off", false}, {" false ", false},
		{"true", true}, {"TRUE", true}, {"1", true}, {"yes", true}, {"on", true}, {"woodpecker", true},
	} {
		if got := ParseCI(tc.v); got != tc.want {
			t.Errorf("ParseCI(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}
