package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/hac-project/hac/targets/keepalived"
	"github.com/hac-project/hac/targets/manifest"
	"github.com/hac-project/hac/targets/systemd"
)

// agentRecord and metricsRecord are the files on the node (below its
// state directory) that say hac apply installed the hac-agent and the
// hac-metrics binary there: hac destroy removes each binary only with its
// record (and legacyBinary only with legacyRecord), never one the
// operator installed. An older hac apply, which installed no hac-metrics,
// wrote agentRecord alone.
const (
	agentRecord   = "/var/lib/hac/installed-hac-agent"
	metricsRecord = "/var/lib/hac/installed-hac-metrics"
)

// Teardown is what hac destroy removes from every node, or did.
type Teardown struct {
	Nodes []*NodeTeardown `json:"nodes"`
	// Done says the removal ran (hac destroy --yes); false: only planned.
	Done bool `json:"done"`
}

// NodeTeardown is one node's part of a [Teardown].
type NodeTeardown struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	Target  string `json:"target"`
	Order   int    `json:"order"`
	// Stop are the services stopped first: the agent (disabled too:
	// its stop hands the VIP over, and the last one to stop releases
	// it) or keepalived running hac's keepalived.conf.
	Stop []string `json:"stop"`
	// Remove are the files hac installed that the node has, and hac's
	// state directory.
	Remove []string `json:"remove"`
	// Keep are files hac installed that stay: the network configuration
	// of the node's interface (removing it would leave the interface
	// unconfigured at the next boot).
	Keep []string `json:"keep"`
	// Outcome is "removed", "failed", "skipped" (an earlier node of the
	// cluster failed) or "" before the removal ran.
	Outcome string `json:"outcome,omitempty"`
	Error   string `json:"error,omitempty"`

	node *Node
	root string
	conn Conn
	err  error
}

// existsScript prints, of its arguments, the paths that exist, one a line.
const existsScript = `for p; do if [ -e "$p" ] || [ -L "$p" ]; then printf '%s\n' "$p"; fi; done`

// destroyScript takes the remote root ("" on a real node), the services to
// stop and disable (one word, comma-separated, may be empty), then the
// files and folders to remove. It stops the services first (for the agent
// a graceful stop: it hands the VIP over, and releases it when no peer is
// left), stops any pending dead-man timer of an interrupted apply, removes
// the files and hac's folders, and reloads systemd. Under a root prefix
// (tests) it runs no systemctl.
const destroyScript = `set -u
root=$1 units=$2; shift 2
sys=1; [ -z "$root" ] || sys=0
if [ "$sys" = 1 ]; then
  for u in $(echo "$units" | tr , ' '); do
    case $u in
    keepalived.service) systemctl stop "$u" || exit 1 ;;
    *) systemctl disable --now "$u" || exit 1 ;;
    esac
  done
  for t in $(systemctl list-units --all --plain --no-legend 'hac-deadman-*' 2>/dev/null | awk '{print $1}'); do
    systemctl stop "$t" >/dev/null 2>&1 || true
  done
fi
for p; do rm -rf -- "$p" || exit 1; done
rmdir -- "$root/etc/hac" 2>/dev/null || true
if [ "$sys" = 1 ]; then systemctl daemon-reload || exit 1; fi`

// PlanDestroy connects to every node (in parallel) and finds what hac
// installed there: the files of the node's manifest that exist, hac's
// state directory, the hac-agent and hac-metrics binaries hac apply
// installed (each by its record), and the services to stop. Connections
// stay open for [Deployer.Destroy]; call [Teardown.Close]. Errors are per
// node.
func (d *Deployer) PlanDestroy(ctx context.Context, t *Tree) *Teardown {
	nodes := t.Nodes()
	td := &Teardown{Nodes: make([]*NodeTeardown, len(nodes))}
	var g errgroup.Group
	g.SetLimit(d.connections())
	for i, n := range nodes {
		nt := &NodeTeardown{Cluster: n.Manifest.Cluster, Node: n.Manifest.Node, Target: targetOf(n).String(), Order: n.Manifest.Order,
			node: n, root: d.rootFor(n), Stop: []string{}, Remove: []string{}, Keep: []string{}}
		td.Nodes[i] = nt
		g.Go(func() error {
			nt.err = d.planTeardown(ctx, nt)
			if nt.err != nil {
				nt.Error = nt.err.Error()
			}
			return nil
		})
	}
	g.Wait()
	slices.SortStableFunc(td.Nodes, func(a, b *NodeTeardown) int {
		return cmpOrder(a.Cluster, b.Cluster, a.Order, b.Order)
	})
	return td
}

