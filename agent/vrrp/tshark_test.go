package vrrp_test

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/vrrp"
	"github.com/hac-project/hac/agent/vrrp/internal/pcap"
	"github.com/hac-project/hac/internal/testenv"
)

// tshark writes pkts to a pcap and returns what tshark makes of it.
func tshark(t *testing.T, pkts []pcap.Packet, args ...string) string {
	t.Helper()
	bin := testenv.NeedTool(t, "tshark")
	dir := t.TempDir()
	file := filepath.Join(dir, "vrrp.pcap")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := pcap.Write(f, pkts); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"-n", "-r", file, "-Y", "vrrp"}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir) // no user preferences
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// marshalled holds packets we encode, in the forms we send: every golden
// vector's packet and a few more.
func marshalled(t *testing.T) ([]pcap.Packet, []vrrp.Packet) {
	var pkts []pcap.Packet
	var ps []vrrp.Packet
	add := func(p vrrp.Packet, src, dst netip.Addr) {
		b, err := p.Marshal(src, dst)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, pcap.Packet{Src: src, Dst: dst, TTL: vrrp.TTL, Payload: b})
		ps = append(ps, p)
	}
	for _, g := range golden {
		if g.p.Checksum == vrrp.ChecksumPseudoHeader {
			add(g.p, g.src, g.dst)
		}
	}
	add(vrrp.Packet{Version: 2, VRID: 1, Priority: 100, AdvertInt: 3 * time.Second, Addrs: addrs("198.18.0.100")},
		netip.MustParseAddr("198.18.0.11"), vrrp.GroupIPv4)
	add(vrrp.Packet{Version: 3, VRID: 255, Priority: 255, AdvertInt: 40950 * time.Millisecond, Addrs: addrs("2001:db8:18::1", "fd00::1", "fe80::1")},
		netip.MustParseAddr("2001:db8:18::11"), netip.MustParseAddr("2001:db8:18::12"))
	return pkts, ps
}

// TestTshark: Wireshark's VRRP dissector decodes everything we send as we
// meant it, verifies every checksum (VRRPv3 with the pseudo-header, for
// IPv4 and IPv6) as good, and raises no expert info or malformed flag.
func TestTshark(t *testing.T) {
	pkts, ps := marshalled(t)
	out := tshark(t, pkts, "-V", "-z", "expert")
	for _, bad := range []string{"[Expert Info", "Malformed", "Warns (", "Errors ("} {
		if strings.Contains(out, bad) {
			t.Errorf("tshark flags %q:\n%s", bad, out)
		}
	}
	if n := strings.Count(out, "[Checksum Status: Good]"); n != len(pkts) {
		t.Errorf("tshark reports %d good VRRP checksums, want %d:\n%s", n, len(pkts), out)
	}

	fields := tshark(t, pkts, "-T", "fields", "-E", "separator=;", "-e", "vrrp.version", "-e", "vrrp.virt_rtr_id",
		"-e", "vrrp.prio", "-e", "vrrp.addr_count", "-e", "vrrp.ip_addr", "-e", "vrrp.ipv6_addr")
	var want []string
	for _, p := range ps {
		var v4, v6 []string
		for _, a := range p.Addrs {
			if a.Is6() {
				v6 = append(v6, a.String())
			} else {
				v4 = append(v4, a.String())
			}
		}
		want = append(want, fmt.Sprintf("%d;%d;%d;%d;%s;%s", p.Version, p.VRID, p.Priority, len(p.Addrs), strings.Join(v4, ","), strings.Join(v6, ",")))
	}
	if diff := cmp.Diff(want, strings.Fields(fields)); diff != "" {
		t.Errorf("tshark fields (-want +got):\n%s", diff)
	}
}

// TestTsharkChecksumForms: tshark's check bites (the RFC 9568 message-only
// form is bad by default) and agrees with ChecksumMessage when told to.
func TestTsharkChecksumForms(t *testing.T) {
	g := golden[3] // v3 multicast, message-only checksum
	b, err := g.p.Marshal(g.src, g.dst)
	if err != nil {
		t.Fatal(err)
	}
	pkts := []pcap.Packet{{Src: g.src, Dst: g.dst, TTL: vrrp.TTL, Payload: b}}
	if out := tshark(t, pkts, "-V"); !strings.Contains(out, "[Checksum Status: Bad]") {
		t.Errorf("tshark accepts a message-only VRRPv3 checksum by default:\n%s", out)
	}
	if out := tshark(t, pkts, "-V", "-o", "vrrp.v3_checksum_as_in_v2:TRUE"); !strings.Contains(out, "[Checksum Status: Good]") {
		t.Errorf("tshark with v3_checksum_as_in_v2 rejects our message-only checksum:\n%s", out)
	}
}
