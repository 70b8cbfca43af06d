package agent

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/status"
)

func TestPlanReload(t *testing.T) {
	base := func() *config.Config {
		return &config.Config{Format: 1, Cluster: "c", Node: "n1", Instances: []config.Instance{
			{Name: "VI_1", VRID: 51, Version: 3, Interface: "eth1", Priority: 100, AdvertInt: config.Duration(time.Second), VIPs: []config.VIP{{Prefix: vip1}}},
			{Name: "VI_2", VRID: 52, Version: 3, Interface: "eth1", Priority: 100, AdvertInt: config.Duration(time.Second), VIPs: []config.VIP{{Prefix: netip.MustParsePrefix("198.18.0.201/32")}}},
		}}
	}
	for _, tc := range []struct {
		name string
		mod  func(*config.Config)
		want []string
	}{
		{"unchanged", func(*config.Config) {}, []string{"VI_1: kept", "VI_2: kept"}},
		{"priority and preemption in place", func(c *config.Config) {
			c.Instances[0].Priority, c.Instances[0].Preempt = 150, true
		}, []string{"VI_1: reconfigured in place (priority, preempt)", "VI_2: kept"}},
		{"checks, tracks, notify, GARP in place", func(c *config.Config) {
			c.Instances[1].Checks = []config.Check{{Name: "x", Command: []string{"/bin/true"}}}
			c.Instances[1].Track = []config.Track{{Interface: "eth2"}}
			c.Instances[1].Notify = &config.Notify{Master: []string{"/bin/true"}}
			c.Instances[1].GARP.Refresh = config.Duration(time.Minute)
		}, []string{"VI_1: kept", "VI_2: reconfigured in place (garp, track_interfaces, checks, notify)"}},
		{"VRID restarts", func(c *config.Config) { c.Instances[0].VRID = 61 }, []string{"VI_1: restarted (vrid)", "VI_2: kept"}},
		{"interface restarts", func(c *config.Config) { c.Instances[0].Interface = "eth2" }, []string{"VI_1: restarted (interface)", "VI_2: kept"}},
		{"version restarts", func(c *config.Config) { c.Instances[0].Version = 2 }, []string{"VI_1: restarted (version)", "VI_2: kept"}},
		{"VIPs of the same family in place", func(c *config.Config) {
			c.Instances[0].VIPs = append(c.Instances[0].VIPs, config.VIP{Prefix: netip.MustParsePrefix("198.18.0.202/32"), Device: "eth2"})
		}, []string{"VI_1: reconfigured in place (vips)", "VI_2: kept"}},
		{"VIPs of another family restart", func(c *config.Config) {
			c.Instances[0].VIPs = []config.VIP{{Prefix: netip.MustParsePrefix("fd00::1/128")}}
		}, []string{"VI_1: restarted (vips)", "VI_2: kept"}},
		{"advert interval restarts, with the priority", func(c *config.Config) {
			c.Instances[0].AdvertInt, c.Instances[0].Priority = config.Duration(2*time.Second), 99
		}, []string{"VI_1: restarted (priority, advert_int)", "VI_2: kept"}},
		{"added and removed", func(c *config.Config) {
			c.Instances[0].Name = "VI_3"
		}, []string{"VI_3: added", "VI_2: kept", "VI_1: removed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur := base()
			tc.mod(cur)
			var got []string
			for _, s := range planReload(base(), cur) {
				got = append(got, s.String())
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("planReload (-want +got):\n%s", d)
			}
		})
	}
}

// reloaded returns a copy of the rig's running configuration changed by mod.
func reloaded(r *rig, mod func(*config.Config)) *config.Config {
	r.a.topo.RLock()
	c := *r.a.cfg
	r.a.topo.RUnlock()
	c.Instances = append([]config.Instance(nil), c.Instances...)
	for i := range c.Instances {
		c.Instances[i] = *clone(&c.Instances[i])
	}
	mod(&c)
	return &c
}

