package agent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/agent/vip"
	"github.com/hac-project/hac/internal/testenv"
)

func TestCheckState(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rise, fall int
		results    string // s: success, f: failure
		want       string // state after each result: u or d
	}{
		{"first success is up at once", 3, 3, "s", "u"},
		{"first failure is down at once", 3, 3, "f", "d"},
		{"fall 2", 1, 2, "sffsff", "uuduud"},
		{"fall resets on success", 1, 2, "sfsfsff", "uuuuuud"},
		{"rise 3", 3, 1, "fsssf", "dddud"},
		{"rise resets on failure", 2, 1, "fsfss", "ddddu"},
		{"zero counts act as 1", 0, 0, "sfs", "udu"},
	} {
		s := checkState{rise: tc.rise, fall: tc.fall}
		var got strings.Builder
		was := false
		for _, r := range tc.results {
			changed := s.observe(r == 's')
			if changed != (s.up != was) {
				t.Errorf("%s: observe reported changed=%v going from up=%v to up=%v", tc.name, changed, was, s.up)
			}
			was = s.up
			if s.up {
				got.WriteByte('u')
			} else {
				got.WriteByte('d')
			}
		}
		if got.String() != tc.want {
			t.Errorf("%s: results %s gave states %s, want %s", tc.name, tc.results, got.String(), tc.want)
		}
	}
}

// fakeRun runs nothing: a check program is healthy while its name is in
// healthy, "hang" runs until its timeout, and every call is recorded.
type fakeRun struct {
	mu      sync.Mutex
	healthy map[string]bool
	calls   []string
	argvs   [][]string // every call's argv
}

func (f *fakeRun) run(ctx context.Context, argv []string, _ string, timeout time.Duration) error {
	f.mu.Lock()
	f.calls = append(f.calls, argv[0])
	f.argvs = append(f.argvs, argv)
	ok := f.healthy[argv[0]]
	f.mu.Unlock()
	if argv[0] == "hang" {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(timeout):
			return errTimeout
		}
	}
	if !ok {
		return errors.New("exit status 1")
	}
	return nil
}

func (f *fakeRun) set(name string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.healthy[name] = ok
}

// notified returns the notify programs run so far (their names start
// with "notify-").
func (f *fakeRun) notified() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var n []string
	for _, c := range f.calls {
		if strings.HasPrefix(c, "notify-") {
			n = append(n, c)
		}
	}
	return n
}

// called returns the argv of every call of program, in order.
func (f *fakeRun) called(program string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, a := range f.argvs {
		if a[0] == program {
			out = append(out, strings.Join(a, " "))
		}
	}
	return out
}

