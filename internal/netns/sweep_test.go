package netns

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hac-project/hac/internal/testenv"
)

// TestSweepKilledBed makes a bed, with a process running in a node's
// namespace, in a child test process and kills that process with SIGKILL
// (no cleanup runs, as when go test times out); the next bed's claim
// kills the leftover process and removes the namespaces and the record.
func TestSweepKilledBed(t *testing.T) {
	if testenv.InKilledChild(t) {
		b := New(t, Spec{Nodes: []string{"k1"}})
		sleeper := b.Command(b.Node("k1").NS, "sleep", "300")
		b.Start(sleeper)
		testenv.Ready(b.ID, strconv.Itoa(sleeper.Process.Pid), strings.Join(b.Namespaces(), ","))
		time.Sleep(5 * time.Minute) // killed by the parent long before
		return
	}
	testenv.NeedRoot(t)
	testenv.NeedTool(t, "ip")
	f := testenv.KilledChild(t)
	if len(f) != 3 {
		t.Fatalf("the child bed said %q, want its id, a pid and its namespaces", f)
	}
	id, namespaces := f[0], strings.Split(f[2], ",")
	sleeper, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range namespaces {
		if !Exists(ns) {
			t.Fatalf("the killed bed left no namespace %s: nothing to sweep (test broken?)", ns)
		}
	}
	if _, err := os.Stat(filepath.Join(stateDir, id)); err != nil {
		t.Fatalf("the killed bed left no record: %v", err)
	}

	New(t, Spec{Nodes: []string{"s1"}}) // sweeps

	for _, ns := range namespaces {
		if Exists(ns) {
			t.Errorf("namespace %s of the killed bed is still there", ns)
		}
	}
	if _, err := os.Stat(filepath.Join(stateDir, id)); !os.IsNotExist(err) {
		t.Errorf("the killed bed's record is still there: %v", err)
	}
	// The sleeper was SIGKILLed; its parent (the child test) is gone, so
	// init reaps it: wait until the pid is gone or is another process.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(sleeper) + "/cmdline")
		if err != nil || !strings.HasPrefix(string(b), "sleep\x00300") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed bed's process %d still runs", sleeper)
		}
	}
}
