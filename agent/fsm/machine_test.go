package fsm

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	t0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	self  = netip.MustParseAddr("198.18.0.10")
	lower = netip.MustParseAddr("198.18.0.5")  // a peer with a smaller address
	upper = netip.MustParseAddr("198.18.0.20") // a peer with a greater address
)

func at(d time.Duration) time.Time { return t0.Add(d) }

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// addrEqual lets cmp compare netip.Addr, whose fields are unexported.
var addrEqual = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// config is a v3 backup at priority 100, 1 s adverts, preempting.
func config(mod func(*Config)) Config {
	c := Config{Version: 3, Priority: 100, AdvertInt: time.Second, Preempt: true, Primary: self}
	if mod != nil {
		mod(&c)
	}
	return c
}

func newMachine(t *testing.T, mod func(*Config)) *Machine {
	t.Helper()
	m, err := New(config(mod))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// step feeds ev at t0+d and checks the actions.
func step(t *testing.T, m *Machine, d time.Duration, ev Event, want ...Action) {
	t.Helper()
	got := m.Step(at(d), ev)
	if diff := cmp.Diff(want, got, addrEqual); diff != "" {
		t.Fatalf("at %v, %T%+v: actions (-want +got):\n%s", d, ev, ev, diff)
	}
}

func wantDeadline(t *testing.T, m *Machine, d time.Duration) {
	t.Helper()
	got, ok := m.Deadline()
	if !ok || !got.Equal(at(d)) {
		t.Fatalf("deadline = %v (set %v), want t0+%v", got.Sub(t0), ok, d)
	}
}

func wantNoDeadline(t *testing.T, m *Machine) {
	t.Helper()
	if got, ok := m.Deadline(); ok {
		t.Fatalf("deadline = t0+%v, want none", got.Sub(t0))
	}
}

func wantState(t *testing.T, m *Machine, s State) {
	t.Helper()
	if got := m.State(); got != s {
		t.Fatalf("state = %v, want %v", got, s)
	}
}

// toMaster starts m and makes it master through its Master_Down_Timer;
// it returns the time it became master.
func toMaster(t *testing.T, m *Machine) time.Duration {
	t.Helper()
	step(t, m, 0, Start{}, Transition{From: Initialize, To: Backup, Reason: ReasonInit})
	d, _ := m.Deadline()
	now := d.Sub(t0)
	step(t, m, now, Timeout{}, SendAdvert{Priority: m.Priority()}, AddVIPs{})
	step(t, m, now, VIPsReady{}, SendGratuitous{}, Transition{From: Backup, To: Master, Reason: ReasonMasterDown})
	return now
}

// RFC 5798 section 6.1, RFC 3768 section 6.1; values measured on
// keepalived 2.2.7 (vrrp-reference.md section 2.1).
func TestSkewTimeAndMasterDownInterval(t *testing.T) {
	tests := []struct {
		name     string
		version  int
		priority uint8
		interval time.Duration
		skew     time.Duration
		down     time.Duration
	}{
		{"v2 prio 150 1s (keepalived 3.41 s)", 2, 150, time.Second, 414062500, 3414062500},
		{"v2 prio 100 1s (seed backup, 3.61 s)", 2, 100, time.Second, 609375000, 3609375000},
		{"v2 skew ignores the interval", 2, 100, 2 * time.Second, 609375000, 6609375000},
		{"v3 prio 200 0.5s (keepalived 1.61 s)", 3, 200, ms(500), 109375000, 1609375000},
		{"v3 prio 100 1s (priority 0 answer 0.61 s)", 3, 100, time.Second, 609375000, 3609375000},
		{"v3 prio 100 100ms", 3, 100, ms(100), 60937500, 360937500},
		{"v3 prio 255 owner", 3, 255, time.Second, 3906250, 3003906250},
		{"v3 prio 1 multiplies before dividing", 3, 1, ms(10), 9960937, 39960937},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SkewTime(tt.version, tt.priority, tt.interval); got != tt.skew {
				t.Errorf("SkewTime = %v, want %v", got, tt.skew)
			}
			if got := MasterDownInterval(tt.version, tt.priority, tt.interval, 3); got != tt.down {
				t.Errorf("MasterDownInterval = %v, want %v", got, tt.down)
			}
		})
	}
}

// RFC 5798 section 6.4.1: priority 255 sends an advert, GARPs and goes
// Master at once; hac reports Master once the VIPs are on.
func TestInitializeOwnerBecomesMasterAtOnce(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority = 255; c.Preempt = false })
	step(t, m, 0, Start{}, SendAdvert{Priority: 255}, AddVIPs{})
	wantState(t, m, Initialize)
	step(t, m, ms(2), VIPsReady{}, SendGratuitous{}, Transition{From: Initialize, To: Master, Reason: ReasonOwner})
	wantState(t, m, Master)
	wantDeadline(t, m, time.Second)
	if got := m.Master(); got != self {
		t.Errorf("Master() = %v, want %v", got, self)
	}
}

