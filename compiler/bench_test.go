package compiler

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"

	"github.com/hac-project/hac/bench/synth"
	"github.com/hac-project/hac/compiler/discover"
)

// benchSizes are the repository sizes of the benchmarks (clusters).
var benchSizes = []int{10, 100, 1000}

// BenchmarkCompile measures Compile on synthetic repositories, and next to
// it bare CUE evaluation of the same files (parse, build, validate, no
// schema and no hac checks, same parallelism), so that the ratio can be
// reported. peak-heap-MB is the largest live heap seen after a run.
func BenchmarkCompile(b *testing.B) {
	for _, n := range benchSizes {
		dir := b.TempDir()
		if err := synth.Write(dir, n); err != nil {
			b.Fatal(err)
		}
		os.Setenv("HAC_BENCH_PASS", "benchpw")
		b.Run(fmt.Sprintf("hac/%d", n), func(b *testing.B) {
			var peak uint64
			for b.Loop() {
				res, err := Compile([]string{dir}, Options{})
				if err != nil || res.Diags.HasErrors() || len(res.Clusters) != n {
					b.Fatalf("Compile: %v, %d clusters, %v", err, len(res.Clusters), errorLines(res.Diags))
				}
				peak = max(peak, heapInUse())
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
		b.Run(fmt.Sprintf("bare-cue/%d", n), func(b *testing.B) {
			names, err := discover.Files([]string{dir}, discover.ClusterExtensions)
			if err != nil {
				b.Fatal(err)
			}
			var peak uint64
			for b.Loop() {
				bareCUE(b, names)
				peak = max(peak, heapInUse())
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}

// bareCUE evaluates each file with cue's API alone.
func bareCUE(b *testing.B, names []string) {
	ctxs := make(chan *cue.Context, runtime.GOMAXPROCS(0))
	for range cap(ctxs) {
		ctxs <- cuecontext.New()
	}
	parallel(len(names), func(i int) {
		ctx := <-ctxs
		defer func() { ctxs <- ctx }()
		src, err := os.ReadFile(names[i])
		if err != nil {
			b.Error(err)
			return
		}
		if err := ctx.CompileBytes(src, cue.Filename(names[i])).Validate(cue.Concrete(true)); err != nil {
			b.Error(err)
		}
	})
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
