package compiler

import (
	"runtime/debug"
	"testing"
)

// gcPercent returns the current GC target.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestRelaxGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	outer := relaxGC()
	inner := relaxGC()
	if got := gcPercent(); got != compileGCPercent {
		t.Fatalf("during two calls: GC percent %d, want %d", got, compileGCPercent)
	}
	outer()
	if got := gcPercent(); got != compileGCPercent {
		t.Fatalf("after the first call ended: GC percent %d, want %d", got, compileGCPercent)
	}
	inner()
	if got := gcPercent(); got != 100 {
		t.Fatalf("after both calls ended: GC percent %d, want 100 restored", got)
	}
}

func TestRelaxGCKeepsUserSetting(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(50))
	t.Setenv("GOGC", "50")
	restore := relaxGC()
	if got := gcPercent(); got != 50 {
		t.Errorf("with GOGC=50 set: GC percent %d, want 50", got)
	}
	restore()
}
