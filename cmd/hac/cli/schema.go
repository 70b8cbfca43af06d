package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/compiler"
	"github.com/hac-project/hac/schema"
)

func newSchemaCmd() *cobra.Command {
	var field string
	c := &cobra.Command{
		Use:   "schema [--field PATH]",
		Short: "Print the configuration schema (CUE), or one field's documentation",
		Long: `schema prints hac's CUE schema: every field, its default, its constraint
and its documentation. With --field, it prints one field of a cluster, e.g.
hac schema --field vrrp.advert_int or --field nodes.lb1.ssh.port.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if field == "" {
				_, err := c.OutOrStdout().Write(schema.Source)
				return err
			}
			fd, err := compiler.SchemaField(field)
			if err != nil {
				return exitcode.New(exitcode.Usage, "%v", err)
			}
			_, err = fmt.Fprintf(c.OutOrStdout(), "%s: %s\n  must be %s\n\n%s", fd.Path, fd.Constraint, fd.Want, fd.Doc)
			return err
		},
	}
	c.Flags().StringVar(&field, "field", "", "show one field, e.g. vrrp.advert_int")
	return c
}
