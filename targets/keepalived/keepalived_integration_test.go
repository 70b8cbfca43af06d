package keepalived_test

import (
	"testing"

	"github.com/hac-project/hac/internal/realtool"
	"github.com/hac-project/hac/targets/internal/fixture"
	"github.com/hac-project/hac/targets/keepalived"
)

// TestConfigTest has keepalived 2.2.7 check every node's configuration,
// inside a network namespace that holds the interfaces it names.
func TestConfigTest(t *testing.T) {
	for _, fx := range fixture.All() {
		c := fixture.WithKeepalived(fx.Cluster)
		for _, n := range c.Nodes {
			t.Run(fx.Name+"/"+n.Name, func(t *testing.T) {
				files, err := keepalived.Keepalived{}.Render(c, n)
				if err != nil || len(files) != 1 {
					t.Fatalf("Render = %d files, %v; want 1", len(files), err)
				}
				realtool.KeepalivedConfigTest(t, files[0], realtool.Interfaces(c, n))
			})
		}
	}
}
