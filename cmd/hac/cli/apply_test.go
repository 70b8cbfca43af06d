package cli

import (
	"os"
	"strings"
	"testing"
)

// TestCheckStatic: a dynamically linked binary (here the system's sh) is
// never what hac installs on the nodes.
func TestCheckStatic(t *testing.T) {
	b, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkStatic(b); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("checkStatic(/bin/sh) = %v, want dynamically linked", err)
	}
	if err := checkStatic([]byte("#!/bin/sh\n")); err == nil || !strings.Contains(err.Error(), "not an ELF binary") {
		t.Errorf("checkStatic(script) = %v, want not an ELF binary", err)
	}
}
