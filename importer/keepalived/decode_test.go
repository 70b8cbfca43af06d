package keepalived

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestDecodeTrio(t *testing.T) {
	c := decodeFile(t, "testdata/trio-n2.conf")
	d := 2 * time.Second
	three := 3
	want := &Config{
		File:   "testdata/trio-n2.conf",
		Global: Global{RouterID: "n2", VRRPVersion: 3, ScriptUser: "root", ScriptSecurity: true},
		Scripts: []*Script{{
			Name: "chk_web", Command: []string{"/usr/bin/test", "-e", "/run/web.ok"},
			Interval: 2 * time.Second, Timeout: time.Second, Weight: -60, Rise: 2, Fall: 3,
		}},
		Instances: []*Instance{
			{
				Name: "VI_web", State: "BACKUP", Interface: "eth1", VRID: 60, Priority: 150, AdvertInt: 500 * time.Millisecond,
				VIPs:            []VIP{{Prefix: netip.MustParsePrefix("198.18.0.100/24")}, {Prefix: netip.MustParsePrefix("198.18.0.101/32"), Dev: "eth1"}},
				UnicastSrc:      netip.MustParseAddr("198.18.0.12"),
				UnicastPeers:    []netip.Addr{netip.MustParseAddr("198.18.0.11"), netip.MustParseAddr("198.18.0.13")},
				PreemptDelay:    10 * time.Second,
				TrackInterfaces: []TrackInterface{{Interface: "eth0", Weight: -60}},
				TrackScripts:    []TrackScript{{Name: "chk_web"}},
				Notify:          Notify{Master: []string{"/usr/local/bin/hac-notify", "master"}, Backup: []string{"/usr/local/bin/hac-notify", "backup"}},
				GARP:            GARPSettings{Delay: &d, Repeat: &three},
			},
			{
				Name: "VI_db", State: "BACKUP", Interface: "eth1", VRID: 61, Priority: 120, AdvertInt: time.Second, Nopreempt: true,
				VIPs:         []VIP{{Prefix: netip.MustParsePrefix("198.18.0.110/32")}},
				UnicastSrc:   netip.MustParseAddr("198.18.0.12"),
				UnicastPeers: []netip.Addr{netip.MustParseAddr("198.18.0.11"), netip.MustParseAddr("198.18.0.13")},
			},
		},
	}
	ignore := cmp.Options{
		cmpopts.IgnoreFields(Global{}, "Pos"),
		cmpopts.IgnoreFields(Script{}, "Pos"),
		cmpopts.IgnoreFields(Instance{}, "Pos", "Positions"),
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	}
	if diff := cmp.Diff(want, c, ignore); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
}

