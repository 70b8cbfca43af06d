package compiler

import (
	"fmt"
	"net/netip"
	"slices"

	"cuelang.org/go/cue"

	"github.com/hac-project/hac/model"
)

// CheckAcross checks the rules spanning clusters, on the typed model:
// clusters on one L2 segment (same subnet and interface) must not share a
// VRID of one address family; no VIP may be in two clusters; a node (same
// ssh host) in two clusters must have the same addresses. Compile runs it
// on every valid cluster.
func CheckAcross(clusters []*model.Cluster) Diagnostics {
	var ds Diagnostics
	type segKey struct {
		subnet netip.Prefix
		iface  string
		family int
		vrid   uint8
	}
	type owner struct {
		c  *model.Cluster
		in *model.Instance
	}
	vrids := map[segKey]owner{}
	vips := map[netip.Addr]owner{}
	hosts := map[string]struct {
		c *model.Cluster
		n *model.Node
	}{}
	for _, c := range clusters {
		for _, in := range c.Instances {
			path := cue.MakePath(at("clusters", c.Name, "vrrp", in.Name)...).String()
			seen := map[segKey]bool{}
			for _, m := range in.Members {
				n := c.Node(m.Node)
				a, ok := n.Address(in.Family)
				sn, ok2 := c.Network.SubnetFor(a)
				if !ok || !ok2 {
					continue
				}
				k := segKey{sn, m.Interface, in.Family, in.VRID}
				if seen[k] {
					continue
				}
				seen[k] = true
				if first, dup := vrids[k]; dup && first.c != c {
					ds = append(ds, Diagnostic{
						Path: path + ".virtual_router_id", Pos: in.Pos, Related: []model.Pos{first.in.Pos},
						Msg: fmt.Sprintf("virtual_router_id %d is also used by cluster %s (instance %s) on the same segment %s %s: give each cluster on a segment its own VRIDs",
							in.VRID, first.c.Name, first.in.Name, sn, m.Interface),
					})
				} else if !dup {
					vrids[k] = owner{c, in}
				}
			}
			for _, v := range in.VIPs {
				a := v.Prefix.Addr()
				if first, dup := vips[a]; dup && first.c != c {
					ds = append(ds, Diagnostic{
						Path: path + ".vips", Pos: in.Pos, Related: []model.Pos{first.in.Pos},
						Msg: fmt.Sprintf("VIP %s is also used by cluster %s (instance %s): a VIP belongs to one cluster", a, first.c.Name, first.in.Name),
					})
				} else if !dup {
					vips[a] = owner{c, in}
				}
			}
		}
		for _, n := range c.Nodes {
			first, dup := hosts[n.SSH.Host]
			if !dup {
				hosts[n.SSH.Host] = struct {
					c *model.Cluster
					n *model.Node
				}{c, n}
				continue
			}
			if first.c != c && !slices.Equal(first.n.Addresses, n.Addresses) {
				ds = append(ds, Diagnostic{
					Path: cue.MakePath(at("clusters", c.Name, "nodes", n.Name)...).String(), Pos: n.Pos, Related: []model.Pos{first.n.Pos},
					Msg: fmt.Sprintf("ssh host %s is node %s of cluster %s with addresses %v, but here has addresses %v: one machine must have the same addresses in every cluster",
						n.SSH.Host, first.n.Name, first.c.Name, first.n.Addresses, n.Addresses),
				})
			}
		}
	}
	return ds
}
