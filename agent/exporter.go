package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hac-project/hac/agent/config"
)

// newExporter returns the exporter of agent.metrics (set in cfg), without
// its socket (listenMetrics), after checking what it needs: the status
// socket it asks, and hac-metrics, opts.MetricsProgram or the one next to
// this program's own file, where hac apply installs it, an executable
// file. A missing exporter refuses the start, before anything is touched,
// rather than an agent silently without metrics.
func newExporter(cfg *config.Config, opts Options) (*exporter, error) {
	status := (&Agent{cfg: cfg, opts: opts}).statusPath()
	if status == "" {
		return nil, errors.New("agent.metrics is set, and its exporter asks the status socket, which this agent does not serve: serve it, or remove agent.metrics")
	}
	p := opts.MetricsProgram
	if p == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("agent.metrics is set, and the agent cannot find its own file to find %s next to it: %w", config.MetricsProgram, err)
		}
		p = filepath.Join(filepath.Dir(exe), config.MetricsProgram)
	}
	fi, err := os.Stat(p)
	if err == nil && (!fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0) {
		err = errors.New("not an executable file")
	}
	if err != nil {
		return nil, fmt.Errorf("agent.metrics is set, but its exporter %s cannot run (%w): hac apply installs it next to hac-agent "+
			"(make build writes it next to hac); install it, or remove agent.metrics", p, err)
	}
	return &exporter{program: p, addr: cfg.Metrics, status: status}, nil
}

// listenMetrics opens the TCP socket the exporter serves agent.metrics on,
// as a blocking socket the agent's own poller never watches (a scrape
// wakes only the exporter). The agent holds it for its whole run: a port
// in use refuses the start before anything is touched, and an exporter
// that is restarted serves the same socket, with no moment another
// program could take the port.
func listenMetrics(addr string) (*os.File, error) {
	ap, err := netip.ParseAddrPort(addr) // config.CheckListenAddress: an IP literal and a port
	if err != nil {
		return nil, fmt.Errorf("metrics: agent.metrics %q: %w", addr, err)
	}
	a := ap.Addr()
	var (
		family = unix.AF_INET
		sa     unix.Sockaddr
	)
	if a.Is4() || a.Is4In6() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
	} else {
		family = unix.AF_INET6
		s6 := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
		if z := a.Zone(); z != "" { // a link-local address: fe80::1%eth1
			ifi, err := net.InterfaceByName(z)
			if err != nil {
				return nil, fmt.Errorf("metrics: cannot listen on %s (agent.metrics): interface %q: %w", addr, z, err)
			}
			s6.ZoneId = uint32(ifi.Index)
		}
		sa = s6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) // a restart binds while old connections linger
		if err == nil && family == unix.AF_INET6 && a.IsUnspecified() {
			// [::] takes IPv4 connections too, whatever net.ipv6.bindv6only says.
			err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
		}
		if err == nil {
			err = unix.Bind(fd, sa)
		}
		if err == nil {
			err = unix.Listen(fd, 128)
		}
		if err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("metrics: cannot listen on %s (agent.metrics): %w: free the port, or choose another address", addr, err)
	}
	return os.NewFile(uintptr(fd), "metrics listener "+addr), nil
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
// socket as file descriptor 3, the status socket to ask and the agent's
// process ID, restarts it when it exits, and stops it (SIGTERM) when the
// agent stops. The exporter dies with the agent even when the agent is
// killed (the parent-death signal), and shares its unit's sandbox.
type exporter struct {
	program string
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
	cmd := exec.CommandContext(ctx, e.program, "--listen-fd", "3", "--socket", e.status, "--agent-pid", strconv.Itoa(os.Getpid()))
	cmd.ExtraFiles = []*os.File{e.socket}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	e.log.Info("metrics ready", "address", e.addr, "path", "/metrics", "exporter_pid", cmd.Process.Pid)
	err := cmd.Wait()
	if err == nil {
		err = errors.New("exited")
	}
	return err
}