// RFC 5798 section 6.4.1: otherwise Master_Adver_Interval =
// Advertisement_Interval and the Master_Down_Timer runs for
// Master_Down_Interval; keepalived waits the full interval at start.
// RFC 5798 section 6.4.2: when it fires, advert, VIPs, GARP, Master.
func TestInitializeBackupWaitsMasterDownInterval(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
		down time.Duration
	}{
		{"v2 prio 150 1s", func(c *Config) { c.Version = 2; c.Priority = 150 }, 3414062500},
		{"v3 prio 200 500ms", func(c *Config) { c.Priority = 200; c.AdvertInt = ms(500) }, 1609375000},
		{"v3 prio 100 100ms", func(c *Config) { c.AdvertInt = ms(100) }, 360937500},
		{"v3 down_timer_adverts 5", func(c *Config) { c.DownAdverts = 5; c.AdvertInt = ms(100) }, 560937500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, tt.cfg)
			step(t, m, 0, Start{}, Transition{From: Initialize, To: Backup, Reason: ReasonInit})
			wantDeadline(t, m, tt.down)
			if got, want := m.MasterAdverInterval(), config(tt.cfg).AdvertInt; got != want {
				t.Errorf("MasterAdverInterval = %v, want %v", got, want)
			}
			step(t, m, tt.down-1, Timeout{}) // early: nothing
			step(t, m, tt.down, Timeout{}, SendAdvert{Priority: m.Priority()}, AddVIPs{})
			wantState(t, m, Backup)
			step(t, m, tt.down, VIPsReady{}, SendGratuitous{}, Transition{From: Backup, To: Master, Reason: ReasonMasterDown})
			wantDeadline(t, m, tt.down+config(tt.cfg).AdvertInt)
		})
	}
}

// RFC 5798 section 6.4.2: a priority-0 advert sets the Master_Down_Timer
// to Skew_Time (keepalived: first own advert 0.61 s later at priority 100).
func TestBackupPriorityZeroSetsSkewTime(t *testing.T) {
	for _, version := range []int{2, 3} {
		m := newMachine(t, func(c *Config) { c.Version = version })
		step(t, m, 0, Start{}, Transition{From: Initialize, To: Backup, Reason: ReasonInit})
		step(t, m, time.Second, Advert{Priority: 200, AdvertInt: time.Second, Src: upper})
		step(t, m, 2*time.Second, Advert{Priority: 0, AdvertInt: time.Second, Src: upper})
		wantDeadline(t, m, 2*time.Second+609375*time.Microsecond)
		step(t, m, 2609375*time.Microsecond, Timeout{}, SendAdvert{Priority: 100}, AddVIPs{})
		step(t, m, 2610*time.Millisecond, VIPsReady{}, SendGratuitous{}, Transition{From: Backup, To: Master, Reason: ReasonPriorityZero, Peer: upper})
	}
}

// RFC 5798 section 6.4.2: an advert of at least our priority, or any
// advert with Preempt_Mode False, restarts the Master_Down_Timer; v3
// adopts the advert's interval as Master_Adver_Interval (RFC 3768: v2
// keeps its own).
func TestBackupAdvertRestartsTimer(t *testing.T) {
	tests := []struct {
		name     string
		cfg      func(*Config)
		adv      Advert
		interval time.Duration // Master_Adver_Interval after it
		deadline time.Duration // from the advert
	}{
		{"higher priority", nil, Advert{Priority: 200, AdvertInt: time.Second, Src: lower}, time.Second, 3609375000},
		{"equal priority", nil, Advert{Priority: 100, AdvertInt: time.Second, Src: lower}, time.Second, 3609375000},
		{"lower priority, preempt off", func(c *Config) { c.Preempt = false }, Advert{Priority: 50, AdvertInt: time.Second, Src: lower}, time.Second, 3609375000},
		{"v3 adopts a 2s interval", nil, Advert{Priority: 200, AdvertInt: 2 * time.Second, Src: upper}, 2 * time.Second, 6*time.Second + 1218750000},
		{"v3 adopts a 100ms interval", nil, Advert{Priority: 200, AdvertInt: ms(100), Src: upper}, ms(100), 360937500},
		{"v3 ignores a zero interval", nil, Advert{Priority: 200, Src: upper}, time.Second, 3609375000},
		{"v2 keeps its own interval", func(c *Config) { c.Version = 2 }, Advert{Priority: 200, AdvertInt: 2 * time.Second, Src: upper}, time.Second, 3609375000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, tt.cfg)
			step(t, m, 0, Start{}, Transition{From: Initialize, To: Backup, Reason: ReasonInit})
			step(t, m, 2*time.Second, tt.adv)
			wantDeadline(t, m, 2*time.Second+tt.deadline)
			if got := m.MasterAdverInterval(); got != tt.interval {
				t.Errorf("MasterAdverInterval = %v, want %v", got, tt.interval)
			}
			if got := m.Master(); got != tt.adv.Src {
				t.Errorf("Master() = %v, want %v", got, tt.adv.Src)
			}
			d, _ := m.Deadline()
			step(t, m, d.Sub(t0), Timeout{}, SendAdvert{Priority: m.Priority()}, AddVIPs{})
			if m.pending.Reason != ReasonMasterDown {
				t.Errorf("reason = %q, want %q", m.pending.Reason, ReasonMasterDown)
			}
			if got := m.MasterAdverInterval(); got != time.Second {
				t.Errorf("MasterAdverInterval after becoming master = %v, want the local 1s", got)
			}
		})
	}
}

