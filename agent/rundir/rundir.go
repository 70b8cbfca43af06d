// Package rundir keeps the agent's runtime files safe: the directories
// that hold its lock and its status socket must be writable by root alone
// (otherwise any user could plant a file there that blocks the agent's
// start or answers in its place), and the node lock makes sure that one
// agent at a time runs on a node.
//
// "Node" means network namespace: the lock file is named after the inode
// of the namespace (/run/hac/agent-net<inode>.lock), so several agents on
// one host in different namespaces (the project's tests, hac lab) each
// hold their own lock, and a second agent in the same namespace is refused
// before it touches anything. The lock is flock(2): the kernel releases it
// when the holder dies, however it dies.
package rundir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Dir is where the agent keeps its lock (and, by default, its status
// socket).
const Dir = "/run/hac"

// Ensure creates dir (mode 0755) if it is missing and checks it with
// [Check]. It checks the existing ancestors first, so it never creates a
// directory inside one that others may write.
func Ensure(dir string) error {
	dir = filepath.Clean(dir)
	existing := dir
	for {
		if _, err := os.Stat(existing); err == nil {
			break
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		existing = parent
	}
	if err := Check(existing); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return Check(dir)
}

// Check reports whether dir is safe for the agent's runtime files: owned
// by root (or by the user the agent runs as) and writable by no one else,
// and every ancestor likewise, except that an ancestor others may write
// needs the sticky bit (like /tmp), so no one can move dir away.
func Check(dir string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("directory %s: %w", dir, err)
	}
	real, err = filepath.Abs(real)
	if err != nil {
		return fmt.Errorf("directory %s: %w", dir, err)
	}
	euid := uint32(os.Geteuid())
	for p := real; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("directory %s: %w", dir, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", p)
		}
		where := p
		if p != real {
			where = fmt.Sprintf("%s (holding %s)", p, dir)
		}
		perm := fi.Mode() & (fs.ModePerm | fs.ModeSticky)
		switch {
		case st.Uid != 0 && st.Uid != euid:
			return fmt.Errorf("%s is owned by uid %d, not root: its owner could replace the agent's files; use a directory owned by root such as %s", where, st.Uid, Dir)
		case perm&0o022 != 0 && (p == real || perm&fs.ModeSticky == 0):
			return fmt.Errorf("%s is writable by other users (mode %04o): any of them could block the agent's start or take its place; use a directory only root can write, such as %s", where, st.Mode&0o7777, Dir)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// Lock is the node lock held by this agent.
type Lock struct {
	f    *os.File
	path string
}

// HeldError says that another agent holds the node lock.
type HeldError struct {
	Path string
	PID  int // 0: unknown (the holder has not written it yet)
}

func (e *HeldError) Error() string {
	who := "another hac agent"
	if e.PID > 0 {
		who = fmt.Sprintf("another hac agent (pid %d)", e.PID)
	}
	return fmt.Sprintf("%s already runs on this node (network namespace): it holds the lock %s; nothing was changed. Stop it first (systemctl stop hac-agent), or use hac-agent status / handoff to talk to it", who, e.Path)
}

// LockPath returns the node lock's path in dir for the calling thread's
// network namespace.
func LockPath(dir string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return "", fmt.Errorf("node lock: read the network namespace: %w (is /proc mounted?)", err)
	}
	return LockFile(dir, st.Ino), nil
}

// LockFile returns the path in dir of the node lock of the network
// namespace whose nsfs inode is ino (what stat of /run/netns/NAME or
// /proc/PID/ns/net reports).
func LockFile(dir string, ino uint64) string {
	return filepath.Join(dir, "agent-net"+strconv.FormatUint(ino, 10)+".lock")
}

// RemoveStale removes the node lock file of the network namespace with
// inode ino unless an agent holds it. An agent that stops removes its
// file; one killed (hac lab down, a test's clean-up, SIGKILL) leaves it,
// and whoever deletes the namespace calls this so that nothing is left.
func RemoveStale(dir string, ino uint64) error {
	path := LockFile(dir, ino)
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("node lock %s: %w", path, err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil // held: a live agent's
		}
		return fmt.Errorf("node lock %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("node lock %s: %w", path, err)
	}
	return nil
}

// Acquire takes the node lock of the calling thread's network namespace in
// dir (created with [Ensure]), or returns a [*HeldError] naming the
// holder. The lock file (mode 0600) holds the holder's PID.
func Acquire(dir string) (*Lock, error) {
	if err := Ensure(dir); err != nil {
		return nil, fmt.Errorf("node lock: %w", err)
	}
	path, err := LockPath(dir)
	if err != nil {
		return nil, err
	}
	// A holder that stops removes the file: if it did so between our open
	// and our flock, we locked a file nobody else will open; try again.
	for range 3 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, fmt.Errorf("node lock: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, &HeldError{Path: path, PID: readPID(path)}
			}
			return nil, fmt.Errorf("node lock %s: %w", path, err)
		}
		if !sameFile(f, path) {
			f.Close()
			continue
		}
		if err := writePID(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("node lock %s: %w", path, err)
		}
		return &Lock{f: f, path: path}, nil
	}
	return nil, fmt.Errorf("node lock %s: the file keeps being replaced: is another agent starting and stopping?", path)
}

// Path returns the lock file's path.
func (l *Lock) Path() string { return l.path }

// Release removes the lock file and releases the lock.
func (l *Lock) Release() error {
	err := os.Remove(l.path)
	return errors.Join(err, l.f.Close())
}

func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(path)
	return err == nil && os.SameFile(a, b)
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}
