package nodes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hac-project/hac/internal/testenv"
)

// TestLifeCycle boots two nodes, runs commands in them over SSH, reboots
// one (its files stay, its boot id changes), pulls the plug on the other
// and boots it again, then checks that the teardown left nothing: no
// cgroup, no state directory, no namespace, no process.
func TestLifeCycle(t *testing.T) {
	var b *Bed
	t.Run("bed", func(t *testing.T) {
		b = New(t, Spec{Setup: []string{SeedInterfaces}, OwnNetwork: true})
		n1, n2 := b.Node("n1"), b.Node("n2")
		if got := strings.TrimSpace(n1.Exec("hostname")); got != "n1" {
			t.Errorf("hostname = %q, want n1", got)
		}
		if got := strings.TrimSpace(n1.Exec("readlink /proc/1/exe")); got != "/usr/lib/systemd/systemd" {
			t.Errorf("PID 1 is %q, want systemd", got)
		}
		// The container sees its node namespace's eth1 and keeps the
		// capabilities VRRP needs.
		if out := n2.Exec("ip -o -4 addr show dev eth1"); !strings.Contains(out, n2.Addr.String()+"/24") {
			t.Errorf("eth1 in n2: %q, want %s/24", out, n2.Addr)
		}
		if _, err := n1.Run("ip addr add 198.18.0.201/32 dev eth1 && ip addr del 198.18.0.201/32 dev eth1"); err != nil {
			t.Errorf("CAP_NET_ADMIN: %v", err)
		}
		if _, err := n1.Run("ping -c1 -W2 " + n2.Addr.String()); err != nil {
			t.Errorf("CAP_NET_RAW (ping n2): %v", err)
		}
		n1.Exec("echo kept > /root/file")
		boot := n1.Exec("cat /proc/sys/kernel/random/boot_id")
		n1.Reboot()
		if got := n1.Exec("cat /root/file"); got != "kept\n" {
			t.Errorf("after reboot /root/file = %q, want kept", got)
		}
		if n1.Exec("cat /proc/sys/kernel/random/boot_id") == boot {
			t.Error("the boot id did not change across the reboot")
		}
		n2.PowerOff()
		if b.Answers(n2.Addr, 300*time.Millisecond) {
			t.Error("n2 answers ping after PowerOff")
		}
		if _, err := n2.Run("true"); err == nil {
			t.Error("n2 runs commands after PowerOff")
		}
		if n2.Running() {
			t.Error("n2 still running after PowerOff")
		}
		n2.Boot()
		if !b.Answers(n2.Addr, 5*time.Second) {
			t.Error("n2 does not answer ping after Boot")
		}
	})
	if b == nil {
		return
	}
	checkGone(t, b.id, b.dir, append([]string{b.Client, b.Bridge}, b.Nodes[0].NS, b.Nodes[1].NS))
}

// checkGone fails the test when anything of bed id is left.
func checkGone(t *testing.T, id, dir string, namespaces []string) {
	t.Helper()
	cg, err := findCgroups()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range cg.roots() {
		if left, _ := filepath.Glob(filepath.Join(r, id+"*")); len(left) > 0 {
			t.Errorf("cgroups left: %v", left)
		}
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("state directory %s left", dir)
	}
	for _, ns := range namespaces {
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			t.Errorf("namespace %s left", ns)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), id) {
			t.Errorf("a process of the bed is left: %s: %q", p, b)
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), id) {
		t.Errorf("mounts of the bed left in the host's mount namespace")
	}
}

// TestSweepKilledBed boots a node in a child test process and kills that
// process with SIGKILL (no cleanup runs, as when go test times out or a
// developer hits Ctrl-C twice); the next bed's sweep removes the running
// container, its cgroups, namespaces and disk.
func TestSweepKilledBed(t *testing.T) {
	if testenv.InKilledChild(t) {
		b := New(t, Spec{Nodes: []string{"k1"}})
		testenv.Ready(b.id, b.dir, strings.Join([]string{b.Client, b.Bridge, b.Nodes[0].NS}, ","))
		time.Sleep(5 * time.Minute) // killed by the parent long before
		return
	}
	cg, err := findCgroups()
	if err != nil {
		if testenv.InCI() {
			t.Fatalf("CI is set but the sweep test cannot read the cgroups: %v", err)
		}
		t.Skip(err)
	}
	f := testenv.KilledChild(t)
	if len(f) != 3 {
		t.Fatalf("the child bed said %q, want its id, state directory and namespaces", f)
	}
	id, dir, namespaces := f[0], f[1], strings.Split(f[2], ",")
	// The killed bed's container still runs: that is what the sweep is for.
	if left, _ := filepath.Glob(filepath.Join(cg.unified, id+"-*")); len(left) == 0 {
		t.Fatalf("the killed bed left no cgroup: nothing to sweep (test broken?)")
	}
	cid, cdir := claim(t, cg)
	os.RemoveAll(cdir)
	_ = cid
	checkGone(t, id, dir, namespaces)
}

// TestSeedState builds the seed's servers as people run them today: a
// user with sudo and root login off, eth1 and a static eth1:0 VIP alias in
// /etc/network/interfaces, keepalived running from a keepalived.conf like
// the seed's. The bed logs in as that user.
func TestSeedState(t *testing.T) {
	b := New(t, Spec{
		Login:      "admin",
		OwnNetwork: true,
		Setup:      append(SeedState("n1"), NoRootLogin),
	})
	n1 := b.Node("n1")
	if got := strings.TrimSpace(n1.Exec("id -un; sudo -n id -un")); got != "admin\nroot" {
		t.Errorf("login and sudo: %q, want admin then root", got)
	}
	if got := strings.TrimSpace(n1.Exec("systemctl is-active keepalived")); got != "active" {
		t.Errorf("keepalived is %q, want active", got)
	}
	// The alias is up on both nodes, as in the seed.
	for _, n := range b.Nodes {
		if out := n.Exec("ip -o -4 addr show dev eth1"); !strings.Contains(out, "198.18.0.102/24") {
			t.Errorf("%s: no eth1:0 alias: %q", n.Name, out)
		}
	}
	// Root cannot log in.
	root := *b
	root.Login = "root"
	probe := &Node{Node: n1.Node, bed: &root}
	if _, err := probe.Run("true"); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("root login: %v, want refused", err)
	}
}
