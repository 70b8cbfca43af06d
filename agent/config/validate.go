package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hac-project/hac/agent/vrrp"
)

// Limits of the fields that neither the wire format nor Linux fixes.
const (
	// MaxPreemptDelay is keepalived's preempt_delay limit.
	MaxPreemptDelay = 1000 * time.Second
	// MaxWeight bounds track and check weights (keepalived's range).
	MaxWeight = 253
	// MaxGARPRepeat bounds the gratuitous ARPs/NAs per VIP in one burst.
	MaxGARPRepeat = 255
	// maxSocketPath is the longest unix socket path Linux binds
	// (sizeof(sun_path) less the final NUL).
	maxSocketPath = 107
)

// Problem is one thing wrong with a configuration: the field's path in
// agent.json ("instances[0].vrid") and what is wrong, with how to fix it.
// A message never holds the auth pass.
type Problem struct {
	Path    string
	Message string
}

// Error returns "path: message".
func (p *Problem) Error() string { return p.Path + ": " + p.Message }

// Validate checks every field of c against what the agent can run, and
// returns every problem at once (errors.Join of [*Problem]s, in field
// order), or nil. The agent runs it before it touches any address, socket
// or file, and hac build on every agent.json it writes, so a file that
// passes is one the agent accepts. It checks the file alone; what depends
// on the node (interfaces, addresses, users) the agent checks at start.
func (c *Config) Validate() error {
	v := &validator{}
	if c.Format != FormatVersion {
		v.bad("format", "%d, this hac reads format %d: rebuild agent.json with the same hac version (hac build)", c.Format, FormatVersion)
	}
	v.label("cluster", c.Cluster)
	v.label("node", c.Node)
	if s := c.StatusSocket; s != "" {
		switch {
		case !path.IsAbs(s) || path.Clean(s) != s || s == "/":
			v.bad("status_socket", "%q is not an absolute, clean file path: use e.g. %q", s, DefaultStatusSocket)
		case len(s) > maxSocketPath:
			v.bad("status_socket", "%d bytes long: a unix socket path has at most %d: use a shorter one", len(s), maxSocketPath)
		}
	}
	if c.Metrics != "" {
		if err := CheckListenAddress(c.Metrics); err != nil {
			v.bad("metrics", "%v", err)
		}
	}
	if len(c.Instances) == 0 {
		v.bad("instances", "none: nothing to run; add at least one instance")
	}
	type key struct {
		iface string
		six   bool
		vrid  uint8
	}
	vrids := map[key]int{}
	names := map[string]int{}
	vips := map[netip.Addr]int{}
	for i := range c.Instances {
		in := &c.Instances[i]
		at := fmt.Sprintf("instances[%d]", i)
		v.instance(at, in)
		if j, ok := names[in.Name]; ok && in.Name != "" {
			v.bad(at+".name", "%q is also the name of instances[%d]: give every instance its own name", in.Name, j)
		} else {
			names[in.Name] = i
		}
		if in.VRID != 0 && len(in.VIPs) > 0 {
			k := key{in.Interface, in.VIPs[0].Prefix.Addr().Is6(), in.VRID}
			if j, ok := vrids[k]; ok {
				v.bad(at+".vrid", "%d on %s is also the VRID of instances[%d] (%s) for the same address family: VRIDs must be unique per interface and family", in.VRID, in.Interface, j, c.Instances[j].Name)
			} else {
				vrids[k] = i
			}
		}
		for n, x := range in.VIPs {
			a := x.Prefix.Addr()
			if j, ok := vips[a]; ok && j != i {
				v.bad(fmt.Sprintf("%s.vips[%d]", at, n), "%v is also a VIP of instances[%d] (%s): two instances would fight over it; keep it in one", a, j, c.Instances[j].Name)
			} else if a.IsValid() {
				vips[a] = i
			}
		}
	}
	v.syncGroups(c)
	return v.err()
}

// validator collects problems.
type validator struct{ problems []error }

