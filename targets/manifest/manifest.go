// Package manifest is the index hac build writes next to each node's files
// (out/<cluster>/<node>/manifest.json) and hac apply reads: which files go
// where with which mode, their digests, and the commands that activate them.
//
// The manifest is world-readable, so it carries no digest of a file that
// holds a secret: the SHA-256 of agent.json is an offline oracle for its
// 8-character pass (hash the file with each guess). Deploy and status
// compare such files with the node by their content and by the agent's
// reported config digest, which never leave root-only places.
package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
)

// FormatVersion is the manifest format this hac reads and writes.
const FormatVersion = 1

// FileName is the manifest's name inside a node's output tree.
const FileName = "manifest.json"

// Manifest describes one node's output tree.
type Manifest struct {
	Format  int    `json:"format"`
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	SSH     SSH    `json:"ssh"`
	// Order is the node's place in a rolling apply: 0 goes first. Nodes
	// that should be backup come first, the preferred master last.
	Order int `json:"order"`
	// Files are sorted by Path. Each Path is absolute on the node; the
	// file's content is in the tree at the same path below the node folder.
	Files []File `json:"files"`
	// Expect is the state hac apply and hac status verify after activation.
	Expect []Expect `json:"expect,omitempty"`
	// AgentRestartKey is the key of the agent-wide settings of the node's
	// agent.json that only a restart of the agent applies (agent/config's
	// RestartKey: the status socket, the metrics listener, the sync
	// groups). hac apply restarts the agent instead of reloading it when
	// the key the node recorded at its last apply differs. It is a digest
	// of settings that never include the auth pass. Empty when the node
	// runs keepalived, and in a manifest from an older hac.
	AgentRestartKey string `json:"agent_restart_key,omitempty"`
}

// SSH says how to reach the node.
type SSH struct {
	Host string `json:"host"`
	User string `json:"user,omitempty"`
	Port int    `json:"port,omitempty"`
	Jump string `json:"jump,omitempty"`
	// Become is "sudo" when the login user is not root: every command
	// runs through "sudo -n".
	Become string `json:"become,omitempty"`
}

// File is one file for the node.
type File struct {
	Path string `json:"path"`
	Mode Mode   `json:"mode"`
	// Owner and Group are the user and group names (not numeric IDs:
	// they are resolved on the node) that own the file on the node, e.g.
	// "root". hac apply chowns the staged file to them before the rename
	// that publishes it. Empty leaves the file owned by the SSH user
	// (manifests written before these fields existed). An older hac
	// refuses a manifest that has them (unknown fields): rebuild with it.
	Owner string `json:"owner,omitempty"`
	Group string `json:"group,omitempty"`
	// SHA256 is the hex SHA-256 of the content ([Digest]); empty for a
	// Secret file, whose digest must not be in a world-readable file.
	SHA256 string `json:"sha256,omitempty"`
	// Activate is the shell command that makes a change of this file take
	// effect, e.g. "netplan apply"; empty when none is needed. Files that
	// share a command run it once.
	Activate string `json:"activate,omitempty"`
	// Deactivate is the shell command that stops what the file started
	// (a service): hac apply runs it, then removes the file, once a build
	// no longer produces the file. Empty when nothing needs stopping.
	Deactivate string `json:"deactivate,omitempty"`
	// Network marks files whose activation can cut the SSH session; hac
	// apply arms a dead-man timer before activating them.
	Network bool `json:"network,omitempty"`
	// Secret marks files holding secrets: never shown in a diff.
	Secret bool `json:"secret,omitempty"`
}

// Expect is one VRRP instance's expected state on this node, with the
// facts hac apply and hac status judge it by (they never parse agent.json).
type Expect struct {
	Instance string `json:"instance"`
	State    string `json:"state"` // "MASTER" or "BACKUP"
	Priority int    `json:"priority"`
	// Version (2 or 3) and AdvertIntMillis are the instance's VRRP
	// version and advert interval: a backup must have heard its master
	// within its Master_Down_Interval. Zero in a manifest from an older
	// hac.
	Version         int   `json:"version,omitempty"`
	AdvertIntMillis int64 `json:"advert_int_ms,omitempty"`
	// Interface is the instance's interface on this node and VIPs its
	// virtual addresses (without prefix length): hac apply finds a static
	// alias holding a VIP (eth1:0 in /etc/network/interfaces) by them.
	// Empty in a manifest from an older hac.
	Interface string   `json:"interface,omitempty"`
	VIPs      []string `json:"vips,omitempty"`
}

// Digest returns the SHA256 field of a file with content data: its hex
// SHA-256, or "" when the file holds a secret.
func Digest(data []byte, secret bool) string {
	if secret {
		return ""
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// Verify checks that data is the content f describes: the same digest, or
// any content for a secret file (which has none).
func (f *File) Verify(data []byte) error {
	if got := Digest(data, f.Secret); got != f.SHA256 {
		return fmt.Errorf("%s has sha256 %s, the manifest says %s", f.Path, got, f.SHA256)
	}
	return nil
}

// Mode is a file mode written as an octal string ("0600").
type Mode os.FileMode

// MarshalText writes the mode in octal.
func (m Mode) MarshalText() ([]byte, error) { return fmt.Appendf(nil, "%04o", uint32(m)), nil }

// UnmarshalText reads an octal mode.
func (m *Mode) UnmarshalText(b []byte) error {
	var v uint32
	if _, err := fmt.Sscanf(string(b), "%o", &v); err != nil || v > 0o7777 {
		return fmt.Errorf("invalid file mode %q: write it in octal, like \"0644\"", b)
	}
	*m = Mode(v)
	return nil
}

// Marshal encodes m canonically, with a final newline. Commands keep
// their "&&" and "<" as they are (no HTML escaping).
func Marshal(m *Manifest) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Parse decodes a manifest, refusing unknown fields and other versions.
func Parse(b []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.Format != FormatVersion {
		return nil, fmt.Errorf("manifest: format %d, this hac reads format %d: rebuild with hac build", m.Format, FormatVersion)
	}
	if m.SSH.Become != "" && m.SSH.Become != "sudo" {
		return nil, fmt.Errorf("manifest: ssh.become %q: hac knows only \"sudo\" (or none, to log in as root): rebuild with hac build", m.SSH.Become)
	}
	for _, f := range m.Files {
		if f.Secret && f.SHA256 != "" {
			return nil, fmt.Errorf("manifest: %s holds a secret but the manifest carries its sha256 (an older hac wrote it; the digest lets anyone who can read the manifest test guesses of the pass): rebuild with hac build and delete the old tree", f.Path)
		}
	}
	return &m, nil
}
