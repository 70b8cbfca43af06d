// Package model is hac's typed description of HA clusters: what the
// compiler produces from CUE, YAML or JSON, and what every target renders.
//
// The model is plain Go. It never imports CUE, so targets, hac apply and
// tests can build clusters by hand. Every value the compiler produces is
// already validated: addresses parse, priorities are ordered, VRIDs are in
// range. Slices are sorted by name so renderers are deterministic without
// sorting again.
package model

import (
	"fmt"
	"net/netip"
	"time"
)

// Pos is a position in a user's source file, as file:line:col. The zero Pos
// means "no position known".
type Pos struct {
	File string
	Line int
	Col  int
}

// String returns "file:line:col", or "-" for the zero Pos.
func (p Pos) String() string {
	if p.File == "" {
		return "-"
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Renderer names the tool that configures a node's shared interface.
type Renderer string

// The network renderers a node can use.
const (
	RenderNetplan  Renderer = "netplan"  // /etc/netplan/60-hac-<iface>.yaml
	RenderIfupdown Renderer = "ifupdown" // /etc/network/interfaces.d/hac-<iface>
	RenderNone     Renderer = "none"     // the interface is configured by someone else
)

// Cluster is one HA cluster: nodes sharing one L2 segment and the VRRP
// instances that move virtual addresses between them.
type Cluster struct {
	Name      string
	Pos       Pos // where the cluster is declared
	Network   Network
	Nodes     []*Node     // sorted by Name
	Instances []*Instance // sorted by Name
	// SyncGroups are instances that fail over together (keepalived's
	// vrrp_sync_group), sorted by Name.
	SyncGroups []SyncGroup
	// Keepalived asks for /etc/keepalived/keepalived.conf on every node
	// (sites that keep keepalived instead of the hac agent).
	Keepalived bool
	Agent      AgentOptions
}

// Node returns the node with the given name, or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Instance returns the instance with the given name, or nil.
func (c *Cluster) Instance(name string) *Instance {
	for _, in := range c.Instances {
		if in.Name == name {
			return in
		}
	}
	return nil
}

// Network is the shared segment the VRRP instances run on.
type Network struct {
	Interface string         // default interface name on every node, e.g. "eth1"
	Subnets   []netip.Prefix // masked; at most one IPv4 and one IPv6 prefix
	Gateway   netip.Addr     // optional; invalid when unset
	MTU       int            // 0 when unset
}

// SubnetFor returns the subnet of a's address family and whether there is one.
func (n Network) SubnetFor(a netip.Addr) (netip.Prefix, bool) {
	for _, p := range n.Subnets {
		if p.Addr().Is4() == a.Is4() {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// Node is one machine of a cluster.
type Node struct {
	Name      string
	Pos       Pos
	Interface string       // effective name of the shared interface on this node
	Addresses []netip.Addr // static addresses on the shared interface; at most one per family, IPv4 first
	SSH       SSH
	Render    Renderer
}

// Address returns the node's address of the given family (4 or 6) and
// whether it has one.
func (n *Node) Address(family int) (netip.Addr, bool) {
	for _, a := range n.Addresses {
		if (family == 4) == a.Is4() {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// SSH says how hac apply reaches a node.
type SSH struct {
	Host string // host name, address or ~/.ssh/config alias
	User string // empty: from ~/.ssh/config or the current user
	Port int    // 0: from ~/.ssh/config or 22
	Jump string // optional jump host, "[user@]host[:port]", like ssh -J
	// Become is how a login that is not root runs commands as root:
	// BecomeSudo, or "" (the login user is root).
	Become string
}

// BecomeSudo runs every remote command through "sudo -n".
const BecomeSudo = "sudo"

// AuthType is the VRRPv2 authentication type.
type AuthType string

// The authentication types hac supports.
const (
	AuthNone AuthType = ""     // no authentication
	AuthPass AuthType = "PASS" // RFC 2338 simple text password (cleartext on the wire)
)

// Instance is one VRRP instance (keepalived's vrrp_instance).
type Instance struct {
	Name         string
	Pos          Pos
	VRID         uint8
	Version      int           // 2 or 3
	Family       int           // 4 or 6, the family of the VIPs
	AdvertInt    time.Duration // v2: whole seconds; v3: 10 ms steps
	Members      []Member      // the nodes taking part, sorted by priority, highest first
	Preempt      bool
	PreemptDelay time.Duration
	Auth         Auth
	VIPs         []VIP
	Unicast      bool // true: adverts go to each peer; false: multicast 224.0.0.18 / ff02::12
	GARP         GARP
	Track        []TrackInterface
	Checks       []Check
	Notify       Notify
}

// Member is a node's part in an instance.
type Member struct {
	Node     string
	Priority uint8
	// Interface is the interface the instance runs on for this node
	// (the node's shared interface).
	Interface string
	// Source is the address adverts are sent from: the node's address of
	// the instance's family; invalid for IPv6 multicast, where the link-local
	// address is used.
	Source netip.Addr
	// Peers are the unicast destinations: the other members' Source
	// addresses, in member order. Empty for multicast.
	Peers []netip.Addr
}

// Member returns the member for the named node, or nil.
func (in *Instance) Member(node string) *Member {
	for i := range in.Members {
		if in.Members[i].Node == node {
			return &in.Members[i]
		}
	}
	return nil
}

// Master returns the member expected to be master when all is well:
// the one with the highest priority.
func (in *Instance) Master() *Member {
	if len(in.Members) == 0 {
		return nil
	}
	return &in.Members[0]
}

// Auth is VRRPv2 authentication.
type Auth struct {
	Type AuthType
	Pass Secret
}

// VIP is a virtual address the instance moves between nodes.
type VIP struct {
	Prefix netip.Prefix // the address with its prefix length (/32 or /128 unless given)
	Device string       // empty: the instance's interface
}

// GARP controls gratuitous ARP / unsolicited neighbour advertisements sent
// on becoming master (keepalived's garp_master_*).
type GARP struct {
	Repeat        int           // messages per VIP per burst (keepalived default 5)
	Delay         time.Duration // second burst after this; 0 for none (default 5s)
	Refresh       time.Duration // periodic refresh while master; 0 for none
	RefreshRepeat int           // messages per VIP per refresh (default 1)
}

// TrackInterface changes the priority with the state of an interface, as
// keepalived's track_interface does: a positive Weight is added while the
// interface is up, a negative one while it is down; Weight 0 means the
// instance goes to fault while it is down (keepalived's default).
type TrackInterface struct {
	Interface string
	Weight    int
}

// Check is a health-check command (keepalived's vrrp_script).
type Check struct {
	Name     string
	Command  []string // argv; run without a shell
	Interval time.Duration
	Timeout  time.Duration
	Rise     int // successes before the check counts as up
	Fall     int // failures before the check counts as down
	Weight   int // added to the priority while up (>0) or while down (<0); 0: fault while down
	User     string
}

// Notify holds commands run on state changes; each is an argv, empty when
// unset. All is keepalived's generic notify: it runs on every change with
// "INSTANCE" (or "GROUP"), the name, the state (MASTER, BACKUP, FAULT,
// STOP) and the priority (0 for a group) appended.
type Notify struct {
	Master []string
	Backup []string
	Fault  []string
	Stop   []string
	All    []string
}

// IsZero reports whether no command is set.
func (n Notify) IsZero() bool {
	return len(n.Master)+len(n.Backup)+len(n.Fault)+len(n.Stop)+len(n.All) == 0
}

// SyncGroup is a set of instances that fail over together (keepalived's
// vrrp_sync_group): one member in fault puts every member in fault, and
// they become master and backup together. Its members run on the same
// nodes with the same transport.
type SyncGroup struct {
	Name      string
	Pos       Pos
	Instances []string // the members' names, as written
	Notify    Notify
}

// SyncGroupOf returns the sync group the named instance is in, or nil.
func (c *Cluster) SyncGroupOf(instance string) *SyncGroup {
	for i := range c.SyncGroups {
		for _, name := range c.SyncGroups[i].Instances {
			if name == instance {
				return &c.SyncGroups[i]
			}
		}
	}
	return nil
}

// AgentOptions configures the hac agent on every node of a cluster.
type AgentOptions struct {
	StatusSocket string // unix socket for hac-agent status
	Metrics      string // IP:port the agent serves Prometheus metrics on; empty: none
}

// Secret is a value that must never be printed: its String and GoString
// methods mask it, so logs, diffs and errors never carry it. Reveal gives
// the value to the renderers that must write it.
type Secret struct {
	value string
	// Ref describes where the value came from when it is not written in
	// the configuration itself, e.g. "env NCP_LB_PASS"; empty for a literal.
	Ref string
}

// NewSecret wraps a value.
func NewSecret(value, ref string) Secret { return Secret{value: value, Ref: ref} }

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret has no value.
func (s Secret) IsZero() bool { return s.value == "" }

// String returns a mask, never the value.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return "******"
}

// GoString returns a mask, never the value.
func (s Secret) GoString() string { return `model.Secret("******")` }

// MarshalText returns a mask, never the value, so that encoding a model
// cannot leak it.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
