package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/compiler"
	"github.com/hac-project/hac/deploy/sshconn"
	"github.com/hac-project/hac/importer/keepalived"
	"github.com/hac-project/hac/importer/live"
	"github.com/hac-project/hac/model"
)

func newImportCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "import",
		Short: "Convert existing configurations into a hac cluster description",
	}
	c.AddCommand(newImportKeepalivedCmd())
	return c
}

// importFlags are hac import keepalived's flags.
type importFlags struct {
	sshFlags
	cluster           string
	addresses         []string
	subnets           []string
	render            string
	passEnv, passFile string
	output            string
	ignoreUnsupported bool
	replaceKeepalived bool
	force             bool
	agent             bool
}

func newImportKeepalivedCmd() *cobra.Command {
	var f importFlags
	c := &cobra.Command{
		Use:   "keepalived [flags] NODE=FILE|NODE=ssh://[USER@]HOST[:PORT][/PATH]...",
		Short: "Convert the keepalived.conf of every node into one CUE cluster description",
		Long: `keepalived reads one keepalived.conf per node (NODE=FILE, e.g.
lb1=lb1-keepalived.conf), with the files its include statements name, and
writes one equivalent CUE cluster description.

NODE=ssh://[USER@]HOST[:PORT][/PATH] reads the running node instead, over
SSH (host keys checked as hac plan does; as root, or through sudo -n when
USER is not root): /etc/keepalived/keepalived.conf (or PATH) with its
includes, the node's address and subnet on the VRRP interface (ip -j addr),
and its network configuration (ifupdown's interfaces files, netplan's): a
VIP configured there statically (the seed's eth1:0 alias) is reported, as
it must go (hac apply removes an ifupdown alias). The description says how
each node was reached (its ssh field, with become: "sudo" for a login that
is not root). --address and --subnet win over
what the node says, and are needed for files only.

Every inconsistency between the files is reported with file:line:col and
nothing is written: a VRID, auth_pass, advert_int, version, VIP set, timer,
check or notify command that differs between nodes for the same instance;
two nodes with the same priority; unicast peers that are not the other
nodes; an auth_pass longer than 8 characters (keepalived truncates it).
Fix the files (or copies of them) and run it again: hac never guesses.

A directive hac does not support is an error too; --ignore-unsupported
reports it as a warning, imports the rest and lists what was left out in a
comment at the top. As the imported cluster keeps keepalived (render:
keepalived: true), hac apply would then replace keepalived.conf on every
node without those directives: the import also needs
--replace-keepalived-conf to confirm that.

Missing inputs (node addresses, the subnet) are reported all at once, each
with the flag that gives it.

keepalived.conf does not hold everything hac needs: node addresses come
from unicast_src_ip, or from --address NODE=IP; the shared subnet from a VIP
written with its prefix length, or from --subnet. The result is compiled
before it is written, so an imported description always passes hac vet.`,
		Example: `  hac import keepalived --cluster ncp-lb --agent -o clusters/ncp-lb.cue \
    lb1=ssh://admin@lb1.example.net lb2=ssh://admin@lb2.example.net
  hac import keepalived --cluster ncp-lb \
    --address lb1=192.168.200.11 --address lb2=192.168.200.12 \
    --subnet 192.168.200.0/24 --pass-env NCP_LB_PASS \
    -o clusters/ncp-lb.cue lb1=master.conf lb2=backup.conf`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return runImportKeepalived(c.OutOrStdout(), c.ErrOrStderr(), args, f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.cluster, "cluster", "keepalived", "name of the cluster")
	fl.StringArrayVar(&f.addresses, "address", nil, "NODE=IP: a node's address on the shared segment (when its file has no unicast_src_ip); repeatable")
	fl.StringArrayVar(&f.subnets, "subnet", nil, "the shared segment's prefix, e.g. 192.168.200.0/24 (one per family); repeatable")
	fl.StringVar(&f.render, "render", "none", "network renderer of the nodes: none (leave the interfaces as they are), netplan or ifupdown")
	fl.StringVar(&f.passEnv, "pass-env", "", "write the auth pass as {env: NAME} instead of in cleartext")
	fl.StringVar(&f.passFile, "pass-file", "", "write the auth pass as {file: PATH} instead of in cleartext")
	fl.StringVarP(&f.output, "output", "o", "-", "file to write the CUE description to (- for stdout)")
	fl.BoolVar(&f.ignoreUnsupported, "ignore-unsupported", false, "report unsupported directives as warnings and import without them (listed in a comment at the top)")
	fl.BoolVar(&f.force, "force", false, "replace the -o file if it exists")
	f.sshFlags.register(c)
	fl.BoolVar(&f.agent, "agent", false, "the imported cluster runs the hac agent (render: keepalived: false): hac apply then moves the nodes from keepalived to the agent with no loss (docs/migrate.md)")
	fl.BoolVar(&f.replaceKeepalived, "replace-keepalived-conf", false, "with --ignore-unsupported: confirm that hac apply may replace keepalived.conf without the directives left out")
	return c
}

func runImportKeepalived(stdout, stderr io.Writer, args []string, f importFlags) error {
	opt := keepalived.Options{
		Cluster: f.cluster, Render: f.render, PassEnv: f.passEnv, PassFile: f.passFile, Agent: f.agent,
		Addresses: map[string]netip.Addr{},
		Header:    "Imported by hac import keepalived from " + strings.Join(args, ", ") + ".",
	}
	if f.passEnv != "" && f.passFile != "" {
		return exitcode.New(exitcode.Usage, "give --pass-env or --pass-file, not both")
	}
	if _, err := os.Stat(f.output); err == nil && f.output != "-" && !f.force {
		return exitcode.New(exitcode.Usage, "%s exists: hac import does not replace it (it may hold your edits): give --force to replace it, or another -o", f.output)
	}
	if !slices.Contains([]string{"none", "netplan", "ifupdown"}, f.render) {
		return exitcode.New(exitcode.Usage, "--render %q: use none, netplan or ifupdown", f.render)
	}
	for _, a := range f.addresses {
		node, ip, ok := strings.Cut(a, "=")
		addr, err := netip.ParseAddr(ip)
		if !ok || node == "" || err != nil {
			return exitcode.New(exitcode.Usage, "--address %q: want NODE=IP, e.g. lb1=192.168.200.11", a)
		}
		opt.Addresses[node] = addr
	}
	for _, s := range f.subnets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return exitcode.New(exitcode.Usage, "--subnet %q: want a prefix such as 192.168.200.0/24", s)
		}
		opt.Subnets = append(opt.Subnets, p.Masked())
	}

	var nodes []keepalived.NodeConfig
	var probs keepalived.Problems
	var dialer *sshconn.Dialer
	own := map[string][]netip.Prefix{} // the nodes' own addresses, read live
	opt.SSH = map[string]keepalived.SSH{}
	failed := false
	for _, arg := range args {
		node, file, ok := strings.Cut(arg, "=")
		if !ok || node == "" || file == "" {
			return exitcode.New(exitcode.Usage, "%q: want NODE=FILE or NODE=ssh://[USER@]HOST, e.g. lb1=/etc/keepalived/keepalived.conf", arg)
		}
		if slices.ContainsFunc(nodes, func(n keepalived.NodeConfig) bool { return n.Node == node }) {
			return exitcode.New(exitcode.Usage, "node %s is given twice", node)
		}
		var pf *keepalived.File
		target, conf, err := live.Target(file)
		switch {
		case err == nil:
			if dialer == nil {
				if dialer, err = f.dialer(stderr); err != nil {
					return err
				}
			}
			var ps keepalived.Problems
			var sudo bool
			pf, sudo, ps = readLive(dialer, node, target, conf, own)
			probs = append(probs, ps...)
			opt.SSH[node] = keepalived.SSH{Host: target.Host, User: target.User, Port: target.Port, Sudo: sudo}
		case errors.Is(err, live.ErrNotFound):
			if _, err := os.Stat(file); err != nil {
				return exitcode.New(exitcode.Usage, "%v", err)
			}
			if pf, err = keepalived.Load(file, keepalived.OSFS{}); err != nil {
				probs = append(probs, loadProblem(err))
			}
		default:
			return exitcode.New(exitcode.Usage, "%v", err)
		}
		if pf == nil {
			failed = true
			continue
		}
		cfg, ps := keepalived.Decode(pf)
		probs = append(probs, ps...)
		nodes = append(nodes, keepalived.NodeConfig{Node: node, Config: cfg})
	}
	probs = append(probs, liveAddresses(&opt, nodes, own)...)
	if failed {
		if err := problemDiags(probs).WriteText(stderr); err != nil {
			return exitcode.New(exitcode.Failed, "%v", err)
		}
		return exitcode.New(exitcode.Invalid, "nothing written: %s", importFix(probs))
	}
	var leftOut []string
	if f.ignoreUnsupported {
		for i := range probs {
			if probs[i].Unsupported {
				probs[i].Warning = true
				what, _, _ := strings.Cut(probs[i].Msg, " is not supported")
				probs[i].Msg = what + " is not supported by hac import: left out (--ignore-unsupported)"
				leftOut = append(leftOut, fmt.Sprintf("%s (%s)", what, probs[i].Pos))
			}
		}
	}
	if len(leftOut) > 0 {
		opt.Header += "\nLeft out by --ignore-unsupported (hac cannot carry them; hac apply writes keepalived.conf without them):\n- " + strings.Join(leftOut, "\n- ")
		if !f.replaceKeepalived {
			probs = append(probs, keepalived.Problem{Flag: "--replace-keepalived-conf",
				Msg: fmt.Sprintf("%d directive(s) would be left out (%s), and %s: pass --replace-keepalived-conf to confirm, or move them out of keepalived first", len(leftOut), strings.Join(leftOut, "; "), lostBy(f.agent))})
		}
	}
	// Merge even after decode errors, so that every problem is reported.
	src, more := keepalived.Import(nodes, opt)
	probs = append(probs, more...)
	if probs.Errors() == 0 {
		mode := os.FileMode(0o644)
		if f.passEnv == "" && f.passFile == "" {
			mode = 0o600 // it may hold a cleartext auth pass
		}
		return writeImported(stdout, stderr, src, f.output, mode, probs)
	}
	if err := problemDiags(probs).WriteText(stderr); err != nil {
		return exitcode.New(exitcode.Failed, "%v", err)
	}
	return exitcode.New(exitcode.Invalid, "nothing written: %s", importFix(probs))
}

