package metrics_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"

	"github.com/hac-project/hac/agent/metrics"
	"github.com/hac-project/hac/agent/status"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// report is a node with a master and a faulted instance, a check and a
// tracked interface, every counter set.
func report() status.Report {
	return status.Report{
		Cluster: "web", Node: "web1", ConfigDigest: "sha256:secret-derived", Version: "v1.2.3",
		Started: time.Unix(1700000000, 500_000_000),
		Drops:   map[string]uint64{"vrid": 3},
		Instances: []status.Instance{{
			Name: "VI_1", VRID: 51, Interface: "eth1", State: "MASTER", Priority: 180, BasePriority: 200,
			Master: netip.MustParseAddr("198.18.0.11"), LastAdvertMillis: 1500,
			VIPs: []netip.Prefix{netip.MustParsePrefix("198.18.0.200/32")},
			Counters: status.Counters{
				AdvertsSent: 100, AdvertsReceived: 7, Drops: map[string]uint64{"ttl": 2, "queue_full": 1},
				VIPMismatch: 1, Transitions: 3, TransitionReasons: map[string]uint64{"init": 1, "master_down_timer": 1, "higher_priority": 1},
				VIPRestored: 2, SendErrors: 4, MasterChanges: 2, LeaseRenewals: 40,
			},
			Tracks: []status.Item{{Name: "eth2", Up: false, Weight: -20}},
			Checks: []status.Item{{Name: "nginx", Up: true, Weight: 10, Results: map[string]uint64{"ok": 9, "timeout": 1}, RunSeconds: 2.5}},
		}, {
			Name: "VI_2", VRID: 52, Interface: "eth1", State: "FAULT", Priority: 100, BasePriority: 100,
			LastAdvertMillis: -1, VIPs: []netip.Prefix{},
			Counters: status.Counters{Transitions: 1, TransitionReasons: map[string]uint64{"link_down": 1}},
		}},
	}
}

// TestCollect compares the exposition of a fixed report with
// testdata/report.prom, and checks that no metric carries the config
// digest (a digest of a file holding the auth pass).
func TestCollect(t *testing.T) {
	c := metrics.NewCollector(report)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	golden := filepath.Join("testdata", "report.prom")
	if *update {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		for _, mf := range mfs {
			if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(reg, bytes.NewReader(want)); err != nil {
		t.Error(err)
	}
	if strings.Contains(string(want), "sha256") {
		t.Error("a metric shows the config digest")
	}
}

// TestLint: the metrics follow Prometheus' naming conventions (promlint:
// units in names, counters ending in _total, help on every metric).
func TestLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(metrics.NewCollector(report))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]promlint.Problem(nil), problems); diff != "" {
		t.Errorf("lint problems (-want +got):\n%s", diff)
	}
}

// TestServe scrapes Handler through Serve on a loopback listener: the
// agent's metrics, the Go and process collectors, and only GET /metrics.
func TestServe(t *testing.T) {
	l, err := metrics.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- metrics.Serve(ctx, l, metrics.Handler(report)) }()
	url := "http://" + l.Addr().String()
	resp, err := http.Get(url + metrics.Path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`hac_vrrp_state{state="MASTER",vrrp_instance="VI_1"} 1`,
		`hac_vrrp_adverts_sent_total{vrrp_instance="VI_1"} 100`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if resp, err := http.Get(url + "/"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET / = %v, %v; want 404", resp.Status, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve = %v after ctx ended", err)
	}
	if _, err := http.Get(url + metrics.Path); err == nil {
		t.Error("the listener still answers after Serve returned")
	}
}

// TestListenInUse: a port in use is an error naming the setting.
func TestListenInUse(t *testing.T) {
	l, err := metrics.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = metrics.Listen(l.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "(agent.metrics)") || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("second Listen = %v; want address in use, naming agent.metrics", err)
	}
}
