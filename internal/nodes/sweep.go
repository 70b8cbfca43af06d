package nodes

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hac-project/hac/internal/netns"
)

// Prefix starts the name of everything this package creates: state
// directories, cgroups, machine names.
const Prefix = "hac-nodes-"

// stateRoot holds the beds' state directories (the nodes' disks).
const stateRoot = "/var/tmp"

// cgroups are the cgroup hierarchies a node is put in: the unified (v2)
// one, and on a hybrid host also the named systemd (v1) one.
type cgroups struct{ unified, named string }

// findCgroups finds the unified hierarchy: /sys/fs/cgroup itself (a pure
// v2 host) or /sys/fs/cgroup/unified (hybrid, with the named systemd
// hierarchy in /sys/fs/cgroup/systemd).
func findCgroups() (cgroups, error) {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return cgroups{unified: "/sys/fs/cgroup"}, nil
	}
	if _, err := os.Stat("/sys/fs/cgroup/unified/cgroup.controllers"); err == nil {
		c := cgroups{unified: "/sys/fs/cgroup/unified"}
		if _, err := os.Stat("/sys/fs/cgroup/systemd/cgroup.procs"); err == nil {
			c.named = "/sys/fs/cgroup/systemd"
		}
		return c, nil
	}
	return cgroups{}, errors.New("nodes: no cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified: the test nodes need one (boot the host with cgroup v2 or hybrid)")
}

func (c cgroups) roots() []string {
	if c.named == "" {
		return []string{c.unified}
	}
	return []string{c.unified, c.named}
}

// create makes the cgroup name in every hierarchy and returns their
// directories.
func (c cgroups) create(name string) ([]string, error) {
	var dirs []string
	for _, r := range c.roots() {
		d := filepath.Join(r, name)
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("nodes: cgroup: %w", err)
		}
		dirs = append(dirs, d)
	}
	return dirs, nil
}

// remove kills every process in cgroup name (cgroup.kill), waits until
// it is empty and removes it, its children first, from every hierarchy.
// A cgroup that does not exist is no error.
func (c cgroups) remove(name string) error {
	u := filepath.Join(c.unified, name)
	if _, err := os.Stat(u); err == nil {
		if err := os.WriteFile(filepath.Join(u, "cgroup.kill"), []byte("1"), 0); err != nil {
			return fmt.Errorf("nodes: kill cgroup %s: %w", u, err)
		}
	}
	deadline := time.Now().Add(stopTimeout)
	for _, r := range c.roots() {
		d := filepath.Join(r, name)
		for {
			err := removeTree(d)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("nodes: remove cgroup %s: %w", d, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// removeTree removes the cgroup directory d and its children, deepest
// first; it fails while a process is still in one of them.
func removeTree(d string) error {
	var dirs []string
	err := filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	slices.Reverse(dirs)
	for _, p := range dirs {
		if err := syscall.Rmdir(p); err != nil && !errors.Is(err, syscall.ENOENT) {
			return err
		}
	}
	return nil
}

// claim sweeps what killed beds left and creates this bed's state
// directory, recording its owner (process id and start time) for later
// sweeps. Both happen under one lock, so a sweep never takes a bed that
// is being created.
func claim(t testing.TB, cg cgroups) (id, dir string) {
	t.Helper()
	lock, err := os.OpenFile(filepath.Join(stateRoot, Prefix+"lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	for _, s := range sweep(cg) {
		t.Logf("nodes: swept a killed bed: %s", s)
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	id = fmt.Sprintf("%s%d-%s", Prefix, os.Getpid(), hex.EncodeToString(rnd[:]))
	dir = filepath.Join(stateRoot, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	start, _ := netns.StartTime(os.Getpid())
	if err := os.WriteFile(filepath.Join(dir, "owner"), fmt.Appendf(nil, "%d %d\n", os.Getpid(), start), 0o600); err != nil {
		t.Fatal(err)
	}
	return id, dir
}

// sweep removes the beds whose owner process is gone: it kills and
// removes their cgroups (every process of their containers), deletes the
// network namespaces they recorded and their state directory. It returns
// what it removed.
func sweep(cg cgroups) []string {
	dirs, _ := filepath.Glob(filepath.Join(stateRoot, Prefix+"*"))
	var swept []string
	for _, dir := range dirs {
		id := filepath.Base(dir)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err != nil {
			continue // not a bed's state (claim writes the owner under the lock)
		}
		var pid int
		var start uint64
		fmt.Sscanf(string(b), "%d %d", &pid, &start)
		if s, err := netns.StartTime(pid); err == nil && s == start {
			continue // alive
		}
		var what []string
		for _, r := range cg.roots() {
			cgs, _ := filepath.Glob(filepath.Join(r, id+"-*"))
			for _, c := range cgs {
				if err := cg.remove(filepath.Base(c)); err == nil {
					what = append(what, "cgroup "+filepath.Base(c))
				}
			}
		}
		if b, err := os.ReadFile(filepath.Join(dir, "namespaces")); err == nil {
			for _, ns := range strings.Fields(string(b)) {
				if _, err := os.Stat("/run/netns/" + ns); err != nil {
					continue
				}
				if exec.Command("ip", "netns", "del", ns).Run() == nil {
					what = append(what, "namespace "+ns)
				}
			}
		}
		if os.RemoveAll(dir) == nil {
			what = append(what, "state "+dir)
		}
		swept = append(swept, strings.Join(what, ", "))
	}
	return swept
}
