package manifest_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hac-project/hac/targets/manifest"
)

func sample() *manifest.Manifest {
	return &manifest.Manifest{
		Format: manifest.FormatVersion, Cluster: "ncp-lb", Node: "lb1",
		SSH:   manifest.SSH{Host: "lb1.example.net", User: "ops", Port: 2222, Jump: "bastion", Become: "sudo"},
		Order: 1,
		Files: []manifest.File{
			{Path: "/etc/hac/agent.json", Mode: 0o600, Owner: "root", Group: "root", Activate: "systemctl daemon-reload && systemctl restart hac-agent", Secret: true},
			{Path: "/etc/network/interfaces.d/hac-eth1", Mode: 0o644, Owner: "root", Group: "netdev", SHA256: strings.Repeat("cd", 32), Activate: "ifdown --force eth1; ifup eth1", Network: true},
		},
		Expect: []manifest.Expect{{Instance: "VI_1", State: "MASTER", Priority: 200}},
	}
}

func TestRoundTrip(t *testing.T) {
	b, err := manifest.Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\"mode\": \"0600\",\n      \"owner\": \"root\",\n      \"group\": \"root\"") || !strings.Contains(string(b), "&&") {
		t.Errorf("Marshal wrote modes or commands in another form:\n%s", b)
	}
	got, err := manifest.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sample(), got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"other format", `{"format": 2}`, "format 2, this hac reads format 1"},
		{"unknown field", `{"format": 1, "extra": true}`, `unknown field "extra"`},
		{"bad mode", `{"format": 1, "files": [{"path": "/x", "mode": "rw"}]}`, `invalid file mode "rw"`},
		{"unknown become", `{"format": 1, "ssh": {"host": "lb1", "become": "doas"}}`, `ssh.become "doas": hac knows only "sudo"`},
		{"mode too large", `{"format": 1, "files": [{"path": "/x", "mode": "17777"}]}`, "invalid file mode"},
		{"digest of a secret", `{"format": 1, "files": [{"path": "/etc/hac/agent.json", "mode": "0600", "secret": true, "sha256": "` + strings.Repeat("ab", 32) + `"}]}`,
			"/etc/hac/agent.json holds a secret but the manifest carries its sha256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := manifest.Parse([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// FuzzParse checks that whatever parses marshals and parses back to the
// same manifest.
func FuzzParse(f *testing.F) {
	b, err := manifest.Marshal(sample())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"format": 1}`))
	f.Add([]byte(`{"format": 1, "files": [{"path": "/x", "mode": "0644"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := manifest.Parse(in)
		if err != nil {
			return
		}
		out, err := manifest.Marshal(m)
		if err != nil {
			t.Fatalf("Marshal of a parsed manifest: %v", err)
		}
		m2, err := manifest.Parse(out)
		if err != nil {
			t.Fatalf("Parse of a marshalled manifest: %v\n%s", err, out)
		}
		// An empty list and a missing one mean the same (omitempty).
		if diff := cmp.Diff(m, m2, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("re-parse (-first +second):\n%s", diff)
		}
	})
}

// TestDigest: a secret file's digest is never written (the manifest is
// world-readable and the SHA-256 of agent.json is an offline oracle for
// its pass); Verify accepts any content for it and checks the others.
func TestDigest(t *testing.T) {
	data := []byte("{\"pass\": \"pass1234\"}\n")
	if got := manifest.Digest(data, true); got != "" {
		t.Errorf("Digest of a secret file = %q, want none", got)
	}
	plain := manifest.File{Path: "/etc/x", SHA256: manifest.Digest(data, false)}
	if len(plain.SHA256) != 64 {
		t.Fatalf("Digest = %q, want 64 hex digits", plain.SHA256)
	}
	if err := plain.Verify(data); err != nil {
		t.Errorf("Verify of the same content: %v", err)
	}
	if err := plain.Verify([]byte("other")); err == nil {
		t.Errorf("Verify of other content succeeded")
	}
	secret := manifest.File{Path: "/etc/hac/agent.json", Secret: true}
	if err := secret.Verify(data); err != nil {
		t.Errorf("Verify of a secret file: %v", err)
	}
	b, err := manifest.Marshal(&manifest.Manifest{Format: manifest.FormatVersion, Files: []manifest.File{secret}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "sha256") {
		t.Errorf("the manifest of a secret file carries a digest:\n%s", b)
	}
}
