package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/compiler"
	"github.com/hac-project/hac/compiler/discover"
	"github.com/hac-project/hac/deploy"
	"github.com/hac-project/hac/deploy/sshconn"
	"github.com/hac-project/hac/targets/build"
)

// deployFlags are the flags plan, apply and status share: where the
// files come from and how to reach the nodes.
type deployFlags struct {
	sshFlags
	from          string
	clusters      []string
	root          string
	format        string
	statusCommand string
	allowV2       bool
}

func (f *deployFlags) register(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVar(&f.from, "from", "", "use the tree hac build wrote in `DIR` instead of compiling PATH")
	fs.StringArrayVar(&f.clusters, "cluster", nil, "only this cluster (repeatable)")
	f.sshFlags.register(c)
	fs.StringVar(&f.root, "root", "", "prefix every remote path with `DIR` ({cluster} and {node} are replaced; activation commands see it as $HAC_ROOT)")
	fs.StringVar(&f.format, "format", "text", "output format: text or json")
	fs.BoolVar(&f.allowV2, "allow-v2-interval-change", false, "accept a new advert_int for a VRRPv2 instance (both nodes are briefly master during the rolling apply)")
	fs.StringVar(&f.statusCommand, "agent-status-command", deploy.DefaultStatusCommand, "command printing the agent's status as JSON on a node ({cluster} and {node} are replaced)")
}

// sshFlags say how to reach nodes over SSH (plan, apply, status, import).
type sshFlags struct {
	sshConfig      string
	knownHosts     string
	acceptNew      bool
	identities     []string
	connectTimeout time.Duration
	retries        int
}

func (f *sshFlags) register(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVarP(&f.sshConfig, "ssh-config", "F", "", "ssh client config `FILE` (default ~/.ssh/config; \"none\" for none)")
	fs.StringVar(&f.knownHosts, "known-hosts", "", "known_hosts `FILE` (default ~/.ssh/known_hosts)")
	fs.BoolVar(&f.acceptNew, "accept-new", false, "trust the key of a host not in known_hosts yet and record it (a changed key is always refused)")
	fs.StringArrayVarP(&f.identities, "identity", "i", nil, "private key `FILE` to try after ssh-agent (repeatable)")
	fs.DurationVar(&f.connectTimeout, "connect-timeout", 10*time.Second, "bound on each SSH connection attempt")
	fs.IntVar(&f.retries, "retries", 2, "retries of a failed connection, with backoff")
}

// tree loads the deployment: compiled and built in memory from PATHs, or
// read from --from (then the arguments name clusters).
func (f *deployFlags) tree(stderr io.Writer, args []string) (*deploy.Tree, error) {
	if f.format != "text" && f.format != "json" {
		return nil, exitcode.New(exitcode.Usage, "--format %q: use text or json", f.format)
	}
	var t *deploy.Tree
	var err error
	if f.from == "" && len(args) > 0 && !anyPath(args) {
		// hac status ncp-lb: cluster names, from hac build's default folder.
		if _, err := os.Stat(defaultOut); err != nil {
			return nil, exitcode.New(exitcode.Usage, "%s: no such file or folder, and no %s/ to find a cluster of that name in: give the cluster descriptions, or --from OUT", args[0], defaultOut)
		}
		f.from = defaultOut
	}
	if f.from != "" {
		if t, err = deploy.LoadTree(f.from); err != nil {
			return nil, exitcode.New(exitcode.Invalid, "%v", err)
		}
		f.clusters = append(f.clusters, args...)
	} else {
		if len(args) == 0 {
			return nil, exitcode.New(exitcode.Usage, "give the cluster descriptions (PATH...) or a built tree (--from out)")
		}
		res, err := compiler.Compile(args, compiler.Options{Secrets: true})
		if err != nil {
			return nil, exitcode.New(exitcode.Usage, "%v", err)
		}
		if err := res.Diags.WriteText(stderr); err != nil {
			return nil, err
		}
		if res.Diags.HasErrors() {
			return nil, exitcode.New(exitcode.Invalid, "invalid configuration: nothing was sent to the nodes")
		}
		trees, err := build.Build(res.Clusters)
		if err != nil {
			return nil, exitcode.New(exitcode.Invalid, "%v", err)
		}
		if t, err = deploy.FromBuild(trees); err != nil {
			return nil, exitcode.New(exitcode.Invalid, "%v", err)
		}
	}
	if t, err = t.Select(f.clusters); err != nil {
		return nil, exitcode.New(exitcode.Usage, "%v", err)
	}
	return t, nil
}

