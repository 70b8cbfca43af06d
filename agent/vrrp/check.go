package vrrp

import (
	"net/netip"
	"slices"
	"time"
)

// Expect is what a local VRRP instance requires of the adverts it obeys.
type Expect struct {
	Version   int
	VRID      uint8
	AuthType  AuthType      // VRRPv2
	Auth      [8]byte       // VRRPv2 PASS data, see [PassAuth]
	AdvertInt time.Duration // VRRPv2 adverts must match it; VRRPv3 ones carry the master's
	Addrs     []netip.Addr  // the instance's VIPs, in any order
	// Self is our own source address: an advert from it was not sent by
	// us (multicast loopback is off), so another node uses our address or
	// spoofs it.
	Self    netip.Addr
	Unicast bool // the instance sends to peers and accepts only unicast adverts
	// CheckSource, for unicast, accepts adverts only from Peers
	// (keepalived's check_unicast_src).
	CheckSource bool
	Peers       []netip.Addr
}

// Check validates a parsed advert received from src with the given TTL or
// hop limit, to a multicast destination or not, in keepalived 2.2.7's order
// (vrrp_check_packet): VRID, TTL 255 for multicast only (keepalived's IPv6
// unicast adverts arrive with hop limit 64), version, address family, VRRPv2
// auth type, PASS data (constant time), advert interval, then hac's own
// address check, multicast versus unicast, unicast source. The error is a
// [*DropError].
//
// Unlike keepalived, an advert whose VIP set differs from ours (other
// addresses, or another number of them) is not dropped: Check returns
// vipsDiffer so the caller logs and counts it and still obeys the advert,
// as RFC 5798 section 6.4.2 does not require the sets to match, and a node
// by node VIP change would otherwise end with two masters.
func (e *Expect) Check(p *Packet, src netip.Addr, ttl int, multicast bool) (vipsDiffer bool, err error) {
	if p.VRID != e.VRID {
		return false, drop(DropVRID, "VRID %d, this instance is VRID %d", p.VRID, e.VRID)
	}
	if multicast && ttl != TTL {
		return false, drop(DropTTL, "multicast advert from %v with TTL/hop limit %d, want %d (is a router between the nodes?)", src, ttl, TTL)
	}
	if p.Version != e.Version {
		return false, drop(DropVersion, "VRRPv%d advert from %v, this instance speaks VRRPv%d: configure the same version on every node", p.Version, src, e.Version)
	}
	if want := addrLen(e.Addrs) == 16; p.IPv6() != want || src.Unmap().Is6() != want {
		return false, drop(DropFamily, "advert from %v carries addresses of the other family than this instance's VIPs", src)
	}
	if p.Version == 2 {
		if p.AuthType != e.AuthType {
			return false, drop(DropAuthType, "auth type %v from %v, this instance uses %v", p.AuthType, src, e.AuthType)
		}
		if e.AuthType == AuthPass && !equalAuth(p.Auth, e.Auth) {
			return false, drop(DropAuth, "PASS authentication from %v does not match ours: check auth_pass on every node", src)
		}
		if p.AdvertInt != e.AdvertInt {
			return false, drop(DropInterval, "advert interval %v from %v, ours is %v: VRRPv2 needs the same advert_int on every node", p.AdvertInt, src, e.AdvertInt)
		}
	}
	if e.Self.IsValid() && src.Unmap() == e.Self.Unmap() {
		return false, drop(DropOwnAddr, "advert from our own address %v: another node uses our address, or spoofs it", src)
	}
	if multicast == e.Unicast {
		if e.Unicast {
			return false, drop(DropMode, "multicast advert from %v, this instance expects unicast", src)
		}
		return false, drop(DropMode, "unicast advert from %v, this instance expects multicast", src)
	}
	if e.Unicast && e.CheckSource && !slices.Contains(e.Peers, src.Unmap()) {
		return false, drop(DropSource, "unicast advert from %v, which is not a configured peer", src)
	}
	return !sameSet(p.Addrs, e.Addrs), nil
}

// sameSet reports whether a and b hold the same addresses, in any order.
func sameSet(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.SortFunc(x, netip.Addr.Compare)
	slices.SortFunc(y, netip.Addr.Compare)
	return slices.Equal(x, y)
}
