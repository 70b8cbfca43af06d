package vrrp_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hac-project/hac/agent/vrrp"
)

func TestCheck(t *testing.T) {
	peer := netip.MustParseAddr("198.18.0.2")
	v2 := vrrp.Packet{Version: 2, VRID: 51, Priority: 100, AuthType: vrrp.AuthPass, AdvertInt: time.Second,
		Addrs: addrs("198.18.0.102", "198.18.0.103"), Auth: vrrp.PassAuth("pass1234")}
	e2 := vrrp.Expect{Version: 2, VRID: 51, AuthType: vrrp.AuthPass, Auth: vrrp.PassAuth("pass1234"), AdvertInt: time.Second,
		Addrs: addrs("198.18.0.103", "198.18.0.102")}
	v3 := vrrp.Packet{Version: 3, VRID: 52, Priority: 100, AdvertInt: 2 * time.Second, Addrs: addrs("198.18.0.102")}
	e3u := vrrp.Expect{Version: 3, VRID: 52, AdvertInt: time.Second, Addrs: addrs("198.18.0.102"), Unicast: true,
		CheckSource: true, Peers: []netip.Addr{peer}}
	v6 := vrrp.Packet{Version: 3, VRID: 53, Priority: 100, AdvertInt: time.Second, Addrs: addrs("fe80::53")}
	e6 := vrrp.Expect{Version: 3, VRID: 53, AdvertInt: time.Second, Addrs: addrs("fe80::53")}
	with := func(p vrrp.Packet, f func(*vrrp.Packet)) vrrp.Packet { f(&p); return p }
	withE := func(e vrrp.Expect, f func(*vrrp.Expect)) vrrp.Expect { f(&e); return e }

	tests := []struct {
		name       string
		p          vrrp.Packet
		e          vrrp.Expect
		src        netip.Addr
		ttl        int
		multicast  bool
		want       vrrp.DropReason // "" = accepted
		vipsDiffer bool
	}{
		{"v2 ok, VIPs in another order", v2, e2, peer, 255, true, "", false},
		{"v2 priority 0 ok", with(v2, func(p *vrrp.Packet) { p.Priority = 0 }), e2, peer, 255, true, "", false},
		{"vrid", with(v2, func(p *vrrp.Packet) { p.VRID = 50 }), e2, peer, 255, true, vrrp.DropVRID, false},
		{"multicast ttl 254", v2, e2, peer, 254, true, vrrp.DropTTL, false},
		{"ttl before version", with(v3, func(p *vrrp.Packet) { p.VRID = 51 }), e2, peer, 64, true, vrrp.DropTTL, false},
		{"version", with(v3, func(p *vrrp.Packet) { p.VRID = 51; p.Addrs = v2.Addrs }), e2, peer, 255, true, vrrp.DropVersion, false},
		{"family", with(v6, func(p *vrrp.Packet) { p.VRID = 52 }), withE(e3u, func(e *vrrp.Expect) { e.Unicast = false }), netip.MustParseAddr("fe80::2"), 255, true, vrrp.DropFamily, false},
		{"auth type", with(v2, func(p *vrrp.Packet) { p.AuthType = vrrp.AuthNone; p.Auth = [8]byte{} }), e2, peer, 255, true, vrrp.DropAuthType, false},
		{"auth pass", with(v2, func(p *vrrp.Packet) { p.Auth = vrrp.PassAuth("pass1235") }), e2, peer, 255, true, vrrp.DropAuth, false},
		{"auth none ignores data", with(v2, func(p *vrrp.Packet) { p.AuthType = vrrp.AuthNone }),
			withE(e2, func(e *vrrp.Expect) { e.AuthType = vrrp.AuthNone; e.Auth = [8]byte{} }), peer, 255, true, "", false},
		{"v2 interval", with(v2, func(p *vrrp.Packet) { p.AdvertInt = 2 * time.Second }), e2, peer, 255, true, vrrp.DropInterval, false},
		{"v2 unicast to multicast instance", v2, e2, peer, 255, false, vrrp.DropMode, false},
		{"v2 VIP set differs: obeyed", with(v2, func(p *vrrp.Packet) { p.Addrs = addrs("198.18.0.102", "198.18.0.104") }), e2, peer, 255, true, "", true},
		{"v2 VIP count differs: obeyed", with(v2, func(p *vrrp.Packet) { p.Addrs = addrs("198.18.0.102") }), e2, peer, 255, true, "", true},
		{"v3 unicast any ttl, other interval", v3, e3u, peer, 64, false, "", false},
		{"v3 multicast to unicast instance", v3, e3u, peer, 255, true, vrrp.DropMode, false},
		{"v3 unicast from a stranger", v3, e3u, netip.MustParseAddr("198.18.0.9"), 255, false, vrrp.DropSource, false},
		{"v3 unicast source not checked", v3, withE(e3u, func(e *vrrp.Expect) { e.CheckSource = false }), netip.MustParseAddr("198.18.0.9"), 255, false, "", false},
		{"our own address", v2, withE(e2, func(e *vrrp.Expect) { e.Self = peer }), peer, 255, true, vrrp.DropOwnAddr, false},
		{"our own address before the unicast source", v3, withE(e3u, func(e *vrrp.Expect) { e.Self = netip.MustParseAddr("198.18.0.9") }), netip.MustParseAddr("198.18.0.9"), 255, false, vrrp.DropOwnAddr, false},
		{"v6 multicast ok", v6, e6, netip.MustParseAddr("fe80::2"), 255, true, "", false},
		{"v6 multicast hop limit 64", v6, e6, netip.MustParseAddr("fe80::2"), 64, true, vrrp.DropTTL, false},
		{"v6 unicast hop limit 64", v6, withE(e6, func(e *vrrp.Expect) { e.Unicast = true }), netip.MustParseAddr("fd00::2"), 64, false, "", false},
		{"v6 VIP set differs", with(v6, func(p *vrrp.Packet) { p.Addrs = addrs("fe80::53", "fd00::53") }), e6, netip.MustParseAddr("fe80::2"), 255, true, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			differ, err := tt.e.Check(&tt.p, tt.src, tt.ttl, tt.multicast)
			var got vrrp.DropReason
			if err != nil {
				var de *vrrp.DropError
				if !errors.As(err, &de) {
					t.Fatalf("Check error %v is not a *DropError", err)
				}
				got = de.Reason
			}
			if got != tt.want || differ != tt.vipsDiffer {
				t.Errorf("Check = %v, %v; want reason %q, vipsDiffer %v", differ, err, tt.want, tt.vipsDiffer)
			}
		})
	}
}

// TestDropErrorHidesPass: drop details never contain authentication data.
func TestDropErrorHidesPass(t *testing.T) {
	p := vrrp.Packet{Version: 2, VRID: 1, AuthType: vrrp.AuthPass, AdvertInt: time.Second, Auth: vrrp.PassAuth("hunter22")}
	e := vrrp.Expect{Version: 2, VRID: 1, AuthType: vrrp.AuthPass, AdvertInt: time.Second, Auth: vrrp.PassAuth("secret99")}
	_, err := e.Check(&p, netip.MustParseAddr("198.18.0.2"), 255, true)
	if err == nil {
		t.Fatal("Check accepted a wrong password")
	}
	for _, s := range []string{"hunter22", "secret99"} {
		if msg := err.Error(); strings.Contains(msg, s) {
			t.Errorf("error %q leaks the password", msg)
		}
	}
}
