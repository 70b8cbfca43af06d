// Package cli is hac's command line: one file per subcommand. Main runs it
// in-process and returns the exit code, so tests drive the real CLI.
package cli

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/hac-project/hac/cmd/internal/agentcmd"
	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/internal/version"
)

// newRoot builds the command tree; the list of subcommands is explicit.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "hac",
		Short: "Declare a high-availability IP cluster once, and trust it",
		Long: `hac declares a high-availability IP cluster once (CUE, YAML or JSON),
checks it, renders every node's files, ships them over SSH and runs the
VRRP agent on the nodes.

Exit codes, the same for every command:
  0  success (hac plan: no changes; hac status: the live state matches)
  1  invalid: configuration errors (syntax included), unformatted files
     (fmt --check), drift from the intent (status)
  2  hac plan only: changes pending
  3  usage: unknown command or flag, bad argument, no such path, an
     --instance the running agent does not run
  4  failed: a file could not be written, a node could not be reached or
     planned (a sudo that wants a password included), apply or destroy
     failed, the agent did not answer, was busy or refused`,
		Version: version.Line("hac"),
	}
	exitcode.Prepare(root, stdout, stderr)
	root.AddCommand(
		version.Command("hac"),
		newVetCmd(),
		newSchemaCmd(),
		newFmtCmd(),
		newImportCmd(),
		newExplainCmd(),
		newBuildCmd(),
		agentcmd.New("agent"),
		newPlanCmd(), newApplyCmd(), newStatusCmd(), newDestroyCmd(),
		newLabCmd(),
	)
	return root
}

// Main runs hac with os.Args and returns the process exit code.
func Main() int {
	return run(os.Args[1:], os.Stdout, os.Stderr)
}

func run(args []string, stdout, stderr io.Writer) int {
	return exitcode.Run(newRoot(stdout, stderr), args, stderr)
}
