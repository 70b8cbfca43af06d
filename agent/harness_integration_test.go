package agent_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/internal/netns"
	"github.com/hac-project/hac/internal/testenv"
)

// The real hac binary, built once per test run.
var (
	hacOnce sync.Once
	hacPath string
	hacErr  error
	hacDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if hacDir != "" {
		os.RemoveAll(hacDir)
	}
	os.Exit(code)
}

// hacBinary builds cmd/hac once and returns its path.
func hacBinary(t *testing.T) string {
	t.Helper()
	hacOnce.Do(func() {
		hacDir, hacErr = os.MkdirTemp("", "hac-agent-test-")
		if hacErr != nil {
			return
		}
		hacPath = filepath.Join(hacDir, "hac")
		out, err := exec.Command("go", "build", "-o", hacPath, "github.com/hac-project/hac/cmd/hac").CombinedOutput()
		if err != nil {
			hacErr = fmt.Errorf("go build cmd/hac: %v\n%s", err, out)
		}
	})
	if hacErr != nil {
		t.Fatal(hacErr)
	}
	return hacPath
}

// vrrpInstance is an instance config with the test defaults: preempt on,
// GARP 1 round, a second one after 1 s.
func vrrpInstance(name string, vrid uint8, version int, adv time.Duration, prio uint8, vips ...string) config.Instance {
	in := config.Instance{
		Name: name, VRID: vrid, Version: version, Interface: netns.NodeIface, Priority: prio,
		AdvertInt: config.Duration(adv), Preempt: true,
		GARP: config.GARP{Repeat: 1, Delay: config.Duration(time.Second)},
	}
	for _, v := range vips {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			p = netip.PrefixFrom(netip.MustParseAddr(v), netip.MustParseAddr(v).BitLen())
		}
		in.VIPs = append(in.VIPs, config.VIP{Prefix: p})
	}
	return in
}

// hacNode is a hac agent process in a node namespace.
type hacNode struct {
	t      *testing.T
	bed    *netns.Bed
	node   *netns.Node
	dir    string
	cfg    string
	socket string
	cmd    *exec.Cmd
	log    string
}

// newHacNode writes the node's agent.json (mode 0600) for instances.
func newHacNode(t *testing.T, bed *netns.Bed, n *netns.Node, instances ...config.Instance) *hacNode {
	t.Helper()
	dir := t.TempDir()
	h := &hacNode{t: t, bed: bed, node: n, dir: dir, cfg: filepath.Join(dir, "agent.json"), socket: filepath.Join(dir, "agent.sock"), log: filepath.Join(dir, "agent.log")}
	c := &config.Config{Format: config.FormatVersion, Cluster: "test", Node: n.Name, StatusSocket: h.socket, Instances: instances}
	b, err := config.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(h.log)
			t.Logf("hac agent log of %s:\n%s", n.Name, b)
		}
	})
	return h
}

// start starts the agent.
func (h *hacNode) start() {
	h.t.Helper()
	f, err := os.OpenFile(h.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "---- start %s\n", time.Now().Format(time.RFC3339Nano))
	h.cmd = h.bed.Command(h.node.NS, hacBinary(h.t), "agent", "--config", h.cfg, "--log-level", "debug")
	h.cmd.Stderr = f
	h.bed.Start(h.cmd)
}

// stop sends SIGTERM and waits for a clean exit.
func (h *hacNode) stop() {
	h.t.Helper()
	h.bed.Signal(h.cmd, syscall.SIGTERM)
	if err := h.bed.Wait(h.cmd, 10*time.Second); err != nil {
		h.t.Errorf("hac agent on %s after SIGTERM: %v", h.node.Name, err)
	}
}

// kill sends SIGKILL and reaps the process.
func (h *hacNode) kill() {
	h.t.Helper()
	h.bed.Signal(h.cmd, syscall.SIGKILL)
	_ = h.bed.Wait(h.cmd, 10*time.Second)
}

// report asks the running agent for its status; nil when it does not
// answer.
func (h *hacNode) report() *status.Report {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := status.Query(ctx, h.socket)
	if err != nil {
		return nil
	}
	return r
}

// instance returns the named instance's status, or the zero value.
func (h *hacNode) instance(name string) status.Instance {
	if r := h.report(); r != nil {
		for _, in := range r.Instances {
			if in.Name == name {
				return in
			}
		}
	}
	return status.Instance{}
}

// waitState waits for the instance to report state.
func (h *hacNode) waitState(name, state string, timeout time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := h.instance(name).State
		if got == state {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("after %v: %s on %s is %q, want %s", timeout, name, h.node.Name, got, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// holds reports whether the node carries VIP a on eth1.
func (h *hacNode) holds(a string) bool {
	return h.bed.HasAddr(h.node.NS, netns.NodeIface, netip.MustParseAddr(a))
}

// noDrops fails the test if the instance dropped adverts, for any reason.
func (h *hacNode) noDrops(name string) {
	h.t.Helper()
	in := h.instance(name)
	for r, n := range in.Counters.Drops {
		if n > 0 {
			h.t.Errorf("%s on %s dropped %d adverts for %s", name, h.node.Name, n, r)
		}
	}
	if in.Counters.AdvertsReceived == 0 && in.Counters.AdvertsSent == 0 {
		h.t.Errorf("%s on %s neither sent nor received adverts: %+v", name, h.node.Name, in.Counters)
	}
}

// needBed creates a bed after checking for root.
func needBed(t *testing.T, spec netns.Spec) *netns.Bed {
	t.Helper()
	testenv.NeedRoot(t)
	t.Parallel()
	return netns.New(t, spec)
}
