package fsm

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// sim is a deterministic in-memory VRRP network with a fake clock: it plays
// the driver for several machines, delivering each SendAdvert to the other
// connected nodes after delay and confirming AddVIPs after a node's
// vipDelay.
type sim struct {
	t     testing.TB
	now   time.Time
	delay time.Duration
	nodes []*simNode
	cut   map[[2]int]bool
	queue []delivery
	steps int
	// check runs after every step; nil: only the machine invariants.
	check func()
	// after runs after every step of node i with its actions, as a
	// driver hands them to a sync group (group_test.go); nil: nothing.
	after func(i int, acts []Action)
	// multi is when two or more nodes started holding the VIPs at once
	// (zero: at most one holds them); longest is the longest such period
	// since watch was called, counted from then.
	// trace, when not nil, collects every step for debugging.
	trace     []string
	multi     time.Time
	watchFrom time.Time
	longest   time.Duration
}

type simNode struct {
	name     string
	m        *Machine
	cfg      Config
	link     bool
	sendBad  bool // adverts cannot be sent
	holds    bool
	vipDelay time.Duration
	readyAt  time.Time // VIPsReady due; zero: none
	lastRecv time.Time // last advert delivered
	log      []simTransition
}

type simTransition struct {
	at time.Time
	Transition
}

type delivery struct {
	at  time.Time
	to  int
	adv Advert
}

func newSim(t testing.TB, cfgs ...Config) *sim {
	s := &sim{t: t, now: t0, delay: time.Millisecond, cut: map[[2]int]bool{}}
	for i, c := range cfgs {
		m, err := New(c)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		s.nodes = append(s.nodes, &simNode{name: fmt.Sprintf("n%d", i+1), m: m, cfg: c, link: true})
	}
	return s
}

func (s *sim) connected(i, j int) bool {
	if i > j {
		i, j = j, i
	}
	return s.nodes[i].link && s.nodes[j].link && !s.cut[[2]int{i, j}]
}

// step feeds ev to node i now and carries out the actions like a driver.
func (s *sim) step(i int, ev Event) {
	n := s.nodes[i]
	acts := n.m.Step(s.now, ev)
	if s.trace != nil {
		s.trace = append(s.trace, fmt.Sprintf("%v %s %v %T%+v -> %+v", s.now.Sub(t0), n.name, n.m.State(), ev, ev, acts))
	}
	failed, recovered := false, false
	for _, a := range acts {
		switch a := a.(type) {
		case SendAdvert:
			if n.sendBad {
				failed = true
				continue
			}
			adv := Advert{Priority: a.Priority, AdvertInt: n.cfg.AdvertInt, Src: n.cfg.Primary}
			for j := range s.nodes {
				if j != i && s.connected(i, j) {
					s.queue = append(s.queue, delivery{at: s.now.Add(s.delay), to: j, adv: adv})
				}
			}
		case AddVIPs:
			n.holds = true
			n.readyAt = s.now.Add(n.vipDelay)
		case RemoveVIPs:
			n.holds = false
			n.readyAt = time.Time{}
		case ProbeSend:
			recovered = !n.sendBad
		case Transition:
			n.log = append(n.log, simTransition{s.now, a})
		}
	}
	s.invariants()
	if s.after != nil {
		s.after(i, acts)
	}
	switch {
	case failed:
		s.step(i, SendFailed{})
	case recovered:
		s.step(i, SendRecovered{})
	}
}

// invariants checks what must hold after every step of every node.
func (s *sim) invariants() {
	holders := 0
	for _, n := range s.nodes {
		if n.holds {
			holders++
		}
		if n.m.State() == Master && !n.holds {
			s.t.Fatalf("%v %s: reports MASTER without the VIPs", s.now.Sub(t0), n.name)
		}
		if n.holds && n.m.state != Master && n.m.state != Draining {
			s.t.Fatalf("%v %s: holds the VIPs in %v", s.now.Sub(t0), n.name, n.m.state)
		}
		d, ok := n.m.Deadline()
		running := n.m.state == Backup || n.m.state == Master || n.m.state == Draining ||
			(n.m.state == Fault && n.m.sendFault) // the send probe
		if ok != running {
			s.t.Fatalf("%v %s: deadline set %v in %v", s.now.Sub(t0), n.name, ok, n.m.state)
		}
		if ok && d.Before(s.now) {
			s.t.Fatalf("%v %s: deadline %v in the past", s.now.Sub(t0), n.name, d.Sub(t0))
		}
	}
	switch {
	case holders >= 2 && s.multi.IsZero():
		s.multi = s.now
	case holders < 2 && !s.multi.IsZero():
		from := s.multi
		if from.Before(s.watchFrom) {
			from = s.watchFrom
		}
		if d := s.now.Sub(from); d > s.longest {
			s.longest = d
		}
		s.multi = time.Time{}
	}
	if s.check != nil {
		s.check()
	}
}

