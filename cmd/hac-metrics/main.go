// Command hac-metrics is the Prometheus exporter of a hac agent: the
// hac agent runs it as a child process while agent.metrics is set in
// agent.json, hands it the listening socket it opened itself (so that a
// port in use refuses the agent's start) and stops it when it stops. It
// serves GET /metrics, asking the agent's status socket for its report
// on every scrape (package agent/metrics). hac apply installs it next to
// hac-agent. See docs/agent.md, Metrics.
//
// Usage:
//
//	hac-metrics --listen-fd N [--socket PATH] [--agent-pid PID] [--log-format text|json] [--log-level LEVEL]
//	hac-metrics version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/metrics"
	"github.com/hac-project/hac/internal/journal"
	"github.com/hac-project/hac/internal/version"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// queryTimeout bounds one status query: well within Prometheus' default
// scrape timeout (10 s).
const queryTimeout = 5 * time.Second

// run runs the command and returns its exit status: 0, 1 when serving
// fails, 2 for a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && args[0] == "version" {
		fmt.Fprintln(stdout, version.Line(config.MetricsProgram))
		return 0
	}
	fs := flag.NewFlagSet(config.MetricsProgram, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fd := fs.Int("listen-fd", 0, "serve on the listening TCP socket inherited as this file descriptor (how the agent starts it)")
	socket := fs.String("socket", config.DefaultStatusSocket, "the agent's status socket")
	pid := fs.Int("agent-pid", 0, "the agent's process, whose memory, CPU and file descriptors process_...{process=\"hac-agent\"} show (default: the parent process)")
	logFormat := fs.String("log-format", "text", "log format on stderr: text or json (the agent passes its own)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error (the agent passes its own)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "%s: %s\n", config.MetricsProgram, fmt.Sprintf(format, a...))
		fs.Usage()
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return usage("unexpected argument %q", fs.Arg(0))
	case *fd <= 0:
		return usage("--listen-fd is missing: the hac agent runs hac-metrics with the socket it listens on; set agent.metrics in agent.json instead")
	}
	if *pid <= 0 {
		*pid = os.Getppid()
	}
	log, err := journal.Logger(stderr, *logFormat, *logLevel)
	if err != nil {
		return usage("%v", err)
	}
	// A SIGHUP to the agent's process group or unit (systemctl kill -s
	// HUP) is the agent's reload, nothing to the exporter.
	signal.Ignore(syscall.SIGHUP)
	runtime.GOMAXPROCS(1) // a scrape every few seconds at most: one thread is plenty
	l, err := listener(*fd)
	if err != nil {
		log.Error("cannot serve metrics", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.Info("serving metrics", "address", l.Addr().String(), "path", metrics.Path, "socket", *socket, "agent_pid", *pid)
	if err := metrics.Serve(ctx, l, metrics.Handler(metrics.Query(*socket, queryTimeout), *pid, log)); err != nil {
		log.Error("metrics listener stopped", "err", err)
		return 1
	}
	return 0
}

// listener returns the inherited listening socket fd.
func listener(fd int) (net.Listener, error) {
	f := os.NewFile(uintptr(fd), "metrics listener")
	defer f.Close() // FileListener dups it
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("--listen-fd %d is not a listening socket: %w", fd, err)
	}
	if _, ok := l.(*net.TCPListener); !ok {
		l.Close()
		return nil, errors.New("--listen-fd: not a TCP socket")
	}
	return l, nil
}
