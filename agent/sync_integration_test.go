package agent_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hac-project/hac/agent/agenttest"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/internal/netns"
)

// notifyRecorder writes a script that appends its arguments as one line
// to a log, for a node, in a directory only root may write (keepalived's
// script security refuses scripts under /tmp); it returns the script and
// a function reading the lines logged so far.
func notifyRecorder(t *testing.T, node string) (string, func() []string) {
	t.Helper()
	dir, err := os.MkdirTemp("/run", "hac-notify-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	log := filepath.Join(dir, node+".log")
	script := filepath.Join(dir, "record")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$*\" >> "+log+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return script, func() []string {
		b, _ := os.ReadFile(log)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
}

// TestKeepalivedSyncGroupInterop runs a sync group of two instances on
// each side, hac agent on n1 and keepalived 2.2.7 on n2, in both roles.
// VI_1 tracks trk0 (weight 0); trk0 goes down on the master: VI_1 goes to
// FAULT, and its sync group takes VI_2 with it, so the backup takes both
// VIPs; trk0 comes back and the master takes both back. Both
// implementations move the two instances together, and make the same
// calls of the generic notify command (INSTANCE|GROUP, name, state,
// priority) in the same role, STOP included.
func TestKeepalivedSyncGroupInterop(t *testing.T) {
	var mu sync.Mutex
	calls := map[string][]string{} // "hac master", "keepalived backup", ...: sorted lines
	t.Cleanup(func() {
		for _, role := range []string{"master", "backup"} {
			if diff := cmp.Diff(calls["keepalived "+role], calls["hac "+role]); diff != "" && !t.Failed() {
				t.Errorf("generic notify calls as %s (-keepalived +hac):\n%s", role, diff)
			}
		}
	})
	for _, hacMaster := range []bool{true, false} {
		role := "hac-master"
		if !hacMaster {
			role = "keepalived-master"
		}
		t.Run(role, func(t *testing.T) {
			bed := needBed(t, netns.Spec{})
			n1, n2 := bed.Node("n1"), bed.Node("n2")
			for _, n := range []*netns.Node{n1, n2} {
				bed.Exec(n.NS, "ip", "link", "add", "trk0", "type", "veth", "peer", "name", "trk0p")
				bed.Exec(n.NS, "ip", "link", "set", "trk0p", "up")
				bed.Exec(n.NS, "ip", "link", "set", "trk0", "up")
			}
			hp, kp := uint8(200), uint8(100)
			if !hacMaster {
				hp, kp = kp, hp
			}
			mk := func(prio uint8, script string) ([]config.SyncGroup, []config.Instance) {
				all := &config.Notify{All: []string{script}}
				vi1 := agenttest.Instance("VI_1", 51, 3, 100*time.Millisecond, prio, vip1)
				vi1.Track = []config.Track{{Interface: "trk0"}}
				vi1.Notify = all
				vi2 := agenttest.Instance("VI_2", 52, 3, 100*time.Millisecond, prio, vip2)
				vi2.Notify = all
				return []config.SyncGroup{{Name: "router", Instances: []string{"VI_1", "VI_2"}, Notify: all}}, []config.Instance{vi1, vi2}
			}
			hs, hlog := notifyRecorder(t, "n1")
			ks, klog := notifyRecorder(t, "n2")
			hg, hi := mk(hp, hs)
			kg, ki := mk(kp, ks)
			h := agenttest.NewHacGroups(t, bed, n1, hg, hi...)
			k := agenttest.NewKeepalivedGroups(t, bed, n2, kg, ki...)
			var master, backup agenttest.Node = h, k
			mprio, bprio := hp, kp
			if !hacMaster {
				master, backup, mprio, bprio = k, h, kp, hp
			}
			both := func(n agenttest.Node, state string) {
				t.Helper()
				for _, in := range []string{"VI_1", "VI_2"} {
					agenttest.WaitState(t, n, in, state, 6*time.Second)
				}
			}
			holders := func(want string) {
				t.Helper()
				for _, v := range []string{vip1, vip2} {
					if got := bed.Holders(netip.MustParseAddr(v)); len(got) != 1 || got[0] != want {
						t.Errorf("%s holders %v, want [%s]", v, got, want)
					}
				}
			}
			// The master first: which daemon starts faster must not
			// decide who is master for a moment.
			master.Start()
			both(master, "MASTER")
			backup.Start()
			both(backup, "BACKUP")
			time.Sleep(500 * time.Millisecond)
			holders(master.Node().Name)

			// One member's link fails on the master: the group moves.
			cut := time.Now()
			bed.Exec(master.Node().NS, "ip", "link", "set", "trk0", "down")
			both(master, "FAULT")
			both(backup, "MASTER")
			t.Logf("%s: both instances MASTER on the backup %v after the link cut (status polled every 20 ms)", role, time.Since(cut).Round(time.Millisecond))
			time.Sleep(500 * time.Millisecond)
			holders(backup.Node().Name)
			group := "FAULT"
			if !hacMaster {
				group = "MASTER"
			}
			if r := h.Report(); r == nil || len(r.SyncGroups) != 1 || r.SyncGroups[0].State != group {
				t.Errorf("hac-agent status: sync groups %+v, want router %s", r, group)
			}

			// It comes back: the master takes both back.
			bed.Exec(master.Node().NS, "ip", "link", "set", "trk0", "up")
			both(master, "MASTER")
			both(backup, "BACKUP")
			time.Sleep(500 * time.Millisecond)
			holders(master.Node().Name)
			if in := h.Instance("VI_1"); in.Counters.AdvertsReceived == 0 {
				t.Errorf("hac received no adverts from keepalived: %+v", in.Counters)
			}
			for r, n := range h.Instance("VI_2").Counters.Drops {
				if n > 0 {
					t.Errorf("hac dropped %d of keepalived's adverts for %s", n, r)
				}
			}

			// The generic notify command, as keepalived calls it, on both.
			lines := map[agenttest.Node]func() []string{h: hlog, k: klog}
			want := map[agenttest.Node][]string{
				master: notifyLines(mprio, "MASTER", "FAULT"),
				backup: notifyLines(bprio, "BACKUP", "MASTER"),
			}
			for n, w := range want {
				bed.Eventually(2*time.Second, "notify lines", func() bool {
					got := lines[n]()
					for _, l := range w {
						if !slices.Contains(got, l) {
							return false
						}
					}
					return true
				})
			}
			backup.Stop() // first, so that the master's stop moves nothing
			master.Stop()
			for n, log := range lines {
				bed.Eventually(3*time.Second, "notify STOP lines", func() bool { return slices.Contains(log(), "GROUP router STOP 0") })
				got := slices.Sorted(slices.Values(log()))
				who, r := "hac", "backup"
				if n == k {
					who = "keepalived"
				}
				if n == master {
					r = "master"
				}
				t.Logf("%s as %s: generic notify calls:\n%s", who, r, strings.Join(got, "\n"))
				mu.Lock()
				calls[who+" "+r] = got
				mu.Unlock()
			}
		})
	}
}

// notifyLines are the generic notify calls a node makes on entering each
// of states: each instance with its priority, the group with 0.
func notifyLines(prio uint8, states ...string) []string {
	var out []string
	for _, s := range states {
		out = append(out,
			fmt.Sprintf("INSTANCE VI_1 %s %d", s, prio),
			fmt.Sprintf("INSTANCE VI_2 %s %d", s, prio),
			fmt.Sprintf("GROUP router %s 0", s))
	}
	return out
}

// TestSyncGroupHandoff: hac-agent handoff --instance VI_1 hands off the
// whole sync group (VI_2 too) without loss; --release brings both back.
func TestSyncGroupHandoff(t *testing.T) {
	bed := needBed(t, netns.Spec{})
	mk := func(prio uint8) []config.Instance {
		return []config.Instance{
			agenttest.Instance("VI_1", 51, 3, 100*time.Millisecond, prio, vip1),
			agenttest.Instance("VI_2", 52, 3, 100*time.Millisecond, prio, vip2),
		}
	}
	groups := []config.SyncGroup{{Name: "router", Instances: []string{"VI_1", "VI_2"}}}
	a1 := agenttest.NewHacGroups(t, bed, bed.Node("n1"), groups, mk(200)...)
	a2 := agenttest.NewHacGroups(t, bed, bed.Node("n2"), groups, mk(100)...)
	a1.Start()
	for _, in := range []string{"VI_1", "VI_2"} {
		agenttest.WaitState(t, a1, in, "MASTER", 5*time.Second)
	}
	a2.Start()
	for _, in := range []string{"VI_1", "VI_2"} {
		agenttest.WaitState(t, a2, in, "BACKUP", 5*time.Second)
	}
	p1 := bed.Probe(netip.MustParseAddr(vip1), 10*time.Millisecond)
	p2 := bed.Probe(netip.MustParseAddr(vip2), 10*time.Millisecond)
	out := bed.Exec(a1.Node().NS, agenttest.AgentBinary(t), "handoff", "--instance", "VI_1", "--socket", a1.Socket)
	t.Logf("hac-agent handoff --instance VI_1: %s", strings.TrimSpace(out))
	for _, in := range []string{"VI_1", "VI_2"} {
		agenttest.WaitState(t, a2, in, "MASTER", 3*time.Second)
		agenttest.WaitState(t, a1, in, "BACKUP", 3*time.Second)
	}
	time.Sleep(300 * time.Millisecond)
	for _, p := range []*netns.Prober{p1, p2} {
		if r := p.Stop(); r.Lost != 0 {
			t.Errorf("the group's handoff lost %d probes of a VIP, want 0: %v", r.Lost, r)
		}
	}
	bed.Exec(a1.Node().NS, agenttest.AgentBinary(t), "handoff", "--release", "--instance", "VI_2", "--socket", a1.Socket)
	for _, in := range []string{"VI_1", "VI_2"} {
		agenttest.WaitState(t, a1, in, "MASTER", 3*time.Second)
		agenttest.WaitState(t, a2, in, "BACKUP", 3*time.Second)
	}
	a2.Stop()
	a1.Stop()
}
