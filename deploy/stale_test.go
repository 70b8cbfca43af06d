package deploy_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/hac-project/hac/deploy"
	"github.com/hac-project/hac/deploy/sshtest"
	"github.com/hac-project/hac/targets/manifest"
)

// TestStaleFilesRemoved: a file hac installed before and no longer builds
// is shown as removed by plan; apply stops its service before activating
// the new files, removes it once they are active (keeping a copy in
// prev), and records what it installed, so the next plan is empty. A
// failed activation restarts the stopped service and keeps the old file.
func TestStaleFilesRemoved(t *testing.T) {
	r := newRig(t, sshtest.Options{})
	old := r.tree(
		file{path: "/etc/app/a.conf", data: "a\n", mode: 0o644, activate: "sh -c 'echo start-a >> \"$HAC_ROOT/log\"'"},
		file{path: "/etc/keepalived/keepalived.conf", data: "old\n", mode: 0o600, activate: "echo start-keepalived >> \"$HAC_ROOT/log\"",
			deactivate: "echo stop-keepalived >> \"$HAC_ROOT/log\""},
	)
	d := r.deployer(nil)
	if res := d.Apply(context.Background(), plan(t, d, old)); !res.OK() {
		t.Fatalf("first apply: %v\n%s", outcomes(res), r.log)
	}
	if rec, _ := r.read(deploy.RecordPath); !strings.Contains(rec, "/etc/keepalived/keepalived.conf") {
		t.Fatalf("the node's record does not list what hac installed:\n%s", rec)
	}
	os.Remove(r.root + "/log")

	// The next build runs the agent instead: keepalived.conf is stale.
	next := r.tree(
		file{path: "/etc/app/a.conf", data: "a\n", mode: 0o644},
		file{path: "/etc/hac/agent.json", data: "{}\n", mode: 0o600, secret: true, activate: "echo start-agent >> \"$HAC_ROOT/log\"",
			deactivate: "echo stop-agent >> \"$HAC_ROOT/log\""},
	)
	p := plan(t, d, next)
	var text bytes.Buffer
	p.WriteText(&text, false)
	for _, want := range []string{
		"create /etc/hac/agent.json (0600, secret changed (content not shown))",
		"remove /etc/keepalived/keepalived.conf (0600)\n",
		"will stop first: echo stop-keepalived",
		"2 file(s) change",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("plan does not say %q:\n%s", want, text.String())
		}
	}
	if res := d.Apply(context.Background(), p); !res.OK() {
		t.Fatalf("second apply: %v\n%s", outcomes(res), r.log)
	}
	// Stopped before the new service started; the stale file removed, a
	// copy kept.
	if got, _ := r.read("/log"); got != "stop-keepalived\nstart-agent\n" {
		t.Errorf("commands ran:\n%s\nwant the old service stopped, then the new one started", got)
	}
	if _, err := os.Stat(r.root + "/etc/keepalived/keepalived.conf"); !os.IsNotExist(err) {
		t.Errorf("the stale keepalived.conf is still there (%v)", err)
	}
	if got, _ := r.read("/var/lib/hac/prev/etc/keepalived/keepalived.conf"); got != "old\n" {
		t.Errorf("no copy of the removed file in prev: %q", got)
	}
	if p := plan(t, d, next); p.Changed() {
		t.Errorf("a third plan has changes: %+v %v", p.Nodes[0].Files, p.Nodes[0].Stop)
	}

	// Back to keepalived, with an activation that fails: the stopped agent
	// is started again and the agent's files stay.
	os.Remove(r.root + "/log")
	m := r.tree(
		file{path: "/etc/app/a.conf", data: "a\n", mode: 0o644},
		file{path: "/etc/keepalived/keepalived.conf", data: "new\n", mode: 0o600, activate: `if [ -e "$HAC_ROOT/once" ]; then rm "$HAC_ROOT/once"; exit 1; fi`},
	)
	r.put("/once", "", 0o644)
	res := d.Apply(context.Background(), plan(t, d, m))
	if got := outcomes(res); len(got) != 1 || !strings.HasPrefix(got[0], "c1/n1 rolled back") {
		t.Errorf("outcomes %v, want rolled back", got)
	}
	if got, _ := r.read("/log"); got != "stop-agent\nstart-agent\n" {
		t.Errorf("after the rollback, commands ran:\n%q\nwant the agent started again", got)
	}
	if got, _ := r.read("/etc/hac/agent.json"); got != "{}\n" {
		t.Errorf("the agent's file after the rollback: %q", got)
	}
	if rec, _ := r.read(deploy.RecordPath); !strings.Contains(rec, "/etc/hac/agent.json") {
		t.Errorf("the rollback did not restore the record:\n%s", rec)
	}
}

