package keepalived_test

import (
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/importer/keepalived"
)

// mapFS is a file system in memory.
type mapFS map[string]string

func (m mapFS) ReadFile(name string) ([]byte, error) {
	s, ok := m[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return []byte(s), nil
}

func (m mapFS) Glob(pattern string) ([]string, error) {
	var out []string
	for n := range m {
		if ok, err := path.Match(pattern, n); err != nil {
			return nil, err
		} else if ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

func TestLoadIncludes(t *testing.T) {
	files := mapFS{
		"/etc/keepalived/keepalived.conf":    "global_defs {\n  router_id a\n}\ninclude conf.d/*.conf\ninclude /nowhere/*.conf\n",
		"/etc/keepalived/conf.d/20-vi2.conf": "vrrp_instance VI_2 {\n  include ../common\n}\n",
		"/etc/keepalived/conf.d/10-vi1.conf": "vrrp_instance VI_1 {\n  interface eth1\n}\n",
		"/etc/keepalived/common":             "interface eth2\nvirtual_router_id 52\n",
	}
	f, err := keepalived.Load("/etc/keepalived/keepalived.conf", files)
	if err != nil {
		t.Fatal(err)
	}
	want := "global_defs {\n  router_id a\n}\nvrrp_instance VI_1 {\n  interface eth1\n}\nvrrp_instance VI_2 {\n  interface eth2\n  virtual_router_id 52\n}\n"
	if d := cmp.Diff(want, f.String()); d != "" {
		t.Errorf("Load (-want +got):\n%s", d)
	}
	// Positions name the file each statement comes from.
	if p := f.Stmts[2].Block[1].Pos.String(); p != "/etc/keepalived/common:2:1" {
		t.Errorf("position of an included statement: %s", p)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files mapFS
		want  string
	}{
		{"cycle", mapFS{"/k/a.conf": "include b.conf\n", "/k/b.conf": "vrrp_script x {\n}\ninclude a.conf\n"},
			"/k/b.conf:3:1: include /k/a.conf closes a cycle (/k/a.conf -> /k/b.conf -> /k/a.conf): remove one of these includes"},
		{"self", mapFS{"/k/a.conf": "include *.conf\n"}, "/k/a.conf:1:1: include /k/a.conf closes a cycle (/k/a.conf -> /k/a.conf)"},
		{"two words", mapFS{"/k/a.conf": "include a b\n"}, "/k/a.conf:1:1: include takes one file name or glob pattern"},
		{"syntax error inside", mapFS{"/k/a.conf": "include b.conf\n", "/k/b.conf": "x {\n"}, "/k/b.conf:1:3: '{' is never closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keepalived.Load("/k/a.conf", tc.files)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Load: %v\nwant %s", err, tc.want)
			}
		})
	}
}
