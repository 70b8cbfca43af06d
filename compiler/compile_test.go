package compiler

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hac-project/hac/model"
)

// seedModel is the model every form of the seed must compile to.
func seedModel(file string) *model.Cluster {
	a := netip.MustParseAddr
	return &model.Cluster{
		Name: "ncp-lb",
		Network: model.Network{
			Interface: "eth1",
			Subnets:   []netip.Prefix{netip.MustParsePrefix("192.168.200.0/24")},
		},
		Nodes: []*model.Node{
			{Name: "lb1", Interface: "eth1", Addresses: []netip.Addr{a("192.168.200.11")}, SSH: model.SSH{Host: "lb1.example.net"}, Render: model.RenderIfupdown},
			{Name: "lb2", Interface: "eth1", Addresses: []netip.Addr{a("192.168.200.12")}, SSH: model.SSH{Host: "lb2.example.net"}, Render: model.RenderIfupdown},
		},
		Instances: []*model.Instance{{
			Name: "VI_1", VRID: 51, Version: 2, Family: 4, AdvertInt: time.Second,
			Members: []model.Member{
				{Node: "lb1", Priority: 200, Interface: "eth1", Source: a("192.168.200.11"), Peers: []netip.Addr{a("192.168.200.12")}},
				{Node: "lb2", Priority: 100, Interface: "eth1", Source: a("192.168.200.12"), Peers: []netip.Addr{a("192.168.200.11")}},
			},
			Preempt: true,
			Auth:    model.Auth{Type: model.AuthPass, Pass: model.NewSecret("pass1234", "")},
			VIPs:    []model.VIP{{Prefix: netip.MustParsePrefix("192.168.200.102/32")}},
			Unicast: true,
			GARP:    model.GARP{Repeat: 5, Delay: 5 * time.Second, RefreshRepeat: 1},
		}},
		Agent: model.AgentOptions{StatusSocket: "/run/hac/agent.sock"},
	}
}

var modelOpts = cmp.Options{
	cmpopts.IgnoreFields(model.Cluster{}, "Pos"),
	cmpopts.IgnoreFields(model.Node{}, "Pos"),
	cmpopts.IgnoreFields(model.Instance{}, "Pos"),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Comparer(func(a, b model.Secret) bool { return a.Reveal() == b.Reveal() && a.Ref == b.Ref }),
}

