package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

// TestExplainPermission: a permission denial (EACCES, EPERM, however
// wrapped) becomes the message that says the agent needs root, or, run as
// root, its capabilities; anything else is left as it is.
func TestExplainPermission(t *testing.T) {
	lock := fmt.Errorf("node lock: %w", &fs.PathError{Op: "open", Path: "/run/hac/agent-net1.lock", Err: syscall.EACCES})
	raw := fmt.Errorf("announce: ARP socket on eth1: %w", syscall.EPERM)
	other := fmt.Errorf("node lock: %w", syscall.ENOSPC)
	for _, tc := range []struct {
		name string
		err  error
		euid int
		want []string // substrings; none: err unchanged
	}{
		{"lock as a user", lock, 65534, []string{"hac agent needs root", "CAP_NET_ADMIN and CAP_NET_RAW", "systemctl start hac-agent", "sudo hac-agent --config", "(node lock: open /run/hac/agent-net1.lock: permission denied)"}},
		{"raw socket as a user", raw, 1000, []string{"hac agent needs root", "(announce: ARP socket on eth1: operation not permitted)"}},
		{"raw socket as root without capabilities", raw, 0, []string{"runs as root but lacks a capability", "CAP_NET_ADMIN and CAP_NET_RAW", "AmbientCapabilities", "--cap-add NET_RAW"}},
		{"not a denial", other, 65534, nil},
		{"nil", nil, 65534, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := explainPermission(tc.err, tc.euid)
			if tc.want == nil {
				if got != tc.err {
					t.Errorf("explainPermission(%v) = %v, want it unchanged", tc.err, got)
				}
				return
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("explainPermission(%v) = %v, which does not wrap it", tc.err, got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got.Error(), w) {
					t.Errorf("explainPermission(%v) = %q, want it to contain %q", tc.err, got, w)
				}
			}
			if again := explainPermission(got, tc.euid); again != got {
				t.Errorf("explained twice: %q", again)
			}
		})
	}
}
