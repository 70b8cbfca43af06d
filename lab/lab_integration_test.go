package lab_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hac-project/hac/agent/agenttest"
	"github.com/hac-project/hac/agent/rundir"
	"github.com/hac-project/hac/compiler"
	"github.com/hac-project/hac/internal/testenv"
	"github.com/hac-project/hac/lab"
)

func TestMain(m *testing.M) { os.Exit(agenttest.Main(m)) }

const examplesDir = "../examples"

// example copies examples/NAME into a temporary folder with its IPv4
// addresses moved into 198.18.0.0/24, like every test topology (the lab
// keeps a cluster's own addresses inside its namespaces; the tests still
// never use others). IPv6 examples already use 2001:db8::/32.
func example(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join(examplesDir, name)
	res, err := compiler.Compile([]string{src}, compiler.Options{LookupEnv: func(string) (string, bool) { return "example", true }})
	if err != nil || res.Diags.HasErrors() {
		t.Fatalf("example %s: %v %v", name, err, res.Diags)
	}
	var from string
	for _, p := range res.Clusters[0].Network.Subnets {
		if p.Addr().Is4() {
			if p.Bits() != 24 {
				t.Fatalf("example %s: subnet %s: the rewrite handles /24 subnets", name, p)
			}
			b := p.Addr().As4()
			from = fmt.Sprintf("%d.%d.%d.", b[0], b[1], b[2])
		}
	}
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if from != "" {
			b = bytes.ReplaceAll(b, []byte(`"`+from), []byte(`"198.18.0.`))
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// newRoot returns a lab root of the test's own, and registers a check
// that the lab left nothing behind (after a hac lab down if one is up).
func newRoot(t *testing.T) string {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedTool(t, "ip")
	testenv.NeedTool(t, "nsenter")
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	root := fmt.Sprintf("/run/hac-labtest-%d-%s", os.Getpid(), hex.EncodeToString(rnd[:]))
	t.Cleanup(func() {
		if _, err := os.Stat(root); err == nil {
			hac(t, root, "down")
		}
	})
	return root
}

// hac runs hac lab SUB --root ROOT ARGS and returns its output and exit
// code.
func hac(t *testing.T, root string, sub string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(agenttest.HacBinary(t), append([]string{"lab", sub, "--root", root}, args...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("hac lab %s %s: exit %d\n%s", sub, strings.Join(args, " "), code, out)
	return string(out), code
}

// must runs hac lab and fails the test unless it exits 0.
func must(t *testing.T, root string, sub string, args ...string) string {
	t.Helper()
	out, code := hac(t, root, sub, args...)
	if code != 0 {
		t.Fatalf("hac lab %s %s: exit %d\n%s", sub, strings.Join(args, " "), code, out)
	}
	return out
}

// labAgents tells the node locks of a lab's agents: lock files are named
// after the namespace's inode and hold the agent's pid, and a stale one
// an earlier run left may hold a pid reused since.
type labAgents struct {
	pids []int
	inos []uint64 // of the lab's namespaces
}

// agentsOf returns the agents of the lab at root, while it is up.
func agentsOf(t *testing.T, root string) labAgents {
	t.Helper()
	a := labAgents{pids: agentPIDs(t, root)}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		var st syscall.Stat_t
		if strings.HasPrefix(e.Name(), filepath.Base(root)) && syscall.Stat("/run/netns/"+e.Name(), &st) == nil {
			a.inos = append(a.inos, st.Ino)
		}
	}
	return a
}

// leftovers lists what of the lab at root still exists: namespaces,
// mounts, processes, links in this namespace, the root folder, and the
// node locks of its agents.
func leftovers(t *testing.T, root string, agents labAgents) []string {
	t.Helper()
	id := filepath.Base(root)
	var left []string
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), id) {
			left = append(left, "namespace "+e.Name())
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		if strings.Contains(l, id) {
			left = append(left, "mount "+l)
		}
	}
	links, _ := exec.Command("ip", "-o", "link").Output()
	for _, l := range strings.Split(string(links), "\n") {
		if strings.Contains(l, id) {
			left = append(left, "link "+l)
		}
	}
	for _, pid := range agents.pids {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(b), ") Z ") {
			left = append(left, fmt.Sprintf("process %d", pid))
		}
	}
	// The node lock a killed agent leaves in /run/hac (down left one per
	// node).
	for _, ino := range agents.inos {
		l := rundir.LockFile(rundir.Dir, ino)
		b, _ := os.ReadFile(l)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && slices.Contains(agents.pids, pid) {
			left = append(left, fmt.Sprintf("lock file %s of agent %d", l, pid))
		}
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if b, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline")); err == nil && bytes.Contains(b, []byte(root)) {
			left = append(left, fmt.Sprintf("process %s: %s", p.Name(), bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
		}
	}
	if _, err := os.Stat(root); err == nil {
		left = append(left, "folder "+root)
	}
	return left
}

// agentPIDs reads the agents' process ids from the lab's state.
func agentPIDs(t *testing.T, root string) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "state.json"))
	if err != nil {
		return nil
	}
	var s lab.State
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, n := range s.Nodes {
		if n.Agent.PID > 0 {
			pids = append(pids, n.Agent.PID)
		}
	}
	return pids
}

