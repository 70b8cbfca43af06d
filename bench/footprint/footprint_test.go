// Package footprint measures the idle cost of hac-agent and keepalived
// 2.2.7 in the same run, with the floor of any Go daemon beside them (the
// floor command: one goroutine per instance sending a datagram a second): both daemons master of the same instances (seed
// settings: VRRPv2, advert 1 s, PASS authentication), each alone in its
// own namespace test bed, side by side for one window; CPU time from
// /proc/PID/stat (utime+stime, clock ticks) and /proc/PID/task/*/schedstat
// (nanoseconds) over the window, RSS and PSS from /proc/PID/smaps_rollup
// at its end, every keepalived process summed. With -alone each program
// gets a window of its own, in turn, with nothing else running.
//
// It runs by hand, as root, never in CI (see run.sh):
//
//	go test -run '^$' -bench . -benchtime 3x -timeout 60m ./bench/footprint -args -window 60s
//
// Each benchmark iteration is one window; the markdown table of medians
// and hac/keepalived ratios is printed at the end.
package footprint_test

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hac-project/hac/agent/agenttest"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/internal/netns"
	"github.com/hac-project/hac/internal/testenv"
)

var (
	window = flag.Duration("window", 60*time.Second, "how long the idle masters are measured")
	sizes  = flag.String("instances", "1,100", "comma-separated instance counts to measure")
	hacBin = flag.String("hac", "", "hac-agent binary to measure (default: cmd/hac-agent built as it ships)")
	alone  = flag.Bool("alone", false, "measure each program in a window of its own, in turn, instead of all three in the same window")
)

// settle is how long both daemons run as masters before the window opens:
// keepalived's second GARP burst (garp_master_delay 5 s) and hac's are over.
const settle = 7 * time.Second

var (
	mu      sync.Mutex
	results = map[key][]sample{}
)

type key struct {
	instances int
	daemon    string
}

// sample is one daemon's cost over one window.
type sample struct {
	ticks    int64         // utime+stime clock ticks over the window
	run      time.Duration // time on a CPU (schedstat) over the window
	rss, pss int64         // kB at the window's end
	procs    int
}

func TestMain(m *testing.M) {
	code := agenttest.Main(m)
	if floorDir != "" {
		os.RemoveAll(floorDir)
	}
	printTable()
	os.Exit(code)
}

// instances returns n seed instances, VRIDs 1..n, one VIP each in
// 198.18.1.0/24 (198.18.2.0/24 beyond 255).
func instances(n int) []config.Instance {
	var ins []config.Instance
	for i := 1; i <= n; i++ {
		vip := netip.AddrFrom4([4]byte{198, 18, byte(1 + i/256), byte(i % 256)}).String()
		in := agenttest.Instance(fmt.Sprintf("VI_%d", i), uint8(i), 2, time.Second, 200, vip)
		in.Auth = &config.Auth{Type: "PASS", Pass: "pass1234"}
		in.GARP = config.GARP{Repeat: 5, Delay: config.Duration(5 * time.Second)}
		ins = append(ins, in)
	}
	return ins
}

func BenchmarkFootprint(b *testing.B) {
	testenv.NeedRoot(b)
	testenv.NeedTool(b, "keepalived")
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 255 {
			b.Fatalf("-instances: %q is not a count from 1 to 255", f)
		}
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			for b.Loop() {
				h, k, f := measure(b, n)
				mu.Lock()
				results[key{n, "hac"}] = append(results[key{n, "hac"}], h)
				results[key{n, "keepalived"}] = append(results[key{n, "keepalived"}], k)
				results[key{n, "floor"}] = append(results[key{n, "floor"}], f)
				mu.Unlock()
				b.Logf("hac: %d ticks, %v on CPU, RSS %d kB, PSS %d kB; keepalived (%d processes): %d ticks, %v, RSS %d kB, PSS %d kB; Go floor: %v, RSS %d kB",
					h.ticks, h.run, h.rss, h.pss, k.procs, k.ticks, k.run, k.rss, k.pss, f.run, f.rss)
			}
		})
	}
}

