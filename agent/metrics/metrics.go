// Package metrics is hac-metrics, the Prometheus exporter of a running
// hac agent (agent.metrics in agent.json): the agent runs it as a child
// process, so that the daemon itself links no HTTP server and no metrics
// library (about 40 % of its memory; docs/agent.md, Footprint). It keeps
// no counters of its own: a [Collector] asks the agent's status socket
// for its report (package status, the one home of every count, which
// hac-agent status shows too) on every scrape and turns it into metrics
// named by Prometheus' conventions: the hac_vrrp_ prefix, units in the
// names, counters ending in _total. An agent that does not answer fails
// the scrape (Prometheus' up is 0), never a partial one.
//
// Every label has a bounded set of values: the VRRP instance (label
// vrrp_instance, since Prometheus itself attaches "instance" to every
// scraped series), its state (six values), a transition reason, a drop
// reason or a check result (closed sets in packages fsm, vrrp and status),
// a tracked interface or a check named in agent.json, and the process
// (hac-agent or hac-metrics) of the process and Go collectors.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"

	"github.com/hac-project/hac/agent/fsm"
	"github.com/hac-project/hac/agent/status"
)

// Path is where the metrics are served.
const Path = "/metrics"

const inst = "vrrp_instance"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The metrics, in the order Collect sends them.
var (
	agentInfo      = desc("hac_agent_info", "The running hac agent: always 1, with its version, cluster and node.", "version", "cluster", "node")
	agentStart     = desc("hac_agent_start_time_seconds", "When the agent started, in seconds since the Unix epoch.")
	unclaimed      = desc("hac_vrrp_unclaimed_packets_total", "Received VRRP packets no instance claims (an unknown VRID), by reason.", "reason")
	instanceInfo   = desc("hac_vrrp_instance_info", "A VRRP instance of this node: always 1, with its VRID and interface.", inst, "vrid", "interface")
	state          = desc("hac_vrrp_state", "1 for the instance's current state (INIT, BACKUP, MASTER, FAULT, DRAINING, STOPPED), 0 for the others.", inst, "state")
	priority       = desc("hac_vrrp_priority", "The effective priority advertised (the configured one moved by tracking weights; 0 in fault).", inst)
	basePriority   = desc("hac_vrrp_base_priority", "The configured priority.", inst)
	vipsHeld       = desc("hac_vrrp_vips_held", "The number of VIPs this node holds for the instance right now.", inst)
	lastAdvert     = desc("hac_vrrp_last_advert_age_seconds", "Time since the last valid advert was received (absent before the first).", inst)
	transitions    = desc("hac_vrrp_transitions_total", "State transitions, by reason (init, master_down_timer, preempt, priority_zero, higher_priority, link_down, track_fault, send_failed, shutdown, ...).", inst, "reason")
	sent           = desc("hac_vrrp_adverts_sent_total", "Adverts sent (one per destination).", inst)
	received       = desc("hac_vrrp_adverts_received_total", "Valid adverts received.", inst)
	dropped        = desc("hac_vrrp_adverts_dropped_total", "Received packets discarded, by reason (ttl, auth, checksum, version, interval, source, own_address, queue_full, ...).", inst, "reason")
	masterChanges  = desc("hac_vrrp_master_changes_total", "Times the master this node sees changed to another address (the first one seen included).", inst)
	vipMismatch    = desc("hac_vrrp_vip_mismatch_total", "Adverts whose VIP list differs from ours (obeyed).", inst)
	vipRestored    = desc("hac_vrrp_vip_restored_total", "VIPs put back after something else removed them while master.", inst)
	leaseRenewals  = desc("hac_vrrp_vip_lease_renewals_total", "Renewals of the VIPs' kernel lease while master.", inst)
	sendErrors     = desc("hac_vrrp_send_errors_total", "Adverts that could not be sent (each puts the instance in FAULT until sending works again).", inst)
	trackUp        = desc("hac_vrrp_track_up", "1 while a tracked interface is up (administratively up with carrier).", inst, "interface")
	checkUp        = desc("hac_vrrp_check_up", "1 while a health check is up (after rise successes), 0 while down.", inst, "check")
	checkRuns      = desc("hac_vrrp_check_runs_total", "Health-check runs, by result (ok, failed, timeout).", inst, "check", "result")
	checkDurations = desc("hac_vrrp_check_duration_seconds", "How long health-check runs took.", inst, "check")
)

var all = []*prometheus.Desc{
	agentInfo, agentStart, unclaimed, instanceInfo, state, priority, basePriority, vipsHeld, lastAdvert,
	transitions, sent, received, dropped, masterChanges, vipMismatch, vipRestored, leaseRenewals, sendErrors,
	trackUp, checkUp, checkRuns, checkDurations,
}

