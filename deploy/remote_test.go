package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hac-project/hac/deploy/sshconn"
	"github.com/hac-project/hac/internal/testenv"
	"github.com/hac-project/hac/targets"
	"github.com/hac-project/hac/targets/manifest"
)

// answer is a Conn whose commands all print the same bytes.
type answer []byte

func (a answer) Run(context.Context, string, string, io.Reader) ([]byte, error) { return a, nil }
func (a answer) Close() error                                                   { return nil }

// localShell runs commands with the local sh: the scripts' own logic,
// without SSH.
type localShell struct{}

func (localShell) Run(ctx context.Context, _, cmd string, stdin io.Reader) ([]byte, error) {
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.Stdin = stdin
	return c.Output()
}
func (localShell) Close() error { return nil }

func TestReadScript(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(exec.Command("sh", "-c", `cd "$1" && printf 'a\nb' > f1 && chmod 640 f1 && : > empty && printf "it's\n" > f2 && chmod 4755 f2`, "sh", dir).Run())
	paths := []string{dir + "/f1", dir + "/missing", dir + "/empty", dir + "/f2"}
	got, err := readFiles(context.Background(), localShell{}, paths)
	must(err)
	u, err := user.Current()
	must(err)
	g, err := user.LookupGroupId(strconv.Itoa(os.Getegid()))
	must(err)
	file := func(mode uint32, content string) remoteFile {
		return remoteFile{exists: true, mode: mode, owner: u.Username, group: g.Name, content: []byte(content)}
	}
	want := []remoteFile{file(0o640, "a\nb"), {}, file(0o644, ""), file(0o4755, "it's\n")}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(remoteFile{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := readFiles(context.Background(), localShell{}, []string{dir}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: err = %v", err)
	}
}

func FuzzReadFiles(f *testing.F) {
	f.Add(2, []byte("F\nN\n644 root root 3\n--\nabc"))
	f.Add(1, []byte("N\n"))
	f.Add(1, []byte("F\n600 root root 10\n--\nabc"))
	f.Add(1, []byte("F\n600 UNKNOWN UNKNOWN -1\n--\n"))
	f.Add(1, []byte("F\n600 root 3\n--\nabc"))
	f.Fuzz(func(t *testing.T, n int, out []byte) {
		if n < 0 || n > 8 {
			return
		}
		paths := make([]string, n)
		files, err := readFiles(context.Background(), answer(out), paths)
		if err != nil {
			return
		}
		total := 0
		for _, f := range files {
			total += len(f.content)
		}
		if total > len(out) {
			t.Fatalf("contents (%d bytes) longer than the answer (%d)", total, len(out))
		}
	})
}

// asNobody runs commands with the local sh as user nobody.
type asNobody struct{ setpriv string }

func (a asNobody) Run(ctx context.Context, _, cmd string, stdin io.Reader) ([]byte, error) {
	c := exec.CommandContext(ctx, a.setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", cmd)
	c.Stdin = stdin
	return c.Output()
}
func (asNobody) Close() error { return nil }

// TestChownFailureSaysWhy: a staged file that cannot get its owner stops
// the apply before anything changes, saying what to do.
func TestChownFailureSaysWhy(t *testing.T) {
	testenv.NeedRoot(t)
	nobody := asNobody{testenv.NeedTool(t, "setpriv")}
	dir := t.TempDir()
	// nobody must reach dir (t.TempDir's parent is private) and write in it.
	for d, mode := range map[string]os.FileMode{filepath.Dir(dir): 0o755, dir: 0o777} {
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name  string
		conn  Conn
		owner string
		want  string
	}{
		{"not root", nobody, "root:root", "hac is logged in as nobody, not root: log in as root (ssh.user: \"root\"), or set ssh.become: \"sudo\" with a NOPASSWD sudo rule"},
		{"no such user", localShell{}, "hac-no-such-user:root", "does that user and group exist on the node?"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := dir + "/" + strings.ReplaceAll(tt.name, " ", "-") + ".conf"
			_, err := tt.conn.Run(context.Background(), "upload", shell(stageScript, p, "0644", tt.owner, "tok"), strings.NewReader("x\n"))
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(string(ee.Stderr), "cannot chown "+p+" to "+tt.owner+": "+tt.want) {
				t.Fatalf("err = %v, stderr %q; want exit status 3 and %q", err, stderrOf(err), tt.want)
			}
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("target written despite the failure: %v", err)
			}
		})
	}
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

// fakeSudo is a Conn running commands with the local sh and PATH starting
// with a folder holding an "id" that says admin and a "sudo" script (none:
// sudo is missing, a shell answers 127): one that runs its command (after
// checking for -n and --), or one that wants a password.
type fakeSudo struct {
	dir  string
	cmds *[]string
}

// The sudo scripts of fakeSudo: one that works, one that wants a password.
const (
	sudoWorks        = "#!/bin/sh\n[ \"$1\" = -n ] || { echo 'sudo: no -n' >&2; exit 9; }\nshift\n[ \"$1\" = -- ] && shift\nexec \"$@\"\n"
	sudoWantsPasword = "#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n"
)

func newFakeSudo(t *testing.T, script string) fakeSudo {
	dir := t.TempDir()
	if script != "" {
		if err := os.WriteFile(filepath.Join(dir, "sudo"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The login user is admin.
	if err := os.WriteFile(filepath.Join(dir, "id"), []byte("#!/bin/sh\necho admin\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return fakeSudo{dir: dir, cmds: new([]string)}
}

func (f fakeSudo) Run(ctx context.Context, what, cmd string, stdin io.Reader) ([]byte, error) {
	*f.cmds = append(*f.cmds, cmd)
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.Env = append(os.Environ(), "PATH="+f.dir+":/usr/bin:/bin")
	if _, err := os.Stat(filepath.Join(f.dir, "sudo")); err != nil {
		c.Env = append(os.Environ(), "PATH="+f.dir) // no sudo anywhere
	}
	c.Stdin = stdin
	out, err := c.Output()
	if err != nil {
		status := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			status = ee.ExitCode()
		}
		return out, &sshconn.RunError{Host: "lb1", What: what, Status: status, Stderr: stderrOf(err), Err: err}
	}
	return out, nil
}
func (fakeSudo) Close() error { return nil }

func sudoNode(become string) *Node {
	return &Node{Manifest: &manifest.Manifest{Cluster: "ncp", Node: "lb1", SSH: manifest.SSH{Host: "lb1", User: "admin", Become: become}}}
}

// TestBecomeSudo: with ssh.become "sudo" every command runs as one
// argument of "sudo -n -- sh -c": pipes, redirections, variables, quotes
// and stdin arrive unchanged.
func TestBecomeSudo(t *testing.T) {
	f := newFakeSudo(t, sudoWorks)
	c, err := become(context.Background(), f, sudoNode("sudo"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := shell(`x="it's $1"; tr a-z A-Z | sed "s/^/$x: /" > "$2" && cat "$2" | wc -l`, "a 'quoted' $word", dir+"/out file")
	out, err := c.Run(context.Background(), "test", cmd, strings.NewReader("line one\nline two\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "2" {
		t.Errorf("output %q, want 2", got)
	}
	b, _ := os.ReadFile(dir + "/out file")
	want := "it's a 'quoted' $word: LINE ONE\nit's a 'quoted' $word: LINE TWO\n"
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("written file (-want +got):\n%s", diff)
	}
	got := *f.cmds
	if len(got) != 2 || got[0] != "id -un && sudo -n true" || !strings.HasPrefix(got[1], "sudo -n -- sh -c ") {
		t.Errorf("commands: %q, want the preflight then the command through sudo -n", got)
	}
}

// TestBecomeSudoRefused: a sudo that cannot run without a password, a
// terminal or at all fails the connection at once, naming the node and
// the fix; nothing else runs.
func TestBecomeSudoRefused(t *testing.T) {
	for _, tt := range []struct{ name, sudo, want string }{
		{"wants a password", sudoWantsPasword, "lb1: check sudo: exit status 1: sudo: a password is required: ssh.become is \"sudo\" and hac runs every command through \"sudo -n\": it cannot type a password: " +
			"give admin a NOPASSWD rule on the node (as root: echo 'admin ALL=(root) NOPASSWD: ALL' > /etc/sudoers.d/hac && chmod 0440 /etc/sudoers.d/hac; check it with visudo -c). Nothing was changed"},
		{"wants a terminal", "#!/bin/sh\necho 'sudo: sorry, you must have a tty to run sudo' >&2\nexit 1\n",
			"sudo wants a terminal, which hac does not open: let admin use sudo without one (as root: echo 'Defaults:admin !requiretty' > /etc/sudoers.d/hac-tty"},
		{"missing", "", "ssh.become is \"sudo\" and hac runs every command through \"sudo -n\": sudo is not installed on the node: install it"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSudo(t, tt.sudo)
			_, err := become(context.Background(), f, sudoNode("sudo"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant it to contain %q", err, tt.want)
			}
			if len(*f.cmds) != 1 {
				t.Errorf("commands after the failed check: %q", *f.cmds)
			}
		})
	}
}

// TestBecomeRoot: without ssh.become the connection is used as it is.
func TestBecomeRoot(t *testing.T) {
	f := newFakeSudo(t, sudoWantsPasword)
	c, err := become(context.Background(), f, sudoNode(""))
	if err != nil || c != Conn(f) || len(*f.cmds) != 0 {
		t.Errorf("become without ssh.become: %v, %v, commands %q", c, err, *f.cmds)
	}
}

// TestPlanAgent: what plan says and does about the node's hac-agent and
// hac-metrics, from the node's answers (uname -m, whether an older apply
// installed the whole hac, then for each binary whether hac installed
// it, its SHA-256 or "none", its version line).
func TestPlanAgent(t *testing.T) {
	agent, metrics := []byte("\x7fELF new hac-agent"), []byte("\x7fELF new hac-metrics")
	sum, msum := digest(agent), digest(metrics)
	const (
		bin, rec   = "/r/usr/local/sbin/hac-agent", "/r/var/lib/hac/installed-hac-agent"
		mbin, mrec = "/r/usr/local/sbin/hac-metrics", "/r/var/lib/hac/installed-hac-metrics"
	)
	current := "recorded\n" + msum + "\nhac-metrics v2\n" // the node's hac-metrics is this one
	for _, tt := range []struct {
		name, answer string
		wantNote     string   // np.Agent
		wantChanges  []string // the binaries and records installed
		wantStale    int      // 2: the whole hac an older apply installed, and its record; 1: the record alone
		wantErr      string
	}{
		{"missing", "x86_64\nnone\nunrecorded\nnone\n\nunrecorded\nnone\n\n",
			"hac-agent missing: installs hac-agent v2; hac-metrics missing: installs hac-metrics v2", []string{bin, rec, mbin, mrec}, 0, ""},
		{"older version", "x86_64\nnone\nrecorded\n0123abcd\nhac-agent v1 (go1.24)\nrecorded\n4567cdef\nhac-metrics v1 (go1.24)\n",
			"hac-agent version differs: the node runs hac-agent v1 (go1.24), installs hac-agent v2; " +
				"hac-metrics version differs: the node runs hac-metrics v1 (go1.24), installs hac-metrics v2", []string{bin, mbin}, 0, ""},
		{"same version, other build", "x86_64\nnone\nrecorded\n0123abcd\nhac-agent v2\n" + current,
			"hac-agent binary differs (same version hac-agent v2): installs this one", []string{bin}, 0, ""},
		{"silent binary", "x86_64\nnone\nrecorded\n0123abcd\n\n" + current,
			"hac-agent version differs: the node's /usr/local/sbin/hac-agent does not say its version; installs hac-agent v2", []string{bin}, 0, ""},
		{"up to date", "x86_64\nnone\nunrecorded\n" + sum + "\nhac-agent v2\n" + current, "", nil, 0, ""},
		// A node an older hac applied: the current hac-agent, no hac-metrics.
		{"hac-metrics missing", "x86_64\nnone\nrecorded\n" + sum + "\nhac-agent v2\nunrecorded\nnone\n\n",
			"hac-metrics missing: installs hac-metrics v2", []string{mbin, mrec}, 0, ""},
		{"hac-metrics of another version", "x86_64\nnone\nrecorded\n" + sum + "\nhac-agent v2\nrecorded\n4567cdef\nhac-metrics v1\n",
			"hac-metrics version differs: the node runs hac-metrics v1, installs hac-metrics v2", []string{mbin}, 0, ""},
		// The operator's hac-agent stays unrecorded: hac destroy keeps it.
		{"hac-metrics missing next to the operator's hac-agent", "x86_64\nnone\nunrecorded\n" + sum + "\nhac-agent v2\nunrecorded\nnone\n\n",
			"hac-metrics missing: installs hac-metrics v2", []string{mbin, mrec}, 0, ""},
		{"hac as the agent", "x86_64\nlegacy\nunrecorded\nnone\n\nunrecorded\nnone\n\n",
			"hac-agent missing: installs hac-agent v2; hac-metrics missing: installs hac-metrics v2", []string{bin, rec, mbin, mrec}, 2, ""},
		{"hac as the agent, up to date", "x86_64\nlegacy\nrecorded\n" + sum + "\nhac-agent v2\n" + current, "", nil, 2, ""},
		{"hac's record alone", "x86_64\nrecord\nrecorded\n" + sum + "\nhac-agent v2\n" + current, "", nil, 1, ""},
		{"other architecture", "aarch64\nnone\nunrecorded\nnone\n\nunrecorded\nnone\n\n", "", nil, 0,
			"the node is aarch64 (uname -m), the hac-agent and hac-metrics to install are built for x86_64 and would not run there"},
		{"garbled", "x86_64\nnone\n", "", nil, 0, "check the installed hac-agent and hac-metrics: unexpected answer"},
		{"an older hac's answer", "x86_64\nrecorded\nnone\nnone\n", "", nil, 0, "check the installed hac-agent and hac-metrics: unexpected answer"},
		{"garbled legacy", "x86_64\nmaybe\nunrecorded\nnone\n\nunrecorded\nnone\n\n", "", nil, 0, "unexpected answer"},
		{"garbled record", "x86_64\nnone\nunrecorded\nnone\n\nmaybe\nnone\n\n", "", nil, 0, "unexpected answer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := &Deployer{Options: Options{Agent: &Agent{Binary: agent, Version: "hac-agent v2", Metrics: metrics, MetricsVersion: "hac-metrics v2", Machine: "x86_64"}}}
			np := &NodePlan{root: "/r"}
			cs, err := d.planAgent(context.Background(), np, answer(tt.answer))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantNote, np.Agent); diff != "" {
				t.Errorf("note (-want +got):\n%s", diff)
			}
			var got []string
			for _, c := range cs {
				got = append(got, c.remote)
				if of, ok := map[string]string{rec: "/usr/local/sbin/hac-agent", mrec: "/usr/local/sbin/hac-metrics"}[c.remote]; ok {
					if want := "hac apply installed " + of + ": hac destroy removes it\n"; string(c.data) != want || c.file.Mode != 0o644 || c.file.Activate != "" {
						t.Errorf("record %s: %+v %q, want %q", c.remote, c.file, c.data, want)
					}
					continue
				}
				want := map[string][]byte{bin: agent, mbin: metrics}[c.remote]
				if c.file.SHA256 != digest(want) || c.file.Mode != 0o755 || c.file.Owner != "root" || c.file.Activate != targets.ActivateAgent || !bytes.Equal(c.data, want) {
					t.Errorf("change of %s: %+v", c.remote, c.file)
				}
			}
			if diff := cmp.Diff(tt.wantChanges, got); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			var stale []string
			for _, c := range np.stale {
				stale = append(stale, c.remote)
			}
			if want := []string{"/r/usr/local/bin/hac", "/r/var/lib/hac/installed-hac"}[2-tt.wantStale:]; !slices.Equal(stale, want) {
				t.Errorf("stale %v, want %v", stale, want)
			}
		})
	}
}

// TestPlanAgentMissing: with no hac-agent to install (Agent.Err), a node
// that runs the agent cannot be planned, and says why; nothing is asked of
// the node.
func TestPlanAgentMissing(t *testing.T) {
	why := errors.New("open /usr/bin/hac-agent: no such file or directory: install it next to hac")
	d := &Deployer{Options: Options{Agent: &Agent{Err: why}}}
	cs, err := d.planAgent(context.Background(), &NodePlan{}, answer("never asked"))
	if !errors.Is(err, why) || len(cs) != 0 {
		t.Errorf("planAgent = %d changes, %v; want the reason %v", len(cs), err, why)
	}
}

// FuzzPlanAgent: whatever the node answers about its hac, planAgent never
// panics, and it plans the binary only with a reason to show.
func FuzzPlanAgent(f *testing.F) {
	f.Add([]byte("x86_64\nnone\nunrecorded\nnone\n\nunrecorded\nnone\n\n"))
	f.Add([]byte("x86_64\nlegacy\nrecorded\n0123abcd\nhac-agent v1 (go1.24)\nrecorded\n4567\n\n"))
	f.Add([]byte("aarch64\n\n\n"))
	f.Add([]byte("x86_64\nrecorded\nrecord\nnone\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		d := &Deployer{Options: Options{Agent: &Agent{Binary: []byte("hac-agent"), Version: "hac-agent v2", Metrics: []byte("hac-metrics"), MetricsVersion: "hac-metrics v2", Machine: "x86_64"}}}
		np := &NodePlan{}
		cs, err := d.planAgent(context.Background(), np, answer(in))
		if err == nil && len(cs) > 0 && (np.Agent == "" || (cs[0].file.Path != AgentBinaryPath && cs[0].file.Path != MetricsBinaryPath)) {
			t.Errorf("planned %d changes, reason %q", len(cs), np.Agent)
		}
	})
}

// TestCheckAgentInstalled: with --install-agent=false, a node that is to
// run the agent and has no hac-agent is refused when planned, saying
// what to do; one that has it is planned.
func TestCheckAgentInstalled(t *testing.T) {
	for _, tt := range []struct {
		name, answer, wantErr string
	}{
		{"both installed", "", ""},
		{"no hac-metrics", "/usr/local/sbin/hac-metrics\n", "/usr/local/sbin/hac-metrics missing on the node, and --install-agent=false leaves hac-agent and hac-metrics to you: " +
			"install them as /usr/local/sbin/hac-agent and /usr/local/sbin/hac-metrics (make build writes them next to hac)"},
		{"neither", "/usr/local/sbin/hac-agent\n/usr/local/sbin/hac-metrics\n", "/usr/local/sbin/hac-agent and /usr/local/sbin/hac-metrics missing on the node"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkAgentInstalled(context.Background(), answer(tt.answer))
			if got := fmt.Sprint(err); (tt.wantErr == "") != (err == nil) || !strings.Contains(got, tt.wantErr) {
				t.Errorf("checkAgentInstalled = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
