package cli

import (
	"github.com/spf13/cobra"

	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/deploy"
)

func newDestroyCmd() *cobra.Command {
	var (
		f   deployFlags
		o   deploy.Options
		yes bool
	)
	c := &cobra.Command{
		Use:   "destroy PATH... | destroy [--from OUT] CLUSTER...",
		Short: "Remove hac from the nodes: stop the agents (backups first) and delete what hac installed",
		Long: `Destroy reads the clusters like plan and apply (PATH, or cluster names with
./out or --from OUT), connects to every node and lists what hac installed
there: the files of the node's manifest (the description's, and the one
the last apply left in /var/lib/hac/manifest.json), the hac binary when hac apply
installed it (/var/lib/hac/installed-hac records that), hac's state in
/var/lib/hac, and the services to stop. Without --yes it only shows that
list (a dry run: nothing changes).

With --yes it removes it, per cluster one node at a time, backups first and
the preferred master last: the agent is stopped and disabled (a graceful
stop: it hands the VIP over while a peer runs), keepalived is stopped
where hac's keepalived.conf goes, then the files go and systemd is
reloaded. THE VIPs STOP BEING SERVED: the master stops last and, with no
peer left, releases them. To keep them up, start keepalived (or another
VRRP daemon) with its own configuration first.

The network configuration hac wrote for the interface
(/etc/network/interfaces.d/hac-IFACE, /etc/netplan/60-hac-IFACE.yaml) is
kept: removing it would leave the interface unconfigured at the next boot.
Remove it by hand once the interface is configured otherwise.

Nothing is removed anywhere when a node cannot be reached or inspected
(with ssh.become: "sudo", a sudo that wants a password); a node that fails
stops its cluster. Exit codes: 0 done (or dry run), 1 invalid
configuration, 3 usage, 4 a node could not be inspected or failed.`,
		RunE: func(c *cobra.Command, args []string) error {
			// Shared with plan and apply, meaningless here.
			for _, name := range []string{"allow-v2-interval-change", "agent-status-command"} {
				if c.Flags().Changed(name) {
					return exitcode.New(exitcode.Usage, "--%s: hac destroy neither applies a configuration nor asks the agents: remove it", name)
				}
			}
			t, d, err := f.prepare(c.ErrOrStderr(), args, o, yes)
			if err != nil {
				return err
			}
			ctx, cancel := interruptible()
			defer cancel()
			td := d.PlanDestroy(ctx, t)
			defer td.Close()
			if yes {
				d.Destroy(ctx, td)
			}
			out := c.OutOrStdout()
			if f.format == "json" {
				err = td.WriteJSON(out)
			} else {
				err = td.WriteText(out)
			}
			if err != nil {
				return err
			}
			if !td.OK() {
				return exitcode.New(exitcode.Failed, "hac destroy did not complete")
			}
			return nil
		},
	}
	f.register(c)
	fs := c.Flags()
	fs.BoolVar(&yes, "yes", false, "remove hac from the nodes (without it: show what would be removed)")
	fs.IntVar(&o.Parallel, "parallel", 4, "clusters handled at once (the nodes of one cluster never are)")
	return c
}
