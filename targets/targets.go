// Package targets turns the typed model of a cluster into the files each
// node needs: one [Target] per output (netplan, ifupdown, agent.json, the
// systemd unit, keepalived.conf), each in its own subpackage. The closed,
// ordered list of targets and the build that writes output trees live in
// package targets/build.
//
// No target ever writes a VIP as a static address or an alias (eth1:0):
// the agent (or keepalived) owns the VIPs, and a VIP configured statically
// on every node makes every node answer ARP for it.
package targets

import (
	"fmt"
	"io/fs"
	"net/netip"
	"slices"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/model"
)

// File is one rendered file for a node.
type File struct {
	// Path is the absolute, clean path of the file on the node.
	Path string
	// Mode holds the permission bits the file gets on the node.
	Mode fs.FileMode
	// Data is the file's content.
	Data []byte
	// Activate is the shell command that makes a change of the file take
	// effect on the node; files sharing a command run it once.
	Activate string
	// Deactivate is the shell command that stops what the file started
	// (a service), run by hac apply before it removes the file once no
	// build produces it any more; empty when nothing needs stopping.
	Deactivate string
	// Network marks files whose activation reconfigures the network and
	// can cut an SSH session.
	Network bool
	// Secret marks files holding secrets (the VRRP auth pass): mode 0600,
	// never shown in a diff.
	Secret bool
}

// Target renders one kind of file.
type Target interface {
	// Name is the target's short name, e.g. "netplan".
	Name() string
	// Render returns the target's files for node n of cluster c, or none
	// when the target does not apply to that node (another network
	// renderer, keepalived instead of the agent). c is valid, as the
	// compiler produces it; Render errors only on values the target's
	// output format cannot express.
	Render(c *model.Cluster, n *model.Node) ([]File, error)
}

// GatewayMetric is the metric of the default route via the shared
// segment's gateway, in both network renderers: far above the metric of a
// DHCP default route on the management interface (100), so the gateway is
// only a fallback and never takes traffic away from it.
const GatewayMetric = 20000

// ActivateAgent is the command that activates the agent's files: the unit
// and agent.json share it, so hac apply runs it once when both change.
const ActivateAgent = "systemctl daemon-reload && systemctl enable hac-agent && systemctl restart hac-agent"

// DeactivateAgent stops and disables the agent: on the master, the
// agent's graceful stop hands its VIPs over with no loss.
const DeactivateAgent = "systemctl disable --now hac-agent"

// AgentBinary is where hac apply installs the agent's binary, hac-agent,
// on a node: the unit runs it from there.
const AgentBinary = "/usr/local/sbin/hac-agent"

// MetricsBinary is where hac apply installs the agent's Prometheus
// exporter, next to hac-agent: the agent runs it from there while
// agent.metrics is set (config.MetricsProgram).
const MetricsBinary = "/usr/local/sbin/" + config.MetricsProgram

// ActivateAgentConfig is the command that activates a change of agent.json
// alone: the running agent re-reads it without a gap (the unit's
// ExecReload, hac-agent reload); a stopped agent is started. hac apply
// chooses it only when the node's record says no setting that only a
// restart applies changes. When the running agent still refuses the
// reload, it is asked again to learn why: refused only for settings a
// restart applies (its agent.json was edited by hand since; hac-agent
// reload exits 5), the agent is restarted instead (a graceful handoff);
// any other refusal (a file this node cannot run, which a restart would
// not start either) fails, with the running agent untouched.
// [Activations] leaves it out when ActivateAgent runs too: a restart reads
// the new file.
const ActivateAgentConfig = "systemctl reload-or-restart hac-agent || { " + AgentBinary + " reload; rc=$?; " +
	"[ $rc = 0 ] || { [ $rc = 5 ] && systemctl restart hac-agent; }; }"

// Activations returns the commands to run for the activation commands of
// the changed files (distinct, in order), less those another one covers:
// [ActivateAgentConfig] when [ActivateAgent] is among them.
func Activations(cmds []string) []string {
	if !slices.Contains(cmds, ActivateAgent) {
		return cmds
	}
	return slices.DeleteFunc(slices.Clone(cmds), func(c string) bool { return c == ActivateAgentConfig })
}

// Header returns the comment lines that start every generated text file,
// each prefixed by the format's comment marker.
func Header(comment string, c *model.Cluster, n *model.Node) string {
	return comment + " Written by hac build for node " + n.Name + " of cluster " + c.Name + ".\n" +
		comment + " Do not edit: the next hac apply replaces it. Edit the cluster description instead.\n"
}

// Instances returns the instances node n is a member of, in model order.
func Instances(c *model.Cluster, n *model.Node) []*model.Instance {
	var out []*model.Instance
	for _, in := range c.Instances {
		if in.Member(n.Name) != nil {
			out = append(out, in)
		}
	}
	return out
}

// SyncGroups returns the sync groups of c that node n runs: those of its
// instances (the members of a group run on the same nodes), in model
// order.
func SyncGroups(c *model.Cluster, n *model.Node) []model.SyncGroup {
	var out []model.SyncGroup
	for _, g := range c.SyncGroups {
		for _, name := range g.Instances {
			if in := c.Instance(name); in != nil && in.Member(n.Name) != nil {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// Addresses returns node n's static addresses, each with the prefix length
// of the cluster subnet of its family, in the node's order (IPv4 first).
func Addresses(c *model.Cluster, n *model.Node) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(n.Addresses))
	for _, a := range n.Addresses {
		p, ok := c.Network.SubnetFor(a)
		if !ok {
			return nil, fmt.Errorf("node %s: address %s has no subnet of its family in the cluster network", n.Name, a)
		}
		out = append(out, netip.PrefixFrom(a, p.Bits()))
	}
	return out, nil
}

// Family returns 4 or 6, the family of a.
func Family(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}
