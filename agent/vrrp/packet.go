// Package vrrp encodes and decodes VRRP advertisements: version 2 (RFC 3768,
// IPv4, with no authentication or keepalived's simple-password
// authentication) and version 3 (RFC 5798, IPv4 and IPv6), wire-compatible
// with keepalived 2.2.7.
//
// The codec has two halves. [Parse] and [Packet.Marshal] turn bytes into a
// [Packet] and back, checking only what the bytes themselves say (lengths,
// version, type, checksum). [Expect.Check] then validates a decoded packet
// against the local instance's configuration in keepalived's order. Every
// rejection is a [*DropError] whose [DropReason] is a stable counter key.
package vrrp

import (
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// Protocol is the IP protocol number of VRRP (RFC 5798 section 5.1.1.4).
const Protocol = 112

// TTL is the IPv4 TTL and IPv6 hop limit VRRP adverts are sent with and,
// for multicast, must arrive with (RFC 5798 sections 5.1.1.3 and 5.1.2.3).
const TTL = 255

// Multicast destinations of VRRP adverts (RFC 5798 sections 5.1.1.2, 5.1.2.2).
var (
	GroupIPv4 = netip.AddrFrom4([4]byte{224, 0, 0, 18})
	GroupIPv6 = netip.MustParseAddr("ff02::12")
)

// AuthType is the VRRPv2 Auth Type field (RFC 3768 section 5.3.6; types 1
// and 2 are RFC 2338's, still implemented by keepalived).
type AuthType uint8

// The VRRPv2 authentication types.
const (
	AuthNone AuthType = 0 // no authentication
	AuthPass AuthType = 1 // simple text password, zero-padded to 8 bytes
	AuthAH   AuthType = 2 // IP Authentication Header: recognised, not supported
)

// String returns keepalived's name for the type.
func (a AuthType) String() string {
	switch a {
	case AuthNone:
		return "NONE"
	case AuthPass:
		return "PASS"
	case AuthAH:
		return "AH"
	}
	return fmt.Sprintf("AuthType(%d)", uint8(a))
}

// ChecksumForm says which bytes a VRRPv3 checksum covers. VRRPv2 packets
// always use the message-only sum (RFC 3768 section 5.3.8) and carry the
// zero value.
type ChecksumForm uint8

// The VRRPv3 checksum forms. Parse reports the form it verified and Marshal
// writes the form the packet carries, so a packet round-trips unchanged.
const (
	// ChecksumPseudoHeader is RFC 5798 section 5.2.8: the message plus a
	// pseudo-header of the IP source, destination, length and protocol 112.
	// keepalived 2.2.7 sends and requires it, for IPv4 too.
	ChecksumPseudoHeader ChecksumForm = iota
	// ChecksumMessage is a VRRPv3/IPv4 sum over the message only, as
	// RFC 9568 peers and keepalived's v3_checksum_as_v2 (2.2.8+) send it.
	// Accepted on receive (and counted by the caller), never the default.
	ChecksumMessage
	// ChecksumMulticastDst is a unicast VRRPv3/IPv4 sum whose pseudo-header
	// carries 224.0.0.18 instead of the real destination, as keepalived
	// 1.3.6 and older sent it (keepalived's OLD_CHKSUM_COMPAT).
	ChecksumMulticastDst
)

// String names the form.
func (f ChecksumForm) String() string {
	switch f {
	case ChecksumPseudoHeader:
		return "pseudo-header"
	case ChecksumMessage:
		return "message-only"
	case ChecksumMulticastDst:
		return "multicast-destination pseudo-header"
	}
	return fmt.Sprintf("ChecksumForm(%d)", uint8(f))
}

// A Packet is one VRRP advertisement (RFC 3768 section 5.1, RFC 5798 section
// 5.1). The layout on the wire:
//
//	0      version<<4 | type (1 = ADVERTISEMENT)
//	1      VRID
//	2      priority
//	3      count of addresses
//	4      v2: auth type; v3: reserved nibble, then bits 11-8 of max adver int
//	5      v2: adver int in seconds; v3: bits 7-0 of max adver int (centiseconds)
//	6-7    checksum
//	8-     count x 4-byte IPv4 or 16-byte IPv6 addresses
//	       v2 only: 8 bytes of authentication data
type Packet struct {
	Version   int           // 2 or 3
	VRID      uint8         // 1-255
	Priority  uint8         // 0 = master stopping, 255 = address owner
	AuthType  AuthType      // v2 only; zero in v3
	AdvertInt time.Duration // v2: whole seconds 1-255 s; v3: centiseconds 10 ms-40.95 s
	Addrs     []netip.Addr  // all IPv4, or (v3 only) all IPv6; no zones
	Auth      [8]byte       // v2 authentication data (PASS zero-padded); zero in v3
	Checksum  ChecksumForm  // v3 only: which checksum form to write / was verified
}

// Header and trailer sizes.
const (
	headerLen = 8
	authLen   = 8
	maxCentis = 0x0fff
	centi     = 10 * time.Millisecond
	maxV2Int  = 255 * time.Second
)

// Len returns the length of the encoded packet.
func (p *Packet) Len() int {
	n := headerLen + addrLen(p.Addrs)*len(p.Addrs)
	if p.Version == 2 {
		n += authLen
	}
	return n
}

func addrLen(addrs []netip.Addr) int {
	if len(addrs) > 0 && addrs[0].Is6() {
		return 16
	}
	return 4
}

// IPv6 reports whether the packet carries IPv6 addresses.
func (p *Packet) IPv6() bool { return addrLen(p.Addrs) == 16 }

// validate checks that p can be encoded; it returns a plain error, since
// an invalid Packet is a programming or configuration error, not a drop.
func (p *Packet) validate() error {
	if p.Version != 2 && p.Version != 3 {
		return fmt.Errorf("vrrp: version %d: want 2 or 3", p.Version)
	}
	if err := CheckAdvertInt(p.Version, p.AdvertInt); err != nil {
		return fmt.Errorf("vrrp: advert interval %w", err)
	}
	switch p.Version {
	case 2:
		if p.AuthType != AuthNone && p.AuthType != AuthPass {
			return fmt.Errorf("vrrp: VRRPv2 auth type %v is not supported: use NONE or PASS", p.AuthType)
		}
		if p.Checksum != ChecksumPseudoHeader {
			return fmt.Errorf("vrrp: checksum form %v is VRRPv3 only", p.Checksum)
		}
	case 3:
		if p.AuthType != AuthNone || p.Auth != [8]byte{} {
			return fmt.Errorf("vrrp: VRRPv3 has no authentication: clear AuthType and Auth")
		}
		if len(p.Addrs) == 0 {
			return fmt.Errorf("vrrp: VRRPv3 advert needs at least one address")
		}
		if p.Checksum > ChecksumMulticastDst || (p.IPv6() && p.Checksum != ChecksumPseudoHeader) {
			return fmt.Errorf("vrrp: checksum form %v is not valid for this packet", p.Checksum)
		}
	}
	if p.VRID == 0 {
		return fmt.Errorf("vrrp: VRID 0: want 1-255")
	}
	if len(p.Addrs) > MaxAddrs {
		return fmt.Errorf("vrrp: %d addresses: at most 255 fit in one advert", len(p.Addrs))
	}
	six := p.IPv6()
	if six && p.Version == 2 {
		return fmt.Errorf("vrrp: VRRPv2 carries IPv4 addresses only: use version 3 for IPv6")
	}
	for _, a := range p.Addrs {
		if !a.IsValid() || a.Is6() != six || a.Is4In6() || a.Zone() != "" {
			return fmt.Errorf("vrrp: address %v: all addresses must be plain IPv4 or all plain IPv6, without zones", a)
		}
	}
	return nil
}

// Marshal encodes p for sending from src to dst. For VRRPv3 with the
// pseudo-header checksum forms, src and dst are the IP header's addresses
// (the checksum depends on them) and must be of the packets' family; VRRPv2
// and [ChecksumMessage] ignore them.
func (p *Packet) Marshal(src, dst netip.Addr) ([]byte, error) {
	return p.AppendMarshal(make([]byte, 0, p.Len()), src, dst)
}

// AppendMarshal appends the encoding of p for sending from src to dst to b,
// like [Packet.Marshal].
func (p *Packet) AppendMarshal(b []byte, src, dst netip.Addr) ([]byte, error) {
	if err := p.validate(); err != nil {
		return b, err
	}
	if p.Version == 3 && p.Checksum != ChecksumMessage {
		if err := checkPseudo(p.IPv6(), src, dst); err != nil {
			return b, err
		}
	}
	return p.appendTo(b, src, dst), nil
}

func checkPseudo(six bool, src, dst netip.Addr) error {
	src, dst = src.Unmap(), dst.Unmap()
	if !src.IsValid() || !dst.IsValid() || src.Is6() != six || dst.Is6() != six {
		return fmt.Errorf("vrrp: VRRPv3 checksum needs the IP source and destination of the advert's family, have %v -> %v", src, dst)
	}
	return nil
}

// appendTo encodes a validated packet; src and dst are checked if needed.
func (p *Packet) appendTo(b []byte, src, dst netip.Addr) []byte {
	start := len(b)
	b = append(b, byte(p.Version<<4|1), p.VRID, p.Priority, byte(len(p.Addrs)))
	if p.Version == 2 {
		b = append(b, byte(p.AuthType), byte(p.AdvertInt/time.Second))
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(p.AdvertInt/centi))
	}
	b = append(b, 0, 0)
	for _, a := range p.Addrs {
		b = append(b, a.AsSlice()...)
	}
	if p.Version == 2 {
		b = append(b, p.Auth[:]...)
	}
	msg := b[start:]
	binary.BigEndian.PutUint16(msg[6:], p.sum(msg, src, dst))
	return b
}

