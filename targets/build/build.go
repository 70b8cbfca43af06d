// Package build renders every node of every cluster with the closed list
// of targets and writes the output trees hac build produces and hac apply
// reads: out/<cluster>/<node>/<absolute path of each file>, plus
// out/<cluster>/<node>/manifest.json.
package build

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/hac-project/hac/model"
	"github.com/hac-project/hac/targets"
	"github.com/hac-project/hac/targets/agentconf"
	"github.com/hac-project/hac/targets/ifupdown"
	"github.com/hac-project/hac/targets/keepalived"
	"github.com/hac-project/hac/targets/manifest"
	"github.com/hac-project/hac/targets/netplan"
	"github.com/hac-project/hac/targets/systemd"
)

// Targets returns the closed, ordered list of targets every node is
// rendered with. Each target decides whether it applies to a node.
func Targets() []targets.Target {
	return []targets.Target{
		netplan.Netplan{},
		ifupdown.Ifupdown{},
		agentconf.AgentConf{},
		systemd.Systemd{},
		keepalived.Keepalived{},
	}
}

// FileOwner and FileGroup own every file hac writes on a node: all of
// them are system files (network configuration, the agent's
// configuration and unit, keepalived.conf).
const (
	FileOwner = "root"
	FileGroup = "root"
)

// Tree is one node's output.
type Tree struct {
	Cluster string
	Node    string
	// Files are the node's files, sorted by Path.
	Files []targets.File
	// Manifest describes Files for hac apply.
	Manifest *manifest.Manifest
}

// Dir returns the tree's folder relative to the output directory,
// "<cluster>/<node>"; it is also the tree's key in Build's result.
func (t Tree) Dir() string { return t.Cluster + "/" + t.Node }

// Summary returns a one-line description of the tree: how many files, its
// place in a rolling apply and the expected VRRP states. It never contains
// file contents.
func (t Tree) Summary() string {
	var states []string
	for _, e := range t.Manifest.Expect {
		states = append(states, fmt.Sprintf("%s %s(%d)", e.Instance, e.State, e.Priority))
	}
	s := fmt.Sprintf("%d files, apply order %d", len(t.Files), t.Manifest.Order)
	if len(states) > 0 {
		s += ", " + strings.Join(states, " ")
	}
	return s
}

// Build renders every node of every cluster. The result maps each tree's
// Dir to the tree. Build fails on the first cluster or node whose names
// cannot be folder names, on two clusters of the same name, on two targets
// writing the same path and on any target's error; it writes nothing.
func Build(clusters []*model.Cluster) (map[string]Tree, error) {
	trees := map[string]Tree{}
	seen := map[string]bool{}
	for _, c := range clusters {
		if err := checkName("cluster", c.Name); err != nil {
			return nil, err
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("build: two clusters are named %q: cluster names must be unique, they name the output folders", c.Name)
		}
		seen[c.Name] = true
		order := Order(c)
		for _, n := range c.Nodes {
			t, err := node(c, n, order[n.Name])
			if err != nil {
				return nil, err
			}
			trees[t.Dir()] = t
		}
	}
	return trees, nil
}

// node renders the tree of one node.
func node(c *model.Cluster, n *model.Node, order int) (Tree, error) {
	if err := checkName("node", n.Name); err != nil {
		return Tree{}, fmt.Errorf("cluster %s: %w", c.Name, err)
	}
	var files []targets.File
	from := map[string]string{}
	for _, tg := range Targets() {
		fs, err := tg.Render(c, n)
		if err != nil {
			return Tree{}, fmt.Errorf("build %s/%s: %w", c.Name, n.Name, err)
		}
		for _, f := range fs {
			if err := checkFile(f); err != nil {
				return Tree{}, fmt.Errorf("build %s/%s: target %s: %w", c.Name, n.Name, tg.Name(), err)
			}
			if prev, ok := from[f.Path]; ok {
				return Tree{}, fmt.Errorf("build %s/%s: targets %s and %s both write %s", c.Name, n.Name, prev, tg.Name(), f.Path)
			}
			from[f.Path] = tg.Name()
			files = append(files, f)
		}
	}
	slices.SortFunc(files, func(a, b targets.File) int { return cmp.Compare(a.Path, b.Path) })
	m := &manifest.Manifest{
		Format:  manifest.FormatVersion,
		Cluster: c.Name,
		Node:    n.Name,
		SSH:     manifest.SSH{Host: n.SSH.Host, User: n.SSH.User, Port: n.SSH.Port, Jump: n.SSH.Jump, Become: n.SSH.Become},
		Order:   order,
		Files:   make([]manifest.File, 0, len(files)),
	}
	for _, f := range files {
		m.Files = append(m.Files, manifest.File{
			Path:       f.Path,
			Mode:       manifest.Mode(f.Mode),
			Owner:      FileOwner,
			Group:      FileGroup,
			SHA256:     manifest.Digest(f.Data, f.Secret),
			Activate:   f.Activate,
			Deactivate: f.Deactivate,
			Network:    f.Network,
			Secret:     f.Secret,
		})
	}
	for _, in := range targets.Instances(c, n) {
		state := "BACKUP"
		if in.Master().Node == n.Name {
			state = "MASTER"
		}
		var vips []string
		for _, v := range in.VIPs {
			vips = append(vips, v.Prefix.Addr().String())
		}
		m.Expect = append(m.Expect, manifest.Expect{Instance: in.Name, State: state, Priority: int(in.Member(n.Name).Priority),
			Version: in.Version, AdvertIntMillis: in.AdvertInt.Milliseconds(), Interface: in.Member(n.Name).Interface, VIPs: vips})
	}
	m.AgentRestartKey = agentconf.RestartKey(c, n)
	return Tree{Cluster: c.Name, Node: n.Name, Files: files, Manifest: m}, nil
}

// Order returns each node's place in a rolling apply of cluster c, from 0:
// nodes that master fewer instances first, then those whose highest
// priority is lower, then by name; so nodes expected to be backup
// everywhere go first and the preferred master goes last.
func Order(c *model.Cluster) map[string]int {
	type rank struct {
		name    string
		masters int
		top     uint8
	}
	ranks := make([]rank, 0, len(c.Nodes))
	for _, n := range c.Nodes {
		r := rank{name: n.Name}
		for _, in := range targets.Instances(c, n) {
			if in.Master().Node == n.Name {
				r.masters++
			}
			r.top = max(r.top, in.Member(n.Name).Priority)
		}
		ranks = append(ranks, r)
	}
	slices.SortFunc(ranks, func(a, b rank) int {
		return cmp.Or(cmp.Compare(a.masters, b.masters), cmp.Compare(a.top, b.top), cmp.Compare(a.name, b.name))
	})
	order := make(map[string]int, len(ranks))
	for i, r := range ranks {
		order[r.name] = i
	}
	return order
}

// checkName refuses names that cannot be one folder name.
func checkName(kind, name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("build: %s name %q cannot be a folder name: use letters, digits, '-', '_' or '.'", kind, name)
	}
	return nil
}

// checkFile refuses paths that are not absolute and clean, the manifest's
// name, and secret files readable by others.
func checkFile(f targets.File) error {
	if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
		return fmt.Errorf("file path %q is not an absolute, clean file path", f.Path)
	}
	if f.Path == "/"+manifest.FileName {
		return fmt.Errorf("file path %q collides with the manifest", f.Path)
	}
	if f.Mode&^0o777 != 0 || (f.Secret && f.Mode&0o077 != 0) {
		return fmt.Errorf("file %s: mode %04o: only permission bits, and 0600 or stricter for a secret", f.Path, f.Mode)
	}
	return nil
}
