package cli

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

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
hac-agent (the one next to this hac, or --agent-binary), as
/usr/local/sbin/hac-agent where it is missing or differs (hac plan says
"hac-agent missing" or "hac-agent version differs"), checked against its
digest on the node and renamed into place, then restarts the agent; a
whole hac an older apply installed there as /usr/local/bin/hac is removed.
It must be a static build (make build: CGO_ENABLED=0) of the same version
as this hac, for the node's architecture (uname -m); a node of another one
is refused before anything changes. --install-agent=false leaves the
nodes' hac-agent alone.

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
	c.Flags().BoolVar(install, "install-agent", true, "install hac-agent as "+deploy.AgentBinaryPath+
		" on the nodes that run the agent, where it is missing or differs (false: leave the nodes' hac-agent alone)")
	c.Flags().StringVar(binary, "agent-binary", "", "the hac-agent to install (default: the hac-agent next to this hac; "+
		"for nodes of another architecture: make build GOARCH=...)")
}

// nodeAgent is the hac-agent plan and apply put on the nodes, when install
// is set: the file given with --agent-binary, which must be a hac-agent
// for Linux of this hac's version (else a usage error), or the hac-agent
// next to this hac. When that one is missing or unusable, the returned
// Agent carries the reason: plan and apply fail with it on the nodes that
// run the agent, and need none for those that run keepalived.
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
		return &deploy.Agent{Err: fmt.Errorf("%w: hac installs hac-agent on the nodes that run the agent: install it next to hac "+
			"(make build writes both; go install github.com/hac-project/hac/cmd/hac-agent), give one with --agent-binary, "+
			"or --install-agent=false when the nodes have it", err)}, nil
	}
	return a, nil
}

// loadAgent reads the hac-agent at path and checks that it can run on a
// Linux node: a static hac-agent for Linux, of this hac's version (the
// agent.json this hac writes is the one it reads).
func loadAgent(path string) (*deploy.Agent, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := checkStatic(b); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	v, bi, err := version.OfFile(agentcmd.Program, b)
	if err != nil {
		return nil, fmt.Errorf("%s: not a Go binary with build info: %w", path, err)
	}
	settings := map[string]string{}
	for _, kv := range bi.Settings {
		settings[kv.Key] = kv.Value
	}
	if goos := settings["GOOS"]; goos != "linux" {
		return nil, fmt.Errorf("%s is built for %s; nodes run Linux: build it with GOOS=linux", path, goos)
	}
	if want := "github.com/hac-project/hac/cmd/" + agentcmd.Program; bi.Path != want {
		return nil, fmt.Errorf("%s is not hac-agent: it is built from %s, not %s", path, bi.Path, want)
	}
	m, ok := unameMachine[settings["GOARCH"]]
	if !ok {
		return nil, fmt.Errorf("%s: unknown architecture %q", path, settings["GOARCH"])
	}
	if own := version.Line("hac"); strings.TrimPrefix(v, agentcmd.Program) != strings.TrimPrefix(own, "hac") {
		return nil, fmt.Errorf("%s is %s, this is %s: install the hac-agent of the same build next to hac (make build writes both; "+
			"a release version given with -X is read from the symbol table, or from the build settings without -trimpath)", path, v, own)
	}
	return &deploy.Agent{Binary: b, Machine: m, Version: v}, nil
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
