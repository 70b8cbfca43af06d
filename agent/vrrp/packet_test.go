package vrrp_test

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hac-project/hac/agent/vrrp"
)

var (
	mc4 = vrrp.GroupIPv4
	mc6 = vrrp.GroupIPv6
)

func addrs(ss ...string) []netip.Addr {
	var a []netip.Addr
	for _, s := range ss {
		a = append(a, netip.MustParseAddr(s))
	}
	return a
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// golden holds the vectors of vrrp-reference.md section 1.3: bytes captured
// from keepalived 2.2.7 (and keepalived issue #1175's log, recomputed).
var golden = []struct {
	name     string
	src, dst netip.Addr
	hex      string
	p        vrrp.Packet
}{
	{
		name: "v2 PASS",
		src:  netip.MustParseAddr("10.9.0.1"), dst: mc4,
		hex: "21 33 96 02 01 01 86 40 0a090064 0a090065 7365637265747061",
		p: vrrp.Packet{Version: 2, VRID: 51, Priority: 150, AuthType: vrrp.AuthPass, AdvertInt: time.Second,
			Addrs: addrs("10.9.0.100", "10.9.0.101"), Auth: vrrp.PassAuth("secretpassword")},
	},
	{
		name: "v2 PASS priority 0",
		src:  netip.MustParseAddr("10.9.0.1"), dst: mc4,
		hex: "21 33 00 02 01 01 1c 41 0a090064 0a090065 7365637265747061",
		p: vrrp.Packet{Version: 2, VRID: 51, Priority: 0, AuthType: vrrp.AuthPass, AdvertInt: time.Second,
			Addrs: addrs("10.9.0.100", "10.9.0.101"), Auth: vrrp.PassAuth("secretpa")},
	},
	{
		name: "v3 multicast",
		src:  netip.MustParseAddr("10.9.0.1"), dst: mc4,
		hex: "31 3c c8 01 00 32 11 26 0a0900c8",
		p:   vrrp.Packet{Version: 3, VRID: 60, Priority: 200, AdvertInt: 500 * time.Millisecond, Addrs: addrs("10.9.0.200")},
	},
	{
		name: "v3 multicast message-only checksum",
		src:  netip.MustParseAddr("10.9.0.1"), dst: mc4,
		hex: "31 3c c8 01 00 32 fb be 0a0900c8",
		p: vrrp.Packet{Version: 3, VRID: 60, Priority: 200, AdvertInt: 500 * time.Millisecond, Addrs: addrs("10.9.0.200"),
			Checksum: vrrp.ChecksumMessage},
	},
	{
		name: "v3 unicast",
		src:  netip.MustParseAddr("10.9.0.1"), dst: netip.MustParseAddr("10.9.0.2"),
		hex: "31 46 c8 01 00 64 e7 73 0a090046",
		p:   vrrp.Packet{Version: 3, VRID: 70, Priority: 200, AdvertInt: time.Second, Addrs: addrs("10.9.0.70")},
	},
	{
		name: "v3 unicast old multicast-destination checksum",
		src:  netip.MustParseAddr("10.9.0.1"), dst: netip.MustParseAddr("10.9.0.2"),
		hex: "31 46 c8 01 00 64 11 6c 0a090046",
		p: vrrp.Packet{Version: 3, VRID: 70, Priority: 200, AdvertInt: time.Second, Addrs: addrs("10.9.0.70"),
			Checksum: vrrp.ChecksumMulticastDst},
	},
	{
		name: "v3 IPv6",
		src:  netip.MustParseAddr("fe80::1cfb:21ff:fe5e:471a"), dst: mc6,
		hex: "31 3d c8 02 00 64 56 be fe800000000000000000000000000061 20010db8000000000000000000000061",
		p:   vrrp.Packet{Version: 3, VRID: 61, Priority: 200, AdvertInt: time.Second, Addrs: addrs("fe80::61", "2001:db8::61")},
	},
	{
		name: "v3 unicast keepalived issue 1175",
		src:  netip.MustParseAddr("10.1.0.3"), dst: netip.MustParseAddr("10.1.0.1"),
		hex: "31 58 c6 01 00 64 9c 19 0ac34ce3",
		p:   vrrp.Packet{Version: 3, VRID: 88, Priority: 198, AdvertInt: time.Second, Addrs: addrs("10.195.76.227")},
	},
}

func TestGolden(t *testing.T) {
	for _, tt := range golden {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.hex)
			got, err := tt.p.Marshal(tt.src, tt.dst)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Marshal (-want +got):\n%s", diff)
			}
			p, err := vrrp.Parse(want, tt.src, tt.dst)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(&tt.p, p, cmpAddr); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

// TestChecksumForms pins the alternative checksums the reference gives.
func TestChecksumForms(t *testing.T) {
	msg := unhex(t, "31 3c c8 01 00 32 00 00 0a0900c8")
	if got := vrrp.Checksum(msg, netip.Addr{}, netip.Addr{}); got != 0xfbbe {
		t.Errorf("message-only checksum = %#04x, want 0xfbbe", got)
	}
}

func TestRoundTrip(t *testing.T) {
	ll := netip.MustParseAddr("fe80::1")
	tests := []struct {
		name     string
		src, dst netip.Addr
		p        vrrp.Packet
	}{
		{"v2 no auth", netip.MustParseAddr("198.18.0.1"), mc4,
			vrrp.Packet{Version: 2, VRID: 1, Priority: 100, AdvertInt: 255 * time.Second, Addrs: addrs("198.18.0.100")}},
		{"v2 no addresses", netip.MustParseAddr("198.18.0.1"), mc4,
			vrrp.Packet{Version: 2, VRID: 255, Priority: 255, AdvertInt: time.Second, AuthType: vrrp.AuthPass, Auth: vrrp.PassAuth("x")}},
		{"v3 max interval", netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2"),
			vrrp.Packet{Version: 3, VRID: 9, Priority: 1, AdvertInt: 40950 * time.Millisecond, Addrs: addrs("198.18.0.100", "198.18.0.101", "198.18.0.102")}},
		{"v3 min interval", netip.MustParseAddr("198.18.0.1"), mc4,
			vrrp.Packet{Version: 3, VRID: 9, Priority: 1, AdvertInt: 10 * time.Millisecond, Addrs: addrs("198.18.0.100")}},
		{"v3 IPv6 unicast", ll, netip.MustParseAddr("fd00::2"),
			vrrp.Packet{Version: 3, VRID: 200, Priority: 0, AdvertInt: 100 * time.Millisecond, Addrs: addrs("fe80::200", "fd00::200")}},
		{"v3 message checksum unicast", netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2"),
			vrrp.Packet{Version: 3, VRID: 9, Priority: 1, AdvertInt: time.Second, Addrs: addrs("198.18.0.100"), Checksum: vrrp.ChecksumMessage}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.p.Marshal(tt.src, tt.dst)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if len(b) != tt.p.Len() {
				t.Errorf("len = %d, Len() = %d", len(b), tt.p.Len())
			}
			got, err := vrrp.Parse(b, tt.src, tt.dst)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(&tt.p, got, cmpAddr); diff != "" {
				t.Errorf("Parse(Marshal) (-want +got):\n%s", diff)
			}
			// MarshalBinary / UnmarshalBinary round-trip too.
			bb, err := tt.p.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			var u vrrp.Packet
			if err := u.UnmarshalBinary(bb); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if diff := cmp.Diff(&tt.p, &u, cmpAddr); diff != "" {
				t.Errorf("UnmarshalBinary(MarshalBinary) (-want +got):\n%s", diff)
			}
			// AppendMarshal appends after existing bytes.
			ab, err := tt.p.AppendMarshal([]byte{0xaa}, tt.src, tt.dst)
			if err != nil || ab[0] != 0xaa || string(ab[1:]) != string(b) {
				t.Errorf("AppendMarshal = %x, %v; want aa%x", ab, err, b)
			}
		})
	}
}

