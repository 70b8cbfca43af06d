package deploy

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/hac-project/hac/importer/interfaces"
	"github.com/hac-project/hac/targets/build"
	"github.com/hac-project/hac/targets/keepalived"
	"github.com/hac-project/hac/targets/manifest"
)

// planStale compares the node's record of what hac installed (rec, its
// RecordPath) with the tree: files hac installed before and no longer
// builds become stale (removed after the new files are active, their
// services stopped before), and the new record is written with the other
// files; the record, parsed, stays in np.recorded. A node that is to run
// the hac agent but runs keepalived that hac did not install (the way
// people run it before hac) gets keepalived stopped and disabled too.
func (d *Deployer) planStale(ctx context.Context, np *NodePlan, conn Conn, rec remoteFile) error {
	n := np.node
	b, err := manifest.Marshal(n.Manifest)
	if err != nil {
		return err
	}
	if !rec.exists || !bytes.Equal(rec.content, b) {
		np.record = &change{file: manifest.File{Path: RecordPath, Mode: 0o644, Owner: build.FileOwner, Group: build.FileGroup},
			remote: np.root + RecordPath, data: b, old: rec}
	}
	var installed []manifest.File
	if rec.exists {
		old, err := manifest.Parse(rec.content)
		if err != nil {
			return fmt.Errorf("%s on the node: %w: move it away to plan without it (hac then forgets which files it installed before)", RecordPath, err)
		}
		installed = old.Files
		np.recorded = old
	}
	var stale []manifest.File
	var paths []string
	renders := rendersNetwork(n)
	for _, f := range installed {
		// A network file goes only when another renderer's replaces it:
		// with render.network "none" it stays, so the node still brings
		// its interface up at the next boot.
		if f.Network && !renders {
			continue
		}
		if !slices.ContainsFunc(n.Manifest.Files, func(g manifest.File) bool { return g.Path == f.Path }) {
			stale = append(stale, f)
			paths = append(paths, np.root+f.Path)
		}
	}
	if len(stale) > 0 {
		cur, err := readFiles(ctx, conn, paths)
		if err != nil {
			return err
		}
		for i, f := range stale {
			if !cur[i].exists {
				continue
			}
			np.stale = append(np.stale, &change{file: f, remote: paths[i], old: cur[i]})
			np.stop(f.Deactivate, f.Activate)
		}
	}
	// Under a root (Options.Root) the services found would be the
	// host's, not the root's: no keepalived is looked for there.
	handRun := np.root == "" && wantDigest(n) != "" && !slices.ContainsFunc(installed, func(f manifest.File) bool { return f.Path == keepalived.Path })
	if handRun {
		out, err := conn.Run(ctx, "check for keepalived", `command -v systemctl >/dev/null 2>&1 || exit 0
systemctl is-active keepalived; systemctl is-enabled keepalived 2>/dev/null; true`, nil)
		if err != nil {
			return err
		}
		st := strings.Fields(string(out))
		if slices.Contains(st, "active") || slices.Contains(st, "enabled") {
			np.stop(keepalived.Deactivate, keepalived.Activate)
		}
		// Only a running keepalived may hold the VIP (an installed one
		// without a configuration is enabled but never starts).
		np.keepalived = slices.Contains(st, "active")
	}
	if slices.ContainsFunc(np.stale, func(c *change) bool { return c.file.Path == keepalived.Path }) {
		np.keepalived = true // hac's keepalived.conf: it runs
	}
	return nil
}

// rendersNetwork reports whether node n's tree configures its network
// (a netplan or ifupdown file).
func rendersNetwork(n *Node) bool {
	return slices.ContainsFunc(n.Manifest.Files, func(f manifest.File) bool { return f.Network })
}

// stop adds a service's stop command to the plan, and what restarts it
// when the node is rolled back.
func (np *NodePlan) stop(deactivate, activate string) {
	if deactivate == "" || slices.Contains(np.Stop, deactivate) {
		return
	}
	np.Stop = append(np.Stop, deactivate)
	if activate != "" {
		np.restart = append(np.restart, activate)
	}
}

