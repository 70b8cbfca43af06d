package build_test

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/model"
	"github.com/hac-project/hac/targets"
	"github.com/hac-project/hac/targets/build"
	"github.com/hac-project/hac/targets/internal/fixture"
	"github.com/hac-project/hac/targets/manifest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func clusters() []*model.Cluster {
	var cs []*model.Cluster
	for _, fx := range fixture.All() {
		cs = append(cs, fx.Cluster)
	}
	return cs
}

func mustBuild(t *testing.T, cs []*model.Cluster) map[string]build.Tree {
	t.Helper()
	trees, err := build.Build(cs)
	if err != nil {
		t.Fatal(err)
	}
	return trees
}

// TestGoldenTree writes the build of each fixture and compares the whole
// output folder, files, manifests and modes, with a golden archive.
func TestGoldenTree(t *testing.T) {
	for _, fx := range append(fixture.All(), fixture.Named{Name: "seed-keepalived", Cluster: fixture.WithKeepalived(fixture.Seed())}) {
		t.Run(fx.Name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			if err := build.Write(out, mustBuild(t, []*model.Cluster{fx.Cluster})); err != nil {
				t.Fatal(err)
			}
			fixture.Golden(t, "testdata/"+fx.Name+".txtar", fixture.Dir(t, out), *update)
		})
	}
}

// TestDeterministic builds twice into two folders and once more over the
// first: the bytes and modes are the same every time.
func TestDeterministic(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, out := range []string{a, b, a} {
		if err := build.Write(out, mustBuild(t, clusters())); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(string(fixture.Dir(t, a)), string(fixture.Dir(t, b))); diff != "" {
		t.Errorf("second build differs (-first +second):\n%s", diff)
	}
}

// TestModes checks the files holding secrets or read by netplan are 0600,
// the others 0644, folders 0755 and the output folder 0700.
func TestModes(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	cs := append(clusters(), fixture.WithKeepalived(fixture.Seed()))
	cs[len(cs)-1].Name = "ncp-lb-keepalived"
	if err := build.Write(out, mustBuild(t, cs)); err != nil {
		t.Fatal(err)
	}
	want := map[string]fs.FileMode{
		"/etc/netplan/60-hac-eth1.yaml":         0o600,
		"/etc/netplan/60-hac-ens4.yaml":         0o600,
		"/etc/hac/agent.json":                   0o600,
		"/etc/keepalived/keepalived.conf":       0o600,
		"/etc/network/interfaces.d/hac-eth1":    0o644,
		"/etc/systemd/system/hac-agent.service": 0o644,
		"/manifest.json":                        0o644,
	}
	seen := map[string]bool{}
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		parts := strings.SplitN(rel, string(filepath.Separator), 3)
		switch {
		case p == out:
			if fi.Mode().Perm() != 0o700 {
				t.Errorf("output folder mode %04o, want 0700", fi.Mode().Perm())
			}
		case d.IsDir():
			if fi.Mode().Perm() != 0o755 {
				t.Errorf("%s: folder mode %04o, want 0755", rel, fi.Mode().Perm())
			}
		case rel == build.Marker:
		default:
			onNode := "/" + parts[2]
			m, ok := want[onNode]
			if !ok {
				t.Errorf("unexpected file %s", rel)
				return nil
			}
			seen[onNode] = true
			if fi.Mode().Perm() != m {
				t.Errorf("%s: mode %04o, want %04o", rel, fi.Mode().Perm(), m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range want {
		if !seen[p] {
			t.Errorf("no node got %s", p)
		}
	}
}

// TestFailedWriteKeepsPrevious writes a good build, then a build that
// fails halfway (one file where another needs a folder): the first build
// is intact and no temporary folder is left.
func TestFailedWriteKeepsPrevious(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := build.Write(out, mustBuild(t, clusters())); err != nil {
		t.Fatal(err)
	}
	before := fixture.Dir(t, out)
	bad := mustBuild(t, clusters())
	tr := bad["ncp-lb/lb1"]
	tr.Files = append(tr.Files, targets.File{Path: "/etc/hac/agent.json/x", Mode: 0o644, Data: []byte("x")})
	bad["ncp-lb/lb1"] = tr
	if err := build.Write(out, bad); err == nil {
		t.Fatal("Write of a conflicting tree succeeded")
	}
	if diff := cmp.Diff(string(before), string(fixture.Dir(t, out))); diff != "" {
		t.Errorf("failed write changed the previous build (-before +after):\n%s", diff)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries after a failed write, want only out: %v", len(entries), entries)
	}
}

// TestReplacesWhole checks a rebuild drops files of nodes that are gone.
func TestReplacesWhole(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	if err := build.Write(out, mustBuild(t, clusters())); err != nil {
		t.Fatal(err)
	}
	if err := build.Write(out, mustBuild(t, []*model.Cluster{fixture.Seed()})); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "web")); !os.IsNotExist(err) {
		t.Errorf("cluster web survived a rebuild without it: %v", err)
	}
}

// TestRefusesForeignFolder checks Write never replaces a folder it did
// not write.
func TestRefusesForeignFolder(t *testing.T) {
	out := t.TempDir()
	keep := filepath.Join(out, "precious")
	if err := os.WriteFile(keep, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := build.Write(out, mustBuild(t, clusters()))
	if err == nil || !strings.Contains(err.Error(), "refusing to replace") {
		t.Fatalf("Write over a foreign folder: %v, want a refusal", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("foreign file gone: %v", err)
	}
}

// TestWriteThroughSymlink: an output folder named through a symbolic link
// is rebuilt where the link points, and the link stays (the swap used to
// replace the link with the new tree and leave the old one stale).
func TestWriteThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "data", "out")
	if err := build.Write(real, mustBuild(t, clusters())); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "out")
	if err := os.Symlink(filepath.Join("data", "out"), link); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(real, "stale")
	if err := os.WriteFile(stale, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := build.Write(link, mustBuild(t, clusters())); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link is gone: %v %v", fi.Mode(), err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the linked folder was not rebuilt (a file of the old one is left): %v", err)
	}
	if _, err := os.Stat(filepath.Join(real, build.Marker)); err != nil {
		t.Errorf("the linked folder holds no build: %v", err)
	}
}

