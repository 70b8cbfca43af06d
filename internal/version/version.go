// Package version says which build a hac binary is: the module version
// and the VCS revision from its build info, for hac version, hac-agent
// version, the agent's status and SARIF output, and for hac plan, which
// compares the hac-agent it would install with the nodes' one.
package version

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// ReleaseFlag is the linker flag of a release build that has no module
// version (a work tree or a source tarball): make build VERSION=v1.2.3
// passes -ldflags "-X <ReleaseFlag>=v1.2.3". The version is read back from
// the build settings (which record -ldflags), so it is the same whether a
// binary reports itself or hac reads another binary's file.
const ReleaseFlag = "github.com/hac-project/hac/internal/version.release"

// Module returns the version the running binary was built from, or
// "devel".
func Module() string {
	bi, _ := debug.ReadBuildInfo()
	return module(bi)
}

// Line is what `<program> version` and --version print for the running
// binary (see Of).
func Line(program string) string {
	bi, _ := debug.ReadBuildInfo()
	return Of(program, bi)
}

// module is the release version given at link time when there is one,
// else bi's main module version, or "devel" for a build from a work tree
// (go build reports "(devel)" there) or no build info.
func module(bi *debug.BuildInfo) string {
	if bi == nil {
		return "devel"
	}
	for _, s := range bi.Settings {
		if s.Key == "-ldflags" {
			if v := released(s.Value); v != "" {
				return v
			}
		}
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// released finds -X ReleaseFlag=V in a -ldflags value (also as
// -X=ReleaseFlag=V, or quoted), and returns V.
func released(ldflags string) string {
	fields := strings.Fields(ldflags)
	for i, f := range fields {
		f = strings.Trim(f, `"'`)
		var arg string
		switch {
		case f == "-X" || f == "--X":
			if i+1 < len(fields) {
				arg = fields[i+1]
			}
		case strings.HasPrefix(f, "-X="):
			arg = f[len("-X="):]
		}
		arg = strings.Trim(arg, `"'`)
		if v, ok := strings.CutPrefix(arg, ReleaseFlag+"="); ok {
			return v
		}
	}
	return ""
}

// Of is the version line of a binary with build info bi (of the running
// binary, or read from another one's file with [buildinfo.Read]): the
// program's name and module version, then the VCS revision and time the
// binary was built from (with "+dirty" for uncommitted changes) and the Go
// version, when the build info has them.
func Of(program string, bi *debug.BuildInfo) string {
	s := program + " " + module(bi)
	if bi == nil {
		return s
	}
	var rev, at, dirty string
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.time":
			at = kv.Value
		case "vcs.modified":
			if kv.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	var extra []string
	if rev != "" {
		extra = append(extra, "revision "+rev+dirty)
	}
	if at != "" {
		extra = append(extra, at)
	}
	if bi.GoVersion != "" {
		extra = append(extra, bi.GoVersion)
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}

// Command is `<program> version`: it prints Line(program).
func Command(program string) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print " + program + "'s version and the revision it was built from (also " + program + " --version)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(c.OutOrStdout(), Line(program))
			return err
		},
	}
}
