// Package netplan renders /etc/netplan/60-hac-<iface>.yaml: the static
// address(es) of a node's shared interface, for nodes whose network
// renderer is netplan.
//
// The file never lists a VIP. It sets critical: true, which netplan turns
// into systemd-networkd's KeepConfiguration, so networkd never removes the
// VIPs the agent adds. A gateway becomes a fallback default route with
// metric [targets.GatewayMetric], so the management interface's default route
// (DHCP, metric 100) always wins.
package netplan

import (
	"fmt"
	"strings"

	"github.com/hac-project/hac/model"
	"github.com/hac-project/hac/targets"
)

// Activate applies netplan files.
const Activate = "netplan apply"

// Netplan is the netplan target.
type Netplan struct{}

var _ targets.Target = Netplan{}

// Name returns "netplan".
func (Netplan) Name() string { return "netplan" }

// Path returns where the file for interface iface goes.
func Path(iface string) string { return "/etc/netplan/60-hac-" + iface + ".yaml" }

// Render returns the netplan file for n, or nothing when n does not use
// netplan.
func (Netplan) Render(c *model.Cluster, n *model.Node) ([]targets.File, error) {
	if n.Render != model.RenderNetplan {
		return nil, nil
	}
	var b strings.Builder
	b.WriteString(targets.Header("#", c, n))
	b.WriteString("# The VIPs are not here: the hac agent adds and removes them.\n")
	b.WriteString("network:\n  version: 2\n  ethernets:\n")
	fmt.Fprintf(&b, "    %s:\n", n.Interface)
	// No router advertisements, on IPv4-only links too: networkd waits
	// for them otherwise, and network-online.target (which the agent's
	// unit starts after) comes about 14 s late at every boot.
	b.WriteString("      dhcp4: false\n      dhcp6: false\n      accept-ra: false\n")
	b.WriteString("      critical: true\n")
	addrs, err := targets.Addresses(c, n)
	if err != nil {
		return nil, fmt.Errorf("netplan: %w", err)
	}
	b.WriteString("      addresses:\n")
	for _, p := range addrs {
		fmt.Fprintf(&b, "        - %q\n", p)
	}
	if c.Network.MTU > 0 {
		fmt.Fprintf(&b, "      mtu: %d\n", c.Network.MTU)
	}
	if gw := c.Network.Gateway; gw.IsValid() {
		if _, ok := n.Address(targets.Family(gw)); ok {
			fmt.Fprintf(&b, "      routes:\n        - to: default\n          via: %q\n          metric: %d\n", gw, targets.GatewayMetric)
		}
	}
	return []targets.File{{
		Path:     Path(n.Interface),
		Mode:     0o600, // netplan warns about, and will refuse, readable files
		Data:     []byte(b.String()),
		Activate: Activate,
		Network:  true,
	}}, nil
}
