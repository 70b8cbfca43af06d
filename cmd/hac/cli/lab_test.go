package cli

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/lab"
)

// TestRootFlag: after hac lab up --root R, the commands hac suggests name
// R (they used to say "sudo hac lab watch", which finds no lab there),
// quoted for the shell.
func TestRootFlag(t *testing.T) {
	for root, want := range map[string]string{
		"/run/hac-lab":         "",
		"/tmp/lab1":            " --root /tmp/lab1",
		"/tmp/with space/lab1": ` --root '/tmp/with space/lab1'`,
		"/tmp/it's/lab":        ` --root '/tmp/it'\''s/lab'`,
	} {
		if got := rootFlag(root); got != want {
			t.Errorf("rootFlag(%q) = %q, want %q", root, got, want)
		}
	}
}

// TestLabErrCodes: the lab keeps the one exit-code table: a bad argument
// is 3, work that failed (an agent that did not start, a namespace that
// could not be made) is 4 (it was 1, like a refusal), a refusal or a
// failover step that went wrong is 1.
func TestLabErrCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, exitcode.OK},
		{&lab.ArgError{}, exitcode.Usage},
		{fmt.Errorf("up: %w", &lab.FailError{Err: errors.New("lab: the agent of lb1 did not answer")}), exitcode.Failed},
		{errors.Join(&lab.FailError{Err: errors.New("lab: kill")}, errors.New("lab: record state")), exitcode.Failed},
		{fmt.Errorf("lab: %w (no state.json)", lab.ErrNotUp), exitcode.Invalid},
		{errors.New("lab: failover did not go as expected"), exitcode.Invalid},
	} {
		got := exitcode.OK
		var ee *exitcode.Error
		if err := labErr(tc.err); errors.As(err, &ee) {
			got = ee.Code
		}
		if got != tc.want {
			t.Errorf("labErr(%v): exit %d, want %d", tc.err, got, tc.want)
		}
	}
}
