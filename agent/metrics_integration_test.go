package agent_test

import (
	"net/netip"
	"sync"
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
// counts a link_down transition. The Go and process collectors are there.
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
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if _, ok := metric(before, name); !ok {
			t.Errorf("n2 serves no %s", name)
		}
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
