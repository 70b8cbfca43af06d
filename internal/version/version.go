// Package version says which build a hac binary is: the module version
// and the VCS revision from its build info, for hac version, hac-agent
// version, the agent's status and SARIF output, and for hac plan, which
// compares the hac-agent it would install with the nodes' one.
package version

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// ReleaseFlag is the linker flag of a release build that has no module
// version (a work tree or a source tarball): make build VERSION=v1.2.3
// passes -ldflags "-X <ReleaseFlag>=v1.2.3".
const ReleaseFlag = "github.com/hac-project/hac/internal/version.release"

// release is set at link time (ReleaseFlag).
var release string

// Module returns the version the running binary was built from, or
// "devel".
func Module() string {
	bi, _ := debug.ReadBuildInfo()
	return module(release, bi)
}

// Line is what `<program> version` and --version print for the running
// binary (see line).
func Line(program string) string {
	bi, _ := debug.ReadBuildInfo()
	return line(program, release, bi)
}

// OfFile is the version line of the Go binary b, the one it prints itself,
// read without running it (it may be built for another machine), and its
// build info. Its release version is read from its symbol table, or from
// its build settings when it has none (a stripped binary; a build with
// -trimpath records no -ldflags there).
func OfFile(program string, b []byte) (string, *debug.BuildInfo, error) {
	bi, err := buildinfo.Read(bytes.NewReader(b))
	if err != nil {
		return "", nil, err
	}
	rel := symbolString(b, ReleaseFlag)
	if rel == "" {
		for _, s := range bi.Settings {
			if s.Key == "-ldflags" {
				rel = released(s.Value)
			}
		}
	}
	return line(program, rel, bi), bi, nil
}

// symbolString reads the Go string variable name from the ELF binary b:
// its header (pointer, length) in the data, then the bytes it points at;
// "" when b has no such symbol or it cannot be read.
func symbolString(b []byte, name string) string {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return ""
	}
	syms, err := f.Symbols()
	if err != nil {
		return ""
	}
	word := 8
	if f.Class == elf.ELFCLASS32 {
		word = 4
	}
	read := func(addr uint64, n int) []byte {
		for _, sec := range f.Sections {
			if sec.Type != elf.SHT_NOBITS && addr >= sec.Addr && addr+uint64(n) <= sec.Addr+sec.Size {
				buf := make([]byte, n)
				if _, err := sec.ReadAt(buf, int64(addr-sec.Addr)); err == nil {
					return buf
				}
			}
		}
		return nil
	}
	uint := func(p []byte) uint64 {
		if word == 4 {
			return uint64(f.ByteOrder.Uint32(p))
		}
		return f.ByteOrder.Uint64(p)
	}
	for _, s := range syms {
		if s.Name != name {
			continue
		}
		hdr := read(s.Value, 2*word)
		if hdr == nil {
			return ""
		}
		ptr, n := uint(hdr[:word]), uint(hdr[word:])
		if ptr == 0 || n == 0 || n > 256 {
			return ""
		}
		return string(read(ptr, int(n)))
	}
	return ""
}

// module is rel, the release version given at link time, when there is
// one, else bi's main module version, or "devel" for a build from a work
// tree (go build reports "(devel)" there) or no build info.
func module(rel string, bi *debug.BuildInfo) string {
	if rel != "" {
		return rel
	}
	if bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
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

// line is the version line of a binary with release version rel (or "")
// and build info bi: the program's name and module version, then the VCS
// revision and time the binary was built from (with "+dirty" for
// uncommitted changes) and the Go version, when the build info has them.
func line(program, rel string, bi *debug.BuildInfo) string {
	s := program + " " + module(rel, bi)
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