func cmpOrder(c1, c2 string, o1, o2 int) int {
	if c := strings.Compare(c1, c2); c != 0 {
		return c
	}
	return o1 - o2
}

func (d *Deployer) planTeardown(ctx context.Context, nt *NodeTeardown) error {
	conn, err := d.Dial(ctx, nt.node)
	if err != nil {
		return err
	}
	nt.conn = conn
	files, err := installedFiles(ctx, conn, nt)
	if err != nil {
		return err
	}
	// Each binary goes with its record: a hac-metrics an older apply's
	// record (agentRecord alone) does not cover is the operator's.
	installed := append(slices.Clone(agentBinaries), installedBinary{legacyBinary, legacyRecord})
	var candidates []string
	for _, b := range installed {
		candidates = append(candidates, nt.root+b.path, nt.root+b.record)
	}
	for _, f := range files {
		candidates = append(candidates, nt.root+f.Path)
	}
	candidates = append(candidates, nt.root+"/var/lib/hac")
	out, err := conn.Run(ctx, "find hac's files", shell(existsScript, candidates...), nil)
	if err != nil {
		return err
	}
	exists := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		exists[l] = true
	}
	for _, b := range installed {
		if exists[nt.root+b.path] && exists[nt.root+b.record] {
			nt.Remove = append(nt.Remove, nt.root+b.path)
		}
	}
	for _, f := range files {
		p := nt.root + f.Path
		switch {
		case !exists[p]:
		case f.Network:
			nt.Keep = append(nt.Keep, p)
		default:
			nt.Remove = append(nt.Remove, p)
			switch f.Path {
			case systemd.Path:
				nt.Stop = append(nt.Stop, path.Base(systemd.Path))
			case keepalived.Path:
				// keepalived runs the configuration hac wrote: it
				// stops with it.
				nt.Stop = append(nt.Stop, "keepalived.service")
			}
		}
	}
	if exists[nt.root+"/var/lib/hac"] {
		nt.Remove = append(nt.Remove, nt.root+"/var/lib/hac")
	}
	return nil
}

// installedFiles are the files hac installed on the node: those of the
// node's record of the last apply (RecordPath) and of the tree's manifest
// (the record may predate the description, the description the record),
// each path once, the record's first.
func installedFiles(ctx context.Context, conn Conn, nt *NodeTeardown) ([]manifest.File, error) {
	rec, err := readFiles(ctx, conn, []string{nt.root + RecordPath})
	if err != nil {
		return nil, err
	}
	var files []manifest.File
	if rec[0].exists {
		m, err := manifest.Parse(rec[0].content)
		if err != nil {
			return nil, fmt.Errorf("%s on the node: %w: move it away to destroy by the cluster description alone", RecordPath, err)
		}
		files = m.Files
	}
	for _, f := range nt.node.Manifest.Files {
		if !slices.ContainsFunc(files, func(g manifest.File) bool { return g.Path == f.Path }) {
			files = append(files, f)
		}
	}
	return files, nil
}

