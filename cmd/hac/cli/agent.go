package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hac-project/hac/agent"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/status"
)

func newAgentCmd() *cobra.Command {
	var (
		cfgPath, logFormat, logLevel, socket string
	)
	c := &cobra.Command{
		Use:   "agent [--config /etc/hac/agent.json]",
		Short: "Run the VRRP agent of this node (keepalived-compatible)",
		Long: `agent runs the VRRP instances of this node from the agent.json hac build
wrote (default /etc/hac/agent.json), until SIGTERM or SIGINT. It logs to
stderr. It needs root (CAP_NET_ADMIN and CAP_NET_RAW).

On SIGTERM every master hands off make-before-break: it sends priority 0
and keeps its VIPs until the new master is heard, so clients lose nothing.
A second SIGTERM cuts the handoff short. VIPs carry a kernel-enforced lease
renewed while master: if the agent is killed, they expire by themselves.

Subcommands talk to the running agent over its status socket (root only).`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runAgent(c.ErrOrStderr(), cfgPath, logFormat, logLevel, socket)
		},
	}
	c.Flags().StringVar(&cfgPath, "config", config.DefaultPath, "agent configuration written by hac build")
	c.Flags().StringVar(&logFormat, "log-format", "text", "log format on stderr: text or json")
	c.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	c.Flags().StringVar(&socket, "status-socket", "", "status socket path (default: the config's status_socket; - for none)")
	c.AddCommand(newAgentStatusCmd(), newAgentHandoffCmd(), newAgentTakeoverCmd())
	return c
}

func runAgent(stderr io.Writer, cfgPath, logFormat, logLevel, socket string) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return exitCode(ExitUsage, "unknown --log-level %q: use debug, info, warn or error", logLevel)
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch logFormat {
	case "text":
		h = slog.NewTextHandler(stderr, hopts)
	case "json":
		h = slog.NewJSONHandler(stderr, hopts)
	default:
		return exitCode(ExitUsage, "unknown --log-format %q: use text or json", logFormat)
	}
	log := slog.New(h)
	cfg, raw, err := config.Load(cfgPath)
	if err != nil {
		return exitCode(ExitInvalid, "%v", err)
	}
	_, err = os.Stat(agent.TakeoverFile)
	takeover := err == nil
	if takeover {
		log.Warn("starting taking over (hac apply is moving mastership here): priority 254 until hac agent takeover --release", "file", agent.TakeoverFile)
	}
	a, err := agent.New(cfg, agent.Options{
		Logger:       log,
		Version:      version(),
		ConfigDigest: config.Digest(raw),
		StatusSocket: socket,
		Takeover:     takeover,
	})
	if err != nil {
		var p *config.Problem
		if errors.As(err, &p) {
			return exitCode(ExitInvalid, "%s: %v", cfgPath, err)
		}
		return exitCode(ExitFailed, "%v", err)
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
		return exitCode(ExitFailed, "%v", err)
	}
	return nil
}

// agentSocket finds the status socket: --socket, else the config's
// status_socket when the config is readable, else the default.
func agentSocket(socket, cfgPath string) string {
	if socket != "" {
		return socket
	}
	if cfg, _, err := config.Load(cfgPath); err == nil && cfg.StatusSocket != "" {
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
				return exitCode(ExitUsage, "unknown --format %q: use text or json", format)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := status.Query(ctx, agentSocket(socket, cfgPath))
			if err != nil {
				return exitCode(ExitFailed, "%v", err)
			}
			if format == "json" {
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			return r.WriteText(c.OutOrStdout())
		},
	}
	c.Flags().StringVar(&socket, "socket", "", "status socket (default: from --config, else "+config.DefaultStatusSocket+")")
	c.Flags().StringVar(&cfgPath, "config", config.DefaultPath, "agent configuration to read status_socket from")
	c.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return c
}

func newAgentHandoffCmd() *cobra.Command {
	var socket, cfgPath, instance string
	var release bool
	c := &cobra.Command{
		Use:   "handoff [--socket P] [--instance NAME] [--release]",
		Short: "Hand mastership off gracefully, without stopping the agent",
		Long: `handoff asks the running agent to hand off every instance it is master of
(or only --instance): priority 0 is sent, the VIPs stay until the new
master is heard, then the instance rejoins as a backup with priority 1 so it
does not take mastership back. --release restores the configured priority
(so a preempting instance takes mastership back). Restarting the agent
restores it too.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done, err := status.Handoff(ctx, agentSocket(socket, cfgPath), instance, release)
			if err != nil {
				return exitCode(ExitFailed, "%v", err)
			}
			what := "handing off"
			if release {
				what = "priority restored"
			}
			if len(done) == 0 {
				_, err = fmt.Fprintln(c.OutOrStdout(), "nothing to do: no instance is master (or handed off, with --release)")
				return err
			}
			_, err = fmt.Fprintf(c.OutOrStdout(), "%s: %s\n", what, strings.Join(done, ", "))
			return err
		},
	}
	c.Flags().StringVar(&socket, "socket", "", "status socket (default: from --config, else "+config.DefaultStatusSocket+")")
	c.Flags().StringVar(&cfgPath, "config", config.DefaultPath, "agent configuration to read status_socket from")
	c.Flags().StringVar(&instance, "instance", "", "hand off only this instance")
	c.Flags().BoolVar(&release, "release", false, "restore the configured priority after a handoff")
	return c
}

func newAgentTakeoverCmd() *cobra.Command {
	var socket, cfgPath, instance string
	var release bool
	c := &cobra.Command{
		Use:   "takeover [--socket P] [--instance NAME] [--release]",
		Short: "Take mastership with no loss: run at priority 254 until released",
		Long: `takeover asks the running agent to run every instance (or only --instance)
at priority 254, the highest a node that does not own the VIP may have:
with preemption on, it becomes master within one Master_Down_Interval, and
the old master (a hac agent or keepalived) yields when it hears the higher
priority, after this node holds the VIPs, so no packet is lost. It ends a
handoff. --release restores the configured priority (so a preferred
master preempts again). Restarting the agent restores it too. hac apply
uses it to move mastership off a keepalived node before converting it.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done, err := status.Takeover(ctx, agentSocket(socket, cfgPath), instance, release)
			if err != nil {
				return exitCode(ExitFailed, "%v", err)
			}
			what := "taking over"
			if release {
				what = "priority restored"
			}
			if len(done) == 0 {
				_, err = fmt.Fprintln(c.OutOrStdout(), "nothing to do: already taking over (or not, with --release)")
				return err
			}
			_, err = fmt.Fprintf(c.OutOrStdout(), "%s: %s\n", what, strings.Join(done, ", "))
			return err
		},
	}
	c.Flags().StringVar(&socket, "socket", "", "status socket (default: from --config, else "+config.DefaultStatusSocket+")")
	c.Flags().StringVar(&cfgPath, "config", config.DefaultPath, "agent configuration to read status_socket from")
	c.Flags().StringVar(&instance, "instance", "", "take over only this instance")
	c.Flags().BoolVar(&release, "release", false, "restore the configured priority after a takeover")
	return c
}