// lostBy says how hac apply would drop the directives an import leaves
// out.
func lostBy(agent bool) string {
	if agent {
		return "the imported cluster runs the hac agent, so hac apply would stop keepalived on every node, and them with it"
	}
	return "the imported cluster renders keepalived.conf, so hac apply would replace every node's keepalived.conf without them"
}

// importFix says what to do about the errors: the flags that give what
// the files do not say, and whether the files need fixing.
func importFix(probs keepalived.Problems) string {
	var flags []string
	fixFiles := false
	for _, p := range probs {
		switch {
		case p.Warning:
		case p.Flag != "":
			if !slices.Contains(flags, p.Flag) {
				flags = append(flags, p.Flag)
			}
		default:
			fixFiles = true
		}
	}
	files := "fix the keepalived files (or copies of them) and import again"
	if len(flags) == 0 {
		return files
	}
	give := "give " + strings.Join(flags, " and ")
	if fixFiles {
		return give + ", " + files
	}
	return give + " and import again"
}

// problemDiags turns importer problems into diagnostics, so they print
// like hac vet's.
func problemDiags(ps keepalived.Problems) compiler.Diagnostics {
	ds := make(compiler.Diagnostics, 0, len(ps))
	for _, p := range ps {
		d := compiler.Diagnostic{Msg: p.Msg, Pos: p.Pos, Related: p.Also}
		if p.Warning {
			d.Severity = compiler.Warning
		}
		ds = append(ds, d)
	}
	return ds
}

