// Package agenttest runs VRRP daemons in a [netns.Bed]: the real hac
// binary (hac agent) and the real keepalived, configured from the same
// agent.json instances, for integration tests, interop tests and the
// failover benchmark.
package agenttest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/internal/netns"
	"github.com/hac-project/hac/internal/testenv"
)

// binary is a binary of the module built once per test process.
type binary struct {
	once sync.Once
	path string
	err  error
}

var (
	hacDir      string // holds the binaries
	hacDirOnce  sync.Once
	hacDirErr   error
	hacRace     binary // with -race when the tests run with it
	agentRace   binary // hac-agent, with -race when the tests run with it
	hacShipping binary // hac-agent, never with -race
	exporter    binary // hac-metrics, next to both hac-agents
)

// Main runs the tests and removes the hac binaries built for them; call
// it from TestMain: os.Exit(agenttest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if hacDir != "" {
		os.RemoveAll(hacDir)
	}
	return code
}

// HacBinary builds cmd/hac once per test process (with -race when the
// tests run with it) and returns its path.
func HacBinary(t testing.TB) string {
	t.Helper()
	return hacRace.build(t, "hac", "hac", raceEnabled)
}

// AgentBinary builds cmd/hac-agent, the agent's binary the nodes run,
// once per test process (with -race when the tests run with it) and
// returns its path.
func AgentBinary(t testing.TB) string {
	t.Helper()
	return agentRace.build(t, "hac-agent", "hac-agent", raceEnabled)
}

// ShippingBinary builds cmd/hac-agent once per test process as it ships,
// without the race detector, for tests of how the agent copes with load
// (a packet flood): the race detector makes its receive path several
// times slower.
func ShippingBinary(t testing.TB) string {
	t.Helper()
	return hacShipping.build(t, "hac-agent", "hac-agent-shipping", false)
}

// MetricsBinary builds cmd/hac-metrics once per test process, next to
// the hac-agent binaries (where the agent looks for it), and returns its
// path.
func MetricsBinary(t testing.TB) string {
	t.Helper()
	return exporter.build(t, config.MetricsProgram, config.MetricsProgram, false)
}

