package journal

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHandler: every record starts with its priority, also through
// WithAttrs and WithGroup, in text and JSON, and records logged at once
// from many goroutines keep their own prefix.
func TestHandler(t *testing.T) {
	for _, tc := range []struct {
		name string
		mk   func(io.Writer) slog.Handler
	}{
		{"text", func(w io.Writer) slog.Handler {
			return slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})
		}},
		{"json", func(w io.Writer) slog.Handler {
			return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			log := slog.New(NewHandler(&b, tc.mk)).With("instance", "VI_1").WithGroup("g")
			log.Debug("d")
			log.Info("i")
			log.Warn("w\nsecond line")
			log.Error("e")
			log.Log(nil, slog.LevelError+4, "beyond error")
			var got []string
			for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
				got = append(got, l[:3])
				if !strings.Contains(l, "VI_1") {
					t.Errorf("line lost the attributes: %q", l)
				}
			}
			if diff := cmp.Diff([]string{"<7>", "<6>", "<4>", "<3>", "<3>"}, got); diff != "" {
				t.Errorf("prefixes (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("concurrent", func(t *testing.T) {
		var b bytes.Buffer
		log := slog.New(NewHandler(&b, func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) }))
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				if i%2 == 0 {
					log.Error("bad")
				} else {
					log.Info("fine")
				}
			})
		}
		wg.Wait()
		for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
			if strings.Contains(l, "level=ERROR") != strings.HasPrefix(l, "<3>") || strings.Contains(l, "level=INFO") != strings.HasPrefix(l, "<6>") {
				t.Errorf("prefix does not match the level: %q", l)
			}
		}
	})
}

// TestStream: only the file JOURNAL_STREAM names is the journal stream.
func TestStream(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	other, err := os.Create(filepath.Join(dir, "other"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	fi, _ := f.Stat()
	st := fi.Sys().(*syscall.Stat_t)
	t.Setenv(EnvStream, fmt.Sprintf("%d:%d", st.Dev, st.Ino))
	if !Stream(f) {
		t.Error("the file JOURNAL_STREAM names is not taken for the stream")
	}
	if Stream(other) {
		t.Error("another file (a redirection) is taken for the stream")
	}
	t.Setenv(EnvStream, "")
	if Stream(f) {
		t.Error("without JOURNAL_STREAM a file is taken for the stream")
	}
}

func TestPriority(t *testing.T) {
	for l, want := range map[slog.Level]int{slog.LevelDebug - 4: 7, slog.LevelDebug: 7, slog.LevelInfo: 6, slog.LevelInfo + 2: 6, slog.LevelWarn: 4, slog.LevelError: 3, slog.LevelError + 8: 3} {
		if got := Priority(l); got != want {
			t.Errorf("Priority(%v) = %d, want %d", l, got, want)
		}
	}
}

func TestLines(t *testing.T) {
	var b bytes.Buffer
	w := Lines(&b, PriErr)
	fmt.Fprintln(w, "hac: agent config is invalid:\ninstances[0].vrid: 0")
	fmt.Fprint(w, "partial ")
	fmt.Fprintln(w, "line")
	want := "<3>hac: agent config is invalid:\n<3>instances[0].vrid: 0\n<3>partial line\n"
	if got := b.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestLogger: the flags' values, and refusals naming the flag and what
// it takes.
func TestLogger(t *testing.T) {
	for _, tc := range []struct {
		format, level string
		line, err     string // in the output of an info and a warn line; the error
	}{
		{"text", "info", "level=INFO msg=hello", ""},
		{"json", "warn", `"level":"WARN","msg":"careful"`, ""},
		{"xml", "info", "", `unknown --log-format "xml": use text or json`},
		{"text", "loud", "", `unknown --log-level "loud": use debug, info, warn or error`},
	} {
		var b bytes.Buffer
		log, err := Logger(&b, tc.format, tc.level)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Logger(%q, %q) = %v, want %q", tc.format, tc.level, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		log.Info("hello")
		log.Warn("careful")
		if !strings.Contains(b.String(), tc.line) || (tc.level == "warn" && strings.Contains(b.String(), "hello")) {
			t.Errorf("Logger(%q, %q) wrote %q, want %q and nothing below %s", tc.format, tc.level, b.String(), tc.line, tc.level)
		}
	}
}
