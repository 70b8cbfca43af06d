package netio_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/hac-project/hac/agent/netio"
	"github.com/hac-project/hac/agent/vrrp"
	"github.com/hac-project/hac/internal/netns"
)

// Listen opens a socket on eth1 inside namespace ns; the bed closes it.
func listen(t *testing.T, ns string, cfg netio.Config) *netio.RawConn {
	t.Helper()
	var c *netio.RawConn
	err := netns.Do(ns, func() error {
		ifi, err := net.InterfaceByName(netns.NodeIface)
		if err != nil {
			return err
		}
		cfg.Interface = ifi
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err = netio.Listen(ctx, cfg)
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// receive returns the next advert or fails the test after a bounded wait.
func receive(t *testing.T, c *netio.RawConn) netio.Message {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	m, err := c.Receive()
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return m
}

func mustAddrs(ss ...string) []netip.Addr {
	var a []netip.Addr
	for _, s := range ss {
		a = append(a, netip.MustParseAddr(s))
	}
	return a
}

// sniff opens, in namespace ns, a raw VRRP socket that reports the header
// fields of what arrives: an IPv4 raw socket reads the whole IP header,
// an IPv6 one the traffic class and hop limit as control messages.
func sniff(t *testing.T, ns string, six bool) func() (tos, ttl int, df bool) {
	t.Helper()
	var fd int
	err := netns.Do(ns, func() error {
		family := unix.AF_INET
		if six {
			family = unix.AF_INET6
		}
		var err error
		if fd, err = unix.Socket(family, unix.SOCK_RAW|unix.SOCK_CLOEXEC, vrrp.Protocol); err != nil {
			return err
		}
		tv := unix.NsecToTimeval(int64(3 * time.Second))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		if six {
			return errors.Join(unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVTCLASS, 1), unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("sniffer in %s: %v", ns, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return func() (tos, ttl int, df bool) {
		b, oob := make([]byte, 1500), make([]byte, 256)
		n, oobn, _, _, err := unix.Recvmsg(fd, b, oob, 0)
		if err != nil {
			t.Fatalf("sniffer: %v", err)
		}
		if !six {
			if n < 20 {
				t.Fatalf("sniffer: %d bytes", n)
			}
			return int(b[1]), int(b[8]), b[6]&0x40 != 0
		}
		cms, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			t.Fatal(err)
		}
		for _, cm := range cms {
			if cm.Header.Level == unix.IPPROTO_IPV6 && len(cm.Data) >= 4 {
				switch cm.Header.Type {
				case unix.IPV6_TCLASS:
					tos = int(binary.NativeEndian.Uint32(cm.Data))
				case unix.IPV6_HOPLIMIT:
					ttl = int(binary.NativeEndian.Uint32(cm.Data))
				}
			}
		}
		return tos, ttl, false
	}
}

// TestSendReceive sends adverts of every kind between two namespaces and
// checks what the receiving socket reports: RFC 5798 section 5.1 (TTL and
// hop limit 255, source, destination) and the decoded advert; and on the
// wire, keepalived's IPv4 TOS and IPv6 traffic class 0xc0 (network
// control) and no DF bit.
func TestSendReceive(t *testing.T) {
	bed := netns.New(t, netns.Spec{IPv6: true})
	n1, n2 := bed.Node("n1"), bed.Node("n2")
	s4 := listen(t, n1.NS, netio.Config{Multicast: true})
	r4 := listen(t, n2.NS, netio.Config{Multicast: true})
	s6 := listen(t, n1.NS, netio.Config{IPv6: true, Multicast: true})
	r6 := listen(t, n2.NS, netio.Config{IPv6: true, Multicast: true})
	if s4.Source() != n1.Addr {
		t.Errorf("IPv4 source = %v, want the primary address %v", s4.Source(), n1.Addr)
	}
	if !s6.Source().IsLinkLocalUnicast() {
		t.Errorf("IPv6 source = %v, want a link-local address", s6.Source())
	}
	wire4, wire6 := sniff(t, n2.NS, false), sniff(t, n2.NS, true)
	v4 := mustAddrs("198.18.0.200")
	tests := []struct {
		name     string
		s, r     *netio.RawConn
		src, dst netip.Addr
		p        vrrp.Packet
	}{
		{"v2 multicast PASS", s4, r4, netip.Addr{}, vrrp.GroupIPv4,
			vrrp.Packet{Version: 2, VRID: 51, Priority: 200, AuthType: vrrp.AuthPass, AdvertInt: time.Second, Addrs: v4, Auth: vrrp.PassAuth("pass1234")}},
		{"v2 unicast", s4, r4, netip.Addr{}, n2.Addr,
			vrrp.Packet{Version: 2, VRID: 52, Priority: 100, AdvertInt: time.Second, Addrs: v4}},
		{"v3 multicast", s4, r4, netip.Addr{}, vrrp.GroupIPv4,
			vrrp.Packet{Version: 3, VRID: 53, Priority: 0, AdvertInt: 100 * time.Millisecond, Addrs: v4}},
		{"v3 unicast", s4, r4, netip.Addr{}, n2.Addr,
			vrrp.Packet{Version: 3, VRID: 54, Priority: 254, AdvertInt: 100 * time.Millisecond, Addrs: v4}},
		{"v3 IPv6 multicast", s6, r6, netip.Addr{}, vrrp.GroupIPv6,
			vrrp.Packet{Version: 3, VRID: 55, Priority: 100, AdvertInt: 100 * time.Millisecond, Addrs: mustAddrs("fe80::55", "2001:db8:18::55")}},
		{"v3 IPv6 unicast from the global address", s6, r6, n1.Addr6, n2.Addr6,
			vrrp.Packet{Version: 3, VRID: 56, Priority: 100, AdvertInt: 100 * time.Millisecond, Addrs: mustAddrs("2001:db8:18::56")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src
			if !src.IsValid() {
				src = tt.s.Source()
			}
			b, err := tt.p.Marshal(src, tt.dst)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.s.Send(b, tt.src, tt.dst); err != nil {
				t.Fatal(err)
			}
			m := receive(t, tt.r)
			wire := wire4
			if tt.dst.Is6() {
				wire = wire6
			}
			if tos, ttl, df := wire(); tos != 0xc0 || ttl != vrrp.TTL || df {
				t.Errorf("on the wire: TOS/traffic class %#x, TTL/hop limit %d, DF %v; want 0xc0, %d, no DF", tos, ttl, df, vrrp.TTL)
			}
			want := netio.Message{Payload: b, Src: src, Dst: tt.dst, TTL: vrrp.TTL, IfIndex: tt.r.Interface().Index}
			if diff := cmp.Diff(want, m, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("received (-want +got):\n%s", diff)
			}
			if m.Multicast() != tt.dst.IsMulticast() {
				t.Errorf("Multicast() = %v", m.Multicast())
			}
			p, err := vrrp.Parse(m.Payload, m.Src, m.Dst)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(&tt.p, p, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

// TestProbe: Probe succeeds while the source address is on the interface
// and fails, like Send, once it was removed; it works again when the
// address comes back. Nothing is sent.
func TestProbe(t *testing.T) {
	bed := netns.New(t, netns.Spec{IPv6: true})
	n1, n2 := bed.Node("n1"), bed.Node("n2")
	probe := func(c *netio.RawConn, dst netip.Addr) error { // in n1, like the agent
		var err error
		if derr := netns.Do(n1.NS, func() error { err = c.Probe(netip.Addr{}, dst); return nil }); derr != nil {
			t.Fatal(derr)
		}
		return err
	}
	c4 := listen(t, n1.NS, netio.Config{Multicast: true})
	c6 := listen(t, n1.NS, netio.Config{IPv6: true, Multicast: true})
	for _, tt := range []struct {
		c   *netio.RawConn
		dst netip.Addr
	}{{c4, vrrp.GroupIPv4}, {c4, n2.Addr}, {c6, vrrp.GroupIPv6}, {c6, n2.Addr6}} {
		if err := probe(tt.c, tt.dst); err != nil {
			t.Errorf("Probe(%v) with the source on eth1: %v", tt.dst, err)
		}
	}
	own := netip.PrefixFrom(n1.Addr, 24).String()
	bed.Exec(n1.NS, "ip", "addr", "del", own, "dev", netns.NodeIface)
	for _, dst := range []netip.Addr{vrrp.GroupIPv4, n2.Addr} {
		err := probe(c4, dst)
		if err == nil {
			t.Errorf("Probe(%v) without the source address: nil error", dst)
		}
		p := vrrp.Packet{Version: 3, VRID: 51, Priority: 100, AdvertInt: time.Second, Addrs: mustAddrs("198.18.0.200")}
		b, _ := p.Marshal(c4.Source(), dst)
		if serr := c4.Send(b, netip.Addr{}, dst); serr == nil {
			t.Errorf("Send(%v) without the source address: nil error (Probe: %v)", dst, err)
		}
	}
	bed.Exec(n1.NS, "ip", "addr", "add", own, "dev", netns.NodeIface)
	if err := probe(c4, n2.Addr); err != nil {
		t.Errorf("Probe after the address came back: %v", err)
	}
}

// TestSendAllocatesNothing: an advert's send reuses the socket's buffers
// and control messages (an idle master makes no garbage per advert).
func TestSendAllocatesNothing(t *testing.T) {
	bed := netns.New(t, netns.Spec{IPv6: true})
	n1 := bed.Node("n1")
	for _, six := range []bool{false, true} {
		s := listen(t, n1.NS, netio.Config{IPv6: six, Multicast: true})
		p := vrrp.Packet{Version: 3, VRID: 51, Priority: 100, AdvertInt: time.Second, Addrs: mustAddrs("198.18.0.200")}
		dst := vrrp.GroupIPv4
		if six {
			p.Addrs, dst = mustAddrs("2001:db8:18::200"), vrrp.GroupIPv6
		}
		b, err := p.Marshal(s.Source(), dst)
		if err != nil {
			t.Fatal(err)
		}
		var serr error
		if n := testing.AllocsPerRun(20, func() {
			if err := s.Send(b, netip.Addr{}, dst); err != nil {
				serr = err
			}
		}); n != 0 {
			t.Errorf("IPv6 %v: Send allocates %v times per advert, want 0", six, n)
		}
		if serr != nil {
			t.Fatal(serr)
		}
	}
}
