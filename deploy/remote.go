package deploy

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/hac-project/hac/deploy/sshconn"
	"github.com/hac-project/hac/model"
)

// Conn runs shell commands on one node. *sshconn.Client is the real one.
type Conn interface {
	// Run runs cmd (a POSIX sh command line) with stdin and returns its
	// standard output; what names the step in errors.
	Run(ctx context.Context, what, cmd string, stdin io.Reader) ([]byte, error)
	Close() error
}

var _ Conn = (*sshconn.Client)(nil)

// become returns c as the node's ssh.become says: c itself for a root
// login, or a Conn running every command through "sudo -n" once it has
// checked that sudo runs without a password (the preflight: a connection
// that would fail at the first file it writes fails here instead, before
// anything changed). It closes c when the check fails.
func become(ctx context.Context, c Conn, n *Node) (Conn, error) {
	if n.Manifest.SSH.Become != model.BecomeSudo {
		return c, nil
	}
	return Sudo(ctx, c, n.Manifest.SSH.User)
}

// Sudo returns c running every command through "sudo -n", once it has
// checked that sudo runs without a password; a sudo that wants one (or a
// terminal, or is missing) is an error saying how to fix it, naming user
// (the login, for the message; empty: the node's answer). It closes c
// when the check fails. hac import reads nodes through it too.
func Sudo(ctx context.Context, c Conn, user string) (Conn, error) {
	out, err := c.Run(ctx, "check sudo", "id -un && sudo -n true", nil)
	if err == nil {
		return sudoConn{c}, nil
	}
	c.Close()
	var re *sshconn.RunError
	if errors.As(err, &re) && re.ConnectionLost() {
		return nil, err
	}
	if who, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n"); who != "" {
		user = who
	}
	user = cmp.Or(user, "USER")
	const why = "%w: ssh.become is \"sudo\" and hac runs every command through \"sudo -n\": "
	switch {
	case re != nil && re.Status == 127:
		return nil, fmt.Errorf(why+"sudo is not installed on the node: install it (apt-get install sudo) and give %s a NOPASSWD rule. Nothing was changed", err, user)
	case strings.Contains(err.Error(), "tty"):
		return nil, fmt.Errorf(why+"sudo wants a terminal, which hac does not open: let %s use sudo without one (as root: "+
			"echo 'Defaults:%s !requiretty' > /etc/sudoers.d/hac-tty && chmod 0440 /etc/sudoers.d/hac-tty; check it with visudo -c). Nothing was changed", err, user, user)
	}
	return nil, fmt.Errorf(why+"it cannot type a password: "+
		"give %s a NOPASSWD rule on the node (as root: echo '%s ALL=(root) NOPASSWD: ALL' > /etc/sudoers.d/hac && chmod 0440 /etc/sudoers.d/hac; "+
		"check it with visudo -c). Nothing was changed", err, user, user)
}

// sudoConn runs every command as root through "sudo -n": the command line,
// pipes, redirections and variables included, is one argument of
// "sh -c" run by sudo; stdin (file content) goes through sudo unchanged,
// so files are written by root and never exist owned by the login user.
type sudoConn struct{ Conn }

func (c sudoConn) Run(ctx context.Context, what, cmd string, stdin io.Reader) ([]byte, error) {
	return c.Conn.Run(ctx, what, asRoot(cmd), stdin)
}

// asRoot is cmd run as root by "sudo -n" (never prompting).
func asRoot(cmd string) string { return "sudo -n -- sh -c " + q(cmd) }

// argLen is how many bytes s takes in the command line hac sends to node
// np: quoted once, and once more when sudo runs it.
func argLen(np *NodePlan, s string) int {
	if np.node.Manifest.SSH.Become == model.BecomeSudo {
		return len(q(q(s)))
	}
	return len(q(s))
}

// q quotes for the remote shell.
func q(s string) string { return sshconn.Quote(s) }

// shell returns the command line that runs script with sh and args.
// Scripts are POSIX sh; they rely only on coreutils or busybox commands
// found on every Linux node (stat -c, sha256sum, mktemp is not needed).
func shell(script string, args ...string) string {
	var b strings.Builder
	b.WriteString("sh -c ")
	b.WriteString(q(script))
	b.WriteString(" hac")
	for _, a := range args {
		b.WriteByte(' ')
		b.WriteString(q(a))
	}
	return b.String()
}

