package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hac-project/hac/agent"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/deploy/sshconn"
	"github.com/hac-project/hac/election"
	"github.com/hac-project/hac/targets/build"
	"github.com/hac-project/hac/targets/keepalived"
	"github.com/hac-project/hac/targets/manifest"
)

// Outcome is what apply did to a node.
type Outcome string

// The outcomes of a node.
const (
	Unchanged  Outcome = "unchanged"   // nothing to do
	Applied    Outcome = "applied"     // files written, activated, verified
	WouldApply Outcome = "would apply" // --dry-run
	RolledBack Outcome = "rolled back" // failed, previous files restored
	Failed     Outcome = "failed"      // failed, and the rollback did not finish (see Error)
	Skipped    Outcome = "skipped"     // another node of the cluster failed or could not be planned
	NotPlanned Outcome = "not planned" // could not be planned (unreachable…): nothing was done on it
)

// NodeResult is one node's outcome.
type NodeResult struct {
	Cluster  string        `json:"cluster"`
	Node     string        `json:"node"`
	Outcome  Outcome       `json:"outcome"`
	Files    int           `json:"files"`
	Duration time.Duration `json:"duration_ns"`
	Error    string        `json:"error,omitempty"`
}

// Result is the outcome of an apply, nodes in plan order.
type Result struct {
	Nodes  []NodeResult `json:"nodes"`
	DryRun bool         `json:"dry_run"`
}

// OK reports whether no node failed, rolled back, was skipped or could
// not be planned.
func (r *Result) OK() bool {
	for _, n := range r.Nodes {
		switch n.Outcome {
		case RolledBack, Failed, Skipped, NotPlanned:
			return false
		}
	}
	return true
}

// Summary says in one sentence what happened to the nodes, by outcome in
// a fixed order, e.g. "Of 2 node(s): 1 applied, 1 rolled back (its
// previous files restored)." A dry run says that nothing was changed.
func (r *Result) Summary() string {
	count := map[Outcome]int{}
	for _, n := range r.Nodes {
		count[n.Outcome]++
	}
	words := []struct {
		o    Outcome
		text string
	}{
		{Applied, "applied"},
		{WouldApply, "would change"},
		{Unchanged, "already up to date"},
		{RolledBack, "rolled back (previous files restored)"},
		{Failed, "failed (see ERROR)"},
		{Skipped, "skipped (another node of the cluster failed or could not be planned)"},
		{NotPlanned, "could not be planned (nothing was done on them)"},
	}
	var parts []string
	for _, w := range words {
		if n := count[w.o]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, w.text))
		}
	}
	s := fmt.Sprintf("Of %d node(s): %s.", len(r.Nodes), strings.Join(parts, ", "))
	if r.DryRun {
		s = "Dry run, nothing was changed. " + s
	}
	return s
}

// Changed reports whether any node was (or, in a dry run, would be) changed.
func (r *Result) Changed() bool {
	for _, n := range r.Nodes {
		if n.Outcome != Unchanged {
			return true
		}
	}
	return false
}

// WriteTable prints the summary table.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tNODE\tRESULT\tFILES\tTIME\tERROR")
	for _, n := range r.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", n.Cluster, n.Node, n.Outcome, n.Files, n.Duration.Round(time.Millisecond), n.Error)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !r.Changed() && r.OK() {
		_, err := fmt.Fprintf(w, "No changes: %d node(s) already up to date.\n", len(r.Nodes))
		return err
	}
	_, err := fmt.Fprintln(w, r.Summary())
	return err
}

// WriteJSON prints the result as JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(struct {
		OK      bool   `json:"ok"`
		Summary string `json:"summary"`
		*Result
	}{r.OK(), r.Summary(), r})
}

