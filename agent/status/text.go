package status

import (
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText prints r as hac-agent status shows it: a header with the node,
// version and config digest, then one table row per instance.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "node %s (cluster %s), hac %s, started %s\n", r.Node, r.Cluster, r.Version, r.Started.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "config %s\n", r.ConfigDigest)
	if len(r.Drops) > 0 {
		fmt.Fprintf(&b, "unclaimed packets dropped: %s\n", drops(r.Drops))
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tVRID\tIFACE\tSTATE\tPRIO\tMASTER\tLAST ADVERT\tVIPS\tSENT\tRECV\tDROPS\tTRANS\tRESTORED")
	for _, in := range r.Instances {
		prio := fmt.Sprint(in.Priority)
		if in.Priority != in.BasePriority {
			prio = fmt.Sprintf("%d/%d", in.Priority, in.BasePriority)
		}
		master := "-"
		if in.Master.IsValid() {
			master = in.Master.String()
		}
		age := "-"
		if in.LastAdvertMillis >= 0 {
			age = (time.Duration(in.LastAdvertMillis) * time.Millisecond).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%d\t%d\n",
			in.Name, in.VRID, in.Interface, in.State, prio, master, age, prefixes(in.VIPs),
			in.Counters.AdvertsSent, in.Counters.AdvertsReceived, drops(in.Counters.Drops),
			in.Counters.Transitions, in.Counters.VIPRestored)
	}
	tw.Flush()
	for _, in := range r.Instances {
		if len(in.Tracks)+len(in.Checks) > 0 {
			fmt.Fprintf(&b, "%s tracking: %s\n", in.Name, items(in.Tracks, in.Checks))
		}
	}
	for _, g := range r.SyncGroups {
		fmt.Fprintf(&b, "sync group %s: %s (%s)\n", g.Name, g.State, strings.Join(g.Instances, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func prefixes(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "-"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// drops formats counts by reason as "reason=n,…", sorted; "0" when none.
func drops(m map[string]uint64) string {
	var s []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] > 0 {
			s = append(s, fmt.Sprintf("%s=%d", k, m[k]))
		}
	}
	if len(s) == 0 {
		return "0"
	}
	return strings.Join(s, ",")
}

// items formats tracked interfaces and checks as
// "track eth2 down (weight -50), check web up (weight +20)".
func items(tracks, checks []Item) string {
	var s []string
	add := func(kind string, its []Item) {
		for _, it := range its {
			st := "down"
			if it.Up {
				st = "up"
			}
			w := fmt.Sprintf("weight %+d", it.Weight)
			if it.Weight == 0 {
				w = "weight 0: fault while down"
			}
			s = append(s, fmt.Sprintf("%s %s %s (%s)", kind, it.Name, st, w))
		}
	}
	add("track", tracks)
	add("check", checks)
	return strings.Join(s, ", ")
}
