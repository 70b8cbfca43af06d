package metrics_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hac-project/hac/agent/metrics"
)

// dashboard is the Grafana dashboard shipped in docs/.
const dashboard = "../../docs/grafana/hac-agent.json"

// exposed scrapes Handler for the fixed report (which sets every metric)
// and returns each series name with its label names; a summary's _sum
// and _count, a histogram's _bucket, count as names of their own.
func exposed(t *testing.T) map[string][]string {
	t.Helper()
	srv := httptest.NewServer(metrics.Handler(report, os.Getpid(), slog.Default()))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string][]string{}
	for name, mf := range mfs {
		var labels []string
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(labels, l.GetName()) {
					labels = append(labels, l.GetName())
				}
			}
		}
		switch mf.GetType() {
		case dto.MetricType_SUMMARY:
			names[name], names[name+"_sum"], names[name+"_count"] = labels, labels, labels
		case dto.MetricType_HISTOGRAM:
			names[name+"_sum"], names[name+"_count"], names[name+"_bucket"] = labels, labels, append(labels, "le")
		default:
			names[name] = labels
		}
	}
	return names
}

// queries returns every PromQL text of the dashboard: panel targets'
// expr and the template variables' queries.
func queries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", dashboard, err)
	}
	var qs []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "definition") {
					qs = append(qs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(v)
	return qs
}

var (
	metricRef = regexp.MustCompile(`\b((?:hac|go|process)_[a-z0-9_]+)\s*(\{[^}]*\})?`)
	matcher   = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	grouping  = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)|label_values\([^,]+,\s*([a-zA-Z_]+)\)`)
)

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = []string{"job", "instance"}

// TestDashboard: every metric the dashboard queries is one the agent
// serves, and every label it selects or groups by is one of that
// metric's labels (or a target label Prometheus adds).
func TestDashboard(t *testing.T) {
	names := exposed(t)
	qs := queries(t)
	if len(qs) < 10 {
		t.Fatalf("found only %d queries in %s", len(qs), dashboard)
	}
	used := 0
	for _, q := range qs {
		var labels []string
		for _, m := range metricRef.FindAllStringSubmatch(q, -1) {
			have, ok := names[m[1]]
			if !ok {
				t.Errorf("query %q: the agent serves no metric %s", q, m[1])
				continue
			}
			used++
			labels = append(labels, have...)
			for _, l := range matcher.FindAllStringSubmatch(m[2], -1) {
				if !slices.Contains(have, l[1]) && !slices.Contains(targetLabels, l[1]) {
					t.Errorf("query %q: %s has no label %s (it has %v)", q, m[1], l[1], have)
				}
			}
		}
		for _, g := range grouping.FindAllStringSubmatch(q, -1) {
			for _, l := range strings.Split(g[1]+","+g[2], ",") {
				if l = strings.TrimSpace(l); l != "" && !slices.Contains(labels, l) && !slices.Contains(targetLabels, l) {
					t.Errorf("query %q: groups by %s, a label of none of its metrics", q, l)
				}
			}
		}
	}
	if used == 0 {
		t.Error("the dashboard names no metric")
	}
}
