package compiler

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"time"

	"cuelang.org/go/cue"

	"github.com/hac-project/hac/election"
	"github.com/hac-project/hac/model"
)

// The advert_int limits, RFC 3768 section 5.3.7 and RFC 5798 section 5.2.7.
const (
	maxAdvertV2  = 255 * time.Second
	stepAdvertV3 = 10 * time.Millisecond
	maxAdvertV3  = 4095 * stepAdvertV3
	maxPreempt   = 1000 * time.Second // keepalived's preempt_delay limit
	maxPassLen   = 8                  // RFC 2338 section 5.3.10: the password field is 8 bytes
)

func (b *builder) instance(c *model.Cluster, name string, ri *rawInstance) *model.Instance {
	loc := at("vrrp", name)
	b.checkName(loc, "instance", name)
	in := &model.Instance{
		Name:         name,
		Pos:          b.pos(loc),
		VRID:         uint8(ri.VRID),
		Version:      ri.Version,
		Preempt:      ri.Preempt,
		Unicast:      ri.Transport == "unicast",
		PreemptDelay: b.duration(at(loc, "preempt_delay"), ri.PreemptDelay),
		Notify:       b.notify(at(loc, "notify"), &ri.Notify),
		GARP: model.GARP{
			Repeat:        ri.GARP.Repeat,
			Delay:         b.duration(at(loc, "garp", "delay"), ri.GARP.Delay),
			Refresh:       b.duration(at(loc, "garp", "refresh"), ri.GARP.Refresh),
			RefreshRepeat: ri.GARP.RefreshRepeat,
		},
	}
	if in.PreemptDelay > maxPreempt {
		b.errf(at(loc, "preempt_delay"), "preempt_delay %v is too long: at most 1000s", in.PreemptDelay)
	}
	in.AdvertInt = b.advertInt(at(loc, "advert_int"), ri)
	b.auth(at(loc, "auth"), ri, in)
	b.vips(c, loc, ri, in)
	b.members(c, loc, ri, in)
	for i, t := range ri.Track {
		b.checkIfName(at(loc, "track_interfaces", i, "interface"), t.Interface)
		in.Track = append(in.Track, model.TrackInterface{Interface: t.Interface, Weight: t.Weight})
	}
	for _, cn := range sortedKeys(ri.Checks) {
		rc := ri.Checks[cn]
		cloc := at(loc, "checks", cn)
		b.checkName(cloc, "check", cn)
		chk := model.Check{
			Name: cn, Command: rc.Command, Rise: rc.Rise, Fall: rc.Fall, Weight: rc.Weight, User: rc.User,
			Interval: b.duration(at(cloc, "interval"), rc.Interval),
			Timeout:  b.duration(at(cloc, "timeout"), rc.Timeout),
		}
		if chk.Interval == 0 {
			b.errf(at(cloc, "interval"), "interval must be longer than 0s")
		}
		if chk.Timeout == 0 {
			b.errf(at(cloc, "timeout"), "timeout must be longer than 0s")
		}
		if chk.Command[0] == "" {
			b.errf(at(cloc, "command", 0), "the command's program is empty")
		}
		in.Checks = append(in.Checks, chk)
	}
	return in
}

// notify builds notify commands, refusing an empty program (the agent
// would refuse it at start).
func (b *builder) notify(loc []cue.Selector, rn *rawNotify) model.Notify {
	for _, nt := range []struct {
		key  string
		argv []string
	}{{"master", rn.Master}, {"backup", rn.Backup}, {"fault", rn.Fault}, {"stop", rn.Stop}, {"all", rn.All}} {
		if len(nt.argv) > 0 && nt.argv[0] == "" {
			b.errf(at(loc, nt.key, 0), "the command's program is empty")
		}
	}
	return model.Notify{Master: rn.Master, Backup: rn.Backup, Fault: rn.Fault, Stop: rn.Stop, All: rn.All}
}

// advertInt checks advert_int for the instance's version.
func (b *builder) advertInt(loc []cue.Selector, ri *rawInstance) time.Duration {
	d, err := parseDuration(ri.AdvertInt)
	if err != nil {
		b.errf(loc, "%v", err)
		return 0
	}
	switch {
	case ri.Version == 2 && (d%time.Second != 0 || d < time.Second || d > maxAdvertV2):
		b.errf(loc, "advert_int %q is not valid for VRRPv2: must be whole seconds from 1s to 255s (or use version: 3)", ri.AdvertInt)
	case ri.Version == 3 && (d%stepAdvertV3 != 0 || d < stepAdvertV3 || d > maxAdvertV3):
		b.errf(loc, "advert_int %q is not valid for VRRPv3: must be in 10ms steps from 10ms to 40.95s", ri.AdvertInt)
	}
	return d
}

