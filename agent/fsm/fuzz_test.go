package fsm

import (
	"flag"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var traceSim = flag.Bool("simtrace", false, "log every simulated step of a failing election scenario")

// byteSource reads a scenario's choices from fuzz input; once the input is
// used up every choice is 0.
type byteSource struct{ b []byte }

func (r *byteSource) next() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *byteSource) intn(n int) int { return int(r.next()) % n }

// runElection plays a scenario read from data on 2 or 3 simulated nodes:
// random priorities, intervals, preemption, partitions, link and priority
// changes, shutdowns and restarts; then it heals everything and checks the
// election properties.
func runElection(t testing.TB, data []byte) {
	r := &byteSource{b: data}
	version := 2 + r.intn(2)
	count := 2 + r.intn(2)
	var cfgs []Config
	var maxIv, maxDelay, maxLinger time.Duration
	for i := range count {
		c := nodeConfig(version, time.Second, 1+uint8(r.intn(255)), byte(1+50*i+r.intn(50)))
		if version == 3 {
			c.AdvertInt = time.Duration(1+r.intn(30)) * 10 * time.Millisecond
		}
		c.Preempt = r.intn(4) != 0
		if r.intn(4) == 0 {
			c.PreemptDelay = time.Duration(1+r.intn(8)) * c.AdvertInt
		}
		c.HandoffLinger = time.Duration(r.intn(3)) * 5 * time.Millisecond
		maxIv, maxDelay, maxLinger = max(maxIv, c.AdvertInt), max(maxDelay, c.PreemptDelay), max(maxLinger, c.HandoffLinger)
		cfgs = append(cfgs, c)
	}
	s := newSim(t, cfgs...)
	if *traceSim {
		s.trace = []string{}
		defer func() {
			if t.Failed() {
				t.Log("\n" + strings.Join(s.trace, "\n"))
			}
		}()
	}
	for i, n := range s.nodes {
		n.vipDelay = time.Duration(r.intn(3)) * time.Millisecond
		s.step(i, Start{})
	}

	now := time.Duration(0)
	for op := 0; op < 24 && len(r.b) > 0; op++ {
		now += maxIv * time.Duration(r.intn(16)) / 4
		s.run(now)
		i := r.intn(count)
		switch r.intn(8) {
		case 0:
			if s.nodes[i].link {
				s.linkDown(i)
			}
		case 1:
			if !s.nodes[i].link {
				s.linkUp(i)
			}
		case 2:
			s.setCut(i, (i+1)%count, true)
		case 3:
			s.setCut(i, (i+1)%count, false)
		case 4:
			s.step(i, PriorityChange{Priority: r.next()})
		case 5:
			s.step(i, Shutdown{})
		case 6:
			s.step(i, Start{})
		case 7:
			// Adverts cannot be sent (the source address was removed),
			// or can again.
			s.nodes[i].sendBad = !s.nodes[i].sendBad
		}
	}

	// Heal everything: from now on at most one node may keep the VIPs
	// for longer than one advert interval (plus deliveries and linger),
	// and the election must settle on exactly one master.
	for i, n := range s.nodes {
		n.sendBad = false
		if !n.link {
			s.linkUp(i)
		}
	}
	clear(s.cut)
	s.watch()
	settle := time.Duration(count)*(time.Duration(DefaultDownAdverts+1)*maxIv+maxDelay) + maxIv
	s.run(now + settle)
	if got, limit := s.longestMulti(), maxIv+2*s.delay+maxLinger; got > limit {
		t.Fatalf("after healing, several nodes held the VIPs for %v, want at most %v", got, limit)
	}
	eligible, masters := false, 0
	for _, n := range s.nodes {
		switch n.m.State() {
		case Backup:
			eligible = true
		case Master:
			eligible = true
			masters++
		}
	}
	if h := s.holders(); eligible && (masters != 1 || len(h) != 1) {
		t.Fatalf("%v after healing: %d masters, holders %v, want exactly one", settle, masters, h)
	}
}

func FuzzElection(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 200, 1, 0, 0, 0, 0, 100, 2, 0, 0, 0, 0, 4, 0, 0, 8, 0, 1})
	f.Add([]byte{0, 1, 255, 0, 1, 0, 0, 255, 0, 1, 0, 0, 100, 3, 1, 0, 0, 4, 1, 2, 4, 2, 3, 8, 1, 5})
	f.Add([]byte{1, 1, 150, 3, 9, 1, 0, 1, 150, 3, 9, 1, 0, 1, 150, 3, 9, 1, 0, 1, 2, 2, 0, 6, 1, 4, 0, 5})
	f.Fuzz(func(t *testing.T, data []byte) {
		runElection(t, data)
	})
}

// TestElectionProperty runs many random scenarios (fixed seeds, so runs
// are reproducible) through the FuzzElection checks.
func TestElectionProperty(t *testing.T) {
	randomRuns(t, 1, 400, 2, 90, func(t *testing.T, data []byte) { runElection(t, data) })
}

// randomRuns runs scenario on runs random inputs of min to min+spread-1
// bytes from a fixed seed (so runs are reproducible), and says how to
// reproduce the first failure as a fuzz seed.
func randomRuns(t *testing.T, seed uint64, runs, min, spread int, scenario func(*testing.T, []byte)) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	for run := range runs {
		data := make([]byte, min+rng.IntN(spread))
		for k := range data {
			data[k] = byte(rng.UintN(256))
		}
		if !t.Run("", func(t *testing.T) { scenario(t, data) }) {
			t.Fatalf("run %d failed; reproduce with f.Add(%#v)", run, data)
		}
	}
}
