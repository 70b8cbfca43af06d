// Command hac declares a high-availability IP cluster once, validates it,
// renders every node's files, ships them over SSH and runs the VRRP agent.
// See the README for the whole story.
package main

import (
	"os"

	"github.com/hac-project/hac/cmd/hac/cli"
)

func main() { os.Exit(cli.Main()) }
