package compiler

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// seed is the seed cluster; each rule case edits it with replacements.
const seed = `clusters: "ncp-lb": {
	network: {interface: "eth1", subnet: "192.168.200.0/24"}
	nodes: {
		lb1: {address: "192.168.200.11", ssh: {host: "lb1.example.net"}}
		lb2: {address: "192.168.200.12", ssh: {host: "lb2.example.net"}}
	}
	vrrp: VI_1: {
		virtual_router_id: 51
		priority: {lb1: 200, lb2: 100}
		advert_int: "1s"
		auth: {type: "PASS", pass: "pass1234"}
		vips: ["192.168.200.102"]
	}
	render: network: "ifupdown"
}
`

// compileSrc writes files into a temporary directory and compiles it.
func compileSrc(t *testing.T, files map[string]string, opt Options) *Result {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Compile([]string{dir}, opt)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return res
}

// errorLines returns "path: message" for each error (not warning).
func errorLines(ds Diagnostics) []string {
	var out []string
	for _, d := range ds {
		if d.Severity == Error {
			out = append(out, d.Path+": "+d.Msg)
		}
	}
	return out
}

const vi = `clusters."ncp-lb".vrrp.VI_1.`

// syncVI2 is a second instance on the seed's nodes, for sync groups.
const syncVI2 = `	vrrp: VI_2: {virtual_router_id: 52, priority: {lb1: 200, lb2: 100}, vips: ["192.168.200.103"]}`

