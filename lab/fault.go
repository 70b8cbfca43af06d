package lab

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/internal/netns"
)

// The ways to fail a node (hac lab fail --how).
const (
	HowStop   = "stop"   // SIGTERM to the agent: a graceful stop (a master hands over first)
	HowKill   = "kill"   // SIGKILL to every process of the node: the agent dies without a word
	HowFreeze = "freeze" // SIGSTOP to the agent: it hangs, the kernel still answers for its addresses
	HowLink   = "link"   // the node's bridge port goes down: its cable is pulled
)

// Hows lists the ways to fail a node, for help texts and messages.
var Hows = []string{HowStop, HowKill, HowLink, HowFreeze}

// checkFault is the prefix of a failed check in NodeState.Faults.
const checkFault = "check:"

// standIns maps each program agent.json names (health checks and notify
// commands), resolved to the file it runs, to the names of the checks
// that run it (none for a notify program).
// A check program missing on this machine is an error: the lab stands in
// for a program by mounting over it, inside the node only.
func standIns(cfg *config.Config) (map[string][]string, error) {
	progs := map[string][]string{}
	for _, in := range cfg.Instances {
		for _, c := range in.Checks {
			p, err := resolve(c.Command[0])
			if err != nil {
				return nil, fmt.Errorf("check %s of %s runs %s, which is not on this machine (%v): the lab stands in for a check program by mounting over it inside the node, so it must exist here", c.Name, in.Name, c.Command[0], err)
			}
			if !slices.Contains(progs[p], c.Name) {
				progs[p] = append(progs[p], c.Name)
			}
		}
		notifyStandIns(progs, in.Notify)
	}
	for _, g := range cfg.SyncGroups {
		notifyStandIns(progs, g.Notify)
	}
	return progs, nil
}

// notifyStandIns adds the programs of notify commands (the generic one
// included) to progs.
func notifyStandIns(progs map[string][]string, n *config.Notify) {
	for _, argv := range n.Commands() {
		if p, err := resolve(argv[0]); err == nil { // a missing notify program only fails in the node
			if _, ok := progs[p]; !ok {
				progs[p] = nil
			}
		}
	}
}

// resolve returns the file a command name runs, symbolic links followed.
func resolve(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	p, err = filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(p)
}

// failedChecks returns the names of the node's failed checks.
func failedChecks(n *NodeState) []string {
	var cs []string
	for _, f := range n.Faults {
		if c, ok := strings.CutPrefix(f, checkFault); ok {
			cs = append(cs, c)
		}
	}
	return cs
}

// failing returns the programs that fail on the node: those of its failed
// checks.
func failing(progs map[string][]string, failed []string) map[string]bool {
	out := map[string]bool{}
	for p, checks := range progs {
		for _, c := range checks {
			if slices.Contains(failed, c) {
				out[p] = true
			}
		}
	}
	return out
}

// ExecNode is the start of a lab node's agent, run by hac lab inside the
// node's namespace (ip netns exec, which gives it a mount namespace of its
// own): it mounts the stand-ins over the check and notify programs (false
// for a failed check, true otherwise), then replaces itself with hac agent
// on the node's agent.json. It refuses to mount anything unless it runs in
// a mount namespace other than its parent's (the lab command's).
func ExecNode(root, node string) error {
	s, err := Load(root)
	if err != nil {
		return err
	}
	n, err := s.Node(node)
	if err != nil {
		return err
	}
	cfg, err := s.AgentConfig(n)
	if err != nil {
		return err
	}
	progs, err := standIns(cfg)
	if err != nil {
		return fmt.Errorf("lab: node %s: %w", n.Name, err)
	}
	var self, parent syscall.Stat_t
	if syscall.Stat("/proc/self/ns/mnt", &self) != nil || syscall.Stat(fmt.Sprintf("/proc/%d/ns/mnt", os.Getppid()), &parent) != nil || self.Ino == parent.Ino {
		return errors.New("lab: exec-node runs only inside a lab node, started by hac lab (ip netns exec), never in the mount namespace of the program that starts it")
	}
	fails := failing(progs, failedChecks(n))
	for _, p := range slices.Sorted(maps.Keys(progs)) {
		src := s.Pass
		if fails[p] {
			src = s.Fail
		}
		if err := unix.Mount(src, p, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("lab: node %s: stand in for %s: %w", n.Name, p, err)
		}
	}
	argv := []string{s.Hac, "agent", "--config", s.Config(n), "--status-socket", s.Socket(n)}
	return syscall.Exec(s.Hac, argv, os.Environ())
}

