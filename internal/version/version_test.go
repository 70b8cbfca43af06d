package version

import (
	"debug/buildinfo"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestLine(t *testing.T) {
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
		{"release", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "-ldflags", Value: "-s -X " + ReleaseFlag + "=v1.2.3"},
		}}, "hac v1.2.3"},
		{"release, = form", &debug.BuildInfo{Main: debug.Module{Version: "v0.1.0"}, Settings: []debug.BuildSetting{
			{Key: "-ldflags", Value: `"-X=` + ReleaseFlag + `=v1.2.4"`},
		}}, "hac v1.2.4"},
		{"another -X", &debug.BuildInfo{Main: debug.Module{Version: "v0.1.0"}, Settings: []debug.BuildSetting{
			{Key: "-ldflags", Value: "-X main.x=y"},
		}}, "hac v0.1.0"},
	} {
		if got := Of("hac", tc.bi); got != tc.want {
			t.Errorf("%s: Of = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestOfFile: hac reads the version of a binary it installs from its
// file, the same line the binary prints itself, a release version given
// at link time included.
func TestOfFile(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("go is needed to build the test binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "x")
	cmd := exec.Command("go", "build", "-ldflags", "-X "+ReleaseFlag+"=v9.8.7", "-o", bin, "./testdata/x")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	self, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	got := Of("x", bi)
	if got != string(self) {
		t.Errorf("Of(file) = %q, the binary says %q", got, self)
	}
	if want := "x v9.8.7"; len(got) < len(want) || got[:len(want)] != want {
		t.Errorf("Of(file) = %q, want it to start with %q", got, want)
	}
}
