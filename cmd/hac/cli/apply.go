package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/hac-project/hac/deploy"
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
'hac agent status' reports every instance in its expected state. A node that
fails gets its previous files back and re-activated, and its cluster stops.

Before activating a changed network file it arms a dead-man timer on the
node: unless hac reconnects over a new SSH connection and confirms within
--confirm-timeout, the node restores its previous files by itself.

A second apply finds nothing to do and says so. Exit codes: 0 applied (or
nothing to do), 1 invalid configuration, 3 usage, 4 a node failed or could
not be planned.`,
		RunE: func(c *cobra.Command, args []string) error {
			if installAgent {
				var err error
				if o.Agent, err = runningAgent(); err != nil {
					return err
				}
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
				return exitCode(ExitFailed, "apply did not complete: %s", res.Summary())
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
	fs.BoolVar(&installAgent, "install-agent", false, "also install this hac binary as "+deploy.AgentBinaryPath+" and enable the agent (same architecture only)")
	return c
}

// runningAgent is this hac binary, for --install-agent.
func runningAgent() (*deploy.Agent, error) {
	if runtime.GOOS != "linux" {
		return nil, exitCode(ExitUsage, "--install-agent: this hac is built for %s; nodes run Linux: build hac with GOOS=linux", runtime.GOOS)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, exitCode(ExitUsage, "--install-agent: %v", err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		return nil, exitCode(ExitUsage, "--install-agent: %v", err)
	}
	m, ok := unameMachine[runtime.GOARCH]
	if !ok {
		return nil, exitCode(ExitUsage, "--install-agent: unknown architecture %s", runtime.GOARCH)
	}
	return &deploy.Agent{Binary: b, Machine: m}, nil
}
