package deploy

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hac-project/hac/agent/config"
	"github.com/hac-project/hac/agent/status"
	"github.com/hac-project/hac/targets/manifest"
)

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
	master := &status.Instance{Name: "VI_1", State: "MASTER", VIPs: vip, LastAdvertMillis: -1}
	backup := &status.Instance{Name: "VI_1", State: "BACKUP", LastAdvertMillis: 900}
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
				node("a", "MASTER", &status.Instance{Name: "VI_1", State: "BACKUP", VIPs: vip, LastAdvertMillis: 5000}, "sha256:old"),
				node("b", "BACKUP", master, digest)},
			[]string{
				"c/a: agent runs config sha256:old, the build has " + digest[:19] + ": run hac apply",
				"c/a: instance VI_1 is BACKUP but holds VIPs [192.168.200.102/32]",
				"c/a: instance VI_1 heard its master 5s ago (more than 3.5s)",
				"c/instance VI_1: master is b, expected a",
			}},
		{"no master, deaf backup, unreachable", []*NodeStatus{node("a", "MASTER", nil, ""), node("b", "BACKUP", &status.Instance{Name: "VI_1", State: "BACKUP", LastAdvertMillis: -1}, digest)},
			[]string{"c/a: agent status unavailable: connection refused", "c/b: instance VI_1 hears no adverts from its peers", "c/instance VI_1 has no master"}},
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
