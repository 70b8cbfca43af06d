package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAuthNeverPrinted checks that the fmt verbs a log line or an error
// could use never show the pass, while the JSON written for the agent
// still carries it.
func TestAuthNeverPrinted(t *testing.T) {
	in := Instance{Name: "VI_1", Auth: &Auth{Type: "PASS", Pass: "pass1234"}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, in); strings.Contains(s, "pass1234") {
			t.Errorf("%s shows the pass: %s", verb, s)
		}
	}
	b, err := Marshal(&Config{Format: FormatVersion, Instances: []Instance{in}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&Auth{Type: "PASS", Pass: "pass1234"}, c.Instances[0].Auth); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// TestParseExactKeys: encoding/json takes "VRID" for vrid and keeps the
// last of two equal keys; a hand-written agent.json doing either used to
// run silently (a "Priority": 1 next to "priority": 200 ran priority 1).
// Parse refuses both, and unknown keys, each at its path.
func TestParseExactKeys(t *testing.T) {
	b, err := Marshal(valid())
	if err != nil {
		t.Fatal(err)
	}
	good := string(b)
	for _, tc := range []struct {
		name      string
		old, new  string
		wantParts []string
	}{
		{"upper-case key", `"vrid": 51`, `"VRID": 51`,
			[]string{`instances[0].VRID: unknown field: field names are lower case, write "vrid"`}},
		{"case variant next to the key", `"priority": 200`, `"priority": 200, "Priority": 1`,
			[]string{`instances[0].Priority: unknown field: field names are lower case, write "priority"`}},
		{"key twice", `"priority": 200`, `"priority": 200, "priority": 1`,
			[]string{`instances[0].priority: given twice in one object (only the last would count): keep one`}},
		{"top-level twice", `"node": "lb1"`, `"node": "lb1", "node": "lb2"`,
			[]string{`node: given twice`}},
		{"nested unknown", `"repeat": 5`, `"repeat": 5, "interval": "1s"`,
			[]string{`instances[0].garp.interval: unknown field: remove it`}},
		{"pass case variant", `"pass": "pass1234"`, `"pass": "pass1234", "Pass": "other123"`,
			[]string{`instances[0].auth.Pass: unknown field: field names are lower case, write "pass"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(good, tc.old, tc.new, 1)
			if in == good {
				t.Fatalf("%q not in the marshalled config:\n%s", tc.old, good)
			}
			c, err := Parse([]byte(in))
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", c.Instances)
			}
			for _, w := range tc.wantParts {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "pass1234") || strings.Contains(err.Error(), "other123") {
				t.Errorf("the error shows a pass: %v", err)
			}
		})
	}
	if _, err := Parse(b); err != nil {
		t.Errorf("the marshalled config: %v", err)
	}
}
