package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/deploy/udiff"
	"github.com/hac-project/hac/targets"
	"github.com/hac-project/hac/targets/build"
	"github.com/hac-project/hac/targets/manifest"
	"github.com/hac-project/hac/targets/systemd"
)

// AgentBinaryPath is where hac apply installs the hac-agent binary: where
// the agent's unit runs it from.
const AgentBinaryPath = systemd.Binary

// MetricsBinaryPath is where hac apply installs hac-metrics, the
// Prometheus exporter the agent runs from the folder of its own binary
// while agent.metrics is set.
const MetricsBinaryPath = targets.MetricsBinary

// RecordPath is where apply keeps, on each node, the manifest of what hac
// installed there: the next plan finds the files hac installed before and
// no longer builds (stale files) by it.
const RecordPath = "/var/lib/hac/manifest.json"

// InterfacesPath is ifupdown's main configuration file, where a static
// VIP alias (eth1:0) is usually written.
const InterfacesPath = "/etc/network/interfaces"

// Plan is what an apply would change on every node.
type Plan struct {
	Nodes []*NodePlan `json:"nodes"`
}

// NodePlan is one node's pending changes, or the error that prevented
// computing them.
type NodePlan struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	Target  string `json:"target"` // the SSH target, [user@]host[:port]
	Order   int    `json:"order"`
	// Files are the files that change, in manifest order.
	Files []FileChange `json:"files"`
	// Activate are the commands apply will run, deduplicated, in
	// manifest order.
	Activate []string `json:"activate"`
	// Stop are the commands apply runs before activating, to stop and
	// disable the services of files hac no longer builds and a VRRP
	// daemon found running that hac replaces (keepalived run by hand):
	// one VRRP daemon on a node at a time.
	Stop []string `json:"stop"`
	// DeadMan says a network file changes: apply arms the dead-man timer.
	DeadMan bool `json:"dead_man"`
	// Agent says why the hac-agent or hac-metrics binary on the node
	// changes ("hac-agent missing", "hac-metrics version differs: ...",
	// both separated by "; "); empty when neither does.
	Agent string `json:"agent,omitempty"`
	Error string `json:"error,omitempty"`

	node    *Node
	root    string // Options.Root for this node
	changes []*change
	stale   []*change // files hac installed before and no longer builds
	record  *change   // the node's new RecordPath, nil when unchanged
	// recorded is the manifest of the node's last apply (its
	// RecordPath); nil when the node has none.
	recorded *manifest.Manifest
	restart  []string // what the restore script runs to undo Stop
	// keepalived says Stop stops a running keepalived: apply moves
	// mastership to a node running the hac agent first.
	keepalived bool
	// aliases says the node's static VIP aliases are deleted from its
	// interface (see startTakeover).
	aliases bool
	conn    Conn
	err     error
}

// Changed reports whether anything changes on the node.
func (np *NodePlan) Changed() bool { return len(np.changes)+len(np.stale)+len(np.Stop) > 0 }

// Err returns the error that prevented planning the node, or nil.
func (np *NodePlan) Err() error { return np.err }

// FileChange is one file that changes. It never holds a secret: Diff is
// empty for secret files and masks passwords in the others.
type FileChange struct {
	Path string `json:"path"`
	// Action is "create", "update", "mode" (same bytes, the mode
	// changes, maybe the owner too), "owner" (only the owner or group
	// changes) or "remove" (hac installed it before and no longer builds
	// it: removed once the new files are active).
	Action  string `json:"action"`
	OldMode string `json:"old_mode,omitempty"`
	Mode    string `json:"mode"`
	// OldOwner and Owner are "owner:group" names; OldOwner is set when
	// the node's file has another owner or group than the manifest's.
	OldOwner string `json:"old_owner,omitempty"`
	Owner    string `json:"owner,omitempty"`
	Secret   bool   `json:"secret,omitempty"`
	Diff     string `json:"diff,omitempty"`
	Activate string `json:"activate,omitempty"`
}

