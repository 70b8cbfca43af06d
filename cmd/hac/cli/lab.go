package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/compiler"
	"github.com/hac-project/hac/lab"
	"github.com/hac-project/hac/targets/build"
)

func newLabCmd() *cobra.Command {
	var root string
	c := &cobra.Command{
		Use:   "lab up|status|fail|heal|watch|down|run",
		Short: "Run a cluster on this machine (network namespaces) and watch it fail over",
		Long: `lab runs a cluster on this Linux machine, as root, to watch its failover
before it ships: one network namespace per node, holding the cluster's
interface with the cluster's own addresses, a bridge (in a namespace of its
own) for the shared subnet, and a client namespace that probes the VIPs.
No link reaches the host's namespace, so nothing the lab holds is routed to
or from this machine. Every node runs this hac binary's agent with the exact
agent.json hac build renders for it. Health-check and notify programs are
stood in for inside each node (true, or false for a check failed with
hac lab fail --check), so the cluster's commands never run on this machine.

  sudo hac lab up PATH            make the lab and start the agents
  sudo hac lab status             per instance: master, each node's state, a short probe of each VIP
  sudo hac lab fail NODE [--how stop|kill|link|freeze] | --check NAME
  sudo hac lab heal NODE          undo every fault on NODE
  sudo hac lab watch              live view: a line per instance, a probe of each VIP (loss, longest gap)
  sudo hac lab down               remove everything the lab made (also after hac crashed)
  sudo hac lab run PATH           up, the failover script (see hac lab run --help), down

The lab's state is recorded in --root (` + lab.DefaultRoot + `) before anything is
made; its base name starts every namespace name. One lab per root.`,
	}
	// Every subcommand needs root and the kernel's namespaces.
	c.PersistentPreRunE = func(*cobra.Command, []string) error { return labErr(lab.CheckHost()) }
	c.PersistentFlags().StringVar(&root, "root", lab.DefaultRoot, "folder holding the lab's state; its name prefixes the namespaces")
	c.AddCommand(newLabUpCmd(&root), newLabRunCmd(&root), newLabDownCmd(&root), newLabStatusCmd(&root),
		newLabFailCmd(&root), newLabHealCmd(&root), newLabWatchCmd(&root), newLabExecNodeCmd(&root), newLabProbeCmd(&root))
	return c
}

// labSpec compiles paths like hac build and returns what lab.Up needs for
// the chosen cluster. An invalid configuration is refused with every
// problem printed as hac vet prints them (warnings alone are vet's
// business, and not repeated here).
func labSpec(c *cobra.Command, root, cluster string, paths []string) (lab.Spec, error) {
	res, err := compiler.Compile(paths, compiler.Options{Secrets: true})
	if err != nil {
		return lab.Spec{}, exitcode.New(exitcode.Usage, "%v", err)
	}
	if res.Diags.HasErrors() {
		if err := res.Diags.WriteText(c.ErrOrStderr()); err != nil {
			return lab.Spec{}, exitcode.New(exitcode.Usage, "%v", err)
		}
		return lab.Spec{}, exitcode.New(exitcode.Invalid, "invalid configuration: no lab made")
	}
	var names []string
	for _, cl := range res.Clusters {
		names = append(names, cl.Name)
	}
	i := slices.Index(names, cluster)
	switch {
	case cluster == "" && len(names) == 1:
		i = 0
	case cluster == "" && len(names) == 0:
		return lab.Spec{}, exitcode.New(exitcode.Invalid, "%s declares no cluster", strings.Join(paths, " "))
	case cluster == "":
		return lab.Spec{}, exitcode.New(exitcode.Usage, "%s declares clusters %s: choose one with --cluster", strings.Join(paths, " "), strings.Join(names, ", "))
	case i < 0:
		return lab.Spec{}, exitcode.New(exitcode.Usage, "no cluster %q in %s: use one of %s", cluster, strings.Join(paths, " "), strings.Join(names, ", "))
	}
	cl := res.Clusters[i]
	trees, err := build.Build(res.Clusters[i : i+1])
	if err != nil {
		return lab.Spec{}, exitcode.New(exitcode.Invalid, "%v", err)
	}
	agents := map[string][]byte{}
	for _, t := range trees {
		for _, f := range t.Files {
			if f.Path == config.DefaultPath {
				agents[t.Node] = f.Data
			}
		}
	}
	hac, err := os.Executable()
	if err != nil {
		return lab.Spec{}, exitcode.New(exitcode.Usage, "lab: cannot find the hac executable: %v", err)
	}
	return lab.Spec{Root: root, Paths: paths, Cluster: cl, Agents: agents, Hac: hac}, nil
}

