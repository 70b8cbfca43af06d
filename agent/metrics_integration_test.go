package agent_test

import (
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/hac-project/hac/agent/agenttest"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/internal/netns"
)

// metric returns the value of the series of family name whose labels
// include want, and whether there is one.
func metric(mfs map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(want); i += 2 {
			match = match && labels[want[i]] == want[i+1]
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}

// TestMetricsDuringFailover: both agents serve agent.metrics; the backup
// is scraped every 100 ms while the master's link is cut and it takes
// over. Every scrape answers, no counter goes back, and the counts move
// as the failover says: n2 enters MASTER by master_down_timer, sees a new
// master (itself), starts sending adverts and renewing its lease; n1
// counts a link_down transition. The process collectors of the agent and
// of its exporter (hac-metrics) are there, and the exporter's Go
// collector.
func TestMetricsDuringFailover(t *testing.T) {
	bed := needBed(t, netns.Spec{})
	a1 := agenttest.NewHac(t, bed, bed.Node("n1"), v3pair(200)...)
	a2 := agenttest.NewHac(t, bed, bed.Node("n2"), v3pair(100)...)
	for _, a := range []*agenttest.Hac{a1, a2} {
		a.Configure(func(c *config.Config) { c.Metrics = "127.0.0.1:9650" }) // each in its own namespace
		a.Start()
	}
	agenttest.WaitState(t, a1, "VI_1", "MASTER", 10*time.Second)
	agenttest.WaitState(t, a2, "VI_1", "BACKUP", 10*time.Second)
	vi := []string{"vrrp_instance", "VI_1"}

	before, err := a2.Scrape()
	if err != nil {
		t.Fatalf("scrape n2: %v", err)
	}
	for _, m := range [][]string{
		{"process_resident_memory_bytes", "process", "hac-agent"},
		{"process_cpu_seconds_total", "process", "hac-agent"},
		{"process_open_fds", "process", "hac-agent"},
		{"process_resident_memory_bytes", "process", "hac-metrics"},
		{"go_goroutines", "process", "hac-metrics"},
	} {
		if _, ok := metric(before, m[0], m[1:]...); !ok {
			t.Errorf("n2 serves no %s%v", m[0], m[1:])
		}
	}
	// process{process="hac-agent"} is the agent's process: it started
	// when the agent says it did.
	if v, _ := metric(before, "process_start_time_seconds", "process", "hac-agent"); math.Abs(v-float64(a2.Report().Started.Unix())) > 2 {
		t.Errorf("n2 process_start_time_seconds{process=hac-agent} = %v, the agent started at %v", v, a2.Report().Started)
	}
	if v, _ := metric(before, "hac_vrrp_state", append(vi, "state", "BACKUP")...); v != 1 {
		t.Errorf("n2 hac_vrrp_state{state=BACKUP} = %v, want 1", v)
	}
	if v, _ := metric(before, "hac_vrrp_adverts_received_total", vi...); v == 0 {
		t.Error("n2 received no adverts from the master")
	}

	// Scrape n2 throughout the failover.
	counters := []string{"hac_vrrp_adverts_sent_total", "hac_vrrp_adverts_received_total", "hac_vrrp_master_changes_total", "hac_vrrp_vip_lease_renewals_total"}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var scrapes, failed int
	wg.Add(1)
	go func() {
		defer wg.Done()
		last := map[string]float64{}
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			mfs, err := a2.Scrape()
			scrapes++
			if err != nil {
				failed++
				t.Errorf("scrape n2 during the failover: %v", err)
				continue
			}
			for _, c := range counters {
				v, _ := metric(mfs, c, vi...)
				if v < last[c] {
					t.Errorf("%s went back from %v to %v", c, last[c], v)
				}
				last[c] = v
			}
		}
	}()
	p := bed.Probe(netip.MustParseAddr(vip1), 10*time.Millisecond)
	bed.CutLink(a1.Node())
	agenttest.WaitState(t, a2, "VI_1", "MASTER", 3*time.Second)
	agenttest.WaitState(t, a1, "VI_1", "FAULT", 3*time.Second)
	time.Sleep(time.Second) // n2 advertises and renews as master
	close(stop)
	wg.Wait()
	t.Logf("failover: %v; %d scrapes of n2, %d failed", p.Stop(), scrapes, failed)

	after, err := a2.Scrape()
	if err != nil {
		t.Fatalf("scrape n2: %v", err)
	}
	for _, c := range []struct {
		name   string
		labels []string
		min    float64 // the least it must have grown by
	}{
		{"hac_vrrp_transitions_total", append(vi, "reason", "master_down_timer"), 1},
		{"hac_vrrp_master_changes_total", vi, 1},
		{"hac_vrrp_adverts_sent_total", vi, 5}, // a second at 100 ms
		{"hac_vrrp_vip_lease_renewals_total", vi, 1},
	} {
		b, _ := metric(before, c.name, c.labels...)
		a, ok := metric(after, c.name, c.labels...)
		if !ok || a-b < c.min {
			t.Errorf("n2 %s%v: %v before the failover, %v after; want it to grow by at least %v", c.name, c.labels, b, a, c.min)
		}
	}
	if v, _ := metric(after, "hac_vrrp_state", append(vi, "state", "MASTER")...); v != 1 {
		t.Errorf("n2 hac_vrrp_state{state=MASTER} = %v after the failover, want 1", v)
	}
	if v, _ := metric(after, "hac_vrrp_vips_held", vi...); v != 1 {
		t.Errorf("n2 hac_vrrp_vips_held = %v after the failover, want 1", v)
	}
	m1, err := a1.Scrape()
	if err != nil {
		t.Fatalf("scrape n1: %v", err)
	}
	if v, _ := metric(m1, "hac_vrrp_transitions_total", append(vi, "reason", "link_down")...); v != 1 {
		t.Errorf("n1 hac_vrrp_transitions_total{reason=link_down} = %v, want 1", v)
	}
	if v, _ := metric(m1, "hac_vrrp_state", append(vi, "state", "FAULT")...); v != 1 {
		t.Errorf("n1 hac_vrrp_state{state=FAULT} = %v, want 1", v)
	}
	// One home for every count: the metric is the status report's counter.
	st := a2.Instance("VI_1").Counters
	if v, _ := metric(after, "hac_vrrp_transitions_total", append(vi, "reason", "master_down_timer")...); uint64(v) != st.TransitionReasons["master_down_timer"] {
		t.Errorf("metrics say %v master_down_timer transitions, status %d", v, st.TransitionReasons["master_down_timer"])
	}
}

