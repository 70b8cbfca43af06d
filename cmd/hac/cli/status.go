package cli

import (
	"github.com/spf13/cobra"

	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/deploy"
)

func newStatusCmd() *cobra.Command {
	var f deployFlags
	c := &cobra.Command{
		Use:   "status PATH... | status [--from OUT] CLUSTER...",
		Short: "Compare the clusters' live state with the intent, over SSH",
		Long: `Status asks every node's agent for its state ('hac-agent status --format
json' over SSH) and checks, per cluster: the agent runs the configuration
hac build produced (digest of agent.json), every instance has exactly one
master and it is the expected node, no other node holds a VIP, and every
backup hears its master's adverts.

Exit codes: 0 the live state matches the intent, 1 drift, 3 usage, 4 a
node could not be asked.`,
		RunE: func(c *cobra.Command, args []string) error {
			t, d, err := f.prepare(c.ErrOrStderr(), args, deploy.Options{}, false)
			if err != nil {
				return err
			}
			ctx, cancel := interruptible()
			defer cancel()
			res := d.Status(ctx, t)
			if f.format == "json" {
				err = res.WriteJSON(c.OutOrStdout())
			} else {
				err = res.WriteText(c.OutOrStdout())
			}
			if err != nil {
				return err
			}
			unreached := 0
			for _, n := range res.Nodes {
				if n.Error != "" {
					unreached++
				}
			}
			switch {
			case unreached > 0:
				return exitcode.New(exitcode.Failed, "%d node(s) could not be asked, %d difference(s) from the intent", unreached, len(res.Drift))
			case !res.OK():
				return exitcode.New(exitcode.Invalid, "%d difference(s) from the intent", len(res.Drift))
			}
			return nil
		},
	}
	f.register(c)
	return c
}
