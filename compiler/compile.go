// Package compiler loads hac configurations (CUE, YAML or JSON), checks
// them against the embedded schema and hac's rules, and produces the typed
// [model.Cluster] values every target renders.
//
// Each cluster is evaluated as its own CUE value, in parallel, and rules
// spanning clusters run on the typed model ([CheckAcross]), so the cost
// grows linearly with the number of clusters.
package compiler

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"

	"github.com/hac-project/hac/compiler/discover"
	"github.com/hac-project/hac/model"
	"github.com/hac-project/hac/schema"
)

// Options says how Compile resolves secret references ({env: NAME} and
// {file: PATH}). Nil functions use the process environment and os.ReadFile.
type Options struct {
	LookupEnv func(string) (string, bool)
	ReadFile  func(string) ([]byte, error)
	// Secrets makes a secret reference that does not resolve (an unset or
	// empty variable, an unreadable file) an error: hac build, plan and
	// apply need every secret, and hac vet --secrets checks that they
	// would have it. Without it, such a reference is a warning, so that a
	// CI job that holds no secret can vet.
	Secrets bool
}

// Result is what Compile found.
type Result struct {
	// Clusters are the valid clusters, sorted by name. A cluster with an
	// error is left out.
	Clusters []*model.Cluster
	// Diags are every error and warning, sorted by position.
	Diags Diagnostics
}

// Compile loads every path (a file, a directory or a dir/... pattern, as
// [discover.Files] reads them), validates everything and returns the typed clusters
// with all diagnostics. It returns an error only for usage and I/O
// problems (a missing path, an unreadable file); invalid configurations
// are reported in Result.Diags.
func Compile(paths []string, opt Options) (*Result, error) {
	if opt.LookupEnv == nil {
		opt.LookupEnv = os.LookupEnv
	}
	if opt.ReadFile == nil {
		opt.ReadFile = os.ReadFile
	}
	names, err := discover.Files(paths, discover.ClusterExtensions)
	if err != nil {
		return nil, err
	}
	srcs, err := readAll(names)
	if err != nil {
		return nil, err
	}
	outs := evalAll(groupSources(srcs), opt)
	if err := firstErr(outs); err != nil {
		return nil, err
	}
	res := &Result{}
	seen := map[string]*model.Cluster{}
	for _, o := range outs {
		res.Diags = append(res.Diags, o.diags...)
		for _, c := range o.clusters {
			if first := seen[c.Name]; first != nil {
				res.Diags = append(res.Diags, Diagnostic{
					Path: clusterPath(c.Name).String(),
					Msg:  "cluster declared twice: keep one declaration, or put its parts in one file or one CUE package",
					Pos:  c.Pos, Related: []model.Pos{first.Pos},
				})
				continue
			}
			seen[c.Name] = c
			res.Clusters = append(res.Clusters, c)
		}
	}
	slices.SortFunc(res.Clusters, func(a, b *model.Cluster) int { return cmp.Compare(a.Name, b.Name) })
	res.Diags = append(res.Diags, CheckAcross(res.Clusters)...)
	res.Diags.Sort()
	return res, nil
}

// firstErr returns the first error (other than a syntax error) met while
// parsing, in file order.
func firstErr(outs []groupOut) error {
	var first *groupOut
	for i := range outs {
		if o := &outs[i]; o.err != nil && (first == nil || o.errFile < first.errFile) {
			first = o
		}
	}
	if first == nil {
		return nil
	}
	return first.err
}

// parallel calls f(0..n-1) on at most GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	parallelWorkers(n, func() func(int) { return f })
}

