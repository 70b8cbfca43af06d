package cli

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/cmd/internal/agentcmd"
	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/deploy"
	"github.com/hac-project/hac/internal/version"
)

// unameMachine maps GOARCH to what `uname -m` prints on Linux.
var unameMachine = map[string]string{
	"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "arm": "armv7l",
	"riscv64": "riscv64", "ppc64le": "ppc64le", "s390x": "s390x", "loong64": "loongarch64",
}

func newApplyCmd() *cobra.Command {
	var (
		f            deployFlags
		o            deploy.Options
		installAgent bool
		agentBinary  string
	)
	c := &cobra.Command{
		Use:   "apply PATH... | apply [--from OUT] CLUSTER...",
		Short: "Ship the built files to the nodes over SSH, rolling, and verify",
		Long: `Apply does what hac plan shows, then does it: per cluster, one node at a time
in rolling order (nodes that should be backup first, the preferred master
last), clusters in parallel (--parallel).

On each node it stages every changed file as a hidden temporary file in the
same directory, flushes it, checks its digest, keeps the current file in
/var/lib/hac/prev and renames the new one over it (an interrupted apply never
leaves a half-written file). It then runs the activation commands of the
changed files only (deduplicated, in manifest order) and waits until
'hac-agent status' reports every instance in its expected state. A node that
fails gets its previous files back and re-activated, and its cluster stops.

Before activating a changed network file it arms a dead-man timer on the
node: unless hac reconnects over a new SSH connection and confirms within
--confirm-timeout, the node restores its previous files by itself.

On nodes that run the agent, apply also installs the agent's binary,
hac-agent, and the Prometheus exporter it runs for agent.metrics,
hac-metrics (the pair next to this hac, or the hac-agent given with
--agent-binary and the hac-metrics next to it), as /usr/local/sbin/hac-agent
and /usr/local/sbin/hac-metrics where they are missing or differ (hac plan
says "hac-agent missing", "hac-metrics version differs", ...), checked
against their digests on the node and renamed into place, then restarts
the agent; a whole hac an older apply installed there as /usr/local/bin/hac
is removed. They must be static builds (make build: CGO_ENABLED=0) of the
same version as this hac, for the node's architecture (uname -m); a node
of another one is refused before anything changes. --install-agent=false
leaves the nodes' hac-agent and hac-metrics alone.

With ssh.become: "sudo", every command runs through "sudo -n"; a node where
sudo wants a password is refused before anything changes on its cluster.

A second apply finds nothing to do and says so. Exit codes: 0 applied (or
nothing to do), 1 invalid configuration, 3 usage, 4 a node failed or could
not be planned.`,
		RunE: func(c *cobra.Command, args []string) error {
			var err error
			if o.Agent, err = nodeAgent(c, installAgent, agentBinary); err != nil {
				return err
			}
			t, d, err := f.prepare(c.ErrOrStderr(), args, o, true)
			if err != nil {
				return err
			}
			ctx, cancel := interruptible()
			defer cancel()
			p := d.Plan(ctx, t)
			defer p.Close()
			out := c.OutOrStdout()
			if f.format == "text" && (p.Changed() || p.Err() != nil) {
				if err := p.WriteText(out, useColor(out)); err != nil {
					return err
				}
				fmt.Fprintln(out)
			}
			if d.Progress != nil {
				// A fresh block below the plan: a live display redraws
				// its lines in place and must not climb into the plan.
				d.Progress = deploy.NewProgress(c.ErrOrStderr(), isTerminal(c.ErrOrStderr()))
			}
			res := d.Apply(ctx, p)
			if f.format == "json" {
				err = json.NewEncoder(out).Encode(struct {
					Plan    *deploy.Plan   `json:"plan"`
					Result  *deploy.Result `json:"result"`
					OK      bool           `json:"ok"`
					Summary string         `json:"summary"`
				}{p, res, res.OK(), res.Summary()})
			} else {
				err = res.WriteTable(out)
			}
			if err != nil {
				return err
			}
			if !res.OK() {
				return exitcode.New(exitcode.Failed, "apply did not complete: %s", res.Summary())
			}
			return nil
		},
	}
	f.register(c)
	fs := c.Flags()
	fs.IntVar(&o.Parallel, "parallel", 4, "clusters applied at once (the nodes of one cluster never are)")
	fs.DurationVar(&o.ConfirmTimeout, "confirm-timeout", 60*time.Second, "dead-man timer: a node restores its files unless hac confirms a network change within this")
	fs.DurationVar(&o.VerifyTimeout, "verify-timeout", 30*time.Second, "how long the agent may take to reach the expected state")
	fs.BoolVar(&o.DryRun, "dry-run", false, "plan and report, change nothing")
	fs.BoolVar(&o.NoActivate, "no-activate", false, "write the files but run no activation command and verify nothing")
	agentFlags(c, &installAgent, &agentBinary)
	return c
}

// agentFlags registers --install-agent and --agent-binary, which plan
// and apply share.
func agentFlags(c *cobra.Command, install *bool, binary *string) {
	c.Flags().BoolVar(install, "install-agent", true, "install hac-agent as "+deploy.AgentBinaryPath+" and the exporter it runs, "+
		config.MetricsProgram+", as "+deploy.MetricsBinaryPath+" on the nodes that run the agent, where they are missing or differ "+
		"(false: leave the nodes' hac-agent and hac-metrics alone)")
	c.Flags().StringVar(binary, "agent-binary", "", "the hac-agent to install, with the hac-metrics next to it (default: the hac-agent "+
		"and hac-metrics next to this hac; for nodes of another architecture: make build GOARCH=...)")
}