// measure starts both daemons as masters of n instances on two beds, and
// the Go floor with n senders on a third, and measures one window of each
// once every instance is master and settled: all three in the same window,
// or with -alone each in a window of its own, in turn, with nothing else
// running (side by side, the one whose timer wakes second in the same
// millisecond finds the CPU warm, and the ratio at one instance depends
// on the phase the starts gave them).
func measure(b *testing.B, n int) (hs, ks, fs sample) {
	ins := instances(n)
	ds := []*daemon{floorDaemon(b, n), hacDaemon(b, ins), keepalivedDaemon(b, ins)}
	out := []*sample{&fs, &hs, &ks}
	if *alone {
		for i, d := range ds {
			d.start()
			time.Sleep(settle)
			*out[i] = measureWindow(b, []*daemon{d})[0]
			d.stop()
		}
		return hs, ks, fs
	}
	for _, d := range ds {
		d.start()
		defer d.stop()
	}
	time.Sleep(settle)
	got := measureWindow(b, ds)
	return got[1], got[2], got[0]
}

// daemon is one measured program: start returns once it is master of
// every instance, pids are its processes, check fails the benchmark when
// they changed during the window.
type daemon struct {
	start func()
	pids  func() []int
	check func(before []int)
	stop  func()
}

// measureWindow measures the daemons over one window, together.
func measureWindow(b *testing.B, ds []*daemon) []sample {
	pids := make([][]int, len(ds))
	before := make([]sample, len(ds))
	for i, d := range ds {
		pids[i] = d.pids()
		before[i] = cpu(b, pids[i])
	}
	time.Sleep(*window)
	got := make([]sample, len(ds))
	for i, d := range ds {
		got[i] = cpu(b, pids[i]).sub(before[i])
		got[i].rss, got[i].pss = mem(b, pids[i])
		got[i].procs = len(pids[i])
		d.check(pids[i])
	}
	return got
}

// floorDaemon is the Go floor with n senders, on a bed of its own.
func floorDaemon(b *testing.B, n int) *daemon {
	bed := netns.New(b, netns.Spec{Nodes: []string{"n1"}})
	node := bed.Node("n1")
	var floor *exec.Cmd
	return &daemon{
		start: func() {
			floor = bed.Command(node.NS, floorBinary(b), "-n", strconv.Itoa(n), "-from", node.Addr.String())
			bed.Start(floor)
		},
		pids:  func() []int { return []int{floor.Process.Pid} },
		check: func([]int) {},
		stop: func() {
			bed.Signal(floor, syscall.SIGKILL)
			_ = bed.Wait(floor, 5*time.Second) // killed: its exit error says so
		},
	}
}

// hacDaemon is hac-agent, master of ins, on a bed of its own.
func hacDaemon(b *testing.B, ins []config.Instance) *daemon {
	bed := netns.New(b, netns.Spec{Nodes: []string{"n1"}})
	h := agenttest.NewHac(b, bed, bed.Node("n1"), ins...)
	h.Binary = *hacBin
	if h.Binary == "" {
		h.Binary = agenttest.ShippingBinary(b)
	}
	return &daemon{
		start: func() {
			h.Start()
			bed.Eventually(30*time.Second, "hac: not every instance is master", func() bool {
				r := h.Report()
				if r == nil || len(r.Instances) != len(ins) {
					return false
				}
				for _, in := range r.Instances {
					if in.State != "MASTER" {
						return false
					}
				}
				return true
			})
		},
		pids:  func() []int { return []int{h.PID()} },
		check: func([]int) {},
		stop:  h.Stop,
	}
}

// keepalivedDaemon is keepalived, master of ins, on a bed of its own; its
// processes are the main one and its children.
func keepalivedDaemon(b *testing.B, ins []config.Instance) *daemon {
	bed := netns.New(b, netns.Spec{Nodes: []string{"n1"}})
	k := agenttest.NewKeepalived(b, bed, bed.Node("n1"), ins...)
	return &daemon{
		start: func() {
			k.Start()
			bed.Eventually(30*time.Second, "keepalived: not every instance is master", func() bool {
				for _, in := range ins {
					if k.State(in.Name) != "MASTER" {
						return false
					}
				}
				return true
			})
		},
		pids: func() []int { return family(k.PID()) },
		check: func(before []int) {
			if got := family(k.PID()); !slices.Equal(got, before) {
				b.Fatalf("keepalived's processes changed during the window: %v, then %v", before, got)
			}
		},
		stop: k.Stop,
	}
}

// floorDir holds the floor command, built once per test process.
var floorDir string

// floorBinary builds the floor command (as hac-agent ships: static) and
// returns its path.
func floorBinary(b *testing.B) string {
	p, err := buildFloor()
	if err != nil {
		b.Fatal(err)
	}
	return p
}

var buildFloor = sync.OnceValues(func() (string, error) {
	var err error
	if floorDir, err = os.MkdirTemp("", "hac-floor-"); err != nil {
		return "", err
	}
	p := filepath.Join(floorDir, "floor")
	cmd := exec.Command("go", "build", "-o", p, "github.com/hac-project/hac/bench/footprint/floor")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build floor: %v\n%s", err, out)
	}
	return p, nil
})

