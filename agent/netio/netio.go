// Package netio sends and receives VRRP adverts on Linux: raw IP protocol
// 112 sockets, one per (interface, address family), set up like keepalived
// 2.2.7's (vrrp.c open_vrrp_send_socket / open_vrrp_read_socket): bound to
// the interface, TTL / hop limit 255 for multicast and unicast, TOS /
// traffic class 0xc0, multicast loopback off, the VRRP group joined on the
// interface only, and the source address pinned on every send because the
// VRRPv3 checksum covers it.
//
// A [RawConn] carries every VRID on its interface and family: the caller
// (the agent driver) opens one per (interface, family) and demultiplexes
// received adverts by VRID after decoding them with package vrrp. It needs
// CAP_NET_RAW.
package netio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"time"

	"github.com/jsimonetti/rtnetlink/v2"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/hac-project/hac/agent/vrrp"
)

// A Message is one received VRRP advert with what the IP layer said of it.
type Message struct {
	Payload []byte     // the VRRP message (IP payload); owned by the caller
	Src     netip.Addr // IP source, without zone
	Dst     netip.Addr // IP destination: the VRRP group or our unicast address
	TTL     int        // IPv4 TTL or IPv6 hop limit; -1 when the kernel gave none
	IfIndex int        // the interface it arrived on
}

// Multicast reports whether the advert was sent to a multicast group.
func (m *Message) Multicast() bool { return m.Dst.IsMulticast() }

// Conn is what the agent driver needs of a VRRP socket; [*RawConn] is the
// real one, tests use fakes.
type Conn interface {
	// Source is the address Send uses when given an invalid src.
	Source() netip.Addr
	// Send sends one VRRP message from src (invalid: Source()) to dst, a
	// VRRP group or a unicast peer. The message must already carry the
	// checksum for exactly this src and dst (vrrp.Packet.Marshal). Send
	// does not keep b: the caller reuses it.
	Send(b []byte, src, dst netip.Addr) error
	// Probe reports whether a message from src (invalid: Source()) to
	// dst could be sent now, without sending anything.
	Probe(src, dst netip.Addr) error
	// Receive blocks for the next advert. After Close it returns an error
	// satisfying errors.Is(err, net.ErrClosed).
	Receive() (Message, error)
	// Close releases the socket and unblocks Receive.
	Close() error
}

var _ Conn = (*RawConn)(nil)

// Config says which socket to open.
type Config struct {
	Interface *net.Interface
	IPv6      bool // VRRPv3 over IPv6; else IPv4 (VRRPv2 or v3)
	// Multicast joins the VRRP group (224.0.0.18 / ff02::12) on Interface.
	// Unicast adverts to this host's addresses arrive either way.
	Multicast bool
	// Source is the address to send from (keepalived's mcast_src_ip /
	// unicast_src_ip). Zero: the interface's primary IPv4 address, or its
	// IPv6 link-local address (RFC 5798 section 5.1.2.1).
	Source netip.Addr
	// NotSource are addresses never picked as the default source: the
	// VIPs. A VIP in the subnet of the node's address becomes the primary
	// address when the node's address is removed and added back, and a
	// restarted agent must still advertise from the node's address.
	NotSource []netip.Addr
}

// ErrSourceNotReady is returned (wrapped) by Listen when the context ends
// before the source address exists on the interface and, for IPv6, has
// finished duplicate address detection; and by Send when the kernel
// refuses the source address. The agent retries later; it is not fatal.
var ErrSourceNotReady = errors.New("source address not usable yet")

// ErrSourceMissing is returned (wrapped, with [ErrSourceNotReady]) when
// the source address is not on the interface at all, or failed duplicate
// address detection: waiting will not make it usable.
var ErrSourceMissing = errors.New("source address missing")

// RawConn is a VRRP socket on one interface and family.
type RawConn struct {
	ifi *net.Interface
	src netip.Addr
	c   net.PacketConn
	out *sender
	p4  *ipv4.PacketConn
	p6  *ipv6.PacketConn

	// Receive reads up to recvBatch datagrams per system call
	// (recvmmsg) and returns them one by one: under a flood of packets
	// the reader keeps up several times better than with one read each.
	in         *receiver
	next, read int // datagrams next to read-1 of the last batch are still to return
}

// recvBuf fits the largest VRRP message (VRRPv3 with 255 IPv6 addresses is
// 4088 bytes) behind an IPv4 header with options, with room to spot
// oversized ones.
const recvBuf = 8192

