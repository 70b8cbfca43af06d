package keepalived

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	cueparser "cuelang.org/go/cue/parser"
	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/compiler"
	"github.com/hac-project/hac/model"
	kconf "github.com/hac-project/hac/targets/keepalived"
)

// hostile are values a keepalived.conf (or a name given on the command
// line) may hold that would change the meaning of CUE written with printf:
// quotes, backslashes, interpolations, newlines, multi-line and raw string
// delimiters, comments, braces, unicode line separators and labels that
// CUE reads as something else.
var hostile = []string{
	`a"b`,
	`a\b`,
	`\(x)`,
	`"\(import "os")"`,
	"x\"\nclusters: evil: {}\n\"",
	"tab\there",
	`"""`,
	`#"raw"#`,
	`'bytes'`,
	`// not a comment`,
	`a} b: {`,
	"\u2028\u2029",
	"ünïcödé 日本語 🚀",
	"#def",
	"_hidden",
	"if", "for", "let", "in", "import", "package", "true", "null", "_|_",
}

// TestImportHostileValues puts each hostile value into every place of the
// imported description that holds a string taken from the files or the
// command line, and checks that the output parses as CUE and compiles to
// the same value: the library quotes it, nothing is injected.
func TestImportHostileValues(t *testing.T) {
	sites := []struct {
		name string
		set  func(nodes []NodeConfig, opt *Options, h string)
		got  func(c *model.Cluster) any // the value as compiled
		want func(h string) any
		// mayRefuse: the compiler may refuse the value (a name, a
		// command keepalived.conf cannot carry), with a message that
		// quotes it (secret: that does not show it).
		mayRefuse, secret bool
	}{
		{"notify argument",
			func(nodes []NodeConfig, _ *Options, h string) {
				for _, n := range nodes {
					n.Config.Instance("VI_in").Notify.Master = []string{"/usr/local/bin/x", h}
				}
			},
			func(c *model.Cluster) any { return instance(c, "VI_in").Notify.Master },
			func(h string) any { return []string{"/usr/local/bin/x", h} }, true, false},
		{"sync group notify",
			func(nodes []NodeConfig, _ *Options, h string) {
				for _, n := range nodes {
					n.Config.SyncGroup("router").Notify.Fault = []string{"/usr/local/bin/x", h}
				}
			},
			func(c *model.Cluster) any { return c.SyncGroups[0].Notify.Fault },
			func(h string) any { return []string{"/usr/local/bin/x", h} }, true, false},
		{"auth pass",
			func(nodes []NodeConfig, _ *Options, h string) {
				for _, n := range nodes {
					for _, in := range n.Config.Instances {
						in.AuthType, in.AuthPass = "PASS", h
					}
				}
			},
			func(c *model.Cluster) any { return instance(c, "VI_in").Auth.Pass.Reveal() },
			func(h string) any { return h }, true, true},
		{"instance name",
			func(nodes []NodeConfig, _ *Options, h string) {
				for _, n := range nodes {
					n.Config.Instance("VI_in").Name = h
					n.Config.SyncGroup("router").Instances[0] = h
				}
			},
			func(c *model.Cluster) any { return []string{instanceNamed(c, "VI_out"), c.SyncGroups[0].Instances[0]} },
			func(h string) any { return []string{h, h} }, true, false},
		{"sync group name",
			func(nodes []NodeConfig, _ *Options, h string) {
				for _, n := range nodes {
					n.Config.SyncGroup("router").Name = h
				}
			},
			func(c *model.Cluster) any { return c.SyncGroups[0].Name },
			func(h string) any { return h }, true, false},
		{"cluster name",
			func(_ []NodeConfig, opt *Options, h string) { opt.Cluster = h },
			func(c *model.Cluster) any { return c.Name },
			func(h string) any { return h }, true, false},
		{"ssh host and user",
			func(_ []NodeConfig, opt *Options, h string) {
				opt.SSH = map[string]SSH{"r1": {Host: h, User: h}}
			},
			func(c *model.Cluster) any { return []string{c.Node("r1").SSH.Host, c.Node("r1").SSH.User} },
			func(h string) any { return []string{h, h} }, false, false},
		{"pass env",
			func(nodes []NodeConfig, opt *Options, h string) {
				for _, n := range nodes {
					for _, in := range n.Config.Instances {
						in.AuthType, in.AuthPass = "PASS", "secret"
					}
				}
				opt.PassEnv = h
			},
			func(c *model.Cluster) any { return instance(c, "VI_in").Auth.Pass.Ref },
			func(h string) any { return "env " + h }, false, false},
		{"header comment",
			func(_ []NodeConfig, opt *Options, h string) {
				opt.Header = "Imported from " + h + "\n\x00\xff\ufeff" + h
			},
			func(c *model.Cluster) any { return c.Name },
			func(string) any { return "gw" }, false, false},
	}
	for _, site := range sites {
		for _, h := range hostile {
			t.Run(site.name+"/"+h, func(t *testing.T) {
				nodes := load(t, "r1=router-r1.conf", "r2=router-r2.conf")
				opt := Options{Cluster: "gw"}
				site.set(nodes, &opt, h)
				src, probs := Import(nodes, opt)
				if probs.Errors() > 0 {
					t.Fatalf("Import: %v", probs)
				}
				res := compileImported(t, src)
				if res.Diags.HasErrors() {
					var b strings.Builder
					if err := res.Diags.WriteText(&b); err != nil {
						t.Fatal(err)
					}
					msg := b.String()
					switch {
					case !site.mayRefuse:
						t.Fatalf("the compiler refuses the output:\n%s\n%s", msg, src)
					case site.secret && strings.Contains(msg, h):
						t.Fatalf("the compiler's message shows the secret:\n%s", msg)
					case !site.secret && !strings.Contains(msg, strconv.Quote(h)):
						t.Fatalf("the compiler's message does not quote the value %q as it was imported:\n%s\n%s", h, msg, src)
					}
					return // refused with a clear message: nothing was injected
				}
				if len(res.Clusters) != 1 {
					t.Fatalf("compiled %d clusters, want 1:\n%s", len(res.Clusters), src)
				}
				if diff := cmp.Diff(site.want(h), site.got(res.Clusters[0])); diff != "" {
					t.Errorf("compiled value (-want +got):\n%s\n%s", diff, src)
				}
			})
		}
	}
}

