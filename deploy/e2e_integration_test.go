package deploy_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hac-project/hac/agent/agenttest"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/deploy"
	"github.com/hac-project/hac/deploy/sshconn"
	"github.com/hac-project/hac/deploy/sshtest"
	"github.com/hac-project/hac/internal/netns"
	"github.com/hac-project/hac/targets/manifest"
)

// restartAgent is the activation command's script on each e2e node: a
// graceful stop (SIGTERM: the master hands over to a live backup first),
// a second of start-up (a real service restart takes that long: unit
// dependencies, a new binary to load), then a new agent. It stands in for
// `systemctl restart hac-agent`.
const restartAgent = `#!/bin/sh
set -u
pidf="$HAC_ROOT/agent.pid"
alive() { kill -0 "$1" 2>/dev/null && ! grep -q ') Z' "/proc/$1/stat" 2>/dev/null; }
if [ -f "$pidf" ]; then
  pid=$(cat "$pidf")
  kill -TERM "$pid" 2>/dev/null
  i=0
  while alive "$pid" && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done
fi
sleep 1
nohup %s agent --config "$HAC_ROOT/etc/hac/agent.json" >>"$HAC_ROOT/agent.log" 2>&1 </dev/null &
echo $! > "$pidf"
`

// TestRollingApplyKeepsVIP: two nodes in namespaces, each with its own
// sshd and hac agent; a client pings the VIP every 10 ms. A change that
// restarts the agent on both nodes, applied rolling (backup first, then
// the master), loses no probe; the same kind of change applied to both
// nodes at once does.
func TestRollingApplyKeepsVIP(t *testing.T) {
	bed := netns.New(t, netns.Spec{})
	hac := agenttest.HacBinary(t)
	vip := netip.MustParseAddr("198.18.0.200")
	dir := t.TempDir()
	key, pub := sshtest.ClientKey(t, dir)
	var known strings.Builder
	for _, n := range bed.Nodes {
		s := sshtest.Start(t, sshtest.Options{ClientKeys: []string{pub}, Listen: n.Addr.String() + ":22", Prefix: []string{"ip", "netns", "exec", n.NS}})
		known.WriteString(s.KnownHostsLine() + "\n")
	}
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(known.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	dialer, err := sshconn.NewDialer(sshconn.Options{ConfigFile: "none", KnownHosts: []string{kh}, IdentityFiles: []string{key}, NoAgent: true})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, n := range bed.Nodes {
		nr := filepath.Join(root, n.Name)
		if err := os.MkdirAll(nr, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(nr, "restart-agent"), fmt.Appendf(nil, restartAgent, hac), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { // the agents this test started through SSH
			if b, err := os.ReadFile(filepath.Join(nr, "agent.pid")); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		})
	}
	log := &logBuffer{}
	t.Cleanup(func() { t.Logf("progress:\n%s", log) })
	deployer := func() *deploy.Deployer {
		d := deploy.New(dialer, deploy.Options{
			Root:           root + "/{node}",
			StatusCommand:  hac + " agent status --format json --config " + root + "/{node}/etc/hac/agent.json",
			Parallel:       2,
			VerifyTimeout:  10 * time.Second,
			VerifyInterval: 50 * time.Millisecond,
			Progress:       deploy.NewProgress(log, false),
		})
		ssh := d.Dial
		d.Dial = func(ctx context.Context, n *deploy.Node) (c deploy.Conn, err error) {
			err = netns.Do(bed.Client, func() error { // hac runs on the client
				c, err = ssh(ctx, n)
				return err
			})
			return c, err
		}
		return d
	}
	// tree builds both nodes' agent.json; garp changes with every version
	// (an agent restart); naive puts each node in a cluster of its own so
	// both apply at once.
	tree := func(garp int, naive bool) *deploy.Tree {
		var nodes []*deploy.Node
		for i, n := range bed.Nodes {
			prio, state := uint8(200), "MASTER"
			if i > 0 {
				prio, state = 100, "BACKUP"
			}
			in := agenttest.Instance("VI_1", 51, 3, 100*time.Millisecond, prio, vip.String())
			in.GARP.Repeat = garp
			b, err := config.Marshal(&config.Config{Format: config.FormatVersion, Cluster: "e2e", Node: n.Name,
				StatusSocket: filepath.Join(root, n.Name, "agent.sock"), Instances: []config.Instance{in}})
			if err != nil {
				t.Fatal(err)
			}
			cluster := "e2e"
			if naive {
				cluster = "e2e-" + n.Name
			}
			m := &manifest.Manifest{Format: manifest.FormatVersion, Cluster: cluster, Node: n.Name, Order: 1 - i,
				SSH:    manifest.SSH{Host: n.Addr.String(), User: "root"},
				Files:  []manifest.File{{Path: config.DefaultPath, Mode: 0o600, Secret: true, Activate: `sh "$HAC_ROOT/restart-agent"`}},
				Expect: []manifest.Expect{{Instance: "VI_1", State: state, Priority: int(prio)}}}
			nodes = append(nodes, &deploy.Node{Manifest: m, Files: map[string][]byte{config.DefaultPath: b}})
		}
		tr, err := deploy.NewTree(nodes)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	apply := func(what string, tr *deploy.Tree) {
		t.Helper()
		d := deployer()
		p := d.Plan(context.Background(), tr)
		defer p.Close()
		if err := p.Err(); err != nil {
			t.Fatalf("%s: plan: %v: %s", what, err, p.Nodes[0].Error)
		}
		start := time.Now()
		res := d.Apply(context.Background(), p)
		t.Logf("%s: apply took %v: %v", what, time.Since(start).Round(time.Millisecond), outcomes(res))
		if !res.OK() {
			t.Fatalf("%s: apply failed: %v", what, outcomes(res))
		}
	}

	apply("first install", tree(1, false))
	bed.Eventually(5*time.Second, "the VIP does not answer", func() bool { return bed.Answers(vip, 200*time.Millisecond) })

	probe := func(what string, tr *deploy.Tree) netns.ProbeResult {
		p := bed.Probe(vip, 10*time.Millisecond)
		time.Sleep(200 * time.Millisecond)
		apply(what, tr)
		time.Sleep(300 * time.Millisecond)
		r := p.Stop()
		t.Logf("%s: %v", what, r)
		return r
	}
	if r := probe("rolling apply (backup first, master last)", tree(2, false)); r.Lost != 0 {
		t.Errorf("rolling apply lost %d probes (longest gap %v), want 0", r.Lost, r.MaxGap)
	}
	// hac status agrees with the intent: digest, one master (n1), no VIP
	// on the backup, adverts heard.
	st := deployer().Status(context.Background(), tree(2, false))
	var out strings.Builder
	st.WriteText(&out)
	t.Logf("hac status:\n%s", out.String())
	if !st.OK() {
		t.Errorf("status after the rolling apply: %v", st.Drift)
	}
	if r := probe("naive apply (both nodes at once)", tree(3, true)); r.Lost == 0 {
		t.Errorf("restarting both agents at once lost no probe: the comparison shows nothing")
	}
}
