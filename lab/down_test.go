package lab

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestDownLeavesOtherFolders: Down removes a root folder only when up made
// it (the marker). It used to remove any folder without a state.json
// whole: hac lab down --root /tmp (or a project) deleted it.
func TestDownLeavesOtherFolders(t *testing.T) {
	write := func(path string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	other := t.TempDir()
	write(filepath.Join(other, "src", "main.go"))
	if err := Down(other); !errors.Is(err, ErrNotUp) {
		t.Errorf("Down(a folder with no lab) = %v, want ErrNotUp", err)
	}
	if _, err := Heal(other, "lb1"); !errors.Is(err, ErrNotUp) {
		t.Errorf("Heal(a folder with no lab) = %v, want ErrNotUp", err)
	}
	if _, err := os.Stat(filepath.Join(other, "src", "main.go")); err != nil {
		t.Errorf("Down removed a file it did not make: %v", err)
	}
	if _, err := os.Stat(filepath.Join(other, "lock")); err == nil {
		t.Errorf("Heal left a lock file in a folder that is not a lab's")
	}

	// A state.json without the marker is not up's either.
	write(filepath.Join(other, "state.json"))
	if err := Down(other); err == nil {
		t.Errorf("Down(a folder with a foreign state.json) succeeded")
	}
	if _, err := os.Stat(filepath.Join(other, "src", "main.go")); err != nil {
		t.Errorf("Down removed a file it did not make: %v", err)
	}

	// Up killed right after it made the folder: the marker alone; Down
	// removes it.
	killed := filepath.Join(t.TempDir(), "lab")
	write(filepath.Join(killed, Marker))
	write(filepath.Join(killed, "nodes", "lb1", "agent.json"))
	if err := Down(killed); err != nil {
		t.Errorf("Down(a lab killed before its state) = %v", err)
	}
	if _, err := os.Stat(killed); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the lab's folder is left: %v", err)
	}
}
