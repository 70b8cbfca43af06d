// Package ifupdown renders /etc/network/interfaces.d/hac-<iface>: the
// static address(es) of a node's shared interface, for nodes whose network
// renderer is ifupdown.
//
// This is the seed's stanza done right: one "auto" line, an "inet static"
// stanza with the address in CIDR form, an "inet6 static" stanza for an
// IPv6 address, and never an alias (eth1:0) for the VIP, which the agent
// owns. A gateway becomes a fallback default route with a high metric, so
// the management interface's default route always wins.
package ifupdown

import (
	"fmt"
	"strings"

	"github.com/hac-project/hac/model"
	"github.com/hac-project/hac/targets"
)

// Ifupdown is the ifupdown target.
type Ifupdown struct{}

var _ targets.Target = Ifupdown{}

// Name returns "ifupdown".
func (Ifupdown) Name() string { return "ifupdown" }

// Path returns where the file for interface iface goes.
func Path(iface string) string { return "/etc/network/interfaces.d/hac-" + iface }

// Activate returns the command that applies the file for iface:
// deconfigure it by the new definition even if ifupdown did not bring it
// up (--force), then bring it up. It briefly takes the interface down, VIPs
// included, so hac apply runs it on backups first.
func Activate(iface string) string {
	return "ifdown --force " + iface + "; ifup " + iface
}

// Render returns the interfaces file for n, or nothing when n does not use
// ifupdown.
func (Ifupdown) Render(c *model.Cluster, n *model.Node) ([]targets.File, error) {
	if n.Render != model.RenderIfupdown {
		return nil, nil
	}
	addrs, err := targets.Addresses(c, n)
	if err != nil {
		return nil, fmt.Errorf("ifupdown: %w", err)
	}
	var b strings.Builder
	b.WriteString(targets.Header("#", c, n))
	b.WriteString("# The VIPs are not here (no " + n.Interface + ":0 alias): the hac agent adds and removes them.\n")
	fmt.Fprintf(&b, "auto %s\n", n.Interface)
	for i, p := range addrs {
		method := "inet"
		if !p.Addr().Is4() {
			method = "inet6"
		}
		fmt.Fprintf(&b, "\niface %s %s static\n", n.Interface, method)
		fmt.Fprintf(&b, "    address %s\n", p)
		if i == 0 && c.Network.MTU > 0 {
			fmt.Fprintf(&b, "    mtu %d\n", c.Network.MTU)
		}
		if gw := c.Network.Gateway; gw.IsValid() && gw.Is4() == p.Addr().Is4() {
			fmt.Fprintf(&b, "    gateway %s\n    metric %d\n", gw, targets.GatewayMetric)
		}
		if method == "inet6" {
			b.WriteString("    accept_ra 0\n    autoconf 0\n")
		}
	}
	return []targets.File{{
		Path:     Path(n.Interface),
		Mode:     0o644,
		Data:     []byte(b.String()),
		Activate: Activate(n.Interface),
		Network:  true,
	}}, nil
}
