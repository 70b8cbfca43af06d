package keepalived

import (
	"cmp"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/format"
	"cuelang.org/go/cue/literal"

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
	src, err := format.Source([]byte(im.out.String()))
	if err != nil {
		// The text is built from quoted literals; a failure here is a bug.
		panic(fmt.Sprintf("keepalived: generated CUE does not format: %v\n%s", err, im.out.String()))
	}
	return src, im.problems
}

type importer struct {
	nodes    []NodeConfig
	opt      Options
	problems Problems
	out      strings.Builder

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
	// Check (and write) every instance even after an error, so that
	// every problem is reported at once; the text is dropped on errors.
	var vrrp, sync strings.Builder
	for _, name := range names {
		im.instance(&vrrp, name)
	}
	im.syncGroups(&sync)
	if im.problems.Errors() > 0 {
		return
	}
	w := &im.out
	for _, line := range strings.Split(im.opt.Header, "\n") {
		if line != "" {
			fmt.Fprintf(w, "// %s\n", line)
		}
	}
	fmt.Fprintf(w, "clusters: %s: {\n", label(im.opt.Cluster))
	im.writeNetwork()
	w.WriteString("nodes: {\n")
	for _, n := range im.nodes {
		fmt.Fprintf(w, "%s: {address: %s", label(n.Node), quote(im.addrs[n.Node][0].String()))
		if len(im.addrs[n.Node]) > 1 {
			fmt.Fprintf(w, ", address6: %s", quote(im.addrs[n.Node][1].String()))
		}
		if im.ifaces[n.Node] != im.iface {
			fmt.Fprintf(w, ", interface: %s", quote(im.ifaces[n.Node]))
		}
		if s, ok := im.opt.SSH[n.Node]; ok {
			fmt.Fprintf(w, ", ssh: {host: %s", quote(s.Host))
			if s.User != "" {
				fmt.Fprintf(w, ", user: %s", quote(s.User))
			}
			if s.Port != 0 {
				fmt.Fprintf(w, ", port: %d", s.Port)
			}
			if s.Sudo {
				w.WriteString(`, become: "sudo"`)
			}
			w.WriteString("}")
		}
		w.WriteString("}\n")
	}
	w.WriteString("}\nvrrp: {\n")
	w.WriteString(vrrp.String())
	w.WriteString("}\n")
	w.WriteString(sync.String())
	fmt.Fprintf(w, "render: {network: %s, keepalived: %t}\n", quote(cmp.Or(im.opt.Render, "none")), !im.opt.Agent)
	w.WriteString("}\n")
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

func (im *importer) writeNetwork() {
	w := &im.out
	fmt.Fprintf(w, "network: {interface: %s, subnet: %s", quote(im.iface), quote(im.subnets[0].String()))
	if len(im.subnets) > 1 {
		fmt.Fprintf(w, ", subnet6: %s", quote(im.subnets[1].String()))
	}
	w.WriteString("}\n")
}

// instance checks one instance across its members and writes it.
func (im *importer) instance(w *strings.Builder, name string) {
	var mbs []member
	for _, n := range im.nodes {
		if in := n.Config.Instance(name); in != nil {
			mbs = append(mbs, member{node: n.Node, cfg: n.Config, in: in, m: n.Config.Meaning().instance(name)})
		}
	}
	if len(mbs) < 2 {
		im.errf(mbs[0].in.Pos, nil, "instance %s is only in node %s's file: a VRRP instance needs at least two nodes", name, mbs[0].node)
		return
	}
	agree := im.agree(name, mbs)
	im.checkPriorities(name, mbs)
	im.checkUnicast(name, mbs)
	if !agree {
		return
	}
	ref := mbs[0]
	m := ref.m
	im.checkState(name, mbs)
	if ref.in.AuthType == "PASS" && m.Version == 3 {
		im.warnf(ref.pos("auth_type"), "instance %s: keepalived ignores authentication in VRRPv3: it is not imported", name)
	}
	if v2 := m.Version == 2; v2 && ref.in.AdvertInt != 0 && ref.in.AdvertInt != m.AdvertInt {
		im.warnf(ref.pos("advert_int"), "instance %s: VRRPv2 advert_int %s is rounded by keepalived to %s: imported as %s", name, seconds(ref.in.AdvertInt), seconds(m.AdvertInt), seconds(m.AdvertInt))
	}

	fmt.Fprintf(w, "%s: {\n", label(name))
	fmt.Fprintf(w, "virtual_router_id: %d\n", m.VRID)
	if m.Version != 2 {
		fmt.Fprintf(w, "version: %d\n", m.Version)
	}
	w.WriteString("priority: {")
	for i, mb := range mbs {
		if i > 0 {
			w.WriteString(", ")
		}
		fmt.Fprintf(w, "%s: %d", label(mb.node), mb.m.Priority)
	}
	w.WriteString("}\n")
	fmt.Fprintf(w, "advert_int: %s\n", quote(duration(m.AdvertInt)))
	if !m.Preempt {
		w.WriteString("preempt: false\n")
	}
	// keepalived ignores preempt_delay with nopreempt; hac refuses a
	// setting that does nothing, so it is left out.
	if m.PreemptDelay != 0 && m.Preempt {
		fmt.Fprintf(w, "preempt_delay: %s\n", quote(duration(m.PreemptDelay)))
	}
	if m.AuthPass != "" {
		pass := quote(m.AuthPass)
		switch {
		case im.opt.PassEnv != "":
			pass = fmt.Sprintf("{env: %s}", quote(im.opt.PassEnv))
		case im.opt.PassFile != "":
			pass = fmt.Sprintf("{file: %s}", quote(im.opt.PassFile))
		}
		fmt.Fprintf(w, "auth: {type: \"PASS\", pass: %s}\n", pass)
	}
	w.WriteString("vips: [")
	for i, v := range m.VIPs {
		if i > 0 {
			w.WriteString(", ")
		}
		if v.Dev == m.Interface {
			w.WriteString(quote(vipString(v.Prefix)))
		} else {
			fmt.Fprintf(w, "{address: %s, device: %s}", quote(vipString(v.Prefix)), quote(v.Dev))
		}
	}
	w.WriteString("]\n")
	if !m.Unicast {
		w.WriteString("transport: \"multicast\"\n")
	}
	if g := m.GARP; g != garp(GARPSettings{}) {
		fmt.Fprintf(w, "garp: {repeat: %d, delay: %s, refresh: %s, refresh_repeat: %d}\n",
			g.Repeat, quote(duration(g.Delay)), quote(duration(g.Refresh)), g.RefreshRepeat)
	}
	if len(m.Track) > 0 {
		w.WriteString("track_interfaces: [")
		for i, t := range m.Track {
			if i > 0 {
				w.WriteString(", ")
			}
			fmt.Fprintf(w, "{interface: %s, weight: %d}", quote(t.Interface), t.Weight)
		}
		w.WriteString("]\n")
	}
	writeChecks(w, ref)
	writeNotify(w, m.Notify)
	w.WriteString("}\n")
}

// writeNotify writes the notify commands that are set, if any.
func writeNotify(w *strings.Builder, nt Notify) {
	if len(nt.Master)+len(nt.Backup)+len(nt.Fault)+len(nt.Stop)+len(nt.All) == 0 {
		return
	}
	w.WriteString("notify: {\n")
	for _, f := range []struct {
		k    string
		argv []string
	}{{"master", nt.Master}, {"backup", nt.Backup}, {"fault", nt.Fault}, {"stop", nt.Stop}, {"all", nt.All}} {
		if len(f.argv) > 0 {
			fmt.Fprintf(w, "%s: %s\n", f.k, stringList(f.argv))
		}
	}
	w.WriteString("}\n")
}

// syncGroups checks that every node declares each vrrp_sync_group alike
// (the same members and notify commands) and writes them.
func (im *importer) syncGroups(w *strings.Builder) {
	var names []string
	for _, n := range im.nodes {
		for _, g := range n.Config.SyncGroups {
			if !slices.Contains(names, g.Name) {
				names = append(names, g.Name)
			}
		}
	}
	if len(names) == 0 {
		return
	}
	w.WriteString("sync_groups: {\n")
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
		fmt.Fprintf(w, "%s: {\ninstances: %s\n", label(name), stringList(ref.Instances))
		writeNotify(w, ref.Notify)
		w.WriteString("}\n")
	}
	w.WriteString("}\n")
}

