package agent

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/config"
)

// TestGARPSchedule: after the burst on becoming master, a second one
// comes garp_master_delay later and a refresh every garp_master_refresh
// (counted from when it was sent); removing the VIPs cancels both.
func TestGARPSchedule(t *testing.T) {
	sec := func(n float64) time.Duration { return time.Duration(n * float64(time.Second)) }
	type poll struct {
		at   time.Duration // since the burst on becoming master
		due  int           // rounds due then
		next time.Duration // next burst after the poll; -1: none
	}
	for _, tc := range []struct {
		name  string
		cfg   config.GARP
		stop  time.Duration // stop (the VIPs removed) at; 0: never
		polls []poll
	}{
		{"no delay, no refresh", config.GARP{Repeat: 5}, 0, []poll{{sec(0), 0, -1}, {time.Hour, 0, -1}}},
		{"delay only", config.GARP{Repeat: 5, Delay: config.Duration(sec(5))}, 0, []poll{
			{sec(4.999), 0, sec(5)}, {sec(5), 5, -1}, {sec(10), 0, -1},
		}},
		{"refresh counted from when it was sent", config.GARP{Repeat: 1, Refresh: config.Duration(sec(10)), RefreshRepeat: 2}, 0, []poll{
			{sec(9), 0, sec(10)}, {sec(10), 2, sec(20)}, {sec(25), 2, sec(35)},
		}},
		{"refresh repeat 0 sends one round", config.GARP{Refresh: config.Duration(sec(10))}, 0, []poll{{sec(10), 1, sec(20)}}},
		{"delay and refresh at once", config.GARP{Repeat: 3, Delay: config.Duration(sec(10)), Refresh: config.Duration(sec(10))}, 0, []poll{
			{sec(10), 4, sec(20)},
		}},
		{"delay before refresh", config.GARP{Repeat: 2, Delay: config.Duration(sec(5)), Refresh: config.Duration(sec(60)), RefreshRepeat: 1}, 0, []poll{
			{sec(1), 0, sec(5)}, {sec(5), 2, sec(60)}, {sec(60), 1, sec(120)},
		}},
		{"stopped", config.GARP{Repeat: 2, Delay: config.Duration(sec(5)), Refresh: config.Duration(sec(60))}, sec(1), []poll{
			{sec(5), 0, -1}, {sec(60), 0, -1},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			g := garpSchedule{cfg: tc.cfg, timer: &fakeTimer{}}
			g.start(t0)
			var got, want []poll
			for _, p := range tc.polls {
				if tc.stop > 0 && p.at >= tc.stop {
					g.stop()
				}
				now := t0.Add(p.at)
				n := g.due(now)
				next := time.Duration(-1)
				if g.next().IsZero() {
					g.arm(now)
					if g.timer.(*fakeTimer).armed {
						t.Errorf("at %v: the timer is armed with no burst due", p.at)
					}
				} else {
					next = g.next().Sub(t0)
					g.arm(now)
					if tm := g.timer.(*fakeTimer); !tm.armed || tm.d != next-p.at {
						t.Errorf("at %v: timer armed %v for %v, want armed for %v", p.at, tm.armed, tm.d, next-p.at)
					}
				}
				got = append(got, poll{p.at, n, next})
				want = append(want, p)
			}
			if d := cmp.Diff(want, got, cmp.AllowUnexported(poll{})); d != "" {
				t.Errorf("polls (-want +got):\n%s", d)
			}
		})
	}
}

// TestGARPReconfigure: new settings apply from the reload: the next
// refresh is one new interval away while the VIPs are held, none when
// turned off or not held; a second burst still due keeps its time.
func TestGARPReconfigure(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		cfg         config.GARP
		held        bool
		wantRefresh time.Duration // after t0+1s; 0: none
	}{
		{"held, new refresh", config.GARP{Repeat: 1, Delay: config.Duration(5 * time.Second), Refresh: config.Duration(30 * time.Second)}, true, 31 * time.Second},
		{"held, refresh off", config.GARP{Repeat: 1, Delay: config.Duration(5 * time.Second)}, true, 0},
		{"not held", config.GARP{Repeat: 1, Refresh: config.Duration(30 * time.Second)}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := garpSchedule{cfg: config.GARP{Repeat: 1, Delay: config.Duration(5 * time.Second), Refresh: config.Duration(time.Minute)}, timer: &fakeTimer{}}
			g.start(t0)
			g.reconfigure(tc.cfg, tc.held, t0.Add(time.Second))
			var refresh time.Duration
			if !g.refreshAt.IsZero() {
				refresh = g.refreshAt.Sub(t0)
			}
			if refresh != tc.wantRefresh || !g.at.Equal(t0.Add(5*time.Second)) || g.cfg != tc.cfg {
				t.Errorf("after reconfigure: refresh at +%v, second burst at %v, cfg %+v; want +%v, +5s, %+v", refresh, g.at.Sub(t0), g.cfg, tc.wantRefresh, tc.cfg)
			}
		})
	}
}