// readScript prints one line per argument file: "F" for a regular file,
// "N" when missing, "X" for anything else (a directory, a symlink); then,
// when there are F files, one "<octal mode> <owner> <group> <size>" line
// for each (owner and group by name, UNKNOWN without one), "--"
// and their bytes, concatenated. It forks two processes however many
// files there are (one stat, one cat): that matters when hac plans many
// nodes.
const readScript = `set -u
n=$#
for p; do
  if [ -L "$p" ]; then echo X
  elif [ -f "$p" ]; then echo F; set -- "$@" "$p"
  elif [ -e "$p" ]; then echo X
  else echo N
  fi
done
shift "$n"
[ $# -gt 0 ] || exit 0
stat -c '%a %U %G %s' -- "$@" || exit 1
echo --
exec cat -- "$@"`

// remoteFile is a file's current state on a node.
type remoteFile struct {
	exists       bool
	mode         uint32
	owner, group string // names
	content      []byte
}

// readFiles reads the current content, mode and owner of paths on the node.
func readFiles(ctx context.Context, c Conn, paths []string) ([]remoteFile, error) {
	out, err := c.Run(ctx, "read current files", shell(readScript, paths...), nil)
	if err != nil {
		return nil, err
	}
	bad := func(what string) error {
		return fmt.Errorf("read current files: %s in the node's answer: retry (did a file change meanwhile?)", what)
	}
	lines := func(n int) ([]string, error) {
		var ls []string
		for range n {
			i := bytes.IndexByte(out, '\n')
			if i < 0 {
				return nil, bad("truncated header")
			}
			ls, out = append(ls, string(out[:i])), out[i+1:]
		}
		return ls, nil
	}
	kinds, err := lines(len(paths))
	if err != nil {
		return nil, err
	}
	files := make([]remoteFile, len(paths))
	var regular []int
	for i, k := range kinds {
		switch k {
		case "N":
		case "X":
			return nil, fmt.Errorf("%s exists and is not a regular file (a directory or a symlink?): hac only replaces regular files; move it away", paths[i])
		case "F":
			regular = append(regular, i)
		default:
			return nil, bad(fmt.Sprintf("bad line %q", k))
		}
	}
	if len(regular) == 0 {
		return files, nil
	}
	stats, err := lines(len(regular) + 1)
	if err != nil {
		return nil, err
	}
	if stats[len(regular)] != "--" {
		return nil, bad("missing separator")
	}
	for j, i := range regular {
		f := remoteFile{exists: true}
		var size int
		if _, err := fmt.Sscanf(stats[j], "%o %s %s %d", &f.mode, &f.owner, &f.group, &size); err != nil || size < 0 || size > len(out) {
			return nil, bad(fmt.Sprintf("bad stat line %q", stats[j]))
		}
		f.content = out[:size]
		files[i] = f
		out = out[size:]
	}
	if len(out) != 0 {
		return nil, bad("extra bytes")
	}
	return files, nil
}

// chownFunc is the shell function both staging scripts use: "chownf
// OWNER[:GROUP] TEMP PATH" gives the staged file TEMP its owner (nothing
// when OWNER is empty) or exits 3, saying why: nothing has changed yet.
// It runs as root: hac logs in as root, or runs it through sudo
// (ssh.become).
const chownFunc = `chownf() {
  [ -z "$1" ] || chown -- "$1" "$2" && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "hac: cannot chown $3 to $1: hac is logged in as $(id -un), not root: log in as root (ssh.user: \"root\"), or set ssh.become: \"sudo\" with a NOPASSWD sudo rule" >&2
  else
    echo "hac: cannot chown $3 to $1: does that user and group exist on the node?" >&2
  fi
  exit 3
}
`