// RFC 5798 section 6.4.2: with Preempt_Mode True a lower-priority advert
// is discarded; the timer keeps running and the backup preempts.
func TestBackupPreemptsLowerPriorityMaster(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority = 200 })
	step(t, m, 0, Start{}, Transition{From: Initialize, To: Backup, Reason: ReasonInit})
	start, _ := m.Deadline()
	for s := 1; s <= 3; s++ {
		step(t, m, time.Duration(s)*time.Second, Advert{Priority: 100, AdvertInt: time.Second, Src: upper})
		wantDeadline(t, m, start.Sub(t0))
	}
	d := start.Sub(t0)
	step(t, m, d, Timeout{}, SendAdvert{Priority: 200}, AddVIPs{})
	step(t, m, d, VIPsReady{}, SendGratuitous{}, Transition{From: Backup, To: Master, Reason: ReasonPreempt, Peer: upper})
}

// keepalived's preempt_delay: lower-priority adverts are obeyed for
// PreemptDelay after entering Backup, and again for PreemptDelay after the
// first lower-priority advert following one of at least our priority.
func TestBackupPreemptDelay(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority = 200; c.PreemptDelay = 5 * time.Second })
	mdi := MasterDownInterval(3, 200, time.Second, 3)
	step(t, m, 0, Start{}, Transition{From: Initialize, To: Backup, Reason: ReasonInit})
	for s := 1; s < 5; s++ { // obeyed: the timer restarts
		now := time.Duration(s) * time.Second
		step(t, m, now, Advert{Priority: 100, AdvertInt: time.Second, Src: upper})
		wantDeadline(t, m, now+mdi)
	}
	step(t, m, 5*time.Second, Advert{Priority: 100, AdvertInt: time.Second, Src: upper}) // delay over: discarded
	wantDeadline(t, m, 4*time.Second+mdi)

	// A higher-priority master resets the delay; the next lower advert starts it again.
	step(t, m, 6*time.Second, Advert{Priority: 250, AdvertInt: time.Second, Src: upper})
	step(t, m, 7*time.Second, Advert{Priority: 100, AdvertInt: time.Second, Src: upper})
	wantDeadline(t, m, 7*time.Second+mdi)
	step(t, m, 11*time.Second, Advert{Priority: 100, AdvertInt: time.Second, Src: upper})
	wantDeadline(t, m, 11*time.Second+mdi)
	step(t, m, 12*time.Second, Advert{Priority: 100, AdvertInt: time.Second, Src: upper})
	wantDeadline(t, m, 11*time.Second+mdi)
	step(t, m, 11*time.Second+mdi, Timeout{}, SendAdvert{Priority: 200}, AddVIPs{})
}

// RFC 5798 section 6.4.3: the Adver_Timer sends an advert and restarts.
func TestMasterAdverTimer(t *testing.T) {
	m := newMachine(t, nil)
	now := toMaster(t, m)
	wantDeadline(t, m, now+time.Second)
	step(t, m, now+time.Second, Timeout{}, SendAdvert{Priority: 100})
	wantDeadline(t, m, now+2*time.Second)
	step(t, m, now+2*time.Second+ms(3), Timeout{}, SendAdvert{Priority: 100}) // a late timer re-arms from now
	wantDeadline(t, m, now+3*time.Second+ms(3))
}

// An idle master's advert allocates nothing, and the actions it returns
// are shared but safe to append to.
func TestMasterAdvertAllocatesNothing(t *testing.T) {
	m := newMachine(t, nil)
	now := toMaster(t, m)
	if n := testing.AllocsPerRun(100, func() {
		now += time.Second
		if acts := m.Step(at(now), Timeout{}); len(acts) != 1 {
			t.Fatalf("actions %v, want one advert", acts)
		}
	}); n != 0 {
		t.Errorf("a master's advert timeout allocates %v times, want 0", n)
	}
	acts := m.Step(at(now+time.Second), Timeout{})
	_ = append(acts, RemoveVIPs{})
	step(t, m, now+2*time.Second, Timeout{}, SendAdvert{Priority: 100})
}

// RFC 5798 section 6.4.3: a priority-0 advert is answered at once and the
// Adver_Timer restarts.
func TestMasterAnswersPriorityZeroAtOnce(t *testing.T) {
	m := newMachine(t, nil)
	now := toMaster(t, m)
	step(t, m, now+ms(300), Advert{Priority: 0, AdvertInt: time.Second, Src: upper}, SendAdvert{Priority: 100})
	wantDeadline(t, m, now+ms(1300))
	wantState(t, m, Master)
}

