// Package cli is hac's command line: one file per subcommand. Main runs it
// in-process and returns the exit code, so tests drive the real CLI.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/hac-project/hac/internal/journal"
)

// Exit codes: one table for every subcommand (the README's "Exit codes"
// lists it). 2 means only "changes pending" (hac plan, like terraform plan
// -detailed-exitcode), so that a CI gate can tell a diff from a failure.
const (
	// ExitOK: success: valid, built, formatted, applied; hac plan: no
	// changes; hac status: the live state matches the intent.
	ExitOK = 0
	// ExitInvalid: what was checked is wrong: an invalid configuration
	// (YAML and CUE syntax errors included), an unformatted file (fmt
	// --check), drift from the intent (status), an invalid agent.json.
	ExitInvalid = 1
	// ExitChanges: hac plan only: changes are pending.
	ExitChanges = 2
	// ExitUsage: bad usage: an unknown command or flag, a bad argument or
	// flag value, a path that does not exist.
	ExitUsage = 3
	// ExitFailed: the work failed: a file could not be read or written, a
	// node could not be reached or planned, apply failed (the node was
	// rolled back), destroy failed, the agent failed or did not answer.
	ExitFailed = 4
)

// exitError carries an exit code out of a subcommand. Its message, when not
// empty, is printed on stderr.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// exitCode returns an error that makes Main return code after printing msg
// (nothing when msg is empty).
func exitCode(code int, format string, args ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

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
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return exitCode(ExitUsage, "%v\nrun '%s --help' for usage", err, c.CommandPath())
	})
	root.AddCommand(
		newVersionCmd(),
		newVetCmd(),
		newSchemaCmd(),
		newFmtCmd(),
		newImportCmd(),
		newExplainCmd(),
		newBuildCmd(),
		newAgentCmd(),
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
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	if f, ok := stderr.(*os.File); ok && journal.Stream(f) {
		// Under systemd (hac agent): the final error is an error for
		// journald too (journalctl -p err).
		stderr = journal.Lines(f, journal.PriErr)
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "hac:", ee.msg)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "hac:", err)
	return ExitUsage
}
