package status_test

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hac-project/hac/agent/status"
)

func TestReadRequest(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     status.Request
		err      string
	}{
		{"status", `{"op":"status"}` + "\n", status.Request{Op: "status"}, ""},
		{"handoff", `{"op":"handoff","instance":"VI_1","release":true}` + "\n", status.Request{Op: "handoff", Instance: "VI_1", Release: true}, ""},
		{"takeover", `{"op":"takeover","instance":"VI_1"}` + "\n", status.Request{Op: "takeover", Instance: "VI_1"}, ""},
		{"reload", `{"op":"reload"}` + "\n", status.Request{Op: "reload"}, ""},
		{"reload of one instance", `{"op":"reload","instance":"VI_1"}` + "\n", status.Request{}, `op "reload" takes no instance or release`},
		{"status with release", `{"op":"status","release":true}` + "\n", status.Request{}, `op "status" takes no instance or release`},
		{"unterminated", `{"op":"status"}`, status.Request{}, "not terminated by a newline"},
		{"too long", strings.Repeat(" ", status.MaxRequest) + `{"op":"status"}` + "\n", status.Request{}, "longer than 4096 bytes"},
		{"unknown field", `{"op":"status","x":1}` + "\n", status.Request{}, `unknown field "x"`},
		{"two values", `{"op":"status"} {"op":"status"}` + "\n", status.Request{}, "more than one JSON value"},
		{"not JSON", "status\n", status.Request{}, "invalid character"},
		{"not UTF-8", "{\"op\":\"handoff\",\"instance\":\"VI_\xff\"}\n", status.Request{}, "request is not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := status.ReadRequest(strings.NewReader(tc.in))
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("ReadRequest error = %v, want one containing %q", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ReadRequest (-want +got):\n%s", diff)
			}
		})
	}
}

// endless is an unterminated line that never ends; it counts what was read.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	e.n += len(p)
	return len(p), nil
}

// TestReadRequestBounded: one unterminated line costs at most MaxRequest
// bytes (it once grew the agent to 1.1 GB).
func TestReadRequestBounded(t *testing.T) {
	r := &endless{}
	if _, err := status.ReadRequest(r); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("ReadRequest of an endless line = %v, want too long", err)
	}
	if r.n > status.MaxRequest {
		t.Errorf("ReadRequest read %d bytes of an endless line, want at most %d", r.n, status.MaxRequest)
	}
}

// FuzzReadRequest: the decoder never reads past MaxRequest, and what it
// accepts encodes and decodes back to the same request.
func FuzzReadRequest(f *testing.F) {
	f.Add([]byte(`{"op":"status"}` + "\n"))
	f.Add([]byte(`{"op":"handoff","instance":"VI_1","release":true}` + "\n"))
	f.Add([]byte(`{"op":"takeover","release":true}` + "\n"))
	f.Add([]byte(`{"op":"reload"}` + "\n"))
	f.Add([]byte(`{"op":"status"`))
	f.Add(bytes.Repeat([]byte("["), 5000))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &countingReader{r: bytes.NewReader(in)}
		req, err := status.ReadRequest(r)
		if r.n > status.MaxRequest {
			t.Fatalf("read %d bytes, more than %d", r.n, status.MaxRequest)
		}
		if err != nil {
			return
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		again, err := status.ReadRequest(bytes.NewReader(append(b, '\n')))
		if err != nil {
			t.Fatalf("re-read of %s: %v", b, err)
		}
		if diff := cmp.Diff(req, again); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
	})
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
