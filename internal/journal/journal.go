// Package journal gives slog output journald priorities. A service's
// standard error under systemd is a stream to journald
// (StandardError=journal, the default), which reads a "<N>" prefix on a
// line as its syslog priority (sd-daemon(3): <3> error, <4> warning,
// <6> info, <7> debug), so that journalctl -p err finds the errors. The
// prefix is only written when standard error really is that stream:
// systemd sets JOURNAL_STREAM to its device and inode numbers, which a
// redirection (hac agent 2>file, a pipe) does not share.
package journal

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// EnvStream is the variable in which systemd names the journal stream.
const EnvStream = "JOURNAL_STREAM"

// The syslog priorities of sd-daemon(3) the log levels map to.
const (
	PriErr     = 3
	PriWarning = 4
	PriInfo    = 6
	PriDebug   = 7
)

// Priority returns the sd-daemon(3) priority of a log level: error and
// above 3, warning 4, info 6, below info 7.
func Priority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return PriErr
	case l >= slog.LevelWarn:
		return PriWarning
	case l >= slog.LevelInfo:
		return PriInfo
	}
	return PriDebug
}

// Stream reports whether f is the journal stream systemd connected this
// process to: JOURNAL_STREAM is "device:inode" of f.
func Stream(f *os.File) bool {
	want := os.Getenv(EnvStream)
	if want == "" {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	return want == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// Logger returns the logger of a hac daemon's --log-format (text or json)
// and --log-level (debug, info, warn or error) on w, with journald
// priorities under systemd (handlerFor); the error names the flag and
// its values.
func Logger(w io.Writer, format, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("unknown --log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	var mk func(io.Writer) slog.Handler
	switch format {
	case "text":
		mk = func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, opts) }
	case "json":
		mk = func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, opts) }
	default:
		return nil, fmt.Errorf("unknown --log-format %q: use text or json", format)
	}
	return slog.New(handlerFor(w, mk)), nil
}

// handlerFor returns mk's handler on w, or, when w is the journal stream
// systemd connected the process to ([Stream]), [NewHandler]'s: journald
// then takes each line's priority from its <N> prefix, so journalctl -p
// err finds the errors.
func handlerFor(w io.Writer, mk func(io.Writer) slog.Handler) slog.Handler {
	if f, ok := w.(*os.File); ok && Stream(f) {
		return NewHandler(w, mk)
	}
	return mk(w)
}

// NewHandler returns a handler that writes what mk's handler writes to w,
// each record prefixed with its priority ("<6>time=... level=INFO ...").
// mk is given the writer to build on (slog.NewTextHandler and
// slog.NewJSONHandler write each record with one Write call).
func NewHandler(w io.Writer, mk func(io.Writer) slog.Handler) slog.Handler {
	pw := &prefixWriter{w: w}
	return &handler{inner: mk(pw), pw: pw}
}

// prefixWriter writes each record with the priority of the record being
// handled; handler sets it under mu.
type prefixWriter struct {
	mu   sync.Mutex
	w    io.Writer
	prio int
	buf  []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(append(append(p.buf[:0], '<'), strconv.Itoa(p.prio)...), '>')
	p.buf = append(p.buf, b...)
	if _, err := p.w.Write(p.buf); err != nil {
		return 0, err
	}
	return len(b), nil
}

type handler struct {
	inner slog.Handler
	pw    *prefixWriter
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	h.pw.mu.Lock()
	defer h.pw.mu.Unlock()
	h.pw.prio = Priority(r.Level)
	return h.inner.Handle(ctx, r)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{inner: h.inner.WithAttrs(as), pw: h.pw}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{inner: h.inner.WithGroup(name), pw: h.pw}
}

// Lines returns a writer that writes to w with every line prefixed with
// priority prio, for text written outside slog (a command's final error).
func Lines(w io.Writer, prio int) io.Writer { return &lines{w: w, prio: prio, start: true} }

type lines struct {
	w     io.Writer
	prio  int
	start bool // the next byte starts a line
}

func (l *lines) Write(b []byte) (int, error) {
	var out []byte
	for _, c := range b {
		if l.start {
			out = append(append(append(out, '<'), strconv.Itoa(l.prio)...), '>')
		}
		out = append(out, c)
		l.start = c == '\n'
	}
	if _, err := l.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
