package keepalived

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/compiler"
	"github.com/hac-project/hac/internal/testenv"
	"github.com/hac-project/hac/model"
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
					configTest(t, regen, interfaces(again))
				})
			}
		})
	}
}

var addrCmp = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

// compileOne compiles CUE source holding one cluster.
func compileOne(t *testing.T, src []byte) *model.Cluster {
	t.Helper()
	name := filepath.Join(t.TempDir(), "imported.cue")
	if err := os.WriteFile(name, src, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := compiler.Compile([]string{name}, compiler.Options{})
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

// interfaces returns every interface a config names, sorted.
func interfaces(c *Config) []string {
	var out []string
	for _, in := range c.Instances {
		out = append(out, in.Interface)
		for _, v := range in.VIPs {
			if v.Dev != "" {
				out = append(out, v.Dev)
			}
		}
		for _, ti := range in.TrackInterfaces {
			out = append(out, ti.Interface)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// configTest runs keepalived --config-test on conf in a namespace of its
// own holding ifaces (veth ends, up); keepalived must exit 0 silently.
func configTest(t *testing.T, conf []byte, ifaces []string) {
	testenv.NeedRoot(t)
	keepalived := testenv.NeedTool(t, "keepalived")
	ip := testenv.NeedTool(t, "ip")
	ns := fmt.Sprintf("hac-%d-%04x-imp", os.Getpid(), rand.IntN(1<<16))
	run := func(name string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		return string(out), err
	}
	if out, err := run(ip, "netns", "add", ns); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := run(ip, "netns", "del", ns); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	for i, iface := range ifaces {
		for _, args := range [][]string{
			{"-n", ns, "link", "add", iface, "type", "veth", "peer", "name", fmt.Sprintf("imppeer%d", i)},
			{"-n", ns, "link", "set", iface, "up"},
		} {
			if out, err := run(ip, args...); err != nil {
				t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
	}
	dir := t.TempDir()
	name := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(name, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(ip, "netns", "exec", ns, keepalived, "--config-test", "-f", name,
		"-p", filepath.Join(dir, "k.pid"), "-r", filepath.Join(dir, "vrrp.pid"),
		"-c", filepath.Join(dir, "chk.pid"), "-b", filepath.Join(dir, "bfd.pid"))
	if err != nil || out != "" {
		t.Fatalf("keepalived --config-test (exit 4 fatal, 5 worked around, 6 script security): %v\n%s", err, out)
	}
}
