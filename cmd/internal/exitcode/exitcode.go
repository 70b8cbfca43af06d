// Package exitcode is the exit-code table of hac and hac-agent (the
// README's "Exit codes" lists it) and the error that carries a code out of
// a cobra command. 2 means only "changes pending" (hac plan, like
// terraform plan -detailed-exitcode), so that a CI gate can tell a diff
// from a failure.
package exitcode

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/hac-project/hac/internal/journal"
)

// The exit codes, the same for every command.
const (
	// OK: success: valid, built, formatted, applied; hac plan: no
	// changes; hac status: the live state matches the intent.
	OK = 0
	// Invalid: what was checked is wrong: an invalid configuration
	// (YAML and CUE syntax errors included), an unformatted file (fmt
	// --check), drift from the intent (status), an invalid agent.json.
	Invalid = 1
	// Changes: hac plan only: changes are pending.
	Changes = 2
	// Usage: bad usage: an unknown command or flag, a bad argument or
	// flag value, a path that does not exist.
	Usage = 3
	// Failed: the work failed: a file could not be read or written, a
	// node could not be reached or planned, apply failed (the node was
	// rolled back), destroy failed, the agent failed or did not answer.
	Failed = 4
	// Restart: hac-agent reload only: the running agent refused the
	// configuration only because a restart applies some of its settings
	// (status_socket, metrics, sync groups), not a reload; restarting the
	// agent runs it. hac apply's reload of agent.json restarts it then.
	Restart = 5
)

// Error carries an exit code out of a command. Its message, when not
// empty, is printed on stderr.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// New returns an error that makes Run return code after printing the
// message (nothing when it is empty).
func New(code int, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Usage-error handling shared by every command tree: an unknown flag is
// exit 3 with a pointer to --help.
func flagError(c *cobra.Command, err error) error {
	return New(Usage, "%v\nrun '%s --help' for usage", err, c.CommandPath())
}

// Prepare sets what every root command of hac's binaries shares: errors
// and usage are printed by Run, not cobra; a flag error is a usage error;
// --version prints the version line alone.
func Prepare(root *cobra.Command, stdout, stderr io.Writer) {
	root.SilenceUsage = true
	root.SilenceErrors = true
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(flagError)
}

// Run executes root with args and returns the process exit code, after
// printing the error on stderr prefixed with the program's name. An error
// that carries no code is a usage error (cobra's own: an unknown command,
// a wrong number of arguments), with a pointer to --help as for a flag.
func Run(root *cobra.Command, args []string, stderr io.Writer) int {
	root.SetArgs(args)
	c, err := root.ExecuteC()
	if err == nil {
		return OK
	}
	if f, ok := stderr.(*os.File); ok && journal.Stream(f) {
		// Under systemd (the agent): the final error is an error for
		// journald too (journalctl -p err).
		stderr = journal.Lines(f, journal.PriErr)
	}
	var ee *Error
	if errors.As(err, &ee) {
		if ee.Msg != "" {
			fmt.Fprintf(stderr, "%s: %s\n", root.Name(), ee.Msg)
		}
		return ee.Code
	}
	fmt.Fprintf(stderr, "%s: %v\n", root.Name(), flagError(c, err))
	return Usage
}