// down brings the lab down and checks nothing is left.
func down(t *testing.T, root string) {
	t.Helper()
	agents := agentsOf(t, root)
	must(t, root, "down")
	if left := leftovers(t, root, agents); len(left) > 0 {
		t.Errorf("left after hac lab down:\n%s", strings.Join(left, "\n"))
	}
}

var stepLine = regexp.MustCompile(`(?m)^  (\d)\. (.*?)\s+lost\s+(\d+) of\s+(\d+) probes, longest gap\s+(\S+)\s+(ok|FAILED.*)$`)

// TestRun runs the seed's script (hac lab run) on every example and every
// fault: each step goes as expected (the backup answers, nothing answers,
// the master answers again) and reports its probe figures.
func TestRun(t *testing.T) {
	cases := []struct{ example, how string }{
		{"ncp-two-node", lab.HowLink}, {"ncp-two-node", lab.HowStop}, {"ncp-two-node", lab.HowKill}, {"ncp-two-node", lab.HowFreeze},
		{"netplan-three-node", lab.HowLink}, {"ipv6", lab.HowLink},
	}
	for _, c := range cases {
		t.Run(c.example+"/"+c.how, func(t *testing.T) {
			root := newRoot(t)
			t.Parallel()
			dir := example(t, c.example)
			out := must(t, root, "run", "--how", c.how, dir)
			steps := stepLine.FindAllStringSubmatch(out, -1)
			instances := strings.Count(out, "nodes by priority")
			if len(steps) != 5*instances || instances == 0 {
				t.Fatalf("%d step lines for %d instances, want 5 each:\n%s", len(steps), instances, out)
			}
			for _, st := range steps {
				if st[6] != "ok" {
					t.Errorf("step %s %s: %s", st[1], st[2], st[6])
				}
				if _, err := time.ParseDuration(st[5]); err != nil || st[4] == "0" {
					t.Errorf("step %s %s: no probe figures (sent %s, gap %s)", st[1], st[2], st[4], st[5])
				}
				if st[1] == "3" && st[3] == "0" {
					t.Errorf("step 3 (nothing answers) lost no probe:\n%s", st[0])
				}
			}
			if left := leftovers(t, root, labAgents{}); len(left) > 0 {
				t.Errorf("left after hac lab run:\n%s", strings.Join(left, "\n"))
			}
		})
	}
}

// masterOf returns the master hac lab status names for an instance.
func masterOf(t *testing.T, root, instance string) string {
	t.Helper()
	out := must(t, root, "status", "--probe", "0")
	m := regexp.MustCompile(`(?m)^` + instance + `: master (\S+);`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("hac lab status shows no instance %s:\n%s", instance, out)
	}
	return m[1]
}