func TestRules(t *testing.T) {
	noEnv := Options{LookupEnv: func(string) (string, bool) { return "", false }}
	tests := []struct {
		name string
		edit []string // old, new, old, new...
		want []string
	}{
		{"valid seed", nil, nil},
		{"ssh become sudo", []string{`ssh: {host: "lb1.example.net"}`, `ssh: {host: "lb1.example.net", user: "admin", become: "sudo"}`}, nil},
		{"ssh become unknown", []string{`ssh: {host: "lb1.example.net"}`, `ssh: {host: "lb1.example.net", user: "admin", become: "doas"}`},
			[]string{`clusters."ncp-lb".nodes.lb1.ssh.become: "doas" is not allowed: must be "sudo"`}},
		{"metrics address", []string{`render: network: "ifupdown"`, `render: network: "ifupdown"
	agent: metrics: "127.0.0.1:9650"`}, nil},
		{"metrics on one node's address", []string{`render: network: "ifupdown"`, `render: network: "ifupdown"
	agent: metrics: "192.168.200.11:9650"`},
			[]string{`clusters."ncp-lb".agent.metrics: "192.168.200.11:9650": every node of the cluster listens on it, and 192.168.200.11 is not an address every node has: use "127.0.0.1:9650" (scraped on the node) or "0.0.0.0:9650" (every address)`}},
		{"metrics host name", []string{`render: network: "ifupdown"`, `render: network: "ifupdown"
	agent: metrics: "localhost:9650"`},
			[]string{`clusters."ncp-lb".agent.metrics: "localhost:9650": "localhost" is not a unicast IP address (host names are not resolved): write e.g. "127.0.0.1:9650"`}},
		{"vrid range", []string{"virtual_router_id: 51", "virtual_router_id: 256"},
			[]string{vi + "virtual_router_id: 256 is out of range: must be 1..255"}},
		{"unknown renderer", []string{`render: network: "ifupdown"`, `render: network: "ifupdwn"`},
			[]string{`clusters."ncp-lb".render.network: "ifupdwn" is not allowed: must be "netplan" or "ifupdown" or "none"`}},
		{"unknown renderer on a node", []string{`lb2: {address`, `lb2: {render: "nm", address`},
			[]string{`clusters."ncp-lb".nodes.lb2.render: "nm" is not allowed: must be "netplan" or "ifupdown" or "none"`}},
		{"priority range", []string{"lb2: 100}", "lb2: 0}"},
			[]string{vi + "priority.lb2: 0 is out of range: must be 1..255"}},
		// The owner rule (package election): no hac node owns a VIP, so
		// 255 is refused with the reason, also where a VIP is a node's
		// address (two errors, one rule each).
		{"priority 255 is the owner's", []string{"lb1: 200,", "lb1: 255,"},
			[]string{vi + "priority.lb1: priority 255 is the address owner's (RFC 5798 section 6.1: the router whose own interface address is the VIP); in hac a VIP is never a node's address, so no node owns it: use 1..254"}},
		{"priority 255 with the VIP on the node", []string{"lb1: 200,", "lb1: 255,", `vips: ["192.168.200.102"]`, `vips: [{address: "192.168.200.11/24", device: "lo"}]`},
			[]string{vi + "priority.lb1: priority 255 is the address owner's (RFC 5798 section 6.1: the router whose own interface address is the VIP); in hac a VIP is never a node's address, so no node owns it: use 1..254",
				vi + `vips[0].address: VIP 192.168.200.11 is the address of node lb1: a VIP must be an address no node has`}},
		{"equal priorities", []string{"lb2: 100}", "lb2: 200}"},
			[]string{vi + "priority.lb2: nodes lb1 and lb2 have the same priority 200: give each node its own priority"}},
		{"declared master not highest", []string{"advert_int:", `master: "lb2", advert_int:`},
			[]string{vi + "priority.lb2: master is lb2 but lb1 has a higher priority (200 > 100): give lb2 the highest priority"}},
		{"priority of unknown node", []string{"lb2: 100}", "lb2: 100, lb9: 50}"},
			[]string{vi + "priority.lb9: node lb9 is not in this cluster: nodes are lb1, lb2"}},
		{"pass too long", []string{`"pass1234"`, `"pass12345"`},
			[]string{vi + "auth.pass: the password is 9 bytes long: PASS allows at most 8 (keepalived would silently cut it)"}},
		{"auth with v3", []string{"advert_int:", "version: 3, advert_int:"},
			[]string{vi + "auth: auth is not allowed with VRRPv3 (RFC 5798 removed it): remove auth or use version: 2"}},
		{"advert_int v2 fraction", []string{`"1s"`, `"1500ms"`},
			[]string{vi + `advert_int: advert_int "1500ms" is not valid for VRRPv2: must be whole seconds from 1s to 255s (or use version: 3)`}},
		{"advert_int v2 too long", []string{`"1s"`, `"256s"`},
			[]string{vi + `advert_int: advert_int "256s" is not valid for VRRPv2: must be whole seconds from 1s to 255s (or use version: 3)`}},
		{"advert_int v3 step", []string{`advert_int: "1s"`, `version: 3, advert_int: "15ms"`, "auth: {type: \"PASS\", pass: \"pass1234\"}", ""},
			[]string{vi + `advert_int: advert_int "15ms" is not valid for VRRPv3: must be in 10ms steps from 10ms to 40.95s`}},
		{"advert_int v3 too long", []string{`advert_int: "1s"`, `version: 3, advert_int: "41s"`, "auth: {type: \"PASS\", pass: \"pass1234\"}", ""},
			[]string{vi + `advert_int: advert_int "41s" is not valid for VRRPv3: must be in 10ms steps from 10ms to 40.95s`}},
		{"node addresses unique", []string{`"192.168.200.12"`, `"192.168.200.11"`},
			[]string{`clusters."ncp-lb".nodes.lb2.address: address 192.168.200.11 is already the address of another node`}},
		{"node address outside subnet", []string{`"192.168.200.12"`, `"192.168.201.12"`},
			[]string{`clusters."ncp-lb".nodes.lb2.address: address 192.168.201.12 is outside the subnet 192.168.200.0/24`}},
		{"vip does not parse", []string{`"192.168.200.102"`, `"192.168.200.300"`},
			[]string{vi + `vips[0]: "192.168.200.300" is not an IP address`}},
		{"vip is a node address", []string{`"192.168.200.102"`, `"192.168.200.12"`},
			[]string{vi + `vips[0]: VIP 192.168.200.12 is the address of node lb2: a VIP must be an address no node has`}},
		{"vip is the network address", []string{`"192.168.200.102"`, `"192.168.200.0"`},
			[]string{vi + `vips[0]: VIP 192.168.200.0 is the network address of 192.168.200.0/24`}},
		{"vip is the broadcast address", []string{`"192.168.200.102"`, `"192.168.200.255/24"`},
			[]string{vi + `vips[0]: VIP 192.168.200.255 is the broadcast address of 192.168.200.0/24`}},
		{"vip outside subnet", []string{`"192.168.200.102"`, `"10.1.1.1"`},
			[]string{vi + `vips[0]: VIP 10.1.1.1 is outside the network's subnets [192.168.200.0/24]: use an address inside, or {address: "10.1.1.1", device: "ethX"} for another device`}},
		{"vip outside subnet on another device", []string{`"192.168.200.102"`, `{address: "10.1.1.1/24", device: "eth2"}`}, nil},
		{"vip unique across instances", []string{"\trender:", `	vrrp: VI_2: {virtual_router_id: 52, priority: {lb1: 200, lb2: 100}, vips: ["192.168.200.102"]}
	render:`},
			[]string{`clusters."ncp-lb".vrrp.VI_2.vips[0]: VIP 192.168.200.102 is already used by another instance`}},
		{"ipv6 vip needs v3", []string{`"192.168.200.102"`, `"2001:db8::102"`, `subnet: "192.168.200.0/24"`, `subnet: "192.168.200.0/24", subnet6: "2001:db8::/64"`},
			[]string{vi + `priority.lb1: node lb1 has no IPv6 address for this instance: add address6`,
				vi + `priority.lb2: node lb2 has no IPv6 address for this instance: add address6`,
				vi + `vips[0]: IPv6 VIP 2001:db8::102 needs VRRPv3: add version: 3`}},
		{"one family per instance", []string{`"192.168.200.102"`, `"192.168.200.102", "2001:db8::102"`},
			[]string{vi + `vips[1]: VIP 2001:db8::102 is IPv6 but the instance's first VIP is IPv4: put each family in its own instance`}},
		{"vrid unique per interface", []string{"\trender:", `	vrrp: VI_2: {virtual_router_id: 51, priority: {lb1: 200, lb2: 100}, vips: ["192.168.200.103"]}
	render:`},
			[]string{`clusters."ncp-lb".vrrp.VI_2.virtual_router_id: virtual_router_id 51 is already used by instance VI_1 on eth1 of node lb1: give each instance its own`}},
		{"interface name too long", []string{`interface: "eth1"`, `interface: "eth1234567890abcd"`},
			[]string{`clusters."ncp-lb".network.interface: interface name "eth1234567890abcd" is 17 bytes long: Linux allows at most 15`}},
		{"interface name with slash", []string{`interface: "eth1"`, `interface: "eth/1"`},
			[]string{`clusters."ncp-lb".network.interface: interface name "eth/1" must not contain '/', ':' or whitespace`}},
		{"interface name dot", []string{`interface: "eth1"`, `interface: ".."`},
			[]string{`clusters."ncp-lb".network.interface: interface name ".." is not allowed`}},
		{"failover weight too small", []string{`vips: [`, `checks: web: {command: ["true"], weight: -50}, vips: [`},
			[]string{vi + `checks.web.weight: if check web fails on master lb1, lb1 stays master (lb1 150, lb2 100): the weight -50 is smaller than the priority gap; make it larger`}},
		{"failover tie", []string{`vips: [`, `track_interfaces: [{interface: "eth0", weight: -100}], vips: [`},
			[]string{vi + `track_interfaces[0].weight: if track_interface eth0 fails on lb1, nodes tie for master (lb1 100, lb2 100): change the weight or the priorities so that one node is highest`}},
		{"failover possible", []string{`vips: [`, `checks: web: {command: ["true"], weight: 101}, vips: [`}, nil},
		{"unknown field", []string{"advert_int:", `advert_interval: "1s", advert_int:`},
			[]string{vi + "advert_interval: unknown field advert_interval: allowed fields are virtual_router_id, version, advert_int, priority, master, preempt, preempt_delay, auth, vips, transport, garp, track_interfaces, checks, notify"}},
		{"missing field", []string{`virtual_router_id: 51`, ``},
			[]string{vi + "virtual_router_id: required field is missing: 1..255"}},
		// The agent refuses an empty program at start: vet says it first.
		{"notify with an empty program", []string{`vips: [`, `notify: master: ["", "x"], vips: [`},
			[]string{vi + `notify.master[0]: the command's program is empty`}},
		{"generic notify with an empty program", []string{`vips: [`, `notify: all: [""], vips: [`},
			[]string{vi + `notify.all[0]: the command's program is empty`}},
		{"sync group", []string{"\trender:", syncVI2 + `
	sync_groups: router: {instances: ["VI_1", "VI_2"], notify: all: ["/usr/local/bin/notify"]}
	render:`}, nil},
		{"sync group: unknown and repeated members", []string{"\trender:", syncVI2 + `
	sync_groups: router: instances: ["VI_1", "VI_9"]
	sync_groups: other: instances: ["VI_1", "VI_2"]
	render:`}, []string{
			`clusters."ncp-lb".sync_groups.router.instances[0]: instance VI_1 is already in a sync group: an instance is in one sync group at most`,
			`clusters."ncp-lb".sync_groups.router.instances[1]: instance VI_9 is not in this cluster: instances are VI_1, VI_2`}},
		{"sync group: other nodes and transport", []string{"\trender:", `	nodes: lb3: {address: "192.168.200.13", ssh: {host: "lb3"}}
	vrrp: VI_2: {virtual_router_id: 52, priority: {lb1: 200, lb2: 100, lb3: 50}, vips: ["192.168.200.103"], transport: "multicast"}
	sync_groups: router: instances: ["VI_1", "VI_2"]
	render:`}, []string{
			`clusters."ncp-lb".sync_groups.router.instances[1]: instance VI_2 is multicast but VI_1 is unicast: the members of a sync group use one transport`,
			`clusters."ncp-lb".sync_groups.router.instances[1]: instance VI_2 runs on lb1, lb2, lb3 but VI_1 on lb1, lb2: the members of a sync group run on the same nodes`}},
		{"sync group: members with other masters", []string{"\trender:", `	vrrp: VI_2: {virtual_router_id: 52, priority: {lb1: 100, lb2: 200}, vips: ["192.168.200.103"]}
	sync_groups: router: instances: ["VI_1", "VI_2"]
	render:`}, []string{
			`clusters."ncp-lb".sync_groups.router.instances[1]: instance VI_2 orders its nodes lb2 > lb1 by priority but VI_1 lb1 > lb2: the group has one master node, so one of these orders could never hold: give the members the same order`}},
		{"sync group: weighted member", []string{"\trender:", syncVI2 + `
	sync_groups: router: instances: ["VI_1", "VI_2"]
	render:`, `vips: [`, `checks: web: {command: ["true"], weight: -150}, vips: [`}, []string{
			vi + `checks.web.weight: instance VI_1 is in sync group router, which moves on faults, not on priorities (keepalived ignores the weight there): use weight 0 (the group goes to fault while the check fails)`}},
		{"pass from unset env is only a warning", []string{`"pass1234"`, `{env: "NOPE"}`}, nil},
		// What keepalived.conf cannot carry is refused by vet, with a
		// position (it used to pass vet and fail inside the renderer).
		{"keepalived: one check name, two definitions", []string{`render: network: "ifupdown"`, `render: {network: "ifupdown", keepalived: true}
	vrrp: VI_2: {virtual_router_id: 52, priority: {lb1: 100, lb2: 200}, vips: ["192.168.200.103"], checks: web: {command: ["/bin/true"], weight: -150}}`,
			`vips: [`, `checks: web: {command: ["/bin/true"], weight: -150, interval: "1s"}, vips: [`},
			[]string{`clusters."ncp-lb".vrrp.VI_2.checks.web: check web differs from the check of that name in instance VI_1, and keepalived.conf has one vrrp_script per name on a node: rename one of them, or make them the same`}},
		{"keepalived: one check name, one definition", []string{`render: network: "ifupdown"`, `render: {network: "ifupdown", keepalived: true}
	vrrp: VI_2: {virtual_router_id: 52, priority: {lb1: 100, lb2: 200}, vips: ["192.168.200.103"], checks: web: {command: ["/bin/true"], weight: -150}}`,
			`vips: [`, `checks: web: {command: ["/bin/true"], weight: -150}, vips: [`}, nil},
		{"agent: one check name, two definitions", []string{`render: network: "ifupdown"`, `render: network: "ifupdown"
	vrrp: VI_2: {virtual_router_id: 52, priority: {lb1: 100, lb2: 200}, vips: ["192.168.200.103"], checks: web: {command: ["/bin/true"], weight: -150}}`,
			`vips: [`, `checks: web: {command: ["/bin/true"], weight: -150, interval: "1s"}, vips: [`}, nil},
		{"keepalived: fractional check interval", []string{`render: network: "ifupdown"`, `render: {network: "ifupdown", keepalived: true}`,
			`vips: [`, `checks: web: {command: ["/bin/true"], weight: -150, interval: "1500ms"}, vips: [`},
			[]string{vi + `checks.web.interval: interval 1.5s: keepalived takes whole seconds here`}},
		{"keepalived: check argument with a quote", []string{`render: network: "ifupdown"`, `render: {network: "ifupdown", keepalived: true}`,
			`vips: [`, `checks: web: {command: ["/bin/echo", "it's"], weight: -150}, vips: [`},
			[]string{vi + `checks.web.command: argument "it's": keepalived cannot carry empty arguments, quotes, backslashes, '#', '!', braces or control characters: move the command into a script`}},
		{"keepalived: tracks its own interface", []string{`render: network: "ifupdown"`, `render: {network: "ifupdown", keepalived: true}`,
			`vips: [`, `track_interfaces: [{interface: "eth1"}], vips: [`},
			[]string{vi + `track_interfaces[0].interface: keepalived always tracks the instance's own interface eth1 (fault while down, on node lb1) and refuses it in track_interface: remove it`}},
		{"keepalived: pass with a space", []string{`render: network: "ifupdown"`, `render: {network: "ifupdown", keepalived: true}`, `"pass1234"`, `"pass 123"`},
			[]string{vi + `auth.pass: the auth pass holds a space, quote, backslash, '#', '!', brace or control character, which keepalived.conf cannot carry: choose another pass`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := seed
			for i := 0; i+1 < len(tt.edit); i += 2 {
				if !strings.Contains(src, tt.edit[i]) {
					t.Fatalf("edit %q not found in the seed", tt.edit[i])
				}
				src = strings.Replace(src, tt.edit[i], tt.edit[i+1], 1)
			}
			res := compileSrc(t, map[string]string{"c.cue": src}, noEnv)
			if diff := cmp.Diff(tt.want, errorLines(res.Diags)); diff != "" {
				t.Errorf("errors (-want +got):\n%s\nsource:\n%s", diff, src)
			}
			if (len(tt.want) == 0) != (len(res.Clusters) == 1) {
				t.Errorf("got %d valid clusters with %d errors", len(res.Clusters), len(tt.want))
			}
			for _, d := range res.Diags {
				if d.Pos.File == "" || d.Pos.Line == 0 {
					t.Errorf("no position: %s: %s", d.Path, d.Msg)
				}
				if strings.Contains(d.Msg, "pass1234") {
					t.Errorf("a message holds the password: %s", d.Msg)
				}
			}
		})
	}
}
