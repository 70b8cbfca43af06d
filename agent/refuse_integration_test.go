package agent_test

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hac-project/hac/agent/agenttest"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/internal/netns"
)

// runAgent runs the real hac-agent in ns until it exits (at most 10 s)
// and returns its exit error and standard error.
func runAgent(t *testing.T, bed *netns.Bed, ns string, args ...string) (error, string) {
	t.Helper()
	return runBinary(t, bed, ns, agenttest.AgentBinary(t), args...)
}

// runBinary is runAgent with the agent binary bin.
func runBinary(t *testing.T, bed *netns.Bed, ns, bin string, args ...string) (error, string) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := bed.Command(ns, bin, args...)
	cmd.Stderr = &stderr
	bed.Start(cmd)
	err := bed.Wait(cmd, 10*time.Second)
	return err, stderr.String()
}

// TestRefusedBeforeTouching: for each bad agent.json the real agent exits
// non-zero with a message naming the field, and the VIP already on the
// interface (a leased one, as a running agent holds it) and the node's
// own address are untouched. It used to delete the VIP first (priority
// 0), run forever without advertising (VRID 0), or delete the node's
// address (a VIP equal to it).
func TestRefusedBeforeTouching(t *testing.T) {
	bed := needBed(t, netns.Spec{Nodes: []string{"n1"}})
	n := bed.Node("n1")
	bed.Exec(n.NS, "ip", "addr", "add", vip1+"/32", "dev", netns.NodeIface, "valid_lft", "600", "preferred_lft", "600")
	leftover := "198.18.0.201"
	bed.Exec(n.NS, "ip", "addr", "add", leftover+"/32", "dev", netns.NodeIface) // a static VIP, or one a killed keepalived left
	before := bed.Addrs(n.NS, netns.NodeIface)
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	v3 := func(mod func(*config.Config, *config.Instance)) *config.Config {
		in := agenttest.Instance("VI_1", 51, 3, 100*time.Millisecond, 200, vip1)
		c := &config.Config{Format: config.FormatVersion, Cluster: "test", Node: "n1", StatusSocket: filepath.Join(dir, "agent.sock"), Instances: []config.Instance{in}}
		mod(c, &c.Instances[0])
		return c
	}
	// A port in use in n1's namespace, for agent.metrics.
	var busy net.Listener
	if err := netns.Do(n.NS, func() (err error) {
		busy, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	agenttest.MetricsBinary(t) // next to the agent, for agent.metrics
	const pass = "a-forty-character-pass-0123456789abcdefg"
	for _, tc := range []struct {
		name string
		cfg  *config.Config
		want string
	}{
		{"priority 0", v3(func(_ *config.Config, in *config.Instance) { in.Priority = 0 }), "instances[0].priority: 0 is out of range 1..255"},
		{"vrid 0", v3(func(_ *config.Config, in *config.Instance) { in.VRID = 0 }), "instances[0].vrid: 0 is out of range 1..255"},
		{"VIP is the node's address", v3(func(_ *config.Config, in *config.Instance) {
			in.VIPs[0].Prefix = netip.PrefixFrom(n.Addr, 24)
		}), "instances[0].vips[0].prefix: 198.18.0.11 is already an address of eth1 on this node (permanent)"},
		{"VIP is a static address", v3(func(_ *config.Config, in *config.Instance) {
			in.VIPs = append(in.VIPs, config.VIP{Prefix: netip.MustParsePrefix(leftover + "/32")})
		}), "instances[0].vips[1].prefix: 198.18.0.201 is already an address of eth1 on this node (permanent)"},
		{"pass of 40 characters", v3(func(_ *config.Config, in *config.Instance) {
			in.Version, in.AdvertInt, in.Auth = 2, config.Duration(time.Second), &config.Auth{Type: "PASS", Pass: pass}
		}), "instances[0].auth.pass: 40 bytes long: PASS needs 1..8"},
		{"v2 interval", v3(func(_ *config.Config, in *config.Instance) { in.Version = 2 }), "instances[0].advert_int: 100ms is not valid for VRRPv2"},
		{"missing interface", v3(func(_ *config.Config, in *config.Instance) { in.Interface = "eth9" }), "instances[0].interface: eth9 does not exist on this node"},
		{"unknown check user", v3(func(_ *config.Config, in *config.Instance) {
			in.Checks = []config.Check{{Name: "web", Command: []string{"true"}, Interval: config.Duration(time.Second), Timeout: config.Duration(time.Second), Rise: 1, Fall: 1, User: "no-such-user-hac"}}
		}), `instances[0].checks[0].user: "no-such-user-hac"`},
		{"status socket in a world-writable directory", v3(func(c *config.Config, _ *config.Instance) {
			c.StatusSocket = filepath.Join(open, "agent.sock")
		}), open + " is writable by other users"},
		{"metrics port in use", v3(func(c *config.Config, _ *config.Instance) { c.Metrics = busy.Addr().String() }),
			"metrics: cannot listen on " + busy.Addr().String() + " (agent.metrics)"},
		{"every problem at once", v3(func(_ *config.Config, in *config.Instance) { in.VRID, in.Priority = 0, 0 }), "instances[0].vrid: 0 is out of range 1..255: use the cluster's virtual_router_id\ninstances[0].priority: 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "agent.json")
			agenttest.WriteConfig(t, path, tc.cfg)
			err, stderr := runAgent(t, bed, n.NS, "--config", path)
			if err == nil {
				t.Errorf("the agent exited 0, want non-zero; stderr:\n%s", stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, stderr)
			}
			if strings.Contains(stderr, pass) {
				t.Errorf("stderr shows the pass:\n%s", stderr)
			}
			if got := bed.Addrs(n.NS, netns.NodeIface); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Errorf("addresses on eth1 after the refusal: %v, want them untouched: %v", got, before)
			}
			if _, err := os.Lstat(tc.cfg.StatusSocket); err == nil {
				t.Errorf("the refused agent left its status socket %s", tc.cfg.StatusSocket)
			}
		})
	}
}

