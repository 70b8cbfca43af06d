package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/internal/netns"
	"github.com/hac-project/hac/model"
)

// ClientIface is the client namespace's interface on the lab's bridge.
const ClientIface = "eth0"

// Spec is what Up starts.
type Spec struct {
	// Root is where the lab records its state ([DefaultRoot]); its base
	// name starts every namespace name.
	Root string
	// Paths are what the cluster was loaded from (shown by status).
	Paths []string
	// Cluster is the compiled cluster.
	Cluster *model.Cluster
	// Agents are each node's agent.json, as hac build rendered it.
	Agents map[string][]byte
	// Hac is the hac executable the nodes run (hac agent).
	Hac string
}

// Plan checks sp and returns the lab's state before anything is made:
// the layout, the nodes, the stand-in programs. It refuses a cluster the
// lab cannot run, saying why.
func Plan(sp Spec) (*State, error) {
	c := sp.Cluster
	if c.Keepalived {
		return nil, fmt.Errorf("lab: cluster %s renders keepalived.conf (render: keepalived: true): the lab runs the hac agent; set render: keepalived: false to try it", c.Name)
	}
	if !filepath.IsAbs(sp.Root) || filepath.Base(sp.Root) == "/" {
		return nil, argErrorf("lab: --root %q: use an absolute folder such as %s", sp.Root, DefaultRoot)
	}
	if base := filepath.Base(sp.Root); !validID(base) {
		return nil, argErrorf("lab: --root %q: its last element %q starts every namespace name of the lab: use 1 to 32 letters, digits, '.', '_' or '-', not starting with '-' or '.' (the folders above it may have any name)", sp.Root, base)
	}
	pass, err := exec.LookPath("true")
	if err != nil {
		return nil, fmt.Errorf("lab: true(1) is missing: install coreutils")
	}
	fail, err := exec.LookPath("false")
	if err != nil {
		return nil, fmt.Errorf("lab: false(1) is missing: install coreutils")
	}
	s := &State{
		Format: stateFormat, Root: sp.Root, Cluster: c.Name, Paths: sp.Paths, Hac: sp.Hac,
		Pass: pass, Fail: fail,
		Layout: netns.Layout{ID: filepath.Base(sp.Root), NoDAD: true},
	}
	var used []netip.Addr
	if c.Network.Gateway.IsValid() {
		used = append(used, c.Network.Gateway)
	}
	for _, in := range c.Instances {
		for _, v := range in.VIPs {
			if v.Device != "" {
				return nil, fmt.Errorf("lab: %s/%s: VIP %s goes on device %s: the lab makes only the shared interface; leave device out to try the instance", c.Name, in.Name, v.Prefix.Addr(), v.Device)
			}
			used = append(used, v.Prefix.Addr())
		}
	}
	for _, n := range c.Nodes {
		b, ok := sp.Agents[n.Name]
		if !ok {
			return nil, fmt.Errorf("lab: node %s of %s has no agent.json from hac build", n.Name, c.Name)
		}
		cfg, err := config.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("lab: agent.json of %s: %w", n.Name, err)
		}
		if _, err := standIns(cfg); err != nil {
			return nil, fmt.Errorf("lab: node %s: %w", n.Name, err)
		}
		h := netns.Host{Name: n.Name, Iface: n.Interface, MTU: c.Network.MTU}
		for _, a := range n.Addresses {
			sub, ok := c.Network.SubnetFor(a)
			if !ok {
				return nil, fmt.Errorf("lab: node %s: address %s has no subnet", n.Name, a)
			}
			h.Addrs = append(h.Addrs, netip.PrefixFrom(a, sub.Bits()))
			used = append(used, a)
		}
		s.Layout.Nodes = append(s.Layout.Nodes, h)
	}
	caddrs, err := clientAddrs(c.Network.Subnets, used)
	if err != nil {
		return nil, err
	}
	s.Layout.Client = netns.Host{Name: "c", Iface: ClientIface, Addrs: caddrs, MTU: c.Network.MTU}
	if err := s.Layout.Check(); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	names := s.Layout.Namespaces()
	for i, h := range s.Layout.Nodes {
		s.Nodes = append(s.Nodes, &NodeState{Name: h.Name, NS: names[1+i], Iface: h.Iface})
	}
	return s, nil
}

