// Package failover measures how long clients lose a VIP when mastership
// moves, for hac agent and keepalived 2.2.7 in the same run on the same
// namespace topology: a client probes the VIP every 10 ms and records the
// longest gap between replies.
//
// It runs by hand, as root, never in CI (see run.sh):
//
//	go test -run '^$' -bench . -benchtime 5x -timeout 60m ./bench/failover
//
// Each benchmark iteration is one failover; the markdown table of medians
// and hac/keepalived ratios is printed at the end.
package failover_test

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hac-project/hac/agent/agenttest"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/internal/netns"
	"github.com/hac-project/hac/internal/testenv"
)

const vip = "198.18.0.200"

var (
	mu      sync.Mutex
	results = map[key][]sample{}
)

type key struct{ scenario, proto, daemon string }

type sample struct {
	gap  time.Duration // longest probe gap
	lost int
	dual time.Duration // SIGKILL, restart: how long both nodes held the VIP (capped)
}

func TestMain(m *testing.M) {
	code := agenttest.Main(m)
	printTable()
	os.Exit(code)
}

// protocols are the two timer settings of the issue: the seed config
// (VRRPv2, 1 s, PASS) and VRRPv3 at 100 ms.
var protocols = []struct {
	name string
	mk   func(prio uint8) config.Instance
}{
	{"VRRPv2 1s", func(prio uint8) config.Instance {
		in := agenttest.Instance("VI_1", 51, 2, time.Second, prio, vip)
		in.Auth = &config.Auth{Type: "PASS", Pass: "pass1234"}
		in.GARP = config.GARP{Repeat: 5, Delay: config.Duration(5 * time.Second)}
		return in
	}},
	{"VRRPv3 100ms", func(prio uint8) config.Instance {
		in := agenttest.Instance("VI_1", 51, 3, 100*time.Millisecond, prio, vip)
		in.GARP = config.GARP{Repeat: 5, Delay: config.Duration(5 * time.Second)}
		return in
	}},
}

// scenarios: "restart" is a SIGKILL of the master and a new start 1 s
// later, as systemd does with the rendered unit (Restart=on-failure,
// RestartSec=1s).
var scenarios = []string{"link down", "SIGTERM", "SIGKILL", "restart", "takeback"}

// pair is a two-node bed running one daemon kind, n1 (priority 200)
// master.
type pair struct {
	bed    *netns.Bed
	n1, n2 agenttest.Node
	daemon string
}

func newPair(b *testing.B, daemon string, mk func(uint8) config.Instance) *pair {
	bed := netns.New(b, netns.Spec{})
	p := &pair{bed: bed, daemon: daemon}
	switch daemon {
	case "hac":
		p.n1 = agenttest.NewHac(b, bed, bed.Node("n1"), mk(200))
		p.n2 = agenttest.NewHac(b, bed, bed.Node("n2"), mk(100))
	case "keepalived":
		p.n1 = agenttest.NewKeepalived(b, bed, bed.Node("n1"), mk(200))
		p.n2 = agenttest.NewKeepalived(b, bed, bed.Node("n2"), mk(100))
	}
	p.n1.Start()
	p.n2.Start()
	p.steady(b)
	return p
}

// steady waits for n1 master, n2 backup, the VIP answering and the GARP
// bursts of the last change done.
func (p *pair) steady(b *testing.B) {
	agenttest.WaitState(b, p.n1, "VI_1", "MASTER", 15*time.Second)
	agenttest.WaitState(b, p.n2, "VI_1", "BACKUP", 15*time.Second)
	p.bed.Eventually(5*time.Second, "the VIP does not answer", func() bool {
		return p.bed.Answers(netip.MustParseAddr(vip), 200*time.Millisecond)
	})
	time.Sleep(time.Second)
}

