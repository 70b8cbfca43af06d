package keepalived

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// load parses and decodes NODE=FILE pairs of testdata files, failing on
// any problem.
func load(t *testing.T, pairs ...string) []NodeConfig {
	t.Helper()
	var out []NodeConfig
	for _, p := range pairs {
		node, file, _ := strings.Cut(p, "=")
		out = append(out, NodeConfig{Node: node, Config: decodeFile(t, filepath.Join("testdata", file))})
	}
	return out
}

func decodeFile(t *testing.T, name string) *Config {
	t.Helper()
	src, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return decodeSrc(t, name, string(src))
}

func decodeSrc(t *testing.T, name, src string) *Config {
	t.Helper()
	f, err := Parse(name, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c, probs := Decode(f)
	if probs.Errors() > 0 {
		t.Fatalf("Decode(%s): %v", name, probs)
	}
	return c
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// SeedOptions are the facts the seed's keepalived.conf files do not hold.
var seedOptions = Options{
	Cluster: "ncp-lb",
	Addresses: map[string]netip.Addr{
		"lb1": netip.MustParseAddr("192.168.200.11"),
		"lb2": netip.MustParseAddr("192.168.200.12"),
	},
	Subnets: []netip.Prefix{netip.MustParsePrefix("192.168.200.0/24")},
}

func TestImportGolden(t *testing.T) {
	tests := []struct {
		name   string
		nodes  []string
		opt    Options
		golden string
		warns  int
		edit   func([]NodeConfig) // changes to the decoded files, if any
	}{
		{"seed", []string{"lb1=seed-master.conf", "lb2=seed-backup.conf"}, seedOptions, "seed.cue", 0, nil},
		{"seed with the pass in the environment", []string{"lb1=seed-master.conf", "lb2=seed-backup.conf"},
			func() Options { o := seedOptions; o.PassEnv = "NCP_LB_PASS"; return o }(), "seed-env.cue", 0, nil},
		{"trio unicast", []string{"n1=trio-n1.conf", "n2=trio-n2.conf", "n3=trio-n3.conf"}, Options{Cluster: "trio"}, "trio.cue", 0, nil},
		{"router: sync group and generic notify", []string{"r1=router-r1.conf", "r2=router-r2.conf"}, Options{Cluster: "gw"}, "router.cue", 0, nil},
		// What the import leaves out is said in comments: at the top (the
		// header hac import writes, with what --ignore-unsupported left
		// out) and next to the field concerned.
		{"comments", []string{"lb1=seed-master.conf", "lb2=seed-backup.conf"},
			func() Options {
				o := seedOptions
				o.Header = "Imported by hac import keepalived from lb1=m.conf, lb2=b.conf.\nLeft out by --ignore-unsupported (hac cannot carry them):\n- virtual_server (b.conf:17:1)"
				return o
			}(), "comments.cue", 1, func(nodes []NodeConfig) {
				for _, n := range nodes {
					n.Config.Instances[0].AdvertInt = 1500 * time.Millisecond
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := load(t, tt.nodes...)
			if tt.edit != nil {
				tt.edit(nodes)
			}
			src, probs := Import(nodes, tt.opt)
			if probs.Errors() > 0 || len(probs) != tt.warns {
				t.Fatalf("Import: %d problems, want %d warnings:\n%v", len(probs), tt.warns, probs)
			}
			golden(t, tt.golden, src)
		})
	}
}

func TestImportInconsistencies(t *testing.T) {
	master, err := os.ReadFile("testdata/seed-master.conf")
	if err != nil {
		t.Fatal(err)
	}
	backup, err := os.ReadFile("testdata/seed-backup.conf")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		replace [2]string // in the backup's file
		opt     func(*Options)
		want    []string // substrings of the error problems, in order
	}{
		{name: "vrid", replace: [2]string{"virtual_router_id 51", "virtual_router_id 52"},
			want: []string{"b.conf:6:5: instance VI_1: virtual_router_id differs between nodes: lb2 has 52, lb1 has 51; make the files agree\n\tm.conf:6:5"}},
		{name: "auth pass", replace: [2]string{"auth_pass pass1234", "auth_pass pass9999"},
			want: []string{"b.conf:11:9: instance VI_1: auth_pass differs between nodes lb2 and lb1 (values not shown)"}},
		{name: "advert_int", replace: [2]string{"advert_int 1", "advert_int 2"},
			want: []string{"instance VI_1: advert_int differs between nodes: lb2 has 2s, lb1 has 1s"}},
		{name: "version", replace: [2]string{"advert_int 1", "advert_int 1\n    version 3"},
			want: []string{"instance VI_1: VRRP version differs between nodes: lb2 has 3, lb1 has 2", "auth_pass differs"}},
		{name: "equal priorities", replace: [2]string{"priority 100", "priority 200"},
			want: []string{"b.conf:7:5: instance VI_1: nodes lb1 and lb2 both have priority 200"}},
		{name: "VIP sets", replace: [2]string{"192.168.200.102", "192.168.200.102\n        192.168.200.103"},
			want: []string{"instance VI_1: virtual_ipaddress set differs between nodes: lb2 has [192.168.200.102 192.168.200.103], lb1 has [192.168.200.102]"}},
		{name: "nopreempt on one node", replace: [2]string{"priority 100", "priority 100\n    nopreempt"},
			want: []string{"instance VI_1: preemption"}},
		{name: "no address", opt: func(o *Options) { o.Addresses = nil },
			want: []string{"node lb1 has no address on the shared segment (its file has no unicast_src_ip): give --address lb1=IP", "node lb2 has no address"}},
		{name: "no subnet", opt: func(o *Options) { o.Subnets = nil },
			want: []string{"does not say the IPv4 subnet of the shared segment: give it with --subnet"}},
		{name: "unknown --address node", opt: func(o *Options) { o.Addresses = map[string]netip.Addr{"lb1": {}, "lb2": {}, "lb9": {}} },
			want: []string{"--address names node lb9"}},
		{name: "priority 255", replace: [2]string{"priority 100", "priority 255"},
			want: []string{"b.conf:7:5: instance VI_1: node lb2: priority 255 is the address owner's (RFC 5798 section 6.1"}},
		{name: "state MASTER without priority", replace: [2]string{"state BACKUP\n    interface eth1\n    virtual_router_id 51\n    priority 100", "state MASTER\n    interface eth1\n    virtual_router_id 51"},
			want: []string{"b.conf:4:5: instance VI_1: node lb2: priority 255 is the address owner's"}},
		{name: "no address and no subnet: every flag at once", opt: func(o *Options) { o.Addresses, o.Subnets = nil, nil },
			want: []string{"give --address lb1=IP", "give --address lb2=IP", "give it with --subnet"}},
		{name: "instance on one node", replace: [2]string{"VI_1", "VI_2"},
			want: []string{"instance VI_1 is only in node lb1's file", "instance VI_2 is only in node lb2's file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := string(backup)
			if tt.replace[0] != "" {
				b = strings.Replace(b, tt.replace[0], tt.replace[1], 1)
			}
			opt := seedOptions
			if tt.opt != nil {
				tt.opt(&opt)
			}
			if opt.Addresses != nil && !opt.Addresses["lb1"].IsValid() {
				opt.Addresses = map[string]netip.Addr{"lb9": netip.MustParseAddr("192.168.200.19")}
				for k, v := range seedOptions.Addresses {
					opt.Addresses[k] = v
				}
			}
			nodes := []NodeConfig{
				{"lb1", decodeSrc(t, "m.conf", string(master))},
				{"lb2", decodeSrc(t, "b.conf", b)},
			}
			src, probs := Import(nodes, opt)
			if src != nil {
				t.Errorf("Import returned CUE despite errors:\n%s", src)
			}
			var errs []string
			for _, p := range probs {
				if !p.Warning {
					errs = append(errs, p.String())
				}
			}
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(errs), len(tt.want), strings.Join(errs, "\n"))
			}
			for i, w := range tt.want {
				if !strings.Contains(errs[i], w) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i], w)
				}
			}
			for _, e := range errs {
				if strings.Contains(e, "pass1234") || strings.Contains(e, "pass9999") {
					t.Errorf("a problem shows the auth pass: %s", e)
				}
			}
		})
	}
}

