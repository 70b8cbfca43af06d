package cli

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"cuelang.org/go/cue"
	"github.com/spf13/cobra"

	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/compiler"
	"github.com/hac-project/hac/compiler/discover"
	"github.com/hac-project/hac/election"
	"github.com/hac-project/hac/model"
)

func newExplainCmd() *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "explain [--format text|dot] CLUSTER|PATH...",
		Short: "Say in plain words what a cluster will do: masters, backups, timers, failover",
		Long: `explain prints, for every VRRP instance of the named clusters, who is master
and why (priorities), the backups in order, the timers (skew and the
master-down interval: the expected failover time when the master dies),
unicast or multicast, the failover table (who is master when each tracked
interface or check fails on each node) and the warnings (cleartext PASS…).

An argument that is a file, a directory or a dir/... pattern is loaded; any
other argument is a cluster name, looked up in the paths given or, without
any, in ./... . --format dot draws the same as a Graphviz graph (nodes,
instances, VIPs, failover order): hac explain --format dot ncp-lb | dot -Tsvg.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return runExplain(c.OutOrStdout(), c.ErrOrStderr(), args, format)
		},
	}
	c.Flags().StringVar(&format, "format", "text", "output: text or dot (Graphviz)")
	return c
}

func runExplain(stdout, stderr io.Writer, args []string, format string) error {
	if format != "text" && format != "dot" {
		return exitcode.New(exitcode.Usage, "unknown --format %q: use text or dot", format)
	}
	var paths, names []string
	for _, a := range args {
		if discover.IsPath(a) {
			paths = append(paths, a)
		} else {
			names = append(names, a)
		}
	}
	if len(paths) == 0 {
		paths = []string{"./..."}
	}
	res, err := compiler.Compile(paths, compiler.Options{})
	if err != nil {
		return exitcode.New(exitcode.Usage, "%v", err)
	}
	invalid := func() error {
		res.Diags.WriteText(stderr)
		return exitcode.New(exitcode.Invalid, "the configuration is invalid: run hac vet")
	}
	clusters := res.Clusters
	if len(names) == 0 && res.Diags.HasErrors() {
		return invalid()
	}
	if len(names) > 0 {
		// Problems elsewhere in the repository do not hide a valid cluster.
		clusters = nil
		for _, n := range names {
			i := slices.IndexFunc(res.Clusters, func(c *model.Cluster) bool { return c.Name == n })
			switch own := clusterDiags(res.Diags, n); {
			case own.HasErrors():
				// The cluster itself is wrong (declared twice, a clash
				// with another cluster...): explaining one of its
				// declarations would contradict hac vet.
				own.WriteText(stderr)
				return exitcode.New(exitcode.Invalid, "cluster %s is invalid: run hac vet", n)
			case i >= 0:
				clusters = append(clusters, res.Clusters[i])
			case res.Diags.HasErrors():
				return invalid()
			default:
				return exitcode.New(exitcode.Usage, "no cluster %q in %s (and no such file)", n, strings.Join(paths, " "))
			}
		}
	}
	if format == "dot" {
		_, err = io.WriteString(stdout, dot(clusters))
	} else {
		var b strings.Builder
		for i, c := range clusters {
			if i > 0 {
				b.WriteString("\n")
			}
			explain(&b, c, clusterDiags(res.Diags, c.Name))
		}
		_, err = io.WriteString(stdout, b.String())
	}
	if err != nil {
		return exitcode.New(exitcode.Usage, "%v", err)
	}
	return nil
}

// clusterDiags returns the diagnostics about one cluster.
func clusterDiags(ds compiler.Diagnostics, name string) compiler.Diagnostics {
	prefix := cue.MakePath(cue.Str("clusters"), cue.Str(name)).String()
	var out compiler.Diagnostics
	for _, d := range ds {
		if d.Path == prefix || strings.HasPrefix(d.Path, prefix+".") {
			out = append(out, d)
		}
	}
	return out
}

// skew returns the VRRP Skew_Time of a backup with the given priority.
func skew(in *model.Instance, prio uint8) time.Duration {
	return election.SkewTime(in.Version, prio, in.AdvertInt)
}

// masterDown returns a backup's Master_Down_Interval: the time between
// the master's last advert and the backup taking over.
func masterDown(in *model.Instance, prio uint8) time.Duration {
	return election.MasterDownInterval(in.Version, prio, in.AdvertInt, election.DefaultDownAdverts)
}

// explain writes the text summary of one cluster.
func explain(b *strings.Builder, c *model.Cluster, diags compiler.Diagnostics) {
	fmt.Fprintf(b, "cluster %s: %d nodes on %s", c.Name, len(c.Nodes), c.Network.Interface)
	for _, s := range c.Network.Subnets {
		fmt.Fprintf(b, " %s", s)
	}
	fmt.Fprintf(b, " (%s)\n", runner(c))
	tw := tabwriter.NewWriter(b, 0, 8, 2, ' ', 0)
	for _, n := range c.Nodes {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", n.Name, joinAddrs(n.Addresses), n.Interface)
	}
	tw.Flush()
	for _, in := range c.Instances {
		explainInstance(b, c, in)
	}
	if len(diags) > 0 {
		b.WriteString("\nwarnings:\n")
		for _, d := range diags {
			fmt.Fprintf(b, "  - %s\n", d.Msg)
		}
	}
}

func runner(c *model.Cluster) string {
	if c.Keepalived {
		return "keepalived"
	}
	return "hac agent"
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, " ")
}

func vipList(in *model.Instance) string {
	s := make([]string, len(in.VIPs))
	for i, v := range in.VIPs {
		s[i] = v.Prefix.String()
		if v.Device != "" {
			s[i] += " on " + v.Device
		}
	}
	return strings.Join(s, ", ")
}

// transport says how adverts travel.
func transport(in *model.Instance) string {
	if in.Unicast {
		return "unicast to each peer"
	}
	if in.Family == 6 {
		return "multicast ff02::12 (clusters on this segment hear each other)"
	}
	return "multicast 224.0.0.18 (clusters on this segment hear each other)"
}

func explainInstance(b *strings.Builder, c *model.Cluster, in *model.Instance) {
	fmt.Fprintf(b, "\ninstance %s: VRID %d, VRRPv%d, %s\n", in.Name, in.VRID, in.Version, transport(in))
	fmt.Fprintf(b, "  VIPs: %s\n", vipList(in))
	m := in.Master()
	why := "the highest priority"
	if len(in.Members) == 1 {
		why = "the only member"
	}
	fmt.Fprintf(b, "  master: %s (priority %d, %s)\n", m.Node, m.Priority, why)
	var backups []string
	for _, bk := range in.Members[1:] {
		backups = append(backups, fmt.Sprintf("%s (%d)", bk.Node, bk.Priority))
	}
	if len(backups) > 0 {
		fmt.Fprintf(b, "  backups, in takeover order: %s\n", strings.Join(backups, ", "))
	}
	switch {
	case !in.Preempt:
		b.WriteString("  preempt: off (a returning higher-priority node stays backup until the master fails)\n")
	case in.PreemptDelay > 0:
		fmt.Fprintf(b, "  preempt: after %v (a returning higher-priority node takes over after that delay)\n", in.PreemptDelay)
	default:
		b.WriteString("  preempt: on (a returning higher-priority node takes over at once)\n")
	}
	fmt.Fprintf(b, "  timers: advert every %v; a backup takes over %d x %v + skew after the master's last advert\n", in.AdvertInt, election.DefaultDownAdverts, in.AdvertInt)
	tw := tabwriter.NewWriter(b, 0, 8, 2, ' ', 0)
	for _, bk := range in.Members[1:] {
		fmt.Fprintf(tw, "    %s\tskew %v\tmaster-down interval %v\t(expected failover time if the master dies)\n",
			bk.Node, skew(in, bk.Priority), masterDown(in, bk.Priority))
	}
	tw.Flush()
	if len(in.Members) > 1 {
		next := in.Members[1]
		fmt.Fprintf(b, "  graceful stop: the master sends priority 0; %s takes over after its skew (%v)\n", next.Node, skew(in, next.Priority))
	}
	if g := c.SyncGroupOf(in.Name); g != nil {
		fmt.Fprintf(b, "  sync group %s: %s fail over together (one in fault puts all in fault on that node; they become master together)\n", g.Name, strings.Join(g.Instances, ", "))
	}
	cases := election.ClusterTable(c, in)
	if len(cases) > 1 {
		b.WriteString("  failover:\n")
		tw = tabwriter.NewWriter(b, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "    EVENT\tON\tPRIORITIES\tMASTER")
		for _, fc := range cases {
			master, on := fc.Master, fc.Node
			if fc.Tie {
				master = "tie!"
			}
			if master == "" {
				master = "none"
			}
			if on == "" {
				on = "-"
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\n", fc.Event, on, fc, master)
		}
		tw.Flush()
	}
}

// dotID quotes a Graphviz ID.
func dotID(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// dot draws the clusters as one Graphviz digraph: a box per node, an
// ellipse per instance with its VIPs, and an edge from every member to
// its instance, numbered in failover order (1 is the master).
func dot(clusters []*model.Cluster) string {
	var b strings.Builder
	b.WriteString("digraph hac {\n\trankdir=LR;\n\tnode [fontname=\"Helvetica\"];\n\tedge [fontname=\"Helvetica\"];\n")
	for _, c := range clusters {
		fmt.Fprintf(&b, "\tsubgraph %s {\n\t\tlabel=%s;\n", dotID("cluster_"+c.Name), dotID("cluster "+c.Name))
		for _, n := range c.Nodes {
			fmt.Fprintf(&b, "\t\t%s [shape=box, label=%s];\n", dotID(c.Name+"/node/"+n.Name), dotID(n.Name+"\n"+joinAddrs(n.Addresses)))
		}
		for _, in := range c.Instances {
			id := dotID(c.Name + "/vrrp/" + in.Name)
			mode := "multicast"
			if in.Unicast {
				mode = "unicast"
			}
			fmt.Fprintf(&b, "\t\t%s [shape=ellipse, label=%s];\n", id,
				dotID(fmt.Sprintf("%s\nVRID %d, VRRPv%d, %s\nadvert %v", in.Name, in.VRID, in.Version, mode, in.AdvertInt)))
			for _, v := range in.VIPs {
				vid := dotID(c.Name + "/vip/" + v.Prefix.String())
				fmt.Fprintf(&b, "\t\t%s [shape=note, label=%s];\n", vid, dotID(v.Prefix.String()))
				fmt.Fprintf(&b, "\t\t%s -> %s;\n", id, vid)
			}
			for i, m := range in.Members {
				style := "dashed"
				label := fmt.Sprintf("%d. prio %d", i+1, m.Priority)
				if i == 0 {
					style, label = "bold", label+" (master)"
				}
				fmt.Fprintf(&b, "\t\t%s -> %s [style=%s, label=%s];\n", dotID(c.Name+"/node/"+m.Node), id, style, dotID(label))
			}
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}
