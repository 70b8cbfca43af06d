package cli

import "testing"

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
