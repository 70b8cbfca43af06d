package vrrp_test

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/netio"
	"github.com/hac-project/hac/agent/vrrp"
	"github.com/hac-project/hac/agent/vrrp/internal/pcap"
	"github.com/hac-project/hac/internal/netns"
	"github.com/hac-project/hac/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/fuzz/FuzzParse/keepalived-* from a live keepalived capture (root)")

// A kaCase is one keepalived 2.2.7 instance of kaConfig and what we expect
// of its adverts: the packet (priority 200 while master, 0 on SIGTERM) and
// the local configuration that must accept it.
type kaCase struct {
	name string // seed file keepalived-<name>[-prio0]
	want vrrp.Packet
	exp  vrrp.Expect
}

var (
	n1v4, n2v4 = netip.MustParseAddr("198.18.0.11"), netip.MustParseAddr("198.18.0.12")
	n1v6, n2v6 = netip.MustParseAddr("2001:db8:18::11"), netip.MustParseAddr("2001:db8:18::12")
)

// kaConfig runs on node n1 of a netns bed (198.18.0.11, 2001:db8:18::11);
// the capture happens on n2 (.12).
var kaConfig = `
global_defs {
	router_id hac-capture
}
vrrp_instance V2_PASS {
	state MASTER
	interface eth1
	virtual_router_id 51
	priority 200
	advert_int 1
	authentication {
		auth_type PASS
		auth_pass pass1234
	}
	virtual_ipaddress {
		198.18.0.102
		198.18.0.103
	}
}
vrrp_instance V3_MCAST {
	version 3
	state MASTER
	interface eth1
	virtual_router_id 60
	priority 200
	advert_int 0.1
	virtual_ipaddress {
		198.18.0.160
	}
}
vrrp_instance V3_UCAST {
	version 3
	state MASTER
	interface eth1
	virtual_router_id 70
	priority 200
	advert_int 0.1
	unicast_src_ip 198.18.0.11
	unicast_peer {
		198.18.0.12
	}
	virtual_ipaddress {
		198.18.0.170
	}
}
vrrp_instance V3_IPV6 {
	version 3
	state MASTER
	interface eth1
	virtual_router_id 61
	priority 200
	advert_int 0.1
	virtual_ipaddress {
		fe80::61
		2001:db8:18::61
	}
}
vrrp_instance V3_IPV6_UCAST {
	version 3
	state MASTER
	interface eth1
	virtual_router_id 62
	priority 200
	advert_int 0.1
	unicast_src_ip 2001:db8:18::11
	unicast_peer {
		2001:db8:18::12
	}
	virtual_ipaddress {
		2001:db8:18::62
	}
}
`

var kaCases = []kaCase{
	{"v2-pass",
		vrrp.Packet{Version: 2, VRID: 51, Priority: 200, AuthType: vrrp.AuthPass, AdvertInt: time.Second,
			Addrs: addrs("198.18.0.102", "198.18.0.103"), Auth: vrrp.PassAuth("pass1234")},
		vrrp.Expect{Version: 2, VRID: 51, AuthType: vrrp.AuthPass, Auth: vrrp.PassAuth("pass1234"), AdvertInt: time.Second,
			Addrs: addrs("198.18.0.103", "198.18.0.102")}},
	{"v3-mcast",
		vrrp.Packet{Version: 3, VRID: 60, Priority: 200, AdvertInt: 100 * time.Millisecond, Addrs: addrs("198.18.0.160")},
		vrrp.Expect{Version: 3, VRID: 60, AdvertInt: 100 * time.Millisecond, Addrs: addrs("198.18.0.160")}},
	{"v3-ucast",
		vrrp.Packet{Version: 3, VRID: 70, Priority: 200, AdvertInt: 100 * time.Millisecond, Addrs: addrs("198.18.0.170")},
		vrrp.Expect{Version: 3, VRID: 70, AdvertInt: 100 * time.Millisecond, Addrs: addrs("198.18.0.170"),
			Unicast: true, CheckSource: true, Peers: []netip.Addr{n1v4}}},
	{"v3-ipv6",
		vrrp.Packet{Version: 3, VRID: 61, Priority: 200, AdvertInt: 100 * time.Millisecond, Addrs: addrs("fe80::61", "2001:db8:18::61")},
		vrrp.Expect{Version: 3, VRID: 61, AdvertInt: 100 * time.Millisecond, Addrs: addrs("2001:db8:18::61", "fe80::61")}},
	{"v3-ipv6-ucast",
		vrrp.Packet{Version: 3, VRID: 62, Priority: 200, AdvertInt: 100 * time.Millisecond, Addrs: addrs("2001:db8:18::62")},
		vrrp.Expect{Version: 3, VRID: 62, AdvertInt: 100 * time.Millisecond, Addrs: addrs("2001:db8:18::62"),
			Unicast: true, CheckSource: true, Peers: []netip.Addr{n1v6}}},
}

