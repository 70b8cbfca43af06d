// Package nodes boots real test nodes: Debian 12 containers with systemd
// as PID 1 (systemd-nspawn), each inside its node namespace of a
// [netns.Bed] on the test bridge (198.18.0.0/24), reached over SSH with a
// per-bed key and known_hosts. Tests use them where the node's init system
// decides the outcome: the unit hac renders, the activation commands of
// hac apply, Debian's keepalived service, networking.service and netplan
// after a reboot.
//
// The root file system is built once per package set with mmdebstrap and
// cached outside the clone (see [RootFS]); every node boots it through an
// overlay whose upper layer is the node's own disk, so a node keeps its
// files across reboots and no two nodes (or runs) share a change. Each
// node runs in a cgroup of its own, which powers it off hard ([Node.PowerOff])
// and tears it down with nothing left: the overlay mount and nspawn's
// runtime directory live in a private mount namespace that dies with the
// container. A bed killed before its cleanup ran is swept by the next
// [New]: everything this package creates carries the prefix "hac-nodes-"
// and the owner's process id and start time.
package nodes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/hac-project/hac/deploy/sshconn"
	"github.com/hac-project/hac/deploy/sshtest"
	"github.com/hac-project/hac/internal/netns"
	"github.com/hac-project/hac/internal/testenv"
)

// Timeouts of a node's life cycle: generous, for a loaded 2-core machine.
const (
	bootTimeout = 90 * time.Second // start to sshd answering and boot finished
	stopTimeout = 60 * time.Second // systemctl reboot/poweroff to the container's end
)

// RebootStatus is the exit status of systemd-nspawn when the container
// asked to reboot.
const RebootStatus = 133

// Spec describes a bed of nodes.
type Spec struct {
	// Nodes are short node names (as in netns.Spec); empty: n1 and n2.
	Nodes []string
	// Packages is the root file system's package list; empty: [Packages].
	Packages []string
	// Login is the user SSH logs in as (Bed.Login); empty: root. Setup
	// must create any other user; the bed gives it the bed's key.
	Login string
	// Setup are shell commands run as root inside each node's root file
	// system (chroot, no systemd running) before its first boot: add a
	// user, a sudoers rule, a configuration file. They see NODE (the
	// node's name), ADDR (its address on eth1) and PREFIXLEN (24).
	//
	// A node's eth1 carries its address for the first boot only (as a
	// provider sets up a new server): every time the node goes down, the
	// bed takes eth1 down and removes its addresses, as a real reboot or
	// power cut does, so from the second boot on the node's own network
	// configuration must bring eth1 up ([SeedInterfaces] does it as the
	// seed's servers did, or hac apply installs a renderer's file).
	Setup []string
	// OwnNetwork says Setup configures eth1: the bed leaves it down and
	// unaddressed from the first boot on.
	OwnNetwork bool
}

// SeedInterfaces is a Spec.Setup command that configures eth1 the way the
// seed's servers had it: a static stanza in /etc/network/interfaces,
// brought up by networking.service at boot.
const SeedInterfaces = `cat >> /etc/network/interfaces <<EOF

# The secondary network interface
auto eth1
iface eth1 inet static
address $ADDR
netmask 255.255.255.0
EOF`

// SeedVIP is the seed's VIP (192.168.200.102) in the bed's subnet.
const SeedVIP = "198.18.0.102"

