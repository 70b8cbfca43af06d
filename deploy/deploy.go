// Package deploy ships the files hac build produces to the nodes over SSH:
// [Deployer.Plan] compares them with what each node has, [Deployer.Apply]
// writes them atomically, rolling through each cluster one node at a time
// (backups first, the preferred master last), activates only what
// changed, verifies the agent and rolls back a node that fails, and
// [Deployer.Status] compares the live state with the intent.
//
// On the node, every replaced file is first staged as a hidden temporary
// file in its own directory, flushed, checked against its digest and
// renamed over the old one: an interrupted apply never leaves a half-written
// file. The previous versions are kept in /var/lib/hac/prev, with a
// generated restore script that the dead-man timer runs when a network
// change cuts hac off.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/deploy/sshconn"
)

// Options tune a Deployer. Zero values mean the defaults in brackets.
type Options struct {
	// Root prefixes every remote path (files, /var/lib/hac state, the
	// agent binary): for tests and for a cautious first look. Activation
	// commands see it as $HAC_ROOT. "{cluster}" and "{node}" in it are
	// replaced by the node's names (for nodes sharing one host in tests).
	Root string
	// Parallel is how many clusters apply at once [4]. Nodes of one
	// cluster never apply at the same time.
	Parallel int
	// Connections bounds how many nodes plan connects to at once [64].
	Connections int
	// ConfirmTimeout is the dead-man timer: after a network change, the
	// node restores its previous files unless hac reconnects and confirms
	// within it [60s].
	ConfirmTimeout time.Duration
	// VerifyTimeout bounds waiting for the agent's expected state [30s].
	VerifyTimeout time.Duration
	// VerifyInterval is the pause between two status queries [500ms].
	VerifyInterval time.Duration
	// ActivateTimeout bounds each activation command [2m plus the
	// longest graceful stop of the node's agent, election.StopTime].
	ActivateTimeout time.Duration
	// NoActivate writes files but runs no activation command and skips
	// verification.
	NoActivate bool
	// DryRun plans and reports what apply would do, changing nothing.
	DryRun bool
	// AllowV2IntervalChange lets plan accept a new advert_int for a
	// VRRPv2 instance, which it otherwise refuses (see [Deployer.Plan]).
	AllowV2IntervalChange bool
	// StatusCommand prints the agent's status as JSON on the node
	// [DefaultStatusCommand]; {cluster} and {node} in it are
	// replaced by the node's names.
	StatusCommand string
	// Agent, when set, is installed as AgentBinaryPath (--install-agent).
	Agent *Agent
	// Progress receives per-node progress; nil: none.
	Progress Progress
}

// Deployer plans, applies and checks deployments.
type Deployer struct {
	Options
	// Dial opens a connection to a node; New sets it to SSH.
	Dial func(ctx context.Context, n *Node) (Conn, error)
}

// New returns a Deployer reaching nodes through d.
func New(d *sshconn.Dialer, o Options) *Deployer {
	return &Deployer{Options: o, Dial: func(ctx context.Context, n *Node) (Conn, error) {
		c, err := d.Dial(ctx, targetOf(n))
		if err != nil {
			return nil, err
		}
		return become(ctx, c, n)
	}}
}

// targetOf is the SSH target a manifest names.
func targetOf(n *Node) sshconn.Target {
	s := n.Manifest.SSH
	return sshconn.Target{Host: s.Host, User: s.User, Port: s.Port, Jump: s.Jump}
}

func (d *Deployer) connections() int { return positive(d.Connections, 64) }

func positive[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// DefaultStatusCommand asks the node's agent for its status, by the
// binary's full path: sudo's secure_path lacks /usr/local/bin on some
// distributions (RHEL), and the unit runs the agent from there anyway.
const DefaultStatusCommand = AgentBinaryPath + " status --format json"

// legacyStatusCommand asks for its status the agent of a node an older
// hac applied, which ran the agent from the whole hac (legacyBinary)
// before hac-agent: until hac apply installs hac-agent there, hac status
// still reads those nodes.
const legacyStatusCommand = legacyBinary + " agent status --format json"

// statusCommand is Options.StatusCommand for node n, with {cluster} and
// {node} replaced.
func (d *Deployer) statusCommand(n *Node) string {
	if d.StatusCommand == "" {
		return DefaultStatusCommand
	}
	return nodeReplacer(n).Replace(d.StatusCommand)
}

// agentReport asks node n's agent for its report by the status command.
// Where the default one is not found (exit status 127: no hac-agent), it
// asks the agent an older hac installed (legacyStatusCommand); when that
// fails too, the error says what installs hac-agent.
func (d *Deployer) agentReport(ctx context.Context, conn Conn, n *Node) (*status.Report, error) {
	rep, err := agentStatus(ctx, conn, d.statusCommand(n))
	var re *sshconn.RunError
	if d.StatusCommand != "" || !errors.As(err, &re) || re.Status != 127 {
		return rep, err
	}
	if rep, lerr := agentStatus(ctx, conn, legacyStatusCommand); lerr == nil {
		return rep, nil
	}
	return nil, fmt.Errorf("%w: hac-agent is not installed as %s (nor the whole hac an older hac apply installed as %s): hac apply installs it", err, AgentBinaryPath, legacyBinary)
}

func nodeReplacer(n *Node) *strings.Replacer {
	return strings.NewReplacer("{cluster}", n.Manifest.Cluster, "{node}", n.Manifest.Node)
}

// rootFor is Options.Root for node n, with {cluster} and {node} replaced.
func (d *Deployer) rootFor(n *Node) string {
	return nodeReplacer(n).Replace(d.Root)
}

// byCluster groups the indexes 0..n-1 of nodes in rolling order by their
// cluster (cluster(i)), keeping that order within each group; clusters in
// the order they first appear.
func byCluster(n int, cluster func(i int) string) [][]int {
	var groups [][]int
	at := map[string]int{}
	for i := range n {
		c := cluster(i)
		g, ok := at[c]
		if !ok {
			g = len(groups)
			at[c] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

// stateDir is hac's directory on the node.
func (np *NodePlan) stateDir() string { return np.root + "/var/lib/hac" }

// Progress shows what each node is doing.
type Progress interface {
	// Update says node (cluster/node) is now doing state.
	Update(node, state string)
}

func (d *Deployer) progress(np *NodePlan, state string) {
	if d.Progress != nil {
		d.Progress.Update(np.Cluster+"/"+np.Node, state)
	}
}