// recvBatch is how many datagrams one read takes at most.
const recvBatch = 32

// sourcePoll is how often Listen re-checks a source address still in DAD.
const sourcePoll = 50 * time.Millisecond

// Listen opens a VRRP socket on cfg.Interface. It waits, until ctx ends,
// for the source address to be usable (IPv6: not tentative). A configured
// cfg.Source that is not on the interface is not waited for: the socket
// uses it anyway, and the caller finds it missing with [RawConn.Probe]
// (the agent's instance is in FAULT until it is added). Listen must run
// in the network namespace the interface lives in.
func Listen(ctx context.Context, cfg Config) (*RawConn, error) {
	if cfg.Interface == nil {
		return nil, errors.New("netio: listen: no interface given")
	}
	src, err := waitSource(ctx, cfg)
	if err != nil {
		return nil, err
	}
	rc := &RawConn{ifi: cfg.Interface, src: src}
	network, laddr, group := "ip4:112", "0.0.0.0", vrrp.GroupIPv4
	if cfg.IPv6 {
		network, laddr, group = "ip6:112", "::", vrrp.GroupIPv6
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return control(c, cfg.Interface.Name, cfg.IPv6)
	}}
	rc.c, err = lc.ListenPacket(ctx, network, laddr)
	if err != nil {
		return nil, fmt.Errorf("netio: open %s socket on %s (needs CAP_NET_RAW): %w", network, cfg.Interface.Name, err)
	}
	raw, err := rc.c.(*net.IPConn).SyscallConn()
	if err != nil {
		rc.c.Close()
		return nil, fmt.Errorf("netio: %s socket on %s: %w", network, cfg.Interface.Name, err)
	}
	gaddr := &net.IPAddr{IP: group.AsSlice()}
	if cfg.IPv6 {
		rc.p6 = ipv6.NewPacketConn(rc.c)
		err = setup6(rc.p6, cfg.Interface, cfg.Multicast, gaddr)
	} else {
		rc.p4 = ipv4.NewPacketConn(rc.c)
		err = setup4(rc.p4, cfg.Interface, cfg.Multicast, gaddr)
	}
	if err != nil {
		rc.c.Close()
		return nil, fmt.Errorf("netio: set up %s socket on %s: %w", network, cfg.Interface.Name, err)
	}
	oob := ipv4.NewControlMessage(ipv4.FlagTTL | ipv4.FlagDst | ipv4.FlagInterface)
	if cfg.IPv6 {
		oob = ipv6.NewControlMessage(ipv6.FlagHopLimit | ipv6.FlagDst | ipv6.FlagInterface)
	}
	rc.in = newReceiver(raw, recvBatch, recvBuf, len(oob))
	out, err := openSend(cfg.Interface, cfg.IPv6)
	if err != nil {
		rc.c.Close()
		return nil, fmt.Errorf("netio: open the %s send socket on %s: %w", network, cfg.Interface.Name, err)
	}
	rc.out = newSender(out)
	return rc, nil
}

// rcvBuf is the receive buffer asked for (SO_RCVBUFFORCE, which
// CAP_NET_ADMIN allows beyond net.core.rmem_max): a few thousand queued
// datagrams, so that under a flood of packets a reader that keeps up on
// average loses none of the master's adverts to a moment without CPU.
const rcvBuf = 2 << 20

// control runs before bind on the receiving socket: the options of
// [sockOpts] and a large receive buffer.
func control(c syscall.RawConn, ifname string, six bool) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		if serr = sockOpts(int(fd), ifname, six); serr != nil {
			return
		}
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf) // capped by rmem_max
		}
	}); err != nil {
		return err
	}
	return serr
}

// sockOpts sets keepalived's SO_BINDTODEVICE and IP(V6)_MULTICAST_ALL=0 on
// the socket s, so it sees only this interface's adverts and only the
// groups it joined itself; and no DF bit, like keepalived's hand-built
// IPv4 header. Both VRRP sockets have them.
func sockOpts(s int, ifname string, six bool) error {
	if err := unix.BindToDevice(s, ifname); err != nil {
		return fmt.Errorf("SO_BINDTODEVICE %s: %w", ifname, err)
	}
	if six {
		// IPV6_MULTICAST_ALL exists since Linux 4.20; older kernels
		// deliver other sockets' groups too, which VRID demux tolerates.
		_ = unix.SetsockoptInt(s, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0)
		return nil
	}
	if err := unix.SetsockoptInt(s, unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0); err != nil {
		return fmt.Errorf("IP_MULTICAST_ALL: %w", err)
	}
	if err := unix.SetsockoptInt(s, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DONT); err != nil {
		return fmt.Errorf("IP_MTU_DISCOVER: %w", err)
	}
	return nil
}