// RFC 5798 section 6.4.3: a higher priority, or the same priority from a
// greater primary address, makes the master a backup; v3 adopts the
// advert's interval for its Master_Down_Interval.
func TestMasterYieldsToHigherPriorityOrAddress(t *testing.T) {
	tests := []struct {
		name   string
		adv    Advert
		reason string
		down   time.Duration
	}{
		{"higher priority", Advert{Priority: 200, AdvertInt: time.Second, Src: lower}, ReasonHigherPriority, 3609375000},
		{"equal priority, greater address", Advert{Priority: 100, AdvertInt: time.Second, Src: upper}, ReasonHigherAddress, 3609375000},
		{"higher priority, v3 interval 100ms", Advert{Priority: 200, AdvertInt: ms(100), Src: lower}, ReasonHigherPriority, 360937500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, nil)
			now := toMaster(t, m) + ms(500)
			step(t, m, now, tt.adv, RemoveVIPs{}, Transition{From: Master, To: Backup, Reason: tt.reason, Peer: tt.adv.Src})
			wantDeadline(t, m, now+tt.down)
			if got := m.Master(); got != tt.adv.Src {
				t.Errorf("Master() = %v, want %v", got, tt.adv.Src)
			}
		})
	}
}

// RFC 5798 section 6.4.3 discards a lower priority; keepalived (and hac)
// answer with an advert at once ("forcing new election") and GARPs; the
// Adver_Timer is not restarted.
func TestMasterLowerPriorityForcesNewElection(t *testing.T) {
	for _, adv := range []Advert{
		{Priority: 50, AdvertInt: time.Second, Src: upper},
		{Priority: 100, AdvertInt: time.Second, Src: lower},
	} {
		m := newMachine(t, nil)
		now := toMaster(t, m)
		step(t, m, now+ms(400), adv, SendAdvert{Priority: 100}, SendGratuitous{})
		wantState(t, m, Master)
		wantDeadline(t, m, now+time.Second)
	}
}

// hac: Master is reported only after the VIPs are on the interface. While
// waiting the machine acts as master on the wire, and an election lost in
// between removes the VIPs without reporting anything.
func TestBecomingMasterWaitsForVIPsReady(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.AdvertInt = ms(100) })
	step(t, m, 0, Start{}, Transition{From: Initialize, To: Backup, Reason: ReasonInit})
	step(t, m, ms(50), Advert{Priority: 200, AdvertInt: ms(200), Src: upper})
	d, _ := m.Deadline()
	now := d.Sub(t0)
	step(t, m, now, Timeout{}, SendAdvert{Priority: 100}, AddVIPs{})
	wantState(t, m, Backup)
	if got := m.MasterAdverInterval(); got != ms(100) {
		t.Errorf("MasterAdverInterval = %v, want the local 100ms", got)
	}
	step(t, m, now+ms(100), Timeout{}, SendAdvert{Priority: 100}) // adverts go on
	step(t, m, now+ms(120), Advert{Priority: 200, AdvertInt: ms(200), Src: upper}, RemoveVIPs{})
	wantState(t, m, Backup)
	step(t, m, now+ms(130), VIPsReady{}) // stale: ignored
	wantState(t, m, Backup)
}

// hac's make-before-break handoff: Shutdown in Master sends priority 0 but
// keeps the VIPs until the new master's advert, repeating priority 0 every
// interval meanwhile.
func TestShutdownHandsOffBeforeReleasing(t *testing.T) {
	m := newMachine(t, nil)
	now := toMaster(t, m)
	step(t, m, now+ms(200), Shutdown{}, SendAdvert{Priority: 0}, Transition{From: Master, To: Draining, Reason: ReasonShutdown})
	wantDeadline(t, m, now+ms(1200))
	step(t, m, now+ms(1200), Timeout{}, SendAdvert{Priority: 0})
	step(t, m, now+ms(1300), Advert{Priority: 0, AdvertInt: time.Second, Src: lower}) // another stopping master, smaller address
	step(t, m, now+ms(1400), Advert{Priority: 90, AdvertInt: time.Second, Src: lower},
		RemoveVIPs{}, Transition{From: Draining, To: Stopped, Reason: ReasonHandoffDone, Peer: lower})
	wantNoDeadline(t, m)
	step(t, m, now+ms(1500), Advert{Priority: 90, AdvertInt: time.Second, Src: lower})
	step(t, m, now+ms(1500), Timeout{})
}

// Two masters of a healed split brain both draining: only the greater
// address keeps the VIPs until the bound.
func TestShutdownTwoDrainingMasters(t *testing.T) {
	m := newMachine(t, nil)
	now := toMaster(t, m)
	step(t, m, now, Shutdown{}, SendAdvert{Priority: 0}, Transition{From: Master, To: Draining, Reason: ReasonShutdown})
	step(t, m, now+ms(1), Advert{Priority: 0, AdvertInt: time.Second, Src: upper},
		RemoveVIPs{}, Transition{From: Draining, To: Stopped, Reason: ReasonHigherAddress, Peer: upper})
}

