// Package realtool runs the real network tools on rendered files, so the
// target tests prove that netplan, ifupdown and keepalived accept them.
// Nothing here touches the host's network: netplan writes below a
// temporary root, ifup only prints (--no-act) and keepalived checks its
// configuration inside a network namespace the test creates.
package realtool

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hac-project/hac/internal/testenv"
	"github.com/hac-project/hac/model"
	"github.com/hac-project/hac/targets"
)

// timeout bounds every tool run.
const timeout = 30 * time.Second

// run runs a command with a deadline and returns its stdout, stderr and
// error.
func run(t testing.TB, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// Netplan runs netplan generate on f (a netplan YAML file) below a
// temporary root and returns the systemd-networkd .network file it
// produced for iface.
func Netplan(t testing.TB, f targets.File, iface string) string {
	t.Helper()
	tool := testenv.NeedTool(t, "netplan")
	root := t.TempDir()
	p := filepath.Join(root, f.Path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := run(t, tool, "generate", "--root-dir", root)
	if err != nil || stderr != "" {
		t.Fatalf("netplan generate --root-dir: %v\nstdout:\n%s\nstderr:\n%s\nfile:\n%s", err, stdout, stderr, f.Data)
	}
	network := filepath.Join(root, "run/systemd/network/10-netplan-"+iface+".network")
	b, err := os.ReadFile(network)
	if err != nil {
		t.Fatalf("netplan generate wrote no .network file for %s: %v", iface, err)
	}
	return string(b)
}

// Ifupdown runs ifquery and ifup --no-act on f (an interfaces file) for
// iface and returns their combined output: ifquery's options, then the
// commands ifup would run.
func Ifupdown(t testing.TB, f targets.File, iface string) string {
	t.Helper()
	ifquery := testenv.NeedTool(t, "ifquery")
	ifup := testenv.NeedTool(t, "ifup")
	dir := t.TempDir()
	p := filepath.Join(dir, "interfaces")
	if err := os.WriteFile(p, f.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	var all strings.Builder
	for _, c := range []struct {
		tool string
		args []string
	}{
		{ifquery, []string{"-i", p, "--state-dir", state, iface}},
		{ifup, []string{"--no-act", "--no-scripts", "-i", p, "--state-dir", state, iface}},
	} {
		stdout, stderr, err := run(t, c.tool, c.args...)
		if err != nil || strings.Contains(stderr, "error") || strings.Contains(stderr, "unknown") {
			t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s\nfile:\n%s", c.tool, strings.Join(c.args, " "), err, stdout, stderr, f.Data)
		}
		all.WriteString(stdout)
		all.WriteString(stderr)
	}
	return all.String()
}

// SystemdVerify runs systemd-analyze verify on f (a unit file) below a
// temporary root holding the host's system units and a stand-in for
// execPath, and fails the test on any complaint (an unknown key is only a
// warning to systemd, and an error here).
func SystemdVerify(t testing.TB, f targets.File, execPath string) {
	t.Helper()
	tool := testenv.NeedTool(t, "systemd-analyze")
	root := t.TempDir()
	for _, d := range []string{filepath.Dir(f.Path), filepath.Dir(execPath), "usr/lib/systemd"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, stderr, err := run(t, "cp", "-a", "/usr/lib/systemd/system", filepath.Join(root, "usr/lib/systemd/")); err != nil {
		t.Fatalf("copy the host's system units: %v: %s", err, stderr)
	}
	if err := os.WriteFile(filepath.Join(root, execPath), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, f.Path), f.Data, f.Mode); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := run(t, tool, "verify", "--man=no", "--root="+root, f.Path)
	if err != nil || stdout+stderr != "" {
		t.Fatalf("systemd-analyze verify %s: %v\n%s%s\nfile:\n%s", f.Path, err, stdout, stderr, f.Data)
	}
}

// Interfaces returns every interface name node n's keepalived.conf or
// agent.json refers to: the members' interfaces, VIP devices and tracked
// interfaces, sorted.
func Interfaces(c *model.Cluster, n *model.Node) []string {
	set := []string{n.Interface}
	for _, in := range targets.Instances(c, n) {
		set = append(set, in.Member(n.Name).Interface)
		for _, v := range in.VIPs {
			if v.Device != "" {
				set = append(set, v.Device)
			}
		}
		for _, tr := range in.Track {
			set = append(set, tr.Interface)
		}
	}
	slices.Sort(set)
	return slices.Compact(set)
}

// KeepalivedConfigTest runs keepalived --config-test on f inside a new
// network namespace holding the interfaces ifaces (one end of a veth pair
// each, up), and fails the test unless keepalived exits 0 without a word.
func KeepalivedConfigTest(t testing.TB, f targets.File, ifaces []string) {
	t.Helper()
	testenv.NeedRoot(t)
	keepalived := testenv.NeedTool(t, "keepalived")
	ip := testenv.NeedTool(t, "ip")
	ns := fmt.Sprintf("hac-%d-%04x-k", os.Getpid(), rand.IntN(1<<16))
	if _, stderr, err := run(t, ip, "netns", "add", ns); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, stderr)
	}
	t.Cleanup(func() {
		if _, stderr, err := run(t, ip, "netns", "del", ns); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, stderr)
		}
	})
	for i, iface := range ifaces {
		for _, args := range [][]string{
			{"-n", ns, "link", "add", iface, "type", "veth", "peer", "name", fmt.Sprintf("hacpeer%d", i)},
			{"-n", ns, "link", "set", iface, "up"},
		} {
			if _, stderr, err := run(t, ip, args...); err != nil {
				t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, stderr)
			}
		}
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, f.Data, f.Mode); err != nil {
		t.Fatal(err)
	}
	// keepalived --config-test exits 0 for a missing file: make sure it is there.
	if _, err := os.Stat(conf); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := run(t, ip, "netns", "exec", ns, keepalived, "--config-test", "-f", conf,
		"-p", filepath.Join(dir, "keepalived.pid"), "-r", filepath.Join(dir, "vrrp.pid"),
		"-c", filepath.Join(dir, "checkers.pid"), "-b", filepath.Join(dir, "bfd.pid"))
	if err != nil || stdout+stderr != "" {
		// The file holds the auth pass: keepalived's messages carry line
		// numbers, the file itself is not shown.
		t.Fatalf("keepalived --config-test of %s (exit codes: 4 fatal, 5 worked around, 6 script security): %v\n%s%s", f.Path, err, stdout, stderr)
	}
}