// openSend opens the socket adverts are sent on: a raw VRRP socket of its
// own, with the options of the receiving one (but its receive buffer: it
// keeps nothing), that the runtime's poller never watches. On the receiving socket every send made the kernel post
// an EPOLLOUT event to the poller when the packet was freed, and the
// runtime read and dropped it at the next wake-up, an eighth of what an
// idle master's wake-up cost in the kernel (perf). A socket filter drops
// whatever it would receive: it joins no group, but an IPv6 raw socket
// gets every multicast datagram of its protocol, and a unicast advert
// reaches every raw socket on the interface. It is non-blocking ([sender]
// says what a full send buffer does).
func openSend(ifi *net.Interface, six bool) (int, error) {
	family := unix.AF_INET
	if six {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, vrrp.Protocol)
	if err != nil {
		return -1, err
	}
	if err := sendOpts(fd, ifi, six); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// dropAll is a socket filter that accepts nothing.
var dropAll = []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0}}

// sendOpts sets the send socket's options: those of sockOpts, the filter
// dropping all it would receive, and what matters to the
// sending socket alone (the outgoing interface, TTL or hop limit 255,
// TOS 0xc0, no loopback; IPv6: the checksum the kernel computes).
func sendOpts(fd int, ifi *net.Interface, six bool) error {
	if err := sockOpts(fd, ifi.Name, six); err != nil {
		return err
	}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(dropAll)), Filter: &dropAll[0]}); err != nil {
		return fmt.Errorf("SO_ATTACH_FILTER: %w", err)
	}
	opt := func(level, name, v int, what string) error {
		if err := unix.SetsockoptInt(fd, level, name, v); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	if six {
		return firstErr(
			opt(unix.IPPROTO_IPV6, unix.IPV6_CHECKSUM, 6, "IPV6_CHECKSUM"),
			opt(unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index, "IPV6_MULTICAST_IF"),
			opt(unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, vrrp.TTL, "IPV6_MULTICAST_HOPS"),
			opt(unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, vrrp.TTL, "IPV6_UNICAST_HOPS"),
			opt(unix.IPPROTO_IPV6, unix.IPV6_TCLASS, tos, "IPV6_TCLASS"),
			opt(unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0, "IPV6_MULTICAST_LOOP"),
		)
	}
	if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifi.Index)}); err != nil {
		return fmt.Errorf("IP_MULTICAST_IF: %w", err)
	}
	return firstErr(
		opt(unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, vrrp.TTL, "IP_MULTICAST_TTL"),
		opt(unix.IPPROTO_IP, unix.IP_TTL, vrrp.TTL, "IP_TTL"),
		opt(unix.IPPROTO_IP, unix.IP_TOS, tos, "IP_TOS"),
		opt(unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0, "IP_MULTICAST_LOOP"),
	)
}

// tos is the IPv4 TOS / IPv6 traffic class of adverts (keepalived: 0xc0,
// network control).
const tos = 0xc0

// setup4 sets up the receiving IPv4 socket: it joins the VRRP group for
// multicast, and reports each datagram's TTL, destination and interface.
func setup4(p *ipv4.PacketConn, ifi *net.Interface, multicast bool, group *net.IPAddr) error {
	if multicast {
		if err := p.JoinGroup(ifi, group); err != nil {
			return fmt.Errorf("join %v: %w", group, err)
		}
	}
	return p.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true)
}