// SeedState returns Spec.Setup commands that put each node in the state
// the seed's servers are in before hac: a user admin with a NOPASSWD sudo
// rule, eth1 and a static eth1:0 alias holding SeedVIP in
// /etc/network/interfaces (on every node, as the seed writes it), and
// keepalived running as Debian's service from a keepalived.conf like the
// seed's: master gets state MASTER and priority 200, the others BACKUP
// and 100 (VRID 51, advert_int 1, PASS pass1234). Add NoRootLogin for
// the seed's sshd; use it with Spec.OwnNetwork.
func SeedState(master string) []string {
	return []string{
		"useradd -m -s /bin/bash admin",
		"echo 'admin ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/admin && chmod 440 /etc/sudoers.d/admin",
		SeedInterfaces,
		`cat >> /etc/network/interfaces <<EOF

# VIP
auto eth1:0
iface eth1:0 inet static
address ` + SeedVIP + `
netmask 255.255.255.0
EOF`,
		`prio=100; state=BACKUP; [ "$NODE" = ` + master + ` ] && { prio=200; state=MASTER; }
cat > /etc/keepalived/keepalived.conf <<EOF
vrrp_instance VI_1 {
	state $state
	interface eth1
	virtual_router_id 51
	priority $prio
	advert_int 1
	authentication {
		auth_type PASS
		auth_pass pass1234
	}
	virtual_ipaddress {
		` + SeedVIP + `
	}
}
EOF`,
	}
}

// NoRootLogin is a Spec.Setup command that turns root login off in sshd.
const NoRootLogin = "echo 'PermitRootLogin no' > /etc/ssh/sshd_config.d/no-root.conf"

// A Bed is a set of running nodes on a netns bed. Its methods fail the
// test on error.
type Bed struct {
	*netns.Bed
	// Nodes are the containers, in Spec order.
	Nodes []*Node
	// Key is the private key file that logs in to every node, KnownHosts
	// the known_hosts file trusting every node's host key, Login the user.
	Key, KnownHosts, Login string

	t      testing.TB
	id     string // "hac-nodes-<pid>-<random>": cgroups, state directory, machine names
	dir    string // state directory
	rootfs string
	cg     cgroups
	dialer *sshconn.Dialer
}

// A Node is one container.
type Node struct {
	*netns.Node
	// Machine is the container's machine name.
	Machine string
	bed     *Bed
	dir     string // upper, work, root (mount point), console.log

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
	status int           // cmd's exit status, once done
	client *sshconn.Client
}

