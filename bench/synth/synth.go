// Package synth generates synthetic hac repositories for benchmarks: N
// two-node clusters, one file each.
package synth

import (
	"fmt"
	"os"
	"path/filepath"
)

// Cluster returns the CUE source of synthetic cluster i: its own /24 in
// 10.0.0.0/8 (so VRIDs may repeat), two nodes, one VRRP instance.
func Cluster(i int) string {
	a, b := (i/256)%256, i%256
	return fmt.Sprintf(`clusters: "c%[1]d": {
	network: {interface: "eth1", subnet: "10.%[2]d.%[3]d.0/24"}
	nodes: {
		n1: {address: "10.%[2]d.%[3]d.11", ssh: host: "c%[1]d-n1.example.net"}
		n2: {address: "10.%[2]d.%[3]d.12", ssh: host: "c%[1]d-n2.example.net"}
	}
	vrrp: VI_1: {
		virtual_router_id: %[4]d
		priority: {n1: 200, n2: 100}
		auth: {type: "PASS", pass: {env: "HAC_BENCH_PASS"}}
		vips: ["10.%[2]d.%[3]d.100"]
		checks: web: {command: ["/bin/true"], weight: -150}
	}
	render: network: "netplan"
}
`, i, a, b, i%255+1)
}

// Write writes n clusters under dir, in subfolders of 1000 files.
func Write(dir string, n int) error {
	for i := range n {
		sub := filepath.Join(dir, fmt.Sprintf("part%03d", i/1000))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("c%d.cue", i)), []byte(Cluster(i)), 0o644); err != nil {
			return err
		}
	}
	return nil
}