// nodeAgent is the agent plan and apply put on the nodes, when install
// is set: the hac-agent given with --agent-binary and the hac-metrics
// next to it, which must be for Linux of this hac's version (else a
// usage error), or the hac-agent and hac-metrics next to this hac. When
// those are missing or unusable, the returned Agent carries the reason:
// plan and apply fail with it on the nodes that run the agent, and need
// none for those that run keepalived.
func nodeAgent(c *cobra.Command, install bool, path string) (*deploy.Agent, error) {
	if !install {
		return nil, nil
	}
	if c.Flags().Changed("agent-binary") {
		a, err := loadAgent(path)
		if err != nil {
			return nil, exitcode.New(exitcode.Usage, "--agent-binary: %v", err)
		}
		return a, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return &deploy.Agent{Err: fmt.Errorf("hac-agent: cannot find this hac's own file: %w; give the hac-agent to install with --agent-binary", err)}, nil
	}
	a, err := loadAgent(filepath.Join(filepath.Dir(exe), agentcmd.Program))
	if err != nil {
		return &deploy.Agent{Err: fmt.Errorf("%w: hac installs hac-agent and hac-metrics on the nodes that run the agent: install them next to hac "+
			"(make build writes hac, hac-agent and hac-metrics; go install github.com/hac-project/hac/cmd/hac-agent github.com/hac-project/hac/cmd/hac-metrics), "+
			"give the hac-agent with --agent-binary (the hac-metrics next to it goes with it), "+
			"or --install-agent=false when the nodes have them", err)}, nil
	}
	return a, nil
}

// loadAgent reads the hac-agent at path and the hac-metrics next to it,
// or next to its target when path is a link and has none beside it (the
// agent runs hac-metrics from the folder of its own binary, where hac
// apply installs both), and checks that they can run on a Linux node
// ([loadProgram]) and on the same machines.
func loadAgent(path string) (*deploy.Agent, error) {
	agent, v, m, err := loadProgram(agentcmd.Program, path)
	if err != nil {
		return nil, err
	}
	mpath := filepath.Join(filepath.Dir(path), config.MetricsProgram)
	if _, err := os.Stat(mpath); errors.Is(err, fs.ErrNotExist) {
		// A hac-agent given by a link: the hac-metrics next to its target.
		if real, err := filepath.EvalSymlinks(path); err == nil {
			if p := filepath.Join(filepath.Dir(real), config.MetricsProgram); p != mpath {
				if _, err := os.Stat(p); err == nil {
					mpath = p
				}
			}
		}
	}
	metrics, mv, mm, err := loadProgram(config.MetricsProgram, mpath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: the agent runs hac-metrics (its Prometheus exporter) from its own folder, where hac installs both: "+
			"put the hac-metrics of the same build next to %s (make build writes hac, hac-agent and hac-metrics)", err, path)
	}
	if err != nil {
		return nil, err
	}
	if mm != m {
		return nil, fmt.Errorf("%s is built for %s, %s for %s: the agent runs both on one node: build them for the nodes' "+
			"architecture together (make build GOARCH=...)", path, m, mpath, mm)
	}
	return &deploy.Agent{Binary: agent, Version: v, Metrics: metrics, MetricsVersion: mv, Machine: m}, nil
}

// loadProgram reads the binary of program (hac-agent, hac-metrics) at
// path and checks that it can run on a Linux node: static, for Linux,
// built from cmd/<program>, of this hac's version (the agent.json this
// hac writes is the one it reads). It returns the binary, the version
// line it prints and `uname -m` of the machines it runs on.
func loadProgram(program, path string) (bin []byte, versionLine, machine string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", "", err
	}
	if err := checkStatic(b); err != nil {
		return nil, "", "", fmt.Errorf("%s: %w", path, err)
	}
	v, bi, err := version.OfFile(program, b)
	if err != nil {
		return nil, "", "", fmt.Errorf("%s: not a Go binary with build info: %w", path, err)
	}
	settings := map[string]string{}
	for _, kv := range bi.Settings {
		settings[kv.Key] = kv.Value
	}
	if goos := settings["GOOS"]; goos != "linux" {
		return nil, "", "", fmt.Errorf("%s is built for %s; nodes run Linux: build it with GOOS=linux", path, goos)
	}
	if want := "github.com/hac-project/hac/cmd/" + program; bi.Path != want {
		return nil, "", "", fmt.Errorf("%s is not %s: it is built from %s, not %s", path, program, bi.Path, want)
	}
	m, ok := unameMachine[settings["GOARCH"]]
	if !ok {
		return nil, "", "", fmt.Errorf("%s: unknown architecture %q", path, settings["GOARCH"])
	}
	if own := version.Line("hac"); strings.TrimPrefix(v, program) != strings.TrimPrefix(own, "hac") {
		return nil, "", "", fmt.Errorf("%s is %s, this is %s: install the %s of the same build next to hac (make build writes hac, hac-agent "+
			"and hac-metrics; a release version given with -X is read from the symbol table, or from the build settings without -trimpath)", path, v, own, program)
	}
	return b, v, m, nil
}

// checkStatic refuses a binary that needs a dynamic loader: one built
// with cgo needs the C library it was linked against (glibc 2.34 for a
// build on Debian 12), which older nodes lack.
func checkStatic(b []byte) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("not an ELF binary: %w", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked (built with cgo): it may not start on a node with another C library: build it with make build (CGO_ENABLED=0)")
		}
	}
	return nil
}
