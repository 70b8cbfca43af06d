package announce

import (
	"bytes"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// fakePacketConn records the frames written to it.
type fakePacketConn struct {
	net.PacketConn
	frames [][]byte
}

func (c *fakePacketConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.frames = append(c.frames, bytes.Clone(b))
	return len(b), nil
}
func (c *fakePacketConn) Close() error                     { return nil }
func (c *fakePacketConn) SetDeadline(time.Time) error      { return nil }
func (c *fakePacketConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakePacketConn) SetWriteDeadline(time.Time) error { return nil }

// fakeNA records the NDP messages written to it.
type fakeNA struct {
	sent []sentNA
}

type sentNA struct {
	M   ndp.Message
	Src netip.Addr
	Hop int
	If  int
	Dst netip.Addr
}

func (f *fakeNA) WriteTo(m ndp.Message, cm *ipv6.ControlMessage, dst netip.Addr) error {
	src, _ := netip.AddrFromSlice(cm.Src)
	f.sent = append(f.sent, sentNA{M: m, Src: src, Hop: cm.HopLimit, If: cm.IfIndex, Dst: dst})
	return nil
}
func (f *fakeNA) Close() error { return nil }

var mac = net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}

// testIface is the loopback interface with a made-up MAC.
func testIface(t *testing.T) *net.Interface {
	t.Helper()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	ifi := *lo
	ifi.HardwareAddr = mac
	return &ifi
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func TestGratuitousARP(t *testing.T) {
	conn := &fakePacketConn{}
	a, err := New(testIface(t), conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Announce([]netip.Addr{netip.MustParseAddr("198.18.0.200")}); err != nil {
		t.Fatal(err)
	}
	// keepalived 2.2.7's frame (vrrp-reference.md 3.3): broadcast, ARP
	// request, sender = target = VIP, target MAC ff:ff:ff:ff:ff:ff; then
	// the same as a reply (op 2).
	const frame = "ffffffffffff 02005e100001 0806 0001 0800 06 04 %s 02005e100001 c61200c8 ffffffffffff c61200c8"
	want := [][]byte{
		unhex(strings.Replace(frame, "%s", "0001", 1)),
		unhex(strings.Replace(frame, "%s", "0002", 1)),
	}
	if len(conn.frames) != len(want) {
		t.Fatalf("sent %d frames, want %d", len(conn.frames), len(want))
	}
	for i, w := range want {
		got := conn.frames[i]
		if !bytes.Equal(got[:len(w)], w) || !bytes.Equal(got[len(w):], make([]byte, len(got)-len(w))) {
			t.Errorf("frame %d:\n got %x\nwant %x (then zero padding)", i, got, w)
		}
	}
}

func TestUnsolicitedNA(t *testing.T) {
	na := &fakeNA{}
	ifi := testIface(t)
	a, err := New(ifi, nil, na)
	if err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParseAddr("2001:db8:18::200")
	if err := a.Announce([]netip.Addr{vip}); err != nil {
		t.Fatal(err)
	}
	want := []sentNA{{
		M: &ndp.NeighborAdvertisement{
			Override:      true,
			TargetAddress: vip,
			Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}},
		},
		Src: vip, Hop: 255, If: ifi.Index, Dst: netip.MustParseAddr("ff02::1"),
	}}
	if d := cmp.Diff(want, na.sent, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("NA (-want +got):\n%s", d)
	}
}

func TestMissingFamily(t *testing.T) {
	a, err := New(testIface(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = a.Announce([]netip.Addr{netip.MustParseAddr("198.18.0.200"), netip.MustParseAddr("2001:db8::1")})
	if err == nil || !strings.Contains(err.Error(), "198.18.0.200") || !strings.Contains(err.Error(), "2001:db8::1") {
		t.Errorf("Announce without sockets = %v, want an error naming both addresses", err)
	}
}