// build builds cmd/<cmd> as name in the tests' binary folder.
func (b *binary) build(t testing.TB, cmd, name string, race bool) string {
	t.Helper()
	b.once.Do(func() {
		hacDirOnce.Do(func() { hacDir, hacDirErr = os.MkdirTemp("", "hac-agenttest-") })
		if b.err = hacDirErr; b.err != nil {
			return
		}
		b.path = filepath.Join(hacDir, name)
		args := []string{"build", "-o", b.path}
		env := os.Environ()
		if race {
			args = append(args, "-race") // the daemon's races fail the test (see newDaemon)
		} else {
			env = append(env, "CGO_ENABLED=0") // static, as make build ships it
		}
		c := exec.Command("go", append(args, "github.com/hac-project/hac/cmd/"+cmd)...)
		c.Env = env
		out, err := c.CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build cmd/%s: %v\n%s", cmd, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Instance is an instance on the bed's eth1 with the test defaults:
// preempt on, one GARP round now and one after a second. A VIP without a
// prefix length gets /32 or /128.
func Instance(name string, vrid uint8, version int, adv time.Duration, prio uint8, vips ...string) config.Instance {
	in := config.Instance{
		Name: name, VRID: vrid, Version: version, Interface: netns.NodeIface, Priority: prio,
		AdvertInt: config.Duration(adv), Preempt: true,
		GARP: config.GARP{Repeat: 1, Delay: config.Duration(time.Second)},
	}
	for _, v := range vips {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a := netip.MustParseAddr(v)
			p = netip.PrefixFrom(a, a.BitLen())
		}
		in.VIPs = append(in.VIPs, config.VIP{Prefix: p})
	}
	return in
}

// Node is a VRRP daemon on one node of a bed.
type Node interface {
	// Node is the bed node it runs on.
	Node() *netns.Node
	// Start starts the daemon.
	Start()
	// Stop sends SIGTERM and waits for the daemon to exit.
	Stop()
	// Kill sends SIGKILL to every process of the daemon.
	Kill()
	// State returns the instance's state (MASTER, BACKUP, FAULT, …), ""
	// when unknown.
	State(instance string) string
}

// WaitState waits until the instance on n is in state, failing the test
// after timeout.
func WaitState(t testing.TB, n Node, instance, state string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := n.State(instance)
		if got == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s on %s is %q, want %s", timeout, instance, n.Node().Name, got, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// daemon is what Hac and Keepalived share: a process in a node namespace
// with a log file.
type daemon struct {
	t    testing.TB
	bed  *netns.Bed
	node *netns.Node
	dir  string
	log  string
	cmd  *exec.Cmd
	what string
}

func newDaemon(t testing.TB, bed *netns.Bed, n *netns.Node, what string) daemon {
	d := daemon{t: t, bed: bed, node: n, dir: t.TempDir(), what: what}
	d.log = filepath.Join(d.dir, what+".log")
	t.Cleanup(func() {
		b, _ := os.ReadFile(d.log)
		if strings.Contains(string(b), "WARNING: DATA RACE") {
			t.Errorf("%s on %s: the race detector found a data race", what, n.Name)
		}
		if t.Failed() {
			t.Logf("%s log of %s:\n%s", what, n.Name, b)
		}
	})
	return d
}

// Node returns the bed node the daemon runs on.
func (d *daemon) Node() *netns.Node { return d.node }

func (d *daemon) start(name string, args ...string) {
	d.t.Helper()
	f, err := os.OpenFile(d.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "---- start %s\n", time.Now().Format(time.RFC3339Nano))
	d.cmd = d.bed.Command(d.node.NS, name, args...)
	d.cmd.Stdout, d.cmd.Stderr = f, f
	d.bed.Start(d.cmd)
}

// Stop sends SIGTERM and waits (15 s at most) for a clean exit.
func (d *daemon) Stop() {
	d.t.Helper()
	d.bed.Signal(d.cmd, syscall.SIGTERM)
	if err := d.bed.Wait(d.cmd, 15*time.Second); err != nil {
		d.t.Errorf("%s on %s after SIGTERM: %v", d.what, d.node.Name, err)
	}
}

// PID returns the daemon's process id (0 before Start).
func (d *daemon) PID() int {
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

// Log returns what the daemon logged so far.
func (d *daemon) Log() string {
	b, _ := os.ReadFile(d.log)
	return string(b)
}

// Hac is hac agent running in a node namespace.
type Hac struct {
	daemon
	Config string // agent.json
	Socket string // status socket
	// Binary is the hac-agent binary Start runs; empty: AgentBinary.
	Binary string
}

var _ Node = (*Hac)(nil)

// NewHac writes the node's agent.json (mode 0600) for instances; Start
// runs it.
func NewHac(t testing.TB, bed *netns.Bed, n *netns.Node, instances ...config.Instance) *Hac {
	t.Helper()
	return NewHacGroups(t, bed, n, nil, instances...)
}

// NewHacGroups is [NewHac] with sync groups of the instances.
func NewHacGroups(t testing.TB, bed *netns.Bed, n *netns.Node, groups []config.SyncGroup, instances ...config.Instance) *Hac {
	t.Helper()
	h := &Hac{daemon: newDaemon(t, bed, n, "hac")}
	h.Config = filepath.Join(h.dir, "agent.json")
	h.Socket = filepath.Join(h.dir, "agent.sock")
	c := &config.Config{Format: config.FormatVersion, Cluster: "test", Node: n.Name, StatusSocket: h.Socket, Instances: instances, SyncGroups: groups}
	WriteConfig(t, h.Config, c)
	return h
}

// WriteConfig writes c as the agent.json at path (mode 0600, as hac
// build writes it).
func WriteConfig(t testing.TB, path string, c *config.Config) {
	t.Helper()
	b, err := config.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Configure rewrites the agent.json with mod applied; call it before
// Start.
func (h *Hac) Configure(mod func(*config.Config)) {
	h.t.Helper()
	c, _, err := config.Load(h.Config)
	if err != nil {
		h.t.Fatal(err)
	}
	mod(c)
	WriteConfig(h.t, h.Config, c)
}

// Scrape fetches the agent's Prometheus metrics (agent.metrics must be
// set) over a connection opened inside its node's namespace.
func (h *Hac) Scrape() (map[string]*dto.MetricFamily, error) {
	c, _, err := config.Load(h.Config)
	if err != nil {
		return nil, err
	}
	var conn net.Conn
	err = netns.Do(h.node.NS, func() error {
		var err error
		conn, err = net.DialTimeout("tcp", c.Metrics, 2*time.Second)
		return err
	})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET /metrics HTTP/1.0\r\nHost: hac\r\n\r\n"); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// Start starts hac-agent with debug logs; when its agent.json sets
// agent.metrics, hac-metrics is built next to it first.
func (h *Hac) Start() {
	bin := h.Binary
	if bin == "" {
		bin = AgentBinary(h.t)
	}
	if c, _, err := config.Load(h.Config); err == nil && c.Metrics != "" {
		MetricsBinary(h.t)
	}
	h.start(bin, "--config", h.Config, "--log-level", "debug")
}

// Kill sends SIGKILL.
func (h *Hac) Kill() {
	h.t.Helper()
	h.bed.Signal(h.cmd, syscall.SIGKILL)
	_ = h.bed.Wait(h.cmd, 10*time.Second)
}

// Report asks the running agent for its status; nil when it does not
// answer.
func (h *Hac) Report() *status.Report {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := status.Query(ctx, h.Socket)
	if err != nil {
		return nil
	}
	return r
}

// Instance returns the named instance's status, or the zero value.
func (h *Hac) Instance(name string) status.Instance {
	if r := h.Report(); r != nil {
		for _, in := range r.Instances {
			if in.Name == name {
				return in
			}
		}
	}
	return status.Instance{}
}

// State implements [Node].
func (h *Hac) State(name string) string { return h.Instance(name).State }

// NoDrops fails the test if the instance dropped adverts, or neither sent
// nor received any.
func (h *Hac) NoDrops(name string) {
	h.t.Helper()
	in := h.Instance(name)
	for r, n := range in.Counters.Drops {
		if n > 0 {
			h.t.Errorf("%s on %s (hac) dropped %d adverts for %s", name, h.node.Name, n, r)
		}
	}
	if in.Counters.AdvertsReceived == 0 && in.Counters.AdvertsSent == 0 {
		h.t.Errorf("%s on %s (hac) neither sent nor received adverts: %+v", name, h.node.Name, in.Counters)
	}
}

// Keepalived is keepalived running in a node namespace, configured from
// agent.json instances.
type Keepalived struct {
	daemon
	Config string
}

var _ Node = (*Keepalived)(nil)

// NewKeepalived writes keepalived.conf for instances; Start runs it. It
// needs keepalived on PATH (testenv.NeedTool).
func NewKeepalived(t testing.TB, bed *netns.Bed, n *netns.Node, instances ...config.Instance) *Keepalived {
	t.Helper()
	return NewKeepalivedGroups(t, bed, n, nil, instances...)
}

// NewKeepalivedGroups is [NewKeepalived] with sync groups of the
// instances (vrrp_sync_group blocks).
func NewKeepalivedGroups(t testing.TB, bed *netns.Bed, n *netns.Node, groups []config.SyncGroup, instances ...config.Instance) *Keepalived {
	t.Helper()
	testenv.NeedTool(t, "keepalived")
	k := &Keepalived{daemon: newDaemon(t, bed, n, "keepalived")}
	k.Config = filepath.Join(k.dir, "keepalived.conf")
	if err := os.WriteFile(k.Config, []byte(KeepalivedConf(n.Name, instances)+keepalivedGroups(groups)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.killAll)
	return k
}

// Start runs keepalived in the foreground (VRRP only), logging to the
// console, with its own pid files.
func (k *Keepalived) Start() {
	k.start("keepalived", "-n", "-l", "-D", "-G", "-P", "-f", k.Config,
		"-p", k.pidFile("keepalived"), "-r", k.pidFile("vrrp"), "-c", k.pidFile("checkers"), "-b", k.pidFile("bfd"))
}

func (k *Keepalived) pidFile(name string) string { return filepath.Join(k.dir, name+".pid") }

// killAll kills keepalived without letting it release anything: it
// stops the parent first (it would respawn a killed VRRP child), kills
// its children (and the pid in the VRRP pid file), then the parent. It
// only signals processes this test started.
func (k *Keepalived) killAll() {
	if k.cmd == nil || k.cmd.Process == nil || k.cmd.ProcessState != nil {
		return
	}
	p := k.cmd.Process.Pid
	_ = syscall.Kill(p, syscall.SIGSTOP)
	var pids []int
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", p, p)); err == nil {
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	if b, err := os.ReadFile(k.pidFile("vrrp")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && isChildOf(pid, p) {
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		if pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	_ = syscall.Kill(p, syscall.SIGKILL)
}

// isChildOf reports whether process pid's parent is ppid.
func isChildOf(pid, ppid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 1 && f[1] == strconv.Itoa(ppid)
}

// Kill sends SIGKILL to every keepalived process: it dies without
// releasing anything, its VIPs stay.
func (k *Keepalived) Kill() {
	k.t.Helper()
	k.killAll()
	_ = k.bed.Wait(k.cmd, 10*time.Second)
	os.Remove(k.pidFile("vrrp"))
}

var entering = regexp.MustCompile(`\((\S+)\) Entering (\w+) STATE`)

// State implements [Node] from keepalived's log.
func (k *Keepalived) State(name string) string {
	state := ""
	for _, m := range entering.FindAllStringSubmatch(k.Log(), -1) {
		if m[1] == name {
			state = m[2]
		}
	}
	return state
}

// Complaints returns keepalived's log lines that say it rejected an
// advert: invalid, mismatch, unexpected, error.
func (k *Keepalived) Complaints() []string {
	var bad []string
	for _, l := range strings.Split(k.Log(), "\n") {
		low := strings.ToLower(l)
		for _, w := range []string{"invalid", "mismatch", "unexpected", "wrong", "error"} {
			if strings.Contains(low, w) {
				bad = append(bad, l)
				break
			}
		}
	}
	return bad
}

// KeepalivedConf renders keepalived.conf for instances, with the same
// protocol settings hac uses for them.
func KeepalivedConf(node string, instances []config.Instance) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global_defs {\n    router_id %s\n    enable_script_security\n    script_user root\n}\n", node)
	for _, in := range instances {
		fmt.Fprintf(&b, "\nvrrp_instance %s {\n    state BACKUP\n    interface %s\n    virtual_router_id %d\n    version %d\n    priority %d\n",
			in.Name, in.Interface, in.VRID, in.Version, in.Priority)
		fmt.Fprintf(&b, "    advert_int %s\n", strconv.FormatFloat(time.Duration(in.AdvertInt).Seconds(), 'f', -1, 64))
		if !in.Preempt {
			b.WriteString("    nopreempt\n")
		}
		if in.Auth != nil {
			fmt.Fprintf(&b, "    authentication {\n        auth_type %s\n        auth_pass %s\n    }\n", in.Auth.Type, in.Auth.Pass)
		}
		if in.Source.IsValid() {
			src := "mcast_src_ip"
			if in.Unicast {
				src = "unicast_src_ip"
			}
			fmt.Fprintf(&b, "    %s %s\n", src, in.Source)
		}
		if in.Unicast {
			b.WriteString("    unicast_peer {\n")
			for _, p := range in.Peers {
				fmt.Fprintf(&b, "        %s\n", p)
			}
			b.WriteString("    }\n")
		}
		b.WriteString("    virtual_ipaddress {\n")
		for _, v := range in.VIPs {
			fmt.Fprintf(&b, "        %s\n", v.Prefix)
		}
		b.WriteString("    }\n")
		if len(in.Track) > 0 {
			b.WriteString("    track_interface {\n")
			for _, tr := range in.Track {
				fmt.Fprintf(&b, "        %s weight %d\n", tr.Interface, tr.Weight)
			}
			b.WriteString("    }\n")
		}
		if in.Notify != nil && len(in.Notify.All) > 0 {
			fmt.Fprintf(&b, "    notify \"%s\"\n", strings.Join(in.Notify.All, " "))
		}
		fmt.Fprintf(&b, "    garp_master_delay %d\n    garp_master_repeat %d\n}\n",
			int(time.Duration(in.GARP.Delay).Seconds()), max(in.GARP.Repeat, 1))
	}
	return b.String()
}

// keepalivedGroups renders vrrp_sync_group blocks (with the generic
// notify command, the only one the tests use).
func keepalivedGroups(groups []config.SyncGroup) string {
	var b strings.Builder
	for _, g := range groups {
		fmt.Fprintf(&b, "\nvrrp_sync_group %s {\n    group {\n", g.Name)
		for _, in := range g.Instances {
			fmt.Fprintf(&b, "        %s\n", in)
		}
		b.WriteString("    }\n")
		if g.Notify != nil && len(g.Notify.All) > 0 {
			fmt.Fprintf(&b, "    notify \"%s\"\n", strings.Join(g.Notify.All, " "))
		}
		b.WriteString("}\n")
	}
	return b.String()
}