// parallelWorkers calls, for each of 0..n-1, a function made by newWorker,
// on at most GOMAXPROCS goroutines: each goroutine calls newWorker once, so
// that it may keep state of its own.
func parallelWorkers(n int, newWorker func() func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			f := newWorker()
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// groupOut is what one group of files produced.
type groupOut struct {
	clusters []*model.Cluster
	diags    Diagnostics
	err      error // the first error, other than a syntax error, parsing a file
	errFile  int   // the index of err's file among all files
}

// evaluator evaluates groups in one CUE context. CUE contexts are not safe
// for concurrent use, so each worker has its own.
type evaluator struct {
	ctx    *cue.Context
	schema cue.Value // #Cluster
	opt    Options
}

func newEvaluator(opt Options) *evaluator {
	ctx := cuecontext.New()
	s := ctx.CompileBytes(schema.Source, cue.Filename(schema.Filename))
	if s.Err() != nil {
		panic("compiler: the embedded schema does not compile: " + s.Err().Error())
	}
	return &evaluator{ctx: ctx, schema: s.LookupPath(cue.ParsePath(schema.ClusterDef)), opt: opt}
}

// renewAfter is how many groups a worker evaluates with one evaluator. A
// CUE context keeps every file it built, with its syntax and its evaluated
// value, as long as the context lives: one context per worker for the whole
// run held the entire repository (325 MB of live heap for 10,000 clusters).
// A fresh evaluator costs one compilation of the schema.
const renewAfter = 64

// evalAll evaluates the groups in parallel, each worker with an evaluator
// of its own, renewed every renewAfter groups.
func evalAll(groups []*group, opt Options) []groupOut {
	outs := make([]groupOut, len(groups))
	parallelWorkers(len(groups), func() func(int) {
		var e *evaluator
		done := 0
		return func(i int) {
			if done%renewAfter == 0 {
				e = newEvaluator(opt)
			}
			done++
			outs[i] = e.evalGroup(groups[i])
		}
	})
	return outs
}

// parseGroup parses the group's files. A file with syntax errors is left
// out, its errors reported.
func (out *groupOut) parseGroup(g *group) []*ast.File {
	var files []*ast.File
	var se *syntaxError
	for _, s := range g.srcs {
		f, err := s.parse()
		s.src = nil // the syntax holds what is needed now
		switch {
		case err == nil:
			files = append(files, f)
		case errors.As(err, &se):
			out.diags = append(out.diags, se.Diagnostic)
		case isCUEError(err):
			out.diags = append(out.diags, cueDiags(err, nil)...)
		case out.err == nil:
			out.err, out.errFile = err, s.index
		}
	}
	return files
}

// buildGroup builds the group's files into one CUE value.
func (e *evaluator) buildGroup(files []*ast.File) (cue.Value, error) {
	if len(files) == 1 {
		v := e.ctx.BuildFile(files[0])
		return v, v.Err()
	}
	inst := build.NewContext().NewInstance("", nil)
	for _, f := range files {
		if err := inst.AddSyntax(f); err != nil {
			return cue.Value{}, err
		}
	}
	v := e.ctx.BuildInstance(inst)
	return v, v.Err()
}

// evalGroup evaluates one group: every cluster on its own against the schema.
func (e *evaluator) evalGroup(g *group) groupOut {
	var out groupOut
	files := out.parseGroup(g)
	if len(files) == 0 {
		return out
	}
	v, err := e.buildGroup(files)
	if err != nil {
		out.diags = cueDiags(err, nil)
		return out
	}
	it, err := v.Fields()
	if err != nil {
		out.diags = cueDiags(err, nil)
		return out
	}
	for it.Next() {
		if it.Selector().String() != "clusters" {
			out.diags = append(out.diags, Diagnostic{
				Path: it.Selector().String(),
				Msg:  unknownTopLevel(g.srcs[0].name, it.Selector().String()),
				Pos:  toPos(it.Value().Pos()),
			})
			continue
		}
		cs, err := it.Value().Fields()
		if err != nil {
			out.diags = append(out.diags, Diagnostic{
				Path: "clusters", Msg: "must be a struct of clusters by name: clusters: {name: {...}}",
				Pos: toPos(it.Value().Pos()),
			})
			continue
		}
		for cs.Next() {
			c, diags := e.evalCluster(cs.Selector().Unquoted(), cs.Value())
			out.diags = append(out.diags, diags...)
			if c != nil {
				out.clusters = append(out.clusters, c)
			}
		}
	}
	return out
}

// unknownTopLevel is the advice for a top-level key other than clusters,
// in the words of the file's language: CUE can hide helper values, YAML
// and JSON cannot.
func unknownTopLevel(file, key string) string {
	switch filepath.Ext(file) {
	case ".yaml", ".yml":
		return fmt.Sprintf("unknown top-level key %s: a hac YAML file has the one top-level key clusters: (each cluster's settings indented below its name); move %s under a cluster, or delete it (to share values between clusters, mark them with an &anchor in the first cluster and write *anchor in the others)", key, key)
	case ".json":
		return fmt.Sprintf(`unknown top-level key %s: a hac JSON file is {"clusters": {"name": {...}}}; move %s into a cluster, or delete it`, key, key)
	}
	return "unknown top-level field: a hac file declares clusters: {name: {...}} (hide helper values as _name or #Name)"
}

// evalCluster unifies one cluster with the schema and, when that succeeds,
// builds and checks its typed model. It returns nil for an invalid cluster.
func (e *evaluator) evalCluster(name string, user cue.Value) (*model.Cluster, Diagnostics) {
	prefix := clusterPath(name)
	u := e.schema.Unify(user)
	if err := u.Validate(cue.Concrete(true)); err != nil {
		return nil, cueDiags(err, &schemaContext{prefix: prefix, user: user, schema: e.schema})
	}
	var raw rawCluster
	if err := decode(u, &raw); err != nil {
		return nil, cueDiags(err, &schemaContext{prefix: prefix, user: user, schema: e.schema})
	}
	b := &builder{name: name, prefix: prefix, user: user, opt: e.opt}
	c := b.build(&raw)
	if b.diags.HasErrors() {
		return nil, b.diags
	}
	return c, b.diags
}

// clusterPath is the CUE path of a cluster.
func clusterPath(name string) cue.Path {
	return cue.MakePath(cue.Str("clusters"), cue.Str(name))
}
