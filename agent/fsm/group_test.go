package fsm

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// groupSim runs one sim per instance over the same nodes, and on every
// node a sync group of all the instances: the driver's part, as the
// agent does it (every step's actions go to Group.Update, its orders are
// stepped into the members).
type groupSim struct {
	t      testing.TB
	sims   []*sim   // by instance
	groups []*Group // by node
	// changes are the groups' transitions, by node.
	changes [][]simTransition
	steps   int
	depth   int // nested group updates in progress
}

// newGroupSim builds instances (cfgs[k] are instance k's node configs),
// each member Synced when synced is true.
func newGroupSim(t testing.TB, synced bool, cfgs ...[]Config) *groupSim {
	g := &groupSim{t: t}
	for k, cs := range cfgs {
		for i := range cs {
			cs[i].Synced = synced
		}
		s := newSim(t, cs...)
		g.sims = append(g.sims, s)
		if !synced {
			continue
		}
		s.after = func(i int, acts []Action) {
			g.depth++
			orders, tr := g.groups[i].Update(k, s.nodes[i].m.Status(), acts)
			if tr != nil {
				g.changes[i] = append(g.changes[i], simTransition{s.now, *tr})
			}
			for _, o := range orders {
				g.sims[o.Member].step(i, o.Event)
			}
			if g.depth--; g.depth == 0 {
				g.faultsTogether(i)
			}
		}
	}
	for range cfgs[0] {
		g.groups = append(g.groups, NewGroup(len(cfgs)))
		g.changes = append(g.changes, nil)
	}
	return g
}

// faultsTogether checks, once a node's group has carried out every
// order, keepalived's first rule: while a member of node i has a fault of
// its own, no member of node i runs (holds the VIPs or may take them).
func (g *groupSim) faultsTogether(i int) {
	faulted := ""
	for k, s := range g.sims {
		if s.nodes[i].m.Status().Faulted {
			faulted = fmt.Sprintf("instance %d", k)
		}
	}
	if faulted == "" {
		return
	}
	for k, s := range g.sims {
		if st := s.nodes[i].m.state; st == Backup || st == Master || s.nodes[i].holds {
			g.t.Fatalf("%v: on n%d, %s is in fault but instance %d is %v (holds the VIPs: %v)", s.now.Sub(t0), i+1, faulted, k, st, s.nodes[i].holds)
		}
	}
}

// start starts every instance on every node.
func (g *groupSim) start() {
	for _, s := range g.sims {
		for i := range s.nodes {
			s.step(i, Start{})
		}
	}
}

// run processes every event of every instance, in time order, up to t0+until.
func (g *groupSim) run(until time.Duration) {
	end := at(until)
	for {
		var when time.Time
		var do func()
		for _, s := range g.sims {
			if w, d := s.next(); d != nil && (do == nil || w.Before(when)) {
				when, do = w, d
			}
		}
		if do == nil || when.After(end) {
			break
		}
		if g.steps++; g.steps > 1_000_000 {
			g.t.Fatalf("%v: no progress", when.Sub(t0))
		}
		for _, s := range g.sims {
			s.now = when
		}
		do()
	}
	for _, s := range g.sims {
		s.now = end
	}
}

// roles returns every instance's state per node: roles()[k][i].
func (g *groupSim) roles() [][]State {
	var out [][]State
	for _, s := range g.sims {
		var r []State
		for _, n := range s.nodes {
			r = append(r, n.m.State())
		}
		out = append(out, r)
	}
	return out
}

func (g *groupSim) wantRoles(want ...[]State) {
	g.t.Helper()
	if diff := cmp.Diff(want, g.roles()); diff != "" {
		g.t.Fatalf("%v: roles [instance][node] (-want +got):\n%s", g.sims[0].now.Sub(t0), diff)
	}
	for _, s := range g.sims {
		if h := s.holders(); len(h) > 1 {
			g.t.Fatalf("%v: %v all hold the VIPs", s.now.Sub(t0), h)
		}
	}
}

// groupStates returns each node's group transitions as "FROM>TO".
func (g *groupSim) groupStates(i int) []string {
	var out []string
	for _, c := range g.changes[i] {
		out = append(out, c.From.String()+">"+c.To.String())
	}
	return out
}