// becomeMaster waits until the rig's single instance is master.
func becomeMaster(t *testing.T, r *rig) {
	t.Helper()
	time.Sleep(400 * time.Millisecond)
	synctest.Wait()
	if s := r.instance().State; s != "MASTER" {
		t.Fatalf("state %s, want MASTER", s)
	}
}

// An unchanged instance keeps running untouched: still master, its VIP
// never removed, adverts at the same cadence, the new digest reported.
func TestReloadUnchangedKeepsMaster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, 100, false)
		becomeMaster(t, r)
		since := r.instance().Since
		sent := len(r.conn.priorities())
		done, err := r.a.ReloadConfig(reloaded(r, func(*config.Config) {}), "sha256:new")
		if err != nil || !cmp.Equal(done, []string{"VI_1: kept"}) {
			t.Fatalf("ReloadConfig = %v, %v; want VI_1 kept", done, err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		in := r.instance()
		if in.State != "MASTER" || !in.Since.Equal(since) || !r.addrs.holds(vip1) {
			t.Errorf("after reload: %s since %v (VIP %v), want MASTER since %v with the VIP", in.State, in.Since, r.addrs.holds(vip1), since)
		}
		if got := len(r.conn.priorities()) - sent; got != 10 {
			t.Errorf("%d adverts in the second after the reload, want 10", got)
		}
		if got := r.a.Report().ConfigDigest; got != "sha256:new" {
			t.Errorf("digest %q, want the new one", got)
		}
		if strings.Contains(r.log.String(), "VIPs removed") {
			t.Errorf("VIPs removed during the reload:\n%s", r.log)
		}
		r.stop(t)
	})
}

// A priority change is in place: the master keeps its state and VIPs and
// advertises the new priority from its next advert (RFC 5798 section
// 6.4.3); the base priority shows in the report.
func TestReloadPriorityInPlace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, 100, false)
		becomeMaster(t, r)
		sent := len(r.conn.priorities())
		done, err := r.a.ReloadConfig(reloaded(r, func(c *config.Config) { c.Instances[0].Priority = 50 }), "sha256:new")
		if err != nil || !cmp.Equal(done, []string{"VI_1: reconfigured in place (priority)"}) {
			t.Fatalf("ReloadConfig = %v, %v", done, err)
		}
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		got := r.conn.priorities()[sent:]
		if d := cmp.Diff([]uint8{50, 50, 50}, got); d != "" {
			t.Errorf("adverts after the reload (-want +got):\n%s", d)
		}
		if in := r.instance(); in.State != "MASTER" || in.BasePriority != 50 || in.Priority != 50 || !r.addrs.holds(vip1) {
			t.Errorf("after reload: %+v, want MASTER at base 50 with the VIP", in)
		}
		r.stop(t)
	})
}

// An invalid file is refused before anything changes: one error log line
// naming the problem, the running configuration and digest stay.
func TestReloadRefusesInvalid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, 100, false)
		becomeMaster(t, r)
		before := r.a.Report().ConfigDigest
		_, err := r.a.ReloadConfig(reloaded(r, func(c *config.Config) { c.Instances[0].VRID = 0 }), "sha256:bad")
		if !errors.Is(err, ErrReloadRefused) || !strings.Contains(err.Error(), "instances[0].vrid") {
			t.Fatalf("ReloadConfig = %v, want refused naming instances[0].vrid", err)
		}
		var lines []string
		for _, l := range strings.Split(r.log.String(), "\n") {
			if strings.Contains(l, "reload refused") {
				lines = append(lines, l)
			}
		}
		if len(lines) != 1 || !strings.Contains(lines[0], "level=ERROR") {
			t.Errorf("log lines about the refusal %q, want one error line", lines)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if in := r.instance(); in.State != "MASTER" || in.VRID != 51 || r.a.Report().ConfigDigest != before {
			t.Errorf("after a refused reload: %+v, digest %s; want the old config running", in, r.a.Report().ConfigDigest)
		}
		r.stop(t)
	})
}

