// Command gen writes a synthetic hac repository of N two-node clusters,
// one file per cluster, for benchmarks: go run ./bench/gen -n 1000 -o /tmp/repo.
package main

import (
	"flag"
	"log"

	"github.com/hac-project/hac/bench/synth"
)

func main() {
	n := flag.Int("n", 100, "number of clusters")
	out := flag.String("o", "", "output directory (required)")
	flag.Parse()
	if *out == "" || *n < 1 || *n > 65536 {
		log.Fatal("usage: gen -n N (1..65536) -o DIR")
	}
	if err := synth.Write(*out, *n); err != nil {
		log.Fatal(err)
	}
}
