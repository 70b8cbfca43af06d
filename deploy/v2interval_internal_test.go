package deploy

import (
	"strings"
	"testing"

	"github.com/hac-project/hac/targets/manifest"
)

// TestCheckV2Interval: plan refuses a VRRPv2 advert interval change by the
// facts of the node's recorded manifest and the new one (RFC 3768 section
// 7.1: a VRRPv2 node discards adverts with another interval).
func TestCheckV2Interval(t *testing.T) {
	expect := func(es ...manifest.Expect) *manifest.Manifest { return &manifest.Manifest{Expect: es} }
	v2 := func(name string, ms int64) manifest.Expect {
		return manifest.Expect{Instance: name, State: "BACKUP", Version: 2, AdvertIntMillis: ms}
	}
	v3 := func(name string, ms int64) manifest.Expect {
		return manifest.Expect{Instance: name, State: "BACKUP", Version: 3, AdvertIntMillis: ms}
	}
	tests := []struct {
		name      string
		was, next *manifest.Manifest
		want      string // the error; empty for none
	}{
		{"v2 interval changes", expect(v2("VI_1", 1000)), expect(v2("VI_1", 2000)),
			"VRRPv2 instance VI_1: advert_int changes from 1s to 2s, and a VRRPv2 node discards adverts with another interval (RFC 3768 section 7.1): during the rolling apply the updated backup would stop hearing the master and take the VIP too, until the master is updated. Move the instance to VRRPv3 (it learns the master's interval), or accept that brief split with --allow-v2-interval-change"},
		{"the changed one of several instances", expect(v2("VI_1", 1000), v2("VI_2", 1000)), expect(v2("VI_1", 1000), v2("VI_2", 3000)),
			"VRRPv2 instance VI_2: advert_int changes from 1s to 3s"},
		{"v2 interval unchanged", expect(v2("VI_1", 1000)), expect(v2("VI_1", 1000)), ""},
		// Without a record nothing is known of what runs: a first apply.
		{"no record on the node", nil, expect(v2("VI_1", 2000)), ""},
		// A record from a hac whose manifest lacked the facts.
		{"record without version and interval", expect(manifest.Expect{Instance: "VI_1", State: "BACKUP"}), expect(v2("VI_1", 2000)), ""},
		{"v3 learns the master's interval", expect(v3("VI_1", 1000)), expect(v3("VI_1", 500)), ""},
		{"a new instance", expect(v2("VI_1", 1000)), expect(v2("VI_1", 1000), v2("VI_2", 2000)), ""},
		{"a renamed instance is a new one", expect(v2("VI_1", 1000)), expect(v2("VI_9", 2000)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkV2Interval(tt.was, tt.next)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if tt.want == "" && got != "" || !strings.HasPrefix(got, tt.want) {
				t.Errorf("checkV2Interval = %q, want %q", got, tt.want)
			}
		})
	}
}