// A VIP list change is in place (keepalived's reload diffs a master's
// VIPs too): the master adds and announces the new VIP, removes the one
// that went, advertises the new list, and stays master throughout.
func TestReloadVIPsInPlace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, 100, false)
		becomeMaster(t, r)
		since, garps := r.instance().Since, r.ann.count()
		vip2 := netip.MustParsePrefix("198.18.0.201/32")
		done, err := r.a.ReloadConfig(reloaded(r, func(c *config.Config) { c.Instances[0].VIPs = []config.VIP{{Prefix: vip2}} }), "sha256:vip2")
		if err != nil || !cmp.Equal(done, []string{"VI_1: reconfigured in place (vips)"}) {
			t.Fatalf("ReloadConfig = %v, %v", done, err)
		}
		synctest.Wait()
		if !r.addrs.holds(vip2) || r.addrs.holds(vip1) || r.ann.count() != garps+1 {
			t.Errorf("after reload: VIP2 %v, VIP1 %v, %d GARPs (were %d); want VIP2 added and announced, VIP1 removed", r.addrs.holds(vip2), r.addrs.holds(vip1), r.ann.count(), garps)
		}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		r.conn.mu.Lock()
		last := r.conn.sent[len(r.conn.sent)-1]
		r.conn.mu.Unlock()
		if !cmp.Equal(last.Addrs, []netip.Addr{vip2.Addr()}, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })) {
			t.Errorf("advert after the reload carries %v, want [%v]", last.Addrs, vip2.Addr())
		}
		if in := r.instance(); in.State != "MASTER" || !in.Since.Equal(since) || !cmp.Equal(in.VIPs, []netip.Prefix{vip2}, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })) {
			t.Errorf("after reload: %+v, want MASTER since before, holding VIP2", in)
		}
		r.stop(t)
	})
}

// An agent-wide field a reload cannot apply is refused by name.
func TestReloadRefusesStatusSocket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, 100, false)
		_, err := r.a.ReloadConfig(reloaded(r, func(c *config.Config) { c.StatusSocket = "/run/hac/other.sock" }), "sha256:x")
		if !errors.Is(err, ErrReloadRefused) || !strings.Contains(err.Error(), `status_socket: changed from "" to "/run/hac/other.sock", which only a restart applies`) {
			t.Errorf("ReloadConfig = %v, want status_socket refused", err)
		}
		if _, ok := errors.AsType[*status.RestartOnlyError](err); !ok {
			t.Errorf("ReloadConfig = %v, want a status.RestartOnlyError (a restart runs it)", err)
		}
		r.stop(t)
	})
}

// A file refused for what this node lacks is never a RestartOnlyError,
// even when it changes a restart-only setting too: a restart would not
// start it either (hac apply restarts the agent only on a
// RestartOnlyError).
func TestReloadRefusesNodeMisfitFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, 100, false, func(_ *config.Instance, e *env) {
			e.checkHost = func(c *config.Config) error {
				if c.Instances[0].Interface != "eth1" {
					return errors.New("instances[0].interface: no interface " + c.Instances[0].Interface + " on this node")
				}
				return nil
			}
		})
		_, err := r.a.ReloadConfig(reloaded(r, func(c *config.Config) {
			c.StatusSocket = "/run/hac/other.sock"
			c.Instances[0].Interface = "eth9"
		}), "sha256:x")
		if !errors.Is(err, ErrReloadRefused) || !strings.Contains(err.Error(), "no interface eth9 on this node") {
			t.Errorf("ReloadConfig = %v, want refused for eth9", err)
		}
		if _, ok := errors.AsType[*status.RestartOnlyError](err); ok {
			t.Errorf("ReloadConfig = %v: a RestartOnlyError, which a restart would not cure", err)
		}
		r.stop(t)
	})
}

