package agent_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hac-project/hac/agent/agenttest"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/internal/netns"
)

// TestKeepalivedInterop runs hac agent against keepalived 2.2.7 in both
// roles, for VRRPv2 PASS (multicast and unicast), VRRPv3 multicast, VRRPv3 unicast and VRRPv3 over
// IPv6. Each side must obey the other's adverts (hac: no drops; keepalived:
// no complaint in its log), and mastership must move both ways: the
// master's link goes down and the backup takes over, the link comes back
// and the master preempts, the master stops gracefully and the backup
// takes over.
func TestKeepalivedInterop(t *testing.T) {
	flavours := []struct {
		name string
		spec netns.Spec
		vip  string
		mk   func(prio uint8, self, peer netip.Addr) config.Instance
	}{
		{"v2-pass", netns.Spec{}, vip1, func(prio uint8, _, _ netip.Addr) config.Instance {
			in := agenttest.Instance("VI_1", 51, 2, time.Second, prio, vip1)
			in.Auth = &config.Auth{Type: "PASS", Pass: "pass1234"}
			return in
		}},
		{"v2-pass-unicast", netns.Spec{}, vip1, func(prio uint8, self, peer netip.Addr) config.Instance {
			in := agenttest.Instance("VI_1", 51, 2, time.Second, prio, vip1)
			in.Auth = &config.Auth{Type: "PASS", Pass: "pass1234"}
			in.Unicast, in.Source, in.Peers = true, self, []netip.Addr{peer}
			return in
		}},
		{"v3", netns.Spec{}, vip1, func(prio uint8, _, _ netip.Addr) config.Instance {
			return agenttest.Instance("VI_1", 51, 3, 100*time.Millisecond, prio, vip1)
		}},
		{"v3-unicast", netns.Spec{}, vip1, func(prio uint8, self, peer netip.Addr) config.Instance {
			in := agenttest.Instance("VI_1", 51, 3, 100*time.Millisecond, prio, vip1)
			in.Unicast, in.Source, in.Peers = true, self, []netip.Addr{peer}
			return in
		}},
		{"v3-ipv6", netns.Spec{IPv6: true}, "2001:db8:18::200", func(prio uint8, _, _ netip.Addr) config.Instance {
			return agenttest.Instance("VI_1", 51, 3, 100*time.Millisecond, prio, "2001:db8:18::200")
		}},
		// keepalived sends IPv6 unicast adverts with the kernel's hop
		// limit (64): hac must not require 255 in unicast mode.
		{"v3-ipv6-unicast", netns.Spec{IPv6: true}, "2001:db8:18::200", func(prio uint8, self, peer netip.Addr) config.Instance {
			in := agenttest.Instance("VI_1", 51, 3, 100*time.Millisecond, prio, "2001:db8:18::200")
			in.Unicast, in.Source, in.Peers = true, ipv6Of(self), []netip.Addr{ipv6Of(peer)}
			return in
		}},
	}
	for _, f := range flavours {
		for _, hacMaster := range []bool{true, false} {
			role := "hac-master"
			if !hacMaster {
				role = "keepalived-master"
			}
			t.Run(f.name+"/"+role, func(t *testing.T) {
				bed := needBed(t, f.spec)
				n1, n2 := bed.Node("n1"), bed.Node("n2")
				// n1 runs hac, n2 keepalived; the master has priority 200.
				hp, kp := uint8(200), uint8(100)
				if !hacMaster {
					hp, kp = kp, hp
				}
				h := agenttest.NewHac(t, bed, n1, f.mk(hp, n1.Addr, n2.Addr))
				k := agenttest.NewKeepalived(t, bed, n2, f.mk(kp, n2.Addr, n1.Addr))
				var master, backup agenttest.Node = h, k
				if !hacMaster {
					master, backup = k, h
				}
				vip := netip.MustParseAddr(f.vip)
				h.Start()
				k.Start()
				slow := 6 * time.Second // VRRPv2: keepalived waits 3.6 s before its first advert
				agenttest.WaitState(t, master, "VI_1", "MASTER", slow)
				agenttest.WaitState(t, backup, "VI_1", "BACKUP", slow)
				if !bed.Answers(vip, 3*time.Second) {
					t.Fatalf("the VIP does not answer")
				}
				time.Sleep(500 * time.Millisecond) // exchange a few adverts
				if got := bed.Holders(vip); len(got) != 1 || got[0] != master.Node().Name {
					t.Errorf("VIP holders %v, want [%s]", got, master.Node().Name)
				}

				bed.CutLink(master.Node())
				agenttest.WaitState(t, backup, "VI_1", "MASTER", slow)
				if !bed.Answers(vip, 3*time.Second) {
					t.Errorf("the VIP does not answer after the backup took over")
				}
				bed.Heal(master.Node())
				agenttest.WaitState(t, master, "VI_1", "MASTER", slow)
				agenttest.WaitState(t, backup, "VI_1", "BACKUP", slow)

				// Both sides obeyed each other's adverts so far.
				in := h.Instance("VI_1")
				for r, n := range in.Counters.Drops {
					if n > 0 {
						t.Errorf("hac dropped %d of keepalived's adverts for %s", n, r)
					}
				}
				if in.Counters.AdvertsReceived == 0 {
					t.Errorf("hac received no adverts from keepalived: %+v", in.Counters)
				}
				if bad := k.Complaints(); len(bad) > 0 {
					t.Errorf("keepalived complained about hac's adverts:\n%s", strings.Join(bad, "\n"))
				}
				if testing.Verbose() {
					t.Logf("keepalived log:\n%s", k.Log())
				}

				master.Stop()
				agenttest.WaitState(t, backup, "VI_1", "MASTER", slow)
				if !bed.Answers(vip, 3*time.Second) {
					t.Errorf("the VIP does not answer after the master stopped")
				}
			})
		}
	}
}

// ipv6Of maps a node's IPv4 address in the bed to its IPv6 one
// (198.18.0.11 -> 2001:db8:18::11).
func ipv6Of(a netip.Addr) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("2001:db8:18::%d", a.As4()[3]))
}
