package live

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/deploy/sshconn"
)

var cmpAddr = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

// ipj is ip -j addr show dev eth1 on the seed's master: its own address,
// the static eth1:0 alias and keepalived's VIP.
const ipj = `[{"ifindex":2,"ifname":"eth1","addr_info":[
{"family":"inet","local":"198.18.0.11","prefixlen":24,"scope":"global","label":"eth1","valid_life_time":4294967295},
{"family":"inet","local":"198.18.0.102","prefixlen":32,"scope":"global","label":"eth1","valid_life_time":4294967295},
{"family":"inet","local":"198.18.0.102","prefixlen":24,"scope":"global","secondary":true,"label":"eth1:0","valid_life_time":4294967295},
{"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link","valid_life_time":4294967295},
{"family":"inet","local":"198.18.0.103","prefixlen":32,"scope":"global","label":"eth1","valid_life_time":3}]}]`

func TestParseAddrs(t *testing.T) {
	got, err := parseAddrs([]byte(ipj))
	if err != nil {
		t.Fatal(err)
	}
	if got[4].Permanent || !got[2].Permanent || got[2].Label != "eth1:0" {
		t.Errorf("addresses: %+v", got)
	}
	own := Own(got, []netip.Addr{netip.MustParseAddr("198.18.0.102"), netip.MustParseAddr("198.18.0.103")})
	if d := cmp.Diff([]netip.Prefix{netip.MustParsePrefix("198.18.0.11/24")}, own, cmpAddr); d != "" {
		t.Errorf("Own (-want +got):\n%s", d)
	}
}

func TestNetplanAliases(t *testing.T) {
	src := "network:\n  version: 2\n  ethernets:\n    eth1:\n      addresses: [198.18.0.11/24, 198.18.0.102/24]\n"
	got, err := netplanAliases("n:/etc/netplan/50.yaml", []byte(src), map[string][]netip.Addr{"eth1": {netip.MustParseAddr("198.18.0.102")}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Alias{{File: "n:/etc/netplan/50.yaml", Name: "eth1", VIP: netip.MustParseAddr("198.18.0.102")}}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("netplanAliases (-want +got):\n%s", d)
	}
}

func TestTarget(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want sshconn.Target
		conf string
		err  bool
	}{
		{"ssh://admin@lb1.example.net", sshconn.Target{Host: "lb1.example.net", User: "admin"}, "/etc/keepalived/keepalived.conf", false},
		{"ssh://lb1:2222/", sshconn.Target{Host: "lb1", Port: 2222}, "/etc/keepalived/keepalived.conf", false},
		{"ssh://root@[2001:db8::1]:22/etc/k.conf", sshconn.Target{Host: "2001:db8::1", User: "root", Port: 22}, "/etc/k.conf", false},
		{"ssh://", sshconn.Target{}, "", true},
	} {
		got, conf, err := Target(tc.in)
		if (err != nil) != tc.err || got != tc.want || conf != tc.conf {
			t.Errorf("Target(%q) = %+v, %q, %v; want %+v, %q", tc.in, got, conf, err, tc.want, tc.conf)
		}
	}
	if _, _, err := Target("lb1.conf"); err != ErrNotFound {
		t.Errorf("Target of a file: %v, want ErrNotFound", err)
	}
}

// FuzzParseAddrs: whatever ip -j addr prints, parsing never panics and
// every address it returns is valid with a prefix length of its family.
func FuzzParseAddrs(f *testing.F) {
	f.Add([]byte(ipj))
	f.Add([]byte(`[{"addr_info":[{"local":"2001:db8::1","prefixlen":200}]}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		addrs, err := parseAddrs(b)
		if err != nil {
			return
		}
		for _, a := range addrs {
			if !a.Prefix.IsValid() {
				t.Fatalf("invalid prefix from %q: %+v", b, a)
			}
		}
	})
}

// FuzzNetplanAliases: any YAML is read without a panic.
func FuzzNetplanAliases(f *testing.F) {
	f.Add([]byte("network:\n  ethernets:\n    eth1:\n      addresses: [198.18.0.102/24]\n"))
	vips := map[string][]netip.Addr{"eth1": {netip.MustParseAddr("198.18.0.102")}}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = netplanAliases("f", b, vips)
	})
}
