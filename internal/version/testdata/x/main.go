// Command x prints its version line, for TestFileLine.
package main

import (
	"fmt"

	"github.com/hac-project/hac/internal/version"
)

func main() { fmt.Print(version.Line("x")) }