// pairConfigs are two instances of two nodes, n1 200 and n2 100.
func pairConfigs(version int, iv time.Duration) [][]Config {
	return [][]Config{
		{nodeConfig(version, iv, 200, 1), nodeConfig(version, iv, 100, 2)},
		{nodeConfig(version, iv, 200, 1), nodeConfig(version, iv, 100, 2)},
	}
}

// keepalived's vrrp_sync_fault: the link of one member fails on the
// master, and both instances move to the backup together; with the link
// back, both come back together (preempt). Without a sync group only the
// failed instance moves.
func TestSimGroupFaultMovesTogether(t *testing.T) {
	for _, tc := range []struct {
		version int
		iv      time.Duration
	}{{2, time.Second}, {3, ms(100)}} {
		t.Run(fmt.Sprintf("v%d %v", tc.version, tc.iv), func(t *testing.T) {
			iv := tc.iv
			g := newGroupSim(t, true, pairConfigs(tc.version, iv)...)
			g.start()
			g.run(10 * iv)
			g.wantRoles([]State{Master, Backup}, []State{Master, Backup})

			// VI_1's interface on n1 loses its link: n1's group goes to
			// FAULT, VI_2 on n1 sends priority 0 and leaves; n2 takes
			// both once VI_1's Master_Down_Interval has passed (VI_2's
			// Skew_Time came first, and it waited for VI_1).
			down := 20*iv + iv/3
			g.run(down)
			g.sims[0].linkDown(0)
			last := g.sims[0].nodes[1].lastRecv
			g.run(down + 10*iv)
			g.wantRoles([]State{Fault, Master}, []State{Fault, Master})
			mdi := MasterDownInterval(tc.version, 100, iv, 3)
			for k, s := range g.sims {
				if got, want := s.nodes[1].becameMaster(), last.Add(mdi); !got.Equal(want) {
					t.Errorf("VI_%d on n2 master at %v, want VI_1's last advert %v + %v", k+1, got.Sub(t0), last.Sub(t0), mdi)
				}
			}
			if got := g.sims[1].nodes[0].log; got[len(got)-1].Reason != ReasonSyncGroup {
				t.Errorf("VI_2 on n1 went to %v for %q, want %q", got[len(got)-1].To, got[len(got)-1].Reason, ReasonSyncGroup)
			}

			// The link is back: the group leaves FAULT, both members
			// start over and preempt together.
			up := 40*iv + iv/2
			g.run(up)
			g.sims[0].linkUp(0)
			g.run(up + 10*iv)
			g.wantRoles([]State{Master, Backup}, []State{Master, Backup})
			mdi1 := MasterDownInterval(tc.version, 200, iv, 3)
			for k, s := range g.sims {
				if got := s.nodes[0].becameMaster(); !got.Equal(at(up + mdi1)) {
					t.Errorf("VI_%d on n1 master again at %v, want %v", k+1, got.Sub(t0), up+mdi1)
				}
			}
			want := [][]string{
				{"INIT>BACKUP", "BACKUP>MASTER", "MASTER>FAULT", "FAULT>BACKUP", "BACKUP>MASTER"},
				{"INIT>BACKUP", "BACKUP>MASTER", "MASTER>BACKUP"},
			}
			for i := range want {
				if diff := cmp.Diff(want[i], g.groupStates(i)); diff != "" {
					t.Errorf("n%d group transitions (-want +got):\n%s", i+1, diff)
				}
			}
		})
	}
	t.Run("without a sync group", func(t *testing.T) {
		g := newGroupSim(t, false, pairConfigs(3, ms(100))...)
		g.start()
		g.run(time.Second)
		g.sims[0].linkDown(0)
		g.run(2 * time.Second)
		g.wantRoles([]State{Fault, Master}, []State{Master, Backup})
	})
}

// keepalived's vrrp_sync_backup: after a split brain heals, the lower
// node's members hear the higher master and step down; every member
// follows, and each instance ends with one master, the same node.
func TestSimGroupSplitBrainHeals(t *testing.T) {
	iv := ms(100)
	g := newGroupSim(t, true, pairConfigs(3, iv)...)
	g.start()
	g.run(10 * iv)
	for _, s := range g.sims {
		s.setCut(0, 1, true)
	}
	g.run(20 * iv)
	if diff := cmp.Diff([][]State{{Master, Master}, {Master, Master}}, g.roles()); diff != "" {
		t.Fatalf("partitioned: roles (-want +got):\n%s", diff)
	}
	for _, s := range g.sims {
		s.setCut(0, 1, false)
	}
	g.run(30 * iv)
	g.wantRoles([]State{Master, Backup}, []State{Master, Backup})
}