// The handoff is bounded: with no new master after DownAdverts+1
// intervals, the VIPs go anyway.
func TestShutdownHandoffIsBounded(t *testing.T) {
	m := newMachine(t, nil)
	now := toMaster(t, m)
	step(t, m, now, Shutdown{}, SendAdvert{Priority: 0}, Transition{From: Master, To: Draining, Reason: ReasonShutdown})
	for i := 1; i < 4; i++ {
		step(t, m, now+time.Duration(i)*time.Second, Timeout{}, SendAdvert{Priority: 0})
	}
	step(t, m, now+4*time.Second, Timeout{}, RemoveVIPs{}, Transition{From: Draining, To: Stopped, Reason: ReasonHandoffTimeout})
}

// HandoffLinger keeps the VIPs a little after the new master is seen.
func TestShutdownHandoffLinger(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.HandoffLinger = ms(20) })
	now := toMaster(t, m)
	step(t, m, now, Shutdown{}, SendAdvert{Priority: 0}, Transition{From: Master, To: Draining, Reason: ReasonShutdown})
	step(t, m, now+ms(610), Advert{Priority: 90, AdvertInt: time.Second, Src: lower})
	wantDeadline(t, m, now+ms(630))
	step(t, m, now+ms(630), Timeout{}, RemoveVIPs{}, Transition{From: Draining, To: Stopped, Reason: ReasonHandoffDone, Peer: lower})
}

// RFC 5798 section 6.4.2: Shutdown in Backup sends nothing. A second
// Shutdown while draining ends the handoff at once; Shutdown while
// becoming master drains too (the VIPs may already be answering).
func TestShutdownOutsideMaster(t *testing.T) {
	m := newMachine(t, nil)
	step(t, m, 0, Start{}, Transition{From: Initialize, To: Backup, Reason: ReasonInit})
	step(t, m, time.Second, Shutdown{}, Transition{From: Backup, To: Stopped, Reason: ReasonShutdown})
	wantNoDeadline(t, m)
	step(t, m, 2*time.Second, Shutdown{})

	m = newMachine(t, nil)
	now := toMaster(t, m)
	step(t, m, now, Shutdown{}, SendAdvert{Priority: 0}, Transition{From: Master, To: Draining, Reason: ReasonShutdown})
	step(t, m, now+ms(1), Shutdown{}, RemoveVIPs{}, Transition{From: Draining, To: Stopped, Reason: ReasonShutdown})

	m = newMachine(t, func(c *Config) { c.Priority = 255 })
	step(t, m, 0, Start{}, SendAdvert{Priority: 255}, AddVIPs{})
	step(t, m, ms(1), Shutdown{}, SendAdvert{Priority: 0}, Transition{From: Initialize, To: Draining, Reason: ReasonShutdown})
	step(t, m, ms(2), VIPsReady{})
	step(t, m, ms(3), Advert{Priority: 100, Src: lower}, RemoveVIPs{}, Transition{From: Draining, To: Stopped, Reason: ReasonHandoffDone, Peer: lower})

	m = newMachine(t, nil)
	step(t, m, 0, Shutdown{}, Transition{From: Initialize, To: Stopped, Reason: ReasonShutdown})
	step(t, m, ms(1), Start{}, Transition{From: Stopped, To: Backup, Reason: ReasonInit})
}

// keepalived's FAULT: link down removes the VIPs and stops adverts; link
// up runs the Initialize logic of RFC 5798 section 6.4.1 again.
func TestLinkDownFault(t *testing.T) {
	m := newMachine(t, nil)
	now := toMaster(t, m)
	step(t, m, now+ms(10), LinkDown{}, RemoveVIPs{}, Transition{From: Master, To: Fault, Reason: ReasonLinkDown})
	wantNoDeadline(t, m)
	step(t, m, now+ms(20), Advert{Priority: 200, AdvertInt: time.Second, Src: upper})
	step(t, m, now+ms(30), Timeout{})
	step(t, m, now+ms(40), LinkDown{})
	step(t, m, now+ms(50), LinkUp{}, Transition{From: Fault, To: Backup, Reason: ReasonLinkUp})
	wantDeadline(t, m, now+ms(50)+3609375000)
	step(t, m, now+ms(60), LinkDown{}, Transition{From: Backup, To: Fault, Reason: ReasonLinkDown})

	owner := newMachine(t, func(c *Config) { c.Priority = 255 })
	step(t, owner, 0, LinkDown{})
	step(t, owner, 0, Start{}, Transition{From: Initialize, To: Fault, Reason: ReasonLinkDown})
	step(t, owner, ms(5), LinkUp{}, SendAdvert{Priority: 255}, AddVIPs{})
	step(t, owner, ms(6), VIPsReady{}, SendGratuitous{}, Transition{From: Fault, To: Master, Reason: ReasonLinkUp})
}

// keepalived: a failed weight-0 tracked item (effective priority 0) is a
// fault; a master sends priority 0 first so a backup takes over after
// Skew_Time. The fault lasts while either the link or the priority is bad.
func TestPriorityZeroIsFault(t *testing.T) {
	m := newMachine(t, nil)
	now := toMaster(t, m)
	step(t, m, now, PriorityChange{Priority: 0}, SendAdvert{Priority: 0}, RemoveVIPs{}, Transition{From: Master, To: Fault, Reason: ReasonTrackFault})
	step(t, m, now+ms(1), LinkDown{})
	step(t, m, now+ms(2), PriorityChange{Priority: 100})
	wantState(t, m, Fault)
	step(t, m, now+ms(3), PriorityChange{Priority: 0})
	step(t, m, now+ms(4), LinkUp{})
	wantState(t, m, Fault)
	step(t, m, now+ms(5), PriorityChange{Priority: 90}, Transition{From: Fault, To: Backup, Reason: ReasonTrackOK})
	wantDeadline(t, m, now+ms(5)+MasterDownInterval(3, 90, time.Second, 3))
}

