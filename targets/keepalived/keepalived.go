// Package keepalived renders /etc/keepalived/keepalived.conf for clusters
// that keep keepalived (model.Cluster.Keepalived) instead of the hac agent.
//
// The output is regular so that a parser can read it back: one statement
// per line, four-space indentation, blocks in a fixed order (global_defs,
// vrrp_script blocks in order of first use, vrrp_instance blocks in model
// order) and, inside an instance, the keywords always in the same order.
// It passes keepalived 2.2.7's --config-test.
package keepalived

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hac-project/hac/model"
	"github.com/hac-project/hac/targets"
)

// Path is where keepalived reads its configuration.
const Path = "/etc/keepalived/keepalived.conf"

// Activate reloads keepalived (SIGHUP keeps the VRRP state), or starts it
// when it is not running.
const Activate = "systemctl enable keepalived && systemctl reload-or-restart keepalived"

// Deactivate stops and disables keepalived: a master sends priority 0 and
// drops its VIPs at once (a backup takes over after Skew_Time).
const Deactivate = "systemctl disable --now keepalived"

// Keepalived is the keepalived.conf target.
type Keepalived struct{}

var _ targets.Target = Keepalived{}

// Name returns "keepalived".
func (Keepalived) Name() string { return "keepalived" }

// Render returns keepalived.conf for n, or nothing when the cluster runs
// the hac agent. The file holds the auth pass: mode 0600, marked Secret.
// Render errors name the instance and the value keepalived.conf cannot
// express; they never contain the auth pass.
func (Keepalived) Render(c *model.Cluster, n *model.Node) ([]targets.File, error) {
	if !c.Keepalived {
		return nil, nil
	}
	data, err := Config(c, n)
	if err != nil {
		return nil, err
	}
	return []targets.File{{
		Path:       Path,
		Mode:       0o600,
		Data:       data,
		Activate:   Activate,
		Deactivate: Deactivate,
		Secret:     true,
	}}, nil
}

// writer builds the file line by line with keepalived's nesting.
type writer struct {
	b     strings.Builder
	depth int
}

// p writes one line at the current depth; a line ending in "{" opens a
// block and a line "}" closes one.
func (w *writer) p(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if line == "}" {
		w.depth--
	}
	if line != "" {
		w.b.WriteString(strings.Repeat("    ", w.depth))
	}
	w.b.WriteString(line)
	w.b.WriteByte('\n')
	if strings.HasSuffix(line, "{") {
		w.depth++
	}
}

// Config returns keepalived.conf for node n of cluster c.
// A cluster with a [Problem] is refused (the compiler reports them first).
func Config(c *model.Cluster, n *model.Node) ([]byte, error) {
	if ps := Check(c); len(ps) > 0 {
		return nil, problemError(ps)
	}
	ins := targets.Instances(c, n)
	scripts := collectScripts(ins)
	w := &writer{}
	w.b.WriteString(targets.Header("#", c, n))
	w.p("")
	w.p("global_defs {")
	w.p("router_id %s", n.Name)
	groups := targets.SyncGroups(c, n)
	if len(scripts) > 0 || hasNotify(ins, groups) {
		w.p("enable_script_security")
		w.p("script_user root")
	}
	w.p("}")
	for _, ch := range scripts {
		if err := writeScript(w, ch); err != nil {
			return nil, err
		}
	}
	for _, in := range ins {
		if err := writeInstance(w, in, in.Member(n.Name)); err != nil {
			return nil, fmt.Errorf("keepalived: node %s: instance %s: %w", n.Name, in.Name, err)
		}
	}
	for _, g := range groups {
		if err := writeSyncGroup(w, g); err != nil {
			return nil, fmt.Errorf("keepalived: node %s: sync group %s: %w", n.Name, g.Name, err)
		}
	}
	return []byte(w.b.String()), nil
}

// collectScripts returns the node's checks in order of first use; checks
// of the same name are identical ([Check] refuses others), as they become
// one vrrp_script.
func collectScripts(ins []*model.Instance) []model.Check {
	var out []model.Check
	for _, in := range ins {
		for _, ch := range in.Checks {
			if !slices.ContainsFunc(out, func(o model.Check) bool { return o.Name == ch.Name }) {
				out = append(out, ch)
			}
		}
	}
	return out
}