func TestMarshalBinaryV3LeavesChecksumZero(t *testing.T) {
	p := golden[2].p
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(unhex(t, "31 3c c8 01 00 32 00 00 0a0900c8"), b); diff != "" {
		t.Errorf("MarshalBinary (-want +got):\n%s", diff)
	}
}

func TestMarshalErrors(t *testing.T) {
	src, dst := netip.MustParseAddr("198.18.0.1"), mc4
	ok3 := vrrp.Packet{Version: 3, VRID: 1, Priority: 100, AdvertInt: time.Second, Addrs: addrs("198.18.0.100")}
	ok2 := vrrp.Packet{Version: 2, VRID: 1, Priority: 100, AdvertInt: time.Second, Addrs: addrs("198.18.0.100")}
	with := func(p vrrp.Packet, f func(*vrrp.Packet)) vrrp.Packet { f(&p); return p }
	tests := []struct {
		name     string
		p        vrrp.Packet
		src, dst netip.Addr
		want     string
	}{
		{"version", with(ok3, func(p *vrrp.Packet) { p.Version = 4 }), src, dst, "version 4"},
		{"vrid 0", with(ok3, func(p *vrrp.Packet) { p.VRID = 0 }), src, dst, "VRID 0"},
		{"v2 interval fraction", with(ok2, func(p *vrrp.Packet) { p.AdvertInt = 1500 * time.Millisecond }), src, dst, "whole seconds"},
		{"v2 interval too long", with(ok2, func(p *vrrp.Packet) { p.AdvertInt = 256 * time.Second }), src, dst, "whole seconds"},
		{"v3 interval 0", with(ok3, func(p *vrrp.Packet) { p.AdvertInt = 0 }), src, dst, "10ms steps"},
		{"v3 interval too long", with(ok3, func(p *vrrp.Packet) { p.AdvertInt = 41 * time.Second }), src, dst, "10ms steps"},
		{"v2 AH", with(ok2, func(p *vrrp.Packet) { p.AuthType = vrrp.AuthAH }), src, dst, "not supported"},
		{"v3 auth", with(ok3, func(p *vrrp.Packet) { p.AuthType = vrrp.AuthPass }), src, dst, "no authentication"},
		{"v3 no addresses", with(ok3, func(p *vrrp.Packet) { p.Addrs = nil }), src, dst, "at least one"},
		{"v2 IPv6", with(ok2, func(p *vrrp.Packet) { p.Addrs = addrs("fd00::1") }), src, dst, "IPv4 addresses only"},
		{"mixed families", with(ok3, func(p *vrrp.Packet) { p.Addrs = addrs("198.18.0.1", "fd00::1") }), src, dst, "or all plain IPv6"},
		{"zone", with(ok3, func(p *vrrp.Packet) { p.Addrs = addrs("fe80::1%eth0") }), netip.MustParseAddr("fe80::2"), mc6, "without zones"},
		{"v2 checksum form", with(ok2, func(p *vrrp.Packet) { p.Checksum = vrrp.ChecksumMessage }), src, dst, "VRRPv3 only"},
		{"v3 IPv6 message checksum", with(ok3, func(p *vrrp.Packet) { p.Addrs = addrs("fd00::1"); p.Checksum = vrrp.ChecksumMessage }), netip.MustParseAddr("fe80::2"), mc6, "not valid"},
		{"v3 no pseudo-header addresses", ok3, netip.Addr{}, dst, "needs the IP source"},
		{"v3 wrong family addresses", ok3, netip.MustParseAddr("fe80::1"), mc6, "needs the IP source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.p.Marshal(tt.src, tt.dst)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Marshal error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// mapped replaces an IPv6 advert's first address by ::ffff:10.0.0.1, an
// IPv4 address in IPv6 form, which no IPv6 advert may carry (Marshal
// refuses it).
func mapped(b []byte) []byte {
	c := append([]byte(nil), b...)
	a := netip.MustParseAddr("::ffff:10.0.0.1").As16()
	copy(c[8:24], a[:])
	return c
}

// TestParseDrops has one case per reason Parse reports.
func TestParseDrops(t *testing.T) {
	src := netip.MustParseAddr("10.9.0.1")
	v2 := unhex(t, golden[0].hex)
	v3 := unhex(t, golden[2].hex)
	set := func(b []byte, i int, v byte) []byte { c := append([]byte(nil), b...); c[i] = v; return c }
	tests := []struct {
		name     string
		b        []byte
		src, dst netip.Addr
		want     vrrp.DropReason
	}{
		{"empty", nil, src, mc4, vrrp.DropLength},
		{"short header", v3[:7], src, mc4, vrrp.DropLength},
		{"v3 truncated address", v3[:11], src, mc4, vrrp.DropLength},
		{"v2 shorter than header and auth", v2[:15], src, mc4, vrrp.DropLength},
		{"v2 no addresses", v2[:16], src, mc4, vrrp.DropAddrCount},
		{"v2 trailing bytes", append(append([]byte(nil), v2...), 0, 0, 0, 0), src, mc4, vrrp.DropAddrCount},
		{"v2 short of auth", v2[:len(v2)-4], src, mc4, vrrp.DropAddrCount},
		{"v3 count 0", set(set(v3[:8], 3, 0), 6, 0), src, mc4, vrrp.DropAddrCount},
		{"count too high", set(v3, 3, 2), src, mc4, vrrp.DropAddrCount},
		{"version 1", set(v3, 0, 0x11), src, mc4, vrrp.DropVersion},
		{"v2 over IPv6", v2, netip.MustParseAddr("fe80::1"), mc6, vrrp.DropVersion},
		{"type 2", set(v3, 0, 0x32), src, mc4, vrrp.DropType},
		{"vrid 0", set(v3, 1, 0), src, mc4, vrrp.DropVRID},
		{"auth type AH", set(v2, 4, 2), src, mc4, vrrp.DropAuthType},
		{"auth type 7", set(v2, 4, 7), src, mc4, vrrp.DropAuthType},
		{"v2 interval 0", set(v2, 5, 0), src, mc4, vrrp.DropInterval},
		{"v3 interval 0", set(v3, 5, 0), src, mc4, vrrp.DropInterval},
		{"v2 checksum", set(v2, 7, 0x41), src, mc4, vrrp.DropChecksum},
		{"v2 auth data changed", set(v2, len(v2)-1, 'x'), src, mc4, vrrp.DropChecksum},
		{"v3 checksum", set(v3, 7, 0), src, mc4, vrrp.DropChecksum},
		{"v3 other source", v3, netip.MustParseAddr("10.9.0.2"), mc4, vrrp.DropChecksum},
		{"v3 IPv6 checksum", set(unhex(t, golden[6].hex), 7, 0xbf), golden[6].src, mc6, vrrp.DropChecksum},
		{"v3 IPv4-mapped address in IPv6", mapped(unhex(t, golden[6].hex)), golden[6].src, mc6, vrrp.DropFamily},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := vrrp.Parse(tt.b, tt.src, tt.dst)
			var de *vrrp.DropError
			if !errors.As(err, &de) {
				t.Fatalf("Parse = %+v, %v; want a *DropError", p, err)
			}
			if de.Reason != tt.want {
				t.Errorf("reason = %q (%v), want %q", de.Reason, err, tt.want)
			}
		})
	}
}

func TestParseNeedsAddresses(t *testing.T) {
	_, err := vrrp.Parse(unhex(t, golden[2].hex), netip.Addr{}, mc4)
	var de *vrrp.DropError
	if err == nil || errors.As(err, &de) {
		t.Errorf("Parse without a source = %v, want a plain error", err)
	}
}

func TestParseIgnoresReservedBits(t *testing.T) {
	b := unhex(t, golden[2].hex)
	b[4] |= 0xf0
	b[6], b[7] = 0, 0
	src := golden[2].src
	c := vrrp.Checksum(b, src, mc4)
	b[6], b[7] = byte(c>>8), byte(c)
	p, err := vrrp.Parse(b, src, mc4)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&golden[2].p, p, cmpAddr, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
