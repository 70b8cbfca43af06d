package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os/exec"
	"os/user"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/status"
)

// checkState counts a health check's results like keepalived's
// vrrp_script: up after rise successes in a row, down after fall failures
// in a row. A check starts in an init state that counts as down (weight-0
// checks fault, positive weights are not added) until its first result,
// which decides at once; rise and fall apply from then on. That is more
// conservative than keepalived, which assumes a new script is up unless
// init_fail is set: a node never claims a priority it has not verified.
type checkState struct {
	rise, fall int
	up, known  bool
	n          int // results in a row that disagree with up
}

// observe records one result and reports whether the check changed state.
func (s *checkState) observe(ok bool) bool {
	if !s.known {
		s.known, s.up, s.n = true, ok, 0
		return ok
	}
	if ok == s.up {
		s.n = 0
		return false
	}
	s.n++
	need := s.fall
	if ok {
		need = s.rise
	}
	if s.n < max(need, 1) {
		return false
	}
	s.up, s.n = ok, 0
	return true
}

// checkResult is a check's state change for the instance goroutine.
type checkResult struct {
	item int // index in the instance priority's items
	up   bool
}

// checkRunner runs one instance's health checks; that is its one job.
// first runs each check once, in parallel, and returns their states; start
// runs them every interval, each on its own goroutine, and reports their
// state changes on results until halt. Every run is counted (runs). start
// and halt belong to the instance goroutine; first only reads the runner
// (a reload runs the new checks on its own goroutine before it hands them
// over), and runs has its own lock.
type checkRunner struct {
	clock Clock
	// run runs a check command: see [runCommand].
	run     func(ctx context.Context, argv []string, user string, timeout time.Duration) error
	log     *slog.Logger
	results chan checkResult
	runs    checkRuns
	stop    func() // ends the loops start started and waits for them; nil: none
}

// first runs every check of cs once, in parallel, and returns their
// states after that first result (each run bounded by its timeout).
func (r *checkRunner) first(cs []config.Check) []checkState {
	states := make([]checkState, len(cs))
	var first sync.WaitGroup
	for i := range cs {
		c := &cs[i]
		states[i] = checkState{rise: c.Rise, fall: c.Fall}
		first.Add(1)
		go func() {
			defer first.Done()
			states[i].observe(r.probe(context.Background(), c))
		}()
	}
	first.Wait()
	return states
}

// start runs every check of cs, in its state states[i] after its first
// result (see first), every interval until halt, and reports its state
// changes as item items[i].
func (r *checkRunner) start(cs []config.Check, states []checkState, items []int) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	r.stop = func() { cancel(); wg.Wait() }
	for i := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.loop(ctx, &cs[i], &states[i], items[i])
		}()
	}
}

// halt ends the loops start started and waits for them.
func (r *checkRunner) halt() {
	if r.stop != nil {
		r.stop()
		r.stop = nil
	}
}

// loop runs check c every interval (measured from the end of the
// previous run) and reports state changes as item idx.
func (r *checkRunner) loop(ctx context.Context, c *config.Check, s *checkState, idx int) {
	t := r.clock.NewTimer()
	defer t.Stop()
	for {
		t.Reset(time.Duration(c.Interval))
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		up := r.probe(ctx, c)
		if ctx.Err() != nil {
			// Cut short (the checks are replaced by a reload, or the
			// instance stops): not a result. Reported, it could reach
			// the instance after the new checks took this index, and
			// fault it (a select with both cases ready picks at random).
			return
		}
		if !s.observe(up) {
			continue
		}
		select {
		case r.results <- checkResult{item: idx, up: s.up}:
		case <-ctx.Done():
			return
		}
	}
}

// probe runs the check once and reports success; failures are logged at
// debug level (the state changes are logged by the instance). Every run
// that was not cut short by the instance stopping is counted with its
// result and duration.
func (r *checkRunner) probe(ctx context.Context, c *config.Check) bool {
	start := r.clock.Now()
	err := r.run(ctx, c.Command, c.User, time.Duration(c.Timeout))
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		result := status.CheckFailed
		if errors.Is(err, errTimeout) {
			result = status.CheckTimeout
		}
		r.runs.count(c.Name, result, r.clock.Now().Sub(start))
		r.log.Debug("check failed", "check", c.Name, "err", err)
		return false
	}
	r.runs.count(c.Name, status.CheckOK, r.clock.Now().Sub(start))
	return true
}

// startChecks adds the checks of in.cfg, in their states after the
// first result, to the priority's items and starts running them.
func (in *instance) startChecks(states []checkState) {
	items := make([]int, len(in.cfg.Checks))
	for i := range in.cfg.Checks {
		c := &in.cfg.Checks[i]
		items[i] = in.prio.addCheck(c.Name, c.Weight, states[i].up)
		in.log.Info("check initial state", "check", c.Name, "up", states[i].up, "weight", c.Weight)
	}
	in.checks.start(in.cfg.Checks, states, items)
}

// checkRuns counts the runs of an instance's health checks by check and
// result, and the time they took: the one count of check results, which
// status and metrics show. The checks' goroutines count, Report reads.
type checkRuns struct {
	mu      sync.Mutex
	results map[string]map[string]uint64 // check name -> result -> runs
	seconds map[string]float64           // check name -> seconds spent
}

func (r *checkRuns) count(check, result string, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.results == nil {
		r.results, r.seconds = map[string]map[string]uint64{}, map[string]float64{}
	}
	if r.results[check] == nil {
		r.results[check] = map[string]uint64{}
	}
	r.results[check][result]++
	r.seconds[check] += took.Seconds()
}

// fill returns checks with their counts filled in (a copy: the published
// snapshot is shared).
func (r *checkRuns) fill(checks []status.Item) []status.Item {
	if len(checks) == 0 {
		return checks
	}
	checks = slices.Clone(checks)
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range checks {
		checks[i].Results = maps.Clone(r.results[checks[i].Name])
		checks[i].RunSeconds = r.seconds[checks[i].Name]
	}
	return checks
}

// errTimeout says a command ran out of time and was killed.
var errTimeout = errors.New("timed out: killed with its process group")

// runCommand runs argv (no shell) as user (empty: the agent's own) with
// its output discarded, in its own process group, killing the whole group
// when timeout passes or ctx ends. It returns nil when the command exits 0.
func runCommand(ctx context.Context, argv []string, username string, timeout time.Duration) error {
	if len(argv) == 0 {
		return errors.New("empty command")
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if username != "" {
		cred, err := credential(username)
		if err != nil {
			return err
		}
		cmd.SysProcAttr.Credential = cred
	}
	cmd.Cancel = func() error {
		// The group's id is the child's pid (Setpgid): kill it all.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errTimeout
	}
	return err
}

// credential looks up a user for running a command as that user, with
// its primary group and no supplementary groups.
func credential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("run as %q: %w (create the user or fix the check's user)", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("run as %q: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("run as %q: gid %q: %w", name, u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}