// next finds the earliest pending event: VIPsReady first, then advert
// deliveries, then timers.
func (s *sim) next() (time.Time, func()) {
	var when time.Time
	var do func()
	consider := func(t time.Time, f func()) {
		if !t.IsZero() && (when.IsZero() || t.Before(when)) {
			when, do = t, f
		}
	}
	for i, n := range s.nodes {
		consider(n.readyAt, func() { n.readyAt = time.Time{}; s.step(i, VIPsReady{}) })
	}
	for k, d := range s.queue {
		consider(d.at, func() {
			s.queue = append(s.queue[:k:k], s.queue[k+1:]...)
			n := s.nodes[d.to]
			if n.link { // lost if the receiver's link went down meanwhile
				n.lastRecv = s.now
				s.step(d.to, d.adv)
			}
		})
	}
	for i, n := range s.nodes {
		if d, ok := n.m.Deadline(); ok {
			consider(d, func() { s.step(i, Timeout{}) })
		}
	}
	return when, do
}

// run processes every event up to and including time t0+until.
func (s *sim) run(until time.Duration) {
	end := at(until)
	for {
		when, do := s.next()
		if do == nil || when.After(end) {
			break
		}
		if s.steps++; s.steps > 1_000_000 {
			s.t.Fatalf("%v: no progress", s.now.Sub(t0))
		}
		s.now = when
		do()
	}
	s.now = end
}

// watch starts measuring multi-holder periods from now (only their part
// after now counts).
func (s *sim) watch() { s.watchFrom, s.longest = s.now, 0 }

func (s *sim) linkDown(i int) { s.nodes[i].link = false; s.step(i, LinkDown{}) }
func (s *sim) linkUp(i int)   { s.nodes[i].link = true; s.step(i, LinkUp{}) }

func (s *sim) setCut(i, j int, cut bool) {
	if i > j {
		i, j = j, i
	}
	s.cut[[2]int{i, j}] = cut
	if s.trace != nil {
		s.trace = append(s.trace, fmt.Sprintf("%v cut %s-%s %v", s.now.Sub(t0), s.nodes[i].name, s.nodes[j].name, cut))
	}
}

// longestMulti is the longest period since watch during which several
// nodes held the VIPs, including one still going on.
func (s *sim) longestMulti() time.Duration {
	d := s.longest
	if !s.multi.IsZero() {
		from := s.multi
		if from.Before(s.watchFrom) {
			from = s.watchFrom
		}
		d = max(d, s.now.Sub(from))
	}
	return d
}

// holders names the nodes holding the VIPs.
func (s *sim) holders() []string {
	var h []string
	for _, n := range s.nodes {
		if n.holds {
			h = append(h, n.name)
		}
	}
	return h
}

func (s *sim) wantRoles(roles ...State) {
	s.t.Helper()
	for i, n := range s.nodes {
		if n.m.State() != roles[i] {
			s.t.Fatalf("%v: %s is %v, want %v (holders %v)", s.now.Sub(t0), n.name, n.m.State(), roles[i], s.holders())
		}
	}
	if h := s.holders(); len(h) > 1 {
		s.t.Fatalf("%v: %v all hold the VIPs", s.now.Sub(t0), h)
	}
}

// becameMaster returns the time of n's last Transition to Master.
func (n *simNode) becameMaster() time.Time {
	for k := len(n.log) - 1; k >= 0; k-- {
		if n.log[k].To == Master {
			return n.log[k].at
		}
	}
	return time.Time{}
}

func nodeConfig(version int, interval time.Duration, prio uint8, host byte) Config {
	return Config{Version: version, Priority: prio, AdvertInt: interval, Preempt: true,
		Primary: netip.AddrFrom4([4]byte{198, 18, 0, host})}
}