// rootFlag is " --root ROOT" (shell-quoted) for a lab outside the default
// root, so that the commands hac suggests find it; "" otherwise.
func rootFlag(root string) string {
	if root == lab.DefaultRoot {
		return ""
	}
	if strings.ContainsFunc(root, func(r rune) bool {
		return !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:,@", r)
	}) {
		root = "'" + strings.ReplaceAll(root, "'", `'\''`) + "'"
	}
	return " --root " + root
}

// labErr turns a lab error into an exit code with its message, as the
// one table says: 3 for a bad argument (an unknown node or check...), 4
// for work that failed (an agent that did not start...), 1 for a refusal
// or a failover step that did not go as expected.
func labErr(err error) error {
	var ae *lab.ArgError
	var fe *lab.FailError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
		return exitcode.New(exitcode.Usage, "%v", err)
	case errors.As(err, &fe):
		return exitcode.New(exitcode.Failed, "%v", err)
	}
	return exitcode.New(exitcode.Invalid, "%v", err)
}

func newLabUpCmd(root *string) *cobra.Command {
	var cluster string
	c := &cobra.Command{
		Use:   "up [--cluster NAME] PATH...",
		Short: "Make the lab for a cluster and start its agents",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			sp, err := labSpec(c, *root, cluster, args)
			if err != nil {
				return err
			}
			s, err := lab.Up(sp)
			if err != nil {
				return labErr(err)
			}
			r := rootFlag(*root)
			fmt.Fprintf(c.OutOrStdout(), "lab %s is up: %d nodes, agents started (a master is elected within the master-down interval, see hac explain), state in %s\nnext: sudo hac lab watch%s, sudo hac lab fail%s NODE, sudo hac lab down%s\n", s.Cluster, len(s.Nodes), s.Root, r, r, r)
			return nil
		},
	}
	c.Flags().StringVar(&cluster, "cluster", "", "the cluster to run, when PATH declares several")
	return c
}

// howFlag is a --how flag: one of lab.Hows, checked as the flags are
// parsed (a usage error, before anything else).
type howFlag string

func (h *howFlag) String() string { return string(*h) }
func (h *howFlag) Type() string   { return "how" }
func (h *howFlag) Set(v string) error {
	if !slices.Contains(lab.Hows, v) {
		return fmt.Errorf("use one of %s", strings.Join(lab.Hows, ", "))
	}
	*h = howFlag(v)
	return nil
}

func newLabRunCmd(root *string) *cobra.Command {
	var cluster string
	how := howFlag(lab.HowLink)
	c := &cobra.Command{
		Use:   "run [--how stop|kill|link|freeze] [--cluster NAME] PATH...",
		Short: "Up, the seed's failover test, down: each step's lost probes and longest gap",
		Long: `run brings a lab up, runs the seed's test on each instance and brings the lab
down: the VIP answers; the master fails (--how) and the next node answers;
every other node fails too and nothing answers; the master heals and answers
again; the others heal. A probe pings the VIP every 10 ms; each step prints
its lost probes and longest gap between replies. Exit 1 when a step did not
go as expected.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			sp, err := labSpec(c, *root, cluster, args)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "hac lab run: cluster %s, %d nodes in network namespaces\n", sp.Cluster.Name, len(sp.Cluster.Nodes))
			// Ctrl-C ends the script, and the lab with it.
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sig)
			go func() {
				if _, ok := <-sig; ok {
					fmt.Fprintln(c.ErrOrStderr(), "hac: lab run interrupted: removing the lab")
					if err := lab.Down(*root); err != nil {
						fmt.Fprintln(c.ErrOrStderr(), "hac:", err)
					}
					os.Exit(exitcode.Invalid)
				}
			}()
			_, err = lab.Run(sp, string(how), c.OutOrStdout())
			return labErr(err)
		},
	}
	c.Flags().StringVar(&cluster, "cluster", "", "the cluster to run, when PATH declares several")
	c.Flags().Var(&how, "how", "how nodes fail: "+strings.Join(lab.Hows, ", "))
	return c
}

func newLabDownCmd(root *string) *cobra.Command {
	return &cobra.Command{
		Use:   "down",
		Short: "Remove the lab: its processes, namespaces and state (also after a crash)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := lab.Down(*root); err != nil {
				return labErr(err)
			}
			fmt.Fprintf(c.OutOrStdout(), "lab at %s removed\n", *root)
			return nil
		},
	}
}

func newLabStatusCmd(root *string) *cobra.Command {
	var probe time.Duration
	c := &cobra.Command{
		Use:   "status [--probe 1s]",
		Short: "Per instance: master, each node's state and faults, a probe of each VIP",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			s, err := lab.Load(*root)
			if err != nil {
				return labErr(err)
			}
			return labErr(s.Status(c.OutOrStdout(), probe))
		},
	}
	c.Flags().DurationVar(&probe, "probe", time.Second, "how long to probe each VIP (0: no probe)")
	return c
}

func newLabFailCmd(root *string) *cobra.Command {
	var check string
	how := howFlag(lab.HowLink)
	c := &cobra.Command{
		Use:   "fail NODE [--how stop|kill|link|freeze] | --check NAME",
		Short: "Inject a fault on a node; hac lab heal NODE undoes it",
		Long: `fail injects a fault on NODE:
  --how stop    SIGTERM to the agent: a graceful stop (a master hands over first)
  --how kill    SIGKILL: the agent dies without a word (its VIPs stay until their lease ends)
  --how link    the node's link goes down, as a pulled cable (the default)
  --how freeze  SIGSTOP: the agent hangs while the kernel still answers
  --check NAME  the health check NAME fails on the node (false stands in for
                its program inside the node): hac explain's failover table, live`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if check != "" && c.Flags().Changed("how") {
				return exitcode.New(exitcode.Usage, "fail takes --how or --check, not both")
			}
			h := string(how)
			if check != "" {
				h = ""
			}
			msg, err := lab.Fail(*root, args[0], h, check)
			if err != nil {
				return labErr(err)
			}
			fmt.Fprintln(c.OutOrStdout(), msg)
			return nil
		},
	}
	c.Flags().Var(&how, "how", "how the node fails: "+strings.Join(lab.Hows, ", "))
	c.Flags().StringVar(&check, "check", "", "make this health check fail on the node")
	return c
}