// waitMaster waits (bounded) until status shows node as master.
func waitMaster(t *testing.T, root, instance, node string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := masterOf(t, root, instance)
		if got == node {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: %s master is %s, want %s", instance, got, node)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestFailHeal brings the three-node example up, fails and heals nodes
// every way (a health check included: the failover table of hac explain,
// live), watches it and brings it down: nothing is left.
func TestFailHeal(t *testing.T) {
	root := newRoot(t)
	t.Parallel()
	dir := example(t, "netplan-three-node")
	must(t, root, "up", dir)

	// Refusals: a second lab at the same root; unknown nodes and checks
	// are bad arguments (exit 3, the README's one table; they were 1).
	if out, code := hac(t, root, "up", dir); code != 1 || !strings.Contains(out, "a lab is already up at "+root) {
		t.Errorf("a second hac lab up: exit %d, want 1 and 'a lab is already up':\n%s", code, out)
	}
	if out, code := hac(t, root, "fail", "lb9"); code != 3 || !strings.Contains(out, "has no node \"lb9\": use one of lb1, lb2, lb3") {
		t.Errorf("fail lb9: exit %d:\n%s", code, out)
	}
	if out, code := hac(t, root, "fail", "lb1", "--check", "nope"); code != 3 || !strings.Contains(out, "no check \"nope\": use one of nginx") {
		t.Errorf("fail --check nope: exit %d:\n%s", code, out)
	}

	waitMaster(t, root, "web", "lb1")
	waitMaster(t, root, "api", "lb2")

	// The failover table: nginx failing on lb1 (weight -50) makes lb2
	// master of web; api does not move.
	watch := exec.Command(agenttest.HacBinary(t), "lab", "watch", "--root", root, "--for", "60s")
	var wout testenv.Buffer
	watch.Stdout, watch.Stderr = &wout, &wout
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(wout.String(), "web "); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("hac lab watch showed nothing in 10s: %s", wout.String())
		}
	}
	must(t, root, "fail", "lb1", "--check", "nginx")
	waitMaster(t, root, "web", "lb2")
	if got := masterOf(t, root, "api"); got != "lb2" {
		t.Errorf("api master after nginx failed on lb1 = %s, want lb2", got)
	}
	must(t, root, "heal", "lb1")
	waitMaster(t, root, "web", "lb1")

	for _, how := range lab.Hows {
		must(t, root, "fail", "lb1", "--how", how)
		waitMaster(t, root, "web", "lb2")
		if out := must(t, root, "status", "--probe", "500ms"); !regexp.MustCompile(`198\.18\.0\.100: answers .*; since it first answered at \S+: \d+ of \d+ probes lost, longest gap`).MatchString(out) {
			t.Errorf("after fail lb1 --how %s, the web VIP does not answer, or the loss so far is missing:\n%s", how, out)
		}
		must(t, root, "heal", "lb1")
		waitMaster(t, root, "web", "lb1")
	}
	_ = watch.Process.Signal(syscall.SIGINT)
	if err := watch.Wait(); err != nil {
		t.Errorf("hac lab watch: %v\n%s", err, wout.String())
	}
	w := wout.String()
	t.Logf("hac lab watch:\n%s", w)
	for _, want := range []string{"web        master lb1", "web        master lb2", "[check:nginx]", "[link]", "[freeze]", "198.18.0.100 lost ", ", longest gap "} {
		if !strings.Contains(w, want) {
			t.Errorf("hac lab watch never showed %q", want)
		}
	}
	down(t, root)
	if out, code := hac(t, root, "down"); code != 1 || !strings.Contains(out, "no lab is up") {
		t.Errorf("hac lab down with no lab: exit %d:\n%s", code, out)
	}
}

// TestDownAfterKill kills hac lab (SIGKILL) in the middle of up and of
// run; hac lab down then removes everything.
func TestDownAfterKill(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		when string // kill once the output holds this; "state": once state.json exists; "agent": once an agent runs
	}{
		{"up/state-recorded", []string{"up"}, "state"},
		{"up/agent-started", []string{"up"}, "agent"},
		{"run/master-failed", []string{"run"}, "2. fail"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRoot(t)
			t.Parallel()
			dir := example(t, "ncp-two-node")
			cmd := exec.Command(agenttest.HacBinary(t), append(append([]string{"lab"}, tc.args...), "--root", root, dir)...)
			var out testenv.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(60 * time.Second)
			for {
				_, err := os.Stat(filepath.Join(root, "state.json"))
				if tc.when == "state" && err == nil || tc.when == "agent" && len(agentPIDs(t, root)) > 0 || strings.Contains(out.String(), tc.when) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("hac lab %s never got to %q:\n%s", tc.name, tc.when, out.String())
				}
				time.Sleep(5 * time.Millisecond)
			}
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Logf("hac lab %s, killed:\n%s", tc.name, out.String())
			down(t, root)
		})
	}
}