// states are the label values of hac_vrrp_state.
var states = func() []string {
	var s []string
	for st := fsm.Initialize; st <= fsm.Stopped; st++ {
		s = append(s, st.String())
	}
	return s
}()

// Collector turns the agent's status report into metrics on every scrape.
type Collector struct {
	report func() (*status.Report, error)
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector that calls report on every scrape; when
// report fails, so does the scrape.
func NewCollector(report func() (*status.Report, error)) *Collector {
	return &Collector{report: report}
}

// Describe implements [prometheus.Collector].
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range all {
		ch <- d
	}
}

// Collect implements [prometheus.Collector].
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	r, err := c.report()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(agentInfo, err)
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(agentInfo, 1, r.Version, r.Cluster, r.Node)
	if !r.Started.IsZero() {
		gauge(agentStart, float64(r.Started.UnixNano())/1e9)
	}
	for reason, n := range r.Drops {
		counter(unclaimed, n, reason)
	}
	for _, in := range r.Instances {
		n := in.Name
		gauge(instanceInfo, 1, n, strconv.Itoa(int(in.VRID)), in.Interface)
		for _, s := range states {
			gauge(state, b2f(s == in.State), n, s)
		}
		gauge(priority, float64(in.Priority), n)
		gauge(basePriority, float64(in.BasePriority), n)
		gauge(vipsHeld, float64(len(in.VIPs)), n)
		if in.LastAdvertMillis >= 0 {
			gauge(lastAdvert, (time.Duration(in.LastAdvertMillis) * time.Millisecond).Seconds(), n)
		}
		k := &in.Counters
		for reason, v := range k.TransitionReasons {
			counter(transitions, v, n, reason)
		}
		counter(sent, k.AdvertsSent, n)
		counter(received, k.AdvertsReceived, n)
		for reason, v := range k.Drops {
			counter(dropped, v, n, reason)
		}
		counter(masterChanges, k.MasterChanges, n)
		counter(vipMismatch, k.VIPMismatch, n)
		counter(vipRestored, k.VIPRestored, n)
		counter(leaseRenewals, k.LeaseRenewals, n)
		counter(sendErrors, k.SendErrors, n)
		for _, t := range in.Tracks {
			gauge(trackUp, b2f(t.Up), n, t.Name)
		}
		for _, chk := range in.Checks {
			gauge(checkUp, b2f(chk.Up), n, chk.Name)
			var runs uint64
			for _, result := range []string{status.CheckOK, status.CheckFailed, status.CheckTimeout} {
				counter(checkRuns, chk.Results[result], n, chk.Name, result)
				runs += chk.Results[result]
			}
			ch <- prometheus.MustNewConstSummary(checkDurations, runs, chk.RunSeconds, nil, n, chk.Name)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Process is the label of the process and Go collectors' series: the
// agent's process metrics (memory, CPU, file descriptors) are
// process_...{process="hac-agent"}, the exporter's own
// process_...{process="hac-metrics"} and go_...{process="hac-metrics"}.
const Process = "process"

// Handler serves the collector for report, the process collector of the
// agent (process agentPID) and the Go and process collectors of the
// exporter itself; it logs to log why a scrape failed.
func Handler(report func() (*status.Report, error), agentPID int, log *slog.Logger) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(report))
	prometheus.WrapRegistererWith(prometheus.Labels{Process: "hac-agent"}, reg).MustRegister(
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{PidFn: func() (int, error) { return agentPID, nil }}))
	prometheus.WrapRegistererWith(prometheus.Labels{Process: "hac-metrics"}, reg).MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorLog: errorLog{log}, MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
}

// errorLog is promhttp's error log on a slog logger.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Println(v ...any) {
	l.log.Error("scrape failed", "err", strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

// Query returns the report of the agent whose status socket is path, as
// [Handler] asks for it: bounded by timeout, well within Prometheus'
// default scrape timeout (10 s).
func Query(path string, timeout time.Duration) func() (*status.Report, error) {
	return func() (*status.Report, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return status.Query(ctx, path)
	}
}

// MaxConns is how many connections Serve serves at once; more wait in
// the listen backlog. Each costs the exporter tens of kilobytes: without
// a bound, clients that open connections and keep them could make it
// grow until the node runs out of memory.
const MaxConns = 32

// Serve serves h at [Path] on l until ctx ends, then closes l. Requests
// are bounded: headers within 5 s, the whole exchange within 15 s, at
// most [MaxConns] connections at once, none kept open idle after its
// answer (a scraper connects again; Prometheus does so at no cost).
func Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 15 * time.Second, MaxHeaderBytes: 8 << 10}
	srv.SetKeepAlivesEnabled(false)
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	if err := srv.Serve(netutil.LimitListener(l, MaxConns)); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
