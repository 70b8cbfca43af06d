package ifupdown_test

import (
	"flag"
	"strings"
	"testing"

	"github.com/hac-project/hac/internal/realtool"
	"github.com/hac-project/hac/model"
	"github.com/hac-project/hac/targets"
	"github.com/hac-project/hac/targets/ifupdown"
	"github.com/hac-project/hac/targets/internal/fixture"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestGolden(t *testing.T) {
	fixture.GoldenTarget(t, ifupdown.Ifupdown{}, nil, *update)
}

// TestIfup feeds every interfaces file to the real ifquery and ifup
// --no-act, and checks that ifup would add the node's addresses with the
// right prefix, and never a VIP or an alias.
func TestIfup(t *testing.T) {
	for _, fx := range fixture.All() {
		c := fx.Cluster
		for _, n := range c.Nodes {
			if n.Render != model.RenderIfupdown {
				continue
			}
			t.Run(fx.Name+"/"+n.Name, func(t *testing.T) {
				files, err := ifupdown.Ifupdown{}.Render(c, n)
				if err != nil || len(files) != 1 {
					t.Fatalf("Render = %d files, %v; want 1", len(files), err)
				}
				out := realtool.Ifupdown(t, files[0], n.Interface)
				addrs, err := targets.Addresses(c, n)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range addrs {
					want := "address: " + p.Addr().String() // ifquery
					if !strings.Contains(out, want) {
						t.Errorf("ifquery output lacks %q:\n%s", want, out)
					}
					if !strings.Contains(out, "ip -6 addr add "+p.String()) && !strings.Contains(out, "ip addr add "+p.Addr().String()+"/") {
						t.Errorf("ifup --no-act does not add %s:\n%s", p, out)
					}
				}
				if gw := c.Network.Gateway; gw.IsValid() && !strings.Contains(out, "default via "+gw.String()+" metric 20000") {
					t.Errorf("ifup --no-act adds no fallback default route via %s:\n%s", gw, out)
				}
				for _, in := range c.Instances {
					for _, v := range in.VIPs {
						if strings.Contains(out, v.Prefix.Addr().String()) {
							t.Errorf("ifup would configure VIP %s: the agent owns it\n%s", v.Prefix, out)
						}
					}
				}
				if strings.Contains(out, n.Interface+":") {
					t.Errorf("ifup would configure an alias of %s:\n%s", n.Interface, out)
				}
			})
		}
	}
}

func TestActivate(t *testing.T) {
	if got, want := ifupdown.Activate("eth1"), "ifdown --force eth1; ifup eth1"; got != want {
		t.Errorf("Activate(eth1) = %q, want %q", got, want)
	}
}