// defaultOut is where hac plan, apply and status look for a built tree
// when their arguments are cluster names rather than paths.
const defaultOut = "out"

// anyPath reports whether an argument names files (discover.IsPath):
// then the arguments are cluster descriptions, else cluster names.
func anyPath(args []string) bool {
	return slices.ContainsFunc(args, discover.IsPath)
}

// dialer opens SSH connections as the flags say; notices go to stderr.
func (f *sshFlags) dialer(stderr io.Writer) (*sshconn.Dialer, error) {
	o := sshconn.Options{
		ConfigFile:    f.sshConfig,
		AcceptNew:     f.acceptNew,
		IdentityFiles: f.identities,
		Timeout:       f.connectTimeout,
		Retries:       f.retries,
		Logf:          func(format string, args ...any) { fmt.Fprintf(stderr, "hac: "+format+"\n", args...) },
	}
	if f.knownHosts != "" {
		o.KnownHosts = []string{f.knownHosts}
	}
	d, err := sshconn.NewDialer(o)
	if err != nil {
		return nil, exitcode.New(exitcode.Failed, "%v", err)
	}
	return d, nil
}

// deployer builds the Deployer for the flags, with progress on stderr
// when it is a terminal (or always, with plain lines, when plain is set).
func (f *deployFlags) deployer(stderr io.Writer, o deploy.Options, plain bool) (*deploy.Deployer, error) {
	d, err := f.dialer(stderr)
	if err != nil {
		return nil, err
	}
	o.Root = f.root
	o.StatusCommand = f.statusCommand
	o.AllowV2IntervalChange = f.allowV2
	if live := isTerminal(stderr); live || plain {
		o.Progress = deploy.NewProgress(stderr, live)
	}
	return deploy.New(d, o), nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// useColor says whether to colour output to w: a terminal, and NO_COLOR unset.
func useColor(w io.Writer) bool {
	return isTerminal(w) && os.Getenv("NO_COLOR") == ""
}

// prepare reads the tree the arguments name and builds the deployer with
// options o (plain as in deployer).
func (f *deployFlags) prepare(stderr io.Writer, args []string, o deploy.Options, plain bool) (*deploy.Tree, *deploy.Deployer, error) {
	t, err := f.tree(stderr, args)
	if err != nil {
		return nil, nil, err
	}
	d, err := f.deployer(stderr, o, plain)
	if err != nil {
		return nil, nil, err
	}
	return t, d, nil
}

// interruptible returns a context cancelled by Ctrl-C.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt)
}

func newPlanCmd() *cobra.Command {
	var (
		f            deployFlags
		installAgent bool
		agentBinary  string
	)
	c := &cobra.Command{
		Use:   "plan PATH... | plan [--from OUT] CLUSTER...",
		Short: "Show what hac apply would change on every node, as unified diffs",
		Long: `Plan compiles and builds the cluster descriptions in PATH (or, given cluster
names, reads the tree hac build wrote in ./out or --from OUT), connects to
every node over SSH (in
parallel), reads the files hac would write and prints, per node, a unified
diff of each file that changes (coloured on a terminal) and the commands
apply would run, and whether the node's hac-agent or hac-metrics is
missing or has another version than the one apply installs
(--install-agent=false: only that both are there). Secret files show only "secret changed"; auth_pass and
"pass" values are masked in every diff.

Host keys are always checked against known_hosts: an unknown host is
refused with its fingerprint and the line to add (or --accept-new), a
changed key is always refused.

Exit codes: 0 no changes, 2 changes pending, 1 invalid configuration,
3 usage, 4 a node could not be reached or planned (see hac --help).`,
		RunE: func(c *cobra.Command, args []string) error {
			agent, err := nodeAgent(c, installAgent, agentBinary)
			if err != nil {
				return err
			}
			t, d, err := f.prepare(c.ErrOrStderr(), args, deploy.Options{Agent: agent}, false)
			if err != nil {
				return err
			}
			ctx, cancel := interruptible()
			defer cancel()
			p := d.Plan(ctx, t)
			defer p.Close()
			out := c.OutOrStdout()
			if f.format == "json" {
				err = p.WriteJSON(out)
			} else {
				err = p.WriteText(out, useColor(out))
			}
			if err != nil {
				return err
			}
			switch {
			case p.Err() != nil:
				return exitcode.New(exitcode.Failed, "%v", p.Err())
			case p.Changed():
				return exitcode.New(exitcode.Changes, "")
			}
			return exitcode.New(exitcode.OK, "")
		},
	}
	f.register(c)
	agentFlags(c, &installAgent, &agentBinary)
	return c
}