// New boots the nodes of spec in parallel and returns when every one has
// finished booting and answers over SSH. It needs root, systemd-nspawn
// (package systemd-container), mmdebstrap, unshare, ssh-keygen and cgroup
// v2 (unified or hybrid); missing ones skip the test, or fail it in CI.
// The bed and everything it started are removed when the test ends.
func New(t testing.TB, spec Spec) *Bed {
	t.Helper()
	testenv.NeedRoot(t)
	for _, tool := range []string{"systemd-nspawn", "mmdebstrap", "unshare", "ssh-keygen", "ip"} {
		testenv.NeedTool(t, tool)
	}
	cg, err := findCgroups()
	if err != nil {
		t.Fatal(err)
	}
	pkgs := spec.Packages
	if len(pkgs) == 0 {
		pkgs = Packages
	}
	rootfs := RootFS(t, pkgs)
	b := &Bed{t: t, rootfs: rootfs, cg: cg, Login: spec.Login}
	if b.Login == "" {
		b.Login = "root"
	}
	b.id, b.dir = claim(t, cg)
	// Registered before the netns bed's cleanup, so it runs after it:
	// the state directory (the sweep's record) goes last.
	t.Cleanup(func() { os.RemoveAll(b.dir) })
	b.Bed = netns.New(t, netns.Spec{Nodes: spec.Nodes})
	var names []string
	for _, n := range b.Bed.Nodes {
		names = append(names, n.NS)
	}
	names = append(names, b.Bed.Client, b.Bed.Bridge)
	if err := os.WriteFile(filepath.Join(b.dir, "namespaces"), []byte(strings.Join(names, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.close) // runs before the namespaces go

	var pub string
	b.Key, pub = sshtest.ClientKey(t, b.dir)
	var known strings.Builder
	for _, nn := range b.Bed.Nodes {
		n := &Node{Node: nn, bed: b, Machine: b.id + "-" + nn.Name, dir: filepath.Join(b.dir, nn.Name)}
		b.Nodes = append(b.Nodes, n)
		hostKey := n.provision(pub)
		known.WriteString(knownhosts.Line([]string{knownhosts.Normalize(nn.Addr.String() + ":22")}, hostKey) + "\n")
	}
	b.KnownHosts = filepath.Join(b.dir, "known_hosts")
	if err := os.WriteFile(b.KnownHosts, []byte(known.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	b.dialer, err = sshconn.NewDialer(sshconn.Options{ConfigFile: "none", KnownHosts: []string{b.KnownHosts},
		IdentityFiles: []string{b.Key}, NoAgent: true, Timeout: 2 * time.Second, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range b.Nodes {
		n.setup(spec.Setup)
		if spec.OwnNetwork {
			n.unplug()
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(b.Nodes))
	for i, n := range b.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.boot()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return b
}

// Node returns the node with the given short name.
func (b *Bed) Node(name string) *Node {
	b.t.Helper()
	for _, n := range b.Nodes {
		if n.Name == name {
			return n
		}
	}
	b.t.Fatalf("nodes: no node %q in this bed", name)
	return nil
}

// provision writes the node's own files into its upper layer before the
// first boot: its host key, sshd's drop-in, root's authorized_keys and its
// hostname. It returns the host's public key.
func (n *Node) provision(clientKey string) ssh.PublicKey {
	t := n.bed.t
	t.Helper()
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.MkdirAll(filepath.Join(n.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	keyFile := filepath.Join(n.dir, "host_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", n.Machine, "-f", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	priv, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pubLine, err := os.ReadFile(keyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey(pubLine)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
		data []byte
	}{
		{"/etc/ssh/ssh_host_ed25519_key", 0o600, priv},
		{"/etc/ssh/ssh_host_ed25519_key.pub", 0o644, pubLine},
		{"/etc/ssh/sshd_config.d/hac-testbed.conf", 0o644, []byte("# hac test bed: this node's own host key only\nHostKey /etc/ssh/ssh_host_ed25519_key\nUseDNS no\n")},
		{"/root/.ssh/authorized_keys", 0o600, []byte(clientKey + "\n")},
		{"/etc/hostname", 0o644, []byte(n.Name + "\n")},
	} {
		n.writeFile(f.path, f.mode, f.data)
	}
	// /sys is writable in the container: netplan apply writes uevent
	// files (udevadm trigger) and systemd-networkd waits for udev to
	// have seen a link, as on a server, so udev runs. Its trigger at
	// boot is confined to network devices (the container's sysfs shows
	// only its namespace's), so no host device is touched. eth1 keeps
	// its MAC address like a NIC with a burnt-in one: udev's default
	// link policy would give the veth a new one.
	n.writeFile("/etc/systemd/system/systemd-udev-trigger.service.d/hac-testbed.conf", 0o644, []byte(`# hac test bed: only this container's network devices
[Service]
ExecStart=
ExecStart=-udevadm trigger --type=subsystems --action=add --subsystem-match=net
ExecStart=-udevadm trigger --type=devices --action=add --subsystem-match=net
`))
	n.writeFile("/etc/systemd/network/99-default.link", 0o644, nil)
	p := filepath.Join(n.dir, "upper/etc/systemd/network/99-default.link")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/null", p); err != nil {
		t.Fatal(err)
	}
	return hostKey
}

// writeFile writes a file into the node's upper layer. Directories it
// creates there take the mode and owner of the root file system's
// directory of the same name: the overlay shows the upper one.
func (n *Node) writeFile(path string, mode os.FileMode, data []byte) {
	t := n.bed.t
	t.Helper()
	upper := filepath.Join(n.dir, "upper")
	parts := strings.Split(strings.Trim(filepath.Dir(path), "/"), "/")
	cur := ""
	for _, p := range parts {
		cur += "/" + p
		if _, err := os.Lstat(upper + cur); err == nil {
			continue
		}
		dm, uid, gid := os.FileMode(0o755), 0, 0
		if fi, err := os.Stat(n.bed.rootfs + cur); err == nil {
			dm = fi.Mode().Perm()
			st := fi.Sys().(*syscall.Stat_t)
			uid, gid = int(st.Uid), int(st.Gid)
		}
		if err := os.Mkdir(upper+cur, dm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(upper+cur, dm); err != nil { // past the umask
			t.Fatal(err)
		}
		if err := os.Chown(upper+cur, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(upper+path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(upper+path, mode); err != nil {
		t.Fatal(err)
	}
}

// mountScript is the start of both the setup and the boot script: it
// runs in a private mount namespace (unshare --mount) and mounts the
// node's overlay on $st/root and a private tmpfs on nspawn's runtime
// directory, so both vanish with the namespace however the node ends.
const mountScript = `set -eu
lower=$1 st=$2; shift 2
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$st/upper,workdir=$st/work" "$st/root"
`

// setupScript runs the Spec's setup commands in the node's root and gives
// the login user root's authorized_keys.
const setupScript = mountScript + `login=$1 cmds=$2
chroot "$st/root" /bin/sh -euc "$cmds"
[ "$login" = root ] && exit 0
chroot "$st/root" /bin/sh -euc '
h=$(getent passwd "$1" | cut -d: -f6)
[ -n "$h" ] || { echo "login user $1 does not exist: create it in Spec.Setup" >&2; exit 1; }
install -d -m 700 -o "$1" -g "$(id -gn "$1")" "$h/.ssh"
install -m 600 -o "$1" -g "$(id -gn "$1")" /root/.ssh/authorized_keys "$h/.ssh/authorized_keys"' sh "$login"
`

// bootScript boots the container. --private-network with the node's
// namespace gives it a sysfs and /proc/sys/net of that namespace and
// keeps CAP_NET_ADMIN; SYSTEMD_NSPAWN_API_VFS_WRITABLE lets netplan apply
// write its uevent files (udevadm trigger) as on a server. Its process id stays the one the bed
// started (every step execs), which is the cgroup's first member.
const bootScript = mountScript + `ns=$1 machine=$2 host=$3
mkdir -p /run/systemd/nspawn
mount -t tmpfs -o mode=0755 tmpfs /run/systemd/nspawn
SYSTEMD_NSPAWN_LOCK=0 SYSTEMD_NSPAWN_API_VFS_WRITABLE=1 exec systemd-nspawn --quiet --boot --directory="$st/root" --register=no --keep-unit \
  --private-network --capability=CAP_NET_ADMIN,CAP_NET_RAW \
  --network-namespace-path="/run/netns/$ns" --machine="$machine" --hostname="$host"
`

// setup runs Spec.Setup in the node's root before its first boot.
func (n *Node) setup(cmds []string) {
	t := n.bed.t
	t.Helper()
	if len(cmds) == 0 && n.bed.Login == "root" {
		return
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", setupScript, "sh",
		n.bed.rootfs, n.dir, n.bed.Login, strings.Join(append([]string{":"}, cmds...), "\n"))
	cmd.Env = append(os.Environ(), "NODE="+n.Name, "ADDR="+n.Addr.String(), fmt.Sprintf("PREFIXLEN=%d", netns.Prefix.Bits()))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nodes: setup of %s: %v\n%s", n.Name, err, out)
	}
}

// start starts the container in its cgroup, without waiting for it.
func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("nodes: %s is already running", n.Name)
	}
	cgs, err := n.bed.cg.create(n.Machine)
	if err != nil {
		return err
	}
	console, err := os.OpenFile(filepath.Join(n.dir, "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer console.Close()
	fmt.Fprintf(console, "\n==== hac test bed: boot at %s ====\n", time.Now().Format(time.RFC3339Nano))
	// sh enters the cgroups, then execs unshare, which execs sh, which
	// execs systemd-nspawn: one process id all along.
	enter := ""
	for _, cg := range cgs {
		enter += fmt.Sprintf("echo $$ > %s/cgroup.procs\n", sshconn.Quote(cg))
	}
	cmd := exec.Command("sh", "-c", enter+`exec unshare --mount --propagation private sh -c "$@"`, "sh",
		bootScript, "sh", n.bed.rootfs, n.dir, n.NS, n.Machine, n.Name)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = console, console
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("nodes: start %s: %w", n.Name, err)
	}
	n.cmd, n.done = cmd, make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		err := cmd.Wait()
		st := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			st = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				st = 128 + int(ws.Signal())
			}
		}
		n.unplug()
		n.mu.Lock()
		n.status = st
		n.cmd = nil
		if n.client != nil {
			n.client.Close()
			n.client = nil
		}
		n.mu.Unlock()
		close(done)
	}(cmd, n.done)
	return nil
}

// unplug resets eth1 in the node's namespace as a reboot or power cut
// resets a server's NIC: link down (the bridge sees carrier loss), no
// address, no route.
func (n *Node) unplug() {
	for _, args := range [][]string{
		{"-n", n.NS, "link", "set", netns.NodeIface, "down"},
		{"-n", n.NS, "addr", "flush", "dev", netns.NodeIface},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			n.bed.t.Logf("nodes: %s: ip %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
		}
	}
}

// boot starts the container and waits until sshd answers and systemd has
// finished booting (running or degraded).
func (n *Node) boot() error {
	start := time.Now()
	if err := n.start(); err != nil {
		return err
	}
	deadline := start.Add(bootTimeout)
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	var lastErr error
	for {
		select {
		case <-done:
			return fmt.Errorf("nodes: %s ended while booting (exit status %d):\n%s", n.Name, n.status, n.ConsoleTail(30))
		default:
		}
		_, err := n.Run("true")
		if err == nil {
			break
		}
		if lastErr == nil || err.Error() != lastErr.Error() {
			n.bed.t.Logf("nodes: %s: waiting for sshd: %v", n.Name, err)
		}
		lastErr = err
		if time.Now().After(deadline) {
			addrs, _ := exec.Command("ip", "-n", n.NS, "-br", "addr", "show", "dev", netns.NodeIface).CombinedOutput()
			return fmt.Errorf("nodes: %s: sshd does not answer at %s %v after the boot started (eth1: %s; does the node's "+
				"network configuration bring eth1 up? see Spec.Setup):\n%s", n.Name, n.Addr, bootTimeout, bytes.TrimSpace(addrs), n.ConsoleTail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, _ := n.Run("systemctl is-system-running --wait")
	if s := strings.TrimSpace(out); s != "running" && s != "degraded" {
		return fmt.Errorf("nodes: %s: boot did not finish: systemctl is-system-running: %q", n.Name, s)
	}
	n.bed.t.Logf("nodes: %s booted in %v (%s)", n.Name, time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
	return nil
}

// Boot starts a node that is down (after [Node.PowerOff] or
// [Node.RebootHeld]) and waits until it has booted.
func (n *Node) Boot() {
	n.bed.t.Helper()
	if err := n.boot(); err != nil {
		n.bed.t.Fatal(err)
	}
}

// Run runs a shell command line on the node over SSH as the bed's login
// user and returns its standard output; a failure's error carries the
// exit status and standard error.
func (n *Node) Run(cmd string) (string, error) {
	c, err := n.conn()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := c.Run(ctx, "run", cmd, nil)
	var re *sshconn.RunError
	if errors.As(err, &re) && re.ConnectionLost() {
		n.mu.Lock()
		if n.client == c {
			n.client = nil
		}
		n.mu.Unlock()
		c.Close()
	}
	return string(out), err
}

// Exec is Run that fails the test when the command fails.
func (n *Node) Exec(cmd string) string {
	n.bed.t.Helper()
	out, err := n.Run(cmd)
	if err != nil {
		n.bed.t.Fatalf("nodes: %s: %s: %v", n.Name, cmd, err)
	}
	return out
}

// conn returns the node's SSH connection, dialling it from the client
// namespace when there is none.
func (n *Node) conn() (*sshconn.Client, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.client != nil {
		return n.client, nil
	}
	var c *sshconn.Client
	err := netns.Do(n.bed.Client, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		c, err = n.bed.dialer.Dial(ctx, sshconn.Target{Host: n.Addr.String(), User: n.bed.Login})
		return err
	})
	if err != nil {
		return nil, err
	}
	n.client = c
	return c, nil
}

// Reboot runs systemctl reboot on the node, waits until the container has
// gone down and boots it again, like a server coming back: the node's
// files stay, its processes and runtime state do not.
func (n *Node) Reboot() {
	n.bed.t.Helper()
	n.RebootHeld()
	n.Boot()
}

// RebootHeld is Reboot for a server that takes its time to come back:
// the node goes down gracefully (systemd stops every service) and stays
// down until [Node.Boot].
func (n *Node) RebootHeld() {
	n.bed.t.Helper()
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		n.bed.t.Fatalf("nodes: reboot %s: it is not running", n.Name)
	}
	// The session may end before the command returns.
	cmd := "systemctl reboot"
	if n.bed.Login != "root" {
		cmd = "sudo -n " + cmd // the login's sudo rule (Spec.Setup)
	}
	if _, err := n.Run(cmd); err != nil {
		var re *sshconn.RunError
		if !errors.As(err, &re) || !re.ConnectionLost() {
			n.bed.t.Fatalf("nodes: %s: systemctl reboot: %v", n.Name, err)
		}
	}
	select {
	case <-done:
	case <-time.After(stopTimeout):
		n.bed.t.Fatalf("nodes: %s did not go down within %v of systemctl reboot", n.Name, stopTimeout)
	}
	if n.status != RebootStatus {
		n.bed.t.Fatalf("nodes: %s ended with status %d after systemctl reboot, want %d:\n%s", n.Name, n.status, RebootStatus, n.ConsoleTail(30))
	}
}

// PowerOff kills every process of the node at once (its cgroup), the
// equivalent of pulling the plug: no service stops, nothing is flushed.
// The node's files stay for [Node.Boot].
func (n *Node) PowerOff() {
	n.bed.t.Helper()
	if err := n.kill(); err != nil {
		n.bed.t.Fatal(err)
	}
}

// Running reports whether the node's container runs.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// kill kills the node's cgroup, waits for the container's end and removes
// the cgroup.
func (n *Node) kill() error {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if err := n.bed.cg.remove(n.Machine); err != nil {
		return err
	}
	if done != nil {
		select {
		case <-done:
		case <-time.After(stopTimeout):
			return fmt.Errorf("nodes: %s: systemd-nspawn did not exit after its cgroup was killed", n.Name)
		}
	}
	return nil
}

// ConsoleTail returns the last lines of the node's console (boot messages
// of every boot).
func (n *Node) ConsoleTail(lines int) string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "console.log"))
	ls := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return string(bytes.Join(ls, []byte("\n")))
}

// close powers every node off and removes its cgroups; the namespaces go
// with the netns bed, the state directory last.
func (b *Bed) close() {
	for _, n := range b.Nodes {
		if b.t.Failed() && n.Running() {
			if out, err := n.Run("systemctl --failed --no-legend; journalctl -b --no-pager -n 40"); err == nil {
				b.t.Logf("nodes: %s at the end:\n%s", n.Name, out)
			}
		}
		if err := n.kill(); err != nil {
			b.t.Error(err)
		}
	}
}

// String returns the node's name.
func (n *Node) String() string { return n.Name }