func TestDecodeProblems(t *testing.T) {
	inst := func(body string) string {
		return "vrrp_instance VI_1 {\n interface eth1\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 }\n" + body + "\n}\n"
	}
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"unsupported top level", "virtual_server 10.0.0.1 80 {\n}\n",
			[]string{"k.conf:1:1: virtual_server at the top level is not supported by hac import: remove it, or pass --ignore-unsupported to import without it"}},
		{"unsupported in instance", inst(" use_vmac"),
			[]string{"k.conf:5:2: use_vmac in vrrp_instance is not supported by hac import"}},
		{"unsupported in global_defs", "global_defs {\n notification_email { a@b }\n}\n",
			[]string{"k.conf:2:2: notification_email in global_defs is not supported"}},
		{"long auth_pass", inst(" authentication {\n auth_type PASS\n auth_pass 123456789\n }"),
			[]string{"k.conf:7:12: auth_pass is 9 characters long; keepalived silently uses only the first 8: shorten it to at most 8"}},
		{"bad vrid", strings.Replace(inst(""), "virtual_router_id 1", "virtual_router_id 256", 1),
			[]string{`k.conf:3:20: virtual_router_id: "256" is not a whole number in 1..255`, "k.conf:1:1: vrrp_instance VI_1 has no virtual_router_id"}},
		{"bad VIP", strings.Replace(inst(""), "10.0.0.1", "10.0.0.300", 1),
			[]string{`k.conf:4:22: virtual_ipaddress: "10.0.0.300" is not an address`, "k.conf:1:1: vrrp_instance VI_1 has no virtual_ipaddress"}},
		{"VIP option", strings.Replace(inst(""), "10.0.0.1", "10.0.0.1 label eth1:1", 1),
			[]string{`k.conf:4:31: virtual_ipaddress: option "label" is not supported by hac import`}},
		{"twice", inst(" priority 100\n priority 101"),
			[]string{"k.conf:6:2: vrrp_instance VI_1: priority is given twice"}},
		{"missing script", inst(" track_script {\n chk\n }"),
			[]string{"k.conf:5:2: vrrp_instance VI_1: track_script chk names no vrrp_script"}},
		{"extra arguments", inst(" state MASTER BACKUP"),
			[]string{"k.conf:5:2: state takes 1 argument(s), got 2"}},
		{"bad state", inst(" state PRIMARY"),
			[]string{`k.conf:5:8: state: "PRIMARY" is neither MASTER nor BACKUP`}},
		{"track weight", inst(" track_interface {\n eth0 weigth 10\n }"),
			[]string{`k.conf:6:7: track_interface: expected "weight N" after the name, got "weigth"`}},
		{"sync group of unknown and repeated instances", inst("") + "vrrp_sync_group g {\n group {\n VI_1 VI_9\n }\n}\nvrrp_sync_group h {\n group { VI_1 }\n}\n",
			[]string{"k.conf:8:2: vrrp_sync_group g: VI_9 names no vrrp_instance",
				"k.conf:13:2: vrrp_sync_group h: VI_1 is already in vrrp_sync_group g (keepalived ignores it here): list it in one group"}},
		{"sync group keywords", inst("") + "vrrp_sync_group g {\n group { VI_1 }\n track_interface { eth2 }\n notify_master /bin/up\n notify_master /bin/up\n}\n",
			[]string{"k.conf:9:2: track_interface in vrrp_sync_group is not supported by hac import",
				"k.conf:11:2: vrrp_sync_group g: notify_master is given twice"}},
		{"empty sync group", "vrrp_sync_group g {\n}\n",
			[]string{"k.conf:1:1: vrrp_sync_group g has no group { } of instances"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("k.conf", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			_, probs := Decode(f)
			if len(probs) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(probs), len(tt.want), probs)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(probs[i].String(), w) {
					t.Errorf("problem %d = %q, want prefix %q", i, probs[i].String(), w)
				}
			}
		})
	}
}

// TestDecodeSyncGroup: a vrrp_sync_group's members and notify commands,
// and the generic notify of an instance.
func TestDecodeSyncGroup(t *testing.T) {
	c := decodeFile(t, "testdata/router-r1.conf")
	want := []*SyncGroup{{Name: "router", Instances: []string{"VI_in", "VI_out"},
		Notify: Notify{Master: []string{"/usr/local/bin/router-up"}, All: []string{"/usr/local/bin/hac-notify", "--log"}}}}
	if diff := cmp.Diff(want, c.SyncGroups, cmpopts.IgnoreFields(SyncGroup{}, "Pos", "Positions")); diff != "" {
		t.Errorf("sync groups (-want +got):\n%s", diff)
	}
	if got := c.Instance("VI_in").Notify.All; !cmp.Equal(got, []string{"/usr/local/bin/hac-notify", "--log"}) {
		t.Errorf("VI_in generic notify %q", got)
	}
}

func TestSplitCommand(t *testing.T) {
	got := splitCommand(`/bin/check 'a b'  c	d ''`)
	want := []string{"/bin/check", "a b", "c", "d", ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("splitCommand (-want +got):\n%s", diff)
	}
}
