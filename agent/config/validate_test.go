package config

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// valid is a configuration that uses every field.
func valid() *Config {
	return &Config{
		Format: FormatVersion, Cluster: "ncp-lb", Node: "lb1", StatusSocket: DefaultStatusSocket,
		Instances: []Instance{
			{
				Name: "VI_1", VRID: 51, Version: 2, Interface: "eth1", Priority: 200,
				AdvertInt: Duration(time.Second), Preempt: true, PreemptDelay: Duration(10 * time.Second),
				Auth:   &Auth{Type: "PASS", Pass: "pass1234"},
				Source: netip.MustParseAddr("198.18.0.11"), Unicast: true, Peers: []netip.Addr{netip.MustParseAddr("198.18.0.12")},
				VIPs:  []VIP{{Prefix: netip.MustParsePrefix("198.18.0.100/24")}, {Prefix: netip.MustParsePrefix("203.0.113.1/32"), Device: "eth2"}},
				GARP:  GARP{Repeat: 5, Delay: Duration(5 * time.Second), Refresh: Duration(time.Minute), RefreshRepeat: 1},
				Track: []Track{{Interface: "eth2", Weight: -50}},
				Checks: []Check{{Name: "web", Command: []string{"/usr/bin/curl", "-fs", "http://127.0.0.1/"},
					Interval: Duration(2 * time.Second), Timeout: Duration(time.Second), Rise: 2, Fall: 3, Weight: 20, User: "nobody"}},
				Notify: &Notify{Master: []string{"/usr/local/bin/notify", "master"}, Stop: []string{"/bin/true"}, All: []string{"/usr/local/bin/notify"}},
			},
			{
				Name: "VI_6", VRID: 51, Version: 3, Interface: "eth1", Priority: 255,
				AdvertInt: Duration(40950 * time.Millisecond),
				VIPs:      []VIP{{Prefix: netip.MustParsePrefix("fe80::51/64")}, {Prefix: netip.MustParsePrefix("2001:db8::51/64")}},
				GARP:      GARP{Repeat: 1},
				Track:     []Track{{Interface: "eth3", Weight: 0}},
			},
		},
		SyncGroups: []SyncGroup{{Name: "router", Instances: []string{"VI_6"}, Notify: &Notify{All: []string{"/usr/local/bin/notify"}}}},
	}
}

// problems returns Validate's problems as lines, nil when valid.
func problems(c *Config) []string {
	err := c.Validate()
	if err == nil {
		return nil
	}
	var out []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var p *Problem
		if !errors.As(e, &p) {
			out = append(out, "not a *Problem: "+e.Error())
			continue
		}
		out = append(out, p.Error())
	}
	return out
}

