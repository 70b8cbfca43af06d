package netns_test

import (
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hac-project/hac/internal/netns"
)

func TestBed(t *testing.T) {
	t.Parallel()
	bed := netns.New(t, netns.Spec{Nodes: []string{"n1", "n2"}, IPv6: true})
	n1, n2 := bed.Node("n1"), bed.Node("n2")
	if got, want := n1.Addr, netip.MustParseAddr("198.18.0.11"); got != want {
		t.Errorf("n1.Addr = %v, want %v", got, want)
	}
	if !bed.HasAddr(n2.NS, netns.NodeIface, n2.Addr) || !bed.HasAddr(n2.NS, netns.NodeIface, n2.Addr6) {
		t.Errorf("n2 addresses %v lack %v or %v", bed.Addrs(n2.NS, netns.NodeIface), n2.Addr, n2.Addr6)
	}
	for _, a := range []netip.Addr{n1.Addr, n2.Addr, n1.Addr6} {
		if !bed.Answers(a, 2*time.Second) {
			t.Errorf("%v does not answer the client", a)
		}
	}

	p := bed.Probe(n1.Addr, 10*time.Millisecond)
	bed.Eventually(2*time.Second, "no probe reply", func() bool { return p.Replies() > 0 })
	bed.CutLink(n1)
	if bed.Answers(n1.Addr, 300*time.Millisecond) {
		t.Errorf("n1 answers with its link cut")
	}
	if got := strings.TrimSpace(bed.Exec(n1.NS, "cat", "/sys/class/net/eth1/carrier")); got != "0" {
		t.Errorf("n1 carrier after CutLink = %s, want 0", got)
	}
	bed.Heal(n1)
	bed.Eventually(3*time.Second, "n1 does not answer after Heal", func() bool { return bed.Answers(n1.Addr, 100*time.Millisecond) })
	r := p.Stop()
	if r.Lost == 0 || r.MaxGap < 300*time.Millisecond {
		t.Errorf("probe across a cut link: %v, want losses and a gap of at least 300ms", r)
	}

	bed.Isolate(n2)
	if bed.Answers(n2.Addr, 300*time.Millisecond) {
		t.Errorf("n2 answers while isolated")
	}
	if got := strings.TrimSpace(bed.Exec(n2.NS, "cat", "/sys/class/net/eth1/carrier")); got != "1" {
		t.Errorf("n2 carrier after Isolate = %s, want 1 (split brain keeps carrier)", got)
	}
	bed.Heal(n2)

	cmd := bed.Command(n1.NS, "sleep", "60")
	bed.Start(cmd)
	bed.Signal(cmd, syscall.SIGTERM)
	if err := bed.Wait(cmd, 5*time.Second); err == nil {
		t.Errorf("sleep killed by SIGTERM exited without error")
	}
}

func TestDo(t *testing.T) {
	t.Parallel()
	bed := netns.New(t, netns.Spec{Nodes: []string{"a"}})
	var name string
	err := netns.Do(bed.Node("a").NS, func() error {
		b, err := os.ReadFile("/proc/thread-self/net/dev")
		name = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(name, netns.NodeIface+":") {
		t.Errorf("/proc/thread-self/net/dev inside the node namespace lacks %s:\n%s", netns.NodeIface, name)
	}
}

// TestProberLongRun: a probe that outlives the 16-bit ICMP sequence
// numbers keeps counting replies (it used to stop at 65,536).
func TestProberLongRun(t *testing.T) {
	t.Parallel()
	bed := netns.New(t, netns.Spec{Nodes: []string{"a"}})
	p := bed.Probe(bed.Node("a").Addr, 20*time.Microsecond)
	deadline := time.Now().Add(60 * time.Second)
	for p.Result().Sent < 70000 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	r := p.Stop()
	t.Logf("probe: %v", r)
	if r.Sent < 70000 {
		t.Fatalf("only %d probes sent in 60s (about 2s on this project's machine)", r.Sent)
	}
	if r.Received <= 1<<16 {
		t.Errorf("received %d of %d probes: replies stop being counted after 65,536", r.Received, r.Sent)
	}
}
