package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hac-project/hac/deploy"
	"github.com/hac-project/hac/internal/netns"
	"github.com/hac-project/hac/internal/nodes"
	"github.com/hac-project/hac/targets/ifupdown"
	"github.com/hac-project/hac/targets/netplan"
)

// TestMigrateFromKeepalived takes over the seed's running keepalived pair
// with a client probing the VIP every 10 ms: import from the live nodes,
// vet, plan, apply (keepalived stopped and disabled, the static alias
// removed from the file and the interface, the agent started, mastership
// moved by a takeover before the keepalived master stops). Then the
// rebooted master takes the VIP back, and the cluster goes back to
// keepalived (render.keepalived: true) and to the agent again. No probe
// may be lost in any step, and no file of the other daemon may stay.
func TestMigrateFromKeepalived(t *testing.T) {
	t.Parallel()
	// The seed's state exactly: hac logs in as admin, root login is off.
	bed := nodes.New(t, nodes.Spec{Nodes: []string{"lb1", "lb2"}, Login: "admin", OwnNetwork: true, Setup: append(nodes.SeedState("lb1"), nodes.NoRootLogin)})
	r := &realPair{t: t, bed: bed, hac: nodes.HacBinary(t), dir: t.TempDir(), lb1: bed.Node("lb1"), lb2: bed.Node("lb2")}
	both := []*nodes.Node{r.lb1, r.lb2}
	for _, n := range both {
		if got := strings.TrimSpace(n.Exec("systemctl is-active keepalived")); got != "active" {
			t.Fatalf("%s: keepalived is %q before the migration, want active", n, got)
		}
	}
	if !bed.Answers(seedVIP, 10*time.Second) {
		t.Fatal("the seed's VIP does not answer before the migration")
	}
	cue := filepath.Join(r.dir, "cluster.cue")

	// 1. Import, vet, plan: nothing changes on the nodes.
	var planOut string
	imp := r.probe("1. import, vet, plan", func(*netns.Prober) {
		args := []string{"import", "keepalived", "-F", "none", "--known-hosts", r.bed.KnownHosts, "-i", r.bed.Key, "--agent", "--cluster", "ncp-lb", "-o", cue}
		for _, n := range both {
			args = append(args, n.Name+"=ssh://admin@"+n.Addr.String())
		}
		out, err := r.runPlain(args...)
		t.Logf("hac import keepalived:\n%s", out)
		if err != nil {
			t.Fatalf("hac import: %v", err)
		}
		for _, want := range []string{"eth1:0", "198.18.0.102"} {
			if !strings.Contains(out, want) {
				t.Errorf("hac import does not report the static alias (%q):\n%s", want, out)
			}
		}
		if b, _ := os.ReadFile(cue); strings.Count(string(b), `user: "admin", become: "sudo"`) != 2 {
			t.Errorf("the imported description does not say how the nodes were reached (admin, through sudo):\n%s", b)
		}
		if out, err := r.runPlain("vet", r.dir); err != nil {
			t.Fatalf("hac vet: %v\n%s", err, out)
		}
		planOut, _ = r.run("plan", r.dir)
		t.Logf("hac plan:\n%s", planOut)
	}, 0)
	for _, want := range []string{"will stop first: systemctl disable --now keepalived", "-auto eth1:0", "keepalived stops here"} {
		if !strings.Contains(planOut, want) {
			t.Errorf("hac plan does not say %q", want)
		}
	}

	// 2. Apply: from keepalived to the agent.
	t.Logf("client's neighbours before the migration: %s; lb1 %s; lb2 %s", bed.Exec(bed.Client, "ip", "neigh"),
		r.lb1.Exec("cat /sys/class/net/eth1/address"), r.lb2.Exec("cat /sys/class/net/eth1/address"))
	mig := r.probe("2. apply: keepalived to the agent", func(p *netns.Prober) { gaps(t, p, func() { r.apply("migration") }) }, 500*time.Millisecond)
	if t.Failed() {
		for _, n := range both {
			t.Logf("%s's journal:\n%s", n, n.Exec("sudo -n journalctl -b -o short-precise --no-pager -u keepalived -u hac-agent | tail -n 40"))
		}
	}
	for _, n := range both {
		if got := strings.TrimSpace(n.Exec("systemctl is-enabled keepalived; systemctl is-active keepalived; true")); got != "disabled\ninactive" {
			t.Errorf("%s: keepalived is %q after the migration, want disabled and inactive", n, got)
		}
		if got := strings.TrimSpace(n.Exec("systemctl is-enabled hac-agent; systemctl is-active hac-agent")); got != "enabled\nactive" {
			t.Errorf("%s: hac-agent is %q, want enabled and active", n, got)
		}
		if out := n.Exec("sudo -n cat /etc/network/interfaces"); strings.Contains(out, "eth1:0") || !strings.Contains(out, "iface eth1 inet static") {
			t.Errorf("%s: /etc/network/interfaces after the migration:\n%s\nwant eth1 without the eth1:0 alias", n, out)
		}
		if out := n.Exec("ip -o addr show dev eth1"); strings.Contains(out, "198.18.0.102/24") || !strings.Contains(out, "state UP") && !strings.Contains(out, "198.18.0.") {
			t.Errorf("%s: eth1 after the migration: %s", n, out)
		}
	}
	r.holders("after the migration", "lb1")

	// 3. The rebooted master takes the VIP back.
	back := r.probe("3. reboot of the master", func(*netns.Prober) {
		r.lb1.Reboot()
		bed.Eventually(60*time.Second, "lb1 does not take the VIP back", func() bool { return sudoAgentState(r.lb1) == "MASTER" })
	}, 500*time.Millisecond)
	r.holders("after the reboot", "lb1")

	// 4. Back to keepalived, rendered by hac.
	r.edit(cue, "keepalived: false", "keepalived: true")
	toKa := r.probe("4. apply: the agent to keepalived", func(p *netns.Prober) { gaps(t, p, func() { r.apply("back to keepalived") }) }, 4*time.Second)
	for _, n := range both {
		// The unit file is gone: is-enabled says nothing on stdout.
		if got := strings.TrimSpace(n.Exec("systemctl is-enabled hac-agent 2>/dev/null; systemctl is-active hac-agent; systemctl is-enabled keepalived; systemctl is-active keepalived; true")); got != "inactive\nenabled\nactive" {
			t.Errorf("%s: hac-agent and keepalived are %q, want the agent's unit gone and inactive, keepalived enabled and active", n, got)
		}
		if out := n.Exec("sudo -n ls /etc/hac /etc/systemd/system/hac-agent.service 2>&1; true"); !strings.Contains(out, "No such file") || strings.Contains(out, "agent.json") {
			t.Errorf("%s: the agent's files stay after the switch to keepalived: %s", n, out)
		}
	}
	r.holders("on keepalived", "lb1")

	// 5. And to the agent again.
	r.edit(cue, "keepalived: true", "keepalived: false")
	toAgent := r.probe("5. apply: keepalived to the agent again", func(p *netns.Prober) { gaps(t, p, func() { r.apply("to the agent again") }) }, 500*time.Millisecond)
	for _, n := range both {
		if got := strings.TrimSpace(n.Exec("systemctl is-enabled keepalived; systemctl is-active keepalived; systemctl is-active hac-agent; true")); got != "disabled\ninactive\nactive" {
			t.Errorf("%s: keepalived and the agent are %q, want keepalived disabled and inactive, the agent active", n, got)
		}
		if out := n.Exec("sudo -n ls /etc/keepalived/keepalived.conf 2>&1; true"); !strings.Contains(out, "No such file") {
			t.Errorf("%s: keepalived.conf stays after the switch to the agent: %s", n, out)
		}
	}
	r.holders("on the agent again", "lb1")
	for _, n := range both {
		if out := n.Exec("sudo -n find /etc /var/lib/hac/takeover -name '.*.hac-tmp-*' -o -name takeover 2>/dev/null; true"); strings.TrimSpace(out) != "" {
			t.Errorf("%s: files left behind: %s", n, out)
		}
	}
	if out, err := r.run("plan", r.dir); err != nil || !strings.Contains(out, "No changes") {
		t.Errorf("hac plan after the switches: %v\n%s\nwant no changes", err, out)
	}

	for _, s := range []struct {
		step string
		res  netns.ProbeResult
	}{{"import, vet, plan", imp}, {"keepalived to the agent", mig}, {"reboot of the master", back}, {"the agent to keepalived", toKa}, {"keepalived to the agent again", toAgent}} {
		if s.res.Lost != 0 {
			t.Errorf("%s lost %d probes (longest gap %v), want 0", s.step, s.res.Lost, s.res.MaxGap)
		}
	}
	t.Logf("figures: import+vet+plan %d lost; keepalived to agent %d lost (gap %v); reboot of the master %d lost (gap %v); agent to keepalived %d lost (gap %v); keepalived to agent again %d lost (gap %v)",
		imp.Lost, mig.Lost, mig.MaxGap.Round(time.Millisecond), back.Lost, back.MaxGap.Round(time.Millisecond),
		toKa.Lost, toKa.MaxGap.Round(time.Millisecond), toAgent.Lost, toAgent.MaxGap.Round(time.Millisecond))
}

