package election_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hac-project/hac/election"
	"github.com/hac-project/hac/internal/netns"
	"github.com/hac-project/hac/internal/testenv"
)

// TestOwnerAgainstKeepalived runs keepalived 2.2.7 as the address owner
// (priority 255) with a failing health check and compares what it does
// with [election.Effective]: a weighted check is not tracked at all (the
// owner keeps 255 and becomes master), a weight-0 check puts the owner in
// FAULT.
func TestOwnerAgainstKeepalived(t *testing.T) {
	keepalived := testenv.NeedTool(t, "keepalived")
	for _, tc := range []struct {
		weight int
		ready  string // the log line after which the owner has decided
	}{
		{-50, "(VI_1) Entering MASTER STATE"},
		{0, "VRRP_Script(chk) failed"},
	} {
		t.Run(fmt.Sprintf("weight %d", tc.weight), func(t *testing.T) {
			bed := netns.New(t, netns.Spec{Nodes: []string{"n1"}})
			dir := t.TempDir()
			conf := filepath.Join(dir, "keepalived.conf")
			src := fmt.Sprintf(`global_defs {
    router_id n1
    enable_script_security
    script_user root
}
vrrp_script chk {
    script "/bin/false"
    interval 1
    weight %d
}
vrrp_instance VI_1 {
    interface %s
    virtual_router_id 51
    priority 255
    advert_int 1
    virtual_ipaddress {
        198.18.0.200/24 dev %s
    }
    track_script {
        chk
    }
}
`, tc.weight, netns.NodeIface, netns.NodeIface)
			if err := os.WriteFile(conf, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := bed.Command(bed.Nodes[0].NS, keepalived, "--dont-fork", "--log-console", "--vrrp", "-f", conf,
				"-p", filepath.Join(dir, "k.pid"), "-r", filepath.Join(dir, "v.pid"), "-c", filepath.Join(dir, "c.pid"), "-b", filepath.Join(dir, "b.pid"))
			cmd.Env = append(os.Environ(), "TMPDIR="+dir) // where SIGUSR1 dumps the state
			out, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stdout = cmd.Stderr
			bed.Start(cmd)
			lines := make(chan string)
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					lines <- sc.Text()
				}
			}()
			// Bounds for a loaded machine: the owner decides within its
			// first advert interval and the check's first run.
			seen := waitLine(t, lines, tc.ready, nil)
			bed.Signal(cmd, syscall.SIGUSR1)
			waitLine(t, lines, "Printing VRRP data", seen)
			dump := filepath.Join(dir, "keepalived.data")
			var data []byte
			for range 100 { // the dump is written right after the log line
				if data, _ = os.ReadFile(dump); strings.Contains(string(data), "Total priority") {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			state := regexp.MustCompile(`(?m)^\s*State = (\w+)$`).FindStringSubmatch(string(data))
			prio := regexp.MustCompile(`(?m)^\s*Effective priority = (\d+)$`).FindStringSubmatch(string(data))
			if state == nil || prio == nil {
				t.Fatalf("keepalived's state dump has no State or Effective priority:\n%s", data)
			}
			got := election.Effective(election.OwnerPriority, []election.Item{{Weight: tc.weight, Up: false}})
			want := prio[1]
			if state[1] == "FAULT" {
				want = "0"
			}
			if fmt.Sprint(got) != want {
				t.Errorf("Effective(255, check of weight %d down) = %d; keepalived: state %s, effective priority %s", tc.weight, got, state[1], prio[1])
			}
		})
	}
}

// waitLine reads lines until one contains want, at most 20 s; it returns
// the lines read (after seen).
func waitLine(t *testing.T, lines <-chan string, want string, seen []string) []string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("keepalived ended before %q:\n%s", want, strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			if strings.Contains(l, want) {
				return seen
			}
		case <-deadline:
			t.Fatalf("keepalived did not log %q within 20s:\n%s", want, strings.Join(seen, "\n"))
		}
	}
}