// change is a FileChange with what apply needs: the bytes and the
// current state on the node.
type change struct {
	file   manifest.File
	remote string // path on the node, with the root prefix
	data   []byte
	old    remoteFile
	// undo is what the restore script runs for this change once the
	// previous file is back; empty: the file's Activate.
	undo string
	// lease replaces Activate for a static alias on a node that starts
	// taking over: the VIP stays, leased, for the agent to resume.
	lease string
}

// Changed reports whether any node has changes.
func (p *Plan) Changed() bool { return slices.ContainsFunc(p.Nodes, (*NodePlan).Changed) }

// Err returns an error naming the nodes that could not be planned.
func (p *Plan) Err() error {
	var bad []string
	for _, np := range p.Nodes {
		if np.err != nil {
			bad = append(bad, np.Cluster+"/"+np.Node)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("could not plan %d node(s): %s", len(bad), strings.Join(bad, ", "))
}

// Close closes the connections the plan keeps for apply.
func (p *Plan) Close() {
	for _, np := range p.Nodes {
		if np.conn != nil {
			np.conn.Close()
			np.conn = nil
		}
	}
}

// Plan connects to every node (in parallel, at most Options.Connections
// at once), reads the files it would write and compares them with the
// tree. Connections stay open for [Deployer.Apply]; call [Plan.Close].
// Errors are per node, in NodePlan.Error. A node whose agent.json changes
// the advert_int of a VRRPv2 instance is refused unless
// Options.AllowV2IntervalChange.
func (d *Deployer) Plan(ctx context.Context, t *Tree) *Plan {
	nodes := t.Nodes()
	p := &Plan{Nodes: make([]*NodePlan, len(nodes))}
	var g errgroup.Group
	g.SetLimit(d.connections())
	for i, n := range nodes {
		np := &NodePlan{Cluster: n.Manifest.Cluster, Node: n.Manifest.Node, Target: targetOf(n).String(), Order: n.Manifest.Order, node: n, root: d.rootFor(n)}
		p.Nodes[i] = np
		g.Go(func() error {
			d.progress(np, "connecting")
			np.err = d.planNode(ctx, np)
			if np.err != nil {
				np.Error = np.err.Error()
				d.progress(np, "failed: "+np.Error)
			} else if np.Changed() {
				d.progress(np, fmt.Sprintf("%d file(s) to change", len(np.Files)))
			} else {
				d.progress(np, "up to date")
			}
			return nil // the error is the node's, in np.err
		})
	}
	g.Wait()
	return p
}

func (d *Deployer) planNode(ctx context.Context, np *NodePlan) error {
	n := np.node
	conn, err := d.Dial(ctx, n)
	if err != nil {
		return err
	}
	np.conn = conn
	d.progress(np, "reading files")
	files := slices.Clone(n.Manifest.Files)
	data := func(f manifest.File) []byte { return n.Files[f.Path] }
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = np.root + f.Path
	}
	cur, err := readFiles(ctx, conn, append(paths, np.root+RecordPath))
	if err != nil {
		return err
	}
	if np.changes, err = d.planAliases(ctx, np, conn); err != nil {
		return err
	}
	np.aliases = slices.ContainsFunc(np.changes, func(c *change) bool { return c.file.Activate != "" })
	for i, f := range files {
		if c := d.compare(f, paths[i], data(f), cur[i]); c != nil {
			np.changes = append(np.changes, c)
		}
	}
	if err := d.planStale(ctx, np, conn, cur[len(files)]); err != nil {
		return err
	}
	switch {
	case d.Agent != nil && !runsKeepalived(n):
		cs, err := d.planAgent(ctx, np, conn)
		if err != nil {
			return err
		}
		np.changes = append(np.changes, cs...)
	case d.Agent == nil && wantDigest(n) != "" && np.root == "":
		// Under a root (Options.Root) the unit still runs the node's
		// own hac-agent: not looked for there.
		if err := checkAgentInstalled(ctx, conn); err != nil {
			return err
		}
	}
	if !d.AllowV2IntervalChange {
		if err := checkV2Interval(np.recorded, n.Manifest); err != nil {
			return err
		}
	}
	for _, c := range np.changes {
		np.Files = append(np.Files, describe(c))
		if d.NoActivate {
			continue
		}
		if a := c.file.Activate; a != "" && !slices.Contains(np.Activate, a) {
			np.Activate = append(np.Activate, a)
		}
		np.DeadMan = np.DeadMan || (c.file.Network && c.file.Activate != "")
	}
	for _, c := range np.stale {
		np.Files = append(np.Files, FileChange{Path: c.file.Path, Action: "remove", Mode: fmt.Sprintf("%04o", c.old.mode), Secret: c.file.Secret})
	}
	if d.NoActivate {
		np.Stop, np.restart = nil, nil
	}
	np.Activate = activations(np, np.Activate)
	return nil
}

// activations returns cmds, the activation commands of np's changes, as
// apply runs them: a reload of agent.json becomes a restart when the change
// is one a reload refuses ([needsRestart]), and a restart covers a reload
// ([targets.Activations]). The plan and the restore script both use it.
func activations(np *NodePlan, cmds []string) []string {
	restart := needsRestart(np.recorded, np.node.Manifest, np.changes)
	var out []string
	for _, a := range cmds {
		if restart && a == targets.ActivateAgentConfig {
			a = targets.ActivateAgent
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return targets.Activations(out)
}

// needsRestart reports whether an agent.json change among changes is one
// a running agent's reload refuses (agent/config's RestartOnly: the status
// socket, the metrics listener, the sync groups), so that apply restarts
// the agent (with its make-before-break handoff) instead of reloading it.
// It compares the restart key of the manifest the node recorded at its
// last apply (was) with the new manifest's (next), never agent.json
// itself; a rollback, from next back to was, takes the same decision. A
// first install (no agent.json on the node) starts the agent: no restart.
//
// Without a record (a node hac never applied, or its record moved away),
// or with a record that has no key (written by an older hac, or for a node
// that ran keepalived), or a tree without a key (built by an older hac),
// the running agent's agent-wide settings are
// unknown: apply restarts, the safe side, as a restart applies any valid
// agent.json while a reload the agent refuses fails the apply. An
// agent.json edited on the node by hand after the last apply is not seen:
// should the agent run other agent-wide settings than the record's, it
// refuses the reload, naming the field, and apply rolls back (moving the
// record away makes the next apply restart).
func needsRestart(was, next *manifest.Manifest, changes []*change) bool {
	if !slices.ContainsFunc(changes, func(c *change) bool { return c.file.Path == config.DefaultPath && c.old.exists }) {
		return false
	}
	return was == nil || was.AgentRestartKey == "" || was.AgentRestartKey != next.AgentRestartKey
}

// compare returns the change that turns cur into f, or nil. An owner or
// group the manifest leaves empty is not compared.
func (d *Deployer) compare(f manifest.File, remote string, data []byte, cur remoteFile) *change {
	if cur.exists && cur.mode == uint32(f.Mode) && !ownerDiffers(f, cur) && bytes.Equal(cur.content, data) {
		return nil
	}
	return &change{file: f, remote: remote, data: data, old: cur}
}

// ownerDiffers reports whether cur's owner or group is not the one f asks for.
func ownerDiffers(f manifest.File, cur remoteFile) bool {
	return (f.Owner != "" && f.Owner != cur.owner) || (f.Group != "" && f.Group != cur.group)
}

// ownerSpec is f's owner as chown takes it: "owner:group", "owner",
// ":group", or "" to leave the owner alone.
func ownerSpec(f manifest.File) string {
	if f.Group == "" {
		return f.Owner
	}
	return f.Owner + ":" + f.Group
}

// checkV2Interval refuses a change of a VRRPv2 instance's advert
// interval: a VRRPv2 node discards adverts whose interval differs from its
// own (RFC 3768 section 7.1; keepalived drops them too), so during a
// rolling apply the updated backup would stop hearing the master and take
// the VIP too. It compares the facts of the manifest the node recorded at
// its last apply (was) with the new manifest's (next), never agent.json
// or keepalived.conf. Without a record (a node hac never applied, or its
// record moved away), or for an instance whose record lacks the version or
// interval (written by an older hac), the running interval is unknown: the
// plan goes on, as it always did for a node without hac's agent.json.
func checkV2Interval(was, next *manifest.Manifest) error {
	if was == nil {
		return nil
	}
	for _, in := range next.Expect {
		for _, old := range was.Expect {
			if old.Instance == in.Instance && old.Version == 2 && in.Version == 2 && old.AdvertIntMillis != 0 && old.AdvertIntMillis != in.AdvertIntMillis {
				return fmt.Errorf("VRRPv2 instance %s: advert_int changes from %s to %s, and a VRRPv2 node discards adverts with "+
					"another interval (RFC 3768 section 7.1): during the rolling apply the updated backup would stop hearing the "+
					"master and take the VIP too, until the master is updated. Move the instance to VRRPv3 (it learns the master's "+
					"interval), or accept that brief split with --allow-v2-interval-change",
					in.Instance, time.Duration(old.AdvertIntMillis)*time.Millisecond, time.Duration(in.AdvertIntMillis)*time.Millisecond)
			}
		}
	}
	return nil
}

// Agent is the agent hac apply puts on the nodes that run it: the
// hac-agent binary and hac-metrics, the Prometheus exporter it runs, of
// one build.
type Agent struct {
	// Binary is hac-agent, installed as AgentBinaryPath.
	Binary []byte
	// Version is what `hac-agent version` prints for Binary.
	Version string
	// Metrics is hac-metrics, installed as MetricsBinaryPath.
	Metrics []byte
	// MetricsVersion is what `hac-metrics version` prints for Metrics.
	MetricsVersion string
	// Machine is `uname -m` of the machines both run on, e.g. "x86_64".
	Machine string
	// Err, when set, says why there is nothing to install (hac-agent is
	// not next to hac, say): planning a node that runs the agent fails
	// with it; nodes that run keepalived need none.
	Err error
}

// installedBinary is a binary hac apply installs on a node: where it
// goes (its base is the program's name), and the file that says hac
// apply installed it, for hac destroy.
type installedBinary struct{ path, record string }

// agentBinaries are the agent's binaries, hac-agent first, as
// [Agent.programs] lists them.
var agentBinaries = []installedBinary{{AgentBinaryPath, agentRecord}, {MetricsBinaryPath, metricsRecord}}

// program is one binary of the agent as hac apply installs it.
type program struct {
	installedBinary
	data    []byte
	version string
}

// programs are a's binaries, in the order of agentBinaries.
func (a *Agent) programs() []program {
	return []program{{agentBinaries[0], a.Binary, a.Version}, {agentBinaries[1], a.Metrics, a.MetricsVersion}}
}

// legacyBinary is where hac apply installed the whole hac binary, for the
// agent, before the agent had a binary of its own (hac-agent, a third of
// hac's memory); legacyRecord says it did. hac apply removes both once
// hac-agent runs the agent (as stale files), hac destroy too.
const (
	legacyBinary = "/usr/local/bin/hac"
	legacyRecord = "/var/lib/hac/installed-hac"
)

// agentScript takes the legacy record and binary, then a binary's path
// and its record for each program. It prints the node's `uname -m`;
// "legacy" when the binary $2 exists and its record $1 says an older hac
// apply installed it, "record" when only the record is left (the binary
// was removed by hand), or "none"; then three lines per program:
// "recorded" when its record exists (hac apply installed it) or
// "unrecorded", the SHA-256 of the binary or "none" when it is missing,
// and the first line of its version (empty when it is missing or says
// none).
const agentScript = `uname -m
if [ -f "$1" ] && [ -f "$2" ]; then echo legacy; elif [ -f "$1" ]; then echo record; else echo none; fi
shift 2
while [ $# -ge 2 ]; do
  if [ -f "$2" ]; then echo recorded; else echo unrecorded; fi
  if [ -f "$1" ]; then
    s=$(sha256sum < "$1") || exit 1
    echo "${s%% *}"
    v=$("$1" version 2>/dev/null | head -n 1)
    printf '%s\n' "$v"
  else
    echo none
    echo
  fi
  shift 2
done`

// planAgent checks the node's architecture and returns, for hac-agent and
// hac-metrics each, the binary's change when the installed one is missing
// or differs (np.Agent says which and why), and the record that hac
// installed it (for hac destroy) when that is missing; the whole hac an
// older hac apply installed for the agent becomes stale. A node of
// another architecture is an error: hac never installs a binary that
// cannot run there. Either binary's change restarts the agent
// (targets.ActivateAgent): hac-metrics is the agent's child.
func (d *Deployer) planAgent(ctx context.Context, np *NodePlan, conn Conn) ([]*change, error) {
	if d.Agent.Err != nil {
		return nil, d.Agent.Err
	}
	progs := d.Agent.programs()
	args := []string{np.root + legacyRecord, np.root + legacyBinary}
	for _, p := range progs {
		args = append(args, np.root+p.path, np.root+p.record)
	}
	out, err := conn.Run(ctx, "check the installed hac-agent and hac-metrics", shell(agentScript, args...), nil)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != 2+3*len(progs) || lines[0] == "" || !slices.Contains([]string{"legacy", "record", "none"}, lines[1]) {
		return nil, fmt.Errorf("check the installed hac-agent and hac-metrics: unexpected answer %q", out)
	}
	machine, legacy := lines[0], lines[1]
	for i := range progs {
		if rec, sum := lines[2+3*i], lines[3+3*i]; (rec != "recorded" && rec != "unrecorded") || sum == "" {
			return nil, fmt.Errorf("check the installed hac-agent and hac-metrics: unexpected answer %q", out)
		}
	}
	if machine != d.Agent.Machine {
		return nil, fmt.Errorf("the node is %s (uname -m), the hac-agent and hac-metrics to install are built for %s and would not run there: "+
			"build them for the node (make build GOARCH=...) and pass the hac-agent with --agent-binary (the hac-metrics next to it goes with it), "+
			"or --install-agent=false and install hac-agent and hac-metrics on the node yourself", machine, d.Agent.Machine)
	}
	// A record left without its binary goes too: a hac the operator
	// puts there later is not the one an older apply installed.
	stale := func(p string, mode uint32) {
		np.stale = append(np.stale, &change{file: manifest.File{Path: p}, remote: np.root + p, old: remoteFile{exists: true, mode: mode}})
	}
	if legacy == "legacy" {
		stale(legacyBinary, 0o755)
	}
	if legacy != "none" {
		stale(legacyRecord, 0o644)
	}
	var cs []*change
	var notes []string
	for i, p := range progs {
		recorded, have, nodeVersion := lines[2+3*i] == "recorded", lines[3+3*i], lines[4+3*i]
		sum := digest(p.data)
		if have == sum {
			continue
		}
		notes = append(notes, p.note(have, nodeVersion))
		file := manifest.File{Path: p.path, Mode: 0o755, Owner: build.FileOwner, Group: build.FileGroup, SHA256: sum, Activate: targets.ActivateAgent}
		// The old binary is not read back: it is only shown as "update".
		old := remoteFile{exists: have != "none", mode: 0o755, owner: build.FileOwner, group: build.FileGroup, content: []byte{0}}
		cs = append(cs, &change{file: file, remote: np.root + p.path, data: p.data, old: old})
		if !recorded {
			data := []byte("hac apply installed " + p.path + ": hac destroy removes it\n")
			rec := manifest.File{Path: p.record, Mode: 0o644, Owner: build.FileOwner, Group: build.FileGroup, SHA256: digest(data)}
			cs = append(cs, &change{file: rec, remote: np.root + p.record, data: data})
		}
	}
	np.Agent = strings.Join(notes, "; ")
	return cs, nil
}

// note says why p's binary on the node, whose digest is have ("none":
// missing) and whose version line is nodeVersion, is replaced.
func (p program) note(have, nodeVersion string) string {
	name := path.Base(p.path)
	switch {
	case have == "none":
		return name + " missing: installs " + p.version
	case nodeVersion == "":
		return name + " version differs: the node's " + p.path + " does not say its version; installs " + p.version
	case nodeVersion != p.version:
		return name + " version differs: the node runs " + nodeVersion + ", installs " + p.version
	default:
		return name + " binary differs (same version " + nodeVersion + "): installs this one"
	}
}

// checkAgentInstalled refuses, before anything changes, a node that is to
// run the agent when hac does not install hac-agent and hac-metrics
// (--install-agent=false) and the node lacks either: its unit would run a
// missing binary, or the agent a missing exporter, and the apply fail on
// the node and roll it back.
func checkAgentInstalled(ctx context.Context, conn Conn) error {
	out, err := conn.Run(ctx, "check the installed hac-agent and hac-metrics",
		shell(`for p; do if [ ! -x "$p" ]; then printf '%s\n' "$p"; fi; done`, AgentBinaryPath, MetricsBinaryPath), nil)
	if err != nil {
		return err
	}
	if missing := strings.Fields(string(out)); len(missing) > 0 {
		return fmt.Errorf("%s missing on the node, and --install-agent=false leaves hac-agent and hac-metrics to you: install them "+
			"as %s and %s (make build writes them next to hac), or apply without --install-agent=false to have hac install them",
			strings.Join(missing, " and "), AgentBinaryPath, MetricsBinaryPath)
	}
	return nil
}

// describe turns a change into what plan shows, masking secrets.
func describe(c *change) FileChange {
	fc := FileChange{Path: c.file.Path, Mode: fmt.Sprintf("%04o", uint32(c.file.Mode)), Owner: ownerSpec(c.file), Secret: c.file.Secret, Activate: c.file.Activate}
	switch {
	case !c.old.exists:
		fc.Action = "create"
	case !bytes.Equal(c.old.content, c.data):
		fc.Action = "update"
	case c.old.mode != uint32(c.file.Mode):
		fc.Action = "mode"
	default:
		fc.Action = "owner"
	}
	if c.old.exists && c.old.mode != uint32(c.file.Mode) {
		fc.OldMode = fmt.Sprintf("%04o", c.old.mode)
	}
	if c.old.exists && ownerDiffers(c.file, c.old) {
		fc.OldOwner = c.old.owner + ":" + c.old.group
	}
	if fc.Action == "mode" || fc.Action == "owner" || c.file.Secret || isBinary(c.old.content) || isBinary(c.data) {
		return fc
	}
	fc.Diff = Mask(udiff.Unified("node:"+c.file.Path, "build:"+c.file.Path, string(c.old.content), string(c.data)))
	return fc
}

func isBinary(b []byte) bool { return bytes.IndexByte(b, 0) >= 0 }

// secretPatterns match password values in configuration text:
// keepalived's auth_pass and JSON "pass" members.
var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?m)(\bauth_pass\s+)\S+`),
	regexp.MustCompile(`("pass"\s*:\s*)"(?:[^"\\\n]|\\.)*"`),
}