// TestMetricsExporterMissingRefused: with agent.metrics set and no
// hac-metrics of its build next to hac-agent (none, one that cannot run,
// one of another build), the agent refuses to start, saying where it
// looked, why and what installs it, and touches nothing: never an agent
// silently without the metrics it was asked for.
func TestMetricsExporterMissingRefused(t *testing.T) {
	bed := needBed(t, netns.Spec{Nodes: []string{"n1"}})
	n := bed.Node("n1")
	bed.Exec(n.NS, "ip", "addr", "add", vip1+"/32", "dev", netns.NodeIface, "valid_lft", "600", "preferred_lft", "600")
	before := bed.Addrs(n.NS, netns.NodeIface)
	agent, err := os.ReadFile(agenttest.AgentBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		exporter string // hac-metrics' content; empty: none
		mode     os.FileMode
		want     string
	}{
		{"missing", "", 0, "cannot run (no such file or directory)"},
		{"not executable", "#!/bin/sh\n", 0o644, "cannot run (permission denied)"},
		{"another build", "#!/bin/sh\necho hac-metrics v0.0.1\n", 0o755, `is another build ("hac-metrics v0.0.1", this agent's is "hac-metrics `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bin := filepath.Join(dir, "hac-agent")
			if err := os.WriteFile(bin, agent, 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.exporter != "" {
				if err := os.WriteFile(filepath.Join(dir, "hac-metrics"), []byte(tc.exporter), tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			c := &config.Config{Format: config.FormatVersion, Cluster: "test", Node: "n1", StatusSocket: filepath.Join(dir, "agent.sock"), Metrics: "127.0.0.1:9650",
				Instances: []config.Instance{agenttest.Instance("VI_1", 51, 3, 100*time.Millisecond, 200, vip1)}}
			path := filepath.Join(dir, "agent.json")
			agenttest.WriteConfig(t, path, c)
			err, stderr := runBinary(t, bed, n.NS, bin, "--config", path)
			want := "agent.metrics is set, but its exporter " + filepath.Join(dir, "hac-metrics") + " " + tc.want
			if err == nil || !strings.Contains(stderr, want) || !strings.Contains(stderr, "hac apply installs the hac-metrics of the agent's build next to hac-agent") {
				t.Errorf("agent with that hac-metrics: %v, stderr:\n%s\nwant a refusal saying %q and what installs it", err, stderr, want)
			}
			if got := bed.Addrs(n.NS, netns.NodeIface); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Errorf("addresses on eth1 after the refusal: %v, want them untouched: %v", got, before)
			}
		})
	}
}

var heldBy = regexp.MustCompile(`another hac agent \(pid (\d+)\) already runs on this node \(network namespace\): it holds the lock (/run/hac/agent-net\d+\.lock)`)

// TestSecondAgentRefused: a second agent with the same configuration on a
// node where one is master (with or without a status socket) is refused
// by the node lock before it touches anything: it exits non-zero naming
// the holder's PID and the lock, the first keeps the VIP, nobody flaps
// and the client loses nothing. Agents in other namespaces (the peer)
// run with their own locks.
func TestSecondAgentRefused(t *testing.T) {
	bed, a1, a2 := pair(t, netns.Spec{}, v3pair)
	vip := netip.MustParseAddr(vip1)
	bed.Eventually(2*time.Second, "VIP does not answer", func() bool { return bed.Answers(vip, 200*time.Millisecond) })
	t1, t2 := a1.Instance("VI_1").Counters.Transitions, a2.Instance("VI_1").Counters.Transitions
	p := bed.Probe(vip, 10*time.Millisecond)
	for _, args := range [][]string{
		{"--config", a1.Config, "--status-socket", "-"},
		{"--config", a1.Config},
	} {
		err, stderr := runAgent(t, bed, a1.Node().NS, args...)
		if err == nil {
			t.Errorf("second agent %v exited 0, want non-zero; stderr:\n%s", args, stderr)
		}
		m := heldBy.FindStringSubmatch(stderr)
		if m == nil {
			t.Fatalf("second agent %v: stderr does not name the holder and the lock:\n%s", args, stderr)
		}
		if m[1] != strconv.Itoa(a1.PID()) {
			t.Errorf("second agent names pid %s, the first agent is %d", m[1], a1.PID())
		}
		if b, err := os.ReadFile(m[2]); err != nil || strings.TrimSpace(string(b)) != m[1] {
			t.Errorf("lock file %s: %q, %v; want the holder's pid %s", m[2], b, err, m[1])
		}
	}
	time.Sleep(500 * time.Millisecond) // let a flap, if any, show
	r := p.Stop()
	t.Logf("probes while the second agent was refused: %v", r)
	if r.Lost != 0 {
		t.Errorf("the client lost %d probes", r.Lost)
	}
	if got := bed.Holders(vip); len(got) != 1 || got[0] != "n1" {
		t.Errorf("VIP holders %v, want [n1]", got)
	}
	if got := a1.Instance("VI_1"); got.State != "MASTER" || got.Counters.Transitions != t1 {
		t.Errorf("n1: %s after %d transitions, want MASTER after %d (no flap)", got.State, got.Counters.Transitions, t1)
	}
	if got := a2.Instance("VI_1"); got.State != "BACKUP" || got.Counters.Transitions != t2 {
		t.Errorf("n2: %s after %d transitions, want BACKUP after %d (no flap)", got.State, got.Counters.Transitions, t2)
	}
	if s := a1.Log(); strings.Contains(s, "netplan apply") || strings.Contains(s, "VIPs put back") {
		t.Errorf("the first agent had to put its VIP back:\n%s", s)
	}
}
