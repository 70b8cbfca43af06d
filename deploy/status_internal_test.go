package deploy

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/targets/manifest"
)

// TestClusterDrift covers the one drift checker (hac status and apply's
// verification) on a whole cluster.
func TestClusterDrift(t *testing.T) {
	agentJSON := []byte(`{"format":1,"cluster":"c","node":"x","status_socket":"/run/hac/agent.sock","instances":[{"name":"VI_1","vrid":51,"version":2,"interface":"eth1","priority":200,"advert_int":"1s","preempt":true,"unicast":false,"vips":[],"garp":{"repeat":5,"delay":"5s"}}]}`)
	digest := config.Digest(agentJSON)
	vip := []netip.Prefix{netip.MustParsePrefix("192.168.200.102/32")}
	node := func(name, state string, rep *status.Instance, dig string) *NodeStatus {
		n := &Node{Manifest: &manifest.Manifest{Cluster: "c", Node: name, Expect: []manifest.Expect{{Instance: "VI_1", State: state, Priority: 100}}},
			Files: map[string][]byte{config.DefaultPath: agentJSON}}
		ns := &NodeStatus{Cluster: "c", Node: name, node: n, Error: "connection refused"}
		if rep != nil {
			ns.Report = &status.Report{ConfigDigest: dig, Instances: []status.Instance{*rep}}
		}
		return ns
	}
	master := &status.Instance{Name: "VI_1", State: "MASTER", BasePriority: 100, VIPs: vip, LastAdvertMillis: -1}
	backup := &status.Instance{Name: "VI_1", State: "BACKUP", BasePriority: 100, LastAdvertMillis: 900}
	for _, tc := range []struct {
		name  string
		nodes []*NodeStatus
		want  []string
	}{
		{"healthy", []*NodeStatus{node("a", "MASTER", master, digest), node("b", "BACKUP", backup, digest)}, nil},
		{"split brain", []*NodeStatus{node("a", "MASTER", master, digest), node("b", "BACKUP", master, digest)},
			[]string{"c/instance VI_1 has 2 masters (split brain): a, b"}},
		{"wrong master, VIP on backup, stale adverts, old config",
			[]*NodeStatus{
				node("a", "MASTER", &status.Instance{Name: "VI_1", State: "BACKUP", BasePriority: 100, VIPs: vip, LastAdvertMillis: 5000}, "sha256:old"),
				node("b", "BACKUP", master, digest)},
			[]string{
				"c/a: the agent runs another agent.json than the build: run hac apply",
				"c/a: instance VI_1 is BACKUP but holds VIPs [192.168.200.102/32]",
				"c/a: instance VI_1 heard its master 5s ago (more than 3.5s)",
				"c/instance VI_1: master is b, expected a",
			}},
		{"no master, deaf backup, unreachable", []*NodeStatus{node("a", "MASTER", nil, ""), node("b", "BACKUP", &status.Instance{Name: "VI_1", State: "BACKUP", BasePriority: 100, LastAdvertMillis: -1}, digest)},
			[]string{"c/a: agent status unavailable: connection refused", "c/b: instance VI_1 hears no adverts from its peers", "c/instance VI_1 has no master"}},
		{"only backups in the tree (the master is elsewhere)", []*NodeStatus{node("b", "BACKUP", backup, digest)}, nil},
		{"fault, wrong priority, not running", []*NodeStatus{
			node("a", "MASTER", &status.Instance{Name: "VI_1", State: "FAULT", BasePriority: 90, LastAdvertMillis: -1}, digest),
			node("b", "BACKUP", &status.Instance{Name: "VI_9", State: "BACKUP", BasePriority: 100}, digest)},
			[]string{"c/a: instance VI_1: FAULT, want MASTER", "c/a: instance VI_1: priority 90, want 100", "c/b: instance VI_1 is not running", "c/instance VI_1 has no master"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, clusterDrift("c", tc.nodes)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMask(t *testing.T) {
	in := "  auth_pass s3cr3t\n\"pass\": \"a\\\"b\", \"passive\": \"x\"\n"
	want := "  auth_pass ******\n\"pass\": \"******\", \"passive\": \"x\"\n"
	if diff := cmp.Diff(want, Mask(in)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestAdvertLimit: a backup's advert may be as old as its
// Master_Down_Interval (from the manifest's facts) plus slack.
func TestAdvertLimit(t *testing.T) {
	for _, tc := range []struct {
		e    manifest.Expect
		want time.Duration
	}{
		{manifest.Expect{Priority: 100}, 3500 * time.Millisecond}, // an older manifest
		{manifest.Expect{Priority: 100, Version: 2, AdvertIntMillis: 1000}, 3609375*time.Microsecond + 500*time.Millisecond},
		{manifest.Expect{Priority: 100, Version: 3, AdvertIntMillis: 100}, 360937500*time.Nanosecond + 500*time.Millisecond},
	} {
		if got := advertLimit(tc.e); got != tc.want {
			t.Errorf("advertLimit(%+v) = %v, want %v", tc.e, got, tc.want)
		}
	}
	// A VRRPv3 backup at 100 ms that last heard its master 900 ms ago
	// has missed it (the old fixed 3.5 s let that pass).
	n := &Node{Manifest: &manifest.Manifest{Expect: []manifest.Expect{{Instance: "VI_1", State: "BACKUP", Priority: 100, Version: 3, AdvertIntMillis: 100}}}}
	got := drift([]view{{name: "b", node: n, report: &status.Report{Instances: []status.Instance{{Name: "VI_1", State: "BACKUP", BasePriority: 100, LastAdvertMillis: 900}}}}}, false)
	want := []string{"b: instance VI_1 heard its master 900ms ago (more than 860.9375ms)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("drift (-want +got):\n%s", diff)
	}
}
