package deploy_test

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/internal/netns"
	"github.com/hac-project/hac/internal/nodes"
	"github.com/hac-project/hac/targets"
)

// The end-to-end tests run on real nodes (internal/nodes): Debian 12
// containers booted by systemd, reached over SSH. hac apply, run as the
// hac CLI from the client namespace, installs its own static binary
// (--install-agent), the unit and the files, and activates them with its
// real commands (systemctl daemon-reload, enable, restart; ifdown/ifup;
// netplan apply; systemctl reload-or-restart keepalived).

func TestMain(m *testing.M) { os.Exit(nodes.Main(m)) }

// seedVIP is the seed's VIP 192.168.200.102, moved into the bed's subnet.
var seedVIP = netip.MustParseAddr("198.18.0.102")

// seedCluster returns examples/ncp-two-node with its addresses moved into
// the bed's 198.18.0.0/24 (the node addresses .11 and .12 are the bed's
// lb1 and lb2) and SSH going to those addresses as root; edits are
// applied after.
func seedCluster(t *testing.T, edits ...[2]string) string {
	t.Helper()
	b, err := os.ReadFile("../examples/ncp-two-node/cluster.cue")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, e := range append([][2]string{
		{"192.168.200.", "198.18.0."},
		{`ssh: {host: "lb1.example.net"}`, `ssh: {host: "198.18.0.11", user: "root"}`},
		{`ssh: {host: "lb2.example.net"}`, `ssh: {host: "198.18.0.12", user: "root"}`},
	}, edits...) {
		if !strings.Contains(s, e[0]) {
			t.Fatalf("examples/ncp-two-node/cluster.cue has no %q any more: update the test's edits", e[0])
		}
		s = strings.ReplaceAll(s, e[0], e[1])
	}
	return s
}

// realPair is two booted nodes, lb1 and lb2, and a folder with the
// cluster description hac applies to them.
type realPair struct {
	t        *testing.T
	bed      *nodes.Bed
	hac      string
	dir      string
	lb1, lb2 *nodes.Node
}

func newRealPair(t *testing.T, cue string) *realPair {
	t.Helper()
	bed := nodes.New(t, nodes.Spec{Nodes: []string{"lb1", "lb2"}})
	r := &realPair{t: t, bed: bed, hac: nodes.HacBinary(t), dir: t.TempDir(), lb1: bed.Node("lb1"), lb2: bed.Node("lb2")}
	r.write(cue)
	return r
}

