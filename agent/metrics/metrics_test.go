package metrics_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
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
func report() (*status.Report, error) {
	return &status.Report{
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
	}, nil
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

// listen opens a loopback listener for Serve.
func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestServe scrapes Handler through Serve on a loopback listener: the
// agent's metrics, the process collectors of the agent (this process,
// here) and of the exporter, the exporter's Go collector, only GET
// /metrics, and no connection kept open after its answer.
func TestServe(t *testing.T) {
	l := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- metrics.Serve(ctx, l, metrics.Handler(report, os.Getpid(), slog.Default())) }()
	url := "http://" + l.Addr().String()
	resp, err := http.Get(url + metrics.Path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !resp.Close {
		t.Error("the answer keeps the connection open: idle connections would pile up in the exporter")
	}
	for _, want := range []string{
		`hac_vrrp_state{state="MASTER",vrrp_instance="VI_1"} 1`,
		`hac_vrrp_adverts_sent_total{vrrp_instance="VI_1"} 100`,
		`go_goroutines{process="hac-metrics"} `,
		`process_resident_memory_bytes{process="hac-agent"} `,
		`process_resident_memory_bytes{process="hac-metrics"} `,
		`process_open_fds{process="hac-agent"} `,
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

// TestScrapeFailsWithoutTheAgent: when the agent does not answer, the
// scrape fails as a whole (Prometheus' up is 0) and says why, in the
// answer and in the exporter's log; it never serves a partial set.
func TestScrapeFailsWithoutTheAgent(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	socket := filepath.Join(t.TempDir(), "agent.sock") // no agent there
	srv := httptest.NewServer(metrics.Handler(metrics.Query(socket, time.Second), os.Getpid(), log))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), socket) || strings.Contains(string(body), "hac_vrrp_") {
		t.Errorf("scrape without the agent = %s:\n%s\nwant 500 naming the status socket and no hac_vrrp_ series", resp.Status, body)
	}
	if !strings.Contains(logs.String(), "scrape failed") || !strings.Contains(logs.String(), socket) {
		t.Errorf("the exporter logged %q, want the failed scrape and the socket", logs.String())
	}
}
