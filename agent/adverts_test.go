package agent

import (
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/netio"
	"github.com/hac-project/hac/agent/vrrp"
)

// testAdvertIO returns the advert I/O of a VRRPv3 instance with VRID 51
// and vip1 at 100 ms on a fake socket; mod changes the instance first.
func testAdvertIO(t *testing.T, mod func(*config.Instance)) (*advertIO, *fakeConn, *fakeClock, *strings.Builder) {
	t.Helper()
	c := &config.Instance{Name: "VI_1", VRID: 51, Version: 3, Interface: "eth1", Priority: 100,
		AdvertInt: config.Duration(100 * time.Millisecond), VIPs: []config.VIP{{Prefix: vip1}}}
	if mod != nil {
		mod(c)
	}
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	log := &strings.Builder{}
	ad := newAdvertIO(clock, slog.New(slog.NewTextHandler(log, nil)))
	conn := newFakeConn()
	ad.attach(conn)
	ad.setup(c, c.VIPs[0].Prefix.Addr().Is6(), vipAddrs(c))
	return ad, conn, clock, log
}

// TestAdvertIOSend: one advert per destination (the IPv4 or IPv6 group,
// or each unicast peer) with the priority asked for and the VRRPv2 PASS
// data; a failure is returned with its destination and not counted as
// sent.
func TestAdvertIOSend(t *testing.T) {
	peer2 := netip.MustParseAddr("198.18.0.13")
	for _, tc := range []struct {
		name     string
		mod      func(*config.Instance)
		sendErr  error
		wantDsts []netip.Addr
		wantAuth vrrp.AuthType
	}{
		{"IPv4 multicast", nil, nil, []netip.Addr{vrrp.GroupIPv4}, 0},
		{"unicast", func(c *config.Instance) { c.Unicast, c.Peers = true, []netip.Addr{peer, peer2} }, nil, []netip.Addr{peer, peer2}, 0},
		{"VRRPv2 PASS", func(c *config.Instance) {
			c.Version, c.AdvertInt, c.Auth = 2, config.Duration(time.Second), &config.Auth{Type: "PASS", Pass: "secret12"}
		}, nil, []netip.Addr{vrrp.GroupIPv4}, vrrp.AuthPass},
		{"send fails", func(c *config.Instance) { c.Unicast, c.Peers = true, []netip.Addr{peer, peer2} }, errors.New("sendmsg: network is unreachable"), []netip.Addr{peer, peer2}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ad, conn, _, _ := testAdvertIO(t, tc.mod)
			conn.sendErr = tc.sendErr
			if d := cmp.Diff(tc.wantDsts, ad.dsts, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
				t.Errorf("destinations (-want +got):\n%s", d)
			}
			sent, failed := ad.send(42)
			if tc.sendErr != nil {
				if sent != 0 || len(failed) != len(tc.wantDsts) || failed[0].dst != tc.wantDsts[0] || failed[0].err != tc.sendErr {
					t.Errorf("send = %d, %v; want 0 sent and a failure per destination", sent, failed)
				}
				if dst, err := ad.probe(); dst != tc.wantDsts[0] || err != tc.sendErr {
					t.Errorf("probe = %v, %v; want %v, %v", dst, err, tc.wantDsts[0], tc.sendErr)
				}
				return
			}
			if sent != len(tc.wantDsts) || failed != nil {
				t.Fatalf("send = %d, %v; want %d sent", sent, failed, len(tc.wantDsts))
			}
			if dst, err := ad.probe(); err != nil {
				t.Errorf("probe = %v, %v; want no error", dst, err)
			}
			if len(conn.sent) != len(tc.wantDsts) {
				t.Errorf("%d adverts on the socket, want %d", len(conn.sent), len(tc.wantDsts))
			}
			for _, p := range conn.sent {
				if p.Priority != 42 || p.VRID != 51 || p.AuthType != tc.wantAuth || len(p.Addrs) != 1 || p.Addrs[0] != vip1.Addr() {
					t.Errorf("sent %+v, want priority 42, VRID 51, auth %v, the VIP", p, tc.wantAuth)
				}
			}
		})
	}
}

// TestAdvertIOEncodesOnChange: the advert is encoded once and sent as is
// while nothing changes; a new priority, new VIPs (setAddrs) or a new
// socket (attach) are in the next advert.
func TestAdvertIOEncodesOnChange(t *testing.T) {
	ad, conn, _, _ := testAdvertIO(t, nil)
	vip2 := netip.MustParseAddr("198.18.0.201")
	type sent struct {
		Priority uint8
		Addrs    []netip.Addr
	}
	var got []sent
	step := func(prio uint8) {
		t.Helper()
		if n, failed := ad.send(prio); n != 1 || failed != nil {
			t.Fatalf("send(%d) = %d, %v; want 1 sent", prio, n, failed)
		}
		p := conn.sent[len(conn.sent)-1]
		got = append(got, sent{p.Priority, p.Addrs})
	}
	step(100)
	ad.pkt.VRID = 52 // seen only if the advert is encoded again
	step(100)
	if vrid := conn.sent[1].VRID; vrid != 51 {
		t.Errorf("the unchanged advert was encoded again (VRID %d)", vrid)
	}
	ad.pkt.VRID = 51
	step(90)
	ad.setAddrs([]netip.Addr{vip1.Addr(), vip2})
	step(90)
	other := newFakeConn()
	ad.attach(other)
	conn = other
	step(90)
	want := []sent{
		{100, []netip.Addr{vip1.Addr()}},
		{100, []netip.Addr{vip1.Addr()}},
		{90, []netip.Addr{vip1.Addr()}},
		{90, []netip.Addr{vip1.Addr(), vip2}},
		{90, []netip.Addr{vip1.Addr(), vip2}},
	}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
		t.Errorf("adverts sent (-want +got):\n%s", d)
	}
}

