package compiler

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/encoding/json"
	"cuelang.org/go/encoding/yaml"
)

// extensions are the file kinds Compile reads from a directory.
var extensions = []string{".cue", ".yaml", ".yml", ".json"}

// expand turns the command-line paths into the list of files to read: a
// file as given, a directory's *.cue, *.yaml, *.yml and *.json files
// (recursively, skipping hidden directories, cue.mod and testdata).
func expand(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("no path given: name a file or a directory of .cue, .yaml or .json files")
	}
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, filepath.Clean(p))
			continue
		}
		n := len(files)
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if path != p && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "cue.mod" || name == "testdata") {
					return filepath.SkipDir
				}
				return nil
			}
			if slices.Contains(extensions, filepath.Ext(name)) && !strings.HasPrefix(name, ".") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(files) == n {
			return nil, fmt.Errorf("%s: no .cue, .yaml, .yml or .json file in this directory", p)
		}
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

// parseFile reads and parses one file into CUE syntax. Syntax errors are
// returned as CUE errors carrying positions.
func parseFile(name string, readFile func(string) ([]byte, error)) (*ast.File, error) {
	src, err := readFile(name)
	if err != nil {
		return nil, err
	}
	switch filepath.Ext(name) {
	case ".yaml", ".yml":
		return yaml.Extract(name, src)
	case ".json":
		expr, err := json.Extract(name, src)
		if err != nil {
			return nil, err
		}
		return &ast.File{Filename: name, Decls: []ast.Decl{&ast.EmbedDecl{Expr: expr}}}, nil
	default:
		return parser.ParseFile(name, src, parser.ParseComments)
	}
}

// group is a set of files evaluated together: the CUE files of one package
// in one directory, or a single file.
type group struct {
	files []*ast.File
}

// groupFiles puts CUE files with the same package clause in the same
// directory into one group, and every other file into its own.
func groupFiles(files []*ast.File) []*group {
	var groups []*group
	byPkg := map[string]*group{}
	for _, f := range files {
		pkg := ""
		if strings.HasSuffix(f.Filename, ".cue") {
			pkg = f.PackageName()
		}
		if pkg == "" || pkg == "_" {
			groups = append(groups, &group{files: []*ast.File{f}})
			continue
		}
		key := filepath.Dir(f.Filename) + "\x00" + pkg
		g := byPkg[key]
		if g == nil {
			g = &group{}
			byPkg[key] = g
			groups = append(groups, g)
		}
		g.files = append(g.files, f)
	}
	return groups
}