// auth checks and resolves the PASS authentication. The password never
// appears in a message.
func (b *builder) auth(loc []cue.Selector, ri *rawInstance, in *model.Instance) {
	if ri.Auth == nil {
		return
	}
	if ri.Version == 3 {
		b.errf(loc, "auth is not allowed with VRRPv3 (RFC 5798 removed it): remove auth or use version: 2")
		return
	}
	ploc := at(loc, "pass")
	in.Auth.Type = model.AuthPass
	b.warnf(at(loc, "type"), "PASS authentication is sent in cleartext: it guards against mistakes, not attackers")
	var value, ref string
	switch p := ri.Auth.Pass.(type) {
	case string:
		value = p
		b.warnf(ploc, "the password is written in the configuration: keep it out of the repository: pass: {env: \"NAME\"}")
	case map[string]any:
		if env, ok := p["env"].(string); ok {
			ref = "env " + env
			v, found := b.opt.LookupEnv(env)
			if !found || v == "" {
				b.unresolved(ploc, "environment variable %s is not set: hac build needs it for the password", env)
				in.Auth.Pass = model.NewSecret("", ref)
				return
			}
			value = v
		} else if file, ok := p["file"].(string); ok {
			ref = "file " + file
			data, err := b.opt.ReadFile(file)
			if err != nil {
				b.unresolved(ploc, "password file %s cannot be read (%v): hac build needs it", file, pathErr(err))
				in.Auth.Pass = model.NewSecret("", ref)
				return
			}
			value = strings.TrimRight(string(data), "\r\n")
		}
	}
	switch src := cmp.Or(ref, "the password"); {
	case value == "":
		b.errf(ploc, "%s is empty: PASS needs 1..8 characters", src)
	case len(value) > maxPassLen:
		b.errf(ploc, "%s is %d bytes long: PASS allows at most 8 (keepalived would silently cut it)", src, len(value))
	}
	in.Auth.Pass = model.NewSecret(value, ref)
}

// unresolved reports a secret reference that does not resolve: an error
// when the secrets are needed (Options.Secrets), a warning otherwise.
func (b *builder) unresolved(loc []cue.Selector, format string, args ...any) {
	if b.opt.Secrets {
		b.errf(loc, format+" (set it and run again)", args...)
		return
	}
	b.warnf(loc, format+" (hac vet --secrets makes this an error)", args...)
}

// pathErr keeps only the cause of a file error (the path is already said).
func pathErr(err error) error {
	type unwrapper interface{ Unwrap() error }
	if u, ok := err.(unwrapper); ok && u.Unwrap() != nil {
		return u.Unwrap()
	}
	return err
}

// vips parses and checks the instance's virtual addresses.
func (b *builder) vips(c *model.Cluster, loc []cue.Selector, ri *rawInstance, in *model.Instance) {
	var first []cue.Selector
	for i, rv := range ri.VIPs {
		vloc := at(loc, "vips", i)
		var vip model.VIP
		s := ""
		switch rv := rv.(type) {
		case string:
			s = rv
		case map[string]any:
			s, _ = rv["address"].(string)
			vip.Device, _ = rv["device"].(string)
			vloc = at(vloc, "address")
			if vip.Device != "" {
				b.checkIfName(at(loc, "vips", i, "device"), vip.Device)
			}
		}
		p, err := parseVIP(s)
		if err != nil {
			b.errf(vloc, "%v", err)
			continue
		}
		vip.Prefix = p
		a := p.Addr()
		fam := familyOf(a)
		if in.Family == 0 {
			in.Family, first = fam, vloc
		} else if fam != in.Family {
			b.both(vloc, first, "VIP %s is IPv%d but the instance's first VIP is IPv%d: put each family in its own instance", a, fam, in.Family)
			continue
		}
		if fam == 6 && ri.Version != 3 {
			b.errf(vloc, "IPv6 VIP %s needs VRRPv3: add version: 3", a)
		}
		for _, n := range c.Nodes {
			if slices.Contains(n.Addresses, a) {
				b.both(vloc, at("nodes", n.Name), "VIP %s is the address of node %s: a VIP must be an address no node has", a, n.Name)
			}
		}
		sn, ok := c.Network.SubnetFor(a)
		switch {
		case ok && reservedIn(a, sn) != "":
			b.errf(vloc, "VIP %s is %s of %s", a, reservedIn(a, sn), sn)
		case vip.Device == "" && (!ok || !sn.Contains(a)):
			b.errf(vloc, "VIP %s is outside the network's subnets %v: use an address inside, or {address: %q, device: \"ethX\"} for another device", a, c.Network.Subnets, s)
		}
		in.VIPs = append(in.VIPs, vip)
	}
}

