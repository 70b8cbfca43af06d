package cli

import (
	"cmp"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/compiler"
	"github.com/hac-project/hac/election"
	"github.com/hac-project/hac/internal/version"
	"github.com/hac-project/hac/model"
)

func newVetCmd() *cobra.Command {
	var verbose, secrets bool
	var format string
	c := &cobra.Command{
		Use:   "vet [-v] [--format text|json|github|sarif] PATH...",
		Short: "Check cluster descriptions and report every problem at file:line:col",
		Long: `vet loads every PATH (a .cue, .yaml, .yml or .json file, or a directory of
them; dir/... or ./... finds every cluster definition in a repository, see
below), checks each cluster against the schema and hac's rules, and reports
every problem at once.

Exit status: 0 valid (warnings are printed on stderr), 1 invalid, 3 usage
(or a path that does not exist), 4 output could not be written. --format json prints the diagnostics as a JSON array on stdout;
--format github prints on stdout a GitHub Actions annotation before each
diagnostic's text. -v prints, for every VRRP instance, who is master when each tracked
interface or check fails on each node. --format sarif prints a SARIF 2.1.0
log on stdout (GitHub code scanning).

A directory, or a dir/... pattern (the same), is walked: every .cue file
and every YAML or JSON file with a top-level clusters key (other YAML, such
as CI workflows or docker-compose.yml, is not hac's), skipping hidden
directories (.git), cue.mod, vendor, node_modules, testdata and the trees
hac build writes; every command reads paths this way. The cross-cluster
rules (VRID clashes on a segment, duplicate VIPs, nodes in two clusters)
span everything found.

A secret reference (pass: {env: "NAME"} or {file: "/path"}) that does not
resolve is a warning, so that a CI job holding no secret can vet; hac
build, plan and apply refuse it. --secrets checks buildability: the
reference is then an error, as in build.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return runVet(c.OutOrStdout(), c.ErrOrStderr(), args, format, verbose, secrets)
		},
	}
	c.Flags().BoolVarP(&verbose, "verbose", "v", false, "print the failover table of every instance")
	c.Flags().StringVar(&format, "format", "text", "diagnostics format: text, json, github or sarif")
	c.Flags().BoolVar(&secrets, "secrets", false, "check buildability: a secret reference that does not resolve is an error, as in hac build")
	return c
}

func runVet(stdout, stderr io.Writer, paths []string, format string, verbose, secrets bool) error {
	var write func(compiler.Diagnostics) error
	switch format {
	case "text":
		write = func(ds compiler.Diagnostics) error { return ds.WriteText(stderr) }
	case "json":
		write = func(ds compiler.Diagnostics) error { return ds.WriteJSON(stdout) }
	case "github":
		write = func(ds compiler.Diagnostics) error { return ds.WriteGitHub(stdout) }
	case "sarif":
		write = func(ds compiler.Diagnostics) error { return ds.WriteSARIF(stdout, version.Module()) }
	default:
		return exitcode.New(exitcode.Usage, "unknown --format %q: use text, json, github or sarif", format)
	}
	res, err := compiler.Compile(paths, compiler.Options{Secrets: secrets})
	if err != nil {
		return exitcode.New(exitcode.Usage, "%v", err)
	}
	if len(res.Diags) > 0 || format == "json" || format == "sarif" {
		if err := write(res.Diags); err != nil {
			return exitcode.New(exitcode.Failed, "%v", err)
		}
	}
	if verbose {
		for _, c := range res.Clusters {
			writeFailover(stdout, c)
		}
	}
	if res.Diags.HasErrors() {
		return exitcode.New(exitcode.Invalid, "")
	}
	return nil
}

// writeFailover prints each instance's failover table.
func writeFailover(w io.Writer, c *model.Cluster) {
	for _, in := range c.Instances {
		fmt.Fprintf(w, "%s/%s: vrid %d, VRRPv%d, master %s\n", c.Name, in.Name, in.VRID, in.Version, in.Master().Node)
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "  EVENT\tON\tPRIORITIES\tMASTER")
		for _, fc := range election.ClusterTable(c, in) {
			master := cmp.Or(fc.Master, "none")
			if fc.Tie {
				master = "tie!"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", fc.Event, cmp.Or(fc.Node, "-"), fc, master)
		}
		tw.Flush()
	}
}
