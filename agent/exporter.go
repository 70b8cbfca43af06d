package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/internal/version"
)

// newExporter returns the exporter of agent.metrics (set in cfg), without
// its socket (listenMetrics), after checking what it needs: the status
// socket it asks, and hac-metrics next to this program's own file (where
// hac apply installs it), which runs and is of this agent's build. An
// exporter that cannot serve refuses the start, before anything is
// touched, rather than an agent silently without metrics.
func newExporter(cfg *config.Config, opts Options) (*exporter, error) {
	status := (&Agent{cfg: cfg, opts: opts}).statusPath()
	if status == "" {
		return nil, errors.New("agent.metrics is set, and its exporter asks the status socket, which this agent does not serve: serve it, or remove agent.metrics")
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("agent.metrics is set, and the agent cannot find its own file to find %s next to it: %w", config.MetricsProgram, err)
	}
	p := filepath.Join(filepath.Dir(exe), config.MetricsProgram)
	if err := checkExporter(p); err != nil {
		return nil, fmt.Errorf("agent.metrics is set, but its exporter %s %w: hac apply installs the hac-metrics of the agent's build next to hac-agent "+
			"(make build writes both); install it, or remove agent.metrics", p, err)
	}
	e := &exporter{program: p, addr: cfg.Metrics, status: status}
	if opts.LogFormat != "" {
		e.args = append(e.args, "--log-format", opts.LogFormat)
	}
	if opts.LogLevel != "" {
		e.args = append(e.args, "--log-level", opts.LogLevel)
	}
	return e, nil
}

// checkExporter runs `p version` (within 10 s) and checks that it is the
// hac-metrics of this agent's build: one built for another machine, or
// an older one copied by hand, would only fail at every restart.
func checkExporter(p string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, p, "version").Output()
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		err = pe.Err // the path is said already
	}
	if err != nil {
		return fmt.Errorf("cannot run (%w)", err)
	}
	got, _, _ := strings.Cut(string(out), "\n")
	if want := version.Line(config.MetricsProgram); got != want {
		return fmt.Errorf("is another build (%q, this agent's is %q)", got, want)
	}
	return nil
}

// listenMetrics opens the TCP socket the exporter serves agent.metrics on,
// as a blocking socket the agent's own poller never watches (a scrape
// wakes only the exporter). The agent holds it for its whole run: a port
// in use refuses the start before anything is touched, and an exporter
// that is restarted serves the same socket, with no moment another
// program could take the port. An unspecified address (0.0.0.0, [::])
// takes IPv4 and IPv6 connections, as Go's own listeners do.
func listenMetrics(addr string) (*os.File, error) {
	ap, err := netip.ParseAddrPort(addr) // config.CheckListenAddress: an IP literal and a port
	if err != nil {
		return nil, fmt.Errorf("metrics: agent.metrics %q: %w", addr, err)
	}
	fd, err := listenTCP(ap)
	switch {
	case errors.Is(err, unix.EADDRNOTAVAIL):
		return nil, fmt.Errorf("metrics: cannot listen on %s (agent.metrics): %w: the node has no such address; choose one it has, 127.0.0.1 or 0.0.0.0", addr, err)
	case err != nil:
		return nil, fmt.Errorf("metrics: cannot listen on %s (agent.metrics): %w: free the port, or choose another address", addr, err)
	}
	return os.NewFile(uintptr(fd), "metrics listener "+addr), nil
}

// listenTCP returns a listening TCP socket bound to ap.
func listenTCP(ap netip.AddrPort) (int, error) {
	a, port := ap.Addr(), int(ap.Port())
	var (
		family int
		sa     unix.Sockaddr
	)
	switch {
	case a.Unmap().IsUnspecified():
		family, sa = unix.AF_INET6, &unix.SockaddrInet6{Port: port}
	case a.Is4() || a.Is4In6():
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: port, Addr: a.Unmap().As4()}
	default:
		s6 := &unix.SockaddrInet6{Port: port, Addr: a.As16()}
		if z := a.Zone(); z != "" { // a link-local address: fe80::1%eth1
			ifi, err := net.InterfaceByName(z)
			if err != nil {
				return -1, fmt.Errorf("interface %q: %w", z, err)
			}
			s6.ZoneId = uint32(ifi.Index)
		}
		family, sa = unix.AF_INET6, s6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if errors.Is(err, unix.EAFNOSUPPORT) && a.Is4() && a.IsUnspecified() { // a kernel without IPv6
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: port}
		fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	}
	if err != nil {
		return -1, err
	}
	if family == unix.AF_INET6 && a.Unmap().IsUnspecified() {
		// Both families, whatever net.ipv6.bindv6only says.
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
	}
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) // a restart binds while old connections linger
	}
	if err == nil {
		err = unix.Bind(fd, sa)
	}
	if err == nil {
		err = unix.Listen(fd, 128)
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// Restarts of an exporter that exits: after exporterBackoff, doubling up
// to exporterMaxBackoff, back to exporterBackoff once one ran for
// exporterStable.
const (
	exporterBackoff    = time.Second
	exporterMaxBackoff = time.Minute
	exporterStable     = time.Minute
)

// exporter runs hac-metrics while the agent runs: it hands it the metrics
// socket as file descriptor 3, the status socket to ask, the agent's
// process ID and log settings, restarts it when it exits, and stops it
// (SIGTERM) when the agent stops. The exporter dies with the agent even
// when the agent is killed (the parent-death signal), and shares its
// unit's sandbox; it has a process group of its own, so that a signal to
// the agent's (Ctrl-C in a terminal, a reload by group) stays the agent's.
// While none runs, connections wait in the socket's backlog.
type exporter struct {
	program string
	args    []string // the log settings
	socket  *os.File // listenMetrics
	addr    string   // agent.metrics, for the logs
	status  string   // the status socket
	log     *slog.Logger
	clock   Clock
}

// run runs the exporter until ctx ends.
func (e *exporter) run(ctx context.Context) {
	t := e.clock.NewTimer()
	defer t.Stop()
	backoff := exporterBackoff
	for {
		began := e.clock.Now()
		err := e.runOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if e.clock.Now().Sub(began) >= exporterStable {
			backoff = exporterBackoff
		}
		e.log.Error("metrics exporter stopped: agent.metrics is not served until it is restarted", "program", e.program, "err", err, "restart_in", backoff.String())
		t.Reset(backoff)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		backoff = min(2*backoff, exporterMaxBackoff)
	}
}

// runOnce starts the exporter and waits for it to exit; when ctx ends it
// sends it SIGTERM, then SIGKILL if it is still there 5 s later.
func (e *exporter) runOnce(ctx context.Context) error {
	// The parent-death signal comes when the thread that started the
	// child ends, not the process: keep this goroutine on its thread
	// until the child is gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	args := append([]string{"--listen-fd", "3", "--socket", e.status, "--agent-pid", strconv.Itoa(os.Getpid())}, e.args...)
	cmd := exec.CommandContext(ctx, e.program, args...)
	cmd.ExtraFiles = []*os.File{e.socket}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	e.log.Info("metrics exporter started", "address", e.addr, "path", "/metrics", "pid", cmd.Process.Pid)
	err := cmd.Wait()
	if err == nil {
		err = errors.New("exited")
	}
	return err
}
