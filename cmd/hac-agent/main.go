// Command hac-agent is the VRRP agent of a hac cluster node, alone: the
// binary hac apply installs on the nodes and the hac-agent.service unit
// runs. It is the hac agent command tree (run, status, handoff, takeover,
// reload) without the compiler, the importer and deploy, so the daemon
// that runs for months maps and touches a third of what hac does. See
// docs/agent.md.
package main

import (
	"os"

	"github.com/hac-project/hac/cmd/internal/agentcmd"
	"github.com/hac-project/hac/cmd/internal/exitcode"
	"github.com/hac-project/hac/internal/version"
)

func main() {
	root := agentcmd.New(agentcmd.Program)
	root.Version = version.Line(agentcmd.Program)
	root.AddCommand(version.Command(agentcmd.Program))
	exitcode.Prepare(root, os.Stdout, os.Stderr)
	os.Exit(exitcode.Run(root, os.Args[1:], os.Stderr))
}