func newLabHealCmd(root *string) *cobra.Command {
	return &cobra.Command{
		Use:   "heal NODE",
		Short: "Undo every fault on a node",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			msg, err := lab.Heal(*root, args[0])
			if err != nil {
				return labErr(err)
			}
			fmt.Fprintln(c.OutOrStdout(), msg)
			return nil
		},
	}
}

func newLabWatchCmd(root *string) *cobra.Command {
	var dur, refresh time.Duration
	c := &cobra.Command{
		Use:   "watch [--for D]",
		Short: "Live view: a line per instance, a running probe of each VIP (loss, longest gap)",
		Long: `watch probes every VIP from the lab's client every 10 ms and shows, a line per
instance, who is master, each node's state, priority and faults, and for each
VIP the probes lost and the longest gap between replies since the watch
began. On a terminal the view is redrawn; otherwise a view is printed each
time a state changes. It runs until Ctrl-C, or for --for.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			s, err := lab.Load(*root)
			if err != nil {
				return labErr(err)
			}
			stop := make(chan struct{})
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sig)
			go func() {
				var after <-chan time.Time
				if dur > 0 {
					after = time.After(dur)
				}
				select {
				case <-sig:
				case <-after:
				}
				close(stop)
			}()
			tty := false
			if f, ok := c.OutOrStdout().(*os.File); ok {
				_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
				tty = err == nil
			}
			return labErr(s.Watch(c.OutOrStdout(), stop, refresh, tty))
		},
	}
	c.Flags().DurationVar(&dur, "for", 0, "stop after this long (0: until Ctrl-C)")
	c.Flags().DurationVar(&refresh, "refresh", 200*time.Millisecond, "how often the view is refreshed")
	return c
}

// newLabExecNodeCmd is the start of a node's agent inside the node's
// namespace (hac lab runs it; see lab.ExecNode).
func newLabExecNodeCmd(root *string) *cobra.Command {
	return &cobra.Command{
		Use:    "exec-node NODE",
		Short:  "Start a lab node's agent (run by hac lab inside the node's namespace)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return labErr(lab.ExecNode(*root, args[0]))
		},
	}
}

// newLabProbeCmd is the lab's running probe of the VIPs, in the client
// namespace (hac lab up starts it; see lab.RunProbe).
func newLabProbeCmd(root *string) *cobra.Command {
	return &cobra.Command{
		Use:    "probe",
		Short:  "Probe the lab's VIPs until killed (run by hac lab up in the client namespace)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			stop := make(chan struct{})
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
			go func() { <-sig; close(stop) }()
			return labErr(lab.RunProbe(*root, stop))
		},
	}
}
