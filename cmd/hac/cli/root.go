// Package cli is hac's command line: one file per subcommand. Main runs it
// in-process and returns the exit code, so tests drive the real CLI.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes shared by every subcommand.
const (
	ExitOK      = 0 // success: valid, built, applied
	ExitInvalid = 1 // the configuration is invalid (or, for plan/status, something failed)
	ExitUsage   = 2 // bad usage or an I/O error
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
		Use:           "hac",
		Short:         "Declare a high-availability IP cluster once, and trust it",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
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
		newPlanCmd(), newApplyCmd(), newStatusCmd(),
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
