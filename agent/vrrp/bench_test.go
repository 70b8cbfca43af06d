package vrrp_test

import (
	"testing"

	"github.com/hac-project/hac/agent/vrrp"
)

// BenchmarkMarshal and BenchmarkParse measure the per-advert codec cost
// (go test -bench . ./agent/vrrp).
func BenchmarkMarshal(b *testing.B) {
	g := golden[6] // VRRPv3 IPv6, two addresses
	buf := make([]byte, 0, g.p.Len())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.p.AppendMarshal(buf, g.src, g.dst); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	g := golden[6]
	msg, err := g.p.Marshal(g.src, g.dst)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := vrrp.Parse(msg, g.src, g.dst); err != nil {
			b.Fatal(err)
		}
	}
}
