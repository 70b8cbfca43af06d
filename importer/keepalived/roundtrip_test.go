package keepalived

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/compiler"
	"github.com/hac-project/hac/internal/realtool"
	"github.com/hac-project/hac/model"
	"github.com/hac-project/hac/targets"
	kconf "github.com/hac-project/hac/targets/keepalived"
)

// TestRoundTrip imports keepalived.conf files, compiles the CUE, renders
// keepalived.conf for every node with targets/keepalived, and checks that
// the regenerated files mean what the originals meant (parsed with this
// package and compared as Meanings) and that keepalived --config-test
// accepts them inside a namespace holding their interfaces.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		nodes []string
		opt   Options
	}{
		{"seed", []string{"lb1=seed-master.conf", "lb2=seed-backup.conf"}, seedOptions},
		{"trio unicast", []string{"n1=trio-n1.conf", "n2=trio-n2.conf", "n3=trio-n3.conf"}, Options{Cluster: "trio"}},
		{"router: sync group and generic notify", []string{"r1=router-r1.conf", "r2=router-r2.conf"}, Options{Cluster: "gw"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := load(t, tt.nodes...)
			src, probs := Import(nodes, tt.opt)
			if probs.Errors() > 0 {
				t.Fatalf("Import: %v", probs)
			}
			c := compileOne(t, src)
			for _, n := range nodes {
				t.Run(n.Node, func(t *testing.T) {
					regen, err := kconf.Config(c, c.Node(n.Node))
					if err != nil {
						t.Fatal(err)
					}
					again := decodeSrc(t, "regenerated.conf", string(regen))
					if diff := cmp.Diff(n.Config.Meaning(), again.Meaning(), addrCmp); diff != "" {
						t.Errorf("regenerated keepalived.conf means something else (-original +regenerated):\n%s\n%s", diff, regen)
					}
					realtool.KeepalivedConfigTest(t, targets.File{Path: "/etc/keepalived/keepalived.conf", Mode: 0o600, Data: regen}, realtool.Interfaces(c, c.Node(n.Node)))
				})
			}
		})
	}
}

var addrCmp = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

// compileOne compiles CUE source holding one cluster, in memory as hac
// import does.
func compileOne(t *testing.T, src []byte) *model.Cluster {
	t.Helper()
	res, err := compiler.CompileSources([]compiler.Source{{Name: "imported.cue", Data: src}}, compiler.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Diags.HasErrors() || len(res.Clusters) != 1 {
		var b strings.Builder
		res.Diags.WriteText(&b)
		t.Fatalf("the imported CUE does not compile to one cluster:\n%s\n%s", b.String(), src)
	}
	return res.Clusters[0]
}
