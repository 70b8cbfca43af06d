package compiler

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"cuelang.org/go/cue"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/model"
	"github.com/hac-project/hac/targets/keepalived"
)

// The raw types mirror the schema; the unified, validated CUE value of a
// cluster decodes into them (defaults filled in).
type (
	rawCluster struct {
		Network rawNetwork              `json:"network"`
		Nodes   map[string]rawNode      `json:"nodes"`
		VRRP    map[string]rawInstance  `json:"vrrp"`
		Sync    map[string]rawSyncGroup `json:"sync_groups"`
		Render  struct {
			Network    string `json:"network"`
			Keepalived bool   `json:"keepalived"`
		} `json:"render"`
		Agent struct {
			StatusSocket string `json:"status_socket"`
			Metrics      string `json:"metrics"`
		} `json:"agent"`
	}
	rawNetwork struct {
		Interface string `json:"interface"`
		Subnet    string `json:"subnet"`
		Subnet6   string `json:"subnet6"`
		Gateway   string `json:"gateway"`
		MTU       int    `json:"mtu"`
	}
	rawNode struct {
		Address   string `json:"address"`
		Address6  string `json:"address6"`
		Interface string `json:"interface"`
		Render    string `json:"render"`
		SSH       struct {
			Host   string `json:"host"`
			User   string `json:"user"`
			Port   int    `json:"port"`
			Jump   string `json:"jump"`
			Become string `json:"become"`
		} `json:"ssh"`
	}
	rawInstance struct {
		VRID         int            `json:"virtual_router_id"`
		Version      int            `json:"version"`
		AdvertInt    string         `json:"advert_int"`
		Priority     map[string]int `json:"priority"`
		Master       string         `json:"master"`
		Preempt      bool           `json:"preempt"`
		PreemptDelay string         `json:"preempt_delay"`
		Auth         *struct {
			Type string `json:"type"`
			Pass any    `json:"pass"`
		} `json:"auth"`
		VIPs      []any  `json:"vips"`
		Transport string `json:"transport"`
		GARP      struct {
			Repeat        int    `json:"repeat"`
			Delay         string `json:"delay"`
			Refresh       string `json:"refresh"`
			RefreshRepeat int    `json:"refresh_repeat"`
		} `json:"garp"`
		Track []struct {
			Interface string `json:"interface"`
			Weight    int    `json:"weight"`
		} `json:"track_interfaces"`
		Checks map[string]struct {
			Command  []string `json:"command"`
			Interval string   `json:"interval"`
			Timeout  string   `json:"timeout"`
			Rise     int      `json:"rise"`
			Fall     int      `json:"fall"`
			Weight   int      `json:"weight"`
			User     string   `json:"user"`
		} `json:"checks"`
		Notify rawNotify `json:"notify"`
	}
	rawNotify struct {
		Master []string `json:"master"`
		Backup []string `json:"backup"`
		Fault  []string `json:"fault"`
		Stop   []string `json:"stop"`
		All    []string `json:"all"`
	}
	rawSyncGroup struct {
		Instances []string  `json:"instances"`
		Notify    rawNotify `json:"notify"`
	}
)

// builder turns one validated raw cluster into the model, collecting every
// problem it finds.
type builder struct {
	name   string
	prefix cue.Path
	user   cue.Value
	opt    Options
	diags  Diagnostics
	// badAddr holds the nodes with an address already reported, so that
	// the instances do not report the missing address again.
	badAddr map[string]bool
}

// at builds a selector list from strings (field names, map keys) and ints
// (list indices).
func at(parts ...any) []cue.Selector {
	sels := make([]cue.Selector, 0, len(parts))
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			sels = append(sels, cue.Str(p))
		case int:
			sels = append(sels, cue.Index(p))
		case []cue.Selector:
			sels = append(sels, p...)
		}
	}
	return sels
}

// pos returns where the user wrote loc, or the nearest enclosing value.
func (b *builder) pos(loc []cue.Selector) model.Pos {
	pos := toPos(b.user.Pos())
	v := b.user
	for _, s := range loc {
		v = v.LookupPath(cue.MakePath(s))
		if !v.Exists() {
			break
		}
		if p := toPos(v.Pos()); p.File != "" {
			pos = p
		}
	}
	return pos
}

func (b *builder) report(sev Severity, loc []cue.Selector, related []model.Pos, format string, args ...any) {
	b.diags = append(b.diags, Diagnostic{
		Severity: sev,
		Path:     cue.MakePath(append(b.prefix.Selectors(), loc...)...).String(),
		Msg:      fmt.Sprintf(format, args...),
		Pos:      b.pos(loc),
		Related:  related,
	})
}

