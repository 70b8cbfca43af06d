package deploy_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hac-project/hac/deploy"
	"github.com/hac-project/hac/deploy/sshtest"
	"github.com/hac-project/hac/targets/manifest"
)

// TestDestroy: hac destroy removes the files hac installed, its state and
// the hac-agent and hac-metrics binaries it installed (and the whole hac an older apply
// installed for the agent), keeps the network configuration and files
// that were never hac's, and shows all of it before, in a dry run.
func TestDestroy(t *testing.T) {
	r := newRig(t, sshtest.Options{})
	machine, err := exec.Command("uname", "-m").Output()
	if err != nil {
		t.Fatal(err)
	}
	r.put("/etc/app/other.conf", "not hac's\n", 0o644)
	tree := r.tree(
		file{path: "/etc/hac/agent.json", data: agentJSON(password), mode: 0o600, secret: true},
		file{path: "/etc/network/interfaces.d/hac-eth1", data: "auto eth1\n", mode: 0o644, network: true},
		file{path: "/etc/systemd/system/hac-agent.service", data: "[Unit]\n", mode: 0o644},
	)
	agent := &deploy.Agent{Binary: []byte("\x7fELF fake hac-agent\x00"), Version: "hac-agent v1", Metrics: []byte("\x7fELF fake hac-metrics\x00"),
		MetricsVersion: "hac-metrics v1", Machine: strings.TrimSpace(string(machine))}
	d := r.deployer(func(o *deploy.Options) { o.Agent = agent; o.NoActivate = true })
	if res := d.Apply(context.Background(), plan(t, d, tree)); !res.OK() {
		t.Fatalf("apply: %v", outcomes(res))
	}
	// The whole hac an older apply installed for the agent (recorded)
	// goes too.
	r.put("/usr/local/bin/hac", "an older hac\n", 0o755)
	r.put("/var/lib/hac/installed-hac", "hac apply installed /usr/local/bin/hac: hac destroy removes it\n", 0o644)

	td := d.PlanDestroy(context.Background(), tree)
	defer td.Close()
	if err := td.Err(); err != nil {
		t.Fatal(err)
	}
	nt := td.Nodes[0]
	want := &deploy.NodeTeardown{Cluster: "c1", Node: "n1", Target: nt.Target,
		Stop: []string{"hac-agent.service"},
		Remove: []string{r.root + "/usr/local/sbin/hac-agent", r.root + "/usr/local/sbin/hac-metrics", r.root + "/usr/local/bin/hac", r.root + "/etc/hac/agent.json", r.root + "/etc/systemd/system/hac-agent.service",
			r.root + "/var/lib/hac"},
		Keep: []string{r.root + "/etc/network/interfaces.d/hac-eth1"}}
	if diff := cmp.Diff(want, nt, cmpopts.IgnoreUnexported(deploy.NodeTeardown{})); diff != "" {
		t.Errorf("teardown (-want +got):\n%s", diff)
	}
	var text bytes.Buffer
	td.WriteText(&text)
	for _, w := range []string{"  stop and disable hac-agent.service\n", "  remove " + r.root + "/usr/local/sbin/hac-agent\n",
		"  remove " + r.root + "/usr/local/sbin/hac-metrics\n", "  remove " + r.root + "/usr/local/bin/hac\n",
		"  keep " + r.root + "/etc/network/interfaces.d/hac-eth1 (", "The VIPs stop being served", "Dry run: nothing was changed."} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("dry run does not say %q:\n%s", w, text.String())
		}
	}
	if _, err := os.Stat(r.root + "/usr/local/sbin/hac-agent"); err != nil {
		t.Errorf("the dry run changed something: %v", err)
	}

	d.Destroy(context.Background(), td)
	if !td.OK() || nt.Outcome != "removed" {
		t.Fatalf("destroy: %s %s\n%s", nt.Outcome, nt.Error, r.log)
	}
	for _, p := range append(want.Remove, r.root+"/etc/hac") {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", p, err)
		}
	}
	for _, p := range []string{"/etc/network/interfaces.d/hac-eth1", "/etc/app/other.conf"} {
		if _, err := os.Stat(r.root + p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}

// TestDestroyNotHacsBinary: a hac, hac-agent or hac-metrics binary that
// hac apply did not install (no record of its own) stays: a hac-metrics
// next to the hac-agent an older hac apply installed (whose record covers
// only hac-agent) is the operator's.
func TestDestroyNotHacsBinary(t *testing.T) {
	const (
		hac, agent, metrics = "/usr/local/bin/hac", "/usr/local/sbin/hac-agent", "/usr/local/sbin/hac-metrics"
		agentRecord         = "/var/lib/hac/installed-hac-agent"
	)
	for _, tc := range []struct {
		name        string
		put         map[string]string
		wantRemoved []string
	}{
		{"no record", map[string]string{hac: "someone else's hac\n", agent: "someone else's hac-agent\n", metrics: "someone else's hac-metrics\n"}, nil},
		{"an older apply's record of hac-agent", map[string]string{agent: "hac's hac-agent\n", metrics: "someone else's hac-metrics\n",
			agentRecord: "hac apply installed /usr/local/sbin/hac-agent: hac destroy removes it\n"}, []string{agent}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, sshtest.Options{})
			tree := r.tree(file{path: "/etc/hac/agent.json", data: agentJSON(password), mode: 0o600, secret: true})
			d := r.deployer(func(o *deploy.Options) { o.NoActivate = true })
			if res := d.Apply(context.Background(), plan(t, d, tree)); !res.OK() {
				t.Fatalf("apply: %v", outcomes(res))
			}
			for p, data := range tc.put {
				r.put(p, data, 0o755)
			}
			td := d.PlanDestroy(context.Background(), tree)
			defer td.Close()
			d.Destroy(context.Background(), td)
			if !td.OK() {
				t.Fatalf("destroy: %s", td.Nodes[0].Error)
			}
			var removed []string
			for _, p := range []string{hac, agent, metrics} {
				data, ok := tc.put[p]
				if !ok {
					continue
				}
				got, err := os.ReadFile(r.root + p)
				switch {
				case os.IsNotExist(err):
					removed = append(removed, p)
				case err != nil || string(got) != data:
					t.Errorf("%s: %q, %v", p, got, err)
				}
			}
			if diff := cmp.Diff(tc.wantRemoved, removed); diff != "" {
				t.Errorf("removed binaries (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDestroyUnreachableChangesNothing: when one node cannot be reached,
// no node is touched.
func TestDestroyUnreachableChangesNothing(t *testing.T) {
	r := newRig(t, sshtest.Options{})
	tree := r.tree(file{path: "/etc/hac/agent.json", data: agentJSON(password), mode: 0o600, secret: true})
	d := r.deployer(func(o *deploy.Options) { o.NoActivate = true })
	if res := d.Apply(context.Background(), plan(t, d, tree)); !res.OK() {
		t.Fatalf("apply: %v", outcomes(res))
	}
	bad := r.treeOf("c1", "n2", 1, nil, file{path: "/etc/hac/agent.json", data: agentJSON(password), mode: 0o600, secret: true})
	bad.Nodes()[0].Manifest.SSH.Port = 1
	both, err := deploy.NewTree(append(tree.Nodes(), bad.Nodes()...))
	if err != nil {
		t.Fatal(err)
	}
	td := d.PlanDestroy(context.Background(), both)
	defer td.Close()
	d.Destroy(context.Background(), td)
	if td.OK() || td.Done || td.Err() == nil || !strings.Contains(td.Err().Error(), "c1/n2") {
		t.Errorf("destroy with an unreachable node: OK %v, done %v, %v", td.OK(), td.Done, td.Err())
	}
	if _, err := os.Stat(r.root + "/etc/hac/agent.json"); err != nil {
		t.Errorf("a file was removed: %v", err)
	}
}

// TestDestroyByTheNodesRecord: a file the node's record of the last apply
// lists, which the description no longer builds (here keepalived.conf,
// after a switch to the agent that was never applied), goes too, and
// keepalived, which runs it, is stopped.
func TestDestroyByTheNodesRecord(t *testing.T) {
	r := newRig(t, sshtest.Options{})
	tree := r.tree(file{path: "/etc/hac/agent.json", data: agentJSON(password), mode: 0o600, secret: true})
	r.put("/etc/keepalived/keepalived.conf", "vrrp_instance VI_1 {}\n", 0o644)
	rec := &manifest.Manifest{Format: manifest.FormatVersion, Cluster: "c1", Node: "n1",
		Files: []manifest.File{{Path: "/etc/keepalived/keepalived.conf", Mode: 0o644, SHA256: manifest.Digest([]byte("vrrp_instance VI_1 {}\n"), false)}}}
	b, err := manifest.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	r.put("/var/lib/hac/manifest.json", string(b), 0o644)
	d := r.deployer(nil)
	td := d.PlanDestroy(context.Background(), tree)
	defer td.Close()
	if err := td.Err(); err != nil {
		t.Fatal(err)
	}
	nt := td.Nodes[0]
	if diff := cmp.Diff([]string{r.root + "/etc/keepalived/keepalived.conf", r.root + "/var/lib/hac"}, nt.Remove); diff != "" {
		t.Errorf("remove (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"keepalived.service"}, nt.Stop); diff != "" {
		t.Errorf("stop (-want +got):\n%s", diff)
	}
	d.Destroy(context.Background(), td)
	if _, err := os.Stat(r.root + "/etc/keepalived/keepalived.conf"); !td.OK() || !os.IsNotExist(err) {
		t.Errorf("destroy: %v %s, keepalived.conf: %v", td.OK(), nt.Error, err)
	}
}
