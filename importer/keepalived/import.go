package keepalived

import (
	"cmp"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"time"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/format"

	"github.com/hac-project/hac/election"
	"github.com/hac-project/hac/model"
)

// NodeConfig is one node's decoded keepalived.conf.
type NodeConfig struct {
	Node   string
	Config *Config
}

// Options are the facts keepalived.conf files do not hold, and choices
// about the output.
type Options struct {
	Cluster string // the cluster's name
	// Addresses gives nodes their address on the shared segment; needed
	// for nodes whose files have no unicast_src_ip.
	Addresses map[string]netip.Addr
	// Subnets are the shared segment's prefixes (at most one per family);
	// needed unless a VIP is written with its prefix length.
	Subnets []netip.Prefix
	// Render is the network renderer ("none" when empty: the interfaces
	// stay configured as they are).
	Render string
	// PassEnv or PassFile, when set, replace a literal auth pass by a
	// reference to an environment variable or a file.
	PassEnv, PassFile string
	// Header is written at the top of the file as // comment lines.
	Header string
	// Agent makes the cluster run the hac agent (render.keepalived:
	// false): hac apply then converts the nodes from keepalived.
	Agent bool
	// SSH says how each node was reached, written as its ssh field.
	SSH map[string]SSH
}

// SSH is how a node was reached, as the schema's ssh field.
type SSH struct {
	Host string
	User string // empty: not written
	Port int    // 0: not written
	// Sudo says the login is not root and reads through sudo -n: written
	// as become: "sudo".
	Sudo bool
}

// Import merges the nodes' keepalived.conf files into one cluster
// description and returns it as formatted CUE. Every inconsistency between
// the files (different VRID, auth, advert_int, version, VIPs, timers,
// checks; equal priorities; unicast peers that are not the other nodes;
// missing addresses) is an error Problem, and Import returns no CUE when
// there is any error: it never guesses.
func Import(nodes []NodeConfig, opt Options) ([]byte, Problems) {
	im := &importer{nodes: nodes, opt: opt}
	im.run()
	if im.problems.Errors() > 0 {
		return nil, im.problems
	}
	src, err := format.Node(im.out)
	if err != nil {
		// The tree is built from quoted literals; a failure here is a bug.
		panic(fmt.Sprintf("keepalived: generated CUE does not format: %v", err))
	}
	return src, im.problems
}

type importer struct {
	nodes    []NodeConfig
	opt      Options
	problems Problems
	out      *ast.File

	addrs   map[string][]netip.Addr // node -> addresses, IPv4 first
	iface   string                  // network.interface
	ifaces  map[string]string       // node -> its interface
	subnets []netip.Prefix          // primary family first
}

func (im *importer) errf(pos model.Pos, also []model.Pos, format string, args ...any) {
	im.problems = append(im.problems, Problem{Pos: pos, Also: also, Msg: fmt.Sprintf(format, args...)})
}

// missing reports an input the files do not hold, given by flag.
func (im *importer) missing(flag string, pos model.Pos, format string, args ...any) {
	im.problems = append(im.problems, Problem{Pos: pos, Msg: fmt.Sprintf(format, args...), Flag: flag})
}

func (im *importer) warnf(pos model.Pos, format string, args ...any) {
	im.problems = append(im.problems, Problem{Pos: pos, Msg: fmt.Sprintf(format, args...), Warning: true})
}

// member is one node's view of an instance.
type member struct {
	node string
	cfg  *Config
	in   *Instance
	m    InstanceMeaning
}

// pos returns where a directive is in the member's file, or the instance.
func (mb member) pos(keys ...string) model.Pos {
	for _, k := range keys {
		if p, ok := mb.in.Positions[k]; ok {
			return p
		}
		if p, ok := mb.cfg.Global.Pos[k]; ok {
			return p
		}
	}
	return mb.in.Pos
}