func (b *builder) errf(loc []cue.Selector, format string, args ...any) {
	b.report(Error, loc, nil, format, args...)
}

func (b *builder) warnf(loc []cue.Selector, format string, args ...any) {
	b.report(Warning, loc, nil, format, args...)
}

// both reports a mismatch between loc and other, with both positions.
func (b *builder) both(loc, other []cue.Selector, format string, args ...any) {
	b.report(Error, loc, []model.Pos{b.pos(other)}, format, args...)
}

// validName reports whether name is what cluster, node, instance and check
// names may be (they become file and directory names): 1..63 letters,
// digits, '.', '_' or '-', starting with a letter or digit. It is the
// regular expression ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$ written out: that
// expression took 1 ms and 850 allocations to compile at every start of hac.
func validName(name string) bool {
	if name == "" || len(name) > 63 {
		return false
	}
	for i := range len(name) {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || (c != '.' && c != '_' && c != '-')) {
			return false
		}
	}
	return true
}

func (b *builder) checkName(loc []cue.Selector, what, name string) {
	if !validName(name) {
		b.errf(loc, "%s name %q is not valid: use 1..63 letters, digits, '.', '_' or '-', starting with a letter or digit", what, name)
	}
}

func (b *builder) checkIfName(loc []cue.Selector, name string) {
	if err := config.CheckInterfaceName(name); err != nil {
		b.errf(loc, "%v", err)
	}
}

// duration parses a duration field, reporting a bad one.
func (b *builder) duration(loc []cue.Selector, s string) time.Duration {
	d, err := parseDuration(s)
	if err != nil {
		b.errf(loc, "%v", err)
	}
	return d
}

// build turns the raw cluster into the model.
func (b *builder) build(raw *rawCluster) *model.Cluster {
	c := &model.Cluster{
		Name:       b.name,
		Pos:        toPos(b.user.Pos()),
		Keepalived: raw.Render.Keepalived,
		Agent:      model.AgentOptions{StatusSocket: raw.Agent.StatusSocket, Metrics: raw.Agent.Metrics},
	}
	b.checkName(nil, "cluster", b.name)
	if m := raw.Agent.Metrics; m != "" {
		if err := config.CheckListenAddress(m); err != nil {
			b.errf(at("agent", "metrics"), "%v", err)
		} else if ap := netip.MustParseAddrPort(m); !ap.Addr().IsLoopback() && !ap.Addr().IsUnspecified() {
			// One setting for every node: an address only one node has
			// (its own, a VIP) would keep the others from starting.
			b.errf(at("agent", "metrics"), "%q: every node of the cluster listens on it, and %v is not an address every node has: use \"127.0.0.1:%d\" (scraped on the node) or \"0.0.0.0:%d\" (every address)", m, ap.Addr(), ap.Port(), ap.Port())
		}
	}
	b.network(c, &raw.Network)
	b.nodes(c, raw)
	for _, name := range sortedKeys(raw.VRRP) {
		ri := raw.VRRP[name]
		if in := b.instance(c, name, &ri); in != nil {
			c.Instances = append(c.Instances, in)
		}
	}
	b.vipsUnique(c)
	b.vridsUnique(c)
	b.syncGroups(c, raw.Sync)
	for _, in := range c.Instances {
		b.failover(in)
	}
	// What keepalived.conf cannot carry is a rule of the configuration,
	// reported here with its position, never first by the renderer.
	for _, p := range keepalived.Check(c) {
		var related []model.Pos
		if p.Related != nil {
			related = []model.Pos{b.pos(at(p.Related...))}
		}
		b.report(Error, at(p.Path...), related, "%s", p.Msg)
	}
	return c
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (b *builder) network(c *model.Cluster, raw *rawNetwork) {
	c.Network.Interface = raw.Interface
	c.Network.MTU = raw.MTU
	b.checkIfName(at("network", "interface"), raw.Interface)
	if p, err := parseSubnet(raw.Subnet); err != nil {
		b.errf(at("network", "subnet"), "%v", err)
	} else {
		c.Network.Subnets = append(c.Network.Subnets, p)
	}
	if raw.Subnet6 != "" {
		p, err := parseSubnet(raw.Subnet6)
		switch {
		case err != nil:
			b.errf(at("network", "subnet6"), "%v", err)
		case len(c.Network.Subnets) == 1 && c.Network.Subnets[0].Addr().Is4() == p.Addr().Is4():
			b.both(at("network", "subnet6"), at("network", "subnet"), "subnet6 %s is of the same family as subnet: give one IPv4 and one IPv6 prefix", p)
		default:
			c.Network.Subnets = append(c.Network.Subnets, p)
		}
	}
	slices.SortFunc(c.Network.Subnets, func(a, b netip.Prefix) int { return cmp.Compare(a.Addr().BitLen(), b.Addr().BitLen()) })
	if raw.Gateway != "" {
		g, err := parseAddr(raw.Gateway)
		if err != nil {
			b.errf(at("network", "gateway"), "%v", err)
		} else if sn, ok := c.Network.SubnetFor(g); !ok || !sn.Contains(g) {
			b.errf(at("network", "gateway"), "gateway %s is outside the network's subnets %v", g, c.Network.Subnets)
		} else {
			c.Network.Gateway = g
		}
	}
}

// reservedIn says whether a is the network or (IPv4) broadcast address of p.
func reservedIn(a netip.Addr, p netip.Prefix) string {
	if !p.Contains(a) || p.Bits() >= a.BitLen()-1 {
		return ""
	}
	if a == p.Masked().Addr() {
		return "the network address"
	}
	if a.Is4() {
		bcast := p.Masked().Addr().As4()
		host := uint32(1)<<(32-p.Bits()) - 1
		v := uint32(bcast[0])<<24 | uint32(bcast[1])<<16 | uint32(bcast[2])<<8 | uint32(bcast[3]) | host
		if a == netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}) {
			return "the broadcast address"
		}
	}
	return ""
}

