// Package systemd renders /etc/systemd/system/hac-agent.service, the unit
// that runs the hac agent, for clusters that run the hac agent rather than
// keepalived.
package systemd

import (
	"fmt"
	"strings"
	"time"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/election"
	"github.com/hac-project/hac/model"
	"github.com/hac-project/hac/targets"
)

// Path is where the unit goes.
const Path = "/etc/systemd/system/hac-agent.service"

// Binary is where hac apply installs the agent's binary, hac-agent, on a
// node ([targets.AgentBinary]).
const Binary = targets.AgentBinary

// WatchdogSec is the unit's watchdog timeout: the agent pings every half
// of it while every instance's protocol loop answers. A hung agent is
// restarted after it; the VIP lease, not the watchdog, bounds how long a
// hung master keeps its VIPs.
const WatchdogSec = "10s"

// Systemd is the systemd unit target.
type Systemd struct{}

var _ targets.Target = Systemd{}

// Name returns "systemd".
func (Systemd) Name() string { return "systemd" }

// Render returns the agent's unit for n, or nothing when the cluster runs
// keepalived.
//
// The agent runs as root with only CAP_NET_RAW and CAP_NET_ADMIN and a
// read-only system. Health-check and notify commands run inside the same
// sandbox (docs/agent.md says what they may do there); a check that runs
// as another user adds CAP_SETUID, CAP_SETGID (to switch to it) and
// CAP_KILL (to kill it on timeout).
func (Systemd) Render(c *model.Cluster, n *model.Node) ([]targets.File, error) {
	if c.Keepalived {
		return nil, nil
	}
	ins := targets.Instances(c, n)
	var b strings.Builder
	b.WriteString(targets.Header("#", c, n))
	fmt.Fprintf(&b, `[Unit]
Description=hac VRRP agent (cluster %s, node %s)
Documentation=https://github.com/hac-project/hac
Wants=network-online.target
After=network-online.target
ConditionPathExists=%s

[Service]
# READY=1 once every instance has its initial state; STATUS= shows each
# instance's state (systemctl status). Watchdog pings come from every
# instance's protocol loop: a stuck agent is restarted, and meanwhile its
# VIPs' lease runs out and a backup takes over.
Type=notify
NotifyAccess=main
WatchdogSec=%s
# Ready after the first run of every check (in parallel, each bounded by
# its timeout).
TimeoutStartSec=%d
ExecStart=%s --config %s
# systemctl reload: agent.json is re-read without a gap; a refused file
# fails the reload and the running configuration stays. The agent sends
# RELOADING=1 and READY=1 around every reload (SIGHUP too); not
# Type=notify-reload, which needs systemd 253 (Debian 12 has 252).
ExecReload=%s reload --config %s
Restart=on-failure
RestartSec=1s
# On SIGTERM a master hands over (priority 0 advert) and keeps its VIPs
# until a backup has taken over: at most 3 advert intervals plus skew.
KillSignal=SIGTERM
KillMode=mixed
TimeoutStopSec=%d
# The agent restarts its metrics exporter (hac-metrics) itself: one the
# kernel kills for memory does not stop the agent.
OOMPolicy=continue
RuntimeDirectory=hac
RuntimeDirectoryMode=0750
`, c.Name, n.Name, config.DefaultPath, WatchdogSec, startTimeout(ins), Binary, config.DefaultPath, Binary, config.DefaultPath, stopTimeout(ins))
	caps := "CAP_NET_RAW CAP_NET_ADMIN"
	if checksSwitchUser(ins) {
		b.WriteString("# Health checks run as another user: switching to it and killing it on timeout.\n")
		caps += " CAP_SETUID CAP_SETGID CAP_KILL"
	}
	fmt.Fprintf(&b, "AmbientCapabilities=%s\nCapabilityBoundingSet=%s\n%s", caps, caps, sandbox)
	b.WriteString("\n[Install]\nWantedBy=multi-user.target\n")
	return []targets.File{{
		Path:       Path,
		Mode:       0o644,
		Data:       []byte(b.String()),
		Activate:   targets.ActivateAgent,
		Deactivate: targets.DeactivateAgent,
	}}, nil
}

// sandbox follows the capability lines of every unit.
const sandbox = `NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
ProtectClock=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET
RestrictNamespaces=yes
RestrictRealtime=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
`

// stopTimeout returns TimeoutStopSec in whole seconds: the longest a
// graceful stop takes (election.StopTime).
func stopTimeout(ins []*model.Instance) int {
	return seconds(election.StopTime(longestAdvert(ins)))
}

// startTimeout returns TimeoutStartSec in whole seconds: systemd's
// default of 90, or the longest check timeout and 30 seconds of margin
// when that is longer (the agent is ready once every check ran once), or
// the longest a reload takes (election.StopTime) when that is longer
// still: systemd bounds ExecReload= by TimeoutStartSec too.
func startTimeout(ins []*model.Instance) int {
	d := max(90*time.Second, election.StopTime(longestAdvert(ins)))
	for _, in := range ins {
		for _, c := range in.Checks {
			d = max(d, c.Timeout+30*time.Second)
		}
	}
	return seconds(d)
}

// longestAdvert is the longest advert interval of ins.
func longestAdvert(ins []*model.Instance) time.Duration {
	var longest time.Duration
	for _, in := range ins {
		longest = max(longest, in.AdvertInt)
	}
	return longest
}

// seconds rounds d up to whole seconds.
func seconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

// checksSwitchUser reports whether any health check runs as another user.
func checksSwitchUser(ins []*model.Instance) bool {
	for _, in := range ins {
		for _, c := range in.Checks {
			if c.User != "" {
				return true
			}
		}
	}
	return false
}
