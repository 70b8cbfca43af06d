package netplan_test

import (
	"flag"
	"strconv"
	"strings"
	"testing"

	"github.com/hac-project/hac/internal/realtool"
	"github.com/hac-project/hac/model"
	"github.com/hac-project/hac/targets/internal/fixture"
	"github.com/hac-project/hac/targets/netplan"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestGolden(t *testing.T) {
	fixture.GoldenTarget(t, netplan.Netplan{}, nil, *update)
}

func TestOnlyNetplanNodes(t *testing.T) {
	c := fixture.Seed() // ifupdown nodes
	for _, n := range c.Nodes {
		if files, err := (netplan.Netplan{}).Render(c, n); err != nil || files != nil {
			t.Errorf("Render(%s) = %v, %v; want nothing for an ifupdown node", n.Name, files, err)
		}
	}
}

// TestNetplanGenerate feeds every netplan file to the real netplan and
// checks the systemd-networkd configuration it generates.
func TestNetplanGenerate(t *testing.T) {
	for _, fx := range fixture.All() {
		c := fx.Cluster
		for _, n := range c.Nodes {
			if n.Render != model.RenderNetplan {
				continue
			}
			t.Run(fx.Name+"/"+n.Name, func(t *testing.T) {
				files, err := netplan.Netplan{}.Render(c, n)
				if err != nil || len(files) != 1 {
					t.Fatalf("Render = %d files, %v; want 1", len(files), err)
				}
				network := realtool.Netplan(t, files[0], n.Interface)
				want := []string{"Name=" + n.Interface, "CriticalConnection=true"}
				for _, a := range n.Addresses {
					p, _ := c.Network.SubnetFor(a)
					want = append(want, "Address="+a.String()+"/"+strconv.Itoa(p.Bits()))
				}
				if gw := c.Network.Gateway; gw.IsValid() {
					want = append(want, "Gateway="+gw.String(), "Metric=20000")
				}
				if c.Network.MTU > 0 {
					want = append(want, "MTUBytes="+strconv.Itoa(c.Network.MTU))
				}
				for _, w := range want {
					if !strings.Contains(network, w+"\n") {
						t.Errorf("generated .network lacks %q:\n%s", w, network)
					}
				}
				for _, in := range c.Instances {
					for _, v := range in.VIPs {
						if strings.Contains(network, v.Prefix.Addr().String()) {
							t.Errorf("generated .network holds VIP %s: the agent owns it\n%s", v.Prefix, network)
						}
					}
				}
			})
		}
	}
}