// members checks the priorities and builds the members, highest first.
func (b *builder) members(c *model.Cluster, loc []cue.Selector, ri *rawInstance, in *model.Instance) {
	names := sortedKeys(ri.Priority)
	if len(names) == 0 {
		b.errf(at(loc, "priority"), "no node takes part: give priorities, e.g. priority: {%s: 200}", nodeList(c))
		return
	}
	for _, name := range names {
		prio := ri.Priority[name]
		ploc := at(loc, "priority", name)
		n := c.Node(name)
		if n == nil {
			b.errf(ploc, "node %s is not in this cluster: nodes are %s", name, nodeList(c))
			continue
		}
		if err := election.CheckPriority(prio); err != nil {
			b.errf(ploc, "%v", err)
		}
		m := model.Member{Node: name, Priority: uint8(prio), Interface: n.Interface}
		src, ok := n.Address(in.Family)
		switch {
		case ok:
			if in.Unicast || in.Family == 4 {
				m.Source = src
			}
		case in.Family != 0 && (in.Unicast || in.Family == 4) && !b.badAddr[name]:
			b.both(ploc, at("nodes", name), "node %s has no IPv%d address for this instance: add address%s", name, in.Family, map[int]string{4: "", 6: "6"}[in.Family])
		}
		for _, other := range in.Members {
			if other.Priority == m.Priority {
				b.both(ploc, at(loc, "priority", other.Node), "nodes %s and %s have the same priority %d: give each node its own priority", other.Node, name, prio)
			}
		}
		in.Members = append(in.Members, m)
	}
	slices.SortStableFunc(in.Members, func(x, y model.Member) int { return cmp.Compare(y.Priority, x.Priority) })
	if len(in.Members) == 1 {
		b.warnf(at(loc, "priority"), "only node %s takes part: there is nothing to fail over to", in.Members[0].Node)
	}
	if ri.Master != "" {
		m := in.Member(ri.Master)
		switch {
		case m == nil:
			b.errf(at(loc, "master"), "master %s does not take part in the instance: give it a priority", ri.Master)
		case m.Priority < in.Master().Priority:
			top := in.Master()
			b.both(at(loc, "priority", ri.Master), at(loc, "priority", top.Node),
				"master is %s but %s has a higher priority (%d > %d): give %s the highest priority", ri.Master, top.Node, top.Priority, m.Priority, ri.Master)
		}
	}
	if in.Unicast {
		for i := range in.Members {
			for j, o := range in.Members {
				if i != j && o.Source.IsValid() {
					in.Members[i].Peers = append(in.Members[i].Peers, o.Source)
				}
			}
		}
	}
}

// nodeList lists a cluster's node names.
func nodeList(c *model.Cluster) string {
	names := make([]string, 0, len(c.Nodes))
	for _, n := range c.Nodes {
		names = append(names, n.Name)
	}
	return strings.Join(names, ", ")
}

// vipsUnique refuses a VIP used by two instances of the cluster.
func (b *builder) vipsUnique(c *model.Cluster) {
	seen := map[netip.Addr][]cue.Selector{}
	for _, in := range c.Instances {
		for i, v := range in.VIPs {
			loc := at("vrrp", in.Name, "vips", i)
			if first, ok := seen[v.Prefix.Addr()]; ok {
				b.both(loc, first, "VIP %s is already used by another instance", v.Prefix.Addr())
				continue
			}
			seen[v.Prefix.Addr()] = loc
		}
	}
}

// vridsUnique refuses two instances with one VRID on a node's interface
// (for one address family: IPv4 and IPv6 VRRP routers are apart).
func (b *builder) vridsUnique(c *model.Cluster) {
	type key struct {
		node, iface string
		family      int
		vrid        uint8
	}
	seen := map[key]string{}
	for _, in := range c.Instances {
		for _, m := range in.Members {
			k := key{m.Node, m.Interface, in.Family, in.VRID}
			if first, ok := seen[k]; ok && first != in.Name {
				b.both(at("vrrp", in.Name, "virtual_router_id"), at("vrrp", first, "virtual_router_id"),
					"virtual_router_id %d is already used by instance %s on %s of node %s: give each instance its own", in.VRID, first, m.Interface, m.Node)
				break
			}
			seen[k] = in.Name
		}
	}
}
