// Package announce tells the link that this node now answers for virtual
// addresses: gratuitous ARP for IPv4 (RFC 5227 section 3, RFC 5798 section
// 6.4.1) and unsolicited neighbour advertisements for IPv6 (RFC 4861
// section 7.2.6), with the frames keepalived 2.2.7 sends.
package announce

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/ipv6"
)

// NAWriter sends NDP messages; *ndp.Conn is one.
type NAWriter interface {
	WriteTo(m ndp.Message, cm *ipv6.ControlMessage, dst netip.Addr) error
	Close() error
}

// An Announcer sends gratuitous ARP and unsolicited NA on one interface.
type Announcer struct {
	ifi *net.Interface
	arp net.PacketConn // AF_PACKET; nil without IPv4 VIPs
	na  NAWriter       // nil without IPv6 VIPs
	// Router sets the R flag of neighbour advertisements; Open sets it
	// when the interface forwards IPv6, as keepalived does.
	Router bool
}

// Open opens the sockets an announcer on ifi needs: an AF_PACKET socket
// for ARP when ipv4 is set (it receives nothing), an ICMPv6 socket bound
// to the interface's link-local address for NA when ipv6 is set (with an
// ICMPv6 filter that blocks every incoming message). Opening needs
// CAP_NET_RAW.
func Open(ifi *net.Interface, ipv4, ipv6 bool) (*Announcer, error) {
	var pc net.PacketConn
	var na NAWriter
	if ipv4 {
		p, err := packet.Listen(ifi, packet.Raw, 0, nil)
		if err != nil {
			return nil, fmt.Errorf("announce: ARP socket on %s: %w", ifi.Name, err)
		}
		pc = p
	}
	if ipv6 {
		c, err := listenNDP(ifi)
		if err != nil {
			if pc != nil {
				pc.Close()
			}
			return nil, err
		}
		na = c
	}
	a, err := New(ifi, pc, na)
	if err != nil {
		if pc != nil {
			pc.Close()
		}
		if na != nil {
			na.Close()
		}
		return nil, err
	}
	a.Router = forwarding(ifi.Name)
	return a, nil
}

func listenNDP(ifi *net.Interface) (*ndp.Conn, error) {
	c, _, err := ndp.Listen(ifi, ndp.LinkLocal)
	if err != nil {
		return nil, fmt.Errorf("announce: NDP socket on %s: %w (IPv6 VIPs need a link-local address on the interface)", ifi.Name, err)
	}
	var f ipv6.ICMPFilter
	f.SetAll(true)
	if err := c.SetICMPFilter(&f); err != nil {
		c.Close()
		return nil, fmt.Errorf("announce: NDP socket on %s: %w", ifi.Name, err)
	}
	return c, nil
}

// forwarding reports whether the interface forwards IPv6.
func forwarding(iface string) bool {
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + iface + "/forwarding")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// New makes an announcer on ifi from an AF_PACKET-like conn for ARP and an
// NDP writer (either may be nil when that family has no VIPs). Tests pass
// fakes. The interface needs no IPv4 address of its own: a gratuitous ARP
// carries only the VIP (an instance whose node address is missing starts
// in FAULT, and announces once it is back).
func New(ifi *net.Interface, arpConn net.PacketConn, na NAWriter) (*Announcer, error) {
	return &Announcer{ifi: ifi, arp: arpConn, na: na}, nil
}

// Close closes the sockets.
func (a *Announcer) Close() error {
	var errs []error
	if a.arp != nil {
		errs = append(errs, a.arp.Close())
	}
	if a.na != nil {
		errs = append(errs, a.na.Close())
	}
	return errors.Join(errs...)
}

// ErrNoSocket is returned when announcing an address of a family the
// announcer was opened without.
var ErrNoSocket = errors.New("announce: no socket for this address family")

// Announce sends one round for every address: for IPv4, a gratuitous ARP
// request then a gratuitous ARP reply (routers differ in which they
// honour); for IPv6, one unsolicited neighbour advertisement. It sends
// every message it can and returns the errors joined.
func (a *Announcer) Announce(addrs []netip.Addr) error {
	var errs []error
	for _, ip := range addrs {
		var err error
		if ip.Is4() {
			err = a.garp(ip)
		} else {
			err = a.unsolicitedNA(ip)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("announce %v on %s: %w", ip, a.ifi.Name, err))
		}
	}
	return errors.Join(errs...)
}

// garp sends keepalived's gratuitous ARP (Ethernet broadcast, request,
// sender = target = ip, target MAC ff:ff:ff:ff:ff:ff), then the same as a
// reply.
func (a *Announcer) garp(ip netip.Addr) error {
	if a.arp == nil {
		return ErrNoSocket
	}
	for _, op := range []arp.Operation{arp.OperationRequest, arp.OperationReply} {
		p, err := arp.NewPacket(op, a.ifi.HardwareAddr, ip, ethernet.Broadcast, ip)
		if err != nil {
			return err
		}
		pb, err := p.MarshalBinary()
		if err != nil {
			return err
		}
		f := &ethernet.Frame{Destination: ethernet.Broadcast, Source: a.ifi.HardwareAddr, EtherType: ethernet.EtherTypeARP, Payload: pb}
		fb, err := f.MarshalBinary()
		if err != nil {
			return err
		}
		if _, err := a.arp.WriteTo(fb, &packet.Addr{HardwareAddr: ethernet.Broadcast}); err != nil {
			return err
		}
	}
	return nil
}

// unsolicitedNA sends an NA for ip from ip to ff02::1, hop limit 255,
// Override set, Solicited clear, with the interface MAC as target
// link-layer address.
func (a *Announcer) unsolicitedNA(ip netip.Addr) error {
	if a.na == nil {
		return ErrNoSocket
	}
	m := &ndp.NeighborAdvertisement{
		Router:        a.Router,
		Override:      true,
		TargetAddress: ip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: a.ifi.HardwareAddr}},
	}
	cm := &ipv6.ControlMessage{HopLimit: ndp.HopLimit, Src: ip.AsSlice(), IfIndex: a.ifi.Index}
	return a.na.WriteTo(m, cm, netip.IPv6LinkLocalAllNodes())
}