// Apply carries out a plan: clusters in parallel (Options.Parallel), the
// nodes of a cluster one at a time in rolling order. A node that fails is
// rolled back and the rest of its cluster is skipped. A cluster with a
// node whose plan failed is not touched at all.
func (d *Deployer) Apply(ctx context.Context, p *Plan) *Result {
	res := &Result{Nodes: make([]NodeResult, len(p.Nodes)), DryRun: d.DryRun}
	var g errgroup.Group
	g.SetLimit(positive(d.Parallel, 4))
	for _, idx := range byCluster(len(p.Nodes), func(i int) string { return p.Nodes[i].Cluster }) {
		g.Go(func() error {
			// A node that could not be planned (unreachable, a sudo
			// that wants a password) stops its whole cluster before
			// any of its nodes changes.
			stopped := slices.ContainsFunc(idx, func(i int) bool { return p.Nodes[i].err != nil })
			var taker *NodePlan // a node taking mastership over, until released
			for _, i := range idx {
				np := p.Nodes[i]
				r := &res.Nodes[i]
				*r = NodeResult{Cluster: np.Cluster, Node: np.Node, Files: len(np.changes) + len(np.stale)}
				switch {
				case np.err != nil: // even after a failed node: say why it was not planned
					r.Outcome, r.Error = NotPlanned, np.Error
				case stopped:
					r.Outcome = Skipped
				case !np.Changed():
					r.Outcome = Unchanged
				case d.DryRun:
					r.Outcome = WouldApply
				default:
					start := time.Now()
					if taker == nil && np.keepalived && np.aliases && !d.NoActivate && !agentBefore(p, res, idx, np) {
						// The first node leaving keepalived has the VIP as a
						// static alias, so clients may send to it: it
						// keeps the VIP (leased) and its agent starts taking
						// over, as master at once.
						np.startTakeover()
						taker = np
					}
					if taker == nil && np.keepalived && !d.NoActivate {
						if taker, r.Error = d.takeOver(ctx, p, res, idx, np); r.Error != "" {
							r.Outcome = Failed
							break
						}
					}
					r.Outcome, r.Error = d.applyNode(ctx, np)
					r.Duration = time.Since(start)
				}
				d.progress(np, string(r.Outcome)+errSuffix(r.Error))
				if r.Outcome == Failed || r.Outcome == RolledBack || r.Outcome == NotPlanned {
					stopped = true
				}
			}
			if taker != nil {
				if err := d.release(ctx, taker); err != nil {
					last := idx[len(idx)-1]
					res.Nodes[last].Outcome, res.Nodes[last].Error = Failed, err.Error()
					stopped = true
				}
			}
			d.finishCluster(ctx, p, res, idx, stopped)
			return nil // outcomes are per node, in res
		})
	}
	g.Wait()
	return res
}

// TakeoverCommand makes a node's agent take mastership (hac-agent
// takeover, by the binary's full path as DefaultStatusCommand); with
// " --release" it restores its priority.
const TakeoverCommand = AgentBinaryPath + " takeover"

// takeOver moves mastership off the keepalived that np is about to stop:
// the first node of the cluster already applied that runs the hac agent
// takes over by preemption at priority 254, which keepalived answers
// within one advert (it yields after the agent holds the VIPs), so no
// packet is lost when keepalived stops. It returns that node, to release
// once the cluster is done, or nil when no such node exists yet (np is
// then the first node converted: a backup, by the rolling order).
func (d *Deployer) takeOver(ctx context.Context, p *Plan, res *Result, idx []int, np *NodePlan) (*NodePlan, string) {
	taker := firstAgent(p, res, idx, np)
	if taker == nil {
		return nil, ""
	}
	d.progress(np, "moving mastership to "+taker.Node+" before keepalived stops")
	if _, err := taker.conn.Run(ctx, "takeover on "+taker.Node, TakeoverCommand, nil); err != nil {
		return nil, "nothing changed: " + err.Error()
	}
	err := d.poll(ctx, func() []string {
		v := d.view(ctx, taker, taker.conn)
		if v.err != "" {
			return []string{taker.Node + ": " + v.err}
		}
		var out []string
		for _, e := range taker.node.Manifest.Expect {
			if in := findInstance(v.report, e.Instance); in == nil || in.State != "MASTER" {
				out = append(out, fmt.Sprintf("%s: %s is not master yet", taker.Node, e.Instance))
			}
		}
		return out
	})
	if err != nil {
		if rerr := d.release(ctx, taker); rerr != nil {
			err = fmt.Errorf("%w; %v", err, rerr)
		}
		return nil, "nothing changed: the takeover by " + taker.Node + " failed: " + err.Error()
	}
	return taker, ""
}