func equalCheck(a, b model.Check) bool {
	return slices.Equal(a.Command, b.Command) && a.Interval == b.Interval && a.Timeout == b.Timeout &&
		a.Rise == b.Rise && a.Fall == b.Fall && a.Weight == b.Weight && a.User == b.User
}

func hasNotify(ins []*model.Instance, groups []model.SyncGroup) bool {
	for _, in := range ins {
		if !in.Notify.IsZero() {
			return true
		}
	}
	for _, g := range groups {
		if !g.Notify.IsZero() {
			return true
		}
	}
	return false
}

// writeSyncGroup writes a vrrp_sync_group block after the instances it
// names.
func writeSyncGroup(w *writer, g model.SyncGroup) error {
	if err := checkWord(g.Name); err != nil {
		return fmt.Errorf("name %w", err)
	}
	w.p("")
	w.p("vrrp_sync_group %s {", g.Name)
	w.p("group {")
	for _, name := range g.Instances {
		w.p("%s", name)
	}
	w.p("}")
	if err := writeNotify(w, g.Notify); err != nil {
		return err
	}
	w.p("}")
	return nil
}

// notifyKeys are the notify commands with their keepalived keywords and
// their field names in the schema.
func notifyKeys(nt model.Notify) []struct {
	keyword, field string
	argv           []string
} {
	return []struct {
		keyword, field string
		argv           []string
	}{{"notify_master", "master", nt.Master}, {"notify_backup", "backup", nt.Backup}, {"notify_fault", "fault", nt.Fault},
		{"notify_stop", "stop", nt.Stop}, {"notify", "all", nt.All}}
}

// writeNotify writes the notify commands that are set.
func writeNotify(w *writer, nt model.Notify) error {
	for _, k := range notifyKeys(nt) {
		if len(k.argv) == 0 {
			continue
		}
		cmd, err := command(k.argv)
		if err != nil {
			return fmt.Errorf("%s: %w", k.keyword, err)
		}
		w.p("%s %s", k.keyword, cmd)
	}
	return nil
}

func writeScript(w *writer, ch model.Check) error {
	if err := checkWord(ch.Name); err != nil {
		return fmt.Errorf("keepalived: check name %w", err)
	}
	cmd, err := command(ch.Command)
	if err != nil {
		return fmt.Errorf("keepalived: check %s: command: %w", ch.Name, err)
	}
	interval, err := wholeSeconds(ch.Interval)
	if err != nil {
		return fmt.Errorf("keepalived: check %s: interval %w", ch.Name, err)
	}
	timeout, err := wholeSeconds(ch.Timeout)
	if err != nil {
		return fmt.Errorf("keepalived: check %s: timeout %w", ch.Name, err)
	}
	w.p("")
	w.p("vrrp_script %s {", ch.Name)
	w.p("script %s", cmd)
	w.p("interval %s", interval)
	w.p("timeout %s", timeout)
	w.p("rise %d", ch.Rise)
	w.p("fall %d", ch.Fall)
	w.p("weight %d", ch.Weight)
	if ch.User != "" {
		if err := checkWord(ch.User); err != nil {
			return fmt.Errorf("keepalived: check %s: user %w", ch.Name, err)
		}
		w.p("user %s", ch.User)
	}
	w.p("}")
	return nil
}