// family returns pid and its descendants.
func family(pid int) []int {
	pids := []int{pid}
	for i := 0; i < len(pids); i++ {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pids[i]))
		for _, t := range tasks {
			bs, _ := os.ReadFile(t)
			for _, f := range strings.Fields(string(bs)) {
				if c, err := strconv.Atoi(f); err == nil {
					pids = append(pids, c)
				}
			}
		}
	}
	slices.Sort(pids)
	return pids
}

// cpu sums the CPU time of the processes: clock ticks from stat (which
// counts exited threads too) and nanoseconds from every thread's schedstat.
func cpu(b *testing.B, pids []int) sample {
	var s sample
	for _, pid := range pids {
		bs, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Fatal(err)
		}
		str := string(bs)
		f := strings.Fields(str[strings.LastIndexByte(str, ')')+2:])
		// Fields after the command: state(0) ... utime(11) stime(12).
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		s.ticks += u + st
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
		for _, t := range tasks {
			bs, err := os.ReadFile(t)
			if err != nil {
				continue // a thread that just exited
			}
			ns, _ := strconv.ParseInt(strings.Fields(string(bs))[0], 10, 64)
			s.run += time.Duration(ns)
		}
	}
	return s
}

func (s sample) sub(o sample) sample {
	return sample{ticks: s.ticks - o.ticks, run: s.run - o.run}
}

// mem sums Rss and Pss (kB) of the processes.
func mem(b *testing.B, pids []int) (rss, pss int64) {
	for _, pid := range pids {
		bs, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range strings.Split(string(bs), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "Rss:":
				rss += v
			case "Pss:":
				pss += v
			}
		}
	}
	return rss, pss
}

// clockTick is the length of one /proc/PID/stat tick (USER_HZ, 100 on
// Linux).
const clockTick = 10 * time.Millisecond

func median[T int64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// printTable prints the medians as a markdown table.
func printTable() {
	if len(results) == 0 {
		return
	}
	var ns []int
	for k := range results {
		if !slices.Contains(ns, k.instances) {
			ns = append(ns, k.instances)
		}
	}
	slices.Sort(ns)
	pct := func(d time.Duration) float64 { return 100 * float64(d) / float64(*window) }
	ratio := func(a, b float64) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	how := "side by side in the same window"
	if *alone {
		how = "each alone in its own window, in turn"
	}
	fmt.Printf("\nIdle masters, seed settings (VRRPv2, advert 1 s), %s, window %v, medians of the runs; CPU in %% of one core.\n\n", how, *window)
	fmt.Println("| instances | runs | hac CPU % | keepalived CPU % | CPU hac/keepalived | Go floor CPU % | CPU hac/floor | hac CPU % (stat) | keepalived CPU % (stat) | hac RSS MB | keepalived RSS MB | RSS hac/keepalived | hac PSS MB | keepalived PSS MB | PSS hac/keepalived | Go floor RSS MB |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, n := range ns {
		h, k, fl := results[key{n, "hac"}], results[key{n, "keepalived"}], results[key{n, "floor"}]
		get := func(ss []sample, f func(sample) int64) int64 {
			var xs []int64
			for _, s := range ss {
				xs = append(xs, f(s))
			}
			return median(xs)
		}
		run := func(s sample) int64 { return int64(s.run) }
		ticks := func(s sample) int64 { return s.ticks }
		rss := func(s sample) int64 { return s.rss }
		pss := func(s sample) int64 { return s.pss }
		hc, kc := pct(time.Duration(get(h, run))), pct(time.Duration(get(k, run)))
		ht, kt := pct(time.Duration(get(h, ticks))*clockTick), pct(time.Duration(get(k, ticks))*clockTick)
		mb := func(kb int64) float64 { return float64(kb) / 1024 }
		hr, kr, hpss, kpss := mb(get(h, rss)), mb(get(k, rss)), mb(get(h, pss)), mb(get(k, pss))
		fc, fr := pct(time.Duration(get(fl, run))), mb(get(fl, rss))
		fmt.Printf("| %d | %d | %.3f | %.3f | %s | %.3f | %s | %.3f | %.3f | %.1f | %.1f | %s | %.1f | %.1f | %s | %.1f |\n",
			n, len(h), hc, kc, ratio(hc, kc), fc, ratio(hc, fc), ht, kt, hr, kr, ratio(hr, kr), hpss, kpss, ratio(hpss, kpss), fr)
	}
}
