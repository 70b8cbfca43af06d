package agent

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/config"
)

// fakeSystemd records the notifications the agent sends.
type fakeSystemd struct {
	mu   sync.Mutex
	sent []string
}

func (f *fakeSystemd) notify(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, s)
	return nil
}

// take returns what was sent since the last take, watchdog pings
// counted apart.
func (f *fakeSystemd) take() (msgs []string, pings int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.sent {
		if s == "WATCHDOG=1" {
			pings++
		} else {
			msgs = append(msgs, s)
		}
	}
	f.sent = nil
	return msgs, pings
}

func withSystemd(sd *fakeSystemd, watchdog time.Duration) func(*config.Instance, *env) {
	return func(_ *config.Instance, e *env) { e.notify, e.watchdog = sd.notify, watchdog }
}

// TestSystemdNotify: READY=1 with the initial state once the instance
// has it, STATUS= on every transition, STOPPING=1 when the handoff
// starts, and watchdog pings every half WatchdogSec.
func TestSystemdNotify(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sd := &fakeSystemd{}
		r := start(t, 200, false, withSystemd(sd, 2*time.Second))
		msgs, _ := sd.take()
		if diff := cmp.Diff([]string{"READY=1\nSTATUS=VI_1 BACKUP"}, msgs); diff != "" {
			t.Errorf("at start (-want +got):\n%s", diff)
		}
		time.Sleep(5500 * time.Millisecond) // master after 361 ms; 5 rounds of 1 s
		msgs, pings := sd.take()
		if diff := cmp.Diff([]string{"STATUS=VI_1 MASTER"}, msgs); diff != "" {
			t.Errorf("after the takeover (-want +got):\n%s", diff)
		}
		if pings != 5 {
			t.Errorf("%d watchdog pings in 5 s at WatchdogSec=2s, want 5", pings)
		}
		r.stop(t)
		msgs, _ = sd.take()
		if len(msgs) == 0 || msgs[0] != "STOPPING=1\nSTATUS=stopping: masters hand off" {
			t.Errorf("at stop: %q, want STOPPING=1 first", msgs)
		}
		if !slices.Contains(msgs, "STATUS=VI_1 STOPPED") {
			t.Errorf("at stop: %q, want the STOPPED status", msgs)
		}
	})
}

// TestWatchdogStuckLoop: the pings come from the protocol loop. A loop
// stuck in a blocking call (injected: a control function that blocks)
// stops them, and they come back when it is released. The ticker alone
// would have gone on pinging.
func TestWatchdogStuckLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sd := &fakeSystemd{}
		r := start(t, 200, false, withSystemd(sd, 2*time.Second))
		time.Sleep(3500 * time.Millisecond)
		if _, pings := sd.take(); pings != 3 {
			t.Fatalf("%d pings in 3 s while healthy, want 3", pings)
		}
		release := make(chan struct{})
		in := r.a.instances[0]
		in.post(func() { <-release })
		time.Sleep(10 * time.Second)
		_, pings := sd.take()
		if pings > 1 {
			t.Errorf("%d pings in 10 s with the loop stuck, want at most 1 (the round asked before it stuck)", pings)
		}
		close(release)
		time.Sleep(3 * time.Second)
		if _, pings := sd.take(); pings < 2 {
			t.Errorf("%d pings in 3 s after the loop was released, want them back", pings)
		}
		r.stop(t)
		if !strings.Contains(r.log.String(), "protocol loop does not answer") {
			t.Error("the missing pings are not logged")
		}
	})
}

// TestSystemdReload: a reload (systemctl reload, SIGHUP, hac agent
// reload) is announced with RELOADING=1 and MONOTONIC_USEC= and ended
// with READY=1 and the instances' states, also when the file is refused
// (the running configuration stays, and STATUS= says so); after
// STOPPING=1 a reload tells systemd nothing.
func TestSystemdReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sd := &fakeSystemd{}
		r := start(t, 200, false, withSystemd(sd, 0))
		becomeMaster(t, r)
		path := filepath.Join(t.TempDir(), "agent.json")
		r.a.opts.ConfigPath = path
		write := func(c *config.Config) {
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		reloading := regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*\nSTATUS=reloading ` + regexp.QuoteMeta(path) + `$`)
		for _, tc := range []struct {
			name string
			mod  func(*config.Config)
			last string
		}{
			{"in place", func(c *config.Config) { c.Instances[0].Priority = 150 }, "READY=1\nSTATUS=VI_1 MASTER"},
			{"refused", func(c *config.Config) { c.Instances[0].VRID = 0 }, "READY=1\nSTATUS=VI_1 MASTER (reload refused, the running configuration stays: see the log)"},
		} {
			sd.take()
			write(reloaded(r, tc.mod))
			_, err := r.a.Reload()
			if (err != nil) != (tc.name == "refused") {
				t.Fatalf("%s: reload: %v", tc.name, err)
			}
			msgs, _ := sd.take()
			if len(msgs) < 2 || !reloading.MatchString(msgs[0]) || msgs[len(msgs)-1] != tc.last {
				t.Errorf("%s: sent %q, want RELOADING=1 with MONOTONIC_USEC= first and %q last", tc.name, msgs, tc.last)
			}
		}
		r.stop(t)
		sd.take()
		if _, err := r.a.Reload(); err == nil {
			t.Error("a reload after the stop was not refused")
		}
		if msgs, _ := sd.take(); len(msgs) != 0 {
			t.Errorf("a reload after STOPPING=1 sent %q, want nothing", msgs)
		}
	})
}