// firstAgent returns the first node of the cluster before np, already
// applied (or up to date), that runs the hac agent; nil when none does.
func firstAgent(p *Plan, res *Result, idx []int, np *NodePlan) *NodePlan {
	for _, i := range idx {
		o := p.Nodes[i]
		if o == np {
			break
		}
		if (res.Nodes[i].Outcome == Applied || res.Nodes[i].Outcome == Unchanged) && wantDigest(o.node) != "" && o.conn != nil && len(o.node.Manifest.Expect) > 0 {
			return o
		}
	}
	return nil
}

func agentBefore(p *Plan, res *Result, idx []int, np *NodePlan) bool {
	return firstAgent(p, res, idx, np) != nil
}

// startTakeover makes np's agent start taking over: the commit writes
// agent.TakeoverFile (removed again by a rollback, or by release), and
// the node's static VIP alias becomes a leased copy of the VIP instead of
// going at once, so the node answers for the VIP throughout and its
// agent, finding the leased VIP, resumes as master at priority 254 at
// start: it announces the VIP (clients that had cached this node's
// address, as the seed's alias on every node allows, keep it; the others
// follow) and keepalived on the master yields when it hears it.
func (np *NodePlan) startTakeover() {
	np.changes = append(np.changes, &change{
		file:   manifest.File{Path: agent.TakeoverFile, Mode: 0o600, Owner: build.FileOwner, Group: build.FileGroup},
		remote: np.root + agent.TakeoverFile,
		data:   []byte("Written by hac apply: the agent starts taking over (priority 254) until hac-agent takeover --release.\n"),
	})
	for _, c := range np.changes {
		if c.lease == "" {
			continue
		}
		if i := slices.Index(np.Activate, c.file.Activate); i >= 0 {
			np.Activate[i] = c.lease
		}
	}
}

// release restores the taking-over node's priorities, and removes the
// file that would make its agent start taking over: the preferred master
// preempts it again (make-before-break, no loss).
func (d *Deployer) release(ctx context.Context, taker *NodePlan) error {
	d.progress(taker, "restoring its priority after the takeover")
	_, err := taker.conn.Run(ctx, "release the takeover on "+taker.Node, TakeoverCommand+" --release && rm -f "+q(taker.root+agent.TakeoverFile), nil)
	return err
}

// finishCluster checks, once every node of a cluster is applied, that each
// is in exactly its expected state; a failure is reported on the last
// node applied (its files stay: they are the intended ones).
func (d *Deployer) finishCluster(ctx context.Context, p *Plan, res *Result, idx []int, stopped bool) {
	last := -1
	var nodes []*NodePlan
	for _, i := range idx {
		nodes = append(nodes, p.Nodes[i])
		if res.Nodes[i].Outcome == Applied {
			last = i
		}
	}
	if stopped || last < 0 || d.NoActivate {
		return
	}
	d.progress(p.Nodes[last], "verifying the cluster")
	if err := d.verifyCluster(ctx, nodes); err != nil {
		res.Nodes[last].Outcome, res.Nodes[last].Error = Failed, "cluster check: "+err.Error()
		d.progress(p.Nodes[last], string(Failed)+": cluster check: "+err.Error())
		return
	}
	d.progress(p.Nodes[last], string(Applied))
}

func errSuffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// newToken names one apply's files on a node (base32: safe in file
// names and shell words).
func newToken() string { return rand.Text() }