// TestAdvertIOEncodeError: an advert that cannot be encoded is a send
// failure to its destination, every time it is sent.
func TestAdvertIOEncodeError(t *testing.T) {
	ad, conn, _, _ := testAdvertIO(t, nil)
	ad.setAddrs(nil) // an advert carries at least one address
	for range 2 {
		if n, failed := ad.send(100); n != 0 || len(failed) != 1 || failed[0].err == nil {
			t.Errorf("send = %d, %v; want one failure", n, failed)
		}
	}
	if len(conn.sent) != 0 {
		t.Errorf("%d adverts on the socket, want none", len(conn.sent))
	}
}

// TestAdvertIOIPv6: an IPv6 instance advertises to the IPv6 group.
func TestAdvertIOIPv6(t *testing.T) {
	ad, _, _, _ := testAdvertIO(t, func(c *config.Instance) { c.VIPs = []config.VIP{{Prefix: netip.MustParsePrefix("fd00::1/128")}} })
	if len(ad.dsts) != 1 || ad.dsts[0] != vrrp.GroupIPv6 {
		t.Errorf("destinations %v, want %v", ad.dsts, vrrp.GroupIPv6)
	}
}

// TestAdvertIODeliver: valid adverts are queued for the instance; others
// are dropped and counted by reason, and a valid one finding the queue
// full is dropped as queue_full. The VIPs changed in place (setAddrs) are
// what adverts are checked against from then on.
func TestAdvertIODeliver(t *testing.T) {
	msg := func(t *testing.T, p vrrp.Packet, ttl int) netio.Message {
		b, err := p.Marshal(peer, vrrp.GroupIPv4)
		if err != nil {
			t.Fatal(err)
		}
		return netio.Message{Payload: b, Src: peer, Dst: vrrp.GroupIPv4, TTL: ttl}
	}
	good := vrrp.Packet{Version: 3, VRID: 51, Priority: 200, AdvertInt: 100 * time.Millisecond, Addrs: []netip.Addr{vip1.Addr()}}
	other := good
	other.Addrs = []netip.Addr{vip2.Addr()}
	v2 := good
	v2.Version, v2.AdvertInt = 2, time.Second
	type result struct {
		Queued []bool // differ, per queued advert
		Drops  map[string]uint64
	}
	for _, tc := range []struct {
		name  string
		queue int // the queue's capacity
		addrs []netip.Addr
		msgs  func(t *testing.T) []netio.Message
		want  result
	}{
		{"valid", rxQueue, nil, func(t *testing.T) []netio.Message { return []netio.Message{msg(t, good, 255)} },
			result{Queued: []bool{false}, Drops: map[string]uint64{}}},
		{"another VIP set is queued, marked", rxQueue, nil, func(t *testing.T) []netio.Message { return []netio.Message{msg(t, other, 255)} },
			result{Queued: []bool{true}, Drops: map[string]uint64{}}},
		{"VIPs changed in place", rxQueue, []netip.Addr{vip2.Addr()}, func(t *testing.T) []netio.Message {
			return []netio.Message{msg(t, other, 255), msg(t, good, 255)}
		}, result{Queued: []bool{false, true}, Drops: map[string]uint64{}}},
		{"invalid", rxQueue, nil, func(t *testing.T) []netio.Message {
			return []netio.Message{msg(t, good, 64), msg(t, v2, 255), msg(t, v2, 255), {Payload: []byte{0x31, 51}, Src: peer, Dst: vrrp.GroupIPv4, TTL: 255}}
		}, result{Drops: map[string]uint64{"ttl": 1, "version": 2, "length": 1}}},
		{"queue full", 1, nil, func(t *testing.T) []netio.Message { return []netio.Message{msg(t, good, 255), msg(t, good, 255)} },
			result{Queued: []bool{false}, Drops: map[string]uint64{"queue_full": 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ad, _, _, _ := testAdvertIO(t, nil)
			ad.msgs = make(chan received, tc.queue)
			if tc.addrs != nil {
				ad.setAddrs(tc.addrs)
			}
			for _, m := range tc.msgs(t) {
				ad.deliver(m)
			}
			close(ad.msgs)
			got := result{Drops: ad.dropCounts()}
			for r := range ad.msgs {
				got.Queued = append(got.Queued, r.differ)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

// TestAdvertIODropLog: drops are logged at most every warnEvery per
// reason, with how many were not logged.
func TestAdvertIODropLog(t *testing.T) {
	ad, _, clock, log := testAdvertIO(t, nil)
	why := errors.New("ttl 64, want 255")
	t0 := clock.now
	for _, at := range []time.Duration{0, time.Second, 2 * time.Second, warnEvery + time.Second} {
		clock.now = t0.Add(at)
		ad.drop("ttl", why)
	}
	ad.drop("version", why)
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	var got []string
	for _, l := range lines {
		_, after, _ := strings.Cut(l, "reason=")
		got = append(got, after)
	}
	want := []string{
		`ttl detail="ttl 64, want 255" not_logged=0`,
		`ttl detail="ttl 64, want 255" not_logged=2`,
		`version detail="ttl 64, want 255" not_logged=0`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("logged (-want +got):\n%s", d)
	}
	if got := ad.dropCounts(); got["ttl"] != 4 || got["version"] != 1 {
		t.Errorf("drops %v, want ttl=4 version=1", got)
	}
}
