package compiler

import (
	"os"
	"runtime/debug"
	"sync"
)

// compileGCPercent is the garbage collector's target while Compile runs.
// CUE evaluation allocates a lot of short-lived memory while the live heap
// stays small (a worker keeps at most renewAfter groups), so the default
// GOGC=100 collects very often: in hac vet on 1,000 clusters the collector
// took about a quarter of the CPU. At 200 it takes half as much, for about
// 10 MB more peak memory.
const compileGCPercent = 200

// gcState counts the running Compile calls, so that concurrent calls
// restore the setting they found only when the last one ends.
var gcState struct {
	sync.Mutex
	running int
	saved   int
}

// relaxGC raises the GC target to compileGCPercent, unless the user set
// GOGC, and returns the function that restores it.
func relaxGC() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	gcState.Lock()
	defer gcState.Unlock()
	if gcState.running == 0 {
		gcState.saved = debug.SetGCPercent(compileGCPercent)
	}
	gcState.running++
	return func() {
		gcState.Lock()
		defer gcState.Unlock()
		gcState.running--
		if gcState.running == 0 {
			debug.SetGCPercent(gcState.saved)
		}
	}
}