// TestTracking: a check with a positive weight, a tracked interface with a
// negative one and a weight-0 check move the effective priority and the
// state; notify commands run on every transition.
func TestTracking(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRun{healthy: map[string]bool{"web": true, "db": true}}
		sec := config.Duration(time.Second)
		r := start(t, 100, false, func(c *config.Instance, e *env) {
			c.Track = []config.Track{{Interface: "eth2", Weight: -50}}
			c.Checks = []config.Check{
				{Name: "web", Command: []string{"web"}, Interval: sec, Timeout: sec, Rise: 2, Fall: 2, Weight: 20},
				{Name: "db", Command: []string{"db"}, Interval: sec, Timeout: sec, Rise: 2, Fall: 1, Weight: 0},
				{Name: "slow", Command: []string{"hang"}, Interval: sec, Timeout: sec, Rise: 1, Fall: 1, Weight: -10},
			}
			c.Notify = &config.Notify{Master: []string{"notify-master"}, Backup: []string{"notify-backup"},
				Fault: []string{"notify-fault"}, Stop: []string{"notify-stop"}, All: []string{"generic", "--flag"}}
			e.run = f.run
		})
		prio := func(want int, state string) {
			t.Helper()
			synctest.Wait()
			in := r.instance()
			if in.Priority != want || in.State != state {
				t.Fatalf("priority %d in %s, want %d in %s", in.Priority, in.State, want, state)
			}
		}
		// The instance starts once every check has run once (t = 1 s:
		// the hanging one timed out: down, -10); checks then run at
		// 2 s, 3 s, ...
		time.Sleep(time.Second + 10*time.Millisecond)
		prio(110, "BACKUP")
		in := r.instance()
		// Each check ran once and is counted with its result and time
		// (the hanging one for its whole timeout).
		want := []status.Item{
			{Name: "web", Up: true, Weight: 20, Results: map[string]uint64{"ok": 1}},
			{Name: "db", Up: true, Results: map[string]uint64{"ok": 1}},
			{Name: "slow", Weight: -10, Results: map[string]uint64{"timeout": 1}, RunSeconds: 1},
		}
		if diff := cmp.Diff(want, in.Checks); diff != "" {
			t.Errorf("checks (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]status.Item{{Name: "eth2", Up: true, Weight: -50}}, in.Tracks); diff != "" {
			t.Errorf("tracks (-want +got):\n%s", diff)
		}
		time.Sleep(500 * time.Millisecond)
		prio(110, "MASTER")

		// web fails: down after fall=2 failures.
		f.set("web", false)
		time.Sleep(time.Second)
		prio(110, "MASTER")
		time.Sleep(time.Second)
		prio(90, "MASTER")

		// The tracked interface goes down: -50.
		r.events <- []vip.Event{{Kind: vip.Link, Index: 3, Up: false}}
		prio(40, "MASTER")

		// The weight-0 check fails: FAULT at once (fall=1), VIP gone.
		f.set("db", false)
		time.Sleep(time.Second)
		prio(0, "FAULT")
		if r.addrs.holds(vip1) {
			t.Errorf("the VIP is still held in FAULT")
		}
		// It comes back after rise=2 successes: BACKUP, then MASTER.
		f.set("db", true)
		time.Sleep(time.Second)
		prio(0, "FAULT")
		time.Sleep(600 * time.Millisecond)
		prio(40, "BACKUP")
		r.events <- []vip.Event{{Kind: vip.Link, Index: 3, Up: true}}
		prio(90, "BACKUP")
		time.Sleep(500 * time.Millisecond)
		prio(90, "MASTER")

		r.stop(t)
		synctest.Wait()
		wantN := []string{"notify-backup", "notify-master", "notify-fault", "notify-backup", "notify-master", "notify-stop"}
		if diff := cmp.Diff(wantN, f.notified()); diff != "" {
			t.Errorf("notify commands (-want +got):\n%s", diff)
		}
		// keepalived's generic notify: INSTANCE, the name, the state and
		// the effective priority (in FAULT the one the weight-0 item
		// does not change: 100 - 50 - 10).
		wantG := []string{
			"generic --flag INSTANCE VI_1 BACKUP 110",
			"generic --flag INSTANCE VI_1 MASTER 110",
			"generic --flag INSTANCE VI_1 FAULT 40",
			"generic --flag INSTANCE VI_1 BACKUP 40",
			"generic --flag INSTANCE VI_1 MASTER 90",
			"generic --flag INSTANCE VI_1 STOP 90",
		}
		if diff := cmp.Diff(wantG, f.called("generic")); diff != "" {
			t.Errorf("generic notify (-want +got):\n%s", diff)
		}
	})
}

// TestTrackingAtStart: a weight-0 check failing at start holds the
// instance in FAULT from the beginning.
func TestTrackingAtStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRun{healthy: map[string]bool{}}
		r := start(t, 100, false, func(c *config.Instance, e *env) {
			c.Checks = []config.Check{{Name: "db", Command: []string{"db"}, Interval: config.Duration(time.Second), Timeout: config.Duration(time.Second), Rise: 1, Fall: 1}}
			e.run = f.run
		})
		time.Sleep(time.Second)
		synctest.Wait()
		if in := r.instance(); in.State != "FAULT" || in.Priority != 0 || len(r.conn.priorities()) != 0 {
			t.Fatalf("state %s priority %d, %d adverts; want FAULT, 0, none", in.State, in.Priority, len(r.conn.priorities()))
		}
		r.stop(t)
	})
}