// RFC 5798 sections 6.4.2 and 6.4.3 with tracking weights: a master whose
// priority drops keeps advertising it; a preempting backup that now has
// the higher priority discards its adverts and takes over on its timer,
// and the old master yields to the new master's advert.
func TestPriorityChangePreemptsNaturally(t *testing.T) {
	a := newMachine(t, func(c *Config) { c.Priority = 200; c.Primary = lower })
	b := newMachine(t, func(c *Config) { c.Priority = 150; c.Primary = upper })
	now := toMaster(t, a)
	step(t, b, 0, Start{}, Transition{From: Initialize, To: Backup, Reason: ReasonInit})
	step(t, b, now, Advert{Priority: 200, AdvertInt: time.Second, Src: lower})
	step(t, a, now+ms(100), PriorityChange{Priority: 140})
	step(t, a, now+time.Second, Timeout{}, SendAdvert{Priority: 140})
	step(t, b, now+time.Second, Advert{Priority: 140, AdvertInt: time.Second, Src: lower}) // discarded
	wantDeadline(t, b, now+MasterDownInterval(3, 150, time.Second, 3))
	d := now + MasterDownInterval(3, 150, time.Second, 3)
	step(t, b, d, Timeout{}, SendAdvert{Priority: 150}, AddVIPs{})
	step(t, b, d, VIPsReady{}, SendGratuitous{}, Transition{From: Backup, To: Master, Reason: ReasonPreempt, Peer: lower})
	step(t, a, d+ms(1), Advert{Priority: 150, AdvertInt: time.Second, Src: upper}, RemoveVIPs{}, Transition{From: Master, To: Backup, Reason: ReasonHigherPriority, Peer: upper})

	// The backup's priority rises above the master's: it preempts too.
	step(t, a, d+ms(2), PriorityChange{Priority: 200})
	step(t, a, d+time.Second, Advert{Priority: 150, AdvertInt: time.Second, Src: upper})
	wantDeadline(t, a, d+ms(1)+MasterDownInterval(3, 140, time.Second, 3))
}

// keepalived: two address owners log a configuration error and lower
// their priority to 254, after which the election settles.
func TestTwoOwners(t *testing.T) {
	m := newMachine(t, func(c *Config) { c.Priority = 255 })
	step(t, m, 0, Start{}, SendAdvert{Priority: 255}, AddVIPs{})
	step(t, m, 0, VIPsReady{}, SendGratuitous{}, Transition{From: Initialize, To: Master, Reason: ReasonOwner})
	got := m.Step(at(ms(5)), Advert{Priority: 255, AdvertInt: time.Second, Src: lower})
	if len(got) != 3 {
		t.Fatalf("actions = %#v, want a warning, RemoveVIPs and a transition", got)
	}
	if w, ok := got[0].(Warning); !ok || w.Peer != lower {
		t.Errorf("first action = %#v, want a Warning about %v", got[0], lower)
	}
	if diff := cmp.Diff([]Action{RemoveVIPs{}, Transition{From: Master, To: Backup, Reason: ReasonHigherPriority, Peer: lower}}, got[1:], addrEqual); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if m.Priority() != 254 {
		t.Errorf("priority = %d, want 254", m.Priority())
	}
}

// An advert carrying our own source address is reported, never obeyed.
func TestOwnAddressAdvertWarns(t *testing.T) {
	m := newMachine(t, nil)
	now := toMaster(t, m)
	got := m.Step(at(now+ms(1)), Advert{Priority: 200, Src: self})
	if len(got) != 1 {
		t.Fatalf("actions = %#v, want one Warning", got)
	}
	if _, ok := got[0].(Warning); !ok {
		t.Fatalf("action = %#v, want a Warning", got[0])
	}
	wantState(t, m, Master)
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"version 4", func(c *Config) { c.Version = 4 }},
		{"priority 0", func(c *Config) { c.Priority = 0 }},
		{"v2 sub-second interval", func(c *Config) { c.Version = 2; c.AdvertInt = ms(500) }},
		{"v2 interval 256s", func(c *Config) { c.Version = 2; c.AdvertInt = 256 * time.Second }},
		{"v3 interval 5ms", func(c *Config) { c.AdvertInt = ms(5) }},
		{"v3 interval 41s", func(c *Config) { c.AdvertInt = 41 * time.Second }},
		{"v3 interval 105ms", func(c *Config) { c.AdvertInt = ms(105) }},
		{"no primary", func(c *Config) { c.Primary = netip.Addr{} }},
		{"negative delay", func(c *Config) { c.PreemptDelay = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(config(tt.mod))
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("New: %v, want ErrConfig", err)
			}
		})
	}
}

