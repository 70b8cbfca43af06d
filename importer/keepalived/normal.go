package keepalived

import (
	"cmp"
	"net/netip"
	"slices"
	"time"
)

// keepalived 2.2.7's defaults (vrrp-reference.md section 3.1).
const (
	defaultPriority       = 100
	defaultOwnerPriority  = 255 // state MASTER without priority
	defaultAdvertInt      = time.Second
	defaultGARPDelay      = 5 * time.Second
	defaultGARPRepeat     = 5
	defaultRefreshRepeat  = 1
	defaultScriptInterval = time.Second
	defaultScriptRise     = 1
	defaultScriptFall     = 1
	defaultScriptUser     = "root" // without script_user, keepalived runs scripts as root
)

// Meaning is what a node's keepalived.conf does, with keepalived's
// defaults applied and everything that does not change behaviour left out
// (the order of statements, names of vrrp_script blocks, the initial state
// once it has given the default priority, a VIP's device when it is the
// instance's interface). Two files with equal Meanings make keepalived
// behave the same.
type Meaning struct {
	Instances  []InstanceMeaning  // sorted by name
	SyncGroups []SyncGroupMeaning // sorted by name
}

// SyncGroupMeaning is one vrrp_sync_group: its members (sorted) and
// notify commands.
type SyncGroupMeaning struct {
	Name      string
	Instances []string
	Notify    Notify
}

// InstanceMeaning is one vrrp_instance with defaults applied.
type InstanceMeaning struct {
	Name         string
	Interface    string
	VRID         int
	Version      int
	Priority     int
	AdvertInt    time.Duration
	Preempt      bool
	PreemptDelay time.Duration
	AuthPass     string // "" without PASS authentication (and always in VRRPv3)
	VIPs         []VIP  // sorted, Dev always set
	Unicast      bool
	Source       netip.Addr   // unicast_src_ip; invalid for multicast
	Peers        []netip.Addr // sorted
	Track        []TrackInterface
	Checks       []CheckMeaning // sorted by command
	Notify       Notify
	GARP         GARPMeaning
}

// CheckMeaning is a tracked vrrp_script with its effective weight.
type CheckMeaning struct {
	Command  []string
	Interval time.Duration
	Timeout  time.Duration
	Rise     int
	Fall     int
	Weight   int
	User     string
}

// GARPMeaning holds the effective garp_master_* settings.
type GARPMeaning struct {
	Delay         time.Duration
	Repeat        int
	Refresh       time.Duration
	RefreshRepeat int
}

// Meaning returns the file's meaning.
func (c *Config) Meaning() Meaning {
	var m Meaning
	for _, in := range c.Instances {
		m.Instances = append(m.Instances, c.instanceMeaning(in))
	}
	slices.SortFunc(m.Instances, func(a, b InstanceMeaning) int { return cmp.Compare(a.Name, b.Name) })
	for _, g := range c.SyncGroups {
		m.SyncGroups = append(m.SyncGroups, SyncGroupMeaning{Name: g.Name, Instances: sortedNames(g.Instances), Notify: g.Notify})
	}
	slices.SortFunc(m.SyncGroups, func(a, b SyncGroupMeaning) int { return cmp.Compare(a.Name, b.Name) })
	return m
}

// version returns the instance's effective VRRP version.
func (c *Config) version(in *Instance) int {
	switch {
	case in.Version != 0:
		return in.Version
	case c.Global.VRRPVersion != 0:
		return c.Global.VRRPVersion
	case len(in.VIPs) > 0 && in.VIPs[0].Prefix.Addr().Is6():
		return 3
	}
	return 2
}

// priority returns the instance's effective priority.
func priority(in *Instance) int {
	switch {
	case in.Priority != 0:
		return in.Priority
	case in.State == "MASTER":
		return defaultOwnerPriority
	}
	return defaultPriority
}

// advertInt returns the effective interval: VRRPv2 rounds to whole seconds.
func advertInt(in *Instance, version int) time.Duration {
	d := cmp.Or(in.AdvertInt, defaultAdvertInt)
	if version == 2 {
		d = max(d.Round(time.Second), time.Second)
	}
	return d
}

// preempt reports whether the instance preempts: keepalived clears
// nopreempt on an instance that starts as MASTER.
func preempt(in *Instance) bool {
	return !in.Nopreempt || in.State == "MASTER"
}

func (c *Config) instanceMeaning(in *Instance) InstanceMeaning {
	version := c.version(in)
	m := InstanceMeaning{
		Name:         in.Name,
		Interface:    in.Interface,
		VRID:         in.VRID,
		Version:      version,
		Priority:     priority(in),
		AdvertInt:    advertInt(in, version),
		Preempt:      preempt(in),
		PreemptDelay: in.PreemptDelay,
		Unicast:      len(in.UnicastPeers) > 0,
		Source:       in.UnicastSrc,
		Peers:        slices.Clone(in.UnicastPeers),
		Track:        slices.Clone(in.TrackInterfaces),
		Notify:       in.Notify,
		GARP:         garp(in.GARP),
	}
	if !m.Unicast {
		m.Source = netip.Addr{}
	}
	if version == 2 && in.AuthType == "PASS" {
		m.AuthPass = in.AuthPass
	}
	for _, v := range in.VIPs {
		v.Dev = cmp.Or(v.Dev, in.Interface)
		m.VIPs = append(m.VIPs, v)
	}
	slices.SortFunc(m.VIPs, func(a, b VIP) int {
		return cmp.Or(a.Prefix.Addr().Compare(b.Prefix.Addr()), cmp.Compare(a.Prefix.Bits(), b.Prefix.Bits()), cmp.Compare(a.Dev, b.Dev))
	})
	slices.SortFunc(m.Peers, netip.Addr.Compare)
	slices.SortFunc(m.Track, func(a, b TrackInterface) int { return cmp.Compare(a.Interface, b.Interface) })
	for _, ts := range in.TrackScripts {
		if sc := c.Script(ts.Name); sc != nil {
			m.Checks = append(m.Checks, c.checkMeaning(sc, ts))
		}
	}
	slices.SortFunc(m.Checks, func(a, b CheckMeaning) int { return slices.Compare(a.Command, b.Command) })
	return m
}

func (c *Config) checkMeaning(sc *Script, ts TrackScript) CheckMeaning {
	ch := CheckMeaning{
		Command:  sc.Command,
		Interval: cmp.Or(sc.Interval, defaultScriptInterval),
		Timeout:  sc.Timeout,
		Rise:     cmp.Or(sc.Rise, defaultScriptRise),
		Fall:     cmp.Or(sc.Fall, defaultScriptFall),
		Weight:   sc.Weight,
		User:     cmp.Or(sc.User, c.Global.ScriptUser, defaultScriptUser),
	}
	// keepalived waits for a script at most its interval unless told otherwise.
	ch.Timeout = cmp.Or(ch.Timeout, ch.Interval)
	if ts.WeightSet {
		ch.Weight = ts.Weight
	}
	return ch
}

func garp(g GARPSettings) GARPMeaning {
	m := GARPMeaning{Delay: defaultGARPDelay, Repeat: defaultGARPRepeat, RefreshRepeat: defaultRefreshRepeat}
	if g.Delay != nil {
		m.Delay = *g.Delay
	}
	if g.Repeat != nil {
		m.Repeat = max(*g.Repeat, 1) // keepalived raises 0 to 1
	}
	if g.Refresh != nil {
		m.Refresh = *g.Refresh
	}
	if g.RefreshRepeat != nil {
		m.RefreshRepeat = max(*g.RefreshRepeat, 1)
	}
	return m
}