// A member whose Master_Down_Timer fires waits for the others
// (keepalived's vrrp_sync_can_goto_master): VI_2's master n1 still
// advertises, so n2 takes neither instance when only VI_1's master goes
// silent without a fault n1 sees (its adverts are lost on the way).
func TestSimGroupWaitsForEveryMember(t *testing.T) {
	iv := ms(100)
	g := newGroupSim(t, true, pairConfigs(3, iv)...)
	g.start()
	g.run(10 * iv)
	g.sims[0].setCut(0, 1, true) // only VI_1's adverts are lost
	g.run(30 * iv)
	g.wantRoles([]State{Master, Backup}, []State{Master, Backup})
	if !g.sims[0].nodes[1].m.Status().WantMaster {
		t.Errorf("VI_1 on n2 does not want master after its Master_Down_Interval")
	}
	// VI_2's master goes silent too: now every member wants master.
	g.sims[1].setCut(0, 1, true)
	g.run(40 * iv)
	if got := g.roles(); got[0][1] != Master || got[1][1] != Master {
		t.Errorf("n2 roles %v, want MASTER of both once both masters are silent", got)
	}
}

// The group's own state follows its members; Update is pure.
func TestGroupUpdate(t *testing.T) {
	g := NewGroup(2)
	backup := MemberStatus{State: Backup, Reported: Backup}
	if o, tr := g.Update(0, backup, []Action{Transition{From: Initialize, To: Backup, Reason: ReasonInit}}); len(o) > 0 || tr != nil {
		t.Fatalf("one member started: orders %v, transition %v; want none (the other is in INIT)", o, tr)
	}
	_, tr := g.Update(1, backup, []Action{Transition{From: Initialize, To: Backup, Reason: ReasonInit}})
	if tr == nil || tr.To != Backup {
		t.Fatalf("both started: transition %v, want to BACKUP", tr)
	}
	// Member 0 wants master, member 1 does not yet: nothing.
	o, _ := g.Update(0, MemberStatus{State: Backup, Reported: Backup, WantMaster: true}, []Action{WantMaster{}})
	if len(o) > 0 {
		t.Fatalf("orders %v, want none while member 1 does not want master", o)
	}
	// Member 1 wants too: both become master.
	o, _ = g.Update(1, MemberStatus{State: Backup, Reported: Backup, WantMaster: true}, []Action{WantMaster{}})
	if diff := cmp.Diff([]Order{{0, GroupMaster{}}, {1, GroupMaster{}}}, o); diff != "" {
		t.Fatalf("orders (-want +got):\n%s", diff)
	}
	// A fault of member 1 faults member 0 too.
	o, tr = g.Update(1, MemberStatus{State: Fault, Reported: Fault, Faulted: true}, []Action{Transition{From: Backup, To: Fault, Reason: ReasonLinkDown}})
	if diff := cmp.Diff([]Order{{0, GroupFault{}}, {1, GroupFault{}}}, o); diff != "" {
		t.Fatalf("orders (-want +got):\n%s", diff)
	}
	if tr == nil || tr.To != Fault || tr.Reason != ReasonLinkDown {
		t.Fatalf("transition %+v, want to FAULT for link_down", tr)
	}
	if _, ok := g.FaultEvent().(GroupFault); !ok {
		t.Errorf("FaultEvent in FAULT = %T, want GroupFault", g.FaultEvent())
	}
	// The fault clears: everyone starts over.
	o, tr = g.Update(1, MemberStatus{State: Fault, Reported: Fault}, nil)
	if diff := cmp.Diff([]Order{{0, GroupRecovered{}}, {1, GroupRecovered{}}}, o); diff != "" {
		t.Fatalf("orders (-want +got):\n%s", diff)
	}
	if _, ok := g.FaultEvent().(GroupRecovered); !ok || tr == nil || tr.From != Fault {
		t.Errorf("after recovery: FaultEvent %T, transition %+v; want GroupRecovered, from FAULT", g.FaultEvent(), tr)
	}
}

