package status

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/hac-project/hac/agent/rundir"
)

// Handler is what the status socket serves: a running agent.
type Handler interface {
	// Report returns the agent's current state.
	Report() Report
	// Handoff hands mastership off gracefully without stopping (all
	// instances, or the named one); with release it restores the
	// configured priorities. It returns the instances it acted on.
	Handoff(instance string, release bool) ([]string, error)
	// Takeover raises the priority of all instances (or the named one)
	// so they take mastership; with release it restores the configured
	// priorities. It returns the instances it acted on.
	Takeover(instance string, release bool) ([]string, error)
	// Reload re-reads the agent's configuration file and runs it without
	// a gap, or refuses it and keeps the running one. It returns what it
	// did, one line per instance.
	Reload() ([]string, error)
}

// Request is one request on the status socket, a JSON line.
type Request struct {
	// Op is "status", "handoff", "takeover" or "reload".
	Op       string `json:"op"`
	Instance string `json:"instance,omitempty"` // handoff, takeover: only this one
	Release  bool   `json:"release,omitempty"`  // handoff, takeover: restore priorities
}

// Response is the answer, one JSON document.
type Response struct {
	Report *Report   `json:"report,omitempty"`
	Done   *[]string `json:"done,omitempty"` // handoff, takeover: instances acted on; reload: what it did
	Error  string    `json:"error,omitempty"`
	// Code says what kind of error Error is (one of the Code constants),
	// so that a client tells a usage error from a failure without
	// reading the text; empty: a failure.
	Code string `json:"code,omitempty"`
}

// The codes of [Response.Code].
const (
	// CodeUnknownInstance: the request named an instance the agent does
	// not run (see [UnknownInstanceError]).
	CodeUnknownInstance = "unknown_instance"
	// CodeRestartOnly: a reload was refused because the new configuration
	// changes settings only a restart of the agent applies (see
	// [RestartOnlyError]); a restart runs it.
	CodeRestartOnly = "restart_only"
)

// RestartOnlyError says that a reload was refused only because the new
// configuration changes settings a restart of the agent applies, not a
// reload: restarting the agent runs it. A [Handler] returns it (wrapped);
// the socket answers it with [CodeRestartOnly]. Any other refusal (a
// configuration this node cannot run) a restart would not cure.
type RestartOnlyError struct{ Err error }

func (e *RestartOnlyError) Error() string { return e.Err.Error() }

// Unwrap returns the settings' problems.
func (e *RestartOnlyError) Unwrap() error { return e.Err }

// UnknownInstanceError says that a request named an instance the agent
// does not run. A [Handler] returns it; the socket answers it with
// [CodeUnknownInstance].
type UnknownInstanceError struct {
	Name  string
	Known []string // the instances the agent runs
}

func (e *UnknownInstanceError) Error() string {
	known := "none"
	if len(e.Known) > 0 {
		known = strings.Join(e.Known, ", ")
	}
	return fmt.Sprintf("no instance named %q: the agent runs %s", e.Name, known)
}

// RequestError is the agent's refusal of a request, as a client of the
// socket gets it: the message and its [Response.Code].
type RequestError struct {
	Code, Msg string
}

func (e *RequestError) Error() string { return "agent: " + e.Msg }

// codeOf returns the [Response.Code] of a handler's error.
func codeOf(err error) string {
	if _, ok := errors.AsType[*UnknownInstanceError](err); ok {
		return CodeUnknownInstance
	}
	if _, ok := errors.AsType[*RestartOnlyError](err); ok {
		return CodeRestartOnly
	}
	return ""
}

// Listen creates the unix socket at path, readable and writable by root
// only (mode 0600, in a directory it creates with mode 0755), replacing a
// stale socket a killed agent left. It refuses a directory that users
// other than root may write (see [rundir.Check]): any of them could
// otherwise block the agent's start or answer in its place.
func Listen(path string) (net.Listener, error) {
	if err := CheckPath(path); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("status socket: %s exists and is not a socket: remove it or set status_socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("status socket: %s: another agent is running (stop it first)", path)
		}
		os.Remove(path)
	}
	// Connecting needs write permission on the socket, which the default
	// umask already denies to others; the chmod makes it root only.
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("status socket: %w", err)
	}
	return l, nil
}

// CheckPath checks, before the agent touches anything, that a status
// socket can be created at path: an absolute path in a directory only root
// may write (created if missing).
func CheckPath(path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("status socket %q: use an absolute path", path)
	}
	if err := rundir.Ensure(filepath.Dir(path)); err != nil {
		return fmt.Errorf("status socket %s: %w", path, err)
	}
	return nil
}

