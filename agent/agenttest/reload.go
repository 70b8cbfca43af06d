package agenttest

import (
	"os"
	"syscall"

	"github.com/hac-project/hac/agent/config"
)

// Rewrite replaces the node's agent.json with instances (same cluster,
// node and status socket), for a reload. It does not validate them: a
// test may write an invalid file on purpose.
func (h *Hac) Rewrite(instances ...config.Instance) {
	h.t.Helper()
	c := &config.Config{Format: config.FormatVersion, Cluster: "test", Node: h.node.Name, StatusSocket: h.Socket, Instances: instances}
	b, err := config.Marshal(c)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(h.Config, b, 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// Reload runs hac-agent reload against the running agent in its node's
// namespace and returns its combined output and exit error.
func (h *Hac) Reload() (string, error) {
	bin := h.Binary
	if bin == "" {
		bin = AgentBinary(h.t)
	}
	out, err := h.bed.Command(h.node.NS, bin, "reload", "--socket", h.Socket).CombinedOutput()
	return string(out), err
}

// Hangup sends SIGHUP to the agent.
func (h *Hac) Hangup() {
	h.t.Helper()
	h.bed.Signal(h.cmd, syscall.SIGHUP)
}
