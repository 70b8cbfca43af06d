package nodes

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Suite is the Debian release the nodes run.
const Suite = "bookworm"

// Packages is the default package list of a node's root file system:
// systemd as init, sshd to reach it, both VRRP daemons' surroundings
// (keepalived, the two network renderers) and the tools the tests run
// inside: what a Debian 12 server with hac's needs installed has.
var Packages = []string{
	"dbus", "ifupdown", "iproute2", "iputils-ping", "keepalived",
	"netplan.io", "openssh-server", "sudo", "systemd", "systemd-sysv",
	"udev", // netplan apply runs udevadm
}

// CacheDir is where root file systems are kept, one directory per
// package set; HAC_TESTBED_CACHE overrides it.
func CacheDir() string {
	if d := os.Getenv("HAC_TESTBED_CACHE"); d != "" {
		return d
	}
	return "/var/cache/hac-testbed"
}

// rootfsVersion changes when the way a root file system is built changes,
// so an old cache entry is never used for a new recipe.
const rootfsVersion = "1"

// key is the cache key of a package set: the digest of the suite, the
// recipe version and the sorted, deduplicated package names.
func key(pkgs []string) string {
	p := slices.Clone(pkgs)
	slices.Sort(p)
	p = slices.Compact(p)
	sum := sha256.Sum256([]byte(rootfsVersion + "\n" + Suite + "\n" + strings.Join(p, "\n")))
	return hex.EncodeToString(sum[:8])
}

// RootFS returns the root file system for the package set pkgs, building
// it with mmdebstrap (only Debian's packages are downloaded) the first
// time. The build goes into a temporary directory that is renamed into
// place when complete, under an exclusive lock, so parallel test binaries
// build it once and never see a half-built tree. Every node boots from it
// through an overlay: it is never written to.
func RootFS(t testing.TB, pkgs []string) string {
	t.Helper()
	dir := CacheDir()
	final := filepath.Join(dir, key(pkgs))
	if _, err := os.Stat(filepath.Join(final, "etc/os-release")); err == nil {
		return final
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("nodes: root file system cache: %v", err)
	}
	lock, err := os.OpenFile(final+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("nodes: root file system cache: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("nodes: lock %s: %v", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(filepath.Join(final, "etc/os-release")); err == nil {
		return final // another test binary built it while we waited
	}
	// Leftovers of a build that was killed.
	old, _ := filepath.Glob(final + ".tmp-*")
	for _, o := range old {
		os.RemoveAll(o)
	}
	tmp := fmt.Sprintf("%s.tmp-%d", final, os.Getpid())
	start := time.Now()
	cmd := exec.Command("mmdebstrap", "--variant=minbase", "--include="+strings.Join(pkgs, ","),
		// No host keys in the shared tree: every node gets its own.
		"--customize-hook=rm -f \"$1\"/etc/ssh/ssh_host_*",
		"--customize-hook=: > \"$1\"/etc/machine-id",
		Suite, tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		t.Fatalf("nodes: mmdebstrap %s: %v\n%s", Suite, err, tail(out, 4000))
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		t.Fatalf("nodes: %v", err)
	}
	t.Logf("nodes: built the root file system %s in %v", final, time.Since(start).Round(time.Second))
	return final
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
