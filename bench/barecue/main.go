// Command barecue is the bare-CUE peer of hac vet in bench/run-vet: it
// reads every .cue file under the given directories and evaluates each on
// its own, in parallel on GOMAXPROCS workers (one cue.Context per worker,
// renewed every 64 files as hac renews its own), validating it against
// nothing but its own content: Validate(cue.Concrete(true)), no schema,
// no hac rules. It prints the errors and exits 1 if any file is invalid.
//
//	go run ./bench/barecue DIR...
package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/errors"
)

// renewAfter is how many files a worker evaluates in one context.
const renewAfter = 64

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: barecue DIR...")
		os.Exit(2)
	}
	names, err := cueFiles(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	errs := make([]error, len(names))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(names)) {
		wg.Go(func() {
			var ctx *cue.Context
			done := 0
			for i := range next {
				if done%renewAfter == 0 {
					ctx = cuecontext.New()
				}
				done++
				errs[i] = vet(ctx, names[i])
			}
		})
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()
	code := 0
	for _, err := range errs {
		if err != nil {
			errors.Print(os.Stderr, err, nil)
			code = 1
		}
	}
	os.Exit(code)
}

// vet reads, compiles and validates one file.
func vet(ctx *cue.Context, name string) error {
	src, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	return ctx.CompileBytes(src, cue.Filename(name)).Validate(cue.Concrete(true))
}

// cueFiles lists the .cue files under dirs, sorted, skipping hidden
// directories.
func cueFiles(dirs []string) ([]string, error) {
	var names []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && path != dir && strings.HasPrefix(d.Name(), "."):
				return filepath.SkipDir
			case !d.IsDir() && filepath.Ext(path) == ".cue":
				names = append(names, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no .cue file under %s", strings.Join(dirs, ", "))
	}
	slices.Sort(names)
	return names, nil
}
