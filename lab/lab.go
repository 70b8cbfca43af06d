// Package lab runs a cluster on one Linux machine, so its failover can be
// watched before it ships: hac lab up, fail, heal, status, watch, run and
// down. Each node is a network namespace whose interface keeps the
// cluster's own name and addresses, on a bridge in a namespace of its own,
// with a client namespace to probe the VIPs from (package netns, the same
// code the project's integration tests use). No veth reaches the root
// namespace: nothing the lab holds is routed to or from the host.
//
// Each node runs the hac binary's own agent with the exact agent.json hac
// build renders for it, in the node's namespace. Health-check and notify
// programs named in agent.json are stood in for inside the node (a mount
// namespace of the node's own): a check passes until hac lab fail --check
// makes it fail, and a notify command does nothing, so the lab never runs
// the cluster's commands on the machine it runs on.
//
// A probe in the client namespace pings every VIP from up to down ([RunProbe]);
// Status, Watch and Script report lost probes and the longest gap between
// replies. A lab's state (its namespace names, the agents' and the probe's
// process ids, the faults in force) is recorded under its root
// (/run/hac-lab) before anything is made, so Down removes everything also
// after hac itself was killed.
package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/internal/netns"
)

// DefaultRoot is where a lab records its state.
const DefaultRoot = "/run/hac-lab"

// Marker is the file up writes first into the root folder it makes. Down
// removes a root folder only when it holds the marker: the folder is then
// the lab's, made by up, and nothing else is in it. (A --root naming any
// other folder, /tmp or a project, is left alone.)
const Marker = ".hac-lab"

// isLabRoot reports whether root holds the [Marker].
func isLabRoot(root string) bool {
	fi, err := os.Lstat(filepath.Join(root, Marker))
	return err == nil && fi.Mode().IsRegular()
}

// checkRoot returns nil when root is a folder up made (it holds the
// [Marker]), or an error saying why the lab's commands leave it alone:
// wrapping [ErrNotUp] when it holds no lab.
func checkRoot(root string) error {
	if isLabRoot(root) {
		return nil
	}
	if _, err := Load(root); err != nil {
		return err
	}
	return fmt.Errorf("lab: %s has a state.json but no %s: it is not a folder hac lab up made; nothing was changed", root, Marker)
}

// stateFormat is the version of state.json.
const stateFormat = 1

// ErrNotUp says there is no lab at the root.
var ErrNotUp = errors.New("no lab is up")

// A FailError is work the lab could not do: a namespace, an agent or the
// probe that would not start or stop, a signal, a mount, a file it could
// not write. The CLI exits 4 for it, as for every failure (a refusal
// exits 1, a bad argument 3).
type FailError struct{ Err error }

func (e *FailError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *FailError) Unwrap() error { return e.Err }

// failf returns a *FailError with the message (%w wraps as in fmt.Errorf).
func failf(format string, args ...any) error {
	return &FailError{fmt.Errorf(format, args...)}
}

// An ArgError is a request the lab refuses because an argument is wrong (an
// unknown node or check, --how together with --check, a --root it cannot
// name namespaces after): nothing was changed, and the CLI exits 3 as for
// every bad argument.
type ArgError struct{ msg string }

func (e *ArgError) Error() string { return e.msg }

// argErrorf returns an *ArgError with the message.
func argErrorf(format string, args ...any) error {
	return &ArgError{fmt.Sprintf(format, args...)}
}

// State is a lab as recorded in ROOT/state.json: written before the
// namespaces are made and after every change, so Down finds all of it.
type State struct {
	Format  int          `json:"format"`
	Root    string       `json:"root"`
	Cluster string       `json:"cluster"`
	Paths   []string     `json:"paths"` // what the cluster was loaded from
	Started time.Time    `json:"started"`
	Layout  netns.Layout `json:"layout"`
	// Hac is the executable the agents run (hac agent).
	Hac string `json:"hac"`
	// Pass and Fail are the programs that stand in for a passing and a
	// failing health check (true(1) and false(1)).
	Pass string `json:"pass"`
	Fail string `json:"fail"`
	// Nodes are the cluster's nodes, in Layout order.
	Nodes []*NodeState `json:"nodes"`
	// Probe is the running probe of the VIPs (hac lab probe, in the
	// client namespace; see [RunProbe]).
	Probe Proc `json:"probe"`
}