// lock takes the lab's lock for a change of state, and returns its
// release.
func lock(root string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(root, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lab: lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// Fail injects a fault on a node: how is one of [Hows], or empty with
// check naming a health check of the node to make fail. It returns a line
// saying what it did.
func Fail(root, node, how, check string) (string, error) {
	return change(root, node, func(s *State, n *NodeState) (string, error) { return s.fail(n, how, check) })
}

// change runs fn on the named node of the lab at root under the lab's
// lock, and records the state fn leaves, also when it fails half way.
func change(root, node string, fn func(*State, *NodeState) (string, error)) (string, error) {
	unlock, err := lock(root)
	if err != nil {
		return "", err
	}
	defer unlock()
	s, err := Load(root)
	if err != nil {
		return "", err
	}
	n, err := s.Node(node)
	if err != nil {
		return "", err
	}
	msg, err := fn(s, n)
	return msg, errors.Join(err, s.save())
}

func (s *State) fail(n *NodeState, how, check string) (string, error) {
	has := func(f string) bool { return slices.Contains(n.Faults, f) }
	running := alive(n.Agent)
	if check != "" {
		if how != "" {
			return "", errors.New("lab: fail takes --how or --check, not both")
		}
		return s.failCheck(n, check)
	}
	switch how {
	case HowStop, HowKill:
		if !running {
			return "", fmt.Errorf("lab: the agent of %s is not running (%s): hac lab heal %s first", n.Name, strings.Join(n.Faults, ", "), n.Name)
		}
		if how == HowStop {
			if has(HowFreeze) {
				return "", fmt.Errorf("lab: the agent of %s is frozen and cannot stop gracefully: use --how kill, or heal it first", n.Name)
			}
			if err := signal(n.Agent, syscall.SIGTERM); err != nil {
				return "", fmt.Errorf("lab: stop the agent of %s: %w", n.Name, err)
			}
			if !waitGone(n.Agent, 15*time.Second) {
				return "", fmt.Errorf("lab: the agent of %s did not stop within 15s after SIGTERM: see %s", n.Name, s.Log(n))
			}
		} else if err := kill(func() []Proc { return inNamespaces([]string{n.NS}) }); err != nil {
			return "", fmt.Errorf("lab: kill the agent of %s: %w", n.Name, err)
		}
		n.Agent = Proc{}
		n.Faults = slices.DeleteFunc(n.Faults, func(f string) bool { return f == HowFreeze })
	case HowFreeze:
		if !running || has(HowFreeze) {
			return "", fmt.Errorf("lab: the agent of %s is not running or already frozen (%s)", n.Name, strings.Join(n.Faults, ", "))
		}
		if err := signal(n.Agent, syscall.SIGSTOP); err != nil {
			return "", fmt.Errorf("lab: freeze the agent of %s: %w", n.Name, err)
		}
	case HowLink:
		if has(HowLink) {
			return "", fmt.Errorf("lab: the link of %s is already cut", n.Name)
		}
		if err := netns.Attach(s.Layout).CutLink(s.netNode(n)); err != nil {
			return "", fmt.Errorf("lab: %w", err)
		}
	default:
		return "", fmt.Errorf("lab: --how %q: use one of %s (or --check NAME)", how, strings.Join(Hows, ", "))
	}
	n.Faults = append(n.Faults, how)
	return fmt.Sprintf("%s: %s", n.Name, describe(how)), nil
}

// describe says what a fault does.
func describe(how string) string {
	switch how {
	case HowStop:
		return "agent stopped (SIGTERM: a master hands over before it goes)"
	case HowKill:
		return "agent killed (SIGKILL: no goodbye, its VIPs stay until their lease ends)"
	case HowFreeze:
		return "agent frozen (SIGSTOP: no adverts, the kernel still answers)"
	case HowLink:
		return "link cut (carrier lost, as a pulled cable)"
	}
	return how
}

// netNode returns the netns view of a lab node.
func (s *State) netNode(n *NodeState) *netns.Node {
	return netns.Attach(s.Layout).Node(n.Name)
}

// failCheck makes a health check of the node fail: false(1) is mounted
// over its program inside the node (checks sharing the program fail with
// it, and are named in the message).
func (s *State) failCheck(n *NodeState, check string) (string, error) {
	cfg, err := s.AgentConfig(n)
	if err != nil {
		return "", err
	}
	progs, err := standIns(cfg)
	if err != nil {
		return "", fmt.Errorf("lab: node %s: %w", n.Name, err)
	}
	var all []string
	prog := ""
	for p, cs := range progs {
		all = append(all, cs...)
		if slices.Contains(cs, check) {
			prog = p
		}
	}
	if prog == "" {
		sort.Strings(all)
		if len(all) == 0 {
			return "", fmt.Errorf("lab: node %s has no health checks", n.Name)
		}
		return "", fmt.Errorf("lab: node %s has no check %q: use one of %s", n.Name, check, strings.Join(all, ", "))
	}
	if slices.Contains(failedChecks(n), check) {
		return "", fmt.Errorf("lab: check %s of %s already fails", check, n.Name)
	}
	before := failing(progs, failedChecks(n))
	n.Faults = append(n.Faults, checkFault+check)
	if err := s.applyChecks(n, before, failing(progs, failedChecks(n))); err != nil {
		return "", err
	}
	msg := fmt.Sprintf("%s: check %s fails (%s stands in for %s inside the node)", n.Name, check, s.Fail, prog)
	if others := slices.DeleteFunc(slices.Clone(progs[prog]), func(c string) bool { return c == check }); len(others) > 0 {
		msg += fmt.Sprintf("; checks %s run the same program and fail with it", strings.Join(others, ", "))
	}
	return msg, nil
}

// applyChecks changes the mounts of a running agent's node from the
// failing programs before to those after: false is mounted over a program
// that starts failing, and unmounted (uncovering true) from one that
// heals. A node whose agent is not running gets them at its next start.
func (s *State) applyChecks(n *NodeState, before, after map[string]bool) error {
	if !alive(n.Agent) {
		return nil
	}
	pid := fmt.Sprint(n.Agent.PID)
	for p := range after {
		if !before[p] {
			if out, err := exec.Command("nsenter", "-t", pid, "-m", "--", "mount", "--bind", s.Fail, p).CombinedOutput(); err != nil {
				return fmt.Errorf("lab: fail %s in %s: %v: %s", p, n.Name, err, out)
			}
		}
	}
	for p := range before {
		if !after[p] {
			if out, err := exec.Command("nsenter", "-t", pid, "-m", "--", "umount", p).CombinedOutput(); err != nil {
				return fmt.Errorf("lab: heal %s in %s: %v: %s", p, n.Name, err, out)
			}
		}
	}
	return nil
}

// Heal undoes every fault on a node, latest first: failed checks pass
// again, the link comes back, a frozen agent runs on, a stopped or killed
// agent starts again. It returns a line saying what it did.
func Heal(root, node string) (string, error) {
	return change(root, node, func(s *State, n *NodeState) (string, error) {
		if len(n.Faults) == 0 {
			return fmt.Sprintf("%s: nothing to heal", n.Name), nil
		}
		done, err := s.heal(n)
		return fmt.Sprintf("%s: healed %s", n.Name, strings.Join(done, ", ")), err
	})
}

func (s *State) heal(n *NodeState) ([]string, error) {
	var done []string
	if cs := failedChecks(n); len(cs) > 0 {
		cfg, err := s.AgentConfig(n)
		if err != nil {
			return done, err
		}
		progs, err := standIns(cfg)
		if err != nil {
			return done, err
		}
		if err := s.applyChecks(n, failing(progs, cs), nil); err != nil {
			return done, err
		}
		n.Faults = slices.DeleteFunc(n.Faults, func(f string) bool { return strings.HasPrefix(f, checkFault) })
		done = append(done, "checks "+strings.Join(cs, ", "))
	}
	for len(n.Faults) > 0 {
		f := n.Faults[len(n.Faults)-1]
		switch f {
		case HowLink:
			if err := netns.Attach(s.Layout).Heal(s.netNode(n)); err != nil {
				return done, fmt.Errorf("lab: %w", err)
			}
		case HowFreeze:
			if err := signal(n.Agent, syscall.SIGCONT); err != nil {
				return done, fmt.Errorf("lab: thaw the agent of %s: %w", n.Name, err)
			}
		case HowStop, HowKill:
			if err := s.startAgent(n); err != nil {
				return done, err
			}
			if err := s.waitAgent(n, 10*time.Second); err != nil {
				return done, err
			}
		}
		n.Faults = n.Faults[:len(n.Faults)-1]
		done = append(done, f)
	}
	return done, nil
}