// Bounds on what one client may cost the agent: a request is one line of
// at most MaxRequest bytes that must arrive within RequestTimeout of the
// connection (hac's clients write it at once), and at most maxClients
// connections are served at once (see [clients]).
const (
	MaxRequest     = 4096
	RequestTimeout = time.Second
	answerTimeout  = 5 * time.Second        // to write an answer, once it is ready
	refuseTimeout  = 100 * time.Millisecond // to write a refusal
	maxClients     = 8
)

// Serve answers requests on l until ctx ends; then it closes l (which
// removes the socket file). Only root peers (SO_PEERCRED uid 0) are
// answered. Each connection is served on its own goroutine, at most
// maxClients at once: a new connection beyond that drops the oldest one
// still silent (which gets an answer saying so), or, when every one is
// being answered (a handoff or reload takes seconds), is refused at once
// with "busy". So silent clients never make a request wait.
func Serve(ctx context.Context, l net.Listener, h Handler) error {
	return serve(ctx, l, h, timeouts{request: RequestTimeout, answer: answerTimeout})
}

// timeouts are the server's bounds: for the request line to arrive, and
// for the answer's write once it is ready (the work on a request has
// none: a reload waits for handoffs, up to election.StopTime).
type timeouts struct{ request, answer time.Duration }

func serve(ctx context.Context, l net.Listener, h Handler, to timeouts) error {
	cs := &clients{max: maxClients}
	stop := context.AfterFunc(ctx, func() {
		l.Close()
		cs.dropIdle()
	})
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		// Before admit: a drop sets an earlier deadline, which this must
		// not override.
		_ = c.SetDeadline(time.Now().Add(to.request))
		cl := cs.admit(c)
		if cl == nil {
			refuse(c, fmt.Sprintf("busy: %d requests are being answered (a handoff or reload takes seconds): try again", maxClients))
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cs.leave(cl)
			serveConn(cl, cs, h, to)
		}()
	}
}

// clients are the connections being served: the idle ones, still waiting
// for their request line (oldest first), and the busy ones, being
// answered.
type clients struct {
	mu   sync.Mutex
	max  int
	idle []*client
	busy int
}

// A client is one connection of [clients].
type client struct {
	net.Conn
	busy    bool   // being answered
	dropped string // why it was dropped while idle; empty: not dropped
}

// admit takes c into the set, dropping the oldest idle connection when the
// set is full; nil: full of busy ones, c is refused.
func (cs *clients) admit(c net.Conn) *client {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.idle)+cs.busy >= cs.max {
		if len(cs.idle) == 0 {
			return nil
		}
		cs.idle[0].drop(fmt.Sprintf("dropped: no request line arrived while newer connections waited (the socket serves %d at once): write the request as soon as connected", cs.max))
		cs.idle = cs.idle[1:]
	}
	cl := &client{Conn: c}
	cs.idle = append(cs.idle, cl)
	return cl
}

// drop ends cl's read now; serveConn then answers why.
func (cl *client) drop(why string) {
	cl.dropped = why
	_ = cl.SetReadDeadline(time.Now())
}

// answer moves cl from idle to busy, unless it was dropped.
func (cs *clients) answer(cl *client) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cl.dropped != "" {
		return false
	}
	cs.idle = slices.DeleteFunc(cs.idle, func(o *client) bool { return o == cl })
	cl.busy = true
	cs.busy++
	return true
}

// leave removes cl from the set.
func (cs *clients) leave(cl *client) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	switch {
	case cl.busy:
		cs.busy--
	case cl.dropped == "":
		cs.idle = slices.DeleteFunc(cs.idle, func(o *client) bool { return o == cl })
	}
}

// dropIdle drops every idle connection: the agent stops.
func (cs *clients) dropIdle() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, cl := range cs.idle {
		cl.drop("the agent is stopping")
	}
	cs.idle = nil
}

// refuse answers c with msg, without waiting for a client that does not
// read, and closes it.
func refuse(c net.Conn, msg string) {
	_ = c.SetWriteDeadline(time.Now().Add(refuseTimeout))
	_ = json.NewEncoder(c).Encode(Response{Error: msg})
	c.Close()
}

// ReadRequest reads one request: a JSON object on one line of at most
// [MaxRequest] bytes of UTF-8, without unknown fields, and without fields
// its op does not take (instance and release are handoff's and
// takeover's). It never reads past the limit, so an endless line costs
// the agent MaxRequest bytes at most.
func ReadRequest(r io.Reader) (Request, error) {
	line, err := bufio.NewReaderSize(io.LimitReader(r, MaxRequest), MaxRequest).ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull), errors.Is(err, io.EOF) && len(line) >= MaxRequest:
		return Request{}, fmt.Errorf("request longer than %d bytes", MaxRequest)
	case errors.Is(err, io.EOF):
		return Request{}, errors.New("request not terminated by a newline")
	case err != nil:
		return Request{}, err
	}
	if !utf8.Valid(line) {
		// encoding/json would turn each bad byte into U+FFFD: a request
		// naming something other than what was sent.
		return Request{}, errors.New("request is not valid UTF-8")
	}
	var req Request
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Request{}, err
	}
	if dec.More() {
		return Request{}, errors.New("more than one JSON value on the request line")
	}
	if (req.Op == "status" || req.Op == "reload") && (req.Instance != "" || req.Release) {
		return Request{}, fmt.Errorf("op %q takes no instance or release (only handoff and takeover do)", req.Op)
	}
	return req, nil
}

