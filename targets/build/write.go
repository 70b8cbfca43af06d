package build

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/hac-project/hac/compiler/discover"
	"github.com/hac-project/hac/targets/manifest"
)

// Marker is the file at the top of every output directory. Write only
// replaces a directory that holds it (or an empty one), so a mistyped -o
// never wipes an unrelated folder.
const Marker = discover.BuildMarker

const markerText = "This folder is written by hac build and replaced whole by the next build.\n"

// Write writes trees below outDir, replacing whatever hac build wrote
// there before. It builds the new tree in a temporary folder next to
// outDir, syncs it to disk and swaps it in with one rename, so outDir
// always holds either the previous build or the new one, never a mix.
// The output is deterministic: the same trees give byte-identical files
// with the same modes. Files keep their modes (secrets 0600), folders are
// 0755 and outDir itself 0700, as it holds secrets. A symbolic link at
// outDir is followed and kept.
func Write(outDir string, trees map[string]Tree) (err error) {
	outDir = filepath.Clean(outDir)
	// An outDir named through a symbolic link: the folder it points to is
	// replaced (swapping the link itself left that folder stale and the
	// link gone).
	if real, err := filepath.EvalSymlinks(outDir); err == nil {
		outDir = real
	}
	if err := checkReplaceable(outDir); err != nil {
		return err
	}
	parent := filepath.Dir(outDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", outDir, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(outDir)+".new-")
	if err != nil {
		return fmt.Errorf("write %s: %w", outDir, err)
	}
	defer func() {
		// After a swap tmp holds the previous build; after a failure, the
		// partial new one. Either way it goes.
		if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
			err = fmt.Errorf("write %s: remove the previous build: %w", outDir, rerr)
		}
	}()
	if err := writeTrees(tmp, trees); err != nil {
		return fmt.Errorf("write %s: %w", outDir, err)
	}
	if err := swap(tmp, outDir); err != nil {
		return fmt.Errorf("write %s: %w", outDir, err)
	}
	return syncDir(parent)
}

// checkReplaceable refuses an outDir that exists and is neither empty nor
// an earlier hac build.
func checkReplaceable(outDir string) error {
	entries, err := os.ReadDir(outDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("write %s: %w", outDir, err)
	case len(entries) == 0:
		return nil
	}
	if _, err := os.Stat(filepath.Join(outDir, Marker)); err != nil {
		return fmt.Errorf("write %s: refusing to replace a folder hac build did not write (no %s file in it): remove it or choose another output folder", outDir, Marker)
	}
	return nil
}

// swap puts the folder tmp at outDir. When outDir exists the two are
// exchanged atomically and tmp then holds the previous build.
func swap(tmp, outDir string) error {
	if _, err := os.Lstat(outDir); errors.Is(err, fs.ErrNotExist) {
		return os.Rename(tmp, outDir)
	}
	return unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, outDir, unix.RENAME_EXCHANGE)
}

// writeTrees writes the marker and every tree below root, in sorted order,
// and syncs every file and folder.
func writeTrees(root string, trees map[string]Tree) error {
	w := &treeWriter{root: root}
	if err := w.file(Marker, []byte(markerText), 0o644); err != nil {
		return err
	}
	keys := make([]string, 0, len(trees))
	for k := range trees {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		t := trees[k]
		for _, f := range t.Files {
			if err := w.file(filepath.Join(t.Dir(), f.Path), f.Data, f.Mode); err != nil {
				return err
			}
		}
		b, err := manifest.Marshal(t.Manifest)
		if err != nil {
			return fmt.Errorf("%s: manifest: %w", t.Dir(), err)
		}
		if err := w.file(filepath.Join(t.Dir(), manifest.FileName), b, 0o644); err != nil {
			return err
		}
	}
	for _, d := range slices.Backward(w.dirs) {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return syncDir(root)
}

// treeWriter creates files below root, remembering the folders it makes.
type treeWriter struct {
	root string
	dirs []string
}

// file creates root/rel with exactly mode (whatever the umask) and syncs it.
func (w *treeWriter) file(rel string, data []byte, mode fs.FileMode) error {
	p := filepath.Join(w.root, rel)
	if err := w.mkdirs(filepath.Dir(p)); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	err = errors.Join(err, f.Chmod(mode), f.Sync(), f.Close())
	if err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	return nil
}

// mkdirs creates dir and its missing parents below root with mode 0755.
func (w *treeWriter) mkdirs(dir string) error {
	if dir == w.root {
		return nil
	}
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	if err := w.mkdirs(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	w.dirs = append(w.dirs, dir)
	return os.Chmod(dir, 0o755)
}

// syncDir flushes a folder's entries to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
