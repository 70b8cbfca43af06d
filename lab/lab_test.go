package lab

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/internal/netns"
	"github.com/hac-project/hac/model"
)

func TestClientAddrs(t *testing.T) {
	pfx := netip.MustParsePrefix
	addr := netip.MustParseAddr
	tests := []struct {
		name    string
		subnets []netip.Prefix
		used    []netip.Addr
		want    []netip.Prefix
		wantErr string
	}{
		{"v4 top host", []netip.Prefix{pfx("192.168.200.0/24")}, []netip.Addr{addr("192.168.200.11")}, []netip.Prefix{pfx("192.168.200.254/24")}, ""},
		{"skips used", []netip.Prefix{pfx("10.20.0.0/24")}, []netip.Addr{addr("10.20.0.254"), addr("10.20.0.253")}, []netip.Prefix{pfx("10.20.0.252/24")}, ""},
		{"v4 and v6", []netip.Prefix{pfx("198.18.0.0/24"), pfx("2001:db8:210::/64")}, nil,
			[]netip.Prefix{pfx("198.18.0.254/24"), pfx("2001:db8:210::ffff:ffff:ffff:ffff/64")}, ""},
		{"odd bits", []netip.Prefix{pfx("198.18.0.0/28")}, nil, []netip.Prefix{pfx("198.18.0.14/28")}, ""},
		{"full", []netip.Prefix{pfx("198.18.0.0/30")}, []netip.Addr{addr("198.18.0.1"), addr("198.18.0.2")}, nil, "no free address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clientAddrs(tt.subnets, tt.used)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("clientAddrs() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("clientAddrs() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStandIns(t *testing.T) {
	cfg := &config.Config{Instances: []config.Instance{
		{Name: "web", Checks: []config.Check{
			{Name: "nginx", Command: []string{"true", "x"}},
			{Name: "haproxy", Command: []string{"true", "y"}},
			{Name: "disk", Command: []string{"false"}},
		}, Notify: &config.Notify{Master: []string{"false", "master"}, Backup: []string{"/nonexistent/notify"}, All: []string{"echo"}}},
	}, SyncGroups: []config.SyncGroup{{Name: "g", Instances: []string{"web"}, Notify: &config.Notify{All: []string{"sleep"}}}}}
	progs, err := standIns(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tru, _ := resolve("true")
	fls, _ := resolve("false")
	echo, _ := resolve("echo")
	slp, _ := resolve("sleep")
	// The generic notify and the sync group's commands are stood in for
	// too: the cluster's commands never run on this machine.
	want := map[string][]string{tru: {"nginx", "haproxy"}, fls: {"disk"}, echo: nil, slp: nil}
	if diff := cmp.Diff(want, progs); diff != "" {
		t.Errorf("standIns (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]bool{tru: true}, failing(progs, []string{"haproxy"})); diff != "" {
		t.Errorf("failing(haproxy) (-want +got):\n%s", diff)
	}

	cfg.Instances[0].Checks = append(cfg.Instances[0].Checks, config.Check{Name: "custom", Command: []string{"/nonexistent/check"}})
	if _, err := standIns(cfg); err == nil || !strings.Contains(err.Error(), "check custom of web runs /nonexistent/check, which is not on this machine") {
		t.Errorf("standIns with a missing check program: %v", err)
	}
}

func TestPlanRefuses(t *testing.T) {
	a := netip.MustParseAddr
	cluster := func(edit func(*model.Cluster)) *model.Cluster {
		c := &model.Cluster{Name: "c", Network: model.Network{Interface: "eth1", Subnets: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/24")}},
			Nodes:     []*model.Node{{Name: "lb1", Interface: "eth1", Addresses: []netip.Addr{a("198.18.0.11")}}},
			Instances: []*model.Instance{{Name: "VI_1", VIPs: []model.VIP{{Prefix: netip.MustParsePrefix("198.18.0.200/32")}}}}}
		edit(c)
		return c
	}
	agent := []byte(`{"format": 1, "cluster": "c", "node": "lb1", "status_socket": "/run/hac/agent.sock", "instances": []}`)
	tests := []struct {
		name string
		sp   Spec
		want string
	}{
		{"keepalived", Spec{Root: "/run/x", Cluster: cluster(func(c *model.Cluster) { c.Keepalived = true }), Agents: map[string][]byte{"lb1": agent}},
			"renders keepalived.conf"},
		{"VIP on another device", Spec{Root: "/run/x", Cluster: cluster(func(c *model.Cluster) { c.Instances[0].VIPs[0].Device = "eth2" }), Agents: map[string][]byte{"lb1": agent}},
			"VIP 198.18.0.200 goes on device eth2"},
		{"no agent.json", Spec{Root: "/run/x", Cluster: cluster(func(*model.Cluster) {})}, "node lb1 of c has no agent.json"},
		{"relative root", Spec{Root: "run/x", Cluster: cluster(func(*model.Cluster) {}), Agents: map[string][]byte{"lb1": agent}}, "use an absolute folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Plan(tt.sp)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Plan() error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	s, err := Plan(Spec{Root: "/run/hac-lab", Cluster: cluster(func(c *model.Cluster) { c.Network.MTU = 1400 }), Agents: map[string][]byte{"lb1": agent}})
	if err != nil {
		t.Fatal(err)
	}
	wantNodes := []netns.Host{{Name: "lb1", Iface: "eth1", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.11/24")}, MTU: 1400}}
	if diff := cmp.Diff(wantNodes, s.Layout.Nodes, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("layout nodes (-want +got):\n%s", diff)
	}
	if got, want := s.Layout.Client.Addrs, []netip.Prefix{netip.MustParsePrefix("198.18.0.254/24")}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("client addresses = %v, want %v", got, want)
	}
	if diff := cmp.Diff([]string{"hac-lab@c", "hac-lab-lb1", "hac-lab@br"}, s.Layout.Namespaces()); diff != "" {
		t.Errorf("namespaces (-want +got):\n%s", diff)
	}
}

func TestOurs(t *testing.T) {
	const root = "/run/hac-lab"
	tests := []struct {
		argv []string
		want bool
	}{
		{[]string{"/usr/bin/hac", "lab", "exec-node", "--root", root, "lb1"}, true},
		{[]string{"ip", "netns", "exec", "hac-lab-lb1", "/usr/bin/hac", "lab", "exec-node", "--root", root, "lb1"}, true},
		{[]string{"/usr/bin/hac", "lab", "probe", "--root", root}, true},
		{[]string{"/usr/bin/hac", "agent", "--config", root + "/nodes/lb1/agent.json", "--status-socket", root + "/nodes/lb1/agent.sock"}, true},
		{[]string{"/usr/bin/hac", "lab", "watch", "--root", root}, false},                       // the user's
		{[]string{"/usr/bin/hac", "lab", "exec-node", "--root", root + "-other", "lb1"}, false}, // another lab
		{[]string{"/usr/bin/hac", "agent", "--config", "/etc/hac/agent.json"}, false},           // a real agent
		{[]string{"/usr/bin/hac", "agent", "--config", root + "-x/nodes/lb1/agent.json"}, false},
		{[]string{"ip", "netns", "add", "hac-lab-lb1"}, true},
		{[]string{"/usr/sbin/ip", "-n", "hac-lab@br", "link", "add", "p0", "type", "veth"}, true},
		{[]string{"ip", "netns", "add", "hac-lab-lb1x"}, false},
		{[]string{"ping", "hac-lab-lb1"}, false},
	}
	for _, tt := range tests {
		if got := ours(tt.argv, root, []string{"hac-lab@c", "hac-lab-lb1", "hac-lab@br"}); got != tt.want {
			t.Errorf("ours(%q) = %v, want %v", tt.argv, got, tt.want)
		}
	}
}
