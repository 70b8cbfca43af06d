package agent_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hac-project/hac/agent/agenttest"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/internal/netns"
	"github.com/hac-project/hac/internal/testenv"
)

// scrapeAt GETs /metrics from addr inside the node's namespace and
// returns the HTTP status.
func scrapeAt(n *netns.Node, addr string) (int, error) {
	var conn net.Conn
	err := netns.Do(n.NS, func() error {
		var err error
		conn, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET /metrics HTTP/1.0\r\nHost: hac\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// until polls cond every 50 ms until it holds, failing the test with what
// after 10 s (a bound for a broken agent, not a timing).
func until(t *testing.T, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(what())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMetricsIPv6: agent.metrics on an IPv6 address (hac vet accepts
// "[::1]:9650" and "[::]:9650"; the first hac-metrics agent panicked on
// them) serves; an unspecified address, IPv4 or IPv6, takes both
// families, as the agent's own Go listener did before hac-metrics.
func TestMetricsIPv6(t *testing.T) {
	for _, c := range []struct {
		metrics string
		reach   []string
	}{
		{"[::1]:9650", []string{"[::1]:9650"}},
		{"[::]:9650", []string{"127.0.0.1:9650", "[::1]:9650"}},
		{"0.0.0.0:9650", []string{"127.0.0.1:9650", "[::1]:9650"}},
	} {
		t.Run(c.metrics, func(t *testing.T) {
			bed := needBed(t, netns.Spec{Nodes: []string{"n1"}})
			a := agenttest.NewHac(t, bed, bed.Node("n1"), v3pair(200)...)
			a.Configure(func(cf *config.Config) { cf.Metrics = c.metrics })
			a.Start()
			agenttest.WaitState(t, a, "VI_1", "MASTER", 10*time.Second)
			for _, to := range c.reach {
				if code, err := scrapeAt(a.Node(), to); err != nil || code != http.StatusOK {
					t.Errorf("agent.metrics %s: GET http://%s/metrics: %d %v", c.metrics, to, code, err)
				}
			}
		})
	}
}

// startOwn starts hac-agent with agent.metrics on 127.0.0.1:9650 and
// args, in a process group of its own as a shell's job, its output in
// out; it returns the command once a scrape answers.
func startOwn(t *testing.T, bed *netns.Bed, n *netns.Node, advert time.Duration, out *testenv.Buffer, args ...string) (*config.Config, *exec.Cmd) {
	t.Helper()
	dir := t.TempDir()
	c := &config.Config{Format: config.FormatVersion, Cluster: "test", Node: "n1", StatusSocket: filepath.Join(dir, "agent.sock"), Metrics: "127.0.0.1:9650",
		Instances: []config.Instance{agenttest.Instance("VI_1", 51, 3, advert, 200, vip1)}}
	path := filepath.Join(dir, "agent.json")
	agenttest.WriteConfig(t, path, c)
	agenttest.MetricsBinary(t)
	cmd := bed.Command(n.NS, agenttest.AgentBinary(t), append([]string{"--config", path}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	bed.Start(cmd)
	until(t, func() string { return "no scrape answers 10 s after the start:\n" + out.String() }, func() bool {
		code, _ := scrapeAt(n, c.Metrics)
		return code == http.StatusOK
	})
	return c, cmd
}

// TestMetricsExporterOutsideTheAgentsSignals: a signal to the agent's
// process group (Ctrl-C in a terminal, kill -HUP -PGID) is the agent's:
// its exporter keeps serving through the reload and through the graceful
// stop's handoff, and is never restarted. It used to die with them.
func TestMetricsExporterOutsideTheAgentsSignals(t *testing.T) {
	bed := needBed(t, netns.Spec{Nodes: []string{"n1"}})
	n := bed.Node("n1")
	var out testenv.Buffer
	c, cmd := startOwn(t, bed, n, time.Second, &out) // a stop hands off for seconds
	until(t, func() string { return "VI_1 is not master:\n" + out.String() }, func() bool {
		return strings.Contains(out.String(), "to=MASTER")
	})
	group := -cmd.Process.Pid
	for _, s := range []struct {
		sig  syscall.Signal
		logs string // what the agent logs once it acted on sig
	}{
		{syscall.SIGHUP, "msg=reloaded"},
		{syscall.SIGINT, "stopping: masters hand off"}, // the exporter serves during the handoff
	} {
		if err := syscall.Kill(group, s.sig); err != nil {
			t.Fatal(err)
		}
		until(t, func() string { return fmt.Sprintf("no %q after %v to the group:\n%s", s.logs, s.sig, out.String()) }, func() bool {
			return strings.Contains(out.String(), s.logs)
		})
		if code, err := scrapeAt(n, c.Metrics); code != http.StatusOK {
			t.Errorf("scrape after %v to the agent's process group: %d %v", s.sig, code, err)
		}
	}
	if err := bed.Wait(cmd, 15*time.Second); err != nil {
		t.Errorf("agent after SIGINT: %v", err)
	}
	if s := out.String(); strings.Contains(s, "metrics exporter stopped") || strings.Count(s, "metrics exporter started") != 1 {
		t.Errorf("the exporter stopped or restarted on a signal meant for the agent:\n%s", s)
	}
}

// TestMetricsExporterLogsLikeTheAgent: --log-format json and --log-level
// warn hold for the exporter's lines too: every line of the agent's
// stderr is JSON, none below warn.
func TestMetricsExporterLogsLikeTheAgent(t *testing.T) {
	bed := needBed(t, netns.Spec{Nodes: []string{"n1"}})
	n := bed.Node("n1")
	var out testenv.Buffer
	_, cmd := startOwn(t, bed, n, 100*time.Millisecond, &out, "--log-format", "json", "--log-level", "warn")
	bed.Signal(cmd, syscall.SIGTERM)
	if err := bed.Wait(cmd, 15*time.Second); err != nil {
		t.Errorf("agent after SIGTERM: %v", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if l == "" { // nothing at warn and above
			continue
		}
		var rec struct{ Level string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("with --log-format json, a line that is not JSON: %q", l)
		} else if rec.Level == "INFO" || rec.Level == "DEBUG" {
			t.Errorf("with --log-level warn, an %s line: %q", rec.Level, l)
		}
	}
}
