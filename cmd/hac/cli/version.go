package cli

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version returns the module version hac was built from, or "devel".
func version() string {
	bi, _ := debug.ReadBuildInfo()
	return moduleVersion(bi)
}

// releaseVersion, when set at link time (make build VERSION=v1.2.3:
// -ldflags "-X github.com/hac-project/hac/cmd/hac/cli.releaseVersion=v1.2.3"),
// is the version of a build that has no module version (a work tree or a
// source tarball). hac plan compares it between this hac and the nodes'.
var releaseVersion string

// moduleVersion is releaseVersion when set, else bi's main module
// version, or "devel" for a build from a work tree (go build reports
// "(devel)" there) or no build info.
func moduleVersion(bi *debug.BuildInfo) string {
	if releaseVersion != "" {
		return releaseVersion
	}
	if bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// versionLine is what hac version and hac --version print: the module
// version, then the VCS revision and time the binary was built from (with
// "+dirty" for uncommitted changes) and the Go version, when the build
// info has them.
func versionLine(bi *debug.BuildInfo) string {
	s := "hac " + moduleVersion(bi)
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

// buildVersion is versionLine of the running binary.
func buildVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return versionLine(bi)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print hac's version and the revision it was built from (also hac --version)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(c.OutOrStdout(), buildVersion())
			return err
		},
	}
}