// applyNode writes, activates, verifies and, on failure, rolls back one node.
func (d *Deployer) applyNode(ctx context.Context, np *NodePlan) (Outcome, string) {
	tok := newToken()
	st := np.stateDir()
	conn := np.conn
	defer func() { np.conn = conn }()

	d.progress(np, "uploading")
	// The restore script comes first: it is in place before any file is
	// replaced.
	files := append([]*change{{
		file:   manifest.File{Path: st + "/restore-" + tok + ".sh", Mode: 0o700},
		remote: st + "/restore-" + tok + ".sh",
		data:   restoreScript(st, tok, np, d.NoActivate),
	}}, np.changes...)
	if np.record != nil {
		files = append(files, np.record)
	}
	arm := 0
	timeout := positive(d.ConfirmTimeout, 60*time.Second)
	if np.DeadMan && !d.NoActivate {
		arm = int((timeout + time.Second - 1) / time.Second)
	}
	args := []string{st, tok, np.root, strconv.Itoa(arm)}
	// The digests of files staged over stdin go over stdin too: a digest
	// of a secret file in a command line (readable by every user of the
	// node in /proc) would let them test guesses of the pass.
	var sums bytes.Buffer
	budget := inlineBudget - argLen(np, commitScript)
	for _, c := range files {
		mode := fmt.Sprintf("%04o", uint32(c.file.Mode))
		bak := "0"
		if c.old.exists {
			bak = "1"
		}
		budget -= argLen(np, c.remote) + 100
		// Only files anyone may read go in a command line (other users
		// of the node can read those in /proc): secrets and other
		// private files go over stdin.
		inline := "I" + string(c.data)
		if c.file.Secret || c.file.Mode&0o004 == 0 || isBinary(c.data) || argLen(np, inline) > budget {
			inline = ""
			if _, err := conn.Run(ctx, "upload "+c.file.Path, shell(stageScript, c.remote, mode, ownerSpec(c.file), tok), bytes.NewReader(c.data)); err != nil {
				return Failed, "nothing changed: " + err.Error()
			}
		}
		budget -= argLen(np, inline)
		sum := digest(c.data)
		if inline == "" {
			sums.WriteString(sum + "\n")
			sum = "-"
		}
		args = append(args, c.remote, mode, ownerSpec(c.file), sum, bak, inline)
	}
	d.progress(np, "replacing files")
	deadline := time.Now().Add(timeout)
	if _, err := conn.Run(ctx, "replace files", shell(commitScript, args...), &sums); err != nil {
		var re *sshconn.RunError
		if errors.As(err, &re) && re.Status == 3 {
			return Failed, "nothing changed: " + err.Error()
		}
		return d.rollback(ctx, np, conn, tok, err)
	}
	if d.NoActivate {
		return Applied, ""
	}
	if err := d.stopServices(ctx, np, conn); err != nil {
		return d.rollback(ctx, np, conn, tok, err)
	}
	var err error
	if arm > 0 {
		conn, err = d.activateNetwork(ctx, np, conn, tok, deadline)
		if errors.Is(err, errDeadMan) {
			return RolledBack, err.Error()
		}
	} else {
		err = d.activate(ctx, np, conn)
	}
	if err == nil {
		d.progress(np, "verifying")
		err = d.verify(ctx, np, conn)
	}
	if err != nil {
		return d.rollback(ctx, np, conn, tok, err)
	}
	if err := d.removeStale(ctx, np, conn); err != nil {
		return Failed, "the new files are active, but removing the old ones failed: " + err.Error()
	}
	return Applied, ""
}

// stopServices runs the plan's Stop commands (services of files hac no
// longer builds, keepalived run by hand) before the new files are
// activated: a node runs one VRRP daemon at a time.
func (d *Deployer) stopServices(ctx context.Context, np *NodePlan, conn Conn) error {
	if len(np.Stop) == 0 {
		return nil
	}
	d.progress(np, "stopping: "+strings.Join(np.Stop, "; "))
	ctx, cancel := context.WithTimeout(ctx, d.activateTimeout(np))
	defer cancel()
	_, err := conn.Run(ctx, "stop", shell(activateScript, append([]string{np.root}, np.Stop...)...), nil)
	return err
}

