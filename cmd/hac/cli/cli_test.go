package cli

import (
	"flag"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the scripts' expected output (cmp files) with the actual output")

// TestMain lets testscript run the real hac CLI in-process as "hac".
func TestMain(m *testing.M) {
	testscript.Main(cleanup{m}, map[string]func(){
		"hac": func() { os.Exit(Main()) },
	})
}

// TestScripts runs every testdata/script/*.txtar.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
	})
}
