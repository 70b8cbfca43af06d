package status

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/hac-project/hac/internal/testenv"
)

type nobody struct{}

func (nobody) Report() Report                          { return Report{} }
func (nobody) Handoff(string, bool) ([]string, error)  { return nil, nil }
func (nobody) Takeover(string, bool) ([]string, error) { return nil, nil }
func (nobody) Reload() ([]string, error)               { return nil, nil }

// TestRequestTimeout: a client that never finishes its request is cut off
// after the request timeout (here 100 ms), with an answer saying so.
func TestRequestTimeout(t *testing.T) {
	testenv.NeedRoot(t) // only root peers get as far as the request
	path := filepath.Join(t.TempDir(), "agent.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go serve(ctx, l, nobody{}, 100*time.Millisecond)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(`{"op":`)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // a bound for the test, far above the timeout
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil || resp.Error == "" {
		t.Fatalf("answer to an unfinished request: %+v, %v; want an error", resp, err)
	}
	t.Logf("answer: %s", resp.Error)
}