// writeImported compiles the generated description in memory, under the
// name it is written to (positions in warnings point at that file), and
// writes it only when it is valid, atomically.
func writeImported(stdout, stderr io.Writer, src []byte, output string, mode os.FileMode, probs keepalived.Problems) error {
	name := output
	if output == "-" {
		name = "<stdout>"
	}
	res, err := compiler.CompileSources([]compiler.Source{{Name: name, Data: src}}, compiler.Options{})
	if err != nil {
		return exitcode.New(exitcode.Failed, "%v", err)
	}
	diags := append(problemDiags(probs), res.Diags...)
	if err := diags.WriteText(stderr); err != nil {
		return exitcode.New(exitcode.Failed, "%v", err)
	}
	if res.Diags.HasErrors() {
		return exitcode.New(exitcode.Invalid, "the imported description does not compile: nothing written")
	}
	if output == "-" {
		_, err = stdout.Write(src)
	} else {
		err = writeFileAtomic(output, src, mode)
	}
	if err != nil {
		return exitcode.New(exitcode.Failed, "%v", err)
	}
	return nil
}

// loadProblem turns an error of keepalived.Load into a problem, with its
// position when it has one.
func loadProblem(err error) keepalived.Problem {
	var se *keepalived.SyntaxError
	if errors.As(err, &se) {
		return keepalived.Problem{Pos: se.Pos, Msg: se.Msg}
	}
	return keepalived.Problem{Msg: err.Error()}
}

