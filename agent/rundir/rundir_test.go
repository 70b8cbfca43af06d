package rundir

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCheck(t *testing.T) {
	base := t.TempDir()
	mk := func(name string, mode os.FileMode) string {
		p := filepath.Join(base, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	private := mk("private", 0o755)
	open := mk("open", 0o777)
	sticky := mk("sticky", 0o777|os.ModeSticky)
	under := filepath.Join(sticky, "mine")
	if err := os.Mkdir(under, 0o755); err != nil {
		t.Fatal(err)
	}
	group := mk("group", 0o775)
	openParent := filepath.Join(open, "sub")
	if err := os.Mkdir(openParent, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(open, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir, want string
	}{
		{private, ""},
		{under, ""}, // like /tmp/x: others cannot move it away
		{open, open + " is writable by other users (mode 0777)"},
		{sticky, sticky + " is writable by other users (mode 1777)"},
		{group, group + " is writable by other users (mode 0775)"},
		{openParent, open + " (holding " + openParent + ") is writable by other users (mode 0777)"},
		{link, open + " is writable by other users"},
		{filepath.Join(base, "missing"), "no such file or directory"},
	} {
		err := Check(tc.dir)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Check(%s) = %v, want an error containing %q", tc.dir, err, tc.want)
		}
	}
	// Ensure creates what is missing, but never below an unsafe directory.
	if err := Ensure(filepath.Join(private, "a", "b")); err != nil {
		t.Errorf("Ensure below a private directory: %v", err)
	}
	if err := Ensure(filepath.Join(open, "new")); err == nil {
		t.Errorf("Ensure below a world-writable directory succeeded")
	}
	if _, err := os.Stat(filepath.Join(open, "new")); !os.IsNotExist(err) {
		t.Errorf("Ensure created a directory below a world-writable one: %v", err)
	}
}

// TestLock: a second Acquire in the same network namespace is refused with
// the holder's PID and the lock's path; after Release it succeeds.
func TestLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := LockPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if l.Path() != want || !strings.HasPrefix(filepath.Base(want), "agent-net") {
		t.Errorf("lock path %s, want %s (agent-net<inode>.lock)", l.Path(), want)
	}
	fi, err := os.Stat(want)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file: %v, %v; want mode 0600", fi, err)
	}
	_, err = Acquire(dir)
	var held *HeldError
	if !errors.As(err, &held) || held.PID != os.Getpid() || held.Path != want {
		t.Fatalf("second Acquire = %v, want a HeldError with pid %d and path %s", err, os.Getpid(), want)
	}
	for _, s := range []string{"pid " + strconv.Itoa(os.Getpid()), want, "nothing was changed"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q does not say %q", err, s)
		}
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
}

// TestRemoveStale: the lock file a killed agent leaves is removed, a held
// one never (hac lab down left one file per node in /run/hac).
func TestRemoveStale(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	if got := LockFile(dir, st.Ino); got != l.Path() {
		t.Errorf("LockFile = %s, want the lock's %s", got, l.Path())
	}
	if err := RemoveStale(dir, st.Ino); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(l.Path()); err != nil {
		t.Errorf("a held lock was removed: %v", err)
	}
	// A killed agent: its file stays, nobody holds it.
	stale := LockFile(dir, 12345)
	if err := os.WriteFile(stale, []byte("4242\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := RemoveStale(dir, 12345); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale lock file is left: %v", err)
	}
	if err := RemoveStale(dir, 12345); err != nil {
		t.Errorf("RemoveStale of a missing file: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
}