// A VRID change restarts the instance make-before-break: the old one
// sends priority 0 and keeps its VIP until the drain ends (no peer here),
// then the new one starts as at startup, on the same socket.
func TestReloadVRIDRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, 100, false)
		becomeMaster(t, r)
		sent := len(r.conn.priorities())
		done, err := r.a.ReloadConfig(reloaded(r, func(c *config.Config) { c.Instances[0].VRID = 61 }), "sha256:new")
		if err != nil || !cmp.Equal(done, []string{"VI_1: restarted (vrid)"}) {
			t.Fatalf("ReloadConfig = %v, %v", done, err)
		}
		synctest.Wait()
		if got := r.conn.priorities()[sent]; got != 0 {
			t.Errorf("first advert of the handoff at priority %d, want 0", got)
		}
		in := r.instance()
		if in.VRID != 61 || in.State != "BACKUP" {
			t.Errorf("after reload: VRID %d in %s, want 61 in BACKUP", in.VRID, in.State)
		}
		becomeMaster(t, r)
		r.stop(t)
	})
}

// Added instances start, removed ones hand off and stop.
func TestReloadAddRemove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, 100, false)
		becomeMaster(t, r)
		vip2 := netip.MustParsePrefix("198.18.0.201/32")
		done, err := r.a.ReloadConfig(reloaded(r, func(c *config.Config) {
			n := *clone(&c.Instances[0])
			n.Name, n.VRID, n.VIPs = "VI_2", 52, []config.VIP{{Prefix: vip2}}
			c.Instances = append(c.Instances, n)
		}), "sha256:two")
		if err != nil || !cmp.Equal(done, []string{"VI_1: kept", "VI_2: added"}) {
			t.Fatalf("ReloadConfig = %v, %v", done, err)
		}
		time.Sleep(400 * time.Millisecond)
		synctest.Wait()
		if rep := r.a.Report(); len(rep.Instances) != 2 || rep.Instances[1].State != "MASTER" || !r.addrs.holds(vip2) {
			t.Fatalf("after adding VI_2: %+v, want two masters", rep.Instances)
		}
		done, err = r.a.ReloadConfig(reloaded(r, func(c *config.Config) { c.Instances = c.Instances[1:] }), "sha256:one")
		if err != nil || !cmp.Equal(done, []string{"VI_2: kept", "VI_1: removed"}) {
			t.Fatalf("ReloadConfig = %v, %v", done, err)
		}
		if rep := r.a.Report(); len(rep.Instances) != 1 || rep.Instances[0].Name != "VI_2" || r.addrs.holds(vip1) || !r.addrs.holds(vip2) {
			t.Fatalf("after removing VI_1: %+v (VIP1 held %v), want VI_2 only", rep.Instances, r.addrs.holds(vip1))
		}
		r.stop(t)
	})
}

// Checks, tracked interfaces and notify change in place: the new checks
// run once before they replace the old ones (the instance keeps running
// meanwhile), and their result moves the priority at once, as at start.
func TestReloadChecksInPlace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeRun{healthy: map[string]bool{"web": true, "db": false}}
		sec := config.Duration(time.Second)
		web := config.Check{Name: "web", Command: []string{"web"}, Interval: sec, Timeout: sec, Rise: 1, Fall: 1, Weight: 20}
		r := start(t, 100, false, func(c *config.Instance, e *env) {
			c.Checks = []config.Check{web}
			e.run = f.run
		})
		becomeMaster(t, r)
		if in := r.instance(); in.Priority != 120 {
			t.Fatalf("priority %d with web up (+20), want 120", in.Priority)
		}
		since := r.instance().Since
		// A failing weight-0 check replaces web: FAULT once it ran.
		db := config.Check{Name: "db", Command: []string{"db"}, Interval: sec, Timeout: sec, Rise: 1, Fall: 1, Weight: 0}
		done, err := r.a.ReloadConfig(reloaded(r, func(c *config.Config) {
			c.Instances[0].Checks = []config.Check{db}
			c.Instances[0].Notify = &config.Notify{Fault: []string{"notify-fault"}}
		}), "sha256:db")
		if err != nil || !cmp.Equal(done, []string{"VI_1: reconfigured in place (checks, notify)"}) {
			t.Fatalf("ReloadConfig = %v, %v", done, err)
		}
		synctest.Wait()
		in := r.instance()
		if in.State != "FAULT" || in.Priority != 0 || len(in.Checks) != 1 || in.Checks[0].Name != "db" || r.addrs.holds(vip1) {
			t.Fatalf("after reload with a failing weight-0 check: %+v, want FAULT at 0 without the VIP", in)
		}
		if got := f.notified(); !cmp.Equal(got, []string{"notify-fault"}) {
			t.Errorf("notify commands run %v, want the new notify-fault", got)
		}
		// Back to web: the weight moves the priority without a restart
		// of the machine beyond what FAULT needs.
		done, err = r.a.ReloadConfig(reloaded(r, func(c *config.Config) {
			c.Instances[0].Checks, c.Instances[0].Notify = []config.Check{web}, nil
		}), "sha256:web")
		if err != nil || len(done) != 1 {
			t.Fatalf("ReloadConfig = %v, %v", done, err)
		}
		becomeMaster(t, r)
		if in := r.instance(); in.Priority != 120 || in.Since.Equal(since) {
			t.Errorf("after reload back to web: %+v, want MASTER at 120", in)
		}
		r.stop(t)
	})
}

