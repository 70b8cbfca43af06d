// Package agentcmd is the command line of the VRRP agent: running it
// (the daemon) and talking to it over its status socket (status, handoff,
// takeover, reload). One command tree, mounted twice: as the hac-agent
// binary, which hac apply installs on the nodes (the agent alone, without
// the compiler: a third of hac's memory), and as hac agent in the full hac.
package agentcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hac-project/hac/agent"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/election"
	"github.com/hac-project/hac/internal/journal"
	"github.com/hac-project/hac/internal/version"
)

// Program is the name of the agent's own binary, the one hac apply
// installs on the nodes; its version line starts with it.
const Program = "hac-agent"

// New returns the agent's command tree under the name use: "hac-agent"
// for the root of the agent's binary, "agent" below hac.
func New(use string) *cobra.Command {
	var (
		cfgPath, logFormat, logLevel, socket string
	)
	c := &cobra.Command{
		Use:   use + " [--config /etc/hac/agent.json]",
		Short: "Run the VRRP agent of this node (keepalived-compatible)",
		Long: use + ` runs the VRRP instances of this node from the agent.json hac build
wrote (default /etc/hac/agent.json), until SIGTERM or SIGINT. It logs to
stderr. It needs root (CAP_NET_ADMIN and CAP_NET_RAW).

On SIGTERM every master hands off make-before-break: it sends priority 0
and keeps its VIPs until the new master is heard, so clients lose nothing.
A second SIGTERM cuts the handoff short. VIPs carry a kernel-enforced lease
renewed while master: if the agent is killed, they expire by themselves.

Under systemd (the unit hac build writes) it notifies readiness, a status
line and the watchdog, and its log lines carry journald priorities. With
metrics in agent.json it runs hac-metrics (next to its own file) as its
child, which serves Prometheus metrics at /metrics on the socket the agent
opened; without hac-metrics there, it refuses to start.

On SIGHUP (systemctl reload, hac-agent reload) it re-reads --config without
a gap: unchanged instances keep running untouched, the others are changed
in place or handed off and restarted (docs/agent.md says which field does
what); an invalid file is refused with one log line and the running
configuration stays.

Subcommands talk to the running agent over its status socket (root only).
hac-agent is the binary hac apply installs on the nodes; hac agent runs
the same commands from the full hac.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runAgent(c.ErrOrStderr(), cfgPath, logFormat, logLevel, socket)
		},
	}
	c.Flags().StringVar(&cfgPath, "config", config.DefaultPath, "agent configuration written by hac build")
	c.Flags().StringVar(&logFormat, "log-format", "text", "log format on stderr: text or json")
	c.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	c.Flags().StringVar(&socket, "status-socket", "", "status socket path (default: the config's status_socket; - for none)")
	c.AddCommand(newAgentStatusCmd(), newAgentHandoffCmd(), newAgentTakeoverCmd(), newAgentReloadCmd())
	return c
}

func runAgent(stderr io.Writer, cfgPath, logFormat, logLevel, socket string) error {
	log, err := journal.Logger(stderr, logFormat, logLevel)
	if err != nil {
		return exitcode.New(exitcode.Usage, "%v", err)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		// One thread runs Go code at a time: the agent's work is a few
		// microseconds per advert, and with more, every wake-up (a
		// timer, a packet) also wakes an idle thread to look for work:
		// 20-30 % of the idle CPU (bench/footprint). A flood of garbage
		// is still read and dropped without a flap (TestGarbageFlood).
		runtime.GOMAXPROCS(1)
	}
	// SIGHUP is a reload: caught from here on, so that it never kills
	// the agent (Go's default for SIGHUP).
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	defer signal.Stop(hups)
	cfg, raw, err := config.Load(cfgPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return exitcode.New(exitcode.Usage, "%v: give the agent.json hac build wrote with --config", err)
	case errors.Is(err, fs.ErrPermission):
		return exitcode.New(exitcode.Failed, "%v", agent.ExplainPermission(err))
	case err != nil:
		return exitcode.New(exitcode.Invalid, "%v", err)
	}
	warnReadableSecret(log, cfgPath, cfg)
	_, err = os.Stat(agent.TakeoverFile)
	takeover := err == nil
	if takeover {
		log.Warn("starting taking over (hac apply is moving mastership here): priority 254 until hac-agent takeover --release", "file", agent.TakeoverFile)
	}
	a, err := agent.New(cfg, agent.Options{
		Logger:       log,
		Version:      version.Module(),
		ConfigDigest: config.Digest(raw),
		StatusSocket: socket,
		Takeover:     takeover,
		ConfigPath:   cfgPath,
		LogFormat:    logFormat,
		LogLevel:     logLevel,
	})
	if err != nil {
		var p *config.Problem
		if errors.As(err, &p) {
			return exitcode.New(exitcode.Invalid, "%s: %v", cfgPath, err)
		}
		return exitcode.New(exitcode.Failed, "%v", agent.ExplainPermission(err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done) // ends the signal goroutine when the agent returns
	go func() {
		for n := 1; ; n++ {
			var s os.Signal
			select {
			case s = <-sigs:
			case <-hups:
				n--
				log.Info("signal: reload", "signal", "hangup", "config", cfgPath)
				go a.Reload() // logs what it did, or why it refused
				continue
			case <-done:
				return
			}
			if n == 1 {
				log.Info("signal: graceful stop", "signal", s.String())
				cancel()
				continue
			}
			log.Warn("second signal: ending handoffs now", "signal", s.String())
			a.Abort()
		}
	}()
	if err := a.Run(ctx); err != nil {
		return exitcode.New(exitcode.Failed, "%v", agent.ExplainPermission(err))
	}
	return nil
}

// readConfig returns the agent.json at path, or nil when it cannot be
// read or is invalid: the clients then use the defaults (and a reload
// of an invalid file is refused by the agent at once).
func readConfig(path string) *config.Config {
	cfg, _, err := config.Load(path)
	if err != nil {
		return nil
	}
	return cfg
}

// agentSocket finds the status socket: --socket, else the status_socket
// of cfg (nil: unreadable), else the default.
func agentSocket(socket string, cfg *config.Config) string {
	if socket != "" {
		return socket
	}
	if cfg != nil && cfg.StatusSocket != "" {
		return cfg.StatusSocket
	}
	return config.DefaultStatusSocket
}

func newAgentStatusCmd() *cobra.Command {
	var socket, cfgPath, format string
	c := &cobra.Command{
		Use:   "status [--socket P] [--format text|json]",
		Short: "Show the running agent's instances, states and counters",
		Long: `status asks the running agent for each instance's state, priority,
current master, last advert age, VIPs held and counters, and the digest of
the configuration it runs. --format json prints the report for scripts.
Exit status: 0 ok, 3 usage, 4 the agent did not answer.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if format != "text" && format != "json" {
				return exitcode.New(exitcode.Usage, "unknown --format %q: use text or json", format)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := status.Query(ctx, agentSocket(socket, readConfig(cfgPath)))
			if err != nil {
				return agentError(err)
			}
			if format == "json" {
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			return r.WriteText(c.OutOrStdout())
		},
	}
	socketFlags(c, &socket)
	c.Flags().StringVar(&cfgPath, "config", config.DefaultPath, "agent configuration to read status_socket from")
	c.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return c
}

// move is one of the two requests that move mastership without stopping
// the agent (handoff, takeover), with what the command says about it.
type move struct {
	use, short, long string
	// call sends the request for instance ("" for all) to the socket.
	call func(ctx context.Context, socket, instance string, release bool) ([]string, error)
	// doing names what the request started; nothing says that no
	// instance needed it; only, release: the help of those flags.
	doing, nothing, only, release string
}

// newMoveCmd builds the command of a mastership move.
func newMoveCmd(m move) *cobra.Command {
	var socket, cfgPath, instance string
	var release bool
	c := &cobra.Command{
		Use:   m.use + " [--socket P] [--instance NAME] [--release]",
		Short: m.short,
		Long: m.long + `
Exit status: 0 done (or nothing to do), 3 usage (--instance names an
instance the agent does not run: the message names those it runs), 4 the
agent did not answer.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done, err := m.call(ctx, agentSocket(socket, readConfig(cfgPath)), instance, release)
			if err != nil {
				return agentError(err)
			}
			what := m.doing
			if release {
				what = "priority restored"
			}
			if len(done) == 0 {
				_, err = fmt.Fprintln(c.OutOrStdout(), m.nothing)
				return err
			}
			_, err = fmt.Fprintf(c.OutOrStdout(), "%s: %s\n", what, strings.Join(done, ", "))
			return err
		},
	}
	socketFlags(c, &socket)
	c.Flags().StringVar(&cfgPath, "config", config.DefaultPath, "agent configuration to read status_socket from")
	c.Flags().StringVar(&instance, "instance", "", m.only)
	c.Flags().BoolVar(&release, "release", false, m.release)
	return c
}

func newAgentHandoffCmd() *cobra.Command {
	return newMoveCmd(move{
		use:   "handoff",
		short: "Hand mastership off gracefully, without stopping the agent",
		long: `handoff asks the running agent to hand off every instance it is master of
(or only --instance, with the other members of its sync group, which move
together): priority 0 is sent, the VIPs stay until the new
master is heard, then the instance rejoins as a backup with priority 1 so it
does not take mastership back. --release restores the configured priority
(so a preempting instance takes mastership back). Restarting the agent
restores it too.`,
		call:    status.Handoff,
		doing:   "handing off",
		nothing: "nothing to do: no instance is master (or handed off, with --release)",
		only:    "hand off only this instance",
		release: "restore the configured priority after a handoff",
	})
}

func newAgentTakeoverCmd() *cobra.Command {
	return newMoveCmd(move{
		use:   "takeover",
		short: "Take mastership with no loss: run at priority 254 until released",
		long: `takeover asks the running agent to run every instance (or only --instance,
with the other members of its sync group, which move together) at
priority 254, the highest a node that does not own the VIP may have:
with preemption on, it becomes master within one Master_Down_Interval, and
the old master (a hac agent or keepalived) yields when it hears the higher
priority, after this node holds the VIPs, so no packet is lost. It ends a
handoff. --release restores the configured priority (so a preferred
master preempts again). Restarting the agent restores it too. hac apply
uses it to move mastership off a keepalived node before converting it.`,
		call:    status.Takeover,
		doing:   "taking over",
		nothing: "nothing to do: already taking over (or not, with --release)",
		only:    "take over only this instance",
		release: "restore the configured priority after a takeover",
	})
}

func newAgentReloadCmd() *cobra.Command {
	var socket, cfgPath string
	c := &cobra.Command{
		Use:   "reload [--socket P] [--config F]",
		Short: "Make the running agent re-read its configuration without a gap",
		Long: `reload asks the running agent to re-read its configuration file (the one
it was started with) and run it without a gap, as SIGHUP and systemctl
reload hac-agent do: unchanged instances keep their state, VIPs and timers;
priority, preemption, VIPs, GARP, tracking, checks and notify change in
place; a change of VRID, interface, version, VIP family, advert interval,
auth, source or unicast peers hands the instance off and starts it again; removed
instances hand off, added ones start. It prints what it did per instance.
An invalid file is refused before anything changes: the problems are
printed, the running configuration stays.
Exit status: 0 reloaded, 5 refused only because a restart applies some
of its settings (systemctl restart hac-agent runs it), 4 refused otherwise
or the agent did not answer.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg := readConfig(cfgPath)
			sock := agentSocket(socket, cfg)
			wait, err := reloadWait(sock, cfg)
			if err != nil {
				return agentError(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			done, err := status.Reload(ctx, sock)
			for _, d := range done {
				fmt.Fprintln(c.OutOrStdout(), d)
			}
			if err != nil {
				return agentError(err)
			}
			return nil
		},
	}
	socketFlags(c, &socket)
	c.Flags().StringVar(&cfgPath, "config", config.DefaultPath, "agent configuration to read status_socket from")
	return c
}

// reloadWait is how long hac-agent reload waits for the agent's answer:
// the longest a reload takes (election.StopTime, for the handoffs of
// changed and removed instances) over the advert intervals of the
// instances the agent runs (its report) and of those in the file it
// re-reads (cfg; nil: unreadable), and at least 30 s.
func reloadWait(socket string, cfg *config.Config) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := status.Query(ctx, socket)
	if err != nil {
		return 0, err
	}
	var longest time.Duration
	for _, in := range r.Instances {
		longest = max(longest, time.Duration(in.AdvertMillis)*time.Millisecond)
	}
	if cfg != nil {
		for _, in := range cfg.Instances {
			longest = max(longest, time.Duration(in.AdvertInt))
		}
	}
	return max(30*time.Second, election.StopTime(longest)), nil
}

// agentError is the exit for an error of the agent's socket: a request
// naming an instance the agent does not run is a usage error (3), a
// reload refused only for settings a restart applies is 5, the rest (no
// agent, another refused reload) failed (4).
func agentError(err error) error {
	if re, ok := errors.AsType[*status.RequestError](err); ok {
		switch re.Code {
		case status.CodeUnknownInstance:
			return exitcode.New(exitcode.Usage, "%v", err)
		case status.CodeRestartOnly:
			return exitcode.New(exitcode.Restart, "%v", err)
		}
	}
	return exitcode.New(exitcode.Failed, "%v", err)
}

// socketFlags adds --socket to a client of the agent's socket, and
// --status-socket, the name hac agent itself takes, for the same thing.
func socketFlags(c *cobra.Command, socket *string) {
	c.Flags().StringVar(socket, "socket", "", "status socket (default: from --config, else "+config.DefaultStatusSocket+")")
	c.Flags().StringVar(socket, "status-socket", "", "the same as --socket (the name hac agent takes)")
	c.MarkFlagsMutuallyExclusive("socket", "status-socket")
}

// warnReadableSecret logs a warning when agent.json holds an auth pass and
// users other than its owner may read it (a hand copy made with the
// default umask: hac apply writes it 0600). It warns rather than refuses:
// the file is the node's business, and refusing would stop VRRP.
func warnReadableSecret(log *slog.Logger, path string, cfg *config.Config) {
	secret := slices.ContainsFunc(cfg.Instances, func(in config.Instance) bool { return in.Auth != nil && in.Auth.Pass != "" })
	fi, err := os.Stat(path)
	if !secret || err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	log.Warn("agent.json holds the auth pass and other users can read it: chmod 600 it", "config", path, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
}