// TestSeedForms compiles the seed example and its YAML and JSON twins to
// the same model, with positions in each file.
func TestSeedForms(t *testing.T) {
	for _, path := range []string{"../examples/ncp-two-node/cluster.cue", "testdata/seed.yaml", "testdata/seed.json"} {
		t.Run(path, func(t *testing.T) {
			res, err := Compile([]string{path}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Diags.HasErrors() || len(res.Clusters) != 1 {
				t.Fatalf("got %d clusters, diagnostics %v", len(res.Clusters), res.Diags)
			}
			if diff := cmp.Diff(seedModel(path), res.Clusters[0], modelOpts); diff != "" {
				t.Errorf("model (-want +got):\n%s", diff)
			}
			if got := res.Clusters[0].Instances[0].Pos; got.File != path || got.Line == 0 {
				t.Errorf("instance position %v, want a line in %s", got, path)
			}
		})
	}
}

// TestExamples checks that every example is valid.
func TestExamples(t *testing.T) {
	res, err := Compile([]string{"../examples"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Diags.HasErrors() {
		t.Fatalf("examples have errors: %v", errorLines(res.Diags))
	}
	var names []string
	for _, c := range res.Clusters {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff([]string{"gw", "ncp-lb", "v6-lb", "web-lb"}, names); diff != "" {
		t.Errorf("clusters (-want +got):\n%s", diff)
	}
}

// TestSecretRefs resolves {env} and {file} through Options.
func TestSecretRefs(t *testing.T) {
	src := func(ref string) map[string]string {
		return map[string]string{"c.cue": replaceOnce(seed, `"pass1234"`, ref)}
	}
	env := Options{LookupEnv: func(k string) (string, bool) { return map[string]string{"P": "fromenv"}[k], k == "P" },
		ReadFile: func(string) ([]byte, error) { return []byte("fromfile\n"), nil }}
	for _, tt := range []struct{ ref, want, wantRef string }{
		{`{env: "P"}`, "fromenv", "env P"},
		{`{file: "/etc/hac/pass"}`, "fromfile", "file /etc/hac/pass"},
	} {
		res := compileSrc(t, src(tt.ref), env)
		if len(res.Clusters) != 1 {
			t.Fatalf("%s: %v", tt.ref, res.Diags)
		}
		p := res.Clusters[0].Instances[0].Auth.Pass
		if p.Reveal() != tt.want || p.Ref != tt.wantRef {
			t.Errorf("%s: got ref %q", tt.ref, p.Ref)
		}
	}
}

func TestCheckAcross(t *testing.T) {
	other := replaceOnce(replaceOnce(seed, `"ncp-lb"`, `"other"`), `"192.168.200.102"`, `"192.168.200.103"`)
	res := compileSrc(t, map[string]string{"a.cue": seed, "b.cue": other}, Options{})
	got := errorLines(res.Diags)
	wantVRID := `clusters.other.vrrp.VI_1.virtual_router_id: virtual_router_id 51 is also used by cluster ncp-lb (instance VI_1) on the same segment 192.168.200.0/24 eth1: give each cluster on a segment its own VRIDs`
	if diff := cmp.Diff([]string{wantVRID}, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	// Same VIP in two clusters, different segments and VRIDs, one machine with other addresses.
	third := replaceOnce(replaceOnce(replaceOnce(seed, `"ncp-lb"`, `"third"`), `virtual_router_id: 51`, `virtual_router_id: 52`), `"192.168.200.12"`, `"192.168.200.13"`)
	res = compileSrc(t, map[string]string{"a.cue": seed, "c.cue": third}, Options{})
	if diff := cmp.Diff([]string{
		`clusters.third.nodes.lb2: ssh host lb2.example.net is node lb2 of cluster ncp-lb with addresses [192.168.200.12], but here has addresses [192.168.200.13]: one machine must have the same addresses in every cluster`,
		`clusters.third.vrrp.VI_1.vips: VIP 192.168.200.102 is also used by cluster ncp-lb (instance VI_1): a VIP belongs to one cluster`,
	}, errorLines(res.Diags), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func replaceOnce(s, old, new string) string {
	return strings.Replace(s, old, new, 1)
}

// TestUnresolvedSecret: a secret reference that does not resolve is an
// error naming the variable or file when the secrets are needed (build,
// plan, apply, vet --secrets) and a warning otherwise; no cluster with an
// empty password comes out of an error.
func TestUnresolvedSecret(t *testing.T) {
	opt := func(secrets bool) Options {
		return Options{
			Secrets:   secrets,
			LookupEnv: func(k string) (string, bool) { return "", k == "EMPTY" },
			ReadFile:  func(name string) ([]byte, error) { return nil, os.ErrNotExist },
		}
	}
	for _, tt := range []struct {
		ref     string
		secrets bool
		want    Severity
		msg     string
	}{
		{`{env: "NCP_LB_PASS"}`, true, Error, "environment variable NCP_LB_PASS is not set: hac build needs it for the password (set it and run again)"},
		{`{env: "EMPTY"}`, true, Error, "environment variable EMPTY is not set: hac build needs it for the password (set it and run again)"},
		{`{file: "/run/secrets/ncp"}`, true, Error, "password file /run/secrets/ncp cannot be read (file does not exist): hac build needs it (set it and run again)"},
		{`{env: "NCP_LB_PASS"}`, false, Warning, "environment variable NCP_LB_PASS is not set: hac build needs it for the password (hac vet --secrets makes this an error)"},
		{`{file: "/run/secrets/ncp"}`, false, Warning, "password file /run/secrets/ncp cannot be read (file does not exist): hac build needs it (hac vet --secrets makes this an error)"},
	} {
		res := compileSrc(t, map[string]string{"c.cue": replaceOnce(seed, `"pass1234"`, tt.ref)}, opt(tt.secrets))
		var got []Diagnostic
		for _, d := range res.Diags {
			if strings.HasSuffix(d.Path, ".auth.pass") {
				got = append(got, d)
			}
		}
		if len(got) != 1 || got[0].Severity != tt.want || got[0].Msg != tt.msg {
			t.Errorf("%s (secrets %v): pass diagnostics %+v, want one %v %q", tt.ref, tt.secrets, got, tt.want, tt.msg)
		}
		if tt.want == Error && len(res.Clusters) != 0 {
			t.Errorf("%s: a cluster came out of an unresolved secret", tt.ref)
		}
	}
}
