package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// stateDir holds one record per test bed, named after its ID: the owner
// (the test process's id and start time) and the bed's namespaces. A bed
// whose owner was killed before its cleanup ran (go test's timeout, a
// second Ctrl-C, a CI job cancelled) leaves its namespaces and the
// processes in them; the next bed's [sweep] removes them.
const stateDir = "/run/hac-netns"

// claim sweeps the beds whose owner is gone, then records l's bed as this
// process's, under one lock, so that a sweep never takes a bed being
// created. It returns what it swept and the record's path.
func claim(l Layout) (swept []string, rec string, err error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, "", err
	}
	lock, err := os.OpenFile(filepath.Join(stateDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	swept = sweep()
	start, err := StartTime(os.Getpid())
	if err != nil {
		return swept, "", err
	}
	rec = filepath.Join(stateDir, l.ID)
	body := fmt.Sprintf("%d %d\n%s\n", os.Getpid(), start, strings.Join(l.Namespaces(), "\n"))
	return swept, rec, os.WriteFile(rec, []byte(body), 0o600)
}

// generated matches the namespaces of a bed ID from NewID ("hac-<pid>-<6
// hex digits>", then "@c", "@br" or "-<node>"): a bed of a test binary
// older than the records, swept when its process is gone.
var generated = regexp.MustCompile(`^hac-([0-9]+)-[0-9a-f]{6}(@c|@br|-.+)$`)

// sweep removes what beds of dead owners left: for each record whose
// owner is gone (or runs under a reused process id: another start time),
// it kills the processes in the record's namespaces, deletes the
// namespaces and the record; then the namespaces named by NewID that no
// record holds and whose process id is unused. It returns what it
// removed. The caller holds the lock.
func sweep() []string {
	var swept []string
	recorded := map[string]bool{}
	ents, _ := os.ReadDir(stateDir)
	for _, e := range ents {
		if e.Name() == "lock" || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(stateDir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		var pid int
		var start uint64
		if _, err := fmt.Sscanf(lines[0], "%d %d", &pid, &start); err != nil {
			continue
		}
		names := lines[1:]
		if s, err := StartTime(pid); err == nil && s == start {
			for _, ns := range names {
				recorded[ns] = true
			}
			continue // alive
		}
		if err := removeKilled(names); err != nil {
			swept = append(swept, fmt.Sprintf("bed %s: %v", e.Name(), err))
			continue
		}
		if os.Remove(p) == nil {
			swept = append(swept, "bed "+e.Name()+": "+strings.Join(names, " "))
		}
	}
	nss, _ := os.ReadDir("/run/netns")
	var orphans []string
	for _, e := range nss {
		m := generated.FindStringSubmatch(e.Name())
		if m == nil || recorded[e.Name()] {
			continue
		}
		if _, err := os.Stat("/proc/" + m[1]); err == nil {
			continue // its process id is in use: maybe the owner
		}
		orphans = append(orphans, e.Name())
	}
	if len(orphans) > 0 {
		if err := removeKilled(orphans); err != nil {
			swept = append(swept, fmt.Sprintf("orphans: %v", err))
		} else {
			swept = append(swept, "orphans: "+strings.Join(orphans, " "))
		}
	}
	return swept
}

// removeKilled kills the processes still running in the namespaces (a
// killed test's agents and daemons) and deletes the namespaces.
func removeKilled(names []string) error {
	var errs []error
	for _, ns := range names {
		if !Exists(ns) {
			continue
		}
		out, err := exec.Command("ip", "netns", "pids", ns).Output()
		if err != nil {
			errs = append(errs, fmt.Errorf("ip netns pids %s: %w", ns, err))
			continue
		}
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	return errors.Join(append(errs, Remove(names))...)
}

// StartTime returns the start time of process pid (in clock ticks after
// boot, /proc/PID/stat's 22nd field): with the pid, it names one process
// for good, since pids are reused.
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, errors.New("bad stat")
	}
	return strconv.ParseUint(f[19], 10, 64)
}