// TestRunCommand runs real commands: exit status, no shell, and a timeout
// that kills the whole process group.
func TestRunCommand(t *testing.T) {
	testenv.NeedTool(t, "sh")
	ctx := context.Background()
	if err := runCommand(ctx, []string{"true"}, "", time.Second); err != nil {
		t.Errorf("true: %v", err)
	}
	if err := runCommand(ctx, []string{"false"}, "", time.Second); err == nil {
		t.Errorf("false: no error")
	}
	if err := runCommand(ctx, []string{"echo hi; true"}, "", time.Second); err == nil {
		t.Errorf("a shell line ran: argv must not go through a shell")
	}
	// A child in the background outlives its parent unless the group is killed.
	pidFile := filepath.Join(t.TempDir(), "pid")
	err := runCommand(ctx, []string{"sh", "-c", "sleep 30 & echo $! > " + pidFile + "; wait"}, "", 300*time.Millisecond)
	if !errors.Is(err, errTimeout) {
		t.Fatalf("hanging command: %v, want %v", err, errTimeout)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// Killed (SIGKILL is delivered asynchronously): soon gone, or a
	// zombie waiting for its reaper.
	for i := 0; ; i++ {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(st), ") Z ") {
			break
		}
		if i == 100 {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the background child of a timed-out check survived: %s", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunCommandUser runs a check as another user.
func TestRunCommandUser(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedTool(t, "sh")
	if err := runCommand(context.Background(), []string{"sh", "-c", `test "$(id -u)" = 65534`}, "nobody", time.Second); err != nil {
		t.Errorf("as nobody: %v", err)
	}
	if err := runCommand(context.Background(), []string{"true"}, "no-such-user-hac", time.Second); err == nil || !strings.Contains(err.Error(), "no-such-user-hac") {
		t.Errorf("unknown user: %v, want an error naming it", err)
	}
}

// TestCheckRunner: first decides each check's state from one run; the
// loops then report a change after fall failures or rise successes in a
// row, as the item they were given, count every run, and end with halt.
func TestCheckRunner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRun{healthy: map[string]bool{"web": true}}
		r := checkRunner{clock: SystemClock{}, run: f.run, log: slog.New(slog.DiscardHandler), results: make(chan checkResult)}
		cs := []config.Check{
			{Name: "web", Command: []string{"web"}, Interval: config.Duration(time.Second), Rise: 1, Fall: 2},
			{Name: "db", Command: []string{"db"}, Interval: config.Duration(time.Second), Rise: 2, Fall: 1},
		}
		states := r.first(cs)
		if !states[0].up || states[1].up {
			t.Fatalf("after the first run: web up %v, db up %v; want web up, db down", states[0].up, states[1].up)
		}
		r.start(cs, states, []int{5, 6})
		f.set("web", false)
		f.set("db", true)
		begin := time.Now()
		got := map[checkResult]time.Duration{}
		for range 2 {
			res := <-r.results
			got[res] = time.Since(begin)
		}
		want := map[checkResult]time.Duration{{item: 5, up: false}: 2 * time.Second, {item: 6, up: true}: 2 * time.Second}
		if d := cmp.Diff(want, got, cmp.AllowUnexported(checkResult{})); d != "" {
			t.Errorf("changes reported, and when (-want +got):\n%s", d)
		}
		r.halt()
		runs := r.runs.fill([]status.Item{{Name: "web"}, {Name: "db"}})
		wantRuns := []map[string]uint64{{status.CheckOK: 1, status.CheckFailed: 2}, {status.CheckFailed: 1, status.CheckOK: 2}}
		for i, it := range runs {
			if d := cmp.Diff(wantRuns[i], it.Results); d != "" {
				t.Errorf("%s runs (-want +got):\n%s", it.Name, d)
			}
		}
	})
}