func TestValidate(t *testing.T) {
	addr := netip.MustParseAddr
	for _, tc := range []struct {
		name string
		mod  func(c *Config)
		want []string
	}{
		{"valid", func(*Config) {}, nil},
		{"v3 shortest interval", func(c *Config) { c.Instances[1].AdvertInt = Duration(10 * time.Millisecond) }, nil},
		{"no status socket means the default", func(c *Config) { c.StatusSocket = "" }, nil},
		{"format", func(c *Config) { c.Format = 2 }, []string{
			"format: 2, this hac reads format 1: rebuild agent.json with the same hac version (hac build)"}},
		{"names", func(c *Config) { c.Cluster, c.Node = "", "a\nb" }, []string{
			"cluster: empty: give it a name",
			`node: "a\nb" has control characters or invalid UTF-8: use printable characters`}},
		{"status socket", func(c *Config) { c.StatusSocket = "run/agent.sock" }, []string{
			`status_socket: "run/agent.sock" is not an absolute, clean file path: use e.g. "/run/hac/agent.sock"`}},
		{"status socket too long", func(c *Config) { c.StatusSocket = "/run/" + strings.Repeat("x", 110) }, []string{
			"status_socket: 115 bytes long: a unix socket path has at most 107: use a shorter one"}},
		{"metrics", func(c *Config) { c.Metrics = "127.0.0.1:9650" }, nil},
		{"metrics on every IPv6 address", func(c *Config) { c.Metrics = "[::]:9650" }, nil},
		{"metrics without a port", func(c *Config) { c.Metrics = "127.0.0.1" }, []string{
			`metrics: "127.0.0.1" is not IP:port: write e.g. "127.0.0.1:9650" or "[::1]:9650"`}},
		{"metrics port", func(c *Config) { c.Metrics = "127.0.0.1:70000" }, []string{
			`metrics: "127.0.0.1:70000": port "70000" is not a number 1..65535: write e.g. "127.0.0.1:9650"`}},
		{"metrics without an address", func(c *Config) { c.Metrics = ":9650" }, []string{
			`metrics: ":9650" has no address: write "127.0.0.1:9650" for this node only, or "0.0.0.0:9650" to listen on every address`}},
		{"metrics host name", func(c *Config) { c.Metrics = "localhost:9650" }, []string{
			`metrics: "localhost:9650": "localhost" is not a unicast IP address (host names are not resolved): write e.g. "127.0.0.1:9650"`}},
		{"no instances", func(c *Config) { c.Instances, c.SyncGroups = nil, nil }, []string{
			"instances: none: nothing to run; add at least one instance"}},
		{"vrid 0", func(c *Config) { c.Instances[0].VRID = 0 }, []string{
			"instances[0].vrid: 0 is out of range 1..255: use the cluster's virtual_router_id"}},
		{"priority 0", func(c *Config) { c.Instances[0].Priority = 0 }, []string{
			"instances[0].priority: 0 is out of range 1..255 (0 is what a stopping master sends): use 1..254, or 255 for the address owner"}},
		{"version", func(c *Config) { c.Instances[0].Version, c.Instances[0].Auth = 4, nil }, []string{
			"instances[0].version: 4: use 2 (RFC 3768) or 3 (RFC 5798)"}},
		{"v2 interval", func(c *Config) { c.Instances[0].AdvertInt = Duration(1500 * time.Millisecond) }, []string{
			"instances[0].advert_int: 1.5s is not valid for VRRPv2: use whole seconds from 1s to 255s (or VRRPv3)"}},
		{"v2 interval too long", func(c *Config) { c.Instances[0].AdvertInt = Duration(256 * time.Second) }, []string{
			"instances[0].advert_int: 4m16s is not valid for VRRPv2: use whole seconds from 1s to 255s (or VRRPv3)"}},
		{"v3 interval", func(c *Config) { c.Instances[1].AdvertInt = Duration(40960 * time.Millisecond) }, []string{
			"instances[1].advert_int: 40.96s is not valid for VRRPv3: use 10ms steps from 10ms to 40.95s"}},
		{"v3 interval 5ms", func(c *Config) { c.Instances[1].AdvertInt = Duration(5 * time.Millisecond) }, []string{
			"instances[1].advert_int: 5ms is not valid for VRRPv3: use 10ms steps from 10ms to 40.95s"}},
		{"preempt delay", func(c *Config) { c.Instances[0].PreemptDelay = Duration(-time.Second) }, []string{
			"instances[0].preempt_delay: -1s is out of range 0s..16m40s: keepalived's preempt_delay range"}},
		{"pass too long", func(c *Config) { c.Instances[0].Auth.Pass = strings.Repeat("s", 40) }, []string{
			"instances[0].auth.pass: 40 bytes long: PASS needs 1..8 (keepalived would silently cut a longer one; hac never does): use a pass of 1..8 bytes"}},
		{"pass empty", func(c *Config) { c.Instances[0].Auth.Pass = "" }, []string{
			"instances[0].auth.pass: 0 bytes long: PASS needs 1..8 (keepalived would silently cut a longer one; hac never does): use a pass of 1..8 bytes"}},
		{"auth type", func(c *Config) { c.Instances[0].Auth.Type = "AH" }, []string{
			`instances[0].auth.type: "AH": only "PASS" is supported`}},
		{"auth on v3", func(c *Config) { c.Instances[1].Auth = &Auth{Type: "PASS", Pass: "x"} }, []string{
			"instances[1].auth: authentication is VRRPv2 only (RFC 5798 removed it): remove auth or use version 2"}},
		{"interface", func(c *Config) { c.Instances[0].Interface = "a-very-long-interface" }, []string{
			`instances[0].interface: interface name "a-very-long-interface" is 21 bytes long: Linux allows at most 15`}},
		{"no VIPs", func(c *Config) { c.Instances[0].VIPs = nil }, []string{
			"instances[0].vips: none: add at least one virtual address"}},
		{"VIP families", func(c *Config) {
			c.Instances[0].VIPs = append(c.Instances[0].VIPs, VIP{Prefix: netip.MustParsePrefix("2001:db8::1/128")})
		}, []string{
			"instances[0].vips[2].prefix: 2001:db8::1 is IPv6 but the first VIP is IPv4: all VIPs of an instance are of one family"}},
		{"IPv6 with v2", func(c *Config) {
			c.Instances[1].Version, c.Instances[1].AdvertInt = 2, Duration(time.Second)
		}, []string{
			"instances[1].vips[0].prefix: fe80::51: VRRPv2 carries only IPv4: use version 3 for IPv6 VIPs",
			"instances[1].vips[1].prefix: 2001:db8::51: VRRPv2 carries only IPv4: use version 3 for IPv6 VIPs"}},
		{"VIP not unicast", func(c *Config) { c.Instances[0].VIPs[0].Prefix = netip.MustParsePrefix("224.0.0.18/32") }, []string{
			`instances[0].vips[0].prefix: "224.0.0.18/32" is not a unicast address with a prefix length: use e.g. "198.51.100.10/24"`}},
		{"VIP invalid", func(c *Config) { c.Instances[0].VIPs[0].Prefix = netip.Prefix{} }, []string{
			`instances[0].vips[0].prefix: "invalid Prefix" is not a unicast address with a prefix length: use e.g. "198.51.100.10/24"`}},
		{"VIP twice", func(c *Config) {
			c.Instances[0].VIPs[1].Prefix = netip.MustParsePrefix("198.18.0.100/32")
		}, []string{"instances[0].vips[1].prefix: 198.18.0.100 is also vips[0]: list each VIP once"}},
		{"VIP is the source", func(c *Config) { c.Instances[0].VIPs[0].Prefix = netip.MustParsePrefix("198.18.0.11/24") }, []string{
			"instances[0].vips[0].prefix: 198.18.0.11 is this node's own address (source): a VIP must be an address no node has"}},
		{"VIP is a peer", func(c *Config) { c.Instances[0].Peers[0] = addr("198.18.0.100") }, []string{
			"instances[0].peers[0]: 198.18.0.100 is a VIP of this instance: a VIP must be an address no node has"}},
		{"VIP in two instances", func(c *Config) { c.Instances[1].VIPs[1].Prefix = netip.MustParsePrefix("2001:db8::51/128") }, nil},
		{"VIP device", func(c *Config) { c.Instances[0].VIPs[1].Device = "eth/2" }, []string{
			`instances[0].vips[1].device: interface name "eth/2" must not contain '/', ':' or whitespace`}},
		{"too many VIPs", func(c *Config) {
			c.Instances[0].VIPs = nil
			for i := range 256 {
				c.Instances[0].VIPs = append(c.Instances[0].VIPs, VIP{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}), 32)})
			}
		}, []string{"instances[0].vips: 256: at most 255 fit in one advert; split the instance"}},
		{"source family", func(c *Config) { c.Instances[0].Source = addr("2001:db8::11") }, []string{
			"instances[0].source: 2001:db8::11 is IPv6 but the VIPs are IPv4: use the node's IPv4 address"}},
		{"source multicast", func(c *Config) { c.Instances[0].Source = addr("224.0.0.18") }, []string{
			"instances[0].source: 224.0.0.18 is not a unicast address of this node: use the node's address on eth1, or leave source out"}},
		{"IPv6 multicast source", func(c *Config) { c.Instances[1].Source = addr("2001:db8::11") }, []string{
			"instances[1].source: 2001:db8::11: IPv6 multicast adverts are sent from the interface's link-local address (RFC 5798 section 5.1.2.1): use an fe80:: address or leave source out"}},
		{"unicast without peers", func(c *Config) { c.Instances[0].Peers = nil }, []string{
			"instances[0].peers: none with unicast: list the other nodes' addresses, or set unicast to false"}},
		{"peers without unicast", func(c *Config) { c.Instances[0].Unicast = false }, []string{
			"instances[0].peers: only unicast sends to peers: remove them, or set unicast to true"}},
		{"peers", func(c *Config) {
			c.Instances[0].Peers = []netip.Addr{addr("198.18.0.11"), addr("2001:db8::12"), addr("0.0.0.0"), addr("198.18.0.13"), addr("198.18.0.13")}
		}, []string{
			"instances[0].peers[0]: 198.18.0.11 is this node's own address (source): list only the other nodes",
			"instances[0].peers[1]: 2001:db8::12 is IPv6 but the VIPs are IPv4: peers are of the VIPs' family",
			"instances[0].peers[2]: 0.0.0.0 is not a unicast address: list the other nodes' addresses",
			"instances[0].peers[4]: 198.18.0.13 is also peers[3]: list each peer once"}},
		{"garp", func(c *Config) { c.Instances[0].GARP = GARP{Repeat: 0, Delay: -1, Refresh: Duration(time.Second)} }, []string{
			"instances[0].garp.repeat: 0 is out of range 1..255",
			"instances[0].garp.delay: -1ns is negative: use 0s for no second burst",
			"instances[0].garp.refresh_repeat: 0 with a refresh period: use 1..255"}},
		{"track", func(c *Config) {
			c.Instances[0].Track = []Track{{Interface: "", Weight: 300}, {Interface: "eth2"}, {Interface: "eth2"}}
		}, []string{
			"instances[0].track_interfaces[0].interface: interface name is empty",
			"instances[0].track_interfaces[0].weight: 300 is out of range -253..253 (keepalived's range)",
			"instances[0].track_interfaces[2].interface: eth2 is also track_interfaces[1]: track each interface once"}},
		{"owner weight", func(c *Config) { c.Instances[1].Track[0].Weight, c.SyncGroups = 10, nil }, []string{
			"instances[1].track_interfaces[0].weight: 10 has no effect at priority 255: the address owner keeps 255 and goes to FAULT while the item is down; use weight 0"}},
		{"checks", func(c *Config) {
			c.Instances[0].Checks = append(c.Instances[0].Checks,
				Check{Name: "web", Command: []string{"", "x\x00"}, Interval: 0, Timeout: -1, Rise: 0, Fall: 0, Weight: -254, User: "a b"})
		}, []string{
			`instances[0].checks[1].name: "web" is also checks[0]: give every check its own name`,
			"instances[0].checks[1].command[0]: the program name is empty: give the program to run",
			"instances[0].checks[1].command[1]: has a NUL byte, which no argument can hold",
			"instances[0].checks[1].interval: 0s: use a positive duration such as \"2s\"",
			"instances[0].checks[1].timeout: -1ns: use a positive duration such as \"2s\"",
			"instances[0].checks[1].rise: 0: use at least 1",
			"instances[0].checks[1].fall: 0: use at least 1",
			"instances[0].checks[1].weight: -254 is out of range -253..253 (keepalived's range)",
			`instances[0].checks[1].user: "a b" is not a user name: use the name of a user on the node, or leave user out`}},
		{"check without command", func(c *Config) { c.Instances[0].Checks[0].Command = nil }, []string{
			`instances[0].checks[0].command: empty: give the program and its arguments, e.g. ["/usr/local/bin/check", "--quiet"]`}},
		{"notify", func(c *Config) { c.Instances[0].Notify.Fault = []string{""} }, []string{
			"instances[0].notify.fault[0]: the program name is empty: give the program to run"}},
		{"generic notify", func(c *Config) { c.Instances[0].Notify.All = []string{"", "x"} }, []string{
			"instances[0].notify.all[0]: the program name is empty: give the program to run"}},
		{"sync group of unknown and repeated instances", func(c *Config) {
			c.SyncGroups[0].Instances = []string{"VI_9"}
			c.SyncGroups = append(c.SyncGroups, SyncGroup{Name: "router", Instances: []string{"VI_6"}}, SyncGroup{Name: "x", Instances: []string{"VI_6"}})
		}, []string{
			`sync_groups[0].instances[0]: "VI_9" is not an instance of this node: list instances by name`,
			`sync_groups[1].name: "router" is also the name of sync_groups[0]: give every sync group its own name`,
			`sync_groups[2].instances[0]: "VI_6" is already in sync_groups[1]: an instance is in one sync group at most`}},
		{"sync group without instances, bad notify", func(c *Config) {
			c.SyncGroups[0].Instances = nil
			c.SyncGroups[0].Notify.Stop = []string{""}
		}, []string{
			"sync_groups[0].instances: none: list the instances that fail over together",
			"sync_groups[0].notify.stop[0]: the program name is empty: give the program to run"}},
		{"weights in a sync group", func(c *Config) { c.SyncGroups[0].Instances = []string{"VI_1"} }, []string{
			`instances[0].track_interfaces[0].weight: -50 in sync group "router": a sync group moves on faults, not on priorities (keepalived ignores these weights): use weight 0`,
			`instances[0].checks[0].weight: 20 in sync group "router": a sync group moves on faults, not on priorities (keepalived ignores these weights): use weight 0`}},
		{"duplicates across instances", func(c *Config) {
			in := c.Instances[0]
			in.Source, in.Peers = netip.Addr{}, nil
			in.Unicast = false
			c.Instances = append(c.Instances, in)
		}, []string{
			`instances[2].name: "VI_1" is also the name of instances[0]: give every instance its own name`,
			"instances[2].vrid: 51 on eth1 is also the VRID of instances[0] (VI_1) for the same address family: VRIDs must be unique per interface and family",
			"instances[2].vips[0]: 198.18.0.100 is also a VIP of instances[0] (VI_1): two instances would fight over it; keep it in one",
			"instances[2].vips[1]: 203.0.113.1 is also a VIP of instances[0] (VI_1): two instances would fight over it; keep it in one"}},
		{"every problem at once", func(c *Config) {
			c.Instances[0].VRID, c.Instances[0].Priority, c.Instances[1].AdvertInt = 0, 0, 0
		}, []string{
			"instances[0].vrid: 0 is out of range 1..255: use the cluster's virtual_router_id",
			"instances[0].priority: 0 is out of range 1..255 (0 is what a stopping master sends): use 1..254, or 255 for the address owner",
			"instances[1].advert_int: 0s is not valid for VRRPv3: use 10ms steps from 10ms to 40.95s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.mod(c)
			if diff := cmp.Diff(tc.want, problems(c)); diff != "" {
				t.Errorf("Validate problems (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParseValidate checks that Parse and Validate never panic, that no
// message shows the pass, and that a file that passes both marshals and
// parses back to a configuration that passes again.
func FuzzParseValidate(f *testing.F) {
	b, err := Marshal(valid())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"format": 1, "instances": [{"vrid": 0, "priority": 0, "auth": {"type": "PASS", "pass": "0123456789abcdef"}}]}`))
	f.Add([]byte(`{"format": 1, "cluster": "c", "node": "n", "instances": [{"name": "v", "vrid": 1, "version": 3, "interface": "e", "priority": 1, "advert_int": "10ms", "vips": [{"prefix": "10.0.0.1/32"}], "garp": {"repeat": 1, "delay": "0s"}}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := Parse(in)
		if err != nil {
			return
		}
		err = c.Validate()
		if err != nil {
			for _, in := range c.Instances {
				if in.Auth != nil && len(in.Auth.Pass) >= 3 && strings.Contains(err.Error(), in.Auth.Pass) {
					t.Fatalf("a problem shows the pass %q: %v", in.Auth.Pass, err)
				}
			}
			return
		}
		out, err := Marshal(c)
		if err != nil {
			t.Fatalf("Marshal of a valid config: %v", err)
		}
		c2, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse of a marshalled valid config: %v\n%s", err, out)
		}
		if err := c2.Validate(); err != nil {
			t.Fatalf("a valid config is invalid after a round trip: %v\n%s", err, out)
		}
	})
}

// FuzzCheckListenAddress: an accepted metrics address is an IP literal
// and a port that net resolves without a resolver, and names the same
// address back.
func FuzzCheckListenAddress(f *testing.F) {
	for _, s := range []string{"127.0.0.1:9650", "[::1]:9650", "0.0.0.0:1", "[fe80::1%eth1]:9650", ":9650", "localhost:9650", "1.2.3.4:0", "[::]:65535", "1.2.3.4:+80", "1.2.3.4:0x50"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckListenAddress(s) != nil {
			return
		}
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			t.Fatalf("accepted %q: %v", s, err)
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			t.Fatalf("accepted %q with host %q: %v", s, host, err)
		}
		ap, err := netip.ParseAddrPort(s)
		if err != nil || ap.Addr() != a || strconv.Itoa(int(ap.Port())) != port || ap.Port() == 0 {
			t.Fatalf("accepted %q: as AddrPort %v, %v", s, ap, err)
		}
	})
}
