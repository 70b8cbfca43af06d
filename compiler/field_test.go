package compiler

import (
	"strings"
	"testing"
)

// TestSchemaField looks up nested paths: the ones the schema has print
// their documentation, the others (auth.pass used to panic) are refused
// with the schema's paths they may mean.
func TestSchemaField(t *testing.T) {
	for _, tc := range []struct {
		path, want, wantErr string
	}{
		{path: "vrrp.advert_int", want: "advert_int is the advertisement interval"},
		{path: "vrrp.VI_1.auth.pass", want: "pass is the password"},
		{path: "nodes.lb1.ssh.port", want: "port is the SSH port"},
		{path: "vrrp.vips.address", want: "address is"},
		{path: "vrrp.track_interfaces.weight", want: "weight is added"},
		{path: "auth.pass", wantErr: `no field "auth.pass": did you mean vrrp.auth.pass?`},
		{path: "garp.repeat", wantErr: "did you mean vrrp.garp.repeat?"},
		{path: "device", wantErr: "did you mean vrrp.vips.device?"},
		{path: "bogus.deeper.still", wantErr: `no field "bogus.deeper.still": run hac schema`},
		{path: "network.interface.x", wantErr: `no field "network.interface.x"`},
	} {
		fd, err := SchemaField(tc.path)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("SchemaField(%q) error = %v, want one containing %q", tc.path, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("SchemaField(%q): %v", tc.path, err)
		case !strings.Contains(fd.Doc, tc.want):
			t.Errorf("SchemaField(%q).Doc = %q, want it to contain %q", tc.path, fd.Doc, tc.want)
		}
	}
}