// The seed scenario (two nodes, priority 200 and 100) on v2 at 1 s and v3
// at 100 ms: start, master link down, master back (preempts), graceful
// handoff with the VIPs held by someone at every instant.
func TestSimSeedScenario(t *testing.T) {
	for _, tc := range []struct {
		version  int
		interval time.Duration
	}{{2, time.Second}, {3, ms(100)}} {
		t.Run(fmt.Sprintf("v%d %v", tc.version, tc.interval), func(t *testing.T) {
			iv := tc.interval
			s := newSim(t, nodeConfig(tc.version, iv, 200, 1), nodeConfig(tc.version, iv, 100, 2))
			n1, n2 := s.nodes[0], s.nodes[1]
			mdi1 := MasterDownInterval(tc.version, 200, iv, 3)
			mdi2 := MasterDownInterval(tc.version, 100, iv, 3)
			s.step(0, Start{})
			s.step(1, Start{})

			// Start: keepalived waits a full Master_Down_Interval.
			s.run(5 * iv)
			s.wantRoles(Master, Backup)
			if got := n1.becameMaster(); !got.Equal(at(mdi1)) {
				t.Errorf("n1 master at %v, want %v", got.Sub(t0), mdi1)
			}

			// Master link down between two adverts: the backup takes over
			// exactly Master_Down_Interval after the last advert it heard.
			down := 10*iv + iv/3
			s.run(down)
			s.linkDown(0)
			last := n2.lastRecv
			s.run(down + 5*iv)
			s.wantRoles(Fault, Master)
			if got, want := n2.becameMaster(), last.Add(mdi2); !got.Equal(want) {
				t.Errorf("n2 master at %v, want last advert %v + %v", got.Sub(t0), last.Sub(t0), mdi2)
			}

			// Master back: it preempts after its Master_Down_Interval.
			up := 20*iv + iv/2
			s.run(up)
			s.linkUp(0)
			s.watch()
			s.run(up + 5*iv)
			s.wantRoles(Master, Backup)
			if got := n1.becameMaster(); !got.Equal(at(up + mdi1)) {
				t.Errorf("n1 master again at %v, want %v", got.Sub(t0), up+mdi1)
			}
			if got := s.longestMulti(); got > s.delay {
				t.Errorf("both held the VIPs for %v during the takeback, want at most the %v delivery delay", got, s.delay)
			}

			// Graceful stop: make-before-break, never zero holders.
			stop := 30*iv + iv/4
			s.run(stop)
			s.check = func() {
				if len(s.holders()) == 0 {
					t.Fatalf("%v: nobody holds the VIPs during the handoff", s.now.Sub(t0))
				}
			}
			s.step(0, Shutdown{})
			s.run(stop + 5*iv)
			s.wantRoles(Stopped, Master)
			if got, want := n2.becameMaster(), at(stop).Add(s.delay+SkewTime(tc.version, 100, iv)); !got.Equal(want) {
				t.Errorf("n2 master at %v, want %v (priority 0 + Skew_Time)", got.Sub(t0), want.Sub(t0))
			}
			if got := n1.log[len(n1.log)-1]; got.Reason != ReasonHandoffDone || got.Peer != n2.cfg.Primary {
				t.Errorf("n1 stopped with %+v, want %s from n2", got.Transition, ReasonHandoffDone)
			}
		})
	}
}

// Three nodes: the next priority takes over, the lowest stays backup.
func TestSimThreeNodesFailover(t *testing.T) {
	iv := ms(100)
	s := newSim(t, nodeConfig(3, iv, 200, 1), nodeConfig(3, iv, 150, 2), nodeConfig(3, iv, 100, 3))
	for i := range s.nodes {
		s.step(i, Start{})
	}
	s.run(time.Second)
	s.wantRoles(Master, Backup, Backup)
	s.linkDown(0)
	s.run(2 * time.Second)
	s.wantRoles(Fault, Master, Backup)
	s.step(1, Shutdown{})
	s.run(3 * time.Second)
	s.wantRoles(Fault, Stopped, Master)
	s.linkUp(0)
	s.run(4 * time.Second)
	s.wantRoles(Master, Stopped, Backup)
}

// Split brain: a cut link makes both nodes master; once healed exactly one
// stays master (higher priority, or the greater address on a tie), within
// one advert interval plus the delivery delays.
func TestSimSplitBrainHeals(t *testing.T) {
	tests := []struct {
		name    string
		version int
		iv      time.Duration
		p1, p2  uint8
		winner  int
	}{
		{"v2 higher priority wins", 2, time.Second, 200, 100, 0},
		{"v3 higher priority wins", 3, ms(100), 200, 100, 0},
		{"v3 tie: greater address wins", 3, ms(100), 150, 150, 1},
		{"v2 tie: greater address wins", 2, time.Second, 100, 100, 1},
		{"v3 owner and backup", 3, ms(100), 255, 100, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, nodeConfig(tt.version, tt.iv, tt.p1, 1), nodeConfig(tt.version, tt.iv, tt.p2, 2))
			s.step(0, Start{})
			s.step(1, Start{})
			s.run(10 * tt.iv)
			s.setCut(0, 1, true)
			s.run(20 * tt.iv)
			if h := s.holders(); len(h) != 2 || s.nodes[0].m.State() != Master || s.nodes[1].m.State() != Master {
				t.Fatalf("partitioned: holders %v, states %v %v, want two masters", h, s.nodes[0].m.State(), s.nodes[1].m.State())
			}
			heal := 20*tt.iv + tt.iv/3
			s.run(heal)
			s.setCut(0, 1, false)
			s.watch()
			s.run(heal + 10*tt.iv)
			roles := []State{Backup, Backup}
			roles[tt.winner] = Master
			s.wantRoles(roles...)
			if got, limit := s.longestMulti(), tt.iv+2*s.delay; got > limit {
				t.Errorf("two masters for %v after healing, want at most %v", got, limit)
			}
		})
	}
}