// TestRefuses: not root, an invalid description (the usual vet
// messages), a cluster list without --cluster.
func TestRefuses(t *testing.T) {
	root := newRoot(t)
	t.Parallel()
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "c.cue"), []byte(`clusters: x: {
	network: {interface: "eth1", subnet: "198.18.0.0/24"}
	nodes: a: {address: "198.18.0.11"}
	nodes: b: {address: "198.18.1.12"}
	vrrp: VI_1: {virtual_router_id: 51, priority: {a: 200, b: 100}, vips: ["198.18.0.200"]}
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := hac(t, root, "up", bad)
	if code != 1 || !strings.Contains(out, "198.18.1.12") || !strings.Contains(out, "c.cue:") || !strings.Contains(out, "invalid configuration: no lab made") {
		t.Errorf("hac lab up on an invalid cluster: exit %d, want 1 with the vet message:\n%s", code, out)
	}

	two := t.TempDir()
	for _, n := range []string{"ncp-two-node", "ipv6"} {
		b, _ := os.ReadFile(filepath.Join(examplesDir, n, "cluster.cue"))
		if err := os.WriteFile(filepath.Join(two, n+".cue"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, code := hac(t, root, "up", two); code != 3 || !strings.Contains(out, "declares clusters ncp-lb, v6-lb: choose one with --cluster") {
		t.Errorf("hac lab up on two clusters: exit %d:\n%s", code, out)
	}

	// A --root that names an existing folder of someone else's: up refuses
	// it (it said "a lab is already up ... remove it with hac lab down"),
	// and down, heal and fail leave it and its files alone (down used to
	// remove the whole folder, lock files were made in it).
	other := filepath.Join(t.TempDir(), "project")
	if err := os.MkdirAll(filepath.Join(other, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "src", "main.go"), []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := hac(t, other, "up", example(t, "ncp-two-node")); code != 3 || !strings.Contains(out, "the folder exists and is not a lab's") {
		t.Errorf("hac lab up --root on an existing folder: exit %d, want 3:\n%s", code, out)
	}
	for _, sub := range [][]string{{"down"}, {"heal", "lb1"}, {"fail", "lb1"}} {
		if out, code := hac(t, other, sub[0], sub[1:]...); code != 1 || !strings.Contains(out, "no lab is up") {
			t.Errorf("hac lab %s --root on an existing folder: exit %d, want 1 and 'no lab is up':\n%s", sub[0], code, out)
		}
	}
	if entries, err := os.ReadDir(other); err != nil || len(entries) != 1 {
		t.Errorf("the folder was changed: %v %v", entries, err)
	}
	if _, err := os.Stat(filepath.Join(other, "src", "main.go")); err != nil {
		t.Errorf("a file in the folder is gone: %v", err)
	}

	// A second lab whose --root has the same last element: its namespaces
	// would be the first one's. It is refused before anything is made (its
	// failed up used to delete the first lab's namespaces and agents).
	first := newRoot(t)
	must(t, first, "up", example(t, "ncp-two-node"))
	twin := filepath.Join(t.TempDir(), filepath.Base(first))
	if out, code := hac(t, twin, "up", example(t, "ncp-two-node")); code != 3 || !strings.Contains(out, "already exists (a lab at another --root") {
		t.Errorf("hac lab up with the same last element as a running lab: exit %d, want 3:\n%s", code, out)
	}
	if _, err := os.Stat(twin); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused lab's folder was made: %v", err)
	}
	if out, code := hac(t, first, "status", "--probe", "0"); code != 0 || strings.Contains(out, "down") {
		t.Errorf("the first lab after the refused one: exit %d:\n%s", code, out)
	}
	must(t, first, "down")

	// A copy of hac that nobody may run (the test binary's folder is root's).
	bin, err := os.MkdirTemp("", "hac-labtest-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(bin)
	b, err := os.ReadFile(agenttest.HacBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "hac"), b, 0o755); err != nil || os.Chmod(bin, 0o755) != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "hac"), "lab", "status", "--root", root)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	b, _ = cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(b), "needs root") {
		t.Errorf("hac lab status as nobody: exit %d, want 1 and 'needs root':\n%s", cmd.ProcessState.ExitCode(), b)
	}
	if left := leftovers(t, root, labAgents{}); len(left) > 0 {
		t.Errorf("left after refusals:\n%s", strings.Join(left, "\n"))
	}
}