// Up plans the lab (see [Plan]), records it under sp.Root, makes the
// namespaces and starts every node's agent, waits until each answers on
// its status socket, and starts the lab's probe of the VIPs (see
// [RunProbe]). It refuses when a lab is already up at the root.
// Whatever fails, what it made is removed.
func Up(sp Spec) (_ *State, err error) {
	if err := CheckHost(); err != nil {
		return nil, err
	}
	s, err := Plan(sp)
	if err != nil {
		return nil, err
	}
	if _, err := os.Lstat(s.Root); err == nil {
		return nil, rootTaken(s.Root)
	}
	// Before the folder (and with it the clean-up of a failed up, which
	// deletes the recorded namespaces and kills what runs in them): a
	// namespace of that name is someone else's.
	for _, ns := range s.Layout.Namespaces() {
		if netns.Exists(ns) {
			return nil, argErrorf("lab: network namespace %s already exists (a lab at another --root with the same last element %q, or something else's): give --root another last element", ns, filepath.Base(s.Root))
		}
	}
	if err := os.Mkdir(s.Root, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, rootTaken(s.Root)
		}
		return nil, failf("lab: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, Down(s.Root))
		}
	}()
	// The marker first: Down removes only a folder that holds it.
	if err := os.WriteFile(filepath.Join(s.Root, Marker), []byte("This folder was made by hac lab up; hac lab down removes it whole.\n"), 0o600); err != nil {
		return nil, failf("lab: %w", err)
	}
	s.Started = time.Now()
	for _, n := range s.Nodes {
		if err := os.MkdirAll(s.Dir(n), 0o700); err != nil {
			return nil, failf("lab: %w", err)
		}
		if err := os.WriteFile(s.Config(n), sp.Agents[n.Name], 0o600); err != nil {
			return nil, failf("lab: %w", err)
		}
	}
	if err := s.save(); err != nil { // before anything is made: Down reads it
		return nil, err
	}
	if _, err := netns.Create(s.Layout); err != nil {
		return nil, failf("lab: %w", err)
	}
	for _, n := range s.Nodes {
		if err := s.startAgent(n); err != nil {
			return nil, err
		}
		if err := s.save(); err != nil {
			return nil, err
		}
	}
	for _, n := range s.Nodes {
		if err := s.waitAgent(n, 10*time.Second); err != nil {
			return nil, err
		}
	}
	if err := s.startProbe(); err != nil {
		return nil, err
	}
	return s, s.save()
}

// startAgent starts hac agent in the node's namespace, through hac lab's
// node launcher (see [ExecNode]), detached in a session of its own, its
// output appended to the node's log.
func (s *State) startAgent(n *NodeState) error {
	log, err := os.OpenFile(s.Log(n), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return failf("lab: %w", err)
	}
	defer log.Close()
	fmt.Fprintf(log, "---- hac lab starts the agent of %s at %s\n", n.Name, time.Now().Format(time.RFC3339Nano))
	cmd := netns.Command(n.NS, s.Hac, "lab", "exec-node", "--root", s.Root, n.Name)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return failf("lab: start the agent of %s: %w", n.Name, err)
	}
	go cmd.Wait() // reaps it when this process outlives it
	start, err := procStart(cmd.Process.Pid)
	if err != nil {
		return failf("lab: the agent of %s exited at once: see %s", n.Name, s.Log(n))
	}
	n.Agent = Proc{PID: cmd.Process.Pid, Start: start}
	return nil
}

// waitAgent waits until the node's agent answers on its status socket.
func (s *State) waitAgent(n *NodeState, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := query(s.Socket(n)); err == nil {
			return nil
		}
		if !alive(n.Agent) {
			return failf("lab: the agent of %s exited:\n%s", n.Name, tail(s.Log(n), 15))
		}
		if time.Now().After(deadline) {
			return failf("lab: the agent of %s did not answer on %s within %v:\n%s", n.Name, s.Socket(n), timeout, tail(s.Log(n), 15))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Down removes the lab at root: it kills every process in the lab's
// namespaces (the agents and whatever they started), deletes the
// namespaces (and every link in them) and the root folder. It works from
// the recorded state alone, so it also cleans up after a lab command that
// crashed or was killed. It returns an error wrapping ErrNotUp when there
// is nothing at root, and removes nothing from a folder without the
// [Marker] (one up did not make).
func Down(root string) error {
	if err := checkRoot(root); err != nil {
		return err // not a folder up made: never remove it, whatever it holds
	}
	s, err := Load(root)
	if errors.Is(err, ErrNotUp) {
		// Killed before the state was written: nothing was made yet.
		return os.RemoveAll(root)
	}
	if err != nil {
		return err
	}
	names := s.Layout.Namespaces()
	var errs []error
	if err := kill(func() []Proc { return append(inNamespaces(names), started(root, names)...) }); err != nil {
		errs = append(errs, err)
	}
	if err := netns.Remove(names); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(root); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return failf("lab: down: %w", err)
	}
	return nil
}

// tail returns the last n lines of a file, indented.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	lines = lines[max(len(lines)-n, 0):]
	return "    " + strings.Join(lines, "\n    ")
}

// query asks an agent for its status, briefly.
func query(socket string) (*status.Report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	return status.Query(ctx, socket)
}

// rootTaken says why up cannot make the lab at root, which exists.
func rootTaken(root string) error {
	if !isLabRoot(root) {
		return argErrorf("lab: --root %s: the folder exists and is not a lab's (no %s in it): name a folder that does not exist yet; up makes it and down removes it whole", root, Marker)
	}
	what := ""
	if old, err := Load(root); err == nil {
		what = fmt.Sprintf(" (cluster %s, up since %s)", old.Cluster, old.Started.Format(time.TimeOnly))
	}
	return fmt.Errorf("lab: a lab is already up at %s%s: see it with hac lab status, remove it with hac lab down", root, what)
}

// validID reports whether id, the base name of the lab's root, can start
// the lab's namespace names: a name ip(8) takes as a name (never as an
// option or a path), short enough for the node names after it.
func validID(id string) bool {
	if id == "" || len(id) > 32 || id[0] == '-' || id[0] == '.' {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