func (v *validator) bad(at, format string, args ...any) {
	v.problems = append(v.problems, &Problem{Path: at, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) err() error { return errors.Join(v.problems...) }

// label checks a name that logs and status show: not empty, printable.
func (v *validator) label(at, s string) {
	switch {
	case s == "":
		v.bad(at, "empty: give it a name")
	case !printable(s):
		v.bad(at, "%q has control characters or invalid UTF-8: use printable characters", s)
	}
}

func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// ifname checks an interface name as Linux accepts it.
func (v *validator) ifname(at, name string) {
	if err := CheckInterfaceName(name); err != nil {
		v.bad(at, "%v", err)
	}
}

// CheckInterfaceName says what is wrong with a Linux interface name, or
// returns nil: 1..15 bytes, not "." or "..", no '/', ':', NUL or blanks.
func CheckInterfaceName(name string) error {
	switch {
	case name == "":
		return errors.New("interface name is empty")
	case len(name) > 15:
		return fmt.Errorf("interface name %q is %d bytes long: Linux allows at most 15", name, len(name))
	case name == "." || name == "..":
		return fmt.Errorf("interface name %q is not allowed", name)
	case strings.ContainsFunc(name, func(r rune) bool { return r == '/' || r == ':' || unicode.IsSpace(r) || r == 0 }):
		return fmt.Errorf("interface name %q must not contain '/', ':' or whitespace", name)
	}
	return nil
}

// CheckListenAddress says what is wrong with a TCP listen address such as
// the metrics address, or returns nil: an IP literal (no host name, which
// would need a resolver at start) and a port 1..65535, "IP:port" or
// "[IPv6]:port".
func CheckListenAddress(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not IP:port: write e.g. \"127.0.0.1:9650\" or \"[::1]:9650\"", s)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n < 1 || strconv.FormatUint(n, 10) != port {
		return fmt.Errorf("%q: port %q is not a number 1..65535: write e.g. \"127.0.0.1:9650\"", s, port)
	}
	if host == "" {
		return fmt.Errorf("%q has no address: write \"127.0.0.1:%s\" for this node only, or \"0.0.0.0:%s\" to listen on every address", s, port, port)
	}
	if a, err := netip.ParseAddr(host); err != nil || a.IsMulticast() {
		return fmt.Errorf("%q: %q is not a unicast IP address (host names are not resolved): write e.g. \"127.0.0.1:%s\"", s, host, port)
	}
	return nil
}

// duration checks a duration that must lie in lo..hi.
func (v *validator) duration(at string, d Duration, lo, hi time.Duration, fix string) {
	if time.Duration(d) < lo || time.Duration(d) > hi {
		v.bad(at, "%v is out of range %v..%v: %s", time.Duration(d), lo, hi, fix)
	}
}

// unicast reports whether a is an address a node can have: valid, not
// unspecified, loopback, multicast, IPv4-mapped or the IPv4 broadcast.
func unicast(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast() && !a.Is4In6() &&
		a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

func (v *validator) instance(at string, in *Instance) {
	v.label(at+".name", in.Name)
	if in.VRID == 0 {
		v.bad(at+".vrid", "0 is out of range 1..255: use the cluster's virtual_router_id")
	}
	versionOK := in.Version == 2 || in.Version == 3
	if !versionOK {
		v.bad(at+".version", "%d: use 2 (RFC 3768) or 3 (RFC 5798)", in.Version)
	}
	v.ifname(at+".interface", in.Interface)
	if in.Priority == 0 {
		v.bad(at+".priority", "0 is out of range 1..255 (0 is what a stopping master sends): use 1..254, or 255 for the address owner")
	}
	if versionOK {
		if err := vrrp.CheckAdvertInt(in.Version, time.Duration(in.AdvertInt)); err != nil {
			v.bad(at+".advert_int", "%v", err)
		}
	}
	v.duration(at+".preempt_delay", in.PreemptDelay, 0, MaxPreemptDelay, "keepalived's preempt_delay range")
	if a := in.Auth; a != nil {
		switch {
		case in.Version != 2:
			v.bad(at+".auth", "authentication is VRRPv2 only (RFC 5798 removed it): remove auth or use version 2")
		case a.Type != "PASS":
			v.bad(at+".auth.type", "%q: only \"PASS\" is supported", a.Type)
		case a.Pass == "" || len(a.Pass) > vrrp.MaxPassLen:
			// Never the pass itself, only its length.
			v.bad(at+".auth.pass", "%d bytes long: PASS needs 1..%d (keepalived would silently cut a longer one; hac never does): use a pass of 1..%d bytes", len(a.Pass), vrrp.MaxPassLen, vrrp.MaxPassLen)
		}
	}
	v.addresses(at, in)
	v.garp(at+".garp", &in.GARP)
	v.tracking(at, in)
}

// addresses checks the VIPs, the source and the peers.
func (v *validator) addresses(at string, in *Instance) {
	if len(in.VIPs) == 0 {
		v.bad(at+".vips", "none: add at least one virtual address")
	}
	if len(in.VIPs) > vrrp.MaxAddrs {
		v.bad(at+".vips", "%d: at most %d fit in one advert; split the instance", len(in.VIPs), vrrp.MaxAddrs)
	}
	six := len(in.VIPs) > 0 && in.VIPs[0].Prefix.Addr().Is6()
	fam := func(six bool) string { return map[bool]string{false: "IPv4", true: "IPv6"}[six] }
	seen := map[netip.Addr]int{}
	for i, x := range in.VIPs {
		vat := fmt.Sprintf("%s.vips[%d]", at, i)
		a := x.Prefix.Addr()
		switch {
		case !x.Prefix.IsValid() || !unicast(a):
			v.bad(vat+".prefix", "%q is not a unicast address with a prefix length: use e.g. \"198.51.100.10/24\"", x.Prefix)
			continue
		case a.Is6() != six:
			v.bad(vat+".prefix", "%v is %s but the first VIP is %s: all VIPs of an instance are of one family", a, fam(a.Is6()), fam(six))
		case a.Is6() && in.Version == 2:
			v.bad(vat+".prefix", "%v: VRRPv2 carries only IPv4: use version 3 for IPv6 VIPs", a)
		}
		if j, ok := seen[a]; ok {
			v.bad(vat+".prefix", "%v is also vips[%d]: list each VIP once", a, j)
		}
		seen[a] = i
		if x.Device != "" {
			v.ifname(vat+".device", x.Device)
		}
		if a == in.Source {
			v.bad(vat+".prefix", "%v is this node's own address (source): a VIP must be an address no node has", a)
		}
	}
	if s := in.Source; s.IsValid() {
		switch {
		case !unicast(s) || s.Zone() != "":
			v.bad(at+".source", "%v is not a unicast address of this node: use the node's address on %s, or leave source out", s, in.Interface)
		case len(in.VIPs) > 0 && s.Is6() != six:
			v.bad(at+".source", "%v is %s but the VIPs are %s: use the node's %s address", s, fam(s.Is6()), fam(six), fam(six))
		case s.Is6() && !in.Unicast && !s.IsLinkLocalUnicast():
			v.bad(at+".source", "%v: IPv6 multicast adverts are sent from the interface's link-local address (RFC 5798 section 5.1.2.1): use an fe80:: address or leave source out", s)
		}
	}
	switch {
	case in.Unicast && len(in.Peers) == 0:
		v.bad(at+".peers", "none with unicast: list the other nodes' addresses, or set unicast to false")
	case !in.Unicast && len(in.Peers) > 0:
		v.bad(at+".peers", "only unicast sends to peers: remove them, or set unicast to true")
	}
	isVIP := func(a netip.Addr) bool { _, ok := seen[a]; return ok }
	peers := map[netip.Addr]int{}
	for i, p := range in.Peers {
		pat := fmt.Sprintf("%s.peers[%d]", at, i)
		switch {
		case !unicast(p) || p.Zone() != "":
			v.bad(pat, "%v is not a unicast address: list the other nodes' addresses", p)
		case len(in.VIPs) > 0 && p.Is6() != six:
			v.bad(pat, "%v is %s but the VIPs are %s: peers are of the VIPs' family", p, fam(p.Is6()), fam(six))
		case p == in.Source:
			v.bad(pat, "%v is this node's own address (source): list only the other nodes", p)
		case isVIP(p):
			v.bad(pat, "%v is a VIP of this instance: a VIP must be an address no node has", p)
		}
		if j, ok := peers[p]; ok {
			v.bad(pat, "%v is also peers[%d]: list each peer once", p, j)
		}
		peers[p] = i
	}
}

// garp checks the gratuitous ARP / NA schedule.
func (v *validator) garp(at string, g *GARP) {
	if g.Repeat < 1 || g.Repeat > MaxGARPRepeat {
		v.bad(at+".repeat", "%d is out of range 1..%d", g.Repeat, MaxGARPRepeat)
	}
	if g.Delay < 0 {
		v.bad(at+".delay", "%v is negative: use 0s for no second burst", time.Duration(g.Delay))
	}
	if g.Refresh < 0 {
		v.bad(at+".refresh", "%v is negative: use 0s for no refresh", time.Duration(g.Refresh))
	}
	switch {
	case g.RefreshRepeat < 0 || g.RefreshRepeat > MaxGARPRepeat:
		v.bad(at+".refresh_repeat", "%d is out of range 1..%d", g.RefreshRepeat, MaxGARPRepeat)
	case g.Refresh > 0 && g.RefreshRepeat == 0:
		v.bad(at+".refresh_repeat", "0 with a refresh period: use 1..%d", MaxGARPRepeat)
	}
}

// tracking checks tracked interfaces, checks and notify commands.
func (v *validator) tracking(at string, in *Instance) {
	weight := func(wat string, w int) {
		switch {
		case w < -MaxWeight || w > MaxWeight:
			v.bad(wat, "%d is out of range %d..%d (keepalived's range)", w, -MaxWeight, MaxWeight)
		case w != 0 && in.Priority == 255:
			v.bad(wat, "%d has no effect at priority 255: the address owner keeps 255 and goes to FAULT while the item is down; use weight 0", w)
		}
	}
	tracked := map[string]int{}
	for i, t := range in.Track {
		tat := fmt.Sprintf("%s.track_interfaces[%d]", at, i)
		v.ifname(tat+".interface", t.Interface)
		if j, ok := tracked[t.Interface]; ok && t.Interface != "" {
			v.bad(tat+".interface", "%s is also track_interfaces[%d]: track each interface once", t.Interface, j)
		}
		tracked[t.Interface] = i
		weight(tat+".weight", t.Weight)
	}
	checks := map[string]int{}
	for i := range in.Checks {
		k := &in.Checks[i]
		cat := fmt.Sprintf("%s.checks[%d]", at, i)
		v.label(cat+".name", k.Name)
		if j, ok := checks[k.Name]; ok && k.Name != "" {
			v.bad(cat+".name", "%q is also checks[%d]: give every check its own name", k.Name, j)
		}
		checks[k.Name] = i
		v.argv(cat+".command", k.Command, true)
		if k.Interval <= 0 {
			v.bad(cat+".interval", "%v: use a positive duration such as \"2s\"", time.Duration(k.Interval))
		}
		if k.Timeout <= 0 {
			v.bad(cat+".timeout", "%v: use a positive duration such as \"2s\"", time.Duration(k.Timeout))
		}
		if k.Rise < 1 {
			v.bad(cat+".rise", "%d: use at least 1", k.Rise)
		}
		if k.Fall < 1 {
			v.bad(cat+".fall", "%d: use at least 1", k.Fall)
		}
		weight(cat+".weight", k.Weight)
		if k.User != "" && (!printable(k.User) || strings.ContainsAny(k.User, " :/")) {
			v.bad(cat+".user", "%q is not a user name: use the name of a user on the node, or leave user out", k.User)
		}
	}
	v.notify(at+".notify", in.Notify)
}

// notify checks the notify commands of an instance or a sync group.
func (v *validator) notify(at string, n *Notify) {
	if n == nil {
		return
	}
	v.argv(at+".master", n.Master, false)
	v.argv(at+".backup", n.Backup, false)
	v.argv(at+".fault", n.Fault, false)
	v.argv(at+".stop", n.Stop, false)
	v.argv(at+".all", n.All, false)
}

// syncGroups checks the sync groups: named, of this node's instances, each
// instance in one group at most, and no weighted tracked interface or
// check in a member (keepalived ignores those weights in a sync group:
// the group moves on faults, never on priorities).
func (v *validator) syncGroups(c *Config) {
	names := map[string]int{}
	member := map[string]int{}
	for g := range c.SyncGroups {
		sg := &c.SyncGroups[g]
		at := fmt.Sprintf("sync_groups[%d]", g)
		v.label(at+".name", sg.Name)
		if j, ok := names[sg.Name]; ok && sg.Name != "" {
			v.bad(at+".name", "%q is also the name of sync_groups[%d]: give every sync group its own name", sg.Name, j)
		}
		names[sg.Name] = g
		if len(sg.Instances) == 0 {
			v.bad(at+".instances", "none: list the instances that fail over together")
		}
		for k, name := range sg.Instances {
			iat := fmt.Sprintf("%s.instances[%d]", at, k)
			i := slices.IndexFunc(c.Instances, func(in Instance) bool { return in.Name == name })
			if i < 0 {
				v.bad(iat, "%q is not an instance of this node: list instances by name", name)
				continue
			}
			if j, ok := member[name]; ok {
				v.bad(iat, "%q is already in sync_groups[%d]: an instance is in one sync group at most", name, j)
				continue
			}
			member[name] = g
			in := &c.Instances[i]
			for t, tr := range in.Track {
				if tr.Weight != 0 {
					v.bad(fmt.Sprintf("instances[%d].track_interfaces[%d].weight", i, t), "%d in sync group %q: a sync group moves on faults, not on priorities (keepalived ignores these weights): use weight 0", tr.Weight, sg.Name)
				}
			}
			for k, ch := range in.Checks {
				if ch.Weight != 0 {
					v.bad(fmt.Sprintf("instances[%d].checks[%d].weight", i, k), "%d in sync group %q: a sync group moves on faults, not on priorities (keepalived ignores these weights): use weight 0", ch.Weight, sg.Name)
				}
			}
		}
		v.notify(at+".notify", sg.Notify)
	}
}

// argv checks a command line run without a shell; an empty one is an
// error only when required.
func (v *validator) argv(at string, argv []string, required bool) {
	switch {
	case len(argv) == 0 && required:
		v.bad(at, "empty: give the program and its arguments, e.g. [\"/usr/local/bin/check\", \"--quiet\"]")
	case len(argv) > 0 && argv[0] == "":
		v.bad(at+"[0]", "the program name is empty: give the program to run")
	}
	for i, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			v.bad(fmt.Sprintf("%s[%d]", at, i), "has a NUL byte, which no argument can hold")
		}
	}
}
