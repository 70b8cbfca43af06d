package keepalived

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hac-project/hac/model"
)

// A Problem is something wrong or unsupported in keepalived files, with the
// position it concerns and, for a mismatch between files, the other place.
type Problem struct {
	Pos     model.Pos
	Also    []model.Pos // the other places involved, e.g. the differing value on another node
	Msg     string
	Warning bool // true: reported, but the import can go on
	// Unsupported marks a directive hac import does not support (it is
	// left out of the import when the problem is downgraded to a warning).
	Unsupported bool
	// Flag is the command-line flag that gives what the files do not say
	// (--address, --subnet), for a problem that flag fixes; empty when the
	// fix is in the files.
	Flag string
}

func (p Problem) String() string {
	s := p.Pos.String() + ": "
	if p.Warning {
		s += "warning: "
	}
	s += p.Msg
	for _, a := range p.Also {
		s += "\n\t" + a.String()
	}
	return s
}

// Problems is a list of problems in the order found.
type Problems []Problem

// Errors returns the number of problems that are not warnings.
func (ps Problems) Errors() int {
	n := 0
	for _, p := range ps {
		if !p.Warning {
			n++
		}
	}
	return n
}

// Config is what hac understands of one keepalived.conf: the VRRP part.
type Config struct {
	File      string
	Global    Global
	Scripts   []*Script   // vrrp_script blocks, in file order
	Instances []*Instance // vrrp_instance blocks, in file order
	// SyncGroups are the vrrp_sync_group blocks, in file order.
	SyncGroups []*SyncGroup
}

// SyncGroup is a vrrp_sync_group block: instances that fail over together.
type SyncGroup struct {
	Name      string
	Pos       model.Pos
	Instances []string // the group block's names, in file order
	Notify    Notify
	// Positions of each directive seen, by keyword.
	Positions map[string]model.Pos
}

