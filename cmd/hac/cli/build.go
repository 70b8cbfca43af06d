package cli

import (
	"fmt"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/compiler"
	"github.com/hac-project/hac/targets/build"
)

func newBuildCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "build -o OUT PATH...",
		Short: "Compile cluster descriptions into per-node files under OUT",
		Long: `Build compiles the cluster descriptions in PATH (CUE, YAML or JSON files or
folders) and writes one tree per node: OUT/<cluster>/<node>/etc/... with the
files for that node, and OUT/<cluster>/<node>/manifest.json for hac apply.

The VIPs are never written as static addresses: the hac agent (or keepalived)
owns them. OUT is replaced whole and atomically; an invalid configuration
leaves it untouched. Exit codes: 0 built, 1 invalid configuration, 3 usage,
4 OUT could not be written.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if out == "" {
				return exitcode.New(exitcode.Usage, "build needs an output folder: hac build -o OUT PATH...")
			}
			res, err := compiler.Compile(args, compiler.Options{Secrets: true})
			if err != nil {
				return exitcode.New(exitcode.Usage, "%v", err)
			}
			if err := res.Diags.WriteText(c.ErrOrStderr()); err != nil {
				return exitcode.New(exitcode.Usage, "%v", err)
			}
			if res.Diags.HasErrors() {
				return exitcode.New(exitcode.Invalid, "invalid configuration: %s left untouched", out)
			}
			trees, err := build.Build(res.Clusters)
			if err != nil {
				return exitcode.New(exitcode.Invalid, "%v", err)
			}
			if err := build.Write(out, trees); err != nil {
				return exitcode.New(exitcode.Failed, "%v", err)
			}
			keys := make([]string, 0, len(trees))
			for k := range trees {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			w := c.OutOrStdout()
			for _, k := range keys {
				if _, err := fmt.Fprintf(w, "%s: %s\n", filepath.Join(out, k), trees[k].Summary()); err != nil {
					return err
				}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&out, "out", "o", "", "output folder, replaced whole by each build")
	return c
}