// stageScript writes stdin to a temporary file next to $1 (hidden, so no
// tool reading *.yaml or interfaces.d/* picks it up), then sets its owner
// ($3, "owner:group" or empty) and mode (after chown, which may clear
// set-id bits) and flushes it to disk. It removes temporary files an interrupted apply
// left. The target file itself is never touched. Large or binary files
// go this way; small text files travel inline in commitScript.
const stageScript = `set -eu
p=$1 mode=$2 own=$3 tok=$4
` + chownFunc + `d=${p%/*}/ b=${p##*/}
mkdir -p -- "$d"
rm -f -- "$d.$b.hac-tmp-"*
t="$d.$b.hac-tmp-$tok"
umask 077
cat > "$t"
chownf "$own" "$t" "$p"
chmod "$mode" "$t"
sync -- "$t" 2>/dev/null || sync`

// commitScript takes the state directory, the token, the remote root and
// the dead-man delay in seconds (0: none), then one "path mode owner
// sha256 backup inline" group per file (owner: "owner:group" or empty). inline is "I" and the file's bytes for
// small text files sent in the command line itself (written here like
// stageScript does); empty for files staged before over stdin. A sha256 of
// "-" is read from stdin instead, one line per such file in order (so no
// digest of a private file is in a command line). It checks
// every staged file against its digest (an interrupted transfer fails
// here, before anything changes; so does a chown that fails: exit
// status 3 means nothing changed), copies the current files to be replaced
// into $state/prev/<path without the root> (backup=1, cp -p: with
// their mode and owner), renames each staged file, with its final owner
// and mode, over its target (each replacement is atomic), then arms the
// dead-man timer: $state/armed-$tok exists until hac confirms, and
// restore-$tok.sh deadman fires after the delay unless it is gone (a
// transient systemd timer when systemd runs, else a detached sleeping
// shell).
const commitScript = `set -eu
st=$1 tok=$2 root=$3 arm=$4; shift 4
` + chownFunc + `umask 077
mkdir -p -- "$st/prev"
for f in "$st"/restore-*.sh "$st"/restored-* "$st"/fired-* "$st"/.restore-*.sh.hac-tmp-*; do
  case $f in "$st/restore-$tok.sh" | "$st/.restore-$tok.sh.hac-tmp-$tok") ;; *) rm -f -- "$f" ;; esac
done
fsync() { sync -- "$@" 2>/dev/null || sync; }
n=$#
i=0
while [ $i -lt $n ]; do
  p=$1 mode=$2 own=$3 sum=$4 bak=$5 data=$6; shift 6; set -- "$@" "$p" "$mode" "$own" "$sum" "$bak" "$data"; i=$((i+6))
  d=${p%/*}/ b=${p##*/}
  t="$d.$b.hac-tmp-$tok"
  case $data in I*)
    [ -d "$d" ] || mkdir -p -- "$d"
    rm -f -- "$d.$b.hac-tmp-"*
    printf '%s' "${data#I}" > "$t"
    chownf "$own" "$t" "$p"
    chmod "$mode" "$t"
    fsync "$t" ;;
  esac
  if [ "$sum" = - ]; then IFS= read -r sum || sum=none; fi
  got=$(sha256sum < "$t")
  if [ "${got%% *}" != "$sum" ]; then echo "hac: staged copy of $p is incomplete (interrupted transfer?): nothing was changed" >&2; exit 3; fi
done
i=0
while [ $i -lt $n ]; do
  p=$1 mode=$2 own=$3 sum=$4 bak=$5 data=$6; shift 6; set -- "$@" "$p" "$mode" "$own" "$sum" "$bak" "$data"; i=$((i+6))
  if [ "$bak" = 1 ]; then
    l=${p#"$root"}
    [ -d "$st/prev${l%/*}/" ] || mkdir -p -- "$st/prev${l%/*}/"
    cp -p -- "$p" "$st/prev$l.new"
    fsync "$st/prev$l.new"
    mv -f -- "$st/prev$l.new" "$st/prev$l"
  fi
done
while [ $# -gt 0 ]; do
  p=$1; shift 6
  d=${p%/*}/ b=${p##*/}
  mv -f -- "$d.$b.hac-tmp-$tok" "$p"
  fsync "$d"
done
[ "$arm" -gt 0 ] || exit 0
: > "$st/armed-$tok"
if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null 2>&1; then
  systemd-run --quiet --unit "hac-deadman-$tok" --on-active="${arm}s" /bin/sh "$st/restore-$tok.sh" deadman 0
else
  if command -v setsid >/dev/null 2>&1; then s=setsid; else s=; fi
  nohup $s /bin/sh "$st/restore-$tok.sh" deadman "$arm" </dev/null >/dev/null 2>&1 &
fi`