// seedName is the corpus file of a case's adverts at priority prio.
func seedName(c kaCase, prio uint8) string {
	name := "keepalived-" + c.name
	if prio == 0 {
		name += "-prio0"
	}
	return filepath.Join("testdata", "fuzz", "FuzzParse", name)
}

// verifyKeepalived checks one advert keepalived sent from src to dst: we
// decode it, accept it with the instance's configuration, and encode the
// same packet to the same bytes.
func verifyKeepalived(t *testing.T, c kaCase, prio uint8, msg []byte, src, dst netip.Addr, ttl int) {
	t.Helper()
	p, err := vrrp.Parse(msg, src, dst)
	if err != nil {
		t.Fatalf("%s: Parse(%x, %v, %v): %v", c.name, msg, src, dst, err)
	}
	want := c.want
	want.Priority = prio
	if diff := cmp.Diff(&want, p, cmpAddr); diff != "" {
		t.Errorf("%s: decoded (-want +got):\n%s", c.name, diff)
	}
	differ, err := c.exp.Check(p, src, ttl, dst.IsMulticast())
	if err != nil || differ {
		t.Errorf("%s: Check = %v, %v; want the advert accepted with the same VIPs", c.name, differ, err)
	}
	ours, err := want.Marshal(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(msg, ours); diff != "" {
		t.Errorf("%s: our encoding differs from keepalived's (-keepalived +ours):\n%s", c.name, diff)
	}
}

// TestKeepalivedSeeds checks the committed captures of keepalived 2.2.7's
// adverts (no root needed); TestKeepalivedCapture regenerates them.
func TestKeepalivedSeeds(t *testing.T) {
	for _, c := range kaCases {
		for _, prio := range []uint8{200, 0} {
			s, err := readSeed(seedName(c, prio))
			if err != nil {
				t.Fatalf("%v (regenerate with: go test -run TestKeepalivedCapture -update ./agent/vrrp as root)", err)
			}
			if s.src != n1v4 && s.src != n1v6 && !s.src.IsLinkLocalUnicast() {
				t.Errorf("%s: source %v is not node n1's", c.name, s.src)
			}
			verifyKeepalived(t, c, prio, s.msg, s.src, s.dst, vrrp.TTL)
		}
	}
}

// TestKeepalivedCapture runs a real keepalived 2.2.7 with kaConfig in a
// network namespace, captures its adverts on the peer namespace twice, with
// tcpdump and with package netio's sockets, and checks that every one
// decodes, passes Check with the instance's configuration, and equals our
// own encoding of the same advert; also the priority 0 adverts keepalived
// sends on SIGTERM. With -update it rewrites the keepalived-* seeds.
func TestKeepalivedCapture(t *testing.T) {
	testenv.NeedRoot(t)
	ka := testenv.NeedTool(t, "keepalived")
	tcpdump := testenv.NeedTool(t, "tcpdump")
	bed := netns.New(t, netns.Spec{IPv6: true})
	n1, n2 := bed.Node("n1"), bed.Node("n2")
	if n1.Addr != n1v4 || n2.Addr != n2v4 || n1.Addr6 != n1v6 || n2.Addr6 != n2v6 {
		t.Fatalf("the bed's addresses changed: update kaConfig and kaCases")
	}
	dir := t.TempDir()

	// Capture on n2 with tcpdump...
	capFile := filepath.Join(dir, "vrrp.pcap")
	td := bed.Command(n2.NS, tcpdump, "-i", netns.NodeIface, "-n", "-U", "-w", capFile, "ip proto 112 or ip6 proto 112")
	stderr, err := td.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	bed.Start(td)
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				close(listening)
				break
			}
		}
		for sc.Scan() {
		}
	}()
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not start listening within 10s")
	}

	// ... and with our sockets.
	var mu sync.Mutex
	seen := map[string]netio.Message{} // "vrid/prio" -> first advert
	var wg sync.WaitGroup
	var conns []*netio.RawConn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	})
	for _, six := range []bool{false, true} {
		var c *netio.RawConn
		err := netns.Do(n2.NS, func() error {
			ifi, err := net.InterfaceByName(netns.NodeIface)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err = netio.Listen(ctx, netio.Config{Interface: ifi, IPv6: six, Multicast: true})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := c.Receive()
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Receive: %v", err)
					return
				}
				if len(m.Payload) < 3 {
					continue
				}
				key := fmt.Sprintf("%d/%d", m.Payload[1], m.Payload[2])
				mu.Lock()
				if _, ok := seen[key]; !ok {
					seen[key] = m
				}
				mu.Unlock()
			}
		}()
	}
	waitAll := func(prio uint8, timeout time.Duration) {
		t.Helper()
		bed.Eventually(timeout, fmt.Sprintf("an advert at priority %d from every keepalived instance", prio), func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range kaCases {
				if _, ok := seen[fmt.Sprintf("%d/%d", c.want.VRID, prio)]; !ok {
					return false
				}
			}
			return true
		})
	}

	cfg := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(cfg, []byte(kaConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	kcmd := bed.Command(n1.NS, ka, "-n", "-l", "-D", "-G", "-f", cfg,
		"-p", filepath.Join(dir, "k.pid"), "-r", filepath.Join(dir, "vrrp.pid"),
		"-c", filepath.Join(dir, "chk.pid"), "-b", filepath.Join(dir, "bfd.pid"))
	var klog strings.Builder
	kcmd.Stdout, kcmd.Stderr = &klog, &klog
	bed.Start(kcmd)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("keepalived output:\n%s", klog.String())
		}
	})
	// v2 at priority 200 becomes master after 3 x 1 s + skew.
	waitAll(200, 10*time.Second)
	bed.Signal(kcmd, syscall.SIGTERM)
	if err := bed.Wait(kcmd, 10*time.Second); err != nil {
		t.Errorf("keepalived exit: %v", err)
	}
	waitAll(0, 2*time.Second)
	bed.Signal(td, syscall.SIGTERM)
	_ = bed.Wait(td, 10*time.Second)

	f, err := os.Open(capFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	captured, err := pcap.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	byVRID := map[uint8]kaCase{}
	for _, c := range kaCases {
		byVRID[c.want.VRID] = c
	}
	first := map[string]pcap.Packet{}
	for _, p := range captured {
		if len(p.Payload) < 3 || (p.Src != n1v4 && p.Src != n1v6 && !p.Src.IsLinkLocalUnicast()) {
			continue
		}
		c, ok := byVRID[p.Payload[1]]
		if !ok {
			t.Errorf("captured an advert for unknown VRID %d", p.Payload[1])
			continue
		}
		verifyKeepalived(t, c, p.Payload[2], p.Payload, p.Src, p.Dst, p.TTL)
		key := fmt.Sprintf("%d/%d", p.Payload[1], p.Payload[2])
		if _, ok := first[key]; !ok {
			first[key] = p
		}
	}
	t.Logf("tcpdump captured %d adverts from keepalived", len(captured))

	mu.Lock()
	defer mu.Unlock()
	for _, c := range kaCases {
		for _, prio := range []uint8{200, 0} {
			key := fmt.Sprintf("%d/%d", c.want.VRID, prio)
			m := seen[key]
			verifyKeepalived(t, c, prio, m.Payload, m.Src, m.Dst, m.TTL)
			p, ok := first[key]
			if !ok {
				t.Errorf("%s: tcpdump did not capture priority %d", c.name, prio)
				continue
			}
			if p.Src != m.Src || p.Dst != m.Dst || p.TTL != m.TTL {
				t.Errorf("%s: netio says %v -> %v TTL %d, tcpdump %v -> %v TTL %d", c.name, m.Src, m.Dst, m.TTL, p.Src, p.Dst, p.TTL)
			}
			t.Logf("%s priority %d: %v -> %v TTL %d: %x", c.name, prio, p.Src, p.Dst, p.TTL, p.Payload)
			if *update {
				if err := writeSeed(seedName(c, prio), seed{msg: p.Payload, src: p.Src, dst: p.Dst}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