// compileImported checks that src, an import's output, is CUE, and
// compiles it in memory (every environment variable set: a pass given by
// --pass-env is found).
func compileImported(t *testing.T, src []byte) *compiler.Result {
	t.Helper()
	if _, err := cueparser.ParseFile("imported.cue", src); err != nil {
		t.Fatalf("the output is not CUE: %v\n%s", err, src)
	}
	res, err := compiler.CompileSources([]compiler.Source{{Name: "imported.cue", Data: src}}, compiler.Options{LookupEnv: func(string) (string, bool) { return "secret", true }})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// instance returns the cluster's instance of that name, or nil.
func instance(c *model.Cluster, name string) *model.Instance {
	for _, in := range c.Instances {
		if in.Name == name {
			return in
		}
	}
	return nil
}

// instanceNamed returns the name of the instance that is not skip.
func instanceNamed(c *model.Cluster, skip string) string {
	for _, in := range c.Instances {
		if in.Name != skip {
			return in.Name
		}
	}
	return ""
}

// FuzzImport: any keepalived.conf the importer accepts yields CUE that
// parses, and that the compiler either refuses with a message or compiles
// to a cluster whose rendered keepalived.conf means what the input meant.
// The fuzzed file is node a's; node b is its peer, derived from it (its
// own priority, the unicast addresses swapped), so that inputs reach the
// output instead of stopping at a disagreement between the nodes.
func FuzzImport(f *testing.F) {
	for _, name := range []string{"seed-master.conf", "trio-n1.conf", "router-r1.conf"} {
		src, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
		if name == "trio-n1.conf" { // as a pair: one unicast peer
			f.Add([]byte(strings.ReplaceAll(string(src), "        198.18.0.13\n", "")))
		}
	}
	f.Add([]byte("vrrp_instance \"if\" {\n interface \"e\\\"th1\"\n virtual_router_id 1\n priority 100\n virtual_ipaddress { 198.18.0.1/24 }\n notify_master \"/bin/echo \\\\(x) \\\"\"\n}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		nodes, opt, ok := peerPair(src)
		if !ok {
			return
		}
		out, probs := Import(nodes, opt)
		if probs.Errors() > 0 {
			return
		}
		res := compileImported(t, out)
		if res.Diags.HasErrors() {
			for _, d := range res.Diags {
				if d.Msg == "" {
					t.Fatalf("an error without a message:\n%s", out)
				}
			}
			return
		}
		if len(res.Clusters) != 1 {
			t.Fatalf("compiled %d clusters, want 1:\n%s", len(res.Clusters), out)
		}
		c := res.Clusters[0]
		regen, err := kconf.Config(c, c.Node("a"))
		if err != nil {
			t.Fatalf("the compiled cluster does not render: %v\n%s", err, out)
		}
		pf, err := Parse("regenerated.conf", regen)
		if err != nil {
			t.Fatalf("the rendered keepalived.conf does not parse: %v\n%s", err, regen)
		}
		again, ps := Decode(pf)
		if ps.Errors() > 0 {
			t.Fatalf("the rendered keepalived.conf does not decode: %v\n%s", ps, regen)
		}
		if diff := cmp.Diff(nodes[0].Config.Meaning(), again.Meaning(), addrCmp); diff != "" {
			t.Errorf("the rendered keepalived.conf means something else (-original +rendered):\n%s\n%s\n%s", diff, out, regen)
		}
	})
}

// peerPair decodes src as node a's file and derives node b's from it,
// with the options that give what the files may not say.
func peerPair(src []byte) ([]NodeConfig, Options, bool) {
	var cfgs [2]*Config
	for i, name := range []string{"a.conf", "b.conf"} {
		pf, err := Parse(name, src)
		if err != nil {
			return nil, Options{}, false
		}
		c, probs := Decode(pf)
		if probs.Errors() > 0 || len(c.Instances) == 0 {
			return nil, Options{}, false
		}
		cfgs[i] = c
	}
	opt := Options{Cluster: "fuzz"}
	unicast := false
	for _, in := range cfgs[1].Instances {
		p := priority(in)
		in.Priority = p - 1
		if p <= 1 {
			in.Priority = p + 1
		}
		if in.UnicastSrc.IsValid() && len(in.UnicastPeers) == 1 {
			in.UnicastSrc, in.UnicastPeers[0] = in.UnicastPeers[0], in.UnicastSrc
		}
		unicast = unicast || in.UnicastSrc.IsValid()
	}
	if v := cfgs[0].Instances[0].VIPs; !unicast && len(v) > 0 {
		// Addresses and the subnet next to the first VIP.
		a := v[0].Prefix.Addr()
		bits := 24
		if !a.Is4() {
			bits = 64
		}
		sub := netip.PrefixFrom(a, bits).Masked()
		opt.Subnets = []netip.Prefix{sub}
		first := sub.Addr().Next()
		opt.Addresses = map[string]netip.Addr{"a": first, "b": first.Next()}
	}
	return []NodeConfig{{"a", cfgs[0]}, {"b", cfgs[1]}}, opt, true
}