// inlineBudget bounds the command line of commitScript: Linux limits one
// argument (the whole command, for the login shell's -c) to 128 KiB.
const inlineBudget = 96 << 10

// activateScript runs the activation commands ($2...) in order with
// HAC_ROOT=$1, stopping at the first that fails.
const activateScript = `HAC_ROOT=$1; export HAC_ROOT; shift
for c; do
  sh -c "$c" && continue
  rc=$?
  printf 'hac: activation command failed (exit status %s): %s\n' "$rc" "$c" >&2
  exit "$rc"
done`

// confirmScript disarms the timer. Renaming the token is atomic: either
// hac confirms, or the timer restores, never both. Exit 4 means the
// timer fired first.
const confirmScript = `st=$1 tok=$2
mv -- "$st/armed-$tok" "$st/confirmed-$tok" 2>/dev/null || exit 4
rm -f -- "$st/confirmed-$tok"
systemctl stop "hac-deadman-$tok.timer" >/dev/null 2>&1 || true
exit 0`

// restoreScript renders the node-side rollback for one apply: stop the
// services of files the apply created (their Deactivate), put back the
// previous files (atomically, from $state/prev, with their mode and
// owner: cp -p as root keeps both), remove the files that did not exist,
// then re-run the changed files' activation (or their undo) and restart
// the services the apply stopped. "restore.sh deadman N" sleeps N seconds
// and only runs when the timer is still armed; "restore.sh now" runs at
// once and disarms it.
func restoreScript(state, tok string, np *NodePlan, noActivate bool) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "#!/bin/sh\n# Written by hac apply (%s): restores the files it replaced and re-activates them.\nset -u\nst=%s\n", tok, q(state))
	fmt.Fprintf(&b, `case "${1:-now}" in
deadman) sleep "${2:-0}"; mv -- "$st/armed-%[1]s" "$st/fired-%[1]s" 2>/dev/null || exit 0 ;;
*) rm -f -- "$st/armed-%[1]s" ;;
esac
rc=0
put() { d=${2%%/*}/ b=${2##*/}; t="$d.$b.hac-tmp-restore"
  { cp -p -- "$1" "$t" && sync && mv -f -- "$t" "$2"; } || rc=1; }
`, tok)
	changes := np.changes
	if np.record != nil {
		changes = append(slices.Clip(changes), np.record)
	}
	var pre, post []string
	add := func(list *[]string, cmd string) {
		if cmd != "" && !noActivate && !slices.Contains(*list, cmd) {
			*list = append(*list, cmd)
		}
	}
	for _, c := range changes {
		switch {
		case !c.old.exists && c.file.Deactivate != "":
			add(&pre, c.file.Deactivate)
		case c.undo != "":
			add(&post, c.undo)
		default:
			add(&post, c.file.Activate)
		}
	}
	for _, r := range np.restart {
		add(&post, r)
	}
	post = activations(np, post)
	for _, a := range pre {
		fmt.Fprintf(&b, "HAC_ROOT=%s sh -c %s || rc=1\n", q(np.root), q(a))
	}
	for _, c := range changes {
		if c.old.exists {
			fmt.Fprintf(&b, "put %s %s\n", q(state+"/prev"+c.file.Path), q(c.remote))
		} else {
			fmt.Fprintf(&b, "rm -f -- %s || rc=1\n", q(c.remote))
		}
	}
	for _, a := range post {
		fmt.Fprintf(&b, "HAC_ROOT=%s sh -c %s || rc=1\n", q(np.root), q(a))
	}
	fmt.Fprintf(&b, "echo $rc > \"$st/restored-%s\"\nexit $rc\n", tok)
	return b.Bytes()
}