// Mask replaces password values in s with asterisks.
func Mask(s string) string {
	s = secretPatterns[0].ReplaceAllString(s, "${1}******")
	return secretPatterns[1].ReplaceAllString(s, `${1}"******"`)
}

// WriteText prints the plan for people: per node the files that change,
// their diffs (coloured when color is set) and the commands apply runs.
func (p *Plan) WriteText(w io.Writer, color bool) error {
	var b strings.Builder
	for _, np := range p.Nodes {
		head := fmt.Sprintf("%s/%s (%s)", np.Cluster, np.Node, np.Target)
		switch {
		case np.err != nil:
			fmt.Fprintf(&b, "%s: error: %s\n", head, np.Error)
			continue
		case !np.Changed():
			fmt.Fprintf(&b, "%s: up to date\n", head)
			continue
		}
		fmt.Fprintf(&b, "%s: %d file(s) change\n", head, len(np.Files))
		for _, f := range np.Files {
			mode := f.Mode
			if f.OldMode != "" {
				mode = f.OldMode + " -> " + f.Mode
			}
			if f.OldOwner != "" {
				mode += ", " + f.OldOwner + " -> " + f.Owner
			}
			meta := f.Action == "mode" || f.Action == "owner" || f.Action == "remove"
			note := ""
			if f.Secret && !meta {
				note = ", secret changed (content not shown)"
			} else if f.Diff == "" && !meta {
				note = ", binary"
			}
			fmt.Fprintf(&b, "  %s %s (%s%s)\n", f.Action, f.Path, mode, note)
		}
		for _, f := range np.Files {
			if f.Diff == "" {
				continue
			}
			if color {
				b.WriteString(udiff.Colorize(f.Diff))
			} else {
				b.WriteString(f.Diff)
			}
		}
		if np.Agent != "" {
			fmt.Fprintf(&b, "  %s\n", np.Agent)
		}
		for _, a := range np.Stop {
			fmt.Fprintf(&b, "  will stop first: %s\n", a)
		}
		if np.keepalived {
			b.WriteString("  keepalived stops here once mastership has moved to a hac agent (a takeover: this node's, started with the VIP its static alias held, or that of a node converted before), so no packet is lost\n")
		}
		for _, a := range np.Activate {
			fmt.Fprintf(&b, "  will run: %s\n", a)
		}
		if np.DeadMan {
			b.WriteString("  network change: a dead-man timer restores the previous files unless hac reconnects and confirms\n")
		}
	}
	b.WriteString(p.Summary() + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// Summary says in one sentence what the plan found: how many nodes change,
// are up to date and could not be planned (what those need is unknown).
func (p *Plan) Summary() string {
	changed, failed := 0, 0
	for _, np := range p.Nodes {
		switch {
		case np.err != nil:
			failed++
		case np.Changed():
			changed++
		}
	}
	upToDate := len(p.Nodes) - changed - failed
	switch {
	case failed == 0 && changed == 0:
		return fmt.Sprintf("No changes: %d node(s) up to date.", len(p.Nodes))
	case failed == 0:
		return fmt.Sprintf("%d of %d node(s) to change.", changed, len(p.Nodes))
	}
	var parts []string
	if changed > 0 {
		parts = append(parts, fmt.Sprintf("%d to change", changed))
	}
	if upToDate > 0 {
		parts = append(parts, fmt.Sprintf("%d up to date", upToDate))
	}
	parts = append(parts, fmt.Sprintf("%d could not be planned (see the errors above): what they need is unknown", failed))
	return fmt.Sprintf("Of %d node(s): %s.", len(p.Nodes), strings.Join(parts, ", "))
}

// WriteJSON prints the plan as JSON, with the same masking as WriteText.
// "changed" is true when a planned node changes, false when every node
// was planned and none changes, and null when no planned node changes but
// some could not be planned (unknown); "complete" says whether every node
// was planned, "error" names the others.
func (p *Plan) WriteJSON(w io.Writer) error {
	var changed *bool
	if c := p.Changed(); c || p.Err() == nil {
		changed = &c
	}
	errText := ""
	if err := p.Err(); err != nil {
		errText = err.Error()
	}
	out := struct {
		Changed  *bool  `json:"changed"`
		Complete bool   `json:"complete"`
		Error    string `json:"error,omitempty"`
		Summary  string `json:"summary"`
		*Plan
	}{changed, p.Err() == nil, errText, p.Summary(), p}
	for _, np := range p.Nodes {
		if np.Files == nil {
			np.Files = []FileChange{}
		}
		if np.Activate == nil {
			np.Activate = []string{}
		}
		if np.Stop == nil {
			np.Stop = []string{}
		}
	}
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(out)
}