// nodeAddr parses one node address and checks it against the subnets.
func (b *builder) nodeAddr(c *model.Cluster, loc []cue.Selector, s string) (netip.Addr, bool) {
	a, err := parseAddr(s)
	if err != nil {
		b.errf(loc, "%v", err)
		return a, false
	}
	sn, ok := c.Network.SubnetFor(a)
	switch {
	case !ok:
		b.errf(loc, "address %s has no subnet of its family: add network.subnet6", a)
	case !sn.Contains(a):
		b.errf(loc, "address %s is outside the subnet %s", a, sn)
	case reservedIn(a, sn) != "":
		b.errf(loc, "address %s is %s of %s: use a host address", a, reservedIn(a, sn), sn)
	default:
		return a, true
	}
	return a, false
}

func (b *builder) nodes(c *model.Cluster, raw *rawCluster) {
	owner := map[netip.Addr][]cue.Selector{}
	for _, name := range sortedKeys(raw.Nodes) {
		rn := raw.Nodes[name]
		loc := at("nodes", name)
		b.checkName(loc, "node", name)
		n := &model.Node{
			Name:      name,
			Pos:       b.pos(loc),
			Interface: cmp.Or(rn.Interface, raw.Network.Interface),
			Render:    model.Renderer(cmp.Or(rn.Render, raw.Render.Network)),
			SSH:       model.SSH{Host: rn.SSH.Host, User: rn.SSH.User, Port: rn.SSH.Port, Jump: rn.SSH.Jump, Become: rn.SSH.Become},
		}
		if rn.Interface != "" {
			b.checkIfName(at(loc, "interface"), rn.Interface)
		}
		for _, f := range []struct{ field, s string }{{"address", rn.Address}, {"address6", rn.Address6}} {
			if f.s == "" {
				continue
			}
			floc := at(loc, f.field)
			a, ok := b.nodeAddr(c, floc, f.s)
			if !ok {
				b.markBad(name)
				continue
			}
			if _, dup := n.Address(familyOf(a)); dup {
				b.both(floc, at(loc, "address"), "address6 %s is of the same family as address: give one IPv4 and one IPv6 address", a)
				continue
			}
			if first, dup := owner[a]; dup {
				b.both(floc, first, "address %s is already the address of another node", a)
				b.markBad(name)
				continue
			}
			owner[a] = floc
			n.Addresses = append(n.Addresses, a)
		}
		slices.SortFunc(n.Addresses, func(x, y netip.Addr) int { return cmp.Compare(x.BitLen(), y.BitLen()) })
		c.Nodes = append(c.Nodes, n)
	}
}

func (b *builder) markBad(node string) {
	if b.badAddr == nil {
		b.badAddr = map[string]bool{}
	}
	b.badAddr[node] = true
}

func familyOf(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}
