package sdnotify

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// listen opens a fake systemd notify socket at name.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func read(t *testing.T, l *net.UnixConn) string {
	t.Helper()
	b := make([]byte, 4096)
	l.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := l.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[:n])
}

// TestNotify sends to a path socket and to an abstract one, as systemd
// names them in NOTIFY_SOCKET, and reads the datagrams systemd would.
func TestNotify(t *testing.T) {
	for _, name := range []string{
		filepath.Join(t.TempDir(), "notify"),
		"@hac-sdnotify-test-" + strconv.Itoa(os.Getpid()),
	} {
		t.Run(name, func(t *testing.T) {
			l := listen(t, name)
			n, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			for _, msg := range []string{Ready + "\n" + Status("VI_1  MASTER,\nVI_2 BACKUP"), Watchdog, Stopping} {
				if err := n.Notify(msg); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for range 3 {
				got = append(got, read(t, l))
			}
			want := []string{"READY=1\nSTATUS=VI_1 MASTER, VI_2 BACKUP", "WATCHDOG=1", "STOPPING=1"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("datagrams (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFromEnv reads NOTIFY_SOCKET and the watchdog, and unsets them so
// that checks and notify commands do not inherit them.
func TestFromEnv(t *testing.T) {
	name := filepath.Join(t.TempDir(), "notify")
	l := listen(t, name)
	t.Setenv(EnvSocket, name)
	t.Setenv(EnvWatchdog, "10000000")
	t.Setenv(EnvWatchdogPID, strconv.Itoa(os.Getpid()))
	n, wd, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if wd != 10*time.Second {
		t.Errorf("watchdog %v, want 10s", wd)
	}
	for _, v := range []string{EnvSocket, EnvWatchdog, EnvWatchdogPID} {
		if _, ok := os.LookupEnv(v); ok {
			t.Errorf("%s is still set", v)
		}
	}
	if err := n.Notify(Ready); err != nil {
		t.Fatal(err)
	}
	if got := read(t, l); got != Ready {
		t.Errorf("got %q, want READY=1", got)
	}
}

// TestNotSystemd: without NOTIFY_SOCKET the nil notifier sends nothing.
func TestNotSystemd(t *testing.T) {
	t.Setenv(EnvSocket, "")
	n, wd, err := FromEnv()
	if n != nil || wd != 0 || err != nil {
		t.Fatalf("FromEnv = %v, %v, %v; want nothing", n, wd, err)
	}
	if err := n.Notify(Ready); err != nil {
		t.Errorf("nil notifier: %v", err)
	}
}

func TestWatchdogEnv(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		err       bool
	}{
		{"", "", 0, false},
		{"5000000", "", 5 * time.Second, false},
		{"5000000", "42", 5 * time.Second, false},
		{"5000000", "43", 0, false}, // meant for another process
		{"0", "", 0, true},
		{"ten", "", 0, true},
	} {
		got, err := watchdog(tc.usec, tc.pid, 42)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("watchdog(%q, %q) = %v, %v; want %v, error %v", tc.usec, tc.pid, got, err, tc.want, tc.err)
		}
	}
	if _, err := New("relative/path"); err == nil {
		t.Error("New accepted a relative socket path")
	}
}

// TestReloading: a reload as systemd reads it on NOTIFY_SOCKET:
// RELOADING=1 with the CLOCK_MONOTONIC time in microseconds, then READY=1.
func TestReloading(t *testing.T) {
	name := filepath.Join(t.TempDir(), "notify")
	l := listen(t, name)
	t.Setenv(EnvSocket, name)
	n, _, err := FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got, want := Reloading(1234567890*time.Microsecond), "RELOADING=1\nMONOTONIC_USEC=1234567890"; got != want {
		t.Errorf("Reloading = %q, want %q", got, want)
	}
	before := Monotonic()
	for _, msg := range []string{Reloading(Monotonic()) + "\n" + Status("reloading"), Ready + "\n" + Status("VI_1 MASTER")} {
		if err := n.Notify(msg); err != nil {
			t.Fatal(err)
		}
	}
	after := Monotonic()
	reloading, ready := read(t, l), read(t, l)
	var usec int64
	if _, err := fmt.Sscanf(reloading, "RELOADING=1\nMONOTONIC_USEC=%d\nSTATUS=reloading", &usec); err != nil {
		t.Fatalf("first datagram %q: %v", reloading, err)
	}
	if usec < before.Microseconds() || usec > after.Microseconds() {
		t.Errorf("MONOTONIC_USEC=%d, want CLOCK_MONOTONIC: %d..%d", usec, before.Microseconds(), after.Microseconds())
	}
	if want := "READY=1\nSTATUS=VI_1 MASTER"; ready != want {
		t.Errorf("second datagram %q, want %q", ready, want)
	}
}