func (im *importer) run() {
	if len(im.nodes) < 2 {
		im.errf(model.Pos{}, nil, "give at least two nodes, NODE=FILE each: a VRRP cluster needs a backup")
	}
	im.nodeAddresses()
	im.interfaces()
	im.subnetsFor()
	names := im.instanceNames()
	// Check (and build) every instance even after an error, so that
	// every problem is reported at once; the output is dropped on errors.
	var vrrp block
	for _, name := range names {
		if f := im.instance(name); f != nil {
			vrrp.elts = append(vrrp.elts, f)
		}
	}
	sync := im.syncGroups()
	if im.problems.Errors() > 0 {
		return
	}
	var cl block
	cl.set("network", im.network())
	var nodes block
	for _, n := range im.nodes {
		nodes.set(n.Node, im.node(n.Node))
	}
	cl.set("nodes", nodes.lines())
	cl.set("vrrp", vrrp.lines())
	if sync != nil {
		cl.set("sync_groups", sync)
	}
	var render block
	render.set("network", str(cmp.Or(im.opt.Render, "none")))
	render.set("keepalived", ast.NewBool(!im.opt.Agent))
	cl.set("render", render.line())
	im.out = &ast.File{Decls: []ast.Decl{nested("clusters", im.opt.Cluster, cl.lines())}}
	if c := comment(im.opt.Header); c != nil {
		ast.AddComment(im.out, c)
	}
}

// node returns a node's fields, on one line.
func (im *importer) node(name string) ast.Expr {
	var b block
	b.set("address", str(im.addrs[name][0].String()))
	if len(im.addrs[name]) > 1 {
		b.set("address6", str(im.addrs[name][1].String()))
	}
	if im.ifaces[name] != im.iface {
		b.set("interface", str(im.ifaces[name]))
	}
	if s, ok := im.opt.SSH[name]; ok {
		var ssh block
		ssh.set("host", str(s.Host))
		if s.User != "" {
			ssh.set("user", str(s.User))
		}
		if s.Port != 0 {
			ssh.set("port", num(s.Port))
		}
		if s.Sudo {
			ssh.set("become", str("sudo"))
		}
		b.set("ssh", ssh.line())
	}
	return b.line()
}

// nodeAddresses finds each node's addresses: unicast_src_ip and --address.
func (im *importer) nodeAddresses() {
	im.addrs = map[string][]netip.Addr{}
	for _, n := range im.nodes {
		byFamily := map[bool]netip.Addr{} // Is4 -> address
		where := map[bool]model.Pos{}
		for _, in := range n.Config.Instances {
			a := in.UnicastSrc
			if !a.IsValid() {
				continue
			}
			if prev, ok := byFamily[a.Is4()]; ok && prev != a {
				im.errf(in.Positions["unicast_src_ip"], []model.Pos{where[a.Is4()]},
					"node %s: unicast_src_ip %s differs from %s in another instance: hac gives a node one address per family on the shared segment", n.Node, a, prev)
				continue
			}
			byFamily[a.Is4()], where[a.Is4()] = a, in.Positions["unicast_src_ip"]
		}
		if a, ok := im.opt.Addresses[n.Node]; ok {
			if prev, ok := byFamily[a.Is4()]; ok && prev != a {
				im.errf(where[a.Is4()], nil, "node %s: --address %s contradicts unicast_src_ip %s: drop the flag or fix the file", n.Node, a, prev)
			}
			byFamily[a.Is4()] = a
		}
		for _, is4 := range []bool{true, false} {
			if a, ok := byFamily[is4]; ok {
				im.addrs[n.Node] = append(im.addrs[n.Node], a)
			}
		}
		if len(im.addrs[n.Node]) == 0 {
			im.missing("--address", fileStart(n.Config.File),
				"node %s has no address on the shared segment (its file has no unicast_src_ip): give --address %s=IP", n.Node, n.Node)
		}
	}
	for name := range im.opt.Addresses {
		if !slices.ContainsFunc(im.nodes, func(n NodeConfig) bool { return n.Node == name }) {
			im.errf(model.Pos{}, nil, "--address names node %s, which is not imported: use one of the NODE= names", name)
		}
	}
}

// interfaces finds each node's shared interface; the most common one
// becomes network.interface.
func (im *importer) interfaces() {
	im.ifaces = map[string]string{}
	count := map[string]int{}
	for _, n := range im.nodes {
		var first *Instance
		for _, in := range n.Config.Instances {
			if first == nil {
				first = in
				im.ifaces[n.Node] = in.Interface
				count[in.Interface]++
			} else if in.Interface != first.Interface {
				im.errf(in.Positions["interface"], []model.Pos{first.Positions["interface"]},
					"node %s: instance %s runs on %s but %s on %s: hac runs all of a node's instances on its one shared interface", n.Node, in.Name, in.Interface, first.Name, first.Interface)
			}
		}
		if first == nil {
			im.errf(fileStart(n.Config.File), nil, "node %s: the file has no vrrp_instance", n.Node)
		}
	}
	for _, n := range im.nodes {
		if i := im.ifaces[n.Node]; i != "" && (im.iface == "" || count[i] > count[im.iface]) {
			im.iface = i
		}
	}
}