// sortedNames returns a sorted copy.
func sortedNames(ns []string) []string {
	out := slices.Clone(ns)
	slices.Sort(out)
	return out
}

// writeChecks writes the instance's tracked scripts as checks, by the
// vrrp_script's name.
func writeChecks(w *strings.Builder, ref member) {
	if len(ref.in.TrackScripts) == 0 {
		return
	}
	w.WriteString("checks: {\n")
	for _, ts := range ref.in.TrackScripts {
		sc := ref.cfg.Script(ts.Name)
		ch := ref.cfg.checkMeaning(sc, ts)
		fmt.Fprintf(w, "%s: {\ncommand: %s\ninterval: %s\ntimeout: %s\nrise: %d\nfall: %d\nweight: %d\n",
			label(ts.Name), stringList(ch.Command), quote(duration(ch.Interval)), quote(duration(ch.Timeout)), ch.Rise, ch.Fall, ch.Weight)
		if ch.User != defaultScriptUser {
			fmt.Fprintf(w, "user: %s\n", quote(ch.User))
		}
		w.WriteString("}\n")
	}
	w.WriteString("}\n")
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

func quote(s string) string { return literal.String.Quote(s) }

func label(s string) string {
	if ast.StringLabelNeedsQuoting(s) {
		return quote(s)
	}
	return s
}

func stringList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// fileStart is the position of a file's first character, for problems
// concerning a whole file.
func fileStart(name string) model.Pos { return model.Pos{File: name, Line: 1, Col: 1} }
