package agent

import (
	"errors"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/status"
)

// TestUnknownInstance: handoff and takeover of an instance the agent does
// not run return the typed error, naming the instances it runs, which the
// status socket answers as a usage error (hac agent exits 3, not 4).
func TestUnknownInstance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, 100, false)
		for name, act := range map[string]func(string, bool) ([]string, error){
			"handoff": r.a.Handoff, "takeover": r.a.Takeover,
		} {
			_, err := act("nope", false)
			ue, ok := errors.AsType[*status.UnknownInstanceError](err)
			if !ok {
				t.Fatalf("%s of an unknown instance: %v, want an UnknownInstanceError", name, err)
			}
			if diff := cmp.Diff(&status.UnknownInstanceError{Name: "nope", Known: []string{"VI_1"}}, ue); diff != "" {
				t.Errorf("%s of an unknown instance (-want +got):\n%s", name, diff)
			}
		}
		r.stop(t)
	})
}