// subnetsFor picks the subnet of each family the node addresses and the
// VIPs on the shared interface use: from Options.Subnets, or from a VIP
// written with its prefix length. The VIPs count even when addresses are
// missing, so that every missing flag is reported in one run.
func (im *importer) subnetsFor() {
	families := []bool{}
	add := func(is4 bool) {
		if !slices.Contains(families, is4) {
			families = append(families, is4)
		}
	}
	for _, n := range im.nodes {
		for _, a := range im.addrs[n.Node] {
			add(a.Is4())
		}
		for _, in := range n.Config.Instances {
			for _, v := range in.VIPs {
				if v.Dev == "" || v.Dev == in.Interface {
					add(v.Prefix.Addr().Is4())
				}
			}
		}
	}
	slices.SortFunc(families, func(a, b bool) int { // IPv4 first
		return cmp.Compare(boolInt(b), boolInt(a))
	})
	for _, is4 := range families {
		var found netip.Prefix
		for _, p := range im.opt.Subnets {
			if p.Addr().Is4() == is4 {
				found = p.Masked()
			}
		}
		if !found.IsValid() {
			var from model.Pos
			for _, n := range im.nodes {
				for _, in := range n.Config.Instances {
					for _, v := range in.VIPs {
						if v.Prefix.Addr().Is4() != is4 || v.Prefix.Bits() == v.Prefix.Addr().BitLen() || v.Dev != "" && v.Dev != in.Interface {
							continue
						}
						p := v.Prefix.Masked()
						if found.IsValid() && p != found {
							im.errf(in.Positions["virtual_ipaddress"], []model.Pos{from},
								"the VIPs' prefix lengths give two subnets, %s and %s: give the shared segment's subnet with --subnet", found, p)
							continue
						}
						found, from = p, in.Positions["virtual_ipaddress"]
					}
				}
			}
		}
		if !found.IsValid() {
			fam := "IPv4"
			if !is4 {
				fam = "IPv6"
			}
			im.missing("--subnet", model.Pos{}, "keepalived.conf does not say the %s subnet of the shared segment: give it with --subnet, e.g. --subnet %s", fam, map[string]string{"IPv4": "192.168.200.0/24", "IPv6": "2001:db8::/64"}[fam])
			continue
		}
		im.subnets = append(im.subnets, found)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// instanceNames returns every instance name in order of first appearance,
// and checks the per-file things that do not fit hac.
func (im *importer) instanceNames() []string {
	var names []string
	for _, n := range im.nodes {
		for _, in := range n.Config.Instances {
			if !slices.Contains(names, in.Name) {
				names = append(names, in.Name)
			}
		}
	}
	return names
}

// network returns the network fields, on one line.
func (im *importer) network() ast.Expr {
	var b block
	b.set("interface", str(im.iface))
	b.set("subnet", str(im.subnets[0].String()))
	if len(im.subnets) > 1 {
		b.set("subnet6", str(im.subnets[1].String()))
	}
	return b.line()
}

// instance checks one instance across its members and returns its field;
// nil when they disagree.
func (im *importer) instance(name string) *ast.Field {
	var mbs []member
	for _, n := range im.nodes {
		if in := n.Config.Instance(name); in != nil {
			mbs = append(mbs, member{node: n.Node, cfg: n.Config, in: in, m: n.Config.Meaning().instance(name)})
		}
	}
	if len(mbs) < 2 {
		im.errf(mbs[0].in.Pos, nil, "instance %s is only in node %s's file: a VRRP instance needs at least two nodes", name, mbs[0].node)
		return nil
	}
	agree := im.agree(name, mbs)
	im.checkPriorities(name, mbs)
	im.checkUnicast(name, mbs)
	if !agree {
		return nil
	}
	ref := mbs[0]
	m := ref.m
	im.checkState(name, mbs)
	var b block
	b.set("virtual_router_id", num(m.VRID))
	if m.Version != 2 {
		v := b.set("version", num(m.Version))
		if ref.in.AuthType == "PASS" && m.Version == 3 {
			msg := fmt.Sprintf("instance %s: keepalived ignores authentication in VRRPv3: it is not imported", name)
			im.warnf(ref.pos("auth_type"), "%s", msg)
			ast.AddComment(v, comment("keepalived.conf has authentication, which keepalived ignores in VRRPv3: not imported."))
		}
	}
	var prio block
	for _, mb := range mbs {
		prio.set(mb.node, num(mb.m.Priority))
	}
	b.set("priority", prio.line())
	adv := b.set("advert_int", str(duration(m.AdvertInt)))
	if m.Version == 2 && ref.in.AdvertInt != 0 && ref.in.AdvertInt != m.AdvertInt {
		im.warnf(ref.pos("advert_int"), "instance %s: VRRPv2 advert_int %s is rounded by keepalived to %s: imported as %s", name, seconds(ref.in.AdvertInt), seconds(m.AdvertInt), seconds(m.AdvertInt))
		ast.AddComment(adv, comment(fmt.Sprintf("keepalived.conf has advert_int %s, which keepalived rounds to %s in VRRPv2.", seconds(ref.in.AdvertInt), seconds(m.AdvertInt))))
	}
	if !m.Preempt {
		p := b.set("preempt", ast.NewBool(false))
		// keepalived ignores preempt_delay with nopreempt; hac refuses a
		// setting that does nothing, so it is left out.
		if m.PreemptDelay != 0 {
			ast.AddComment(p, comment(fmt.Sprintf("keepalived.conf has preempt_delay %s, which keepalived ignores with nopreempt: not imported.", seconds(m.PreemptDelay))))
		}
	}
	if m.PreemptDelay != 0 && m.Preempt {
		b.set("preempt_delay", str(duration(m.PreemptDelay)))
	}
	if m.AuthPass != "" {
		var pass ast.Expr = str(m.AuthPass)
		switch {
		case im.opt.PassEnv != "":
			var e block
			e.set("env", str(im.opt.PassEnv))
			pass = e.line()
		case im.opt.PassFile != "":
			var f block
			f.set("file", str(im.opt.PassFile))
			pass = f.line()
		}
		var auth block
		auth.set("type", str("PASS"))
		auth.set("pass", pass)
		b.set("auth", auth.line())
	}
	var vips []ast.Expr
	for _, v := range m.VIPs {
		if v.Dev == m.Interface {
			vips = append(vips, str(vipString(v.Prefix)))
			continue
		}
		var d block
		d.set("address", str(vipString(v.Prefix)))
		d.set("device", str(v.Dev))
		vips = append(vips, d.line())
	}
	b.set("vips", ast.NewList(vips...))
	if !m.Unicast {
		b.set("transport", str("multicast"))
	}
	if g := m.GARP; g != garp(GARPSettings{}) {
		var gb block
		gb.set("repeat", num(g.Repeat))
		gb.set("delay", str(duration(g.Delay)))
		gb.set("refresh", str(duration(g.Refresh)))
		gb.set("refresh_repeat", num(g.RefreshRepeat))
		b.set("garp", gb.line())
	}
	if len(m.Track) > 0 {
		var ts []ast.Expr
		for _, t := range m.Track {
			var tb block
			tb.set("interface", str(t.Interface))
			tb.set("weight", num(t.Weight))
			ts = append(ts, tb.line())
		}
		b.set("track_interfaces", ast.NewList(ts...))
	}
	if c := checks(ref); c != nil {
		b.set("checks", c)
	}
	if n := notify(m.Notify); n != nil {
		b.set("notify", n)
	}
	return &ast.Field{Label: label(name), Value: b.lines()}
}

// notify returns the notify commands that are set; nil when none is.
func notify(nt Notify) ast.Expr {
	if len(nt.Master)+len(nt.Backup)+len(nt.Fault)+len(nt.Stop)+len(nt.All) == 0 {
		return nil
	}
	var b block
	for _, f := range []struct {
		k    string
		argv []string
	}{{"master", nt.Master}, {"backup", nt.Backup}, {"fault", nt.Fault}, {"stop", nt.Stop}, {"all", nt.All}} {
		if len(f.argv) > 0 {
			b.set(f.k, strs(f.argv))
		}
	}
	return b.lines()
}

// syncGroups checks that every node declares each vrrp_sync_group alike
// (the same members and notify commands) and returns them; nil when
// there is none.
func (im *importer) syncGroups() ast.Expr {
	var names []string
	for _, n := range im.nodes {
		for _, g := range n.Config.SyncGroups {
			if !slices.Contains(names, g.Name) {
				names = append(names, g.Name)
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	var groups block
	for _, name := range names {
		var ref *SyncGroup
		var refNode string
		for _, n := range im.nodes {
			g := n.Config.SyncGroup(name)
			if g == nil {
				if len(n.Config.Instances) > 0 {
					im.errf(fileStart(n.Config.File), nil, "node %s has no vrrp_sync_group %s, which another node has: declare it on every node", n.Node, name)
				}
				continue
			}
			if ref == nil {
				ref, refNode = g, n.Node
				continue
			}
			if a, b := sortedNames(ref.Instances), sortedNames(g.Instances); !slices.Equal(a, b) {
				im.errf(g.Positions["group"], []model.Pos{ref.Positions["group"]}, "vrrp_sync_group %s: members differ between nodes: %s has %v, %s has %v; make the files agree", name, n.Node, b, refNode, a)
			}
			if !reflect.DeepEqual(ref.Notify, g.Notify) {
				im.errf(g.Pos, []model.Pos{ref.Pos}, "vrrp_sync_group %s: notify commands differ between nodes %s and %s; make the files agree", name, n.Node, refNode)
			}
		}
		var g block
		g.set("instances", strs(ref.Instances))
		if n := notify(ref.Notify); n != nil {
			g.set("notify", n)
		}
		groups.set(name, g.lines())
	}
	return groups.lines()
}

// sortedNames returns a sorted copy.
func sortedNames(ns []string) []string {
	out := slices.Clone(ns)
	slices.Sort(out)
	return out
}

// checks returns the instance's tracked scripts as checks, by the
// vrrp_script's name; nil when there is none.
func checks(ref member) ast.Expr {
	if len(ref.in.TrackScripts) == 0 {
		return nil
	}
	var b block
	for _, ts := range ref.in.TrackScripts {
		sc := ref.cfg.Script(ts.Name)
		ch := ref.cfg.checkMeaning(sc, ts)
		var c block
		c.set("command", strs(ch.Command))
		c.set("interval", str(duration(ch.Interval)))
		c.set("timeout", str(duration(ch.Timeout)))
		c.set("rise", num(ch.Rise))
		c.set("fall", num(ch.Fall))
		c.set("weight", num(ch.Weight))
		if ch.User != defaultScriptUser {
			c.set("user", str(ch.User))
		}
		b.set(ts.Name, c.lines())
	}
	return b.lines()
}

// field is one setting every member of an instance must agree on.
type field struct {
	what string   // words for the message
	keys []string // directives that set it, for positions
	get  func(InstanceMeaning) any
	show bool // the value may be shown (false for secrets)
}

var agreed = []field{
	{"virtual_router_id", []string{"virtual_router_id"}, func(m InstanceMeaning) any { return m.VRID }, true},
	{"VRRP version", []string{"version", "vrrp_version"}, func(m InstanceMeaning) any { return m.Version }, true},
	{"advert_int", []string{"advert_int"}, func(m InstanceMeaning) any { return seconds(m.AdvertInt) + "s" }, true},
	{"auth_pass", []string{"auth_pass", "authentication"}, func(m InstanceMeaning) any { return m.AuthPass }, false},
	{"virtual_ipaddress set", []string{"virtual_ipaddress"}, func(m InstanceMeaning) any { return vipSet(m) }, true},
	{"preemption (nopreempt; keepalived ignores it with state MASTER)", []string{"nopreempt", "state"}, func(m InstanceMeaning) any { return m.Preempt }, true},
	{"preempt_delay", []string{"preempt_delay"}, func(m InstanceMeaning) any { return seconds(m.PreemptDelay) + "s" }, true},
	{"transport (unicast_peer or multicast)", []string{"unicast_peer"}, func(m InstanceMeaning) any { return m.Unicast }, true},
	{"garp_master_* settings", []string{"garp_master_delay", "garp_master_repeat", "garp_master_refresh", "garp_master_refresh_repeat"}, func(m InstanceMeaning) any { return m.GARP }, true},
	{"track_interface list", []string{"track_interface"}, func(m InstanceMeaning) any { return m.Track }, true},
	{"tracked scripts (track_script and their vrrp_script)", []string{"track_script"}, func(m InstanceMeaning) any { return m.Checks }, true},
	{"notify commands", []string{"notify_master", "notify_backup", "notify_fault", "notify_stop", "notify"}, func(m InstanceMeaning) any { return m.Notify }, true},
}

// agree reports every setting on which a member differs from the first.
func (im *importer) agree(name string, mbs []member) bool {
	ok := true
	ref := mbs[0]
	for _, f := range agreed {
		want := f.get(ref.m)
		for _, mb := range mbs[1:] {
			got := f.get(mb.m)
			if reflect.DeepEqual(want, got) {
				continue
			}
			ok = false
			if f.show {
				im.errf(mb.pos(f.keys...), []model.Pos{ref.pos(f.keys...)}, "instance %s: %s differs between nodes: %s has %v, %s has %v; make the files agree", name, f.what, mb.node, got, ref.node, want)
			} else {
				im.errf(mb.pos(f.keys...), []model.Pos{ref.pos(f.keys...)}, "instance %s: %s differs between nodes %s and %s (values not shown); make the files agree", name, f.what, mb.node, ref.node)
			}
		}
	}
	return ok
}

func (im *importer) checkPriorities(name string, mbs []member) {
	for _, mb := range mbs {
		if err := election.CheckPriority(mb.m.Priority); err != nil {
			im.errf(mb.pos("priority", "state"), nil, "instance %s: node %s: %v (keepalived gives 255 to state MASTER without a priority): write a priority in the file", name, mb.node, err)
		}
	}
	for i, a := range mbs {
		for _, b := range mbs[i+1:] {
			if a.m.Priority == b.m.Priority {
				im.errf(b.pos("priority"), []model.Pos{a.pos("priority")}, "instance %s: nodes %s and %s both have priority %d: give each node its own priority (the election would hang on the address tie-break)", name, a.node, b.node, a.m.Priority)
			}
		}
	}
}

// checkUnicast checks that each member's unicast_src_ip is its address
// and its peers are exactly the other members' addresses.
func (im *importer) checkUnicast(name string, mbs []member) {
	if !mbs[0].m.Unicast {
		return
	}
	src := map[string]netip.Addr{}
	for _, mb := range mbs {
		src[mb.node] = mb.m.Source
		if !mb.m.Source.IsValid() {
			im.errf(mb.pos("unicast_peer"), nil, "instance %s: node %s has unicast_peer but no unicast_src_ip: add unicast_src_ip", name, mb.node)
		}
	}
	for _, mb := range mbs {
		var want []netip.Addr
		for _, o := range mbs {
			if o.node != mb.node {
				want = append(want, src[o.node])
			}
		}
		slices.SortFunc(want, netip.Addr.Compare)
		if !slices.Equal(want, mb.m.Peers) {
			im.errf(mb.pos("unicast_peer"), nil, "instance %s: node %s's unicast_peer list %v is not the other nodes' unicast_src_ip %v: list exactly the other nodes", name, mb.node, mb.m.Peers, want)
		}
	}
}

// checkState warns when keepalived's initial states disagree with the
// priorities: hac elects by priority only.
func (im *importer) checkState(name string, mbs []member) {
	best := mbs[0]
	for _, mb := range mbs[1:] {
		if mb.m.Priority > best.m.Priority {
			best = mb
		}
	}
	for _, mb := range mbs {
		if mb.in.State == "MASTER" && mb.node != best.node {
			im.warnf(mb.pos("state"), "instance %s: node %s has state MASTER but %s has the highest priority: keepalived's state is only the start state; %s is master", name, mb.node, best.node, best.node)
		}
	}
}

// instance returns the named instance's meaning (it exists).
func (m Meaning) instance(name string) InstanceMeaning {
	i := slices.IndexFunc(m.Instances, func(in InstanceMeaning) bool { return in.Name == name })
	return m.Instances[i]
}

func vipSet(m InstanceMeaning) []string {
	var out []string
	for _, v := range m.VIPs {
		s := vipString(v.Prefix)
		if v.Dev != m.Interface {
			s += " dev " + v.Dev
		}
		out = append(out, s)
	}
	return out
}

// vipString writes a host VIP without its /32 or /128.
func vipString(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

// duration writes d in the schema's #Duration form.
func duration(d time.Duration) string {
	if d%time.Millisecond == 0 && d%time.Second != 0 {
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	return seconds(d) + "s"
}

// seconds writes d as a number of seconds, decimals only when needed.
func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) }

// fileStart is the position of a file's first character, for problems
// concerning a whole file.
func fileStart(name string) model.Pos { return model.Pos{File: name, Line: 1, Col: 1} }