// sum computes the checksum of msg (checksum field zero or not: it is
// skipped) in the packet's form.
func (p *Packet) sum(msg []byte, src, dst netip.Addr) uint16 {
	if p.Version == 2 || p.Checksum == ChecksumMessage {
		return Checksum(msg, netip.Addr{}, netip.Addr{})
	}
	if p.Checksum == ChecksumMulticastDst {
		dst = GroupIPv4
	}
	return Checksum(msg, src, dst)
}

// Checksum returns the Internet checksum of a VRRP message with its checksum
// field (bytes 6-7) taken as zero. With valid src and dst it includes the
// pseudo-header of RFC 5798 section 5.2.8: for IPv4 the 12 bytes src, dst,
// 0, 112, length (keepalived's ipv4_phdr_t), for IPv6 RFC 2460 section 8.1's
// 40 bytes src, dst, 32-bit length, 3 zero bytes, 112. Without them it is the
// VRRPv2 (RFC 3768 section 5.3.8) message-only sum.
func Checksum(msg []byte, src, dst netip.Addr) uint16 {
	var s uint32
	if src.IsValid() && dst.IsValid() {
		s = sum(s, src.Unmap().AsSlice())
		s = sum(s, dst.Unmap().AsSlice())
		s += uint32(len(msg)) + Protocol // both fit one 16-bit word in the fold below
	}
	if len(msg) >= 8 {
		s = sum(s, msg[:6])
		s = sum(s, msg[8:])
	} else {
		s = sum(s, msg)
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// sum adds b as big-endian 16-bit words (an odd last byte padded with zero).
func sum(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// MarshalBinary implements [encoding.BinaryMarshaler]. VRRPv2 packets and
// [ChecksumMessage] ones are complete; VRRPv3 packets with a pseudo-header
// form get a zero checksum field, since it depends on the IP addresses: the
// kernel fills it for IPv6 (IPV6_CHECKSUM), and [Packet.Marshal] computes it.
func (p *Packet) MarshalBinary() ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	b := p.appendTo(make([]byte, 0, p.Len()), netip.Addr{}, netip.Addr{})
	if p.Version == 3 && p.Checksum != ChecksumMessage {
		b[6], b[7] = 0, 0
	}
	return b, nil
}

// UnmarshalBinary implements [encoding.BinaryUnmarshaler]: it is [Parse]
// without IP addresses, so it verifies VRRPv2 checksums and VRRPv3
// message-only ones, but accepts any other VRRPv3 checksum (and a zero one,
// which is what MarshalBinary writes in place of a pseudo-header checksum)
// unverified and reports it as [ChecksumPseudoHeader]. Receivers use Parse.
func (p *Packet) UnmarshalBinary(b []byte) error {
	q, err := parse(b, netip.Addr{}, netip.Addr{}, false)
	if err != nil {
		return err
	}
	*p = *q
	return nil
}

// Parse decodes the VRRP message b (the IP payload) received from src to dst
// and verifies its checksum. It trusts no length field and never keeps a
// reference to b. VRRPv3/IPv4 checksums are tried in the forms keepalived
// accepts or peers send: [ChecksumPseudoHeader], then [ChecksumMessage],
// then for unicast [ChecksumMulticastDst]; the packet's Checksum field says
// which one matched. The error is a [*DropError].
func Parse(b []byte, src, dst netip.Addr) (*Packet, error) {
	if err := checkPseudo(src.Unmap().Is6(), src, dst); err != nil {
		return nil, err
	}
	return parse(b, src.Unmap(), dst.Unmap(), true)
}

func parse(b []byte, src, dst netip.Addr, haveIP bool) (*Packet, error) {
	if len(b) < headerLen {
		return nil, drop(DropLength, "%d bytes, shorter than the 8-byte header", len(b))
	}
	p := &Packet{Version: int(b[0] >> 4), VRID: b[1], Priority: b[2]}
	if p.Version != 2 && p.Version != 3 {
		return nil, drop(DropVersion, "version %d, want 2 or 3", p.Version)
	}
	if t := b[0] & 0x0f; t != 1 {
		return nil, drop(DropType, "type %d, want 1 (ADVERTISEMENT)", t)
	}
	if p.VRID == 0 {
		return nil, drop(DropVRID, "VRID 0 is not valid")
	}
	count := int(b[3])
	alen := 4
	trailer := 0
	switch {
	case p.Version == 2 && haveIP && src.Is6():
		return nil, drop(DropVersion, "VRRPv2 from IPv6 address %v: VRRPv2 is IPv4 only", src)
	case p.Version == 2:
		trailer = authLen
	case haveIP && src.Is6():
		alen = 16
	case !haveIP && len(b) != headerLen+4*count && len(b) == headerLen+16*count:
		alen = 16
	}
	body := len(b) - headerLen - trailer
	if body < 0 || body%alen != 0 {
		return nil, drop(DropLength, "%d bytes is not a VRRPv%d length", len(b), p.Version)
	}
	if n := body / alen; n != count || (count == 0 && p.Version == 3) {
		return nil, drop(DropAddrCount, "address count %d but %d bytes carry %d addresses", count, len(b), n)
	}
	if p.Version == 2 {
		p.AuthType = AuthType(b[4])
		if p.AuthType != AuthNone && p.AuthType != AuthPass {
			return nil, drop(DropAuthType, "auth type %v is not supported", p.AuthType)
		}
		p.AdvertInt = time.Duration(b[5]) * time.Second
		copy(p.Auth[:], b[len(b)-authLen:])
	} else {
		p.AdvertInt = time.Duration(binary.BigEndian.Uint16(b[4:])&maxCentis) * centi
	}
	if p.AdvertInt == 0 {
		return nil, drop(DropInterval, "advert interval 0")
	}
	if count > 0 {
		p.Addrs = make([]netip.Addr, count)
	}
	for i := range p.Addrs {
		a, _ := netip.AddrFromSlice(b[headerLen+i*alen : headerLen+(i+1)*alen])
		if a.Is4In6() { // Marshal refuses it too: one family per advert
			return nil, drop(DropFamily, "address %v: an IPv4-mapped address in an IPv6 advert", a)
		}
		p.Addrs[i] = a
	}
	if err := p.verify(b, src, dst, haveIP); err != nil {
		return nil, err
	}
	return p, nil
}

// verify checks the checksum and sets p.Checksum to the form that matched.
func (p *Packet) verify(b []byte, src, dst netip.Addr, haveIP bool) error {
	got := binary.BigEndian.Uint16(b[6:])
	var forms []ChecksumForm
	switch {
	case p.Version == 2 || p.IPv6():
		forms = []ChecksumForm{ChecksumPseudoHeader}
	case !haveIP && got == 0:
		// MarshalBinary's placeholder for a pseudo-header checksum; a
		// message-only sum that happens to be 0 reads the same way.
		forms = nil
	case !haveIP:
		forms = []ChecksumForm{ChecksumMessage}
	case dst.IsMulticast():
		forms = []ChecksumForm{ChecksumPseudoHeader, ChecksumMessage}
	default:
		forms = []ChecksumForm{ChecksumPseudoHeader, ChecksumMessage, ChecksumMulticastDst}
	}
	for _, f := range forms {
		p.Checksum = f
		if p.sum(b, src, dst) == got {
			return nil
		}
	}
	p.Checksum = ChecksumPseudoHeader
	if p.Version == 3 && !haveIP {
		return nil // the pseudo-header sum cannot be verified without addresses
	}
	return drop(DropChecksum, "checksum %#04x, want %#04x for this VRRPv%d message from %v to %v",
		got, p.sum(b, src, dst), p.Version, src, dst)
}

// PassAuth returns the 8 bytes of VRRPv2 PASS authentication data for pass:
// zero-padded, and cut to 8 bytes like keepalived does.
func PassAuth(pass string) [8]byte {
	var a [8]byte
	copy(a[:], pass)
	return a
}

// equalAuth compares authentication data in constant time.
func equalAuth(a, b [8]byte) bool { return subtle.ConstantTimeCompare(a[:], b[:]) == 1 }