// TestImportNopreemptDelay: keepalived ignores preempt_delay with
// nopreempt; the import leaves it out (it wrote both, which hac vet
// refuses as a setting that does nothing) and says so in a comment.
func TestImportNopreemptDelay(t *testing.T) {
	nodes := load(t, "lb1=seed-master.conf", "lb2=seed-backup.conf")
	for _, n := range nodes {
		for _, in := range n.Config.Instances {
			in.State, in.Nopreempt, in.PreemptDelay = "BACKUP", true, 30*time.Second
		}
	}
	src, probs := Import(nodes, seedOptions)
	if probs.Errors() > 0 {
		t.Fatalf("Import: %v", probs)
	}
	if !regexp.MustCompile(`preempt:\s+false`).Match(src) || strings.Contains(string(src), "preempt_delay:") {
		t.Errorf("want preempt: false and no preempt_delay:\n%s", src)
	}
	// The description says what was left out, next to the field.
	if want := "// keepalived.conf has preempt_delay 30, which keepalived ignores with nopreempt: not imported.\n\t\t\tpreempt: false"; !strings.Contains(string(src), want) {
		t.Errorf("want the comment %q:\n%s", want, src)
	}
}

func TestImportUnicastPeers(t *testing.T) {
	nodes := load(t, "n1=trio-n1.conf", "n2=trio-n2.conf", "n3=trio-n3.conf")
	in := nodes[2].Config.Instance("VI_db")
	in.UnicastPeers = in.UnicastPeers[:1]
	_, probs := Import(nodes, Options{Cluster: "trio"})
	var got []string
	for _, p := range probs {
		got = append(got, p.Msg)
	}
	want := []string{"instance VI_db: node n3's unicast_peer list [198.18.0.11] is not the other nodes' unicast_src_ip [198.18.0.11 198.18.0.12]: list exactly the other nodes"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// TestImportSyncGroupMismatch: a vrrp_sync_group must be the same on every
// node (members and notify commands) and declared on each.
func TestImportSyncGroupMismatch(t *testing.T) {
	r1, err := os.ReadFile("testdata/router-r1.conf")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := os.ReadFile("testdata/router-r2.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, old, new, want string
	}{
		{"members", "        VI_out\n    }", "    }", "r2.conf:9:5: vrrp_sync_group router: members differ between nodes: r2 has [VI_in], r1 has [VI_in VI_out]; make the files agree"},
		{"notify", `notify_master "/usr/local/bin/router-up"`, `notify_master "/usr/local/bin/other"`, "r2.conf:8:1: vrrp_sync_group router: notify commands differ between nodes r2 and r1; make the files agree"},
		{"missing", "vrrp_sync_group router", "vrrp_sync_group other", "r1.conf:1:1: node r1 has no vrrp_sync_group other, which another node has: declare it on every node"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := strings.Replace(string(r2), tt.old, tt.new, 1)
			nodes := []NodeConfig{{"r1", decodeSrc(t, "r1.conf", string(r1))}, {"r2", decodeSrc(t, "r2.conf", b)}}
			src, probs := Import(nodes, Options{Cluster: "gw"})
			if src != nil || probs.Errors() == 0 {
				t.Fatalf("Import: no error, want %q", tt.want)
			}
			var got []string
			for _, p := range probs {
				got = append(got, p.String())
			}
			if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, tt.want) }) {
				t.Errorf("problems:\n%s\nwant one starting %q", strings.Join(got, "\n"), tt.want)
			}
		})
	}
}

