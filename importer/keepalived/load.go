package keepalived

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// FS reads the files [Load] follows: the local file system ([OSFS]) or a
// node's, over SSH.
type FS interface {
	// ReadFile returns the content of the named file.
	ReadFile(name string) ([]byte, error)
	// Glob returns the names of the files matching pattern (shell glob
	// syntax), sorted; a pattern that matches nothing returns none and no
	// error.
	Glob(pattern string) ([]string, error)
}

// OSFS is the local file system.
type OSFS struct{}

// ReadFile reads a local file.
func (OSFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

// Glob matches local files.
func (OSFS) Glob(pattern string) ([]string, error) {
	m, err := filepath.Glob(pattern)
	slices.Sort(m)
	return m, err
}

// Load parses the named keepalived.conf and the files its include
// statements name, as keepalived reads them: an include, at the top level
// or inside a block, is replaced by the statements of every file its
// pattern matches (a glob; relative to the including file's folder), in
// name order. A pattern that matches nothing is no error (keepalived
// ignores it too). An include cycle is an error at the include that
// closes it. Statements keep the positions of the file they come from.
func Load(name string, fsys FS) (*File, error) {
	return loadFile(name, fsys, nil)
}

func loadFile(name string, fsys FS, stack []string) (*File, error) {
	src, err := fsys.ReadFile(name)
	if err != nil {
		return nil, err
	}
	f, err := Parse(name, src)
	if err != nil {
		return nil, err
	}
	if f.Stmts, err = expand(f.Stmts, name, fsys, append(stack, name)); err != nil {
		return nil, err
	}
	return f, nil
}

// expand replaces the include statements of stmts (read from the file
// name, itself included through stack), recursively.
func expand(stmts []*Stmt, name string, fsys FS, stack []string) ([]*Stmt, error) {
	var out []*Stmt
	for _, s := range stmts {
		if s.Keyword() != "include" {
			if s.HasBlock {
				block, err := expand(s.Block, name, fsys, stack)
				if err != nil {
					return nil, err
				}
				s.Block = block
				if s.Block == nil {
					s.Block = []*Stmt{}
				}
			}
			out = append(out, s)
			continue
		}
		if len(s.Args()) != 1 || s.HasBlock {
			return nil, &SyntaxError{Pos: s.Pos, Msg: "include takes one file name or glob pattern, e.g. include /etc/keepalived/conf.d/*.conf"}
		}
		pat := s.Args()[0].Text
		if !path.IsAbs(pat) {
			pat = path.Join(path.Dir(name), pat)
		}
		names, err := fsys.Glob(pat)
		if err != nil {
			return nil, &SyntaxError{Pos: s.Pos, Msg: fmt.Sprintf("include %s: %v", pat, err)}
		}
		for _, n := range names {
			if i := slices.Index(stack, n); i >= 0 {
				return nil, &SyntaxError{Pos: s.Pos, Msg: fmt.Sprintf("include %s closes a cycle (%s): remove one of these includes",
					n, strings.Join(append(slices.Clone(stack[i:]), n), " -> "))}
			}
			sub, err := loadFile(n, fsys, stack)
			if err != nil {
				var se *SyntaxError
				if asSyntax(err, &se) {
					return nil, err
				}
				return nil, &SyntaxError{Pos: s.Pos, Msg: fmt.Sprintf("include %s: %v", n, err)}
			}
			out = append(out, sub.Stmts...)
		}
	}
	return out, nil
}

func asSyntax(err error, se **SyntaxError) bool {
	s, ok := err.(*SyntaxError)
	*se = s
	return ok
}
