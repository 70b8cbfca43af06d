package status_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func sample() status.Report {
	return status.Report{
		Cluster: "web", Node: "n1", ConfigDigest: "sha256:abcd", Version: "v0.1.0",
		Started: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC),
		Drops:   map[string]uint64{"vrid": 3},
		Instances: []status.Instance{
			{
				Name: "VI_1", VRID: 51, Interface: "eth1", State: "MASTER", Priority: 200, BasePriority: 200,
				Master: netip.MustParseAddr("198.18.0.11"), LastAdvertMillis: -1,
				VIPs:     []netip.Prefix{netip.MustParsePrefix("198.18.0.200/32")},
				Counters: status.Counters{AdvertsSent: 120, Transitions: 2, Drops: map[string]uint64{}},
			},
			{
				Name: "VI_2", VRID: 52, Interface: "eth1", State: "BACKUP", Priority: 1, BasePriority: 100,
				Master: netip.MustParseAddr("198.18.0.12"), LastAdvertMillis: 350, VIPs: []netip.Prefix{},
				Counters: status.Counters{AdvertsReceived: 99, Transitions: 1, VIPRestored: 1, Drops: map[string]uint64{"ttl": 2, "auth": 1}},
				Tracks:   []status.Item{{Name: "eth2", Up: false, Weight: -50}},
				Checks:   []status.Item{{Name: "web", Up: true, Weight: 20}, {Name: "db", Up: true, Weight: 0}},
			},
		},
	}
}

func TestWriteText(t *testing.T) {
	r := sample()
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "status.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), b.String()); d != "" {
		t.Errorf("WriteText (-want +got):\n%s", d)
	}
}

type fakeAgent struct {
	handoffs, takeovers []string
	reloads             int
}

func (f *fakeAgent) Reload() ([]string, error) {
	f.reloads++
	if f.reloads > 1 {
		return nil, errors.New("reload refused, the running configuration stays: instances[0].vrid: 0")
	}
	return []string{"VI_1: kept"}, nil
}

func (f *fakeAgent) Report() status.Report { return sample() }
func (f *fakeAgent) Handoff(name string, release bool) ([]string, error) {
	f.handoffs = append(f.handoffs, name)
	return []string{"VI_1"}, nil
}
func (f *fakeAgent) Takeover(name string, release bool) ([]string, error) {
	f.takeovers = append(f.takeovers, fmt.Sprint(name, release))
	return []string{"VI_1"}, nil
}

func TestSocket(t *testing.T) {
	testenv.NeedRoot(t) // the socket answers root peers only
	path := filepath.Join(t.TempDir(), "run", "agent.sock")
	l, err := status.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := status.Listen(path); err == nil {
		t.Errorf("a second Listen on a live socket succeeded, want an error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeAgent{}
	served := make(chan error, 1)
	go func() { served <- status.Serve(ctx, l, f) }()

	qctx, qcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer qcancel()
	r, err := status.Query(qctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sample(), *r, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Errorf("Query (-want +got):\n%s", d)
	}
	done, err := status.Handoff(qctx, path, "VI_1", false)
	if err != nil || len(done) != 1 || done[0] != "VI_1" || len(f.handoffs) != 1 {
		t.Errorf("Handoff = %v, %v (calls %v), want [VI_1]", done, err, f.handoffs)
	}
	done, err = status.Takeover(qctx, path, "", true)
	if err != nil || len(done) != 1 || cmp.Diff([]string{"true"}, f.takeovers) != "" {
		t.Errorf("Takeover = %v, %v (calls %v), want [VI_1] after one release call", done, err, f.takeovers)
	}
	done, err = status.Reload(qctx, path)
	if d := cmp.Diff([]string{"VI_1: kept"}, done); d != "" || err != nil {
		t.Errorf("Reload = %v (-want +got):\n%s", err, d)
	}
	if _, err := status.Reload(qctx, path); err == nil || !strings.Contains(err.Error(), "instances[0].vrid") {
		t.Errorf("refused Reload = %v, want the problems", err)
	}
	// An endless unterminated line costs MaxRequest bytes, then an answer.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = c.Write(bytes.Repeat([]byte("x"), 1<<20)) }()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var resp status.Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil || resp.Error != "bad request: request longer than 4096 bytes" {
		t.Errorf("answer to an endless line: %+v, %v; want a bad request error", resp, err)
	}
	c.Close()
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	// A stale socket (agent killed) is replaced.
	l2, err := status.Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	l2.Close()
}

// TestListenRefusesOpenDirectory: a status socket in a directory other
// users may write is refused (any user could block the agent's start with
// a file there), before anything is created.
func TestListenRefusesOpenDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "agent.sock")
	l, err := status.Listen(path)
	if err == nil {
		l.Close()
		t.Fatalf("Listen in a world-writable directory succeeded")
	}
	if want := dir + " is writable by other users (mode 1777)"; !strings.Contains(err.Error(), want) {
		t.Errorf("Listen error %q does not say %q", err, want)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("the refused socket was created: %v", err)
	}
}

func TestSummary(t *testing.T) {
	mk := func(states ...string) *status.Report {
		r := &status.Report{}
		for i, s := range states {
			r.Instances = append(r.Instances, status.Instance{Name: fmt.Sprintf("VI_%d", i+1), State: s})
		}
		return r
	}
	for _, tc := range []struct {
		r    *status.Report
		want string
	}{
		{mk("MASTER"), "VI_1 MASTER"},
		{mk("MASTER", "BACKUP", "FAULT", "BACKUP"), "VI_1 MASTER, VI_2 BACKUP, VI_3 FAULT, VI_4 BACKUP"},
		{mk("MASTER", "BACKUP", "MASTER", "BACKUP", "FAULT"), "5 instances: 2 BACKUP, 1 FAULT, 2 MASTER"},
	} {
		if got := tc.r.Summary(); got != tc.want {
			t.Errorf("Summary = %q, want %q", got, tc.want)
		}
	}
}
