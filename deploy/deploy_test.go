package deploy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/deploy"
	"github.com/hac-project/hac/deploy/sshconn"
	"github.com/hac-project/hac/deploy/sshtest"
	"github.com/hac-project/hac/internal/testenv"
	"github.com/hac-project/hac/targets"
	"github.com/hac-project/hac/targets/manifest"
)

const password = "pass1234"

// rig is one real sshd and a Deployer reaching it under a temporary root.
type rig struct {
	t      *testing.T
	srv    *sshtest.Server
	root   string
	dialer *sshconn.Dialer
	log    *testenv.Buffer
}

func newRig(t *testing.T, o sshtest.Options) *rig {
	t.Helper()
	dir := t.TempDir()
	key, pub := sshtest.ClientKey(t, dir)
	o.ClientKeys = append(o.ClientKeys, pub)
	r := &rig{t: t, root: t.TempDir(), log: &testenv.Buffer{}}
	if o.AuthorizedKeysFile != "" {
		o.AuthorizedKeysFile = r.root + o.AuthorizedKeysFile
		os.MkdirAll(filepath.Dir(o.AuthorizedKeysFile), 0o755)
	}
	r.srv = sshtest.Start(t, o)
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(r.srv.KnownHostsLine()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := sshconn.NewDialer(sshconn.Options{ConfigFile: "none", KnownHosts: []string{kh}, IdentityFiles: []string{key}, NoAgent: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r.dialer = d
	return r
}

func (r *rig) deployer(mod func(*deploy.Options)) *deploy.Deployer {
	o := deploy.Options{Root: r.root, ConfirmTimeout: 2 * time.Second, VerifyTimeout: 2 * time.Second, VerifyInterval: 100 * time.Millisecond, Progress: deploy.NewProgress(r.log, false)}
	if mod != nil {
		mod(&o)
	}
	return deploy.New(r.dialer, o)
}

// file is one file of a hand-written node tree.
type file struct {
	path, data   string
	mode         uint32
	owner, group string
	activate     string
	deactivate   string
	network      bool
	secret       bool
}

// node builds a one-node tree reaching the rig's sshd.
func (r *rig) tree(files ...file) *deploy.Tree {
	return r.treeOf("c1", "n1", 0, nil, files...)
}

func (r *rig) treeOf(cluster, node string, order int, expect []manifest.Expect, files ...file) *deploy.Tree {
	r.t.Helper()
	m := &manifest.Manifest{Format: manifest.FormatVersion, Cluster: cluster, Node: node, Order: order, Expect: expect,
		SSH: manifest.SSH{Host: r.srv.Host, Port: r.srv.Port, User: "root"}}
	n := &deploy.Node{Manifest: m, Files: map[string][]byte{}}
	for _, f := range files {
		m.Files = append(m.Files, manifest.File{Path: f.path, Mode: manifest.Mode(f.mode), Owner: f.owner, Group: f.group, SHA256: manifest.Digest([]byte(f.data), f.secret),
			Activate: f.activate, Deactivate: f.deactivate, Network: f.network, Secret: f.secret})
		n.Files[f.path] = []byte(f.data)
	}
	t, err := deploy.NewTree([]*deploy.Node{n})
	if err != nil {
		r.t.Fatal(err)
	}
	return t
}

// put writes a file under the rig's root, as if it were on the node.
func (r *rig) put(path, data string, mode os.FileMode) {
	r.t.Helper()
	p := r.root + path
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) read(path string) (string, os.FileMode) {
	r.t.Helper()
	p := r.root + path
	b, err := os.ReadFile(p)
	if err != nil {
		r.t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b), fi.Mode().Perm()
}

// chown gives a file under the rig's root to a user and group, by name.
func (r *rig) chown(path, owner, group string) {
	r.t.Helper()
	u, err := user.Lookup(owner)
	if err != nil {
		r.t.Fatal(err)
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		r.t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	if err := os.Chown(r.root+path, uid, gid); err != nil {
		r.t.Fatal(err)
	}
}

// owner returns "owner:group" of a file under the rig's root, by name.
func (r *rig) owner(path string) string {
	r.t.Helper()
	fi, err := os.Stat(r.root + path)
	if err != nil {
		r.t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	u, err := user.LookupId(strconv.Itoa(int(st.Uid)))
	if err != nil {
		r.t.Fatal(err)
	}
	g, err := user.LookupGroupId(strconv.Itoa(int(st.Gid)))
	if err != nil {
		r.t.Fatal(err)
	}
	return u.Username + ":" + g.Name
}

func plan(t *testing.T, d *deploy.Deployer, tree *deploy.Tree) *deploy.Plan {
	t.Helper()
	p := d.Plan(context.Background(), tree)
	t.Cleanup(p.Close)
	if err := p.Err(); err != nil {
		t.Fatalf("plan: %v\n%s", err, p.Nodes[0].Error)
	}
	return p
}

func outcomes(r *deploy.Result) []string {
	var out []string
	for _, n := range r.Nodes {
		out = append(out, fmt.Sprintf("%s/%s %s %s", n.Cluster, n.Node, n.Outcome, n.Error))
	}
	return out
}

// tempFiles lists hac's staging files left below dir.
func tempFiles(t *testing.T, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".hac-tmp-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

const appOld = "listen 80\nworkers 2\nlog info\n"
const appNew = "listen 80\nworkers 4\nlog info\n"

func agentJSON(pass string) string {
	return fmt.Sprintf("{\n  \"format\": 1,\n  \"auth\": {\"type\": \"PASS\", \"pass\": %q}\n}\n", pass)
}

func TestPlanApplyThenNoOp(t *testing.T) {
	r := newRig(t, sshtest.Options{})
	r.put("/etc/app/app.conf", appOld, 0o644)
	r.put("/etc/keepalived/keepalived.conf", "vrrp_instance VI_1 {\n  auth_pass oldpass9\n}\n", 0o644)
	act := `echo run >> "$HAC_ROOT/activations"`
	tree := r.tree(
		file{path: "/etc/app/app.conf", data: appNew, mode: 0o644, activate: act},
		file{path: "/etc/app/extra.conf", data: "x\n", mode: 0o640, activate: act},
		file{path: "/etc/hac/agent.json", data: agentJSON(password), mode: 0o600, secret: true, activate: "true"},
		file{path: "/etc/keepalived/keepalived.conf", data: "vrrp_instance VI_1 {\n  auth_pass " + password + "\n}\n", mode: 0o600},
	)
	d := r.deployer(nil)
	p := plan(t, d, tree)
	var text, js bytes.Buffer
	p.WriteText(&text, false)
	p.WriteJSON(&js)
	for _, want := range []string{
		"update /etc/app/app.conf (0644)",
		"create /etc/app/extra.conf (0640)",
		"create /etc/hac/agent.json (0600, secret changed (content not shown))",
		"update /etc/keepalived/keepalived.conf (0644 -> 0600)",
		"--- node:/etc/app/app.conf\n+++ build:/etc/app/app.conf\n@@ -1,3 +1,3 @@\n listen 80\n-workers 2\n+workers 4\n log info\n",
		"-  auth_pass ******\n+  auth_pass ******\n",
		"  will run: " + act + "\n  will run: true\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("plan does not contain %q:\n%s", want, text.String())
		}
	}
	res := d.Apply(context.Background(), p)
	if diff := cmp.Diff([]string{"c1/n1 applied "}, outcomes(res)); diff != "" {
		t.Fatalf("outcomes (-want +got):\n%s\n%s", diff, r.log)
	}
	for _, f := range []struct {
		path, data string
		mode       os.FileMode
	}{
		{"/etc/app/app.conf", appNew, 0o644},
		{"/etc/app/extra.conf", "x\n", 0o640},
		{"/etc/hac/agent.json", agentJSON(password), 0o600},
		{"/var/lib/hac/prev/etc/app/app.conf", appOld, 0o644},
	} {
		data, mode := r.read(f.path)
		if data != f.data || mode != f.mode {
			t.Errorf("%s: %q %04o, want %q %04o", f.path, data, mode, f.data, f.mode)
		}
	}
	// Two files share the command: it ran once.
	if got, _ := r.read("/activations"); got != "run\n" {
		t.Errorf("activations = %q, want one run", got)
	}
	if tmp := tempFiles(t, r.root); len(tmp) != 0 {
		t.Errorf("staging files left: %v", tmp)
	}
	// Second time: nothing to do, and it says so.
	p2 := plan(t, d, tree)
	if p2.Changed() {
		t.Errorf("second plan has changes: %+v", p2.Nodes[0].Files)
	}
	res2 := d.Apply(context.Background(), p2)
	var table bytes.Buffer
	res2.WriteTable(&table)
	if !strings.Contains(table.String(), "No changes: 1 node(s) already up to date.") {
		t.Errorf("second apply summary:\n%s", table.String())
	}
	if got, _ := r.read("/activations"); got != "run\n" {
		t.Errorf("second apply activated again: %q", got)
	}
	for name, out := range map[string]string{"plan text": text.String(), "plan json": js.String(), "progress": r.log.String(), "table": table.String()} {
		if strings.Contains(out, password) || strings.Contains(out, "oldpass9") {
			t.Errorf("%s shows a password:\n%s", name, out)
		}
	}
	var decoded struct {
		Changed bool
		Nodes   []deploy.NodePlan
	}
	if err := json.Unmarshal(js.Bytes(), &decoded); err != nil || !decoded.Changed || len(decoded.Nodes[0].Files) != 4 {
		t.Errorf("plan JSON: %v %s", err, js.String())
	}
}

func TestFailingActivationRollsBack(t *testing.T) {
	r := newRig(t, sshtest.Options{})
	r.put("/etc/app/app.conf", appOld, 0o640)
	check := `grep -q "workers 2" "$HAC_ROOT/etc/app/app.conf"` // only the old file passes
	tree := r.tree(
		file{path: "/etc/app/app.conf", data: appNew, mode: 0o644, activate: check},
		file{path: "/etc/app/new.conf", data: "new\n", mode: 0o644, activate: check},
	)
	d := r.deployer(nil)
	res := d.Apply(context.Background(), plan(t, d, tree))
	if res.OK() || res.Nodes[0].Outcome != deploy.RolledBack {
		t.Fatalf("outcome %v, want rolled back\n%s", outcomes(res), r.log)
	}
	if data, mode := r.read("/etc/app/app.conf"); data != appOld || mode != 0o640 {
		t.Errorf("after rollback app.conf = %q %04o, want the old bytes and mode 0640", data, mode)
	}
	if _, err := os.Stat(r.root + "/etc/app/new.conf"); !os.IsNotExist(err) {
		t.Errorf("file created by the failed apply was not removed: %v", err)
	}
	if !strings.Contains(res.Nodes[0].Error, "activate") {
		t.Errorf("error does not name the step: %s", res.Nodes[0].Error)
	}
}

func TestInterruptedTransferLeavesNoHalfWrittenFile(t *testing.T) {
	r := newRig(t, sshtest.Options{})
	r.put("/srv/big.bin", "old\n", 0o644)
	big := strings.Repeat("0123456789abcdef", 1<<18) // 4 MiB
	tree := r.tree(file{path: "/srv/big.bin", data: big, mode: 0o644})
	d := r.deployer(nil)
	p := plan(t, d, tree)
	done := make(chan *deploy.Result)
	go func() { done <- d.Apply(context.Background(), p) }()
	// Kill the connection as soon as the staging file has some bytes.
	for i := 0; ; i++ {
		if tmp := tempFiles(t, r.root); len(tmp) > 0 {
			if fi, err := os.Stat(tmp[0]); err == nil && fi.Size() > 0 {
				r.srv.KillSessions()
				break
			}
		}
		if i > 2000 {
			t.Fatal("the transfer never started")
		}
		time.Sleep(time.Millisecond)
	}
	res := <-done
	if res.Nodes[0].Outcome == deploy.Applied {
		t.Fatalf("apply survived a killed connection: %v", outcomes(res))
	}
	if data, _ := r.read("/srv/big.bin"); data != "old\n" {
		t.Fatalf("target changed by an interrupted transfer (%d bytes)", len(data))
	}
	// The next apply cleans up and completes.
	d2 := r.deployer(nil)
	res = d2.Apply(context.Background(), plan(t, d2, tree))
	if !res.OK() {
		t.Fatalf("re-apply: %v", outcomes(res))
	}
	if data, _ := r.read("/srv/big.bin"); data != big {
		t.Error("re-apply did not write the file")
	}
	if tmp := tempFiles(t, r.root); len(tmp) != 0 {
		t.Errorf("staging files left: %v", tmp)
	}
}

// TestDeadManRestoresAfterLockout applies a "network" change that locks hac
// out (it replaces sshd's authorized_keys): hac cannot reconnect to
// confirm, and the node puts the old file back by itself.
func TestDeadManRestoresAfterLockout(t *testing.T) {
	const keys = "/etc/ssh/authorized_keys"
	r := newRig(t, sshtest.Options{AuthorizedKeysFile: keys})
	old, _ := r.read(keys)
	tree := r.tree(file{path: keys, data: "# nobody\n", mode: 0o600, network: true, activate: "true"})
	d := r.deployer(nil)
	res := d.Apply(context.Background(), plan(t, d, tree))
	if res.Nodes[0].Outcome != deploy.RolledBack || !strings.Contains(res.Nodes[0].Error, "dead-man") {
		t.Fatalf("outcome %v, want rolled back by the dead-man timer\n%s", outcomes(res), r.log)
	}
	// The timer fires about when hac gives up; wait for it (bounded).
	for i := 0; ; i++ {
		if data, _ := r.read(keys); data == old {
			break
		}
		if i > 100 {
			t.Fatal("the dead-man timer did not restore authorized_keys")
		}
		time.Sleep(100 * time.Millisecond)
	}
	plan(t, r.deployer(nil), tree) // hac can log in again
}

func TestDeadManConfirmedWhenReachable(t *testing.T) {
	r := newRig(t, sshtest.Options{})
	tree := r.tree(file{path: "/etc/netplan/60-hac.yaml", data: "network: {}\n", mode: 0o600, network: true, activate: `touch "$HAC_ROOT/applied"`})
	// Time enough to reconnect on a loaded CI machine.
	d := r.deployer(func(o *deploy.Options) { o.ConfirmTimeout = 4 * time.Second })
	res := d.Apply(context.Background(), plan(t, d, tree))
	if !res.OK() {
		t.Fatalf("%v\n%s", outcomes(res), r.log)
	}
	ents, _ := os.ReadDir(r.root + "/var/lib/hac")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "armed-") || strings.HasPrefix(e.Name(), "fired-") {
			t.Errorf("timer still armed or fired: %s", e.Name())
		}
	}
	time.Sleep(5 * time.Second) // past the 4 s timer: it must not fire
	if data, _ := r.read("/etc/netplan/60-hac.yaml"); data != "network: {}\n" {
		t.Error("the timer restored a confirmed change")
	}
}

// statusJSON is what `hac-agent status --format json` would print.
func statusJSON(t *testing.T, node, state, digest string) string {
	t.Helper()
	last := int64(-1) // a master hears no adverts
	if state == "BACKUP" {
		last = 300
	}
	rep := status.Report{Cluster: "c1", Node: node, ConfigDigest: digest, Instances: []status.Instance{{Name: "VI_1", State: state, Priority: 200, BasePriority: 200, LastAdvertMillis: last}}}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestVerifyAndStatus stands in a file for the agent's status answer:
// the SSH transport, the verification loop and the drift checks are real.
func TestVerifyAndStatus(t *testing.T) {
	r := newRig(t, sshtest.Options{})
	conf := agentJSON(password)
	expect := []manifest.Expect{{Instance: "VI_1", State: "MASTER", Priority: 200}}
	tree := r.treeOf("c1", "n1", 0, expect, file{path: config.DefaultPath, data: conf, mode: 0o600, secret: true, activate: "true"})
	statusCmd := func(o *deploy.Options) { o.StatusCommand = `cat "` + r.root + `/status.json"` }

	// An agent in FAULT fails the node: rolled back.
	r.put("/status.json", statusJSON(t, "n1", "FAULT", config.Digest([]byte(conf))), 0o644)
	d := r.deployer(statusCmd)
	res := d.Apply(context.Background(), plan(t, d, tree))
	if res.Nodes[0].Outcome != deploy.RolledBack || !strings.Contains(res.Nodes[0].Error, "instance VI_1: FAULT, want MASTER") {
		t.Fatalf("outcome %v, want rolled back by verification", outcomes(res))
	}
	if _, err := os.Stat(r.root + config.DefaultPath); !os.IsNotExist(err) {
		t.Errorf("agent.json not removed by the rollback: %v", err)
	}

	// BACKUP where MASTER is expected passes the node (its peers decide)
	// but not the cluster check at the end.
	r.put("/status.json", statusJSON(t, "n1", "BACKUP", config.Digest([]byte(conf))), 0o644)
	res = d.Apply(context.Background(), plan(t, d, tree))
	if res.Nodes[0].Outcome != deploy.Failed || !strings.Contains(res.Nodes[0].Error, "cluster check: verify: after 2s: instance VI_1 has no master") {
		t.Fatalf("outcome %v, want failed by the cluster check", outcomes(res))
	}

	r.put("/status.json", statusJSON(t, "n1", "MASTER", config.Digest([]byte(conf))), 0o644)
	res = d.Apply(context.Background(), plan(t, d, tree))
	if !res.OK() {
		t.Fatalf("outcome %v", outcomes(res))
	}
	st := d.Status(context.Background(), tree)
	if !st.OK() {
		t.Errorf("status drift: %v", st.Drift)
	}
	var healthy bytes.Buffer
	st.WriteJSON(&healthy)
	if strings.Contains(healthy.String(), config.Digest([]byte(conf))[7:19]) || strings.Contains(healthy.String(), "config_digest") || !strings.Contains(healthy.String(), `"config_matches": true`) {
		t.Errorf("status JSON holds the agent.json digest, or does not say it matches:\n%s", healthy.String())
	}
	r.put("/status.json", statusJSON(t, "n1", "MASTER", "sha256:0000"), 0o644)
	st = d.Status(context.Background(), tree)
	var out bytes.Buffer
	st.WriteText(&out)
	if st.OK() || !strings.Contains(out.String(), "the agent runs another agent.json than the build") {
		t.Errorf("status does not report the old config:\n%s", out.String())
	}
	// agent.json holds the pass: its unkeyed digest (even a prefix) is an
	// offline oracle for it, and status output lands in CI logs.
	st.WriteJSON(&out)
	for _, leak := range []string{"sha256:0000", config.Digest([]byte(conf))[:19]} {
		if strings.Contains(out.String(), leak) {
			t.Errorf("status output holds the agent.json digest %s:\n%s", leak, out.String())
		}
	}
	if !strings.Contains(out.String(), `"config_matches": false`) {
		t.Errorf("status JSON does not say the config differs:\n%s", out.String())
	}
}

// TestInstallAgent: hac apply installs hac-agent and hac-metrics where
// they are missing, says why in the plan, installs nothing twice, puts a
// hac-metrics missing next to the current hac-agent (a node an older hac
// applied) there alone, and refuses a node of another architecture.
func TestInstallAgent(t *testing.T) {
	r := newRig(t, sshtest.Options{})
	machine, err := exec.Command("uname", "-m").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := append([]byte("\x7fELF fake hac-agent binary\x00"), bytes.Repeat([]byte{1}, 1<<20)...)
	metrics := append([]byte("\x7fELF fake hac-metrics binary\x00"), bytes.Repeat([]byte{2}, 1<<20)...)
	agent := &deploy.Agent{Binary: bin, Version: "hac-agent v1.2.3", Metrics: metrics, MetricsVersion: "hac-metrics v1.2.3", Machine: strings.TrimSpace(string(machine))}
	tree := r.tree(file{path: "/etc/app/app.conf", data: appNew, mode: 0o644})
	// An older apply's record of the whole hac it installed, whose
	// binary was removed by hand since: it goes too, so that a hac put
	// there later is never taken for that one (removed after the
	// activation, which NoActivate leaves out: planned here).
	r.put("/var/lib/hac/installed-hac", "hac apply installed /usr/local/bin/hac: hac destroy removes it\n", 0o644)
	d := r.deployer(func(o *deploy.Options) { o.Agent = agent; o.NoActivate = true })
	p := plan(t, d, tree)
	var text bytes.Buffer
	p.WriteText(&text, false)
	for _, want := range []string{
		"create /usr/local/sbin/hac-agent (0755, binary)", "create /usr/local/sbin/hac-metrics (0755, binary)",
		"create /var/lib/hac/installed-hac-agent (0644)", "create /var/lib/hac/installed-hac-metrics (0644)",
		"  hac-agent missing: installs hac-agent v1.2.3; hac-metrics missing: installs hac-metrics v1.2.3\n",
		"remove /var/lib/hac/installed-hac ",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("plan does not say %q:\n%s", want, text.String())
		}
	}
	if strings.Contains(text.String(), "will run") {
		t.Errorf("plan with NoActivate runs something:\n%s", text.String())
	}
	if res := d.Apply(context.Background(), p); !res.OK() {
		t.Fatalf("%v", outcomes(res))
	}
	installed := func() {
		t.Helper()
		for path, want := range map[string][]byte{deploy.AgentBinaryPath: bin, deploy.MetricsBinaryPath: metrics} {
			if data, mode := r.read(path); data != string(want) || mode != 0o755 {
				t.Errorf("installed %s: %d bytes, mode %04o", path, len(data), mode)
			}
		}
	}
	installed()
	os.Remove(r.root + "/var/lib/hac/installed-hac") // as the activation would
	if plan(t, d, tree).Changed() {
		t.Error("the same binaries are installed again")
	}

	// A node an older hac applied: its hac-agent, no hac-metrics.
	os.Remove(r.root + deploy.MetricsBinaryPath)
	os.Remove(r.root + "/var/lib/hac/installed-hac-metrics")
	p = plan(t, d, tree)
	var got []string
	for _, f := range p.Nodes[0].Files {
		got = append(got, f.Action+" "+f.Path)
	}
	if diff := cmp.Diff([]string{"create /usr/local/sbin/hac-metrics", "create /var/lib/hac/installed-hac-metrics"}, got); diff != "" {
		t.Errorf("plan for a node without hac-metrics (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("hac-metrics missing: installs hac-metrics v1.2.3", p.Nodes[0].Agent); diff != "" {
		t.Errorf("plan note (-want +got):\n%s", diff)
	}
	if res := d.Apply(context.Background(), p); !res.OK() {
		t.Fatalf("%v", outcomes(res))
	}
	installed()

	agent.Machine = "sparc64"
	p = d.Plan(context.Background(), tree)
	defer p.Close()
	if err := p.Err(); err == nil || !strings.Contains(p.Nodes[0].Error, "the node is "+strings.TrimSpace(string(machine))+" (uname -m), the hac-agent and hac-metrics to install are built for sparc64") {
		t.Errorf("architecture mismatch: %v %s", err, p.Nodes[0].Error)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	r := newRig(t, sshtest.Options{})
	r.put("/etc/app/app.conf", appOld, 0o644)
	tree := r.tree(file{path: "/etc/app/app.conf", data: appNew, mode: 0o644, activate: "false"})
	d := r.deployer(func(o *deploy.Options) { o.DryRun = true })
	res := d.Apply(context.Background(), plan(t, d, tree))
	if diff := cmp.Diff([]string{"c1/n1 would apply "}, outcomes(res)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if data, _ := r.read("/etc/app/app.conf"); data != appOld {
		t.Error("dry run wrote the file")
	}
}

// TestDeadManReconnectsAfterCut: the activation cuts hac's SSH connection
// (it kills its own sshd session, as a network change can); hac
// reconnects on a new connection, confirms, and the timer never fires.
func TestDeadManReconnectsAfterCut(t *testing.T) {
	r := newRig(t, sshtest.Options{})
	cut := `touch "$HAC_ROOT/activated"; p=$$; while [ "$(cat /proc/$p/comm)" != sshd ]; do p=$(cut -d' ' -f4 /proc/$p/stat); done; kill -KILL $p`
	tree := r.tree(file{path: "/etc/netplan/60-hac.yaml", data: "network: {version: 2}\n", mode: 0o600, network: true, activate: cut})
	d := r.deployer(func(o *deploy.Options) { o.ConfirmTimeout = 4 * time.Second })
	res := d.Apply(context.Background(), plan(t, d, tree))
	if !res.OK() {
		t.Fatalf("%v\n%s", outcomes(res), r.log)
	}
	if !strings.Contains(r.log.String(), "connection lost while activating") {
		t.Errorf("the activation did not cut the connection:\n%s", r.log)
	}
	// The confirmation renamed the timer's token away, so the timer can
	// no longer fire (TestDeadManConfirmedWhenReachable waits it out).
	ents, _ := os.ReadDir(r.root + "/var/lib/hac")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "armed-") || strings.HasPrefix(e.Name(), "fired-") {
			t.Errorf("timer still armed or fired: %s", e.Name())
		}
	}
}

// TestV2IntervalChangeRefused: plan refuses a VRRPv2 advert_int change
// by the facts of the node's record of its last apply and the new
// manifest (it does not parse agent.json), for a node running the agent
// and one running keepalived alike; a node without a record is planned.
func TestV2IntervalChangeRefused(t *testing.T) {
	v2 := func(adv time.Duration) []manifest.Expect {
		return []manifest.Expect{{Instance: "VI_1", State: "BACKUP", Priority: 100, Version: 2, AdvertIntMillis: adv.Milliseconds()}}
	}
	for _, f := range []file{
		{path: config.DefaultPath, data: "{}\n", mode: 0o600, secret: true},
		{path: "/etc/keepalived/keepalived.conf", data: "# keepalived\n", mode: 0o600, secret: true},
	} {
		t.Run(f.path, func(t *testing.T) {
			r := newRig(t, sshtest.Options{})
			tree := r.treeOf("c1", "n1", 0, v2(2*time.Second), f)
			// No record: nothing is known of what runs.
			plan(t, r.deployer(nil), tree)
			rec, err := manifest.Marshal(&manifest.Manifest{Format: manifest.FormatVersion, Cluster: "c1", Node: "n1", Expect: v2(time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			r.put(deploy.RecordPath, string(rec), 0o644)
			p := r.deployer(nil).Plan(context.Background(), tree)
			defer p.Close()
			if p.Err() == nil || !strings.Contains(p.Nodes[0].Error, "VRRPv2 instance VI_1: advert_int changes from 1s to 2s") {
				t.Errorf("plan error %v: %s", p.Err(), p.Nodes[0].Error)
			}
			plan(t, r.deployer(func(o *deploy.Options) { o.AllowV2IntervalChange = true }), tree)
		})
	}
}

// TestPlanRestartsAgentByRecord: an agent.json change reloads the agent
// when the restart key the node recorded at its last apply is the new
// manifest's, and restarts it when the key differs (an agent-wide field
// the reload refuses) or is unknown: no record, or a record an older hac
// wrote without the key. The node's agent.json is not even JSON: plan
// decides by the manifests alone.
func TestPlanRestartsAgentByRecord(t *testing.T) {
	const keyA, keyB = "aaaa", "bbbb"
	for _, tt := range []struct {
		name     string
		recorded *string // the node record's key; nil: no record
		want     string
	}{
		{"same key: reload", new(keyA), targets.ActivateAgentConfig},
		{"another key: restart", new(keyB), targets.ActivateAgent},
		{"no record: restart", nil, targets.ActivateAgent},
		{"a record without the key: restart", new(""), targets.ActivateAgent},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, sshtest.Options{})
			r.put(config.DefaultPath, "old agent.json\n", 0o600)
			if tt.recorded != nil {
				rec, err := manifest.Marshal(&manifest.Manifest{Format: manifest.FormatVersion, Cluster: "c1", Node: "n1", AgentRestartKey: *tt.recorded})
				if err != nil {
					t.Fatal(err)
				}
				r.put(deploy.RecordPath, string(rec), 0o644)
			}
			tree := r.tree(file{path: config.DefaultPath, data: "new agent.json\n", mode: 0o600, secret: true, activate: targets.ActivateAgentConfig})
			tree.Nodes()[0].Manifest.AgentRestartKey = keyA
			p := plan(t, r.deployer(nil), tree)
			if d := cmp.Diff([]string{tt.want}, p.Nodes[0].Activate); d != "" {
				t.Errorf("activation (-want +got):\n%s", d)
			}
		})
	}
}

// TestOwnerChangeAndRollback: files owned by another user are planned as
// changes, end up root:root with the manifest's mode, a second apply is a
// no-op, and a rollback gives the files back their previous owner.
func TestOwnerChangeAndRollback(t *testing.T) {
	r := newRig(t, sshtest.Options{})
	const modeOnly, ownerOnly, created = "/etc/app/mode.conf", "/etc/app/owner.conf", "/etc/app/new.conf"
	act := `echo run >> "$HAC_ROOT/activations"`
	r.put(modeOnly, appNew, 0o600)
	r.put(ownerOnly, appNew, 0o644)
	for _, p := range []string{modeOnly, ownerOnly} {
		r.chown(p, "nobody", "nogroup")
	}
	sys := func(path, data string, mode uint32, activate string) file {
		return file{path: path, data: data, mode: mode, owner: "root", group: "root", activate: activate}
	}
	tree := r.tree(sys(created, "x\n", 0o640, ""), sys(modeOnly, appNew, 0o644, ""), sys(ownerOnly, appNew, 0o644, act))
	d := r.deployer(nil)
	p := plan(t, d, tree)
	var text bytes.Buffer
	p.WriteText(&text, false)
	for _, want := range []string{
		"  create /etc/app/new.conf (0640)\n",
		"  mode /etc/app/mode.conf (0600 -> 0644, nobody:nogroup -> root:root)\n",
		"  owner /etc/app/owner.conf (0644, nobody:nogroup -> root:root)\n",
		"  will run: " + act + "\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("plan does not contain %q:\n%s", want, text.String())
		}
	}
	if res := d.Apply(context.Background(), p); !res.OK() {
		t.Fatalf("%v\n%s", outcomes(res), r.log)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{{created, 0o640}, {modeOnly, 0o644}, {ownerOnly, 0o644}} {
		if _, mode := r.read(f.path); mode != f.mode || r.owner(f.path) != "root:root" {
			t.Errorf("%s: %04o %s, want %04o root:root", f.path, mode, r.owner(f.path), f.mode)
		}
	}
	// An owner-only change re-runs the file's activation, like a mode change.
	if got, _ := r.read("/activations"); got != "run\n" {
		t.Errorf("activations = %q, want one run", got)
	}
	if p2 := plan(t, d, tree); p2.Changed() {
		t.Errorf("second plan has changes: %+v", p2.Nodes[0].Files)
	}

	// A failing activation puts back the previous files with their owner
	// and mode.
	for _, p := range []string{modeOnly, ownerOnly} {
		r.put(p, appOld, 0o600)
		r.chown(p, "nobody", "nogroup")
	}
	check := `grep -q "workers 2" "$HAC_ROOT` + ownerOnly + `"` // only the old file passes
	bad := r.tree(sys(modeOnly, appNew, 0o644, ""), sys(ownerOnly, appNew, 0o644, check))
	res := d.Apply(context.Background(), plan(t, d, bad))
	if res.Nodes[0].Outcome != deploy.RolledBack {
		t.Fatalf("outcome %v, want rolled back\n%s", outcomes(res), r.log)
	}
	for _, p := range []string{modeOnly, ownerOnly} {
		if data, mode := r.read(p); data != appOld || mode != 0o600 || r.owner(p) != "nobody:nogroup" {
			t.Errorf("after rollback %s = %q %04o %s, want the old bytes, 0600 nobody:nogroup", p, data, mode, r.owner(p))
		}
	}
}

// recorder is a Conn that records every command line it runs.
type recorder struct {
	deploy.Conn
	mu   *sync.Mutex
	cmds *[]string
}

func (r recorder) Run(ctx context.Context, what, cmd string, stdin io.Reader) ([]byte, error) {
	r.mu.Lock()
	*r.cmds = append(*r.cmds, cmd)
	r.mu.Unlock()
	return r.Conn.Run(ctx, what, cmd, stdin)
}

// TestNoSecretDigestInCommandLines: apply never puts the digest of a
// secret file in a command line (every user of the node can read command
// lines in /proc, and the SHA-256 of agent.json is an offline oracle for
// its pass); the staged copy is still checked against it.
func TestNoSecretDigestInCommandLines(t *testing.T) {
	r := newRig(t, sshtest.Options{})
	secret := agentJSON(password)
	tree := r.tree(
		file{path: "/etc/hac/agent.json", data: secret, mode: 0o600, secret: true, activate: "true"},
		file{path: "/etc/app/app.conf", data: appNew, mode: 0o644},
	)
	d := r.deployer(nil)
	var mu sync.Mutex
	var cmds []string
	dial := d.Dial
	d.Dial = func(ctx context.Context, n *deploy.Node) (deploy.Conn, error) {
		c, err := dial(ctx, n)
		if err != nil {
			return nil, err
		}
		return recorder{Conn: c, mu: &mu, cmds: &cmds}, nil
	}
	res := d.Apply(context.Background(), plan(t, d, tree))
	if !res.OK() {
		t.Fatalf("apply: %v", outcomes(res))
	}
	if data, _ := r.read("/etc/hac/agent.json"); data != secret {
		t.Errorf("agent.json on the node: %q, want the built one", data)
	}
	sum := sha256.Sum256([]byte(secret))
	mu.Lock()
	defer mu.Unlock()
	for _, c := range cmds {
		if strings.Contains(c, hex.EncodeToString(sum[:])) || strings.Contains(c, password) {
			t.Errorf("a command line holds the secret file's digest or its pass:\n%s", c)
		}
	}
}
