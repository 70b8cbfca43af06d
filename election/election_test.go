package election

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/model"
)

func TestEffective(t *testing.T) {
	for _, tc := range []struct {
		name  string
		base  uint8
		items []Item
		want  uint8
	}{
		{"none", 100, nil, 100},
		{"positive up", 100, []Item{{Weight: 20, Up: true}}, 120},
		{"positive down", 100, []Item{{Weight: 20}}, 100},
		{"negative up", 100, []Item{{Weight: -50, Up: true}}, 100},
		{"negative down", 100, []Item{{Weight: -50}}, 50},
		{"mixed", 100, []Item{{Weight: 20, Up: true}, {Weight: -30}, {Weight: 10}}, 90},
		{"weight 0 up", 100, []Item{{Weight: 0, Up: true}, {Weight: 20, Up: true}}, 120},
		{"weight 0 down faults", 100, []Item{{Weight: 20, Up: true}, {Weight: 0}}, 0},
		{"clamped low", 100, []Item{{Weight: -200}}, 1},
		{"clamped high", 250, []Item{{Weight: 50, Up: true}}, 254},
		// keepalived stops tracking an owner's weighted items and keeps
		// its weight-0 ones (TestOwnerAgainstKeepalived).
		{"owner ignores weighted items", 255, []Item{{Weight: -50}, {Weight: 20}}, 255},
		{"owner all up", 255, []Item{{Weight: -50, Up: true}}, 255},
		{"owner weight 0 down faults", 255, []Item{{Weight: -50, Up: true}, {Weight: 0}}, 0},
	} {
		if got := Effective(tc.base, tc.items); got != tc.want {
			t.Errorf("%s: Effective(%d, %v) = %d, want %d", tc.name, tc.base, tc.items, got, tc.want)
		}
	}
}

func TestCheckPriority(t *testing.T) {
	for p, ok := range map[int]bool{0: false, 1: true, 100: true, 254: true, 255: false, 256: false} {
		if err := CheckPriority(p); (err == nil) != ok {
			t.Errorf("CheckPriority(%d) = %v, want ok %v", p, err, ok)
		}
	}
}

func TestTimers(t *testing.T) {
	for _, tc := range []struct {
		version        int
		prio           uint8
		advert         time.Duration
		skew, downIntv time.Duration
	}{
		{3, 100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{2, 150, time.Second, 414062500, 3414062500},
		{3, 200, 500 * time.Millisecond, 109375 * time.Microsecond, 1609375 * time.Microsecond},
		{2, 100, 5 * time.Second, 609375 * time.Microsecond, 15609375 * time.Microsecond},
	} {
		if got := SkewTime(tc.version, tc.prio, tc.advert); got != tc.skew {
			t.Errorf("SkewTime(v%d, %d, %v) = %v, want %v", tc.version, tc.prio, tc.advert, got, tc.skew)
		}
		if got := MasterDownInterval(tc.version, tc.prio, tc.advert, DefaultDownAdverts); got != tc.downIntv {
			t.Errorf("MasterDownInterval(v%d, %d, %v) = %v, want %v", tc.version, tc.prio, tc.advert, got, tc.downIntv)
		}
	}
}

func TestTable(t *testing.T) {
	a := netip.MustParseAddr
	in := &model.Instance{
		Members: []model.Member{{Node: "lb1", Priority: 200, Source: a("10.0.0.1")}, {Node: "lb2", Priority: 150, Source: a("10.0.0.2")}},
		Track:   []model.TrackInterface{{Interface: "eth2", Weight: 0}},
		Checks:  []model.Check{{Name: "web", Weight: -60}},
	}
	want := []string{
		"healthy - lb1 200, lb2 150 -> lb1",
		"track_interface eth2 down lb1 lb1 200 (fault), lb2 150 -> lb2",
		"track_interface eth2 down lb2 lb1 200, lb2 150 (fault) -> lb1",
		"check web down lb1 lb1 140, lb2 150 -> lb2",
		"check web down lb2 lb1 200, lb2 90 -> lb1",
	}
	var got []string
	for _, c := range Table(in) {
		on := c.Node
		if on == "" {
			on = "-"
		}
		got = append(got, c.Event+" "+on+" "+c.String()+" -> "+c.Master)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Table (-want +got):\n%s", diff)
	}
}

// A weight-0 item of one sync group member failing on a node puts the
// other members in FAULT there too: they move with it.
func TestGroupCases(t *testing.T) {
	mk := func(name string, track []model.TrackInterface) *model.Instance {
		return &model.Instance{Name: name, Track: track, Members: []model.Member{{Node: "r1", Priority: 200}, {Node: "r2", Priority: 100}}}
	}
	in, out := mk("VI_in", nil), mk("VI_out", []model.TrackInterface{{Interface: "eth2"}})
	c := &model.Cluster{Instances: []*model.Instance{in, out}}
	if got := GroupCases(c, in); got != nil {
		t.Fatalf("no sync group: %v, want none", got)
	}
	c.SyncGroups = []model.SyncGroup{{Name: "router", Instances: []string{"VI_in", "VI_out"}}}
	var got []string
	for _, fc := range GroupCases(c, in) {
		got = append(got, fmt.Sprintf("%s on %s: %s -> %s", fc.Event, fc.Node, fc, fc.Master))
	}
	want := []string{
		"VI_out track_interface eth2 down (sync group router) on r1: r1 200 (fault), r2 100 -> r2",
		"VI_out track_interface eth2 down (sync group router) on r2: r1 200, r2 100 (fault) -> r1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("group cases (-want +got):\n%s", diff)
	}
	if got := GroupCases(c, out); len(got) != 0 {
		t.Errorf("VI_in has no weight-0 item: %v, want no case for VI_out", got)
	}
}
