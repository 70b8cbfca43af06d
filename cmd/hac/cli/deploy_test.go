package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/deploy/sshtest"
)

// seedCUE is the blog post's cluster; its nodes are ssh_config aliases.
const seedCUE = `package hac

clusters: "ncp-lb": {
	network: {interface: "eth1", subnet: "192.168.200.0/24"}
	nodes: {
		lb1: {address: "192.168.200.11", ssh: {host: "lb1.example.net"}}
		lb2: {address: "192.168.200.12", ssh: {host: "lb2.example.net"}}
	}
	vrrp: VI_1: {
		virtual_router_id: 51
		priority: {lb1: 200, lb2: 100}
		advert_int: "1s"
		auth: {type: "PASS", pass: {env: "NCP_LB_PASS"}}
		vips: ["192.168.200.102"]
	}
	render: network: "ifupdown"
}
`

// deployRig is two real sshd standing in for lb1 and lb2, reached through
// an ssh_config that maps the aliases to them.
type deployRig struct {
	dir, root, knownHosts string
	servers               []*sshtest.Server
	flags                 []string
}

func newDeployRig(t *testing.T) *deployRig {
	t.Helper()
	r := &deployRig{dir: t.TempDir(), root: t.TempDir()}
	key, pub := sshtest.ClientKey(t, r.dir)
	r.knownHosts = filepath.Join(r.dir, "known_hosts")
	var conf strings.Builder
	for _, name := range []string{"lb1", "lb2"} {
		s := sshtest.Start(t, sshtest.Options{ClientKeys: []string{pub}})
		r.servers = append(r.servers, s)
		fmt.Fprintf(&conf, "Host %s.example.net\n  HostName %s\n  Port %d\n  User root\n  IdentityFile %s\n\n", name, s.Host, s.Port, key)
	}
	cfg := filepath.Join(r.dir, "ssh_config")
	if err := os.WriteFile(cfg, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(r.dir, "ncp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "ncp", "cluster.cue"), []byte(seedCUE), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NCP_LB_PASS", "pass1234")
	t.Setenv("SSH_AUTH_SOCK", "")
	t.Chdir(r.dir)
	r.flags = []string{"--ssh-config", cfg, "--known-hosts", r.knownHosts, "--root", r.root + "/{node}", "--connect-timeout", "5s"}
	return r
}

// hac runs the CLI in-process.
func (r *deployRig) hac(t *testing.T, wantCode int, args ...string) (stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	flags := r.flags
	if args[0] == "plan" || args[0] == "apply" {
		flags = append(flags, "--agent-binary", testAgent(t))
	}
	code := run(append(args, flags...), &o, &e)
	if code != wantCode {
		t.Fatalf("hac %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, o.String(), e.String())
	}
	for _, out := range []string{o.String(), e.String()} {
		if strings.Contains(out, "pass1234") {
			t.Fatalf("hac %s printed the auth pass:\n%s", strings.Join(args, " "), out)
		}
	}
	return o.String(), e.String()
}

func TestPlanApplyStatusCLI(t *testing.T) {
	r := newDeployRig(t)

	// Unknown hosts: refused, with the fingerprint and how to trust them.
	out, errOut := r.hac(t, exitcode.Failed, "plan", "ncp")
	for _, s := range r.servers {
		if fp := ssh.FingerprintSHA256(s.HostKey); !strings.Contains(out, fp) {
			t.Errorf("plan output does not show fingerprint %s:\n%s", fp, out)
		}
	}
	if !strings.Contains(out, "--accept-new") || !strings.Contains(errOut, "could not plan 2 node(s)") {
		t.Errorf("plan output:\n%s\nstderr:\n%s", out, errOut)
	}

	// --accept-new records them; the plan shows the files to create.
	out, _ = r.hac(t, exitcode.Changes, "plan", "--accept-new", "ncp")
	t.Logf("hac plan:\n%s", out)
	for _, want := range []string{
		"ncp-lb/lb1 (lb1.example.net): 7 file(s) change",
		"create /usr/local/sbin/hac-agent (0755, binary)",
		"create /usr/local/sbin/hac-metrics (0755, binary)",
		"hac-agent missing: installs hac-agent",
		"; hac-metrics missing: installs hac-metrics",
		"create /etc/hac/agent.json (0600, secret changed (content not shown))",
		"+++ build:/etc/network/interfaces.d/hac-eth1",
		"+    address 192.168.200.11/24",
		"will run: systemctl daemon-reload && systemctl enable hac-agent && systemctl restart hac-agent",
		"2 of 2 node(s) to change.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan does not contain %q:\n%s", want, out)
		}
	}
	if b, _ := os.ReadFile(r.knownHosts); strings.Count(string(b), "\n") != 2 {
		t.Errorf("known_hosts after --accept-new:\n%s", b)
	}

	// Apply (no activation: this machine is not a node), backup first.
	out, errOut = r.hac(t, exitcode.OK, "apply", "--no-activate", "ncp")
	t.Logf("hac apply:\n%s%s", errOut, out)
	if i, j := strings.Index(errOut, "ncp-lb/lb2: applied"), strings.Index(errOut, "ncp-lb/lb1: applied"); i < 0 || j < i {
		t.Errorf("rolling order: want lb2 (backup) applied before lb1:\n%s", errOut)
	}
	fi, err := os.Stat(filepath.Join(r.root, "lb1", "etc/hac/agent.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("agent.json on lb1: %v %v", fi, err)
	}
	for _, prog := range []string{"hac-agent", "hac-metrics"} {
		if out, err := exec.Command(filepath.Join(r.root, "lb1", "usr/local/sbin", prog), "version").Output(); err != nil || !strings.HasPrefix(string(out), prog+" ") {
			t.Errorf("%s on lb1: %q %v", prog, out, err)
		}
	}
	if !strings.Contains(out, "applied") {
		t.Errorf("summary:\n%s", out)
	}

	// Idempotent: nothing to do, and it says so.
	r.hac(t, exitcode.OK, "plan", "ncp")
	out, _ = r.hac(t, exitcode.OK, "apply", "--no-activate", "ncp")
	if !strings.Contains(out, "No changes: 2 node(s) already up to date.") {
		t.Errorf("second apply:\n%s", out)
	}

	// The same from a built tree, as JSON.
	run([]string{"build", "-o", "out", "ncp"}, &bytes.Buffer{}, &bytes.Buffer{})
	out, _ = r.hac(t, exitcode.OK, "plan", "--from", "out", "--format", "json", "ncp-lb")
	var plan struct {
		Changed bool
		Nodes   []struct{ Node string }
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil || plan.Changed || len(plan.Nodes) != 2 {
		t.Errorf("plan --format json: %v\n%s", err, out)
	}

	// Cluster names instead of paths: the tree in ./out.
	r.hac(t, exitcode.OK, "plan", "ncp-lb")
	if _, errOut := r.hac(t, exitcode.Usage, "plan", "no-such-cluster"); !strings.Contains(errOut, `no cluster "no-such-cluster" (clusters: [ncp-lb])`) {
		t.Errorf("unknown cluster: %s", errOut)
	}

	// hac status: no agent answers here, which is drift.
	out, _ = r.hac(t, exitcode.Failed, "status", "--agent-status-command", "false", "ncp")
	if !strings.Contains(out, "DRIFT") || !strings.Contains(out, "instance VI_1 has no master") {
		t.Errorf("status:\n%s", out)
	}
}
