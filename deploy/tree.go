package deploy

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/hac-project/hac/targets/build"
	"github.com/hac-project/hac/targets/manifest"
)

// Node is one node's built files: its manifest and the content of every
// file it lists, by absolute path on the node.
type Node struct {
	Manifest *manifest.Manifest
	Files    map[string][]byte
}

// Name returns "cluster/node".
func (n *Node) Name() string { return n.Manifest.Cluster + "/" + n.Manifest.Node }

// Cluster is the nodes of one cluster in rolling order.
type Cluster struct {
	Name  string
	Nodes []*Node // by Manifest.Order, then name
}

// Tree is every cluster to deploy, sorted by name.
type Tree struct {
	Clusters []*Cluster
}

// Nodes returns every node of every cluster, clusters in name order and
// nodes in rolling order.
func (t *Tree) Nodes() []*Node {
	var out []*Node
	for _, c := range t.Clusters {
		out = append(out, c.Nodes...)
	}
	return out
}

// Select keeps only the named clusters; it fails on a name the tree does
// not have. No names keeps everything.
func (t *Tree) Select(names []string) (*Tree, error) {
	if len(names) == 0 {
		return t, nil
	}
	out := &Tree{}
	for _, name := range names {
		i := slices.IndexFunc(t.Clusters, func(c *Cluster) bool { return c.Name == name })
		if i < 0 {
			var have []string
			for _, c := range t.Clusters {
				have = append(have, c.Name)
			}
			return nil, fmt.Errorf("no cluster %q (clusters: %v)", name, have)
		}
		out.Clusters = append(out.Clusters, t.Clusters[i])
	}
	return out, nil
}

// NewTree groups nodes by cluster and orders them. It checks that every
// file the manifests list has content with the listed digest.
func NewTree(nodes []*Node) (*Tree, error) {
	byName := map[string]*Cluster{}
	t := &Tree{}
	for _, n := range nodes {
		if err := n.check(); err != nil {
			return nil, err
		}
		c := byName[n.Manifest.Cluster]
		if c == nil {
			c = &Cluster{Name: n.Manifest.Cluster}
			byName[c.Name] = c
			t.Clusters = append(t.Clusters, c)
		}
		c.Nodes = append(c.Nodes, n)
	}
	slices.SortFunc(t.Clusters, func(a, b *Cluster) int { return cmp.Compare(a.Name, b.Name) })
	for _, c := range t.Clusters {
		slices.SortFunc(c.Nodes, func(a, b *Node) int {
			return cmp.Or(cmp.Compare(a.Manifest.Order, b.Manifest.Order), cmp.Compare(a.Manifest.Node, b.Manifest.Node))
		})
	}
	return t, nil
}

// check verifies that the node's files match its manifest.
func (n *Node) check() error {
	for _, f := range n.Manifest.Files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path {
			return fmt.Errorf("%s: manifest path %q is not absolute and clean: rebuild with hac build", n.Name(), f.Path)
		}
		b, ok := n.Files[f.Path]
		if !ok {
			return fmt.Errorf("%s: %s is in the manifest but missing from the tree: rebuild with hac build", n.Name(), f.Path)
		}
		if err := f.Verify(b); err != nil {
			return fmt.Errorf("%s: %w: the tree was edited after hac build; rebuild it", n.Name(), err)
		}
	}
	return nil
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// LoadTree reads a tree written by hac build: every manifest.json below
// dir (out/<cluster>/<node>/manifest.json) and the files it lists.
func LoadTree(dir string) (*Tree, error) {
	var nodes []*Node
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != manifest.FileName {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		m, err := manifest.Parse(b)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		n := &Node{Manifest: m, Files: map[string][]byte{}}
		root := filepath.Dir(p)
		for _, f := range m.Files {
			if n.Files[f.Path], err = os.ReadFile(filepath.Join(root, filepath.FromSlash(f.Path))); err != nil {
				return fmt.Errorf("%s: %w: rebuild with hac build", p, err)
			}
		}
		nodes = append(nodes, n)
		return filepath.SkipDir
	})
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, errors.New("no " + manifest.FileName + " below " + dir + ": is it the output of hac build?")
	}
	return NewTree(nodes)
}

// FromBuild makes a tree from hac build's in-memory result.
func FromBuild(trees map[string]build.Tree) (*Tree, error) {
	var nodes []*Node
	for _, bt := range trees {
		n := &Node{Manifest: bt.Manifest, Files: map[string][]byte{}}
		for _, f := range bt.Files {
			n.Files[f.Path] = f.Data
		}
		nodes = append(nodes, n)
	}
	return NewTree(nodes)
}
