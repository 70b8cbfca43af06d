// Package config is the format of /etc/hac/agent.json, the file hac build
// writes for each node and hac agent reads: everything the agent needs and
// nothing more. The format is versioned; a file of another version is
// refused with a message saying which hac wrote it. [Config.Validate] is
// the one check of every field: the agent runs it before it touches
// anything, and hac build on every file it writes.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"time"
)

// FormatVersion is the version of the agent.json format this hac reads and writes.
const FormatVersion = 1

// DefaultPath is where hac build puts the agent's configuration on a node.
const DefaultPath = "/etc/hac/agent.json"

// MetricsProgram is the agent's Prometheus exporter (cmd/hac-metrics):
// the agent runs it, from the folder of its own binary, while
// agent.metrics is set, so that the daemon itself links no HTTP server
// and no metrics library. hac apply installs it next to hac-agent.
const MetricsProgram = "hac-metrics"

// DefaultStatusSocket is the unix socket hac-agent status talks to.
const DefaultStatusSocket = "/run/hac/agent.sock"

// Config is the whole agent configuration of one node.
type Config struct {
	Format       int    `json:"format"`
	Cluster      string `json:"cluster"`
	Node         string `json:"node"`
	StatusSocket string `json:"status_socket"`
	// Metrics is the address (IP:port) Prometheus metrics are served on,
	// at /metrics, by the agent's exporter (MetricsProgram), which the
	// agent runs on the socket it opens there; empty: none.
	Metrics   string     `json:"metrics,omitempty"`
	Instances []Instance `json:"instances"`
	// SyncGroups are keepalived's vrrp_sync_group: instances that fail
	// over together (package fsm's Group).
	SyncGroups []SyncGroup `json:"sync_groups,omitempty"`
}

// SyncGroup is a set of this node's instances that move between MASTER,
// BACKUP and FAULT together, by name, with the group's notify commands
// (the generic one gets "GROUP", the name, the state and 0).
type SyncGroup struct {
	Name      string   `json:"name"`
	Instances []string `json:"instances"`
	Notify    *Notify  `json:"notify,omitempty"`
}

// Instance is one VRRP instance as this node runs it.
type Instance struct {
	Name         string       `json:"name"`
	VRID         uint8        `json:"vrid"`
	Version      int          `json:"version"` // 2 or 3
	Interface    string       `json:"interface"`
	Priority     uint8        `json:"priority"`
	AdvertInt    Duration     `json:"advert_int"`
	Preempt      bool         `json:"preempt"`
	PreemptDelay Duration     `json:"preempt_delay,omitempty"`
	Auth         *Auth        `json:"auth,omitempty"`  // VRRPv2 only
	Source       netip.Addr   `json:"source,omitzero"` // local address adverts are sent from; zero: interface primary / link-local
	Unicast      bool         `json:"unicast"`
	Peers        []netip.Addr `json:"peers,omitempty"`
	VIPs         []VIP        `json:"vips"`
	GARP         GARP         `json:"garp"`
	Track        []Track      `json:"track_interfaces,omitempty"`
	Checks       []Check      `json:"checks,omitempty"`
	Notify       *Notify      `json:"notify,omitempty"`
}

// Auth is VRRPv2 authentication; Type is "PASS".
type Auth struct {
	Type string `json:"type"`
	Pass string `json:"pass"`
}

// VIP is a virtual address with its prefix length, and the device it goes on
// when that is not the instance's interface.
type VIP struct {
	Prefix netip.Prefix `json:"prefix"`
	Device string       `json:"device,omitempty"`
}

// GARP is the gratuitous ARP / unsolicited NA schedule on becoming master.
type GARP struct {
	Repeat        int      `json:"repeat"`
	Delay         Duration `json:"delay"`
	Refresh       Duration `json:"refresh,omitempty"`
	RefreshRepeat int      `json:"refresh_repeat,omitempty"`
}

// Track is a tracked interface; Weight 0 means fault while it is down.
type Track struct {
	Interface string `json:"interface"`
	Weight    int    `json:"weight"`
}

// Check is a health-check command.
type Check struct {
	Name     string   `json:"name"`
	Command  []string `json:"command"`
	Interval Duration `json:"interval"`
	Timeout  Duration `json:"timeout"`
	Rise     int      `json:"rise"`
	Fall     int      `json:"fall"`
	Weight   int      `json:"weight"`
	User     string   `json:"user,omitempty"`
}

// Notify holds argv lists run on transitions. All is keepalived's generic
// notify: it runs on every one with four more arguments, "INSTANCE" (or
// "GROUP"), the name, the state (MASTER, BACKUP, FAULT or STOP) and the
// priority (0 for a group).
type Notify struct {
	Master []string `json:"master,omitempty"`
	Backup []string `json:"backup,omitempty"`
	Fault  []string `json:"fault,omitempty"`
	Stop   []string `json:"stop,omitempty"`
	All    []string `json:"all,omitempty"`
}

// Commands returns every command n holds (master, backup, fault, stop,
// all), skipping unset ones; none for a nil Notify.
func (n *Notify) Commands() [][]string {
	if n == nil {
		return nil
	}
	var out [][]string
	for _, argv := range [][]string{n.Master, n.Backup, n.Fault, n.Stop, n.All} {
		if len(argv) > 0 {
			out = append(out, argv)
		}
	}
	return out
}

// Duration is a time.Duration written as a Go duration string ("1s", "100ms").
type Duration time.Duration

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q: write it like \"1s\" or \"100ms\"", b)
	}
	*d = Duration(v)
	return nil
}

// Marshal encodes c canonically: indented JSON with a final newline, the
// same bytes for the same configuration.
func Marshal(c *Config) ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Parse decodes an agent configuration, refusing other format versions,
// unknown fields, keys that match a field only when case is ignored and
// keys given twice in one object.
func Parse(b []byte) (*Config, error) {
	var probe struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	if probe.Format != FormatVersion {
		return nil, fmt.Errorf("agent config: format %d, this hac reads format %d: rebuild it with the same hac version (hac build) and ship both together", probe.Format, FormatVersion)
	}
	// encoding/json matches keys ignoring case and keeps the last of
	// duplicates: refuse both before decoding.
	if err := exactKeys(b, reflect.TypeFor[Config]()); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	return &c, nil
}

// Load reads and parses the file at path.
func Load(path string) (*Config, []byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	c, err := Parse(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, b, nil
}

// Digest is the configuration digest hac-agent status reports and hac
// status compares with the built file: "sha256:" and the hex SHA-256 of the
// file's bytes.
func Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// String masks the pass, so that printing an Auth (%v, %+v) never shows it.
func (a Auth) String() string { return a.Type + " ******" }

// GoString masks the pass for %#v too.
func (a Auth) GoString() string {
	return "config.Auth{Type: " + strconv.Quote(a.Type) + ", Pass: \"******\"}"
}