// TestImportNotes: what keepalived.conf holds and the import does not
// carry over is a warning and a comment next to the field concerned.
func TestImportNotes(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Instance)
		warning string
		comment string // with the line that follows it
	}{
		{"authentication in VRRPv3", func(in *Instance) { in.Version = 3 },
			"keepalived ignores authentication in VRRPv3: it is not imported",
			"// keepalived.conf has authentication, which keepalived ignores in VRRPv3: not imported.\n\t\t\tversion: 3\n"},
		{"VRRPv2 advert_int rounded", func(in *Instance) { in.AdvertInt = 2500 * time.Millisecond },
			"VRRPv2 advert_int 2.5 is rounded by keepalived to 3: imported as 3",
			"// keepalived.conf has advert_int 2.5, which keepalived rounds to 3 in VRRPv2.\n\t\t\tadvert_int: \"3s\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := load(t, "lb1=seed-master.conf", "lb2=seed-backup.conf")
			for _, n := range nodes {
				tt.edit(n.Config.Instances[0])
			}
			src, probs := Import(nodes, seedOptions)
			if probs.Errors() > 0 {
				t.Fatalf("Import: %v", probs)
			}
			if !slices.ContainsFunc(probs, func(p Problem) bool { return p.Warning && strings.Contains(p.Msg, tt.warning) }) {
				t.Errorf("warnings %v, want one with %q", probs, tt.warning)
			}
			if !strings.Contains(string(src), tt.comment) {
				t.Errorf("want the comment %q:\n%s", tt.comment, src)
			}
		})
	}
}