// measure probes the VIP while event runs and until recovered holds and
// replies have resumed, and returns the result.
func (p *pair) measure(b *testing.B, event func(), recovered func() bool) sample {
	a := netip.MustParseAddr(vip)
	pr := p.bed.Probe(a, 10*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	event()
	// Poll the daemons' state gently: asking hac's status socket or
	// reading keepalived's log every 20 ms competes with the probe.
	p.bed.Eventually(20*time.Second, "no recovery", func() bool {
		time.Sleep(80 * time.Millisecond)
		return recovered()
	})
	n := pr.Replies()
	p.bed.Eventually(20*time.Second, "the VIP does not answer again", func() bool { return pr.Replies() > n })
	time.Sleep(300 * time.Millisecond)
	r := pr.Stop()
	return sample{gap: r.MaxGap, lost: r.Lost}
}

func BenchmarkFailover(b *testing.B) {
	testenv.NeedRoot(b)
	for _, proto := range protocols {
		for _, sc := range scenarios {
			for _, daemon := range []string{"hac", "keepalived"} {
				b.Run(strings.ReplaceAll(proto.name+"/"+sc+"/"+daemon, " ", "_"), func(b *testing.B) {
					p := newPair(b, daemon, proto.mk)
					for b.Loop() {
						s := p.run(b, sc)
						mu.Lock()
						results[key{sc, proto.name, daemon}] = append(results[key{sc, proto.name, daemon}], s)
						mu.Unlock()
						b.ReportMetric(float64(s.gap.Milliseconds()), "gap-ms")
						b.Logf("gap %v, lost %d, VIP on both nodes %v", s.gap.Round(time.Millisecond), s.lost, s.dual.Round(time.Millisecond))
					}
				})
			}
		}
	}
}

// holders counts the nodes holding the VIP.
func (p *pair) holders() int { return len(p.bed.Holders(netip.MustParseAddr(vip))) }

// run performs one failover of the scenario and brings the pair back to
// n1 master.
func (p *pair) run(b *testing.B, scenario string) sample {
	n2master := func() bool { return p.n2.State("VI_1") == "MASTER" }
	var s sample
	switch scenario {
	case "link down":
		s = p.measure(b, func() { p.bed.CutLink(p.n1.Node()) }, n2master)
		p.bed.Heal(p.n1.Node())
	case "SIGTERM":
		s = p.measure(b, p.n1.Stop, n2master)
		p.n1.Start()
	case "SIGKILL":
		// How long both nodes held the VIP: hac's lease ends it;
		// keepalived keeps it (capped at 5 s after the backup took over).
		dual := p.bed.WatchHolders(netip.MustParseAddr(vip))
		var tookOver time.Time
		s = p.measure(b, p.n1.Kill, func() bool {
			if n2master() {
				tookOver = time.Now()
				return true
			}
			return false
		})
		for p.holders() > 1 && time.Since(tookOver) < 5*time.Second {
			time.Sleep(20 * time.Millisecond)
		}
		s.dual = dual()
		p.n1.Start()
	case "restart":
		dual := p.bed.WatchHolders(netip.MustParseAddr(vip))
		s = p.measure(b, func() {
			p.n1.Kill()
			time.Sleep(time.Second)
			p.n1.Start()
		}, func() bool {
			return p.n1.State("VI_1") == "MASTER" && p.n2.State("VI_1") == "BACKUP" && p.holders() == 1
		})
		s.dual = dual()
	case "takeback":
		p.bed.CutLink(p.n1.Node())
		p.bed.Eventually(20*time.Second, "n2 did not take over", n2master)
		time.Sleep(time.Second)
		s = p.measure(b, func() { p.bed.Heal(p.n1.Node()) }, func() bool {
			return p.n1.State("VI_1") == "MASTER" && p.n2.State("VI_1") == "BACKUP"
		})
	}
	p.steady(b)
	return s
}

func median(xs []time.Duration) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// printTable prints the medians as a markdown table.
func printTable() {
	if len(results) == 0 {
		return
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
	fmt.Println("\n| scenario | protocol | runs | hac gap | keepalived gap | hac/keepalived | hac lost | keepalived lost | VIP on both nodes after SIGKILL, longest (hac / keepalived, cap 5 s) |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, proto := range protocols {
		for _, sc := range scenarios {
			h, k := results[key{sc, proto.name, "hac"}], results[key{sc, proto.name, "keepalived"}]
			if len(h) == 0 && len(k) == 0 {
				continue
			}
			get := func(ss []sample, f func(sample) time.Duration) time.Duration {
				var ds []time.Duration
				for _, s := range ss {
					ds = append(ds, f(s))
				}
				return median(ds)
			}
			gap := func(s sample) time.Duration { return s.gap }
			lost := func(s sample) time.Duration { return time.Duration(s.lost) }
			dual := func(s sample) time.Duration { return s.dual }
			hg, kg := get(h, gap), get(k, gap)
			ratio := "-"
			if kg > 0 {
				ratio = fmt.Sprintf("%.2f", float64(hg)/float64(kg))
			}
			both := ""
			if sc == "SIGKILL" || sc == "restart" {
				both = ms(get(h, dual)) + " / " + ms(get(k, dual))
			}
			fmt.Printf("| %s | %s | %d/%d | %s | %s | %s | %d | %d | %s |\n", sc, proto.name, len(h), len(k),
				ms(hg), ms(kg), ratio, int(get(h, lost)), int(get(k, lost)), both)
		}
	}
}
