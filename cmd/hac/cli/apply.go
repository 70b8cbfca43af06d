package cli

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
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

On nodes that run the agent, apply also installs this hac binary as
/usr/local/bin/hac where it is missing or differs (hac plan says "hac
missing" or "hac version differs"), checked against its digest on the node
and renamed into place, then restarts the agent. It must be a static build
(make build: CGO_ENABLED=0) for the node's architecture (uname -m); a node
of another one is refused before anything changes. --install-agent=false
leaves the nodes' hac alone.

With ssh.become: "sudo", every command runs through "sudo -n"; a node where
sudo wants a password is refused before anything changes on its cluster.

A second apply finds nothing to do and says so. Exit codes: 0 applied (or
nothing to do), 1 invalid configuration, 3 usage, 4 a node failed or could
not be planned.`,
		RunE: func(c *cobra.Command, args []string) error {
			var err error
			if o.Agent, err = nodeAgent(c, installAgent); err != nil {
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
	agentFlag(c, &installAgent)
	return c
}

// agentFlag registers --install-agent, which plan and apply share.
func agentFlag(c *cobra.Command, install *bool) {
	c.Flags().BoolVar(install, "install-agent", true, "install this hac binary as "+deploy.AgentBinaryPath+
		" on the nodes that run the agent, where it is missing or differs (false: leave the nodes' hac alone)")
}

// nodeAgent is the binary plan and apply put on the nodes: this one, when
// install is set. When this binary cannot run on a node (not Linux, or
// linked with the C library) it is an error if --install-agent was given,
// else a warning and nil: the nodes' hac is then not checked.
func nodeAgent(c *cobra.Command, install bool) (*deploy.Agent, error) {
	if !install {
		return nil, nil
	}
	a, err := runningAgent()
	if err != nil && !c.Flags().Changed("install-agent") {
		fmt.Fprintf(c.ErrOrStderr(), "hac: warning: %v; the nodes' hac binaries are not checked (--install-agent=false silences this)\n", err)
		return nil, nil
	}
	return a, err
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
	if err := checkStatic(b); err != nil {
		return nil, exitCode(ExitUsage, "--install-agent: %s: %v", exe, err)
	}
	m, ok := unameMachine[runtime.GOARCH]
	if !ok {
		return nil, exitCode(ExitUsage, "--install-agent: unknown architecture %s", runtime.GOARCH)
	}
	return &deploy.Agent{Binary: b, Machine: m, Version: buildVersion()}, nil
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
			return errors.New("this hac is dynamically linked (built with cgo) and may not start on a node with another C library: build it with make build (CGO_ENABLED=0)")
		}
	}
	return nil
}