func writeInstance(w *writer, in *model.Instance, m *model.Member) error {
	if err := checkWord(in.Name); err != nil {
		return fmt.Errorf("name %w", err)
	}
	advert := seconds(in.AdvertInt)
	if in.Version == 2 && in.AdvertInt%time.Second != 0 {
		return fmt.Errorf("advert_int %v: VRRPv2 adverts are whole seconds", in.AdvertInt)
	}
	// keepalived clears nopreempt and preempt_delay on an instance that
	// starts as MASTER, so only a preempting instance without delay does.
	state := "BACKUP"
	if in.Master().Node == m.Node && in.Preempt && in.PreemptDelay == 0 {
		state = "MASTER"
	}
	w.p("")
	w.p("vrrp_instance %s {", in.Name)
	w.p("state %s", state)
	w.p("interface %s", m.Interface)
	w.p("virtual_router_id %d", in.VRID)
	w.p("version %d", in.Version)
	w.p("priority %d", m.Priority)
	w.p("advert_int %s", advert)
	switch {
	case !in.Preempt:
		w.p("nopreempt")
	case in.PreemptDelay > 0:
		w.p("preempt_delay %s", seconds(in.PreemptDelay))
	}
	if in.Auth.Type == model.AuthPass {
		pass := in.Auth.Pass.Reveal()
		if checkWord(pass) != nil {
			return fmt.Errorf("the auth pass holds a space, quote, backslash, '#', '!', brace or control character, which keepalived.conf cannot carry: choose another pass")
		}
		w.p("authentication {")
		w.p("auth_type PASS")
		w.p("auth_pass %s", pass)
		w.p("}")
	}
	if in.Unicast {
		if !m.Source.IsValid() {
			return fmt.Errorf("unicast needs the node's source address, and member %s has none", m.Node)
		}
		w.p("unicast_src_ip %s", m.Source)
		w.p("unicast_peer {")
		for _, p := range m.Peers {
			w.p("%s", p)
		}
		w.p("}")
	}
	w.p("virtual_ipaddress {")
	for _, v := range in.VIPs {
		dev := v.Device
		if dev == "" {
			dev = m.Interface
		}
		w.p("%s dev %s", v.Prefix, dev)
	}
	w.p("}")
	if len(in.Track) > 0 {
		w.p("track_interface {")
		for _, t := range in.Track {
			if t.Interface == m.Interface {
				return fmt.Errorf("tracks its own interface %s: keepalived always tracks it (fault while down) and refuses it in track_interface: remove it", t.Interface)
			}
			// Same meaning in the model and keepalived: added while up (>0)
			// or while down (<0), fault while down for 0.
			w.p("%s weight %d", t.Interface, t.Weight)
		}
		w.p("}")
	}
	if len(in.Checks) > 0 {
		w.p("track_script {")
		for _, ch := range in.Checks {
			w.p("%s", ch.Name)
		}
		w.p("}")
	}
	if err := writeNotify(w, in.Notify); err != nil {
		return err
	}
	delay, err := wholeSeconds(in.GARP.Delay)
	if err != nil {
		return fmt.Errorf("garp delay %w", err)
	}
	refresh, err := wholeSeconds(in.GARP.Refresh)
	if err != nil {
		return fmt.Errorf("garp refresh %w", err)
	}
	w.p("garp_master_delay %s", delay)
	w.p("garp_master_repeat %d", in.GARP.Repeat)
	w.p("garp_master_refresh %s", refresh)
	w.p("garp_master_refresh_repeat %d", in.GARP.RefreshRepeat)
	w.p("}")
	return nil
}

// seconds writes d in seconds, with decimals only when needed ("1", "0.1").
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// wholeSeconds writes d in seconds and refuses fractions, which
// keepalived 2.2.7 rejects for script intervals and GARP timers.
func wholeSeconds(d time.Duration) (string, error) {
	if d%time.Second != 0 {
		return "", fmt.Errorf("%v: keepalived takes whole seconds here", d)
	}
	return seconds(d), nil
}

// special are the characters keepalived's parser gives a meaning to.
const special = "'\"\\#!{}"

// checkWord refuses a value that is not one plain keepalived token.
func checkWord(s string) error {
	if s == "" || strings.ContainsAny(s, special) || strings.ContainsFunc(s, isSpaceOrControl) {
		return fmt.Errorf("%q: must be one word without spaces, quotes, backslashes, '#', '!' or braces", s)
	}
	return nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// command writes argv as keepalived's quoted script string: the whole in
// double quotes, an argument holding spaces in single quotes.
func command(argv []string) (string, error) {
	if len(argv) == 0 {
		return "", fmt.Errorf("empty command")
	}
	parts := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, special) || strings.ContainsFunc(a, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return "", fmt.Errorf("argument %q: keepalived cannot carry empty arguments, quotes, backslashes, '#', '!', braces or control characters: move the command into a script", a)
		}
		if strings.ContainsRune(a, ' ') {
			a = "'" + a + "'"
		}
		parts[i] = a
	}
	return `"` + strings.Join(parts, " ") + `"`, nil
}
