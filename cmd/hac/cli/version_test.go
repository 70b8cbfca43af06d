package cli

import (
	"os"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "hac devel"},
		{"work tree", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "fbee56b0"}, {Key: "vcs.time", Value: "2026-11-28T05:00:00Z"}, {Key: "vcs.modified", Value: "true"},
		}}, "hac devel (revision fbee56b0+dirty, 2026-11-28T05:00:00Z, go1.26.8)"},
		{"go install", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.1.0"}}, "hac v0.1.0 (go1.26.8)"},
		{"clean tree", &debug.BuildInfo{Main: debug.Module{Version: "v0.2.0-0.20261128050000-fbee56b0aaaa"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "fbee56b0aaaa"}, {Key: "vcs.modified", Value: "false"},
		}}, "hac v0.2.0-0.20261128050000-fbee56b0aaaa (revision fbee56b0aaaa)"},
	} {
		if got := versionLine(tc.bi); got != tc.want {
			t.Errorf("%s: versionLine = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestCheckStatic: a dynamically linked binary (here the system's sh) is
// never what hac installs on the nodes.
func TestCheckStatic(t *testing.T) {
	b, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkStatic(b); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("checkStatic(/bin/sh) = %v, want dynamically linked", err)
	}
	if err := checkStatic([]byte("#!/bin/sh\n")); err == nil || !strings.Contains(err.Error(), "not an ELF binary") {
		t.Errorf("checkStatic(script) = %v, want not an ELF binary", err)
	}
}