// planAliases finds static aliases holding one of the node's VIPs in
// ifupdown's configuration (/etc/network/interfaces and the files it
// sources), and returns the change of each file that has one: the file
// without those stanzas, activated by deleting the alias's address from
// the interface (never taking it down), undone by adding it back. A VIP
// must be held by the VRRP daemon only: a static alias on every node
// makes every node answer ARP for it, and the hac agent refuses to start
// while one is there. When the tree configures the node's network
// itself (netplan or ifupdown), the hand-written stanzas of the VRRP
// interface go too, in the same commit, before hac's file is activated:
// one network configuration per interface.
func (d *Deployer) planAliases(ctx context.Context, np *NodePlan, conn Conn) ([]*change, error) {
	vips := map[string][]netip.Addr{}
	var devs []string
	for _, e := range np.node.Manifest.Expect {
		for _, v := range e.VIPs {
			a, err := netip.ParseAddr(v)
			if err != nil || e.Interface == "" {
				continue
			}
			if !slices.Contains(devs, e.Interface) {
				devs = append(devs, e.Interface)
			}
			vips[e.Interface] = append(vips[e.Interface], a)
		}
	}
	if len(devs) == 0 {
		return nil, nil
	}
	main, err := readFiles(ctx, conn, []string{np.root + InterfacesPath})
	if err != nil || !main[0].exists {
		return nil, err
	}
	f, err := interfaces.Parse(InterfacesPath, main[0].content)
	if err != nil {
		return nil, fmt.Errorf("cannot read the node's %v: fix the file (ifupdown would not read it either)", err)
	}
	files := []*interfaces.File{f}
	cur := main
	if src := f.Sources(); len(src) > 0 {
		var globs []string
		for _, s := range src {
			if !path.IsAbs(s) {
				s = path.Join(path.Dir(InterfacesPath), s)
			}
			globs = append(globs, np.root+s)
		}
		out, err := conn.Run(ctx, "list sourced interfaces files", shell(`for g; do for p in $g; do [ -f "$p" ] && printf '%s\n' "$p"; done; done; true`, globs...), nil)
		if err != nil {
			return nil, err
		}
		more := strings.Fields(string(out))
		got, err := readFiles(ctx, conn, more)
		if err != nil {
			return nil, err
		}
		for i, p := range more {
			sf, err := interfaces.Parse(strings.TrimPrefix(p, np.root), got[i].content)
			if err != nil {
				return nil, fmt.Errorf("cannot read the node's %v: fix the file (ifupdown would not read it either)", err)
			}
			files = append(files, sf)
			cur = append(cur, got[i])
		}
	}
	var changes []*change
	renders := rendersNetwork(np.node)
	for i, f := range files {
		if slices.ContainsFunc(np.node.Manifest.Files, func(m manifest.File) bool { return m.Path == f.Name }) {
			continue // hac's own file
		}
		var names, del, add, lease []string
		for _, dev := range devs {
			for _, st := range f.Stanzas {
				if renders && st.Kind == "iface" && st.Name() == dev && !slices.Contains(names, dev) {
					names = append(names, dev)
				}
			}
			for _, a := range f.Aliases(dev, vips[dev]) {
				names = append(names, a.Name)
				if a.Prefix.IsSingleIP() && runsKeepalived(np.node) {
					// keepalived's own VIP is this very address: deleting it
					// would drop the VIP; it goes at the next boot.
					continue
				}
				del = append(del, aliasCommand(a, dev, false))
				add = append(add, aliasCommand(a, dev, true))
				lease = append(lease, leaseCommand(a, dev))
			}
		}
		if len(names) == 0 {
			continue
		}
		old := cur[i]
		file := manifest.File{Path: f.Name, Mode: manifest.Mode(old.mode), Owner: old.owner, Group: old.group,
			Activate: strings.Join(del, "; ")}
		changes = append(changes, &change{file: file, remote: np.root + f.Name, data: f.Without(names), old: old, undo: strings.Join(add, "; "),
			lease: strings.Join(lease, "; ")})
	}
	return changes, nil
}

// aliasCommand deletes the alias's address from dev when it is there (add:
// adds it back, with its label, when it is not); a missing address is no
// error. The interface stays up.
func aliasCommand(a interfaces.Alias, dev string, add bool) string {
	fam := "inet"
	if a.Prefix.Addr().Is6() {
		fam = "inet6"
	}
	has := fmt.Sprintf("ip -o addr show dev %s | grep -qF %s", q(dev), q(fam+" "+a.Prefix.String()+" "))
	if !add {
		return fmt.Sprintf("if %s; then ip addr del %s dev %s; fi", has, a.Prefix, q(dev))
	}
	label := ""
	if a.Prefix.Addr().Is4() && strings.HasPrefix(a.Name, dev+":") {
		label = " label " + q(a.Name)
	}
	return fmt.Sprintf("%s || ip addr add %s dev %s%s", has, a.Prefix, q(dev), label)
}

// aliasLease is how long the VIP stays leased on a node that starts
// taking over (see leaseCommand): its agent starts within it.
const aliasLease = 10

// leaseCommand turns the alias's permanent address into a copy of the VIP
// leased for aliasLease seconds (added before the alias goes, so the node
// never stops answering for it): an agent starting taking over finds the
// leased VIP and resumes as master at once (agent.TakeoverFile).
func leaseCommand(a interfaces.Alias, dev string) string {
	host := netip.PrefixFrom(a.Prefix.Addr(), a.Prefix.Addr().BitLen())
	return fmt.Sprintf("ip addr replace %s dev %s valid_lft %d preferred_lft %d; %s", host, q(dev), aliasLease, aliasLease, aliasCommand(a, dev, false))
}

// removeScript removes stale files ($3...) after backing each up into
// $1/prev (cp -p, as the commit does), with $2 the remote root.
const removeScript = `set -eu
st=$1 root=$2; shift 2
for p; do
  [ -e "$p" ] || continue
  l=${p#"$root"}
  mkdir -p -- "$st/prev${l%/*}/"
  cp -p -- "$p" "$st/prev$l"
  rm -f -- "$p"
done`

// removeStale removes the node's stale files, once the new ones are active.
func (d *Deployer) removeStale(ctx context.Context, np *NodePlan, conn Conn) error {
	if len(np.stale) == 0 {
		return nil
	}
	args := []string{np.stateDir(), np.root}
	for _, c := range np.stale {
		args = append(args, c.remote)
	}
	d.progress(np, "removing files hac no longer builds")
	_, err := conn.Run(ctx, "remove stale files", shell(removeScript, args...), nil)
	return err
}