func (r *realPair) write(cue string) {
	if err := os.WriteFile(filepath.Join(r.dir, "cluster.cue"), []byte(cue), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// run runs the hac CLI in the client namespace, where the nodes are
// reachable, with the bed's key and known_hosts.
func (r *realPair) run(args ...string) (string, error) {
	args = append(args[:1:1], append([]string{"-F", "none", "--known-hosts", r.bed.KnownHosts, "-i", r.bed.Key}, args[1:]...)...)
	out, err := r.bed.Command(r.bed.Client, r.hac, args...).CombinedOutput()
	return string(out), err
}

// apply runs hac apply --install-agent and fails the test unless it
// succeeds.
func (r *realPair) apply(what string) {
	r.t.Helper()
	start := time.Now()
	out, err := r.run("apply", "--install-agent", "--verify-timeout", "60s", r.dir)
	r.t.Logf("%s: hac apply took %v:\n%s", what, time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		r.t.Fatalf("%s: hac apply: %v", what, err)
	}
}

// agentState returns instance VI_1's state on n ("" when the agent does
// not answer).
func agentState(n *nodes.Node) string { return agentStateBy(n, "hac-agent status --format json") }

// agentStateBy is agentState with the status command cmd.
func agentStateBy(n *nodes.Node, cmd string) string {
	out, err := n.Run(cmd)
	if err != nil {
		return ""
	}
	var rep status.Report
	if json.Unmarshal([]byte(out), &rep) != nil || len(rep.Instances) == 0 {
		return ""
	}
	return rep.Instances[0].State
}

// probe probes the VIP from the client every 10 ms while do runs, then
// settle longer, and returns the result.
func (r *realPair) probe(what string, do func(p *netns.Prober), settle time.Duration) netns.ProbeResult {
	r.t.Helper()
	p := r.bed.Probe(seedVIP, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	do(p)
	time.Sleep(settle)
	res := p.Stop()
	r.t.Logf("%s: %v", what, res)
	return res
}

// holders waits until exactly the nodes want hold the VIP.
func (r *realPair) holders(what string, want ...string) {
	r.t.Helper()
	r.bed.Eventually(30*time.Second, what+": VIP holders are not "+strings.Join(want, ","), func() bool {
		return slices.Equal(r.bed.Holders(seedVIP), want)
	})
}

// TestSeedOnRealNodes is the seed's test, on two nodes that boot like
// servers: the seed's cluster applied with hac apply (the agent installed
// and started by systemd, eth1 configured by ifupdown), a client pinging
// the VIP every 10 ms. The master reboots: the backup answers, no probe
// lost (a reboot stops the agent gracefully: it hands over first). The
// backup, now master, reboots while the old master is still down:
// nothing answers. The master comes back: the VIP answers again. Then a
// rolling apply that restarts both agents loses nothing (restarting both
// at once is measured for comparison), ifup on the master loses nothing,
// and ifdown/ifup of eth1 on the master (ifupdown's activation) takes the
// VIP until eth1 is back, measured.
func TestSeedOnRealNodes(t *testing.T) {
	t.Parallel()
	r := newRealPair(t, seedCluster(t))
	r.apply("first apply")
	r.holders("after the first apply", "lb1")
	if !r.bed.Answers(seedVIP, 10*time.Second) {
		t.Fatal("the VIP does not answer after the first apply")
	}
	for _, n := range []*nodes.Node{r.lb1, r.lb2} {
		if got := strings.TrimSpace(n.Exec("systemctl is-enabled hac-agent; systemctl is-active hac-agent")); got != "enabled\nactive" {
			t.Fatalf("%s: hac-agent is %q, want enabled and active", n, got)
		}
	}

	f := r.seedReboots(agentState)
	for _, c := range []struct {
		step string
		lost int
	}{{"1. reboot of the master", f.master.Lost}, {"4. the backup's return", f.backupBack.Lost}, {"5. reboot and takeback of the master", f.takeback.Lost}} {
		// The agent hands over before it stops, and takes the VIP back
		// without a gap.
		if c.lost != 0 {
			t.Errorf("%s lost %d probes, want 0", c.step, c.lost)
		}
	}

	// A change that restarts both agents, applied rolling (backup
	// first, then the master): nothing lost.
	r.write(seedCluster(t, [2]string{`vips: [`, `garp: repeat: 2
		vips: [`}))
	r6 := r.probe("rolling apply", func(*netns.Prober) { r.apply("rolling apply") }, 300*time.Millisecond)
	if r6.Lost != 0 {
		t.Errorf("rolling apply lost %d probes (longest gap %v), want 0", r6.Lost, r6.MaxGap)
	}
	if out, err := r.run("status", r.dir); err != nil {
		t.Errorf("hac status after the rolling apply: %v\n%s", err, out)
	}
	// The same restart on both nodes at once, for comparison: measured,
	// not asserted (under real systemd a restart takes a fraction of a
	// second, so the VIP may survive it).
	r7 := r.probe("both agents restarted at once", func(*netns.Prober) {
		var wg sync.WaitGroup
		for _, n := range []*nodes.Node{r.lb1, r.lb2} {
			wg.Add(1)
			go func() { defer wg.Done(); n.Exec("systemctl restart hac-agent") }()
		}
		wg.Wait()
		r.holders("after restarting both", "lb1")
	}, 300*time.Millisecond)
	// ifup of the configured eth1 on the master (a sysadmin's or a
	// boot's) leaves the VIP alone.
	r8 := r.probe("ifup eth1 on the master", func(*netns.Prober) { r.lb1.Exec("ifup eth1") }, 300*time.Millisecond)
	if r8.Lost != 0 {
		t.Errorf("ifup eth1 on the master lost %d probes, want 0", r8.Lost)
	}
	// ifupdown's activation on the master takes eth1 down (every
	// address goes, the VIP too; the agent sees the link go and enters
	// FAULT): the VIP comes back once eth1 is up again.
	r9 := r.probe("ifdown/ifup eth1 on the master (hac apply's ifupdown activation)", func(*netns.Prober) {
		r.lb1.Exec("ifdown --force eth1; ifup eth1")
		r.holders("after ifdown/ifup", "lb1")
	}, 300*time.Millisecond)
	if !r.bed.Answers(seedVIP, 5*time.Second) {
		t.Errorf("the VIP does not answer after ifdown/ifup on the master")
	}
	t.Logf("figures: reboot of the master %d lost; both down %d lost; master back after %v; backup back %d lost; "+
		"reboot+takeback %d lost (gap %v); rolling apply %d lost (gap %v); both restarted at once %d lost (gap %v); "+
		"ifup %d lost; ifdown/ifup %d lost (gap %v)",
		f.master.Lost, f.bothDown.Lost, f.back.Round(time.Millisecond), f.backupBack.Lost, f.takeback.Lost, f.takeback.MaxGap.Round(time.Millisecond), r6.Lost,
		r6.MaxGap.Round(time.Millisecond), r7.Lost, r7.MaxGap.Round(time.Millisecond), r8.Lost, r9.Lost, r9.MaxGap.Round(time.Millisecond))
}

// seedFigures are the probe results of the seed's reboot steps.
type seedFigures struct {
	master, bothDown, backupBack, takeback netns.ProbeResult
	back                                   time.Duration // from the master's boot to the first reply
}

// seedReboots runs the seed's reboot steps on a pair whose lb1 is master,
// with state telling a node's VRRP state (MASTER, BACKUP, "" when
// unknown). It asserts what holds for any VRRP daemon (nothing answers
// while both nodes are down, the VIP answers again when the master is
// back, eth1 comes up from the node's own configuration) and returns the
// figures.
func (r *realPair) seedReboots(state func(*nodes.Node) string) seedFigures {
	t := r.t
	t.Helper()
	var f seedFigures
	// 1. The master reboots (and takes its time to come back).
	f.master = r.probe("1. reboot the master", func(*netns.Prober) {
		r.lb1.RebootHeld()
		r.holders("master rebooting", "lb2")
	}, 500*time.Millisecond)
	// 2. The backup, now master, reboots while the old master is down.
	var during int
	f.bothDown = r.probe("2. reboot the backup while the master is down", func(p *netns.Prober) {
		r.lb2.RebootHeld()
		r.holders("both down")
		before := p.Replies()
		time.Sleep(time.Second)
		during = p.Replies() - before
	}, 0)
	if during != 0 {
		t.Errorf("2. %d replies came while both nodes were down, want none", during)
	}
	if f.bothDown.Lost < 90 {
		t.Errorf("2. only %d probes lost with both nodes down for a second: what answered?", f.bothDown.Lost)
	}
	// 3. The master comes back: the VIP answers again.
	r.probe("3. the master comes back", func(p *netns.Prober) {
		start := time.Now()
		r.lb1.Boot()
		r.bed.Eventually(60*time.Second, "the VIP does not answer after the master's boot", func() bool { return p.Replies() > 0 })
		f.back = time.Since(start)
	}, 0)
	t.Logf("3. the VIP answered %v after the master's boot began", f.back.Round(time.Millisecond))
	// eth1 came up from the node's own configuration (the bed leaves it
	// down and unaddressed at every boot after the first).
	if out := r.lb1.Exec("ip -o -4 addr show dev eth1"); !strings.Contains(out, "198.18.0.11/24") {
		t.Errorf("after the reboot lb1's eth1 has %q, want 198.18.0.11/24 from the rendered network file", out)
	}
	// 4. The backup comes back: the master keeps the VIP.
	f.backupBack = r.probe("4. the backup comes back", func(*netns.Prober) {
		r.lb2.Boot()
		r.bed.Eventually(30*time.Second, "lb2 does not become BACKUP", func() bool { return state(r.lb2) == "BACKUP" })
	}, 300*time.Millisecond)
	r.holders("both back", "lb1")
	// 5. A full reboot of the master: it hands over, comes back and
	// takes the VIP back (preempt).
	f.takeback = r.probe("5. reboot the master, which comes back", func(*netns.Prober) {
		r.lb1.Reboot()
		r.bed.Eventually(30*time.Second, "lb1 does not take the VIP back", func() bool { return state(r.lb1) == "MASTER" })
	}, 500*time.Millisecond)
	r.holders("after the takeback", "lb1")
	return f
}

// keepalivedState returns the state keepalived last entered for VI_1 in
// the node's current boot, from its log.
func keepalivedState(n *nodes.Node) string {
	out, err := n.Run("journalctl -b -u keepalived --no-pager -o cat | grep -o 'Entering [A-Z]* STATE' | tail -n1")
	if err != nil {
		return ""
	}
	f := strings.Fields(out)
	if len(f) != 3 {
		return ""
	}
	return f[1]
}

// TestKeepalivedOnRealNodes is the baseline: the seed's cluster with
// render.keepalived, applied by hac apply (keepalived.conf installed,
// Debian's keepalived service reloaded), and the same reboot steps as
// TestSeedOnRealNodes. Figures only, except what any VRRP daemon must do.
func TestKeepalivedOnRealNodes(t *testing.T) {
	t.Parallel()
	r := newRealPair(t, seedCluster(t, [2]string{`render: network: "ifupdown"`, `render: {network: "ifupdown", keepalived: true}`}))
	out, err := r.run("apply", "--verify-timeout", "60s", r.dir)
	t.Logf("hac apply:\n%s", out)
	if err != nil {
		t.Fatalf("hac apply: %v", err)
	}
	for _, n := range []*nodes.Node{r.lb1, r.lb2} {
		if got := strings.TrimSpace(n.Exec("systemctl is-enabled keepalived; systemctl is-active keepalived")); got != "enabled\nactive" {
			t.Fatalf("%s: keepalived is %q, want enabled and active", n, got)
		}
	}
	r.holders("after the apply", "lb1")
	f := r.seedReboots(keepalivedState)
	t.Logf("figures (keepalived): reboot of the master %d lost (gap %v); both down %d lost; master back after %v; backup back %d lost; reboot+takeback %d lost (gap %v)",
		f.master.Lost, f.master.MaxGap.Round(time.Millisecond), f.bothDown.Lost, f.back.Round(time.Millisecond), f.backupBack.Lost, f.takeback.Lost, f.takeback.MaxGap.Round(time.Millisecond))
}

// TestNetplanOnRealNodes: the seed's cluster rendered for netplan. After
// a reboot systemd-networkd brings eth1 up as built (netplan's generator
// at boot), and netplan apply on the master leaves the VIP alone (the
// file is critical: networkd never drops addresses it did not set).
// Without accept-ra: false in the rendered file, this test saw
// network-online.target, and so the agent, come 14 s late at every boot.
func TestNetplanOnRealNodes(t *testing.T) {
	t.Parallel()
	r := newRealPair(t, seedCluster(t, [2]string{`render: network: "ifupdown"`, `render: network: "netplan"`}))
	r.apply("first apply")
	r.holders("after the first apply", "lb1")
	r.lb1.Reboot()
	if out := r.lb1.Exec("ip -o -4 addr show dev eth1"); !strings.Contains(out, "198.18.0.11/24") {
		t.Errorf("after the reboot lb1's eth1 has %q, want 198.18.0.11/24 from /etc/netplan/60-hac-eth1.yaml", out)
	}
	if got := strings.TrimSpace(r.lb1.Exec("systemctl is-active systemd-networkd")); got != "active" {
		t.Errorf("systemd-networkd is %q after the reboot, want active", got)
	}
	r.bed.Eventually(30*time.Second, "lb1 does not take the VIP back after its reboot", func() bool { return agentState(r.lb1) == "MASTER" })
	r.holders("after the reboot", "lb1")
	// netplan apply reconfigures eth1 (systemd-networkd reloads it): the
	// VIP must lose no more than the node's own address, probed at the
	// same time, and stay with the master.
	own := r.bed.Probe(r.lb1.Addr, 10*time.Millisecond)
	res := r.probe("netplan apply on the master", func(*netns.Prober) { r.lb1.Exec("netplan apply") }, time.Second)
	ownRes := own.Stop()
	t.Logf("the master's own address meanwhile: %v", ownRes)
	if res.Lost > ownRes.Lost+1 {
		t.Errorf("netplan apply on the master: the VIP lost %d probes, the node's own address %d: the VIP was disturbed", res.Lost, ownRes.Lost)
	}
	r.holders("after netplan apply", "lb1")
	if s := agentState(r.lb1); s != "MASTER" {
		t.Errorf("lb1 is %s after netplan apply, want MASTER", s)
	}
	t.Logf("figures (netplan): eth1 up after reboot; netplan apply on the master: VIP %d lost (gap %v), own address %d lost (gap %v)",
		res.Lost, res.MaxGap.Round(time.Millisecond), ownRes.Lost, ownRes.MaxGap.Round(time.Millisecond))
}

// probeScript is installed on the nodes of TestAgentUnitOnRealNodes as a
// health check and a notify command: it records what a command run by
// the agent may do inside the unit's sandbox. Two runs may overlap (a
// reload runs the new check once while the old one still runs), so each
// writes its own temporary file: with one shared name, one run's mv
// failed, the check failed and the master faulted (61 probes lost).
const probeScript = `cat > /usr/local/lib/hac-probe <<'EOF'
#!/bin/sh
f=/run/hac/probe-$1
{
  echo "uid $(id -u)"
  if echo x 2>/dev/null > /etc/hac-probe; then echo "etc writable"; else echo "etc read-only"; fi
  if echo x 2>/dev/null > /var/lib/hac-probe; then echo "var writable"; else echo "var read-only"; fi
  if echo x 2>/dev/null > /tmp/hac-probe; then echo "tmp writable"; else echo "tmp read-only"; fi
  if sudo -n true 2>/dev/null; then echo "sudo works"; else echo "sudo refused"; fi
  if ping -c1 -W1 198.18.0.100 >/dev/null 2>&1; then echo "ping works"; else echo "ping fails"; fi
  grep -E '^(CapEff|NoNewPrivs)' /proc/self/status
} > "$f.tmp.$$" && mv "$f.tmp.$$" "$f"
EOF
chmod 755 /usr/local/lib/hac-probe`

// TestAgentUnitOnRealNodes runs the agent under the exact unit hac
// renders, with a health check and a notify command configured: the
// unit on the node is byte for byte the built one, the agent runs
// sandboxed with its two capabilities, the nodes reach MASTER/BACKUP,
// systemctl restart of the master hands over inside the unit's stop
// timeout without a lost probe, and systemd restarts an agent killed
// with SIGKILL. What the check and notify commands may do in the sandbox
// is recorded by the commands themselves. Then a check run as nobody:
// the agent gets what it needs to switch users, still sandboxed.
func TestAgentUnitOnRealNodes(t *testing.T) {
	t.Parallel()
	cue := seedCluster(t,
		[2]string{`render: network: "ifupdown"`, `render: network: "none"`},
		[2]string{`vips: [`, `checks: probe: {command: ["/usr/local/lib/hac-probe", "check"], interval: "1s"}
		notify: master: ["/usr/local/lib/hac-probe", "notify-master"]
		vips: [`})
	bed := nodes.New(t, nodes.Spec{Nodes: []string{"lb1", "lb2"}, Setup: []string{probeScript}})
	r := &realPair{t: t, bed: bed, hac: nodes.HacBinary(t), dir: t.TempDir(), lb1: bed.Node("lb1"), lb2: bed.Node("lb2")}
	r.write(cue)
	r.apply("first apply")
	r.holders("after the first apply", "lb1")
	if s := agentState(r.lb2); s != "BACKUP" {
		t.Errorf("lb2 is %q, want BACKUP", s)
	}

	// The unit on the node is the one hac builds.
	out := t.TempDir()
	if o, err := r.bed.Command(r.bed.Client, r.hac, "build", "-o", out, r.dir).CombinedOutput(); err != nil {
		t.Fatalf("hac build: %v\n%s", err, o)
	}
	built, err := os.ReadFile(filepath.Join(out, "ncp-lb/lb1/etc/systemd/system/hac-agent.service"))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.lb1.Exec("cat /etc/systemd/system/hac-agent.service"); got != string(built) {
		t.Errorf("the unit on lb1 is not the built one:\n%s", got)
	}
	// Sandboxed: CAP_NET_ADMIN (12) and CAP_NET_RAW (13) only, no new
	// privileges, a read-only system.
	pid := strings.TrimSpace(r.lb1.Exec("systemctl show -P MainPID hac-agent"))
	st := r.lb1.Exec("grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/" + pid + "/status")
	for _, want := range []string{"CapEff:\t0000000000003000", "CapBnd:\t0000000000003000", "NoNewPrivs:\t1"} {
		if !strings.Contains(st, want) {
			t.Errorf("the agent (pid %s) runs with\n%s\nwant %q", pid, st, want)
		}
	}
	// What the check and the notify command could do.
	r.bed.Eventually(10*time.Second, "the check and notify commands did not report", func() bool {
		_, err1 := r.lb1.Run("test -f /run/hac/probe-check")
		_, err2 := r.lb1.Run("test -f /run/hac/probe-notify-master")
		return err1 == nil && err2 == nil
	})
	for _, f := range []string{"/run/hac/probe-check", "/run/hac/probe-notify-master"} {
		got := r.lb1.Exec("cat " + f)
		t.Logf("%s:\n%s", f, got)
		for _, want := range []string{"uid 0\n", "etc read-only\n", "var read-only\n", "tmp writable\n", "sudo refused\n", "ping works\n", "CapEff:\t0000000000003000\n", "NoNewPrivs:\t1\n"} {
			if !strings.Contains(got, want) {
				t.Errorf("%s lacks %q", f, want)
			}
		}
	}

	// systemctl restart of the master: the handoff fits in the stop
	// timeout and loses nothing.
	var took time.Duration
	res := r.probe("systemctl restart hac-agent on the master", func(*netns.Prober) {
		start := time.Now()
		r.lb1.Exec("systemctl restart hac-agent")
		took = time.Since(start)
		r.holders("after the restart", "lb1")
	}, 500*time.Millisecond)
	stop := strings.TrimSpace(r.lb1.Exec("systemctl show -P TimeoutStopUSec hac-agent"))
	t.Logf("systemctl restart took %v (TimeoutStopSec %s)", took.Round(time.Millisecond), stop)
	if res.Lost != 0 {
		t.Errorf("systemctl restart of the master lost %d probes (longest gap %v), want 0", res.Lost, res.MaxGap)
	}
	if j := r.lb1.Exec("journalctl -u hac-agent --no-pager"); strings.Contains(j, "timed out") || strings.Contains(j, "SIGKILL") {
		t.Errorf("the stop ran into the stop timeout:\n%s", j)
	}
	// Type=notify: the restarted unit went active only once the agent
	// said READY=1 (every instance had its state): systemd's "Started"
	// line follows the agent's "ready" line. STATUS= shows each node's
	// state, the watchdog is armed, and the logs carry journald
	// priorities (the <N> prefix is parsed, not shown).
	j := r.lb1.Exec("journalctl -u hac-agent -o cat --no-pager")
	ready, started := strings.LastIndex(j, "ready: every instance has its initial state"), strings.LastIndex(j, "Started hac-agent")
	if ready < 0 || started < ready {
		t.Errorf("lb1's unit went active before the agent was ready (ready at %d, Started at %d):\n%s", ready, started, j)
	}
	for _, n := range []struct {
		node *nodes.Node
		want string
	}{{r.lb1, "VI_1 MASTER"}, {r.lb2, "VI_1 BACKUP"}} {
		show := n.node.Exec("systemctl show -p Type -p StatusText -p WatchdogUSec -p NRestarts hac-agent")
		for _, want := range []string{"Type=notify\n", "StatusText=" + n.want + "\n", "WatchdogUSec=10s\n"} {
			if !strings.Contains(show, want) {
				t.Errorf("systemctl show on %s:\n%s\nlacks %q", n.node.Name, show, want)
			}
		}
	}
	info, warn := r.lb1.Exec("journalctl -u hac-agent -p info -o cat --no-pager"), r.lb1.Exec("journalctl -u hac-agent -p warning -o cat --no-pager")
	if !strings.Contains(info, `msg="agent started"`) || strings.Contains(warn, `msg="agent started"`) || strings.Contains(info, "<6>") {
		t.Errorf("journald priorities: the info line \"agent started\" is not (only) at priority info:\n-p info:\n%s\n-p warning:\n%s", info, warn)
	}
	// SIGKILL: systemd restarts the agent (Restart=on-failure).
	old := strings.TrimSpace(r.lb1.Exec("systemctl show -P MainPID hac-agent"))
	kill := r.probe("SIGKILL of the master's agent", func(*netns.Prober) {
		r.lb1.Exec("systemctl kill -s KILL hac-agent")
		r.bed.Eventually(30*time.Second, "systemd did not restart the killed agent", func() bool {
			pid, err := r.lb1.Run("systemctl show -P MainPID hac-agent")
			pid = strings.TrimSpace(pid)
			return err == nil && pid != "0" && pid != old && agentState(r.lb1) == "MASTER"
		})
	}, 300*time.Millisecond)
	if n := strings.TrimSpace(r.lb1.Exec("systemctl show -P NRestarts hac-agent")); n != "1" {
		t.Errorf("NRestarts = %s after one SIGKILL, want 1", n)
	}
	t.Logf("figures: restart %d lost (gap %v, took %v); SIGKILL %d lost (gap %v)",
		res.Lost, res.MaxGap.Round(time.Millisecond), took.Round(time.Millisecond), kill.Lost, kill.MaxGap.Round(time.Millisecond))

	// The watchdog: a frozen agent (SIGSTOP: no loop runs) stops its
	// pings; systemd aborts it after WatchdogSec and restarts it. The
	// frozen master's lease hands the VIP to lb2 meanwhile (one holder),
	// and the restarted agent takes it back.
	frozen := strings.TrimSpace(r.lb1.Exec("systemctl show -P MainPID hac-agent"))
	var restartedAfter time.Duration
	hang := r.probe("the master's agent frozen (SIGSTOP)", func(*netns.Prober) {
		start := time.Now()
		r.lb1.Exec("kill -STOP " + frozen)
		r.bed.Eventually(20*time.Second, "lb2 did not take over from the frozen master", func() bool { return agentState(r.lb2) == "MASTER" })
		r.bed.Eventually(10*time.Second, "the frozen master's VIP did not expire", func() bool {
			return slices.Equal(r.bed.Holders(seedVIP), []string{"lb2"})
		})
		r.bed.Eventually(40*time.Second, "systemd did not restart the frozen agent", func() bool {
			pid, err := r.lb1.Run("systemctl show -P MainPID hac-agent")
			pid = strings.TrimSpace(pid)
			return err == nil && pid != "0" && pid != frozen
		})
		restartedAfter = time.Since(start)
		r.bed.Eventually(20*time.Second, "the restarted agent did not take mastership back", func() bool { return agentState(r.lb1) == "MASTER" })
	}, 300*time.Millisecond)
	if j := r.lb1.Exec("journalctl -u hac-agent --no-pager"); !strings.Contains(j, "Watchdog timeout") {
		t.Errorf("no watchdog timeout in lb1's journal:\n%s", j)
	}
	if n := strings.TrimSpace(r.lb1.Exec("systemctl show -P NRestarts hac-agent")); n != "2" {
		t.Errorf("NRestarts = %s after the SIGKILL and the watchdog, want 2", n)
	}
	t.Logf("figures: frozen master restarted by the watchdog after %v; %d probes lost (gap %v)",
		restartedAfter.Round(time.Millisecond), hang.Lost, hang.MaxGap.Round(time.Millisecond))

	// systemctl reload under the exact unit (ExecReload): the agent
	// re-reads agent.json in the same process and the master keeps the
	// VIP; then an apply that changes only agent.json (a check's
	// interval) reloads both agents instead of restarting them.
	pids := func() [2]string {
		return [2]string{strings.TrimSpace(r.lb1.Exec("systemctl show -P MainPID hac-agent")), strings.TrimSpace(r.lb2.Exec("systemctl show -P MainPID hac-agent"))}
	}
	before := pids()
	rl := r.probe("systemctl reload hac-agent on the master", func(*netns.Prober) {
		r.lb1.Exec("systemctl reload hac-agent")
	}, 300*time.Millisecond)
	if rl.Lost != 0 || agentState(r.lb1) != "MASTER" || pids() != before {
		t.Errorf("systemctl reload: %d lost, lb1 %s, pids %v (were %v); want 0 lost, MASTER, the same processes", rl.Lost, agentState(r.lb1), pids(), before)
	}
	if j := r.lb1.Exec("journalctl -u hac-agent --no-pager"); !strings.Contains(j, "msg=reloaded") {
		t.Errorf("no reload in lb1's journal:\n%s", j)
	}
	// SIGHUP outside systemctl: the agent tells systemd that it reloads
	// (RELOADING=1) and when it is done (READY=1), so the unit went
	// through "reloading" (its state-change time moves; nothing moved it
	// before) and is active again, not stuck reloading.
	changed := func() string { return r.lb1.Exec("systemctl show -P StateChangeTimestampMonotonic hac-agent") }
	reloads, since := strings.Count(r.lb1.Exec("journalctl -u hac-agent --no-pager"), "msg=reloaded"), changed()
	r.lb1.Exec("kill -HUP " + before[0])
	r.bed.Eventually(20*time.Second, "the SIGHUP reload was not seen by systemd, or the unit did not become active again", func() bool {
		j, _ := r.lb1.Run("journalctl -u hac-agent --no-pager")
		show, _ := r.lb1.Run("systemctl show -p ActiveState -p StatusText hac-agent")
		return strings.Count(j, "msg=reloaded") > reloads && changed() != since &&
			strings.Contains(show, "ActiveState=active\n") && strings.Contains(show, "StatusText=VI_1 MASTER\n")
	})
	r.write(seedCluster(t,
		[2]string{`render: network: "ifupdown"`, `render: network: "none"`},
		[2]string{`vips: [`, `checks: probe: {command: ["/usr/local/lib/hac-probe", "check"], interval: "2s"}
		notify: master: ["/usr/local/lib/hac-probe", "notify-master"]
		vips: [`}))
	var applyOut string
	ap := r.probe("an apply that changes only agent.json", func(*netns.Prober) {
		var err error
		applyOut, err = r.run("apply", "--install-agent", "--verify-timeout", "60s", r.dir)
		if err != nil {
			t.Fatalf("hac apply: %v\n%s", err, applyOut)
		}
	}, 300*time.Millisecond)
	if !strings.Contains(applyOut, "will run: "+targets.ActivateAgentConfig+"\n") || strings.Contains(applyOut, targets.ActivateAgent) {
		t.Errorf("the apply of agent.json alone did not reload:\n%s", applyOut)
	}
	if ap.Lost != 0 || pids() != before {
		t.Errorf("apply of agent.json alone: %d lost, pids %v (were %v); want 0 lost, the same processes\nlb1:\n%s\nlb2:\n%s", ap.Lost, pids(), before,
			r.lb1.Exec("journalctl -u hac-agent --no-pager -n 40"), r.lb2.Exec("journalctl -u hac-agent --no-pager -n 40"))
	}
	r.holders("after the reloading apply", "lb1")
	t.Logf("figures: systemctl reload %d lost (gap %v); reloading apply %d lost (gap %v)", rl.Lost, rl.MaxGap.Round(time.Millisecond), ap.Lost, ap.MaxGap.Round(time.Millisecond))

	// A check run as another user: the unit grants the agent setuid,
	// setgid and kill, still sandboxed; the check passes only when it
	// runs as nobody (a failing weight-0 check would put lb1 in FAULT).
	r.write(seedCluster(t,
		[2]string{`render: network: "ifupdown"`, `render: network: "none"`},
		[2]string{`vips: [`, `checks: probe: {command: ["/usr/local/lib/hac-probe", "check"], interval: "1s"}
		checks: nobody: {command: ["/bin/sh", "-c", "test \"$(id -u)\" = 65534"], user: "nobody", interval: "1s"}
		notify: master: ["/usr/local/lib/hac-probe", "notify-master"]
		vips: [`}))
	r.apply("a check run as nobody")
	r.holders("with the check run as nobody", "lb1")
	js := r.lb1.Exec("hac-agent status --format json")
	var rep status.Report
	if err := json.Unmarshal([]byte(js), &rep); err != nil || len(rep.Instances) != 1 {
		t.Fatalf("agent status: %v: %s", err, js)
	}
	up := map[string]bool{}
	for _, c := range rep.Instances[0].Checks {
		up[c.Name] = c.Up
	}
	if !up["nobody"] || !up["probe"] || rep.Instances[0].State != "MASTER" {
		t.Errorf("lb1 is %s with checks %v, want MASTER with both checks up", rep.Instances[0].State, up)
	}
	pid = strings.TrimSpace(r.lb1.Exec("systemctl show -P MainPID hac-agent"))
	// CAP_KILL (5), CAP_SETGID (6), CAP_SETUID (7), CAP_NET_ADMIN, CAP_NET_RAW.
	if st := r.lb1.Exec("grep -E '^(CapEff|NoNewPrivs)' /proc/" + pid + "/status"); !strings.Contains(st, "CapEff:\t00000000000030e0") || !strings.Contains(st, "NoNewPrivs:\t1") {
		t.Errorf("the agent with a check run as another user runs with\n%s\nwant CapEff 30e0 and NoNewPrivs", st)
	}

	// agent.json edited by hand on the master and the agent restarted
	// with it, with a setting only a restart applies (a metrics
	// listener): the node's record still says hac's settings, so the next
	// apply reloads; the agent refuses, and the apply restarts it instead
	// (its handoff: nothing lost) rather than failing over and over.
	r.lb1.Exec(`sed -i 's/^  "format": 1,$/  "format": 1,\n  "metrics": "127.0.0.1:9650",/' /etc/hac/agent.json && systemctl restart hac-agent`)
	r.holders("after the hand-edited restart", "lb1")
	// The exporter the agent runs for it, hac-metrics, which hac apply
	// installed next to hac-agent, answers a scrape (through bash's
	// /dev/tcp: the nodes have no curl).
	if m, err := r.lb1.Run(`bash -c 'exec 3<>/dev/tcp/127.0.0.1/9650 && printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && cat <&3'`); err != nil ||
		!strings.Contains(m, " 200 OK") || !strings.Contains(m, "\nhac_vrrp_state{") {
		t.Errorf("lb1's metrics at 127.0.0.1:9650: %v\n%.2000s\nlb1:\n%s", err, m, r.lb1.Exec("journalctl -u hac-agent --no-pager -n 30"))
	}
	hand := r.probe("an apply over a hand-edited agent.json", func(*netns.Prober) {
		var err error
		applyOut, err = r.run("apply", "--install-agent", "--verify-timeout", "60s", r.dir)
		if err != nil {
			t.Fatalf("hac apply over a hand-edited agent.json: %v\n%s\nlb1:\n%s", err, applyOut, r.lb1.Exec("journalctl -u hac-agent --no-pager -n 30"))
		}
	}, 300*time.Millisecond)
	if !strings.Contains(applyOut, "will run: "+targets.ActivateAgentConfig+"\n") {
		t.Errorf("the apply over a hand-edited agent.json did not try a reload:\n%s", applyOut)
	}
	if j := r.lb1.Exec("journalctl -u hac-agent --no-pager"); !strings.Contains(j, "metrics: changed from") {
		t.Errorf("lb1's agent did not refuse the reload (so the restart was not the fallback):\n%s", j)
	}
	if hand.Lost != 0 {
		t.Errorf("the apply over a hand-edited agent.json lost %d probes (longest gap %v), want 0", hand.Lost, hand.MaxGap)
	}
	r.holders("after the apply over a hand-edited agent.json", "lb1")
	if out, err := r.run("status", r.dir); err != nil {
		t.Errorf("hac status after the apply over a hand-edited agent.json: %v\n%s", err, out)
	}

	// An agent.json the nodes cannot run (an interface they lack; hac
	// build cannot know): the reload is refused for that, and the
	// agent is not restarted into it (a restart stops the agent, handing
	// its VIPs away, and cannot start the file either): the apply fails
	// on the first node, which rolls back with its agent untouched.
	cur, err := os.ReadFile(filepath.Join(r.dir, "cluster.cue"))
	if err != nil {
		t.Fatal(err)
	}
	r.write(strings.Replace(string(cur), `interface: "eth1"`, `interface: "eth9"`, 1))
	before = pids()
	misfit := r.probe("an apply of an agent.json the nodes cannot run", func(*netns.Prober) {
		applyOut, err = r.run("apply", "--install-agent", "--verify-timeout", "60s", r.dir)
	}, 300*time.Millisecond)
	if exitCode(err) != 4 || pids() != before || misfit.Lost != 0 {
		t.Errorf("an apply the nodes cannot run: exit %d, pids %v (were %v), %d lost; want 4, the same agents, 0 lost\n%s",
			exitCode(err), pids(), before, misfit.Lost, applyOut)
	}
	if j := r.lb2.Exec("journalctl -u hac-agent --no-pager -n 50"); !strings.Contains(j, "does not fit this node") {
		t.Errorf("lb2's agent did not refuse the file for the node:\n%s", j)
	}
	r.holders("after the apply the nodes cannot run", "lb1")
	r.write(string(cur))
}