// TestOrderAndExpect checks the rolling order (backups first, preferred
// master last) and the expected states in the manifests.
func TestOrderAndExpect(t *testing.T) {
	trees := mustBuild(t, clusters())
	got := map[string]string{}
	for k, tr := range trees {
		got[k] = tr.Summary()
	}
	want := map[string]string{
		"ncp-lb/lb1": "3 files, apply order 1, VI_1 MASTER(200)",
		"ncp-lb/lb2": "3 files, apply order 0, VI_1 BACKUP(100)",
		"web/web1":   "3 files, apply order 1, VI_api BACKUP(100) VI_web MASTER(150)",
		"web/web2":   "3 files, apply order 2, VI_api MASTER(150) VI_web BACKUP(100)",
		"web/web3":   "3 files, apply order 0, VI_api BACKUP(50) VI_web BACKUP(50)",
		"v6/v6a":     "3 files, apply order 1, VI_6 MASTER(120)",
		"v6/v6b":     "3 files, apply order 0, VI_6 BACKUP(110)",
		"gw/r1":      "3 files, apply order 1, VI_in MASTER(200) VI_out MASTER(200)",
		"gw/r2":      "3 files, apply order 0, VI_in BACKUP(100) VI_out BACKUP(100)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summaries (-want +got):\n%s", diff)
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func([]*model.Cluster) []*model.Cluster
		want   string
	}{
		{"duplicate cluster", func(cs []*model.Cluster) []*model.Cluster { return append(cs, fixture.Seed()) }, `two clusters are named "ncp-lb"`},
		{"node name with slash", func(cs []*model.Cluster) []*model.Cluster { cs[0].Nodes[0].Name = "a/b"; return cs }, `node name "a/b" cannot be a folder name`},
		{"cluster name dot-dot", func(cs []*model.Cluster) []*model.Cluster { cs[0].Name = ".."; return cs }, `cluster name ".." cannot be a folder name`},
		{"target error", func(cs []*model.Cluster) []*model.Cluster {
			cs[0].Keepalived = true
			cs[0].Instances[0].Track = []model.TrackInterface{{Interface: "eth1"}}
			return cs
		}, "build ncp-lb/lb1: keepalived: vrrp.VI_1.track_interfaces[0].interface: keepalived always tracks the instance's own interface eth1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build.Build(tt.change(clusters()))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Build error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestNoSecretDigest: the world-readable manifest carries no digest of a
// file that holds a secret (the SHA-256 of agent.json is an offline
// oracle for its 8-character pass), and the tree still checks out.
func TestNoSecretDigest(t *testing.T) {
	for _, tr := range mustBuild(t, clusters()) {
		secrets := 0
		for i, f := range tr.Manifest.Files {
			if !f.Secret {
				continue
			}
			secrets++
			sum := sha256.Sum256(tr.Files[i].Data)
			b, err := manifest.Marshal(tr.Manifest)
			if err != nil {
				t.Fatal(err)
			}
			if f.SHA256 != "" || strings.Contains(string(b), hex.EncodeToString(sum[:])) {
				t.Errorf("%s/%s: the manifest holds the digest of secret file %s", tr.Cluster, tr.Node, f.Path)
			}
		}
		if secrets == 0 {
			t.Errorf("%s/%s: no secret file: the test proves nothing", tr.Cluster, tr.Node)
		}
	}
}

// TestAgentRestartKey: the manifest's AgentRestartKey is the restart key
// (config.RestartKey) of the agent.json built next to it, by which hac
// apply chooses between reloading and restarting the agent; a node that
// runs keepalived has no agent.json and no key.
func TestAgentRestartKey(t *testing.T) {
	for _, fx := range append(fixture.All(), fixture.Named{Name: "seed-keepalived", Cluster: fixture.WithKeepalived(fixture.Seed())}) {
		for _, tr := range mustBuild(t, []*model.Cluster{fx.Cluster}) {
			want := ""
			for _, f := range tr.Files {
				if f.Path != config.DefaultPath {
					continue
				}
				cfg, err := config.Parse(f.Data)
				if err != nil {
					t.Fatal(err)
				}
				want = config.RestartKey(cfg)
			}
			if fx.Cluster.Keepalived != (want == "") {
				t.Errorf("%s: keepalived %v, but agent.json built: %v", tr.Dir(), fx.Cluster.Keepalived, want != "")
			}
			if got := tr.Manifest.AgentRestartKey; got != want {
				t.Errorf("%s: manifest's agent_restart_key = %q, want %q (of the agent.json built)", tr.Dir(), got, want)
			}
		}
	}
}

// TestManifestWithoutPass: the world-readable manifest does not depend on
// the auth pass at all (no digest, no restart key of it): another pass
// changes agent.json and nothing in the manifest.
func TestManifestWithoutPass(t *testing.T) {
	withPass := func(pass string) []*model.Cluster {
		cs := clusters()
		for _, c := range cs {
			for _, in := range c.Instances {
				if in.Auth.Type == model.AuthPass {
					in.Auth.Pass = model.NewSecret(pass, "")
				}
			}
		}
		return cs
	}
	a, b := mustBuild(t, withPass("pass1234")), mustBuild(t, withPass("other987"))
	passes := 0
	for dir, ta := range a {
		tb := b[dir]
		ma, err := manifest.Marshal(ta.Manifest)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := manifest.Marshal(tb.Manifest)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(string(ma), string(mb)); d != "" {
			t.Errorf("%s: the manifest changes with the pass (-pass1234 +other987):\n%s", dir, d)
		}
		for i, f := range ta.Files {
			if f.Path == config.DefaultPath && string(f.Data) != string(tb.Files[i].Data) {
				passes++
			}
		}
	}
	if passes == 0 {
		t.Error("no agent.json holds a pass: the test proves nothing")
	}
}
