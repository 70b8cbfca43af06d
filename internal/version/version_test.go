package version

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestLine(t *testing.T) {
	for _, tc := range []struct {
		name, rel string
		bi        *debug.BuildInfo
		want      string
	}{
		{"no build info", "", nil, "hac devel"},
		{"work tree", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "fbee56b0"}, {Key: "vcs.time", Value: "2026-11-28T05:00:00Z"}, {Key: "vcs.modified", Value: "true"},
		}}, "hac devel (revision fbee56b0+dirty, 2026-11-28T05:00:00Z, go1.26.8)"},
		{"go install", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.1.0"}}, "hac v0.1.0 (go1.26.8)"},
		{"clean tree", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.2.0-0.20261128050000-fbee56b0aaaa"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "fbee56b0aaaa"}, {Key: "vcs.modified", Value: "false"},
		}}, "hac v0.2.0-0.20261128050000-fbee56b0aaaa (revision fbee56b0aaaa)"},
		{"release", "v1.2.3", &debug.BuildInfo{Main: debug.Module{Version: "v0.1.0"}}, "hac v1.2.3"},
	} {
		if got := line("hac", tc.rel, tc.bi); got != tc.want {
			t.Errorf("%s: line = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestReleased(t *testing.T) {
	for ldflags, want := range map[string]string{
		"-s -X " + ReleaseFlag + "=v1.2.3":  "v1.2.3",
		`"-X=` + ReleaseFlag + `=v1.2.4"`:   "v1.2.4",
		"-X '" + ReleaseFlag + "=v1.2.5'":   "v1.2.5",
		"-X main.x=y":                       "",
		"-X":                                "",
		"-X " + ReleaseFlag + "x=v9 -w -s ": "",
	} {
		if got := released(ldflags); got != want {
			t.Errorf("released(%q) = %q, want %q", ldflags, got, want)
		}
	}
}

// TestOfFile: hac reads the version of a binary it installs from its
// file, the same line the binary prints itself, a release version given
// at link time included, however it was built (-trimpath records no
// -ldflags in the build info; -s drops the symbol table).
func TestOfFile(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("go is needed to build the test binary")
	}
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"plain", []string{"-ldflags", "-X " + ReleaseFlag + "=v9.8.7"}, "x v9.8.7"},
		{"trimpath", []string{"-trimpath", "-ldflags", "-X " + ReleaseFlag + "=v9.8.8"}, "x v9.8.8"},
		{"stripped", []string{"-ldflags", "-s -w -X " + ReleaseFlag + "=v9.8.9"}, "x v9.8.9"},
		{"no release", nil, "x devel"},
	} {
		bin := filepath.Join(t.TempDir(), "x")
		cmd := exec.Command("go", append(append([]string{"build", "-o", bin}, tc.flags...), "./testdata/x")...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: go build: %v\n%s", tc.name, err, out)
		}
		self, err := exec.Command(bin).Output()
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		got, bi, err := OfFile("x", b)
		if err != nil || bi == nil {
			t.Fatalf("%s: OfFile: %v", tc.name, err)
		}
		if got != string(self) || !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: OfFile = %q, the binary says %q, want it to start with %q", tc.name, got, self, tc.want)
		}
	}
	if _, _, err := OfFile("x", []byte("#!/bin/sh\n")); err == nil {
		t.Error("OfFile of a script: no error")
	}
}
