package deploy

import (
	"testing"
	"time"

	"github.com/hac-project/hac/targets/manifest"
)

// TestCommandTimeout: an activation gets 2 minutes plus the longest
// graceful stop or reload of the agent over the node's last apply and
// this one (election.StopTime: 4 advert intervals and 10 s), unless
// ActivateTimeout says otherwise.
func TestCommandTimeout(t *testing.T) {
	m := func(adverts ...time.Duration) *manifest.Manifest {
		var es []manifest.Expect
		for i, a := range adverts {
			es = append(es, manifest.Expect{Instance: string(rune('A' + i)), Version: 3, AdvertIntMillis: a.Milliseconds()})
		}
		return &manifest.Manifest{Expect: es}
	}
	for _, tc := range []struct {
		name     string
		set      time.Duration
		was, now *manifest.Manifest
		want     time.Duration
	}{
		{"no agent (keepalived, no record)", 0, nil, &manifest.Manifest{}, 2*time.Minute + 10*time.Second},
		{"seed", 0, m(time.Second), m(time.Second), 2*time.Minute + 14*time.Second},
		{"the running agent's longer interval counts", 0, m(time.Second, 40*time.Second), m(time.Second), 2*time.Minute + 170*time.Second},
		{"the new longer interval counts", 0, m(time.Second), m(255 * time.Second), 2*time.Minute + 1030*time.Second},
		{"set by the caller", 30 * time.Second, m(time.Second), m(255 * time.Second), 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &Deployer{Options: Options{ActivateTimeout: tc.set}}
			np := &NodePlan{recorded: tc.was, node: &Node{Manifest: tc.now}}
			if got := d.activateTimeout(np); got != tc.want {
				t.Errorf("activateTimeout = %v, want %v", got, tc.want)
			}
		})
	}
}
