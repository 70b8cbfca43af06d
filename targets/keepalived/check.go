package keepalived

import (
	"fmt"

	"github.com/hac-project/hac/model"
)

// Problem is something keepalived.conf cannot express, at a field of the
// cluster. The compiler reports every Problem at the field's position
// before anything is rendered; Config refuses a cluster that has one.
type Problem struct {
	// Path is the field below the cluster, as strings (field names, map
	// keys) and ints (list indices): "vrrp", "VI_1", "checks", "web",
	// "interval".
	Path []any
	// Related is another field the problem involves (the first of two
	// clashing checks); nil when none.
	Related []any
	// Msg says what is wrong and how to fix it; it never holds the pass.
	Msg string
}

// Check returns every problem keepalived.conf would have with c, in
// instance order; none when c runs the hac agent.
func Check(c *model.Cluster) []Problem {
	if !c.Keepalived {
		return nil
	}
	var ps []Problem
	add := func(path, related []any, format string, args ...any) {
		ps = append(ps, Problem{Path: path, Related: related, Msg: fmt.Sprintf(format, args...)})
	}
	type firstUse struct {
		in    *model.Instance
		check model.Check
	}
	seen := map[string]firstUse{} // check name -> first instance using it
	for _, in := range c.Instances {
		at := func(parts ...any) []any { return append([]any{"vrrp", in.Name}, parts...) }
		if in.Auth.Type == model.AuthPass && !in.Auth.Pass.IsZero() && checkWord(in.Auth.Pass.Reveal()) != nil {
			add(at("auth", "pass"), nil, "the auth pass holds a space, quote, backslash, '#', '!', brace or control character, which keepalived.conf cannot carry: choose another pass")
		}
		for i, t := range in.Track {
			for _, m := range in.Members {
				if t.Interface == m.Interface {
					add(at("track_interfaces", i, "interface"), nil, "keepalived always tracks the instance's own interface %s (fault while down, on node %s) and refuses it in track_interface: remove it", t.Interface, m.Node)
					break
				}
			}
		}
		for _, ch := range in.Checks {
			if _, err := command(ch.Command); err != nil {
				add(at("checks", ch.Name, "command"), nil, "%v", err)
			}
			if _, err := wholeSeconds(ch.Interval); err != nil {
				add(at("checks", ch.Name, "interval"), nil, "interval %v", err)
			}
			if _, err := wholeSeconds(ch.Timeout); err != nil {
				add(at("checks", ch.Name, "timeout"), nil, "timeout %v", err)
			}
			if ch.User != "" {
				if err := checkWord(ch.User); err != nil {
					add(at("checks", ch.Name, "user"), nil, "user %v", err)
				}
			}
			first, ok := seen[ch.Name]
			switch {
			case !ok:
				seen[ch.Name] = firstUse{in, ch}
			case shareNode(first.in, in) && !equalCheck(first.check, ch):
				add(at("checks", ch.Name), []any{"vrrp", first.in.Name, "checks", ch.Name},
					"check %s differs from the check of that name in instance %s, and keepalived.conf has one vrrp_script per name on a node: rename one of them, or make them the same", ch.Name, first.in.Name)
			}
		}
		checkNotify(in.Notify, at("notify"), add)
		if _, err := wholeSeconds(in.GARP.Delay); err != nil {
			add(at("garp", "delay"), nil, "delay %v", err)
		}
		if _, err := wholeSeconds(in.GARP.Refresh); err != nil {
			add(at("garp", "refresh"), nil, "refresh %v", err)
		}
	}
	for _, g := range c.SyncGroups {
		if err := checkWord(g.Name); err != nil {
			add([]any{"sync_groups", g.Name}, nil, "sync group name %v", err)
		}
		checkNotify(g.Notify, []any{"sync_groups", g.Name, "notify"}, add)
	}
	return ps
}

// checkNotify reports the notify commands keepalived.conf cannot carry.
func checkNotify(nt model.Notify, at []any, add func(path, related []any, format string, args ...any)) {
	for _, k := range notifyKeys(nt) {
		if len(k.argv) == 0 {
			continue
		}
		if _, err := command(k.argv); err != nil {
			add(append(append([]any(nil), at...), k.field), nil, "%v", err)
		}
	}
}

// shareNode reports whether two instances have a member node in common.
func shareNode(a, b *model.Instance) bool {
	for _, m := range a.Members {
		if b.Member(m.Node) != nil {
			return true
		}
	}
	return false
}

// problemError is the first problem of a cluster, as Config returns it.
func problemError(ps []Problem) error {
	p := ps[0]
	path := ""
	for _, part := range p.Path {
		switch part := part.(type) {
		case int:
			path += fmt.Sprintf("[%d]", part)
		default:
			if path != "" {
				path += "."
			}
			path += fmt.Sprint(part)
		}
	}
	return fmt.Errorf("keepalived: %s: %s", path, p.Msg)
}