// exporterPIDs returns the hac-metrics processes whose parent is pid.
func exporterPIDs(t *testing.T, pid int) []int {
	t.Helper()
	var pids []int
	tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, p := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(p)
			if comm, _ := os.ReadFile(filepath.Join("/proc", p, "comm")); strings.TrimSpace(string(comm)) == "hac-metrics" {
				pids = append(pids, n)
			}
		}
	}
	return pids
}

// TestMetricsExporterLifecycle: the agent runs hac-metrics as its child;
// an exporter that dies is restarted and serves the same socket again,
// and a killed agent takes its exporter with it (nothing left serving a
// stale agent's port).
func TestMetricsExporterLifecycle(t *testing.T) {
	bed := needBed(t, netns.Spec{Nodes: []string{"n1"}})
	a := agenttest.NewHac(t, bed, bed.Node("n1"), v3pair(200)...)
	a.Configure(func(c *config.Config) { c.Metrics = "127.0.0.1:9650" })
	a.Start()
	agenttest.WaitState(t, a, "VI_1", "MASTER", 10*time.Second)
	if _, err := a.Scrape(); err != nil {
		t.Fatalf("scrape: %v", err)
	}
	first := exporterPIDs(t, a.PID())
	if len(first) != 1 {
		t.Fatalf("the agent runs %d hac-metrics, want 1", len(first))
	}

	// The exporter dies: the agent restarts it (after a second).
	if err := syscall.Kill(first[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for {
		var now []int
		if now = exporterPIDs(t, a.PID()); len(now) == 1 && now[0] != first[0] {
			if _, err = a.Scrape(); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after hac-metrics was killed: exporters %v, scrape: %v; want a new one serving", now, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(a.Log(), "metrics exporter stopped") {
		t.Error("the agent did not log that its exporter stopped")
	}
	if st := a.Instance("VI_1").State; st != "MASTER" {
		t.Errorf("VI_1 is %s after the exporter's restart, want MASTER", st)
	}

	// The agent is killed: its exporter goes too.
	exp := exporterPIDs(t, a.PID())[0]
	a.Kill()
	deadline = time.Now().Add(5 * time.Second)
	for syscall.Kill(exp, 0) == nil {
		if b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(exp), "stat")); strings.Contains(string(b), ") Z ") {
			break // dead, waiting for its reaper
		}
		if time.Now().After(deadline) {
			t.Fatalf("hac-metrics (pid %d) still runs 5 s after its agent was killed", exp)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