// NodeState is one node of a lab.
type NodeState struct {
	Name  string `json:"name"`
	NS    string `json:"ns"`
	Iface string `json:"iface"`
	// Agent is the node's hac agent process; zero when it is not running.
	Agent Proc `json:"agent"`
	// Faults are the faults in force: stop, kill, freeze, link and
	// check:NAME.
	Faults []string `json:"faults,omitempty"`
}

// Proc identifies a process across pid reuse: its pid and its start time
// in clock ticks since boot (/proc/PID/stat field 22).
type Proc struct {
	PID   int    `json:"pid,omitempty"`
	Start uint64 `json:"start,omitempty"`
}

// Dir is the node's folder under the lab root: agent.json, its log and
// its status socket.
func (s *State) Dir(n *NodeState) string { return filepath.Join(s.Root, "nodes", n.Name) }

// Config is the path of the node's agent.json (the bytes hac build wrote).
func (s *State) Config(n *NodeState) string { return filepath.Join(s.Dir(n), "agent.json") }

// Socket is the node's agent status socket.
func (s *State) Socket(n *NodeState) string { return filepath.Join(s.Dir(n), "agent.sock") }

// Log is the node's agent log.
func (s *State) Log(n *NodeState) string { return filepath.Join(s.Dir(n), "agent.log") }

// Node returns the named node or an error listing the lab's nodes.
func (s *State) Node(name string) (*NodeState, error) {
	var names []string
	for _, n := range s.Nodes {
		if n.Name == name {
			return n, nil
		}
		names = append(names, n.Name)
	}
	return nil, argErrorf("lab: cluster %s has no node %q: use one of %s", s.Cluster, name, strings.Join(names, ", "))
}

// AgentConfig reads the node's agent.json.
func (s *State) AgentConfig(n *NodeState) (*config.Config, error) {
	b, err := os.ReadFile(s.Config(n))
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	c, err := config.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("lab: %s: %w", s.Config(n), err)
	}
	return c, nil
}

// save writes the state atomically (mode 0600).
func (s *State) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.Root, ".state.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return failf("lab: record state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.Root, "state.json")); err != nil {
		return failf("lab: record state: %w", err)
	}
	return nil
}

// Load reads the state of the lab at root; it returns an error wrapping
// ErrNotUp when there is none.
func Load(root string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(root, "state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("lab: %w (no %s): start one with sudo hac lab up PATH", ErrNotUp, filepath.Join(root, "state.json"))
	}
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("lab: %s: %w: remove the lab with hac lab down", filepath.Join(root, "state.json"), err)
	}
	if s.Format != stateFormat {
		return nil, fmt.Errorf("lab: %s has format %d, this hac reads %d: remove the lab with the hac that made it", filepath.Join(root, "state.json"), s.Format, stateFormat)
	}
	return &s, nil
}

// CheckHost refuses, with the reason and the fix, to run a lab where it
// cannot: not root, no network or mount namespaces in the kernel, a tool
// missing.
func CheckHost() error {
	if os.Geteuid() != 0 {
		return errors.New("lab: needs root (it makes network namespaces and runs the agents): run it with sudo")
	}
	for _, ns := range []string{"net", "mnt"} {
		if _, err := os.Stat("/proc/self/ns/" + ns); err != nil {
			return fmt.Errorf("lab: this kernel has no %s namespaces (/proc/self/ns/%s: %v): the lab needs a kernel built with CONFIG_NET_NS", ns, ns, err)
		}
	}
	for _, tool := range []string{"ip", "nsenter", "mount", "umount", "true", "false"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("lab: %s is missing: install iproute2, util-linux, mount and coreutils", tool)
		}
	}
	return nil
}

// clientAddrs picks the client's address in each subnet: the highest host
// address no node, VIP or gateway uses.
func clientAddrs(subnets []netip.Prefix, used []netip.Addr) ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, p := range subnets {
		last := lastAddr(p)
		a := last
		if p.Addr().Is4() {
			a = a.Prev() // the broadcast address
		}
		for ; a.IsValid() && p.Contains(a) && a != p.Addr(); a = a.Prev() {
			if !slices.Contains(used, a) {
				break
			}
		}
		if !a.IsValid() || !p.Contains(a) || a == p.Addr() {
			return nil, fmt.Errorf("lab: subnet %s has no free address for the lab's client", p)
		}
		ps = append(ps, netip.PrefixFrom(a, p.Bits()))
	}
	return ps, nil
}

// lastAddr returns the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := range b {
		if i*8 >= p.Bits() {
			b[i] = 0xff
		} else if i*8+8 > p.Bits() {
			b[i] |= byte(0xff >> (p.Bits() - i*8))
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