func serveConn(cl *client, cs *clients, h Handler, to timeouts) {
	c := cl.Conn
	defer c.Close()
	enc := json.NewEncoder(c)
	if uid, err := peerUID(c); err != nil || uid != 0 {
		_ = enc.Encode(Response{Error: "permission denied: the status socket answers root only"})
		return
	}
	req, err := ReadRequest(c)
	if !cs.answer(cl) {
		refuse(c, cl.dropped)
		return
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("the request line did not arrive within %v", to.request)
	}
	if err != nil {
		_ = c.SetDeadline(time.Now().Add(to.answer))
		_ = enc.Encode(Response{Error: fmt.Sprintf("bad request: %v", err)})
		return
	}
	// No deadline while the agent works on the request: a reload waits
	// for handoffs, up to election.StopTime. The answer's write has one.
	_ = c.SetDeadline(time.Time{})
	var resp Response
	switch req.Op {
	case "status":
		r := h.Report()
		resp.Report = &r
	case "handoff", "takeover":
		act := h.Handoff
		if req.Op == "takeover" {
			act = h.Takeover
		}
		done, err := act(req.Instance, req.Release)
		if err != nil {
			resp.Error, resp.Code = err.Error(), codeOf(err)
		} else {
			if done == nil {
				done = []string{}
			}
			resp.Done = &done
		}
	case "reload":
		done, err := h.Reload()
		if err != nil {
			resp.Error, resp.Code = err.Error(), codeOf(err)
		}
		if done != nil {
			resp.Done = &done
		}
	default:
		resp.Error = fmt.Sprintf("unknown op %q: use status, handoff, takeover or reload", req.Op)
	}
	_ = c.SetDeadline(time.Now().Add(to.answer))
	_ = enc.Encode(resp)
}

// peerUID returns the user id of the process at the other end.
func peerUID(c net.Conn) (uint32, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, errors.New("not a unix socket")
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var serr error
	if err := rc.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, serr
	}
	return cred.Uid, nil
}

// call sends one request to the agent at path and decodes the answer.
func call(ctx context.Context, path string, req Request) (*Response, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("agent status socket %s: %w (is the hac agent running, and are you root?)", path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	b, _ := json.Marshal(req) // a Request always encodes
	if _, err := c.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("agent status socket %s: %w", path, err)
	}
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return nil, fmt.Errorf("agent status socket %s: bad answer: %w", path, err)
	}
	if resp.Error != "" {
		return nil, &RequestError{Code: resp.Code, Msg: resp.Error}
	}
	return &resp, nil
}

// Query asks the agent at path for its report.
func Query(ctx context.Context, path string) (*Report, error) {
	resp, err := call(ctx, path, Request{Op: "status"})
	if err != nil {
		return nil, err
	}
	if resp.Report == nil {
		return nil, fmt.Errorf("agent status socket %s: answer without a report", path)
	}
	return resp.Report, nil
}

// Handoff asks the agent at path to hand off mastership (see
// [Handler.Handoff]) and returns the instances it acted on.
func Handoff(ctx context.Context, path, instance string, release bool) ([]string, error) {
	return act(ctx, path, Request{Op: "handoff", Instance: instance, Release: release})
}

// Takeover asks the agent at path to take mastership (see
// [Handler.Takeover]) and returns the instances it acted on.
func Takeover(ctx context.Context, path, instance string, release bool) ([]string, error) {
	return act(ctx, path, Request{Op: "takeover", Instance: instance, Release: release})
}

func act(ctx context.Context, path string, req Request) ([]string, error) {
	resp, err := call(ctx, path, req)
	if err != nil {
		return nil, err
	}
	if resp.Done == nil {
		return nil, nil
	}
	return *resp.Done, nil
}

// Reload asks the agent at path to re-read its configuration file and
// reload it (see [Handler.Reload]) and returns what it did.
func Reload(ctx context.Context, path string) ([]string, error) {
	resp, err := call(ctx, path, Request{Op: "reload"})
	if err != nil {
		return nil, err
	}
	if resp.Done == nil {
		return nil, nil
	}
	return *resp.Done, nil
}
