package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procStat returns a process's state letter and start time from
// /proc/PID/stat.
func procStat(pid int) (state byte, start uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// pid (comm) state ppid …: comm may hold spaces, so cut at the last ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	start, err = strconv.ParseUint(f[19], 10, 64) // field 22 of stat(5)
	return f[0][0], start, err
}

// procStart returns the start time of a running process. A zombie has
// exited only once it is alone in its thread group: a killed Go process's
// leader thread turns zombie before its other threads have finished
// exiting, and those still hold its files (and so an agent's node lock).
func procStart(pid int) (uint64, error) {
	st, start, err := procStat(pid)
	if err == nil && st == 'Z' {
		if tasks, terr := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid)); terr != nil || len(tasks) <= 1 {
			err = errors.New("exited")
		}
	}
	return start, err
}

// alive reports whether p is still the process that was recorded, and has
// not exited.
func alive(p Proc) bool {
	if p.PID <= 0 {
		return false
	}
	start, err := procStart(p.PID)
	return err == nil && start == p.Start
}

// signal sends sig to p if it is still the recorded process.
func signal(p Proc, sig syscall.Signal) error {
	if !alive(p) {
		return fmt.Errorf("process %d is gone", p.PID)
	}
	return syscall.Kill(p.PID, sig)
}

// waitGone waits at most timeout for p to exit.
func waitGone(p Proc, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for alive(p) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// inNamespaces returns the processes whose network namespace is one of
// the named ones (/run/netns/NAME): the lab's, by construction, since
// only the lab enters them.
func inNamespaces(names []string) []Proc {
	type key struct{ dev, ino uint64 }
	want := map[key]bool{}
	for _, ns := range names {
		var st syscall.Stat_t
		if syscall.Stat("/run/netns/"+ns, &st) == nil {
			want[key{st.Dev, st.Ino}] = true
		}
	}
	if len(want) == 0 {
		return nil
	}
	return procs(func(dir string) bool {
		var st syscall.Stat_t
		return syscall.Stat(filepath.Join(dir, "ns/net"), &st) == nil && want[key{st.Dev, st.Ino}]
	})
}

// procs returns the running processes but this one whose /proc folder
// match accepts.
func procs(match func(dir string) bool) []Proc {
	ents, _ := os.ReadDir("/proc")
	var ps []Proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || !match(filepath.Join("/proc", e.Name())) {
			continue
		}
		if start, err := procStart(pid); err == nil {
			ps = append(ps, Proc{PID: pid, Start: start})
		}
	}
	return ps
}

// started returns the processes the lab at root starts, found by their
// arguments: hac lab exec-node or hac lab probe with --root root (also
// while ip netns exec still runs them), hac agent with a --config under
// root, and ip(8) naming one of the lab's namespaces. They are in the
// lab's namespaces but for a moment at their start, when a lab command
// killed then may leave one on its way in (or a namespace on its way to
// being made).
func started(root string, names []string) []Proc {
	return procs(func(dir string) bool {
		b, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		return err == nil && ours(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), root, names)
	})
}

// ours reports whether argv is a process the lab at root, with the named
// namespaces, starts.
func ours(argv []string, root string, names []string) bool {
	if len(argv) > 0 && filepath.Base(argv[0]) == "ip" && slices.ContainsFunc(argv, func(a string) bool { return slices.Contains(names, a) }) {
		return true
	}
	job := slices.Contains(argv, "exec-node") || slices.Contains(argv, "probe")
	for i := 0; i+1 < len(argv); i++ {
		switch {
		case argv[i] == "--root" && argv[i+1] == root && job:
			return true
		case argv[i] == "--config" && strings.HasPrefix(argv[i+1], root+"/nodes/") && slices.Contains(argv, "agent"):
			return true
		}
	}
	return false
}

// kill kills (SIGKILL) the processes find returns, and waits for them to
// exit, as long as find finds some (three rounds at most: a process may
// start another as it dies).
func kill(find func() []Proc) error {
	for range 3 {
		ps := find()
		if len(ps) == 0 {
			return nil
		}
		for _, p := range ps {
			_ = signal(p, syscall.SIGKILL)
		}
		for _, p := range ps {
			waitGone(p, 5*time.Second)
		}
	}
	if ps := find(); len(ps) > 0 {
		return fmt.Errorf("processes %v survive SIGKILL", ps)
	}
	return nil
}