// runGroup plays a scenario read from data on 2 or 3 nodes running a sync
// group of 2 or 3 instances (each node one priority for all its members,
// as the compiler's rules ask): link faults, weight-0 faults, partitions
// of one instance, whole-node stops and restarts. Then it heals everything
// and checks keepalived's group properties: each instance has exactly one
// master, the same node for every instance, and every node's members are
// in one state.
func runGroup(t testing.TB, data []byte) {
	r := &byteSource{b: data}
	version := 2 + r.intn(2)
	nodes := 2 + r.intn(2)
	members := 2 + r.intn(2)
	iv := time.Second
	if version == 3 {
		iv = time.Duration(1+r.intn(30)) * 10 * time.Millisecond
	}
	prios := make([]uint8, nodes)
	used := map[uint8]bool{}
	for i := range prios {
		p := 1 + uint8(r.intn(254))
		for used[p] {
			p = p%254 + 1
		}
		prios[i], used[p] = p, true
	}
	var cfgs [][]Config
	for range members {
		var cs []Config
		for i := range nodes {
			cs = append(cs, nodeConfig(version, iv, prios[i], byte(1+i)))
		}
		cfgs = append(cfgs, cs)
	}
	g := newGroupSim(t, true, cfgs...)
	g.start()
	now := time.Duration(0)
	for op := 0; op < 20 && len(r.b) > 0; op++ {
		now += iv * time.Duration(r.intn(16)) / 4
		g.run(now)
		k, i := r.intn(members), r.intn(nodes)
		s := g.sims[k]
		switch r.intn(7) {
		case 0:
			if s.nodes[i].link {
				s.linkDown(i)
			}
		case 1:
			if !s.nodes[i].link {
				s.linkUp(i)
			}
		case 2:
			s.setCut(i, (i+1)%nodes, r.intn(2) == 0)
		case 3:
			s.step(i, PriorityChange{Priority: 0})
		case 4:
			s.step(i, PriorityChange{Priority: prios[i]})
		case 5:
			for _, s := range g.sims {
				s.step(i, Shutdown{})
			}
		case 6:
			for _, s := range g.sims {
				s.step(i, Start{})
			}
		}
	}
	for _, s := range g.sims {
		for i, n := range s.nodes {
			if !n.link {
				s.linkUp(i)
			}
			if n.m.Priority() != prios[i] {
				s.step(i, PriorityChange{Priority: prios[i]})
			}
		}
		clear(s.cut)
	}
	// A member still draining ignored the last Start: restart every
	// stopped member once the drains are over.
	g.run(now + time.Duration(DefaultDownAdverts+2)*iv)
	now += time.Duration(DefaultDownAdverts+2) * iv
	for _, s := range g.sims {
		for i, n := range s.nodes {
			if n.m.State() == Stopped {
				s.step(i, Start{})
			}
		}
	}
	settle := time.Duration(nodes+members) * time.Duration(DefaultDownAdverts+2) * iv
	g.run(now + settle)
	roles := g.roles()
	master := -1
	for k, rs := range roles {
		masters := 0
		for i, st := range rs {
			if st != roles[0][i] {
				t.Fatalf("after healing, node n%d's members are in %v and %v: roles %v", i+1, roles[0][i], st, roles)
			}
			if st == Master {
				masters++
				if master >= 0 && master != i {
					t.Fatalf("after healing, instances have masters on n%d and n%d: roles %v", master+1, i+1, roles)
				}
				master = i
			}
		}
		if masters != 1 || len(g.sims[k].holders()) != 1 {
			t.Fatalf("after healing, instance %d has %d masters, holders %v: roles %v", k, masters, g.sims[k].holders(), roles)
		}
	}
}

func FuzzSyncGroup(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 200, 100, 4, 0, 0, 0, 8, 1, 0, 1})
	f.Add([]byte{0, 1, 1, 50, 150, 250, 4, 1, 1, 3, 4, 0, 1, 4, 2, 1, 1, 5, 8, 0, 0, 6})
	f.Fuzz(func(t *testing.T, data []byte) {
		runGroup(t, data)
	})
}

// TestSyncGroupProperty runs random scenarios (fixed seeds) through the
// FuzzSyncGroup checks.
func TestSyncGroupProperty(t *testing.T) {
	randomRuns(t, 3, 300, 4, 60, func(t *testing.T, data []byte) { runGroup(t, data) })
}