// setup6 sets up the receiving IPv6 socket: it joins the VRRP group for
// multicast, and reports each datagram's hop limit, destination and
// interface.
func setup6(p *ipv6.PacketConn, ifi *net.Interface, multicast bool, group *net.IPAddr) error {
	// The kernel drops datagrams with a bad checksum, like keepalived's
	// IPV6_CHECKSUM (vrrp_if.c); the send socket computes it (sendOpts).
	if err := p.SetChecksum(true, 6); err != nil {
		return fmt.Errorf("IPV6_CHECKSUM: %w", err)
	}
	if multicast {
		if err := p.JoinGroup(ifi, group); err != nil {
			return fmt.Errorf("join %v: %w", group, err)
		}
	}
	return p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Source returns the default source address of adverts.
func (c *RawConn) Source() netip.Addr { return c.src }

// Interface returns the interface the socket is bound to.
func (c *RawConn) Interface() *net.Interface { return c.ifi }

// Send implements [Conn]. It never fragments or loops back.
func (c *RawConn) Send(b []byte, src, dst netip.Addr) error {
	if !src.IsValid() {
		src = c.src
	}
	var (
		scope   uint32
		control func() []byte
	)
	if c.p6 != nil {
		control = func() []byte {
			return (&ipv6.ControlMessage{TrafficClass: tos, HopLimit: vrrp.TTL, Src: src.AsSlice(), IfIndex: c.ifi.Index}).Marshal()
		}
		if zone(dst, c.ifi) != "" {
			scope = uint32(c.ifi.Index)
		}
	} else {
		control = func() []byte { return (&ipv4.ControlMessage{Src: src.AsSlice(), IfIndex: c.ifi.Index}).Marshal() }
	}
	if err := c.out.send(b, src, dst, scope, control); err != nil {
		if errors.Is(err, unix.EADDRNOTAVAIL) || (c.p6 != nil && errors.Is(err, unix.EINVAL)) {
			err = fmt.Errorf("%w: %w", ErrSourceNotReady, err)
		}
		return fmt.Errorf("netio: send advert %v -> %v on %s: %w", src, dst, c.ifi.Name, err)
	}
	return nil
}

// Probe implements [Conn]: it connects a UDP socket, bound to the
// interface and to src, to dst. Nothing goes on the wire, but the kernel
// checks what makes a raw send fail when a node's address was removed:
// that src is a usable local address (not tentative) and that dst is
// reachable from it on this interface. Like Listen, it must run in the
// network namespace the interface lives in.
func (c *RawConn) Probe(src, dst netip.Addr) error {
	if !src.IsValid() {
		src = c.src
	}
	family := unix.AF_INET
	if c.p6 != nil {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netio: probe %v -> %v: %w", src, dst, err)
	}
	defer unix.Close(fd)
	sa := func(a netip.Addr, port int) unix.Sockaddr {
		if c.p6 == nil {
			return &unix.SockaddrInet4{Port: port, Addr: a.As4()}
		}
		s := &unix.SockaddrInet6{Port: port, Addr: a.As16()}
		if zone(a, c.ifi) != "" {
			s.ZoneId = uint32(c.ifi.Index)
		}
		return s
	}
	if err = unix.BindToDevice(fd, c.ifi.Name); err == nil {
		if err = unix.Bind(fd, sa(src, 0)); err == nil {
			err = unix.Connect(fd, sa(dst, 9)) // discard: nothing is sent by connect
		}
	}
	if err != nil {
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			err = fmt.Errorf("%w: %w", ErrSourceNotReady, err)
		}
		return fmt.Errorf("netio: probe %v -> %v on %s: %w", src, dst, c.ifi.Name, err)
	}
	return nil
}

// zone scopes link-local and link-local multicast destinations.
func zone(a netip.Addr, ifi *net.Interface) string {
	if a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() {
		return ifi.Name
	}
	return ""
}

// Receive implements [Conn]. A RawConn has one receive buffer: call
// Receive from one goroutine.
func (c *RawConn) Receive() (Message, error) {
	for {
		m, ok, err := c.receive()
		if err != nil {
			return Message{}, fmt.Errorf("netio: receive on %s: %w", c.ifi.Name, err)
		}
		if ok {
			return m, nil
		}
	}
}

