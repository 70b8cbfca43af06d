package interfaces_test

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/importer/interfaces"
)

// seed is /etc/network/interfaces of the seed's servers: eth1 and the
// static eth1:0 VIP alias, below Debian's default lines.
const seed = `# This file describes the network interfaces available on your system
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

# The secondary network interface
auto eth1
iface eth1 inet static
address 192.168.200.11
netmask 255.255.255.0

# VIP
auto eth1:0
iface eth1:0 inet static
address 192.168.200.102
netmask 255.255.255.0
`

func TestSeed(t *testing.T) {
	f, err := interfaces.Parse("interfaces", []byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"/etc/network/interfaces.d/*"}, f.Sources()); d != "" {
		t.Errorf("Sources (-want +got):\n%s", d)
	}
	vip := netip.MustParseAddr("192.168.200.102")
	want := []interfaces.Alias{{File: "interfaces", Line: 15, Name: "eth1:0", Prefix: netip.MustParsePrefix("192.168.200.102/24")}}
	if d := cmp.Diff(want, f.Aliases("eth1", []netip.Addr{vip}), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Errorf("Aliases (-want +got):\n%s", d)
	}
	var eth1 *interfaces.Stanza
	for _, s := range f.Stanzas {
		if s.Name() == "eth1" {
			eth1 = s
		}
	}
	if p, err := eth1.Address(); err != nil || p != netip.MustParsePrefix("192.168.200.11/24") {
		t.Errorf("eth1 address %v, %v; want 192.168.200.11/24", p, err)
	}
	wantText := `# This file describes the network interfaces available on your system
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback

# The secondary network interface
auto eth1
iface eth1 inet static
address 192.168.200.11
netmask 255.255.255.0

`
	if d := cmp.Diff(wantText, string(f.Without([]string{"eth1:0"}))); d != "" {
		t.Errorf("Without (-want +got):\n%s", d)
	}
}

func TestAddressAndWithout(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		drop      []string
		addr      string // of the first iface stanza; "" for an error
		without   string
	}{
		{"prefix length", "iface eth1 inet static\n  address 10.0.0.5/16\n", []string{"eth1"}, "10.0.0.5/16", ""},
		{"bare length netmask", "iface eth1 inet6 static\n  address 2001:db8::5\n  netmask 64\n", nil, "2001:db8::5/64", "iface eth1 inet6 static\n  address 2001:db8::5\n  netmask 64\n"},
		{"no netmask", "iface eth1:1 inet static\n address 10.0.0.9\n", nil, "10.0.0.9/32", "iface eth1:1 inet static\n address 10.0.0.9\n"},
		{"dhcp", "iface eth0 inet dhcp\n", nil, "", "iface eth0 inet dhcp\n"},
		{"bad mask", "iface eth1 inet static\n address 10.0.0.1\n netmask 255.0.255.0\n", nil, "", "iface eth1 inet static\n address 10.0.0.1\n netmask 255.0.255.0\n"},
		{"auto line keeps others", "auto eth1 eth1:0\nallow-hotplug eth1:0 \\\n eth2\niface eth1:0 inet static\n address 10.0.0.9/24\n", []string{"eth1:0"}, "10.0.0.9/24", "auto eth1\nallow-hotplug eth2\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := interfaces.Parse("i", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			var first *interfaces.Stanza
			for _, s := range f.Stanzas {
				if s.Kind == "iface" {
					first = s
					break
				}
			}
			p, err := first.Address()
			if got := ""; err == nil {
				got = p.String()
				if got != tc.addr {
					t.Errorf("Address = %s, want %s", got, tc.addr)
				}
			} else if tc.addr != "" {
				t.Errorf("Address: %v, want %s", err, tc.addr)
			}
			if d := cmp.Diff(tc.without, string(f.Without(tc.drop))); d != "" {
				t.Errorf("Without(%v) (-want +got):\n%s", tc.drop, d)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for src, want := range map[string]string{
		"address 10.0.0.1\n":           "i:1: option \"address\" outside an iface or mapping stanza",
		"auto lo\n\niface eth1 inet\n": "i:3: iface needs a name, an address family and a method (iface eth1 inet static)",
	} {
		if _, err := interfaces.Parse("i", []byte(src)); err == nil || err.Error() != want {
			t.Errorf("Parse(%q) = %v, want %s", src, err, want)
		}
	}
}

func TestSourced(t *testing.T) {
	for name, want := range map[string]bool{"hac-eth1": true, "eth1_x": true, "eth1.bak": false, ".hac-eth1.hac-tmp-X": false, "": false} {
		if got := interfaces.Sourced(name); got != want {
			t.Errorf("Sourced(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzParse: whatever parses can have any of its interfaces removed, and
// the result parses again without them and keeps every other iface stanza.
func FuzzParse(f *testing.F) {
	f.Add([]byte(seed), "eth1:0")
	f.Add([]byte("auto a b\niface a inet static\n address 1.2.3.4/8 \\\n\n"), "a")
	f.Fuzz(func(t *testing.T, src []byte, name string) {
		file, err := interfaces.Parse("f", src)
		if err != nil {
			return
		}
		for _, s := range file.Stanzas {
			_, _ = s.Address()
		}
		out := file.Without([]string{name})
		again, err := interfaces.Parse("f", out)
		if err != nil {
			t.Fatalf("Without(%q) does not parse: %v\n%s", name, err, out)
		}
		count := func(f *interfaces.File) (n int) {
			for _, s := range f.Stanzas {
				if s.Kind == "iface" && s.Name() != name {
					n++
				}
			}
			return n
		}
		for _, s := range again.Stanzas {
			if s.Kind == "iface" && s.Name() == name {
				t.Fatalf("Without(%q) kept its stanza:\n%s", name, out)
			}
		}
		if a, b := count(file), count(again); a != b {
			t.Fatalf("Without(%q): %d other iface stanzas, want %d:\n%s", name, b, a, out)
		}
	})
}