// After a VRID change the restarted instance follows a master it still
// hears on the old VRID (a peer not reloaded yet) instead of becoming a
// second master, and takes over after Skew_Time when that master hands
// off with priority 0 (RFC 5798 section 6.4.2).
func TestReloadVRIDFollowsOldMaster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, 100, false)
		r.conn.advert(t, 200) // VRID 51, from peer
		synctest.Wait()
		if in := r.instance(); in.State != "BACKUP" || in.Master != peer {
			t.Fatalf("before the reload: %+v, want BACKUP following the peer", in)
		}
		if _, err := r.a.ReloadConfig(reloaded(r, func(c *config.Config) { c.Instances[0].VRID = 61 }), "sha256:61"); err != nil {
			t.Fatal(err)
		}
		for range 10 {
			time.Sleep(100 * time.Millisecond)
			r.conn.advert(t, 200)
			synctest.Wait()
		}
		in := r.instance()
		if in.VRID != 61 || in.State != "BACKUP" || in.Master != peer || r.addrs.holds(vip1) {
			t.Fatalf("1 s after the reload, the peer advertising on VRID 51: %+v, want BACKUP on 61 following the peer, without the VIP", in)
		}
		r.conn.advert(t, 0) // the peer hands off
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if in := r.instance(); in.State != "MASTER" || !r.addrs.holds(vip1) {
			t.Fatalf("after the peer's priority 0: %+v, want MASTER with the VIP", in)
		}
		r.stop(t)
	})
}

// An instance a reload restarts takes on the takeover state of its name
// (hac-agent takeover): still at TakeoverPriority while the takeover
// lasts, and at its configured priority once released, so that a reload
// neither ends a takeover early nor starts it again after its release.
func TestReloadRestartKeepsTakeover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := start(t, 100, false)
		becomeMaster(t, r)
		if done, err := r.a.Takeover("", false); err != nil || !cmp.Equal(done, []string{"VI_1"}) {
			t.Fatalf("Takeover = %v, %v; want VI_1", done, err)
		}
		vrid := uint8(61)
		restart := func(want int) {
			t.Helper()
			done, err := r.a.ReloadConfig(reloaded(r, func(c *config.Config) { c.Instances[0].VRID = vrid }), "sha256:new")
			if err != nil || !cmp.Equal(done, []string{"VI_1: restarted (vrid)"}) {
				t.Fatalf("ReloadConfig = %v, %v", done, err)
			}
			vrid++
			becomeMaster(t, r)
			if in := r.instance(); in.Priority != want || in.BasePriority != 100 {
				t.Errorf("after the restart: priority %d (base %d), want %d (base 100)", in.Priority, in.BasePriority, want)
			}
		}
		restart(TakeoverPriority)
		if done, err := r.a.Takeover("VI_1", true); err != nil || !cmp.Equal(done, []string{"VI_1"}) {
			t.Fatalf("Takeover release = %v, %v; want VI_1", done, err)
		}
		restart(100)
		r.stop(t)
	})
}