// receive returns the next datagram, reading a new batch when the last
// one is used up; ok is false for one to skip (no control message, as a
// datagram queued before SetControlMessage would have; a truncated IPv4
// header).
func (c *RawConn) receive() (m Message, ok bool, err error) {
	if c.next >= c.read {
		c.next, c.read = 0, 0
		if c.read, err = c.in.readBatch(); err != nil {
			return m, false, err
		}
	}
	data, oob, src := c.in.datagram(c.next)
	c.next++
	if len(oob) == 0 {
		return m, false, nil
	}
	if c.p6 != nil {
		var cm ipv6.ControlMessage
		if cm.Parse(oob) != nil {
			return m, false, nil
		}
		m.TTL, m.Dst, m.IfIndex = cm.HopLimit, addr(cm.Dst), cm.IfIndex
	} else {
		var cm ipv4.ControlMessage
		if cm.Parse(oob) != nil {
			return m, false, nil
		}
		m.TTL, m.Dst, m.IfIndex = cm.TTL, addr(cm.Dst), cm.IfIndex
		// An IPv4 raw socket delivers the IP header; a batch read does
		// not strip it as ReadFrom does.
		if len(data) < ipv4.HeaderLen || data[0]>>4 != 4 {
			return m, false, nil
		}
		hl := int(data[0]&0x0f) * 4
		if hl < ipv4.HeaderLen || hl > len(data) {
			return m, false, nil
		}
		data = data[hl:]
	}
	m.Src = src
	m.Payload = append([]byte(nil), data...)
	return m, m.Src.IsValid() && m.Dst.IsValid(), nil
}

func addr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// SetReadDeadline makes a blocked or later Receive fail with an error
// satisfying errors.Is(err, os.ErrDeadlineExceeded) at t; zero t: never.
func (c *RawConn) SetReadDeadline(t time.Time) error { return c.c.SetReadDeadline(t) }

// Close implements [Conn].
func (c *RawConn) Close() error { return errors.Join(c.c.Close(), c.out.close()) }

// waitSource returns the source address to use, polling until ctx ends
// while it is missing or (IPv6) tentative.
func waitSource(ctx context.Context, cfg Config) (netip.Addr, error) {
	for {
		src, err := findSource(cfg)
		if err == nil {
			return src, nil
		}
		if !errors.Is(err, ErrSourceNotReady) {
			return netip.Addr{}, err
		}
		if cfg.Source.IsValid() && errors.Is(err, ErrSourceMissing) {
			return cfg.Source.Unmap(), nil
		}
		select {
		case <-ctx.Done():
			return netip.Addr{}, fmt.Errorf("netio: %s: %w (%w)", cfg.Interface.Name, err, ctx.Err())
		case <-time.After(sourcePoll):
		}
	}
}

// findSource looks the source up with rtnetlink, which, unlike
// net.Interface.Addrs, reports secondary and tentative flags.
func findSource(cfg Config) (netip.Addr, error) {
	nl, err := rtnetlink.Dial(nil)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("netio: rtnetlink: %w", err)
	}
	defer nl.Close()
	msgs, err := nl.Address.List()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("netio: list addresses: %w", err)
	}
	return pickSource(msgs, cfg)
}

// pickSource chooses cfg.Source if present and usable, else the first
// primary IPv4 or link-local IPv6 address of the interface.
func pickSource(msgs []rtnetlink.AddressMessage, cfg Config) (netip.Addr, error) {
	family := uint8(unix.AF_INET)
	if cfg.IPv6 {
		family = unix.AF_INET6
	}
	tentative := false
	for _, m := range msgs {
		if m.Family != family || m.Index != uint32(cfg.Interface.Index) || m.Attributes == nil {
			continue
		}
		ip := m.Attributes.Local
		if ip == nil {
			ip = m.Attributes.Address
		}
		a := addr(ip)
		flags := uint32(m.Flags) | m.Attributes.Flags
		switch {
		case cfg.Source.IsValid() && a != cfg.Source.Unmap():
			continue
		case !cfg.Source.IsValid() && cfg.IPv6 && !a.IsLinkLocalUnicast():
			continue
		case !cfg.Source.IsValid() && (flags&unix.IFA_F_SECONDARY != 0 || slices.Contains(cfg.NotSource, a)):
			continue
		case flags&unix.IFA_F_DADFAILED != 0:
			continue // never usable: as if missing
		case flags&unix.IFA_F_TENTATIVE != 0:
			tentative = true
			continue
		}
		return a, nil
	}
	what := "a primary IPv4 address"
	switch {
	case cfg.Source.IsValid():
		what = "source address " + cfg.Source.String()
	case cfg.IPv6:
		what = "an IPv6 link-local address"
	}
	if tentative {
		return netip.Addr{}, fmt.Errorf("%w: %s on %s is still in duplicate address detection", ErrSourceNotReady, what, cfg.Interface.Name)
	}
	return netip.Addr{}, fmt.Errorf("%w: %w: %s has no %s: add it, or configure the source", ErrSourceNotReady, ErrSourceMissing, cfg.Interface.Name, what)
}