func TestStateString(t *testing.T) {
	var got []string
	for s := Initialize; s <= Stopped+1; s++ {
		got = append(got, s.String())
	}
	want := []string{"INIT", "BACKUP", "MASTER", "FAULT", "DRAINING", "STOPPED", "State(6)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// An instance that cannot send its adverts must not keep the VIPs: RFC
// 5798 section 6.4.2 makes the backups take over after
// Master_Down_Interval without our adverts, so a master still holding them
// would be a second holder. The machine goes to Fault at once (nothing can
// be sent, so no priority 0), probes every Advertisement_Interval, and
// starts over as at Startup (section 6.4.1) when sending works again.
func TestSendFailureIsFault(t *testing.T) {
	m := newMachine(t, nil)
	now := toMaster(t, m)
	step(t, m, now+ms(10), SendFailed{}, RemoveVIPs{}, Transition{From: Master, To: Fault, Reason: ReasonSendFailed})
	step(t, m, now+ms(20), SendFailed{}) // counted by the driver, nothing more to do
	wantDeadline(t, m, now+ms(10)+time.Second)
	step(t, m, now+ms(30), Advert{Priority: 50, AdvertInt: time.Second, Src: lower}) // Fault ignores adverts
	step(t, m, now+ms(1010), Timeout{}, ProbeSend{})
	wantDeadline(t, m, now+ms(2010))
	step(t, m, now+ms(2010), Timeout{}, ProbeSend{})
	step(t, m, now+ms(2020), SendRecovered{}, Transition{From: Fault, To: Backup, Reason: ReasonSendOK})
	wantDeadline(t, m, now+ms(2020)+MasterDownInterval(3, 100, time.Second, 3))
	step(t, m, now+ms(2030), SendRecovered{})

	// A link loss during the send fault: both must clear.
	m = newMachine(t, nil)
	now = toMaster(t, m)
	step(t, m, now, SendFailed{}, RemoveVIPs{}, Transition{From: Master, To: Fault, Reason: ReasonSendFailed})
	step(t, m, now+ms(1), LinkDown{})
	step(t, m, now+ms(2), LinkUp{})
	wantState(t, m, Fault)
	step(t, m, now+ms(3), LinkDown{})
	step(t, m, now+ms(4), SendRecovered{})
	wantState(t, m, Fault)
	wantNoDeadline(t, m)
	step(t, m, now+ms(5), LinkUp{}, Transition{From: Fault, To: Backup, Reason: ReasonLinkUp})

	// A failure before Start, and a draining master that cannot send.
	m = newMachine(t, nil)
	step(t, m, 0, SendFailed{})
	step(t, m, ms(1), Start{}, Transition{From: Initialize, To: Fault, Reason: ReasonSendFailed})
	wantDeadline(t, m, ms(1)+time.Second)
	m = newMachine(t, nil)
	now = toMaster(t, m)
	step(t, m, now, Shutdown{}, SendAdvert{Priority: 0}, Transition{From: Master, To: Draining, Reason: ReasonShutdown})
	step(t, m, now+ms(1), SendFailed{}, RemoveVIPs{}, Transition{From: Draining, To: Stopped, Reason: ReasonSendFailed})
	wantNoDeadline(t, m)
}

// hac's crash restart: VIPs still leased from a previous run mean this
// node was master moments ago. Resume goes to Master at once (advert,
// lease renewed, GARP), and steps down when a better master answers (RFC
// 5798 section 6.4.3); a lower-priority node keeps it, as a master would.
func TestResumeAfterCrash(t *testing.T) {
	m := newMachine(t, nil)
	step(t, m, 0, Resume{}, SendAdvert{Priority: 100}, AddVIPs{})
	step(t, m, ms(1), VIPsReady{}, SendGratuitous{}, Transition{From: Initialize, To: Master, Reason: ReasonResume})
	wantDeadline(t, m, time.Second)
	step(t, m, ms(5), Advert{Priority: 200, AdvertInt: time.Second, Src: lower},
		RemoveVIPs{}, Transition{From: Master, To: Backup, Reason: ReasonHigherPriority, Peer: lower})

	// Not the rightful master, while the rightful one is still backup
	// (it has not yet seen Master_Down_Interval pass): the rightful one
	// preempts as usual, nothing flaps on our side before.
	m = newMachine(t, nil)
	step(t, m, 0, Resume{}, SendAdvert{Priority: 100}, AddVIPs{})
	step(t, m, ms(1), VIPsReady{}, SendGratuitous{}, Transition{From: Initialize, To: Master, Reason: ReasonResume})
	step(t, m, ms(2), Advert{Priority: 50, AdvertInt: time.Second, Src: upper}, SendAdvert{Priority: 100}, SendGratuitous{})
	wantState(t, m, Master)

	// The instance cannot run: the VIPs are removed, as stale ones.
	m = newMachine(t, nil)
	step(t, m, 0, LinkDown{})
	step(t, m, 0, Resume{}, RemoveVIPs{}, Transition{From: Initialize, To: Fault, Reason: ReasonLinkDown})
	m = newMachine(t, nil)
	step(t, m, 0, PriorityChange{Priority: 0})
	step(t, m, 0, Resume{}, RemoveVIPs{}, Transition{From: Initialize, To: Fault, Reason: ReasonTrackFault})
	m = newMachine(t, nil)
	toMaster(t, m)
	step(t, m, 5*time.Second, Resume{}) // only at start
}

// keepalived answers every lower-priority advert with an advert and GARPs;
// hac answers at most once per Advertisement_Interval, so a flood of
// lower-priority adverts (RFC 5798 section 6.4.3 discards them) cannot be
// amplified into a flood of adverts and broadcast ARPs.
func TestMasterAnswersAtMostOncePerInterval(t *testing.T) {
	m := newMachine(t, nil)
	now := toMaster(t, m)
	low := Advert{Priority: 50, AdvertInt: time.Second, Src: upper}
	step(t, m, now+ms(100), low, SendAdvert{Priority: 100}, SendGratuitous{})
	for i := 101; i < 1100; i += 7 {
		step(t, m, now+ms(i), low)
	}
	step(t, m, now+ms(1100), low, SendAdvert{Priority: 100}, SendGratuitous{})
	step(t, m, now+ms(1101), low)
	wantState(t, m, Master)
}

// A missing source address (the node's address not on the interface, at
// start or removed later) is a [SendFailed] the driver steps before any
// advert is due: the instance waits in Fault, never becomes master
// without a way to advertise, probes every Advertisement_Interval and
// starts over when the address is back.
func TestSourceMissing(t *testing.T) {
	// At start: Fault at once, whether starting or resuming (the leased
	// VIPs of a previous run are removed: it cannot hold them).
	for _, start := range []Event{Start{}, Resume{}} {
		m := newMachine(t, nil)
		step(t, m, 0, SendFailed{})
		var want []Action
		if _, ok := start.(Resume); ok {
			want = append(want, RemoveVIPs{})
		}
		want = append(want, Transition{From: Initialize, To: Fault, Reason: ReasonSendFailed})
		step(t, m, ms(1), start, want...)
		step(t, m, ms(1001), Timeout{}, ProbeSend{})
		step(t, m, ms(1002), SendRecovered{}, Transition{From: Fault, To: Backup, Reason: ReasonSendOK})
	}
	// Removed while backup: Fault, no VIPs to remove; the master-down
	// timer is gone (a backup that cannot advertise must not take over).
	m := newMachine(t, nil)
	step(t, m, 0, Start{}, Transition{From: Initialize, To: Backup, Reason: ReasonInit})
	step(t, m, ms(100), SendFailed{}, Transition{From: Backup, To: Fault, Reason: ReasonSendFailed})
	wantDeadline(t, m, ms(1100)) // the probe, not Master_Down_Interval
	step(t, m, ms(1100), Timeout{}, ProbeSend{})
	step(t, m, ms(1200), SendRecovered{}, Transition{From: Fault, To: Backup, Reason: ReasonSendOK})
}

// TestAdvertGrid: with AdvertGrid set, a master's adverts after the
// first fall on the grid, never more than AdvertInt apart; the answer to
// a priority-0 advert keeps the grid. Without it, every advert comes
// AdvertInt after the last.
func TestAdvertGrid(t *testing.T) {
	grid := t0
	m := newMachine(t, func(c *Config) { c.AdvertGrid = grid })
	if at := toMaster(t, m); at != 3609375*time.Microsecond {
		t.Fatalf("master at %v, want 3.609375s (Master_Down_Interval)", at)
	}
	if d, _ := m.Deadline(); !d.Equal(grid.Add(4 * time.Second)) {
		t.Errorf("second advert due at %v after the grid, want 4s", d.Sub(grid))
	}
	m.Step(grid.Add(4*time.Second+2*time.Millisecond), Timeout{}) // a late timer
	if d, _ := m.Deadline(); !d.Equal(grid.Add(5 * time.Second)) {
		t.Errorf("third advert due at %v after the grid, want 5s", d.Sub(grid))
	}
	peer := netip.MustParseAddr("198.18.0.12")
	m.Step(grid.Add(4500*time.Millisecond), Advert{Src: peer, Priority: 0, AdvertInt: time.Second})
	if d, _ := m.Deadline(); !d.Equal(grid.Add(5 * time.Second)) {
		t.Errorf("after answering priority 0 at 4.5s, next advert due at %v after the grid, want 5s", d.Sub(grid))
	}
	for _, ms := range []int64{0, 1, 999, 1000, 1001, 123456} {
		at := grid.Add(time.Duration(ms) * time.Millisecond)
		if next := m.nextAdvert(at); !next.After(at) || next.Sub(at) > time.Second {
			t.Errorf("advert at %v after the grid: next at %v later, want within (0, 1s]", at.Sub(grid), next.Sub(at))
		}
	}
	if next := newMachine(t, nil).nextAdvert(grid.Add(time.Millisecond)); !next.Equal(grid.Add(1001 * time.Millisecond)) {
		t.Errorf("without a grid: next advert %v after the last, want 1s", next.Sub(grid.Add(time.Millisecond)))
	}
}