// activate runs the node's activation commands in one session, stopping
// at the first that fails.
func (d *Deployer) activate(ctx context.Context, np *NodePlan, conn Conn) error {
	if len(np.Activate) == 0 {
		return nil
	}
	d.progress(np, "activating: "+strings.Join(np.Activate, "; "))
	ctx, cancel := context.WithTimeout(ctx, d.activateTimeout(np))
	defer cancel()
	_, err := conn.Run(ctx, "activate", shell(activateScript, append([]string{np.root}, np.Activate...)...), nil)
	return err
}

// activateTimeout bounds the node's activation, stop or rollback
// commands: see commandTimeout, over the advert intervals of the node's
// last apply and of this one (a restart stops the running agent, a
// reload hands off changed instances).
func (d *Deployer) activateTimeout(np *NodePlan) time.Duration {
	return d.commandTimeout(np.recorded, np.node.Manifest)
}

// commandTimeout bounds a command that activates, stops or removes a
// node's VRRP daemon: ActivateTimeout when set; otherwise 2 minutes plus
// the longest a graceful stop or reload of the agent takes
// (election.StopTime) over the advert intervals of the manifests ms
// (nil ones are skipped).
func (d *Deployer) commandTimeout(ms ...*manifest.Manifest) time.Duration {
	if d.ActivateTimeout > 0 {
		return d.ActivateTimeout
	}
	var longest time.Duration
	for _, m := range ms {
		if m == nil {
			continue
		}
		for _, e := range m.Expect {
			longest = max(longest, time.Duration(e.AdvertIntMillis)*time.Millisecond)
		}
	}
	return 2*time.Minute + election.StopTime(longest)
}

// errDeadMan is wrapped when the node restored itself.
var errDeadMan = errors.New("the node's dead-man timer restored the previous files")