// Err returns an error naming the nodes that could not be inspected.
func (td *Teardown) Err() error {
	var bad []string
	for _, nt := range td.Nodes {
		if nt.err != nil {
			bad = append(bad, nt.Cluster+"/"+nt.Node)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("could not inspect %d node(s): %s: nothing was removed", len(bad), strings.Join(bad, ", "))
}

// OK reports whether every node's removal succeeded.
func (td *Teardown) OK() bool {
	return td.Err() == nil && !slices.ContainsFunc(td.Nodes, func(nt *NodeTeardown) bool { return td.Done && nt.Outcome != "removed" })
}

// Close closes the connections.
func (td *Teardown) Close() {
	for _, nt := range td.Nodes {
		if nt.conn != nil {
			nt.conn.Close()
			nt.conn = nil
		}
	}
}

// Destroy removes what td found, cluster by cluster in parallel, the
// nodes of a cluster one at a time in rolling order: backups first, the
// preferred master last, so the VIP stays with the master until its agent
// stops last and, with no peer left, releases it. Nothing is removed
// anywhere when a node could not be inspected. A node that fails stops
// its cluster.
func (d *Deployer) Destroy(ctx context.Context, td *Teardown) {
	if td.Err() != nil {
		return
	}
	td.Done = true
	var g errgroup.Group
	g.SetLimit(positive(d.Parallel, 4))
	for _, idx := range byCluster(len(td.Nodes), func(i int) string { return td.Nodes[i].Cluster }) {
		g.Go(func() error {
			failed := false
			for _, i := range idx {
				nt := td.Nodes[i]
				if failed {
					nt.Outcome = "skipped"
					continue
				}
				d.progress(&NodePlan{Cluster: nt.Cluster, Node: nt.Node}, "removing hac")
				args := append([]string{nt.root, strings.Join(nt.Stop, ",")}, nt.Remove...)
				ctx, cancel := context.WithTimeout(ctx, d.commandTimeout(nt.node.Manifest))
				_, err := nt.conn.Run(ctx, "remove hac", shell(destroyScript, args...), nil)
				cancel()
				if err != nil {
					nt.Outcome, nt.Error, failed = "failed", err.Error(), true
				} else {
					nt.Outcome = "removed"
				}
				d.progress(&NodePlan{Cluster: nt.Cluster, Node: nt.Node}, nt.Outcome+errSuffix(nt.Error))
			}
			return nil
		})
	}
	g.Wait()
}

// vipNote says plainly what happens to the VIPs.
const vipNote = "The VIPs stop being served: the master is stopped last and, with no peer left, releases them. " +
	"To keep them up, start keepalived (or another VRRP daemon) with its own configuration first."

// WriteText prints the teardown for people.
func (td *Teardown) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, nt := range td.Nodes {
		fmt.Fprintf(&b, "%s/%s (%s)", nt.Cluster, nt.Node, nt.Target)
		switch {
		case nt.err != nil:
			fmt.Fprintf(&b, ": error: %s\n", nt.Error)
			continue
		case nt.Outcome != "":
			fmt.Fprintf(&b, ": %s%s\n", nt.Outcome, errSuffix(nt.Error))
		default:
			b.WriteString("\n")
		}
		if len(nt.Stop)+len(nt.Remove)+len(nt.Keep) == 0 {
			b.WriteString("  nothing of hac's is on the node\n")
		}
		for _, s := range nt.Stop {
			if s == "keepalived.service" {
				fmt.Fprintf(&b, "  stop %s (it runs hac's keepalived.conf; its enablement is the package's and stays)\n", s)
			} else {
				fmt.Fprintf(&b, "  stop and disable %s\n", s)
			}
		}
		for _, p := range nt.Remove {
			fmt.Fprintf(&b, "  remove %s\n", p)
		}
		for _, p := range nt.Keep {
			fmt.Fprintf(&b, "  keep %s (the interface's network configuration: removing it would leave the interface unconfigured at the next boot; remove it by hand once it is configured otherwise)\n", p)
		}
	}
	switch {
	case td.Err() != nil:
		fmt.Fprintf(&b, "%v.\n", td.Err())
	case !td.Done:
		fmt.Fprintf(&b, "%s\nDry run: nothing was changed. Run hac destroy --yes to remove it, backups first, the master last.\n", vipNote)
	case td.OK():
		fmt.Fprintf(&b, "hac removed from %d node(s). %s\n", len(td.Nodes), vipNote)
	default:
		b.WriteString("hac destroy did not complete: see the errors above (a failed node stops its cluster).\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints the teardown as JSON.
func (td *Teardown) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(struct {
		OK bool `json:"ok"`
		*Teardown
	}{td.OK(), td})
}
