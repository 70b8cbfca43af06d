package status

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hac-project/hac/internal/testenv"
)

type nobody struct{}

func (nobody) Report() Report                          { return Report{} }
func (nobody) Handoff(string, bool) ([]string, error)  { return nil, nil }
func (nobody) Takeover(string, bool) ([]string, error) { return nil, nil }
func (nobody) Reload() ([]string, error)               { return nil, nil }

// serveAt serves h on a new socket with the request timeout reqTimeout
// (and 50 ms to write an answer) until the test ends or stop is called,
// and returns the socket's path.
func serveAt(t *testing.T, h Handler, reqTimeout time.Duration) (path string, stop func()) {
	t.Helper()
	testenv.NeedRoot(t) // only root peers get as far as the request
	path = filepath.Join(t.TempDir(), "agent.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, l, h, timeouts{request: reqTimeout, answer: 50 * time.Millisecond}) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	t.Cleanup(stop)
	return path, stop
}

// TestRequestTimeout: a client that never finishes its request is cut off
// after the request timeout (here 100 ms), with an answer saying so.
func TestRequestTimeout(t *testing.T) {
	path, _ := serveAt(t, nobody{}, 100*time.Millisecond)
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

// dialIdle opens n connections to path that send nothing.
func dialIdle(t *testing.T, path string, n int) []net.Conn {
	t.Helper()
	var cs []net.Conn
	for range n {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	return cs
}

// answerOf reads the one answer on c, bounded for the test.
func answerOf(t *testing.T, c net.Conn) Response {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		t.Fatalf("no answer: %v", err)
	}
	return resp
}

// TestIdleClientsDoNotStarve: silent clients holding every slot (and more)
// never make a request wait: each new connection drops the oldest silent
// one, which is told why. The request timeout is an hour here, so only the
// drop can serve the request (it waited for the timeout before: eight idle
// clients starved hac-agent status for about 7 s).
func TestIdleClientsDoNotStarve(t *testing.T) {
	path, _ := serveAt(t, nobody{}, time.Hour)
	const extra = 4
	idle := dialIdle(t, path, maxClients+extra)
	qctx, qcancel := context.WithTimeout(context.Background(), 10*time.Second) // a bound for the test
	defer qcancel()
	if _, err := Query(qctx, path); err != nil {
		t.Fatalf("status with %d idle clients connected: %v", len(idle), err)
	}
	// The extra idle ones and the query each dropped the oldest.
	for i, c := range idle[:extra+1] {
		if resp := answerOf(t, c); !strings.HasPrefix(resp.Error, "dropped: ") {
			t.Errorf("idle client %d: answer %+v, want dropped", i, resp)
		}
	}
}

// blocker is a handler whose reload blocks until release is closed.
type blocker struct {
	nobody
	entered chan struct{}
	release chan struct{}
}

func (b blocker) Reload() ([]string, error) {
	b.entered <- struct{}{}
	<-b.release
	return nil, nil
}

// TestBusyRefusedAtOnce: when every slot is answering a slow request (a
// reload waits for handoffs), a new client is refused at once with
// "busy" instead of waiting in the listen queue.
func TestBusyRefusedAtOnce(t *testing.T) {
	b := blocker{entered: make(chan struct{}), release: make(chan struct{})}
	path, _ := serveAt(t, b, time.Hour)
	reloads := make(chan error, maxClients)
	for range maxClients {
		go func() {
			_, err := Reload(context.Background(), path)
			reloads <- err
		}()
		<-b.entered
	}
	qctx, qcancel := context.WithTimeout(context.Background(), 10*time.Second) // a bound for the test
	defer qcancel()
	if _, err := Query(qctx, path); err == nil || !strings.Contains(err.Error(), "busy: ") {
		t.Errorf("status while %d reloads run: %v, want busy", maxClients, err)
	}
	close(b.release)
	for range maxClients {
		if err := <-reloads; err != nil {
			t.Errorf("a blocked reload: %v", err)
		}
	}
	if _, err := Query(qctx, path); err != nil {
		t.Errorf("status after the reloads: %v", err)
	}
}

// TestStopDropsIdle: when the agent stops, a connected client that sent
// nothing is told so at once, and the socket's goroutines end without
// waiting for it (the request timeout is an hour here).
func TestStopDropsIdle(t *testing.T) {
	path, stop := serveAt(t, nobody{}, time.Hour)
	idle := dialIdle(t, path, 1)
	qctx, qcancel := context.WithTimeout(context.Background(), 10*time.Second) // a bound for the test
	defer qcancel()
	if _, err := Query(qctx, path); err != nil { // idle[0] is accepted before it
		t.Fatal(err)
	}
	stop()
	if resp := answerOf(t, idle[0]); resp.Error != "the agent is stopping" {
		t.Errorf("idle client at the stop: answer %+v, want the agent is stopping", resp)
	}
}

// slowReload is an agent whose reload takes d (its handoffs).
type slowReload struct {
	nobody
	d time.Duration
}

func (s slowReload) Reload() ([]string, error) {
	time.Sleep(s.d)
	return []string{"VI_1: handed off and started again"}, nil
}

// TestSlowReloadIsAnswered: a reload that takes longer than the time to
// write an answer (here 50 ms) still gets its answer: only the write is
// bounded, not the agent's work (hac-agent reload waits election.StopTime).
func TestSlowReloadIsAnswered(t *testing.T) {
	path, _ := serveAt(t, slowReload{d: 300 * time.Millisecond}, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done, err := Reload(ctx, path)
	if err != nil || len(done) != 1 {
		t.Fatalf("Reload = %v, %v; want the one instance's line", done, err)
	}
}
