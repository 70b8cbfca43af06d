package deploy_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hac-project/hac/deploy/sshconn"
	"github.com/hac-project/hac/internal/netns"
	"github.com/hac-project/hac/internal/nodes"
)

// hacFootprint lists what hac creates or changes on a node, as any user
// can see it: the same text before and after means hac changed none of it.
const hacFootprint = `ls -la --time-style=full-iso /etc/hac /usr/local/bin /usr/local/sbin /var/lib/hac /etc/systemd/system /etc/network/interfaces.d 2>&1; systemctl is-active hac-agent 2>&1; true`

// TestSudoLoginOnRealNodes: the seed's login, a user with sudo and root
// login off, on two real nodes. A node whose sudo wants a password is
// refused by plan and apply before anything changes on either node, with
// the sudoers line that fixes it; that line, run by the user, fixes it.
// Then hac, run as that user through sudo -n, installs hac-agent where it
// is missing (an older build first; it removes the whole hac an older apply
// installed for the agent), says the version differs and upgrades it, writes agent.json root-only, starts the agents; and hac destroy
// removes every trace of hac, backups first, the VIP released at the end.
func TestSudoLoginOnRealNodes(t *testing.T) {
	t.Parallel()
	bed := nodes.New(t, nodes.Spec{
		Nodes: []string{"lb1", "lb2"},
		Login: "admin",
		Setup: []string{
			"useradd -m -s /bin/bash admin",
			"echo 'admin:admin-pw' | chpasswd",
			// lb1 lets admin sudo without a password, lb2 wants one.
			`if [ "$NODE" = lb1 ]; then echo 'admin ALL=(ALL) NOPASSWD:ALL'; else echo 'admin ALL=(ALL) ALL'; fi > /etc/sudoers.d/admin && chmod 440 /etc/sudoers.d/admin`,
			"echo 'PermitRootLogin no' > /etc/ssh/sshd_config.d/no-root.conf",
		},
	})
	r := &realPair{t: t, bed: bed, hac: nodes.HacBinary(t), dir: t.TempDir(), lb1: bed.Node("lb1"), lb2: bed.Node("lb2")}
	r.write(seedCluster(t,
		[2]string{`host: "198.18.0.11", user: "root"}`, `host: "198.18.0.11", user: "admin", become: "sudo"}`},
		[2]string{`host: "198.18.0.12", user: "root"}`, `host: "198.18.0.12", user: "admin", become: "sudo"}`}))
	if _, err := r.lb1.Run("sudo -n true"); err != nil {
		t.Fatalf("lb1: sudo -n: %v", err)
	}
	if _, err := r.lb2.Run("sudo -n true"); err == nil {
		t.Fatal("lb2: sudo -n works without a password: the test needs it to want one")
	}

	// 1. The sudo that wants a password: refused before any change.
	before := map[*nodes.Node]string{r.lb1: r.lb1.Exec(hacFootprint), r.lb2: r.lb2.Exec(hacFootprint)}
	out, err := r.run("plan", r.dir)
	t.Logf("hac plan, lb2's sudo wants a password:\n%s", out)
	fixRe := regexp.MustCompile(`ncp-lb/lb2 \(admin@198\.18\.0\.12\): error: .*check sudo: exit status 1: (?:sudo: unable to resolve host.*\n\s*)?sudo: a password is required: .*give admin a NOPASSWD rule on the node \(as root: (echo 'admin ALL=\(root\) NOPASSWD: ALL' > /etc/sudoers.d/hac && chmod 0440 /etc/sudoers.d/hac); check it with visudo -c\)`)
	m := fixRe.FindStringSubmatch(out)
	if code := exitCode(err); code != 4 || m == nil {
		t.Fatalf("hac plan: exit %d, want 4 and lb2's error with the fix", code)
	}
	out, err = r.run("apply", "--verify-timeout", "60s", r.dir)
	t.Logf("hac apply, lb2's sudo wants a password:\n%s", out)
	if code := exitCode(err); code != 4 || !fixRe.MatchString(out) || !strings.Contains(out, "skipped") {
		t.Fatalf("hac apply: exit %d, want 4, lb2's error and lb1 skipped", code)
	}
	for n, was := range before {
		if now := n.Exec(hacFootprint); now != was {
			t.Errorf("%s changed although the apply was refused:\nbefore:\n%s\nafter:\n%s", n, was, now)
		}
	}
	// The user runs the line hac gave (typing the password once).
	r.lb2.Exec("echo admin-pw | sudo -S -p '' sh -c " + sshconn.Quote(m[1]))
	if _, err := r.lb2.Run("sudo -n true"); err != nil {
		t.Fatalf("lb2: the line hac gave did not fix sudo: %v", err)
	}

	// 2. hac-agent missing: an older hac installs its hac-agent. On lb1 an
	// apply of a hac from before hac-agent left itself as the agent,
	// recorded: it goes once hac-agent runs.
	old := nodes.BuildRelease(t, t.TempDir(), "v0.0.1-old")
	oldVersion := strings.TrimSpace(runOut(t, filepath.Join(filepath.Dir(old), "hac-agent"), "version"))
	newVersion := strings.TrimSpace(runOut(t, filepath.Join(filepath.Dir(r.hac), "hac-agent"), "version"))
	if oldVersion == newVersion || !strings.HasPrefix(oldVersion, "hac-agent v0.0.1-old") {
		t.Fatalf("the old and new hac-agent say %q and %q", oldVersion, newVersion)
	}
	r.lb1.Exec("sudo -n sh -c " + sshconn.Quote("mkdir -p /var/lib/hac && cp /bin/true /usr/local/bin/hac && echo 'hac apply installed /usr/local/bin/hac: hac destroy removes it' > /var/lib/hac/installed-hac"))
	newHac := r.hac
	r.hac = old
	out, err = r.run("plan", r.dir)
	t.Logf("hac plan, no hac-agent on the nodes:\n%s", out)
	if code := exitCode(err); code != 2 || strings.Count(out, "hac-agent missing: installs "+oldVersion) != 2 ||
		strings.Count(out, "remove /usr/local/bin/hac") != 1 {
		t.Errorf("hac plan: exit %d, want 2, \"hac-agent missing\" for both nodes and lb1's old hac removed", code)
	}
	out, err = r.run("apply", "--verify-timeout", "60s", r.dir)
	t.Logf("hac apply (old hac):\n%s", out)
	if err != nil {
		t.Fatalf("hac apply (old hac): %v", err)
	}
	installed := func(agentVersion string) {
		t.Helper()
		for _, n := range []*nodes.Node{r.lb1, r.lb2} {
			for _, prog := range []string{"hac-agent", "hac-metrics"} {
				want := prog + strings.TrimPrefix(agentVersion, "hac-agent")
				if got := strings.TrimSpace(n.Exec("/usr/local/sbin/" + prog + " version")); got != want {
					t.Errorf("%s has %s %q, want %q", n, prog, got, want)
				}
			}
		}
	}
	installed(oldVersion)
	if left := r.lb1.Exec("sudo -n ls /usr/local/bin/hac /var/lib/hac/installed-hac 2>/dev/null; true"); left != "" {
		t.Errorf("lb1: the old hac is left: %q", left)
	}

	// 3. hac version differs: the test's hac upgrades it.
	r.hac = newHac
	out, err = r.run("plan", r.dir)
	t.Logf("hac plan, an older hac on the nodes:\n%s", out)
	if code := exitCode(err); code != 2 || strings.Count(out, "hac-agent version differs: the node runs "+oldVersion+", installs "+newVersion) != 2 ||
		strings.Count(out, "update /usr/local/sbin/hac-agent (0755, binary)") != 2 || strings.Count(out, "update /usr/local/sbin/hac-metrics (0755, binary)") != 2 ||
		strings.Count(out, "hac-metrics version differs") != 2 {
		t.Errorf("hac plan: exit %d, want 2 and \"hac-agent version differs\", \"hac-metrics version differs\" for both nodes", code)
	}
	// The upgrade restarts both agents, rolling: the backup first, then
	// the master, which hands over first.
	up := r.probe("upgrade", func(*netns.Prober) { r.apply("upgrade") }, 300*time.Millisecond)
	if up.Lost != 0 {
		t.Errorf("the rolling upgrade lost %d probes (longest gap %v), want 0", up.Lost, up.MaxGap)
	}
	r.holders("after the upgrade", "lb1")
	if out, err := r.run("status", r.dir); err != nil {
		t.Errorf("hac status through sudo: %v\n%s", err, out)
	}
	installed(newVersion)
	for _, n := range []*nodes.Node{r.lb1, r.lb2} {
		if got := strings.TrimSpace(n.Exec("systemctl is-active hac-agent; stat -c '%a %U:%G' /etc/hac/agent.json /usr/local/sbin/hac-agent /usr/local/sbin/hac-metrics /etc/systemd/system/hac-agent.service")); got != "active\n600 root:root\n755 root:root\n755 root:root\n644 root:root" {
			t.Errorf("%s: agent and files: %q", n, got)
		}
		// The login user cannot read the secret, and no staged copy is left.
		if _, err := n.Run("cat /etc/hac/agent.json"); err == nil {
			t.Errorf("%s: admin can read agent.json", n)
		}
		if got := strings.TrimSpace(n.Exec("sudo -n find /etc /usr/local/sbin -name '.*.hac-tmp-*'")); got != "" {
			t.Errorf("%s: staged files left: %s", n, got)
		}
	}
	out, err = r.run("plan", r.dir)
	if code := exitCode(err); code != 0 {
		t.Errorf("hac plan after the upgrade: exit %d, want 0 (up to date):\n%s", code, out)
	}

	// 4. hac destroy: a dry run, then the removal, backups first.
	out, err = r.run("destroy", r.dir)
	t.Logf("hac destroy (dry run):\n%s", out)
	if err != nil || !strings.Contains(out, "Dry run: nothing was changed") || strings.Count(out, "stop and disable hac-agent.service") != 2 {
		t.Fatalf("hac destroy (dry run): %v", err)
	}
	if got := strings.TrimSpace(r.lb1.Exec("systemctl is-active hac-agent")); got != "active" {
		t.Fatalf("the dry run stopped the agent: %q", got)
	}
	p := r.bed.Probe(seedVIP, 10*time.Millisecond)
	out, err = r.run("destroy", "--yes", r.dir)
	res := p.Stop()
	t.Logf("hac destroy --yes:\n%s\nprobes while destroying: %v", out, res)
	t.Logf("figures: rolling upgrade through sudo %d lost (gap %v); hac destroy --yes %v (the VIP answered until the master's agent stopped, last)",
		up.Lost, up.MaxGap.Round(time.Millisecond), res)
	if err != nil || !strings.Contains(out, "hac removed from 2 node(s). The VIPs stop being served") {
		t.Fatalf("hac destroy --yes: %v", err)
	}
	if i1, i2 := strings.Index(out, "ncp-lb/lb2"), strings.Index(out, "ncp-lb/lb1"); i1 < 0 || i2 < i1 {
		t.Errorf("destroy did not handle the backup (lb2) before the master (lb1)")
	}
	r.holders("after hac destroy")
	for _, n := range []*nodes.Node{r.lb1, r.lb2} {
		left := n.Exec(`for p in /etc/hac /usr/local/sbin/hac-agent /usr/local/sbin/hac-metrics /var/lib/hac /etc/systemd/system/hac-agent.service /etc/systemd/system/multi-user.target.wants/hac-agent.service; do [ -e "$p" ] && echo "$p"; done
systemctl list-unit-files 'hac*' --no-legend; systemctl list-units --all 'hac*' --no-legend --plain; pgrep -a -x hac-agent; true`)
		if strings.TrimSpace(left) != "" {
			t.Errorf("%s: hac left after destroy:\n%s", n, left)
		}
		if got := n.Exec("cat /etc/network/interfaces.d/hac-eth1"); !strings.Contains(got, "eth1") {
			t.Errorf("%s: the network file was not kept: %q", n, got)
		}
	}
}

// exitCode is the exit status of a command's error (0 for nil).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// runOut runs a local program and returns its output.
func runOut(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}