// SyncGroup returns the vrrp_sync_group of that name, or nil.
func (c *Config) SyncGroup(name string) *SyncGroup {
	for _, g := range c.SyncGroups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// Script returns the vrrp_script of that name, or nil.
func (c *Config) Script(name string) *Script {
	for _, s := range c.Scripts {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Instance returns the vrrp_instance of that name, or nil.
func (c *Config) Instance(name string) *Instance {
	for _, in := range c.Instances {
		if in.Name == name {
			return in
		}
	}
	return nil
}

// Global is the part of global_defs hac reads.
type Global struct {
	RouterID    string
	VRRPVersion int    // vrrp_version; 0 when unset (keepalived: 2)
	ScriptUser  string // script_user
	// ScriptSecurity is set by enable_script_security.
	ScriptSecurity bool
	Pos            map[string]model.Pos // position of each directive seen, by keyword
}

// Script is a vrrp_script block. Unset numbers are zero.
type Script struct {
	Name     string
	Pos      model.Pos
	Command  []string // script, split into argv like keepalived does
	Interval time.Duration
	Timeout  time.Duration
	Weight   int
	Rise     int
	Fall     int
	User     string
}

// Instance is a vrrp_instance block. Unset values are zero; [Instance.Normal]
// applies keepalived's defaults.
type Instance struct {
	Name            string
	Pos             model.Pos
	State           string // MASTER, BACKUP or ""
	Interface       string
	VRID            int
	Priority        int
	AdvertInt       time.Duration
	Version         int
	AuthType        string
	AuthPass        string
	VIPs            []VIP
	UnicastSrc      netip.Addr
	UnicastPeers    []netip.Addr
	Nopreempt       bool
	PreemptDelay    time.Duration
	TrackInterfaces []TrackInterface
	TrackScripts    []TrackScript
	Notify          Notify
	GARP            GARPSettings
	// Pos of each directive seen, by keyword (authentication's by
	// auth_type and auth_pass).
	Positions map[string]model.Pos
}

// VIP is one virtual_ipaddress entry.
type VIP struct {
	Prefix netip.Prefix // /32 or /128 when written without a length
	Dev    string
}

// TrackInterface is a track_interface entry.
type TrackInterface struct {
	Interface string
	Weight    int
}

// TrackScript is a track_script entry; Weight overrides the script's own
// weight when WeightSet.
type TrackScript struct {
	Name      string
	Weight    int
	WeightSet bool
}

// Notify holds the notify commands, each as argv.
type Notify struct {
	Master, Backup, Fault, Stop []string
	// All is the generic notify script (keepalived's notify, called with
	// 4 extra arguments: INSTANCE|GROUP, the name, the state, the priority).
	All []string
}

// GARPSettings holds the garp_master_* settings; nil when unset.
type GARPSettings struct {
	Delay, Refresh        *time.Duration
	Repeat, RefreshRepeat *int
}

// Decode interprets a parsed file. Every directive it does not support,
// every bad value and every misplaced statement is a Problem with its
// position; what it understands goes into the Config. Files read by
// [Load] have their includes expanded; an include left in a file from
// [Parse] is reported as unsupported.
func Decode(f *File) (*Config, Problems) {
	d := &decoder{}
	c := &Config{File: f.Name, Global: Global{Pos: map[string]model.Pos{}}}
	for _, s := range f.Stmts {
		switch s.Keyword() {
		case "global_defs":
			if d.block(s) {
				d.global(&c.Global, s.Block)
			}
		case "vrrp_script":
			if name, ok := d.named(s); ok {
				if c.Script(name) != nil {
					d.errf(s.Pos, "vrrp_script %s is defined twice", name)
					continue
				}
				c.Scripts = append(c.Scripts, d.script(name, s))
			}
		case "vrrp_instance":
			if name, ok := d.named(s); ok {
				if c.Instance(name) != nil {
					d.errf(s.Pos, "vrrp_instance %s is defined twice", name)
					continue
				}
				c.Instances = append(c.Instances, d.instance(name, s))
			}
		case "vrrp_sync_group":
			if name, ok := d.named(s); ok {
				if c.SyncGroup(name) != nil {
					d.errf(s.Pos, "vrrp_sync_group %s is defined twice", name)
					continue
				}
				c.SyncGroups = append(c.SyncGroups, d.syncGroup(name, s))
			}
		default:
			d.unsupported(s, "at the top level")
		}
	}
	for _, in := range c.Instances {
		for _, ts := range in.TrackScripts {
			if c.Script(ts.Name) == nil {
				d.errf(in.Positions["track_script"], "vrrp_instance %s: track_script %s names no vrrp_script", in.Name, ts.Name)
			}
		}
	}
	member := map[string]*SyncGroup{}
	for _, g := range c.SyncGroups {
		for _, name := range g.Instances {
			switch {
			case c.Instance(name) == nil:
				d.errf(g.Positions["group"], "vrrp_sync_group %s: %s names no vrrp_instance", g.Name, name)
			case member[name] != nil:
				d.errf(g.Positions["group"], "vrrp_sync_group %s: %s is already in vrrp_sync_group %s (keepalived ignores it here): list it in one group", g.Name, name, member[name].Name)
			default:
				member[name] = g
			}
		}
	}
	return c, d.problems
}

// syncGroup decodes a vrrp_sync_group block: its group { } of instance
// names and its notify commands.
func (d *decoder) syncGroup(name string, blk *Stmt) *SyncGroup {
	g := &SyncGroup{Name: name, Pos: blk.Pos, Positions: map[string]model.Pos{}}
	for _, s := range blk.Block {
		switch s.Keyword() {
		case "group":
			if !d.block(s) {
				continue
			}
			for _, e := range s.Block {
				if e.HasBlock {
					d.errf(e.Pos, "vrrp_sync_group %s: group lists instance names, without { } blocks", name)
					continue
				}
				for _, w := range e.Words {
					if slices.Contains(g.Instances, w.Text) {
						d.errf(w.Pos, "vrrp_sync_group %s: %s is listed twice", name, w.Text)
						continue
					}
					g.Instances = append(g.Instances, w.Text)
				}
			}
		case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify":
			if !d.notify(&g.Notify, s) {
				continue
			}
		default:
			d.unsupported(s, "in vrrp_sync_group")
			continue
		}
		if _, dup := g.Positions[s.Keyword()]; dup {
			d.errf(s.Pos, "vrrp_sync_group %s: %s is given twice", name, s.Keyword())
		}
		g.Positions[s.Keyword()] = s.Pos
	}
	if len(g.Instances) == 0 {
		d.errf(blk.Pos, "vrrp_sync_group %s has no group { } of instances", name)
	}
	return g
}

// notify decodes a notify_* or generic notify statement into n.
func (d *decoder) notify(n *Notify, s *Stmt) bool {
	if !d.args(s, 1, math.MaxInt) {
		return false
	}
	argv := scriptArgv(s.Args())
	switch s.Keyword() {
	case "notify_master":
		n.Master = argv
	case "notify_backup":
		n.Backup = argv
	case "notify_fault":
		n.Fault = argv
	case "notify_stop":
		n.Stop = argv
	default:
		n.All = argv
	}
	return true
}

type decoder struct {
	problems Problems
}

func (d *decoder) errf(pos model.Pos, format string, args ...any) {
	d.problems = append(d.problems, Problem{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) unsupported(s *Stmt, where string) {
	d.problems = append(d.problems, Problem{Pos: s.Pos, Unsupported: true,
		Msg: fmt.Sprintf("%s %s is not supported by hac import: remove it, or pass --ignore-unsupported to import without it", s.Keyword(), where)})
}

// block checks that s is a block with no arguments.
func (d *decoder) block(s *Stmt) bool {
	if !s.HasBlock {
		d.errf(s.Pos, "%s needs a { } block", s.Keyword())
		return false
	}
	if len(s.Args()) > 0 {
		d.errf(s.Args()[0].Pos, "%s takes no arguments before its block", s.Keyword())
	}
	return true
}

// named checks that s is a block with exactly one argument, its name.
func (d *decoder) named(s *Stmt) (string, bool) {
	if !s.HasBlock {
		d.errf(s.Pos, "%s needs a { } block", s.Keyword())
		return "", false
	}
	if len(s.Args()) != 1 {
		d.errf(s.Pos, "%s needs exactly one name, e.g. %s VI_1 { ... }", s.Keyword(), s.Keyword())
		return "", false
	}
	return s.Args()[0].Text, true
}

// args checks the number of arguments of a non-block statement.
func (d *decoder) args(s *Stmt, min, max int) bool {
	if s.HasBlock {
		d.errf(s.Pos, "%s takes no { } block", s.Keyword())
		return false
	}
	n := len(s.Args())
	if n < min || n > max {
		switch {
		case min == max && min == 0:
			d.errf(s.Pos, "%s takes no arguments", s.Keyword())
		case min == max:
			d.errf(s.Pos, "%s takes %d argument(s), got %d", s.Keyword(), min, n)
		default:
			d.errf(s.Pos, "%s takes %d to %d arguments, got %d", s.Keyword(), min, max, n)
		}
		return false
	}
	return true
}

func (d *decoder) int(s *Stmt, w Word, min, max int) (int, bool) {
	n, err := strconv.Atoi(w.Text)
	if err != nil || n < min || n > max {
		d.errf(w.Pos, "%s: %q is not a whole number in %d..%d", s.Keyword(), w.Text, min, max)
		return 0, false
	}
	return n, true
}

// seconds reads a (possibly fractional) number of seconds in [min, max].
func (d *decoder) seconds(s *Stmt, w Word, min, max float64) (time.Duration, bool) {
	f, err := strconv.ParseFloat(w.Text, 64)
	if err != nil || math.IsNaN(f) || f < min || f > max {
		d.errf(w.Pos, "%s: %q is not a number of seconds in %g..%g", s.Keyword(), w.Text, min, max)
		return 0, false
	}
	return time.Duration(math.Round(f*1e6)) * time.Microsecond, true
}

func (d *decoder) addr(s *Stmt, w Word) (netip.Addr, bool) {
	a, err := netip.ParseAddr(w.Text)
	if err != nil || a.Zone() != "" {
		d.errf(w.Pos, "%s: %q is not an IP address", s.Keyword(), w.Text)
		return netip.Addr{}, false
	}
	return a, true
}

func (d *decoder) global(g *Global, stmts []*Stmt) {
	for _, s := range stmts {
		switch s.Keyword() {
		case "router_id":
			if d.args(s, 1, 1) {
				g.RouterID = s.Args()[0].Text
			}
		case "vrrp_version":
			if d.args(s, 1, 1) {
				g.VRRPVersion, _ = d.int(s, s.Args()[0], 2, 3)
			}
		case "script_user":
			if d.args(s, 1, 2) {
				g.ScriptUser = s.Args()[0].Text
				if len(s.Args()) == 2 {
					d.errf(s.Args()[1].Pos, "script_user: a group is not supported by hac import: remove it")
				}
			}
		case "enable_script_security":
			if d.args(s, 0, 0) {
				g.ScriptSecurity = true
			}
		default:
			d.unsupported(s, "in global_defs")
			continue
		}
		g.Pos[s.Keyword()] = s.Pos
	}
}

func (d *decoder) script(name string, blk *Stmt) *Script {
	sc := &Script{Name: name, Pos: blk.Pos}
	for _, s := range blk.Block {
		switch s.Keyword() {
		case "script":
			if d.args(s, 1, math.MaxInt) {
				sc.Command = scriptArgv(s.Args())
			}
		case "interval":
			if d.args(s, 1, 1) {
				sc.Interval, _ = d.seconds(s, s.Args()[0], 0.001, 1e6)
			}
		case "timeout":
			if d.args(s, 1, 1) {
				sc.Timeout, _ = d.seconds(s, s.Args()[0], 0.001, 1e6)
			}
		case "weight":
			if d.args(s, 1, 2) {
				sc.Weight, _ = d.int(s, s.Args()[0], -253, 253)
				if len(s.Args()) == 2 {
					d.errf(s.Args()[1].Pos, "weight: %s is not supported by hac import: remove it", s.Args()[1].Text)
				}
			}
		case "rise":
			if d.args(s, 1, 1) {
				sc.Rise, _ = d.int(s, s.Args()[0], 1, math.MaxInt32)
			}
		case "fall":
			if d.args(s, 1, 1) {
				sc.Fall, _ = d.int(s, s.Args()[0], 1, math.MaxInt32)
			}
		case "user":
			if d.args(s, 1, 2) {
				sc.User = s.Args()[0].Text
				if len(s.Args()) == 2 {
					d.errf(s.Args()[1].Pos, "user: a group is not supported by hac import: remove it")
				}
			}
		default:
			d.unsupported(s, "in vrrp_script")
		}
	}
	if len(sc.Command) == 0 {
		d.errf(blk.Pos, "vrrp_script %s has no script", name)
	}
	return sc
}

// scriptArgv splits a script's words like keepalived does: a double
// quoted word is split at spaces again, where 'single quotes' keep an
// argument's spaces (keepalived runs it without a shell).
func scriptArgv(ws []Word) []string {
	var argv []string
	for _, w := range ws {
		if w.Quoted {
			argv = append(argv, splitCommand(w.Text)...)
		} else {
			argv = append(argv, w.Text)
		}
	}
	return argv
}

// splitCommand splits s at spaces and tabs outside single quotes.
func splitCommand(s string) []string {
	var argv []string
	var cur strings.Builder
	inArg, quoted := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted = !quoted
			inArg = true
		case (r == ' ' || r == '\t') && !quoted:
			if inArg {
				argv = append(argv, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if inArg {
		argv = append(argv, cur.String())
	}
	return argv
}

func (d *decoder) instance(name string, blk *Stmt) *Instance {
	in := &Instance{Name: name, Pos: blk.Pos, Positions: map[string]model.Pos{}}
	for _, s := range blk.Block {
		if d.instanceStmt(in, s) {
			if _, dup := in.Positions[s.Keyword()]; dup {
				d.errf(s.Pos, "vrrp_instance %s: %s is given twice", name, s.Keyword())
			}
			in.Positions[s.Keyword()] = s.Pos
		}
	}
	if in.Interface == "" {
		d.errf(blk.Pos, "vrrp_instance %s has no interface", name)
	}
	if in.VRID == 0 {
		d.errf(blk.Pos, "vrrp_instance %s has no virtual_router_id", name)
	}
	if len(in.VIPs) == 0 {
		d.errf(blk.Pos, "vrrp_instance %s has no virtual_ipaddress", name)
	}
	return in
}

// instanceStmt decodes one statement of a vrrp_instance and reports
// whether it was understood.
func (d *decoder) instanceStmt(in *Instance, s *Stmt) bool {
	ok := true
	switch s.Keyword() {
	case "state":
		if ok = d.args(s, 1, 1); ok {
			in.State = s.Args()[0].Text
			if in.State != "MASTER" && in.State != "BACKUP" {
				d.errf(s.Args()[0].Pos, "state: %q is neither MASTER nor BACKUP", in.State)
			}
		}
	case "interface":
		if ok = d.args(s, 1, 1); ok {
			in.Interface = s.Args()[0].Text
		}
	case "virtual_router_id":
		if ok = d.args(s, 1, 1); ok {
			in.VRID, _ = d.int(s, s.Args()[0], 1, 255)
		}
	case "priority":
		if ok = d.args(s, 1, 1); ok {
			in.Priority, _ = d.int(s, s.Args()[0], 1, 255)
		}
	case "advert_int":
		if ok = d.args(s, 1, 1); ok {
			in.AdvertInt, _ = d.seconds(s, s.Args()[0], 0.01, 255)
		}
	case "version":
		if ok = d.args(s, 1, 1); ok {
			in.Version, _ = d.int(s, s.Args()[0], 2, 3)
		}
	case "authentication":
		if ok = d.block(s); ok {
			d.auth(in, s.Block)
		}
	case "virtual_ipaddress":
		if ok = d.block(s); ok {
			d.vips(in, s.Block)
		}
	case "unicast_src_ip":
		if ok = d.args(s, 1, 1); ok {
			in.UnicastSrc, _ = d.addr(s, s.Args()[0])
		}
	case "unicast_peer":
		if ok = d.block(s); ok {
			for _, p := range s.Block {
				if p.HasBlock || len(p.Args()) > 0 {
					d.errf(p.Pos, "unicast_peer: options after the address (%s) are not supported by hac import: remove them", p.Keyword())
				}
				if a, ok := d.addr(s, p.Words[0]); ok {
					in.UnicastPeers = append(in.UnicastPeers, a)
				}
			}
		}
	case "nopreempt":
		if ok = d.args(s, 0, 0); ok {
			in.Nopreempt = true
		}
	case "preempt_delay":
		if ok = d.args(s, 1, 1); ok {
			in.PreemptDelay, _ = d.seconds(s, s.Args()[0], 0, 1000)
		}
	case "track_interface":
		if ok = d.block(s); ok {
			for _, t := range s.Block {
				ti := TrackInterface{Interface: t.Keyword()}
				if w, ok := d.weight(s.Keyword(), t); ok {
					ti.Weight = w
				}
				in.TrackInterfaces = append(in.TrackInterfaces, ti)
			}
		}
	case "track_script":
		if ok = d.block(s); ok {
			for _, t := range s.Block {
				ts := TrackScript{Name: t.Keyword()}
				if w, ok := d.weight(s.Keyword(), t); ok && len(t.Args()) > 0 {
					ts.Weight, ts.WeightSet = w, true
				}
				in.TrackScripts = append(in.TrackScripts, ts)
			}
		}
	case "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify":
		ok = d.notify(&in.Notify, s)
	case "garp_master_delay", "garp_master_refresh":
		if ok = d.args(s, 1, 1); ok {
			v, _ := d.seconds(s, s.Args()[0], 0, 1e6)
			if s.Keyword() == "garp_master_delay" {
				in.GARP.Delay = &v
			} else {
				in.GARP.Refresh = &v
			}
		}
	case "garp_master_repeat", "garp_master_refresh_repeat":
		if ok = d.args(s, 1, 1); ok {
			v, _ := d.int(s, s.Args()[0], 0, math.MaxInt32)
			if s.Keyword() == "garp_master_repeat" {
				in.GARP.Repeat = &v
			} else {
				in.GARP.RefreshRepeat = &v
			}
		}
	default:
		d.unsupported(s, "in vrrp_instance")
		return false
	}
	return ok
}

// weight reads "NAME [weight N]" entries of track_interface and track_script.
func (d *decoder) weight(block string, t *Stmt) (int, bool) {
	if t.HasBlock {
		d.errf(t.Pos, "%s: %s takes no { } block", block, t.Keyword())
		return 0, false
	}
	args := t.Args()
	switch {
	case len(args) == 0:
		return 0, true
	case len(args) == 2 && args[0].Text == "weight":
		return d.int(t, args[1], -253, 253)
	case len(args) == 3 && args[0].Text == "weight" && args[2].Text == "reverse":
		d.errf(args[2].Pos, "%s: weight ... reverse is not supported by hac import: remove it", block)
		return 0, false
	default:
		d.errf(args[0].Pos, "%s: expected \"weight N\" after the name, got %q", block, args[0].Text)
		return 0, false
	}
}

func (d *decoder) auth(in *Instance, stmts []*Stmt) {
	for _, s := range stmts {
		switch s.Keyword() {
		case "auth_type":
			if d.args(s, 1, 1) {
				in.AuthType = s.Args()[0].Text
				switch in.AuthType {
				case "PASS":
				case "AH":
					d.errf(s.Args()[0].Pos, "auth_type AH is not supported (keepalived 2.2.7 deprecates it): use PASS or no authentication")
				default:
					d.errf(s.Args()[0].Pos, "auth_type %q is neither PASS nor AH", in.AuthType)
				}
			}
		case "auth_pass":
			if d.args(s, 1, 1) {
				in.AuthPass = s.Args()[0].Text
				if n := len(in.AuthPass); n > 8 {
					d.errf(s.Args()[0].Pos, "auth_pass is %d characters long; keepalived silently uses only the first 8: shorten it to at most 8", n)
				}
			}
		default:
			d.unsupported(s, "in authentication")
			continue
		}
		in.Positions[s.Keyword()] = s.Pos
	}
	if in.AuthType == "" && in.AuthPass != "" {
		d.errf(in.Positions["auth_pass"], "vrrp_instance %s: auth_pass without auth_type: add auth_type PASS", in.Name)
	}
}

func (d *decoder) vips(in *Instance, stmts []*Stmt) {
	for _, s := range stmts {
		if s.HasBlock {
			d.errf(s.Pos, "virtual_ipaddress entries take no { } block")
			continue
		}
		var v VIP
		text := s.Keyword()
		var err error
		if strings.Contains(text, "/") {
			v.Prefix, err = netip.ParsePrefix(text)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(text)
			if err == nil {
				v.Prefix = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil || v.Prefix.Addr().Zone() != "" {
			d.errf(s.Pos, "virtual_ipaddress: %q is not an address or address/length", text)
			continue
		}
		args := s.Args()
		for len(args) > 0 {
			if args[0].Text == "dev" && len(args) >= 2 {
				v.Dev = args[1].Text
				args = args[2:]
				continue
			}
			d.errf(args[0].Pos, "virtual_ipaddress: option %q is not supported by hac import: remove it (only dev IFACE is)", args[0].Text)
			break
		}
		if slices.ContainsFunc(in.VIPs, func(o VIP) bool { return o.Prefix.Addr() == v.Prefix.Addr() }) {
			d.errf(s.Pos, "virtual_ipaddress: %s is listed twice", v.Prefix.Addr())
			continue
		}
		in.VIPs = append(in.VIPs, v)
	}
}
