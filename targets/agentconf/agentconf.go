// Package agentconf renders /etc/hac/agent.json, the hac agent's whole
// configuration for one node (format in package agent/config), for
// clusters that run the hac agent rather than keepalived.
package agentconf

import (
	"fmt"
	"net/netip"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/model"
	"github.com/hac-project/hac/targets"
)

// AgentConf is the agent.json target.
type AgentConf struct{}

var _ targets.Target = AgentConf{}

// Name returns "agent".
func (AgentConf) Name() string { return "agent" }

// Render returns agent.json for n, or nothing when the cluster runs
// keepalived. The file holds the auth pass: mode 0600, marked Secret. It
// refuses to write a file the agent would refuse (config.Validate).
func (AgentConf) Render(c *model.Cluster, n *model.Node) ([]targets.File, error) {
	if c.Keepalived {
		return nil, nil
	}
	cfg := Config(c, n)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("agent: node %s: the agent would refuse this agent.json:\n%w", n.Name, err)
	}
	b, err := config.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("agent: node %s: %w", n.Name, err)
	}
	return []targets.File{{
		Path:       config.DefaultPath,
		Mode:       0o600,
		Data:       b,
		Activate:   targets.ActivateAgentConfig,
		Deactivate: targets.DeactivateAgent,
		Secret:     true,
	}}, nil
}

// RestartKey returns the key of the restart-only settings
// ([config.RestartKey]) of the agent.json Render writes for n, for the
// node's manifest (hac apply restarts the agent instead of reloading it
// when the key changes); "" when the cluster runs keepalived.
func RestartKey(c *model.Cluster, n *model.Node) string {
	if c.Keepalived {
		return ""
	}
	return config.RestartKey(Config(c, n))
}

// Config returns the agent configuration of node n: every instance n is a
// member of, as n runs it.
func Config(c *model.Cluster, n *model.Node) *config.Config {
	cfg := &config.Config{
		Format:       config.FormatVersion,
		Cluster:      c.Name,
		Node:         n.Name,
		StatusSocket: c.Agent.StatusSocket,
		Metrics:      c.Agent.Metrics,
		Instances:    []config.Instance{},
	}
	if cfg.StatusSocket == "" {
		cfg.StatusSocket = config.DefaultStatusSocket
	}
	for _, in := range targets.Instances(c, n) {
		cfg.Instances = append(cfg.Instances, instance(in, in.Member(n.Name)))
	}
	for _, g := range targets.SyncGroups(c, n) {
		cfg.SyncGroups = append(cfg.SyncGroups, config.SyncGroup{Name: g.Name, Instances: g.Instances, Notify: notify(g.Notify)})
	}
	return cfg
}

// notify returns the commands for agent.json, nil when there are none.
func notify(nt model.Notify) *config.Notify {
	if nt.IsZero() {
		return nil
	}
	return &config.Notify{Master: nt.Master, Backup: nt.Backup, Fault: nt.Fault, Stop: nt.Stop, All: nt.All}
}

func instance(in *model.Instance, m *model.Member) config.Instance {
	ci := config.Instance{
		Name:         in.Name,
		VRID:         in.VRID,
		Version:      in.Version,
		Interface:    m.Interface,
		Priority:     m.Priority,
		AdvertInt:    config.Duration(in.AdvertInt),
		Preempt:      in.Preempt,
		PreemptDelay: config.Duration(in.PreemptDelay),
		Source:       m.Source,
		Unicast:      in.Unicast,
		VIPs:         make([]config.VIP, 0, len(in.VIPs)),
		GARP: config.GARP{
			Repeat:        in.GARP.Repeat,
			Delay:         config.Duration(in.GARP.Delay),
			Refresh:       config.Duration(in.GARP.Refresh),
			RefreshRepeat: in.GARP.RefreshRepeat,
		},
	}
	if in.Auth.Type == model.AuthPass {
		ci.Auth = &config.Auth{Type: string(model.AuthPass), Pass: in.Auth.Pass.Reveal()}
	}
	if in.Unicast {
		ci.Peers = append([]netip.Addr(nil), m.Peers...)
	}
	for _, v := range in.VIPs {
		ci.VIPs = append(ci.VIPs, config.VIP{Prefix: v.Prefix, Device: v.Device})
	}
	for _, t := range in.Track {
		ci.Track = append(ci.Track, config.Track{Interface: t.Interface, Weight: t.Weight})
	}
	for _, ch := range in.Checks {
		ci.Checks = append(ci.Checks, config.Check{
			Name:     ch.Name,
			Command:  ch.Command,
			Interval: config.Duration(ch.Interval),
			Timeout:  config.Duration(ch.Timeout),
			Rise:     ch.Rise,
			Fall:     ch.Fall,
			Weight:   ch.Weight,
			User:     ch.User,
		})
	}
	ci.Notify = notify(in.Notify)
	return ci
}
