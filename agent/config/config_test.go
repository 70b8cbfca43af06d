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