// gaps runs do and logs when the replies stop for more than 50 ms, with
// the time (to match the nodes' journals).
func gaps(t *testing.T, p *netns.Prober, do func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		last, at := p.Replies(), time.Now()
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if n := p.Replies(); n != last {
				if d := time.Since(at); d > 50*time.Millisecond {
					t.Logf("no reply for %v, from %s", d.Round(time.Millisecond), at.UTC().Format("15:04:05.000"))
				}
				last, at = n, time.Now()
			}
		}
	}()
	do()
	done <- struct{}{}
}

// edit replaces old by new in the file, failing the test when old is not there.
func (r *realPair) edit(file, old, new string) {
	r.t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		r.t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		r.t.Fatalf("%s has no %q:\n%s", file, old, b)
	}
	if err := os.WriteFile(file, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// runPlain runs the hac CLI in the client namespace without SSH flags.
func (r *realPair) runPlain(args ...string) (string, error) {
	out, err := r.bed.Command(r.bed.Client, r.hac, args...).CombinedOutput()
	return string(out), err
}

// sudoAgentState is agentState for a node reached as a user with sudo.
func sudoAgentState(n *nodes.Node) string {
	return agentStateBy(n, "sudo -n "+deploy.DefaultStatusCommand)
}

// TestRendererSwitchOnRealNodes: the seed's cluster rendered for netplan,
// then ifupdown, then netplan again, each applied by hac: every switch
// leaves exactly one network file for eth1 (the other renderer's is
// removed once the new one is active), and after a reboot of the master
// eth1 comes up from it and the master takes the VIP back. The loss of
// each switch is measured, not asserted: ifupdown's activation takes eth1
// down on the master (docs/deploy.md).
func TestRendererSwitchOnRealNodes(t *testing.T) {
	t.Parallel()
	r := newRealPair(t, seedCluster(t, [2]string{`render: network: "ifupdown"`, `render: network: "netplan"`}))
	r.apply("netplan")
	cue := filepath.Join(r.dir, "cluster.cue")
	netplanFile, ifupdownFile := netplan.Path("eth1"), ifupdown.Path("eth1")
	var figures []string
	for _, s := range []struct{ from, to, keep, gone string }{
		{`network: "netplan"`, `network: "ifupdown"`, ifupdownFile, netplanFile},
		{`network: "ifupdown"`, `network: "netplan"`, netplanFile, ifupdownFile},
	} {
		r.edit(cue, s.from, s.to)
		res := r.probe("switch to "+s.to, func(*netns.Prober) { r.apply(s.to) }, 300*time.Millisecond)
		figures = append(figures, fmt.Sprintf("%s: %d lost (gap %v)", s.to, res.Lost, res.MaxGap.Round(time.Millisecond)))
		for _, n := range []*nodes.Node{r.lb1, r.lb2} {
			if out := n.Exec("test -e " + s.keep + " && ! test -e " + s.gone + " && echo ok; true"); strings.TrimSpace(out) != "ok" {
				t.Errorf("%s after the switch to %s: want %s and not %s", n, s.to, s.keep, s.gone)
			}
		}
		r.lb1.Reboot()
		r.bed.Eventually(60*time.Second, "lb1 does not take the VIP back after the reboot", func() bool { return agentState(r.lb1) == "MASTER" })
		if out := r.lb1.Exec("ip -o -4 addr show dev eth1"); !strings.Contains(out, "198.18.0.11/24") {
			t.Errorf("after the switch to %s and a reboot, lb1's eth1 has %q, want 198.18.0.11/24", s.to, out)
		}
	}
	t.Logf("figures: switches %s", strings.Join(figures, "; "))
}