// readLive reads node's keepalived.conf (conf, with its includes) over
// SSH, its own addresses on the interfaces its instances run on (into
// own), and reports every VIP its network configuration sets statically.
// It says whether the login reads through sudo (not root). It returns nil
// and the problem when the node cannot be read.
func readLive(d *sshconn.Dialer, node string, t sshconn.Target, conf string, own map[string][]netip.Prefix) (*keepalived.File, bool, keepalived.Problems) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := d.Dial(ctx, t)
	if err != nil {
		return nil, false, keepalived.Problems{{Msg: fmt.Sprintf("node %s: %v", node, err)}}
	}
	defer c.Close()
	n := live.New(ctx, node, c)
	sudo, err := n.AsRoot()
	if err != nil {
		return nil, false, keepalived.Problems{{Msg: err.Error()}}
	}
	pf, err := keepalived.Load(n.Path(conf), n)
	if err != nil {
		return nil, sudo, keepalived.Problems{loadProblem(err)}
	}
	cfg, _ := keepalived.Decode(pf) // its problems are reported by the caller's Decode
	vips := map[string][]netip.Addr{}
	var probs keepalived.Problems
	for _, in := range cfg.Instances {
		for _, v := range in.VIPs {
			dev := cmp.Or(v.Dev, in.Interface)
			vips[dev] = append(vips[dev], v.Prefix.Addr())
		}
	}
	for _, in := range cfg.Instances {
		if _, done := own[node]; done {
			break // one shared interface per node: read once
		}
		addrs, err := n.Addrs(in.Interface)
		if err != nil {
			probs = append(probs, keepalived.Problem{Pos: in.Positions["interface"], Msg: err.Error()})
			continue
		}
		own[node] = live.Own(addrs, vips[in.Interface])
	}
	aliases, err := n.Aliases(vips)
	if err != nil {
		return pf, sudo, append(probs, keepalived.Problem{Msg: fmt.Sprintf("node %s: reading its network configuration: %v", node, err)})
	}
	for _, a := range aliases {
		fix := "hac apply removes it (from the file and from the interface, without taking the interface down)"
		if a.Line == 0 {
			fix = "remove it from the file by hand before hac apply (hac removes ifupdown aliases only)"
		}
		probs = append(probs, keepalived.Problem{Warning: true, Pos: model.Pos{File: a.File, Line: a.Line, Col: 1},
			Msg: fmt.Sprintf("node %s: %s holds the VIP %s statically: the VRRP daemon must be its only holder (a static alias on every node makes every node answer ARP for it); %s", node, a.Name, a.VIP, fix)})
	}
	return pf, sudo, probs
}

// liveAddresses gives the nodes read over SSH their address and the
// subnet, unless --address and --subnet do: a node with more than one
// address of a family on its interface, or nodes on different subnets,
// are problems naming the flag that settles them.
func liveAddresses(opt *keepalived.Options, nodes []keepalived.NodeConfig, own map[string][]netip.Prefix) keepalived.Problems {
	var probs keepalived.Problems
	subnets := map[bool]netip.Prefix{}
	from := map[bool]string{}
	for _, n := range nodes {
		ps, ok := own[n.Node]
		if !ok {
			continue
		}
		byFamily := map[bool][]netip.Prefix{}
		for _, p := range ps {
			byFamily[p.Addr().Is4()] = append(byFamily[p.Addr().Is4()], p)
		}
		for _, is4 := range []bool{true, false} {
			fam := byFamily[is4]
			switch {
			case len(fam) == 0:
				continue
			case len(fam) > 1:
				if _, given := opt.Addresses[n.Node]; !given {
					probs = append(probs, keepalived.Problem{Flag: "--address", Msg: fmt.Sprintf("node %s has %d addresses of a family on its VRRP interface (%v): say which one is its own with --address %s=IP", n.Node, len(fam), fam, n.Node)})
				}
				continue
			}
			if _, given := opt.Addresses[n.Node]; !given && (is4 || len(byFamily[true]) == 0) {
				opt.Addresses[n.Node] = fam[0].Addr()
			}
			p := fam[0].Masked()
			if prev, ok := subnets[is4]; ok && prev != p {
				if !slices.ContainsFunc(opt.Subnets, func(s netip.Prefix) bool { return s.Addr().Is4() == is4 }) {
					probs = append(probs, keepalived.Problem{Flag: "--subnet", Msg: fmt.Sprintf("node %s is on %s but node %s on %s: give the shared segment's subnet with --subnet", n.Node, p, from[is4], prev)})
				}
				continue
			}
			subnets[is4], from[is4] = p, n.Node
		}
	}
	for _, is4 := range []bool{true, false} {
		if p, ok := subnets[is4]; ok && !slices.ContainsFunc(opt.Subnets, func(s netip.Prefix) bool { return s.Addr().Is4() == is4 }) {
			opt.Subnets = append(opt.Subnets, p)
		}
	}
	return probs
}
