package targets

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestActivations(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmds []string
		want []string
	}{
		{"agent.json alone reloads", []string{ActivateAgentConfig}, []string{ActivateAgentConfig}},
		{"a restart covers the reload", []string{ActivateAgentConfig, ActivateAgent}, []string{ActivateAgent}},
		{"others stay, in order", []string{"netplan apply", ActivateAgentConfig}, []string{"netplan apply", ActivateAgentConfig}},
		{"none", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, Activations(tc.cmds)); d != "" {
				t.Errorf("Activations(%q) (-want +got):\n%s", tc.cmds, d)
			}
		})
	}
}