// TestStaticAliasRemoved: a static alias holding a VIP in the node's
// interfaces file (the seed's eth1:0) is shown in the plan and removed
// from the file, the rest of the file kept as written.
func TestStaticAliasRemoved(t *testing.T) {
	r := newRig(t, sshtest.Options{})
	r.put("/etc/network/interfaces", "source /etc/network/interfaces.d/*\n\nauto eth1\niface eth1 inet static\naddress 198.19.7.11\nnetmask 255.255.255.0\n\n# VIP\nauto eth1:0\niface eth1:0 inet static\naddress 198.19.7.102\nnetmask 255.255.255.0\n", 0o644)
	r.put("/etc/network/interfaces.d/extra", "iface eth1:1 inet static\n  address 198.19.7.103/24\n", 0o644)
	expect := []manifest.Expect{{Instance: "VI_1", State: "MASTER", Priority: 200, Interface: "eth1", VIPs: []string{"198.19.7.102", "198.19.7.103"}}}
	tree := r.treeOf("c1", "n1", 0, expect, file{path: "/etc/app/a.conf", data: "a\n", mode: 0o644})
	d := r.deployer(func(o *deploy.Options) { o.NoActivate = true })
	p := plan(t, d, tree)
	var text bytes.Buffer
	p.WriteText(&text, false)
	for _, want := range []string{
		"update /etc/network/interfaces (0644)",
		"update /etc/network/interfaces.d/extra (0644)",
		"-# VIP\n-auto eth1:0\n-iface eth1:0 inet static\n-address 198.19.7.102\n-netmask 255.255.255.0\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("plan does not say %q:\n%s", want, text.String())
		}
	}
	p.Nodes[0].Activate = nil
	if res := d.Apply(context.Background(), p); !res.OK() {
		t.Fatalf("apply: %v\n%s", outcomes(res), r.log)
	}
	if got, _ := r.read("/etc/network/interfaces"); got != "source /etc/network/interfaces.d/*\n\nauto eth1\niface eth1 inet static\naddress 198.19.7.11\nnetmask 255.255.255.0\n\n" {
		t.Errorf("interfaces after apply:\n%s", got)
	}
	if got, _ := r.read("/etc/network/interfaces.d/extra"); got != "" {
		t.Errorf("interfaces.d/extra after apply: %q", got)
	}
}

// TestOwnNetworkStanzaRemoved: when hac renders the node's network file,
// the hand-written stanza of the same interface goes from
// /etc/network/interfaces in the same commit: one configuration per
// interface. Without a network file of its own, hac leaves it.
func TestOwnNetworkStanzaRemoved(t *testing.T) {
	r := newRig(t, sshtest.Options{})
	seed := "auto lo\niface lo inet loopback\n\n# The secondary network interface\nauto eth1\niface eth1 inet static\naddress 198.19.7.11\nnetmask 255.255.255.0\n"
	r.put("/etc/network/interfaces", seed, 0o644)
	expect := []manifest.Expect{{Instance: "VI_1", State: "MASTER", Priority: 200, Interface: "eth1", VIPs: []string{"198.19.7.102"}}}
	d := r.deployer(func(o *deploy.Options) { o.NoActivate = true })
	if p := plan(t, d, r.treeOf("c1", "n1", 0, expect, file{path: "/etc/app/a.conf", data: "a\n", mode: 0o644})); len(p.Nodes[0].Files) != 1 {
		t.Errorf("without a network file of its own, hac changes %+v", p.Nodes[0].Files)
	}
	own := file{path: "/etc/network/interfaces.d/hac-eth1", data: "auto eth1\niface eth1 inet static\n    address 198.19.7.11/24\n", mode: 0o644, network: true}
	p := plan(t, d, r.treeOf("c1", "n1", 0, expect, own))
	if res := d.Apply(context.Background(), p); !res.OK() {
		t.Fatalf("apply: %v\n%s", outcomes(res), r.log)
	}
	if got, _ := r.read("/etc/network/interfaces"); got != "auto lo\niface lo inet loopback\n\n" {
		t.Errorf("interfaces after apply:\n%s", got)
	}
}