// activateNetwork activates with the dead-man timer armed (by the commit),
// then proves the node is still reachable over a NEW connection and
// confirms before deadline, when the timer fires. It returns that
// connection. If the activation cuts the session, hac keeps trying to
// reconnect until the deadline.
func (d *Deployer) activateNetwork(ctx context.Context, np *NodePlan, conn Conn, tok string, deadline time.Time) (Conn, error) {
	timeout := positive(d.ConfirmTimeout, 60*time.Second)
	actx, cancel := context.WithDeadline(ctx, deadline)
	err := d.activate(actx, np, conn)
	cancel()
	var re *sshconn.RunError
	if err != nil && !(errors.As(err, &re) && re.ConnectionLost()) {
		return conn, err // the command failed: hac rolls back itself
	}
	if err != nil {
		d.progress(np, "connection lost while activating (a network change can do that): reconnecting to confirm")
	} else {
		d.progress(np, "reconnecting to confirm")
	}
	conn.Close()
	var lastErr error
	for time.Now().Before(deadline) {
		dctx, cancel := context.WithDeadline(ctx, deadline)
		fresh, err := d.Dial(dctx, np.node)
		if err == nil {
			_, err = fresh.Run(dctx, "confirm", shell(confirmScript, np.stateDir(), tok), nil)
			cancel()
			if err == nil {
				return fresh, nil
			}
			if errors.As(err, &re) && re.Status == 4 {
				return fresh, fmt.Errorf("%w: hac confirmed too late", errDeadMan)
			}
			fresh.Close()
		} else {
			cancel()
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("%w: hac could not reconnect within %s after the network change (%v)", errDeadMan, timeout, lastErr)
}

// rollback restores the node's previous files with the restore script.
func (d *Deployer) rollback(ctx context.Context, np *NodePlan, conn Conn, tok string, cause error) (Outcome, string) {
	d.progress(np, "rolling back")
	if conn == nil {
		return Failed, cause.Error() + "; rollback impossible: no connection"
	}
	// Roll back even when hac is interrupted (Ctrl-C cancels ctx).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.activateTimeout(np))
	defer cancel()
	_, err := conn.Run(ctx, "roll back", "sh "+q(np.stateDir()+"/restore-"+tok+".sh")+" now", nil)
	if err != nil {
		return Failed, cause.Error() + "; ROLLBACK FAILED: " + err.Error()
	}
	return RolledBack, cause.Error()
}

// verify waits until the node's agent runs the built configuration and
// every expected instance is settled (MASTER or BACKUP) with its
// configured priority. Which of the two depends on the peers (a backup
// deployed first into a new cluster is master until the master comes), so
// the exact states are checked once the whole cluster is done
// (verifyCluster).
func (d *Deployer) verify(ctx context.Context, np *NodePlan, conn Conn) error {
	if len(np.node.Manifest.Expect) == 0 {
		return nil
	}
	return d.poll(ctx, func() []string { return drift([]view{d.view(ctx, np, conn)}, false) })
}

// verifyCluster waits until the cluster is as intended: every node as
// verify checks it, and per instance exactly one master, the expected one
// ([drift] with the whole cluster).
func (d *Deployer) verifyCluster(ctx context.Context, nodes []*NodePlan) error {
	return d.poll(ctx, func() []string {
		var views []view
		for _, np := range nodes {
			if len(np.node.Manifest.Expect) == 0 || np.conn == nil {
				continue
			}
			views = append(views, d.view(ctx, np, np.conn))
		}
		return drift(views, true)
	})
}

// poll calls check until it finds no problem or VerifyTimeout passes.
func (d *Deployer) poll(ctx context.Context, check func() []string) error {
	timeout := positive(d.VerifyTimeout, 30*time.Second)
	deadline := time.Now().Add(timeout)
	for {
		problems := check()
		if len(problems) == 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("verify: after %s: %s", timeout, strings.Join(problems, "; "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(positive(d.VerifyInterval, 500*time.Millisecond)):
		}
	}
}

// view asks the node's agent for its report. A node that runs keepalived
// (render.keepalived: no agent.json, a keepalived.conf) has no agent to
// ask: its keepalived service must be active.
func (d *Deployer) view(ctx context.Context, np *NodePlan, conn Conn) view {
	v := view{name: np.Node, node: np.node}
	if runsKeepalived(np.node) {
		v.keepalived = true
		out, err := conn.Run(ctx, "keepalived status", "systemctl is-active keepalived", nil)
		if st := strings.TrimSpace(string(out)); err != nil || st != "active" {
			v.err = fmt.Sprintf("keepalived is %q, want active (journalctl -u keepalived on the node says why)", st)
		}
		return v
	}
	rep, err := d.agentReport(ctx, conn, np.node)
	if err != nil {
		v.err = err.Error()
	} else {
		v.report = rep
	}
	return v
}

// runsKeepalived reports whether node n runs keepalived rather than the
// hac agent: its tree has a keepalived.conf and no agent.json.
func runsKeepalived(n *Node) bool {
	_, conf := n.Files[keepalived.Path]
	return conf && wantDigest(n) == ""
}

// wantDigest is the config digest the node's agent must report, or ""
// when the tree has no agent.json for it.
func wantDigest(n *Node) string {
	if b, ok := n.Files[config.DefaultPath]; ok {
		return config.Digest(b)
	}
	return ""
}

// agentStatus runs the status command and decodes its report.
func agentStatus(ctx context.Context, conn Conn, cmd string) (*status.Report, error) {
	out, err := conn.Run(ctx, "agent status", cmd, nil)
	if err != nil {
		return nil, err
	}
	var rep status.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		return nil, fmt.Errorf("agent status: %w", err)
	}
	return &rep, nil
}

// basePriority is the configured priority an agent reports (its
// effective one from agents that report no base).
func basePriority(in *status.Instance) int {
	if in.BasePriority != 0 {
		return in.BasePriority
	}
	return in.Priority
}

func findInstance(rep *status.Report, name string) *status.Instance {
	for i := range rep.Instances {
		if rep.Instances[i].Name == name {
			return &rep.Instances[i]
		}
	}
	return nil
}
