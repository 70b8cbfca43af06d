// Package apply benchmarks hac plan and hac apply over real SSH: 20
// clusters of 2 nodes, each node its own local sshd (Debian's OpenSSH),
// with and without changes.
//
//	go test -run '^$' -bench . -benchtime 5x ./bench/apply
//
// Metrics: ns/op is the wall time of one plan (or plan+apply) over all 40
// nodes; ms/node divides it by the nodes; hac-cpu-ms/node is hac's own
// processor time per node and sshd-cpu-ms/node the nodes' side (sshd, the
// login shell and the commands hac runs). All 40 sshd share this machine's
// cores with hac, so on a small machine the wall time measures sshd more
// than hac: compare hac-cpu-ms/node.
package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hac-project/hac/deploy"
	"github.com/hac-project/hac/deploy/sshconn"
	"github.com/hac-project/hac/deploy/sshtest"
	"github.com/hac-project/hac/targets/manifest"
)

const (
	clusters = 20
	perNode  = 2
	nodes    = clusters * perNode
)

// fleet is 40 sshd and the dialer that trusts them.
type fleet struct {
	servers []*sshtest.Server
	dialer  *sshconn.Dialer
	root    string
}

func newFleet(b *testing.B) *fleet {
	b.Helper()
	dir := b.TempDir()
	key, pub := sshtest.ClientKey(b, dir)
	f := &fleet{root: b.TempDir()}
	var known strings.Builder
	for range nodes {
		s := sshtest.Start(b, sshtest.Options{ClientKeys: []string{pub}})
		f.servers = append(f.servers, s)
		known.WriteString(s.KnownHostsLine() + "\n")
	}
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(known.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	d, err := sshconn.NewDialer(sshconn.Options{ConfigFile: "none", KnownHosts: []string{kh}, IdentityFiles: []string{key}, NoAgent: true})
	if err != nil {
		b.Fatal(err)
	}
	f.dialer = d
	return f
}

// tree is the fleet's files; version changes every file's content.
func (f *fleet) tree(b *testing.B, version int) *deploy.Tree {
	b.Helper()
	var ns []*deploy.Node
	for i, s := range f.servers {
		c, n := fmt.Sprintf("c%02d", i/perNode), fmt.Sprintf("n%d", i%perNode)
		m := &manifest.Manifest{Format: manifest.FormatVersion, Cluster: c, Node: n, Order: i % perNode,
			SSH: manifest.SSH{Host: s.Host, Port: s.Port, User: "root"}}
		node := &deploy.Node{Manifest: m, Files: map[string][]byte{}}
		files := []struct {
			path     string
			mode     manifest.Mode
			activate string
			data     string
		}{
			{"/etc/hac/agent.json", 0o600, "true", fmt.Sprintf(`{"format":1,"cluster":%q,"node":%q,"version":%d}`+"\n", c, n, version)},
			{"/etc/network/interfaces.d/hac-eth1", 0o644, "", strings.Repeat("# padding line of a config file\n", 10) + fmt.Sprintf("# v%d\n", version)},
			{"/etc/systemd/system/hac-agent.service", 0o644, "true", strings.Repeat("Key=value\n", 40) + fmt.Sprintf("# v%d\n", version)},
		}
		for _, fl := range files {
			sum := sha256.Sum256([]byte(fl.data))
			m.Files = append(m.Files, manifest.File{Path: fl.path, Mode: fl.mode, SHA256: hex.EncodeToString(sum[:]), Activate: fl.activate})
			node.Files[fl.path] = []byte(fl.data)
		}
		ns = append(ns, node)
	}
	t, err := deploy.NewTree(ns)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

func (f *fleet) deployer() *deploy.Deployer {
	return deploy.New(f.dialer, deploy.Options{Root: f.root + "/{cluster}/{node}", Parallel: clusters})
}

// run plans (and applies, when apply is set) once and checks the result.
func (f *fleet) run(b *testing.B, t *deploy.Tree, apply, wantChanges bool) {
	d := f.deployer()
	p := d.Plan(context.Background(), t)
	defer p.Close()
	if err := p.Err(); err != nil {
		b.Fatal(err, p.Nodes[0].Error)
	}
	if p.Changed() != wantChanges {
		b.Fatalf("plan changed = %v, want %v", p.Changed(), wantChanges)
	}
	if apply {
		if r := d.Apply(context.Background(), p); !r.OK() {
			b.Fatalf("apply failed: %+v", r.Nodes)
		}
	}
}

// meter measures wall time and the processor time of hac (the client)
// and of every sshd (the nodes' side, sessions included).
type meter struct {
	start          time.Time
	client, server time.Duration
}

func (f *fleet) startMeter() meter {
	return meter{start: time.Now(), client: selfCPU(), server: f.serverCPU()}
}

func (f *fleet) serverCPU() time.Duration {
	var sum time.Duration
	for _, s := range f.servers {
		sum += s.CPU()
	}
	return sum
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report gives, per node: wall time, hac's processor time and sshd's.
func (f *fleet) report(b *testing.B, m meter) {
	wall := time.Since(m.start)
	client := selfCPU() - m.client
	b.StopTimer()
	time.Sleep(200 * time.Millisecond) // let sshd reap the last sessions
	server := f.serverCPU() - m.server
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N*nodes) }
	b.ReportMetric(per(wall), "ms/node")
	b.ReportMetric(per(client), "hac-cpu-ms/node")
	b.ReportMetric(per(server), "sshd-cpu-ms/node")
}

func BenchmarkPlanNoChange(b *testing.B)  { benchNoChange(b, false) }
func BenchmarkApplyNoChange(b *testing.B) { benchNoChange(b, true) }

// benchNoChange measures a plan (or a plan and an apply) of a fleet that
// is already up to date.
func benchNoChange(b *testing.B, apply bool) {
	f := newFleet(b)
	t := f.tree(b, 0)
	f.run(b, t, true, true)
	b.ResetTimer()
	m := f.startMeter()
	for range b.N {
		f.run(b, t, apply, false)
	}
	f.report(b, m)
}

func BenchmarkApplyChange(b *testing.B) {
	f := newFleet(b)
	f.run(b, f.tree(b, 0), true, true)
	trees := make([]*deploy.Tree, b.N)
	for i := range trees {
		trees[i] = f.tree(b, i+1)
	}
	b.ResetTimer()
	m := f.startMeter()
	for i := range b.N {
		f.run(b, trees[i], true, true)
	}
	f.report(b, m)
}
