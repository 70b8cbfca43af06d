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
	"os"
	"runtime"
	"slices"
	"sync"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/cuecontext"

	"github.com/hac-project/hac/model"
	"github.com/hac-project/hac/schema"
)

// Options says how Compile resolves secret references ({env: NAME} and
// {file: PATH}). Nil functions use the process environment and os.ReadFile.
type Options struct {
	LookupEnv func(string) (string, bool)
	ReadFile  func(string) ([]byte, error)
}

// Result is what Compile found.
type Result struct {
	// Clusters are the valid clusters, sorted by name. A cluster with an
	// error is left out.
	Clusters []*model.Cluster
	// Diags are every error and warning, sorted by position.
	Diags Diagnostics
}

// Compile loads every path (a file or a directory of *.cue, *.yaml, *.yml
// and *.json files), validates everything and returns the typed clusters
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
	names, err := expand(paths)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	files, diags, err := parseAll(names)
	if err != nil {
		return nil, err
	}
	res.Diags = diags
	outs := evalAll(groupFiles(files), opt)
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

// parseAll reads and parses the files in parallel. Syntax errors become
// diagnostics; a read error is returned.
func parseAll(names []string) ([]*ast.File, Diagnostics, error) {
	files := make([]*ast.File, len(names))
	errs := make([]error, len(names))
	parallel(len(names), func(i int) {
		files[i], errs[i] = parseFile(names[i], os.ReadFile)
	})
	var diags Diagnostics
	var ok []*ast.File
	for i, err := range errs {
		switch {
		case err == nil:
			ok = append(ok, files[i])
		case isCUEError(err):
			diags = append(diags, cueDiags(err, nil)...)
		default:
			return nil, nil, err
		}
	}
	return ok, diags, nil
}

// parallel calls f(0..n-1) on at most GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
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

// evalAll evaluates the groups in parallel, one evaluator per worker.
func evalAll(groups []*group, opt Options) []groupOut {
	outs := make([]groupOut, len(groups))
	pool := sync.Pool{New: func() any { return newEvaluator(opt) }}
	parallel(len(groups), func(i int) {
		e := pool.Get().(*evaluator)
		outs[i] = e.evalGroup(groups[i])
		pool.Put(e)
	})
	return outs
}

// buildGroup builds the group's files into one CUE value.
func (e *evaluator) buildGroup(g *group) (cue.Value, error) {
	if len(g.files) == 1 {
		v := e.ctx.BuildFile(g.files[0])
		return v, v.Err()
	}
	inst := build.NewContext().NewInstance("", nil)
	for _, f := range g.files {
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
	v, err := e.buildGroup(g)
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
				Msg:  "unknown top-level field: a hac file declares clusters: {name: {...}} (hide helper values as _name or #Name)",
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
