package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hac-project/hac/agent/status"
)

// StatusResult compares the live state of clusters with the intent.
type StatusResult struct {
	Nodes []NodeStatus `json:"nodes"`
	// Drift lists every difference from the intent; empty when all is well.
	Drift []string `json:"drift"`
}

// NodeStatus is what one node's agent reports, or why it could not be asked.
type NodeStatus struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	// Report is the agent's report, without its config digest: the
	// digest of agent.json, which holds the pass, is compared here and
	// never shown (ConfigMatches says the outcome).
	Report *status.Report `json:"report,omitempty"`
	// ConfigMatches says whether the agent runs the built agent.json;
	// nil when unknown (no report, or a node that runs keepalived).
	ConfigMatches *bool  `json:"config_matches,omitempty"`
	Error         string `json:"error,omitempty"`

	node *Node
}

// OK reports whether there is no drift.
func (s *StatusResult) OK() bool { return len(s.Drift) == 0 }

// Status asks every node's agent for its state (nodes in parallel) and
// checks, per cluster: the agent runs the built configuration (digest of
// agent.json), every instance has exactly one master and it is the
// expected node, no node other than the master holds a VIP, and every
// backup hears its master's adverts.
func (d *Deployer) Status(ctx context.Context, t *Tree) *StatusResult {
	nodes := t.Nodes()
	res := &StatusResult{Nodes: make([]NodeStatus, len(nodes)), Drift: []string{}}
	var g errgroup.Group
	g.SetLimit(d.connections())
	for i, n := range nodes {
		ns := &res.Nodes[i]
		*ns = NodeStatus{Cluster: n.Manifest.Cluster, Node: n.Manifest.Node, node: n}
		g.Go(func() error {
			conn, err := d.Dial(ctx, n)
			if err == nil {
				ns.Report, err = d.agentReport(ctx, conn, n)
				conn.Close()
			}
			if err != nil {
				ns.Error = err.Error()
			}
			return nil // the error is the node's, in ns.Error
		})
	}
	g.Wait()
	for _, c := range t.Clusters {
		var members []*NodeStatus
		for i := range res.Nodes {
			if res.Nodes[i].Cluster == c.Name {
				members = append(members, &res.Nodes[i])
			}
		}
		res.Drift = append(res.Drift, clusterDrift(c.Name, members)...)
	}
	for i := range res.Nodes {
		ns := &res.Nodes[i]
		if ns.Report == nil {
			continue
		}
		if want := wantDigest(ns.node); want != "" {
			m := ns.Report.ConfigDigest == want
			ns.ConfigMatches = &m
		}
		ns.Report.ConfigDigest = ""
	}
	return res
}

// clusterDrift checks one cluster's reports against its manifests
// ([drift] with the whole cluster), each line prefixed with the cluster.
func clusterDrift(cluster string, nodes []*NodeStatus) []string {
	views := make([]view, len(nodes))
	for i, ns := range nodes {
		views[i] = view{name: ns.Node, node: ns.node, report: ns.Report, err: ns.Error}
	}
	out := drift(views, true)
	for i := range out {
		out[i] = cluster + "/" + out[i]
	}
	return out
}

// WriteText prints a table of every node's instances and the drift.
func (s *StatusResult) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tNODE\tINSTANCE\tSTATE\tPRIO\tVIPS\tLAST ADVERT")
	for _, ns := range s.Nodes {
		if ns.Report == nil {
			fmt.Fprintf(tw, "%s\t%s\t-\tUNREACHABLE\t-\t-\t-\n", ns.Cluster, ns.Node)
			continue
		}
		for _, in := range ns.Report.Instances {
			last := "-"
			if in.LastAdvertMillis >= 0 {
				last = (time.Duration(in.LastAdvertMillis) * time.Millisecond).String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%v\t%s\n", ns.Cluster, ns.Node, in.Name, in.State, in.Priority, in.VIPs, last)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.OK() {
		_, err := fmt.Fprintf(w, "OK: %d node(s) match the intent.\n", len(s.Nodes))
		return err
	}
	fmt.Fprintf(w, "DRIFT (%d):\n", len(s.Drift))
	for _, d := range s.Drift {
		fmt.Fprintf(w, "  %s\n", d)
	}
	return nil
}

// WriteJSON prints the result as JSON.
func (s *StatusResult) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(struct {
		OK bool `json:"ok"`
		*StatusResult
	}{s.OK(), s})
}
