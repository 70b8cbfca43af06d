// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)) for a Type=notify unit: one datagram of newline-separated
// VAR=value assignments (READY=1, STATUS=..., RELOADING=1, STOPPING=1,
// WATCHDOG=1) sent to the unix datagram socket systemd names in
// NOTIFY_SOCKET (a file path, or an abstract socket written with a leading
// '@'), and the watchdog interval systemd asks for in WATCHDOG_USEC.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The environment variables systemd sets for a service.
const (
	EnvSocket      = "NOTIFY_SOCKET"
	EnvWatchdog    = "WATCHDOG_USEC"
	EnvWatchdogPID = "WATCHDOG_PID"
)

// Notifier sends notifications to systemd. A nil *Notifier (not run by
// systemd, or by a unit that is not Type=notify) sends nothing.
type Notifier struct {
	conn *net.UnixConn
	raw  syscall.RawConn
}

// New returns a notifier for the socket path or '@'-prefixed abstract
// name socket.
func New(socket string) (*Notifier, error) {
	if socket == "" || (socket[0] != '/' && socket[0] != '@') {
		return nil, fmt.Errorf("sdnotify: %s=%q is neither an absolute path nor an abstract socket name (@...)", EnvSocket, socket)
	}
	// Go's net package turns a leading '@' into the abstract namespace's NUL.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("sdnotify: %s: %w", socket, err)
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("sdnotify: %s: %w", socket, err)
	}
	return &Notifier{conn: conn, raw: raw}, nil
}

// FromEnv returns the notifier and the watchdog timeout (WatchdogSec=;
// 0: none, or meant for another process) systemd set in the environment,
// and removes those variables so that the commands the process runs do
// not inherit them. It returns a nil notifier when NOTIFY_SOCKET is unset.
func FromEnv() (*Notifier, time.Duration, error) {
	socket := os.Getenv(EnvSocket)
	usec, pid := os.Getenv(EnvWatchdog), os.Getenv(EnvWatchdogPID)
	for _, v := range []string{EnvSocket, EnvWatchdog, EnvWatchdogPID} {
		os.Unsetenv(v)
	}
	if socket == "" {
		return nil, 0, nil
	}
	wd, err := watchdog(usec, pid, os.Getpid())
	if err != nil {
		return nil, 0, err
	}
	n, err := New(socket)
	if err != nil {
		return nil, 0, err
	}
	return n, wd, nil
}

// watchdog parses WATCHDOG_USEC and WATCHDOG_PID as sd_watchdog_enabled(3)
// does: the timeout, or 0 when there is none or it is for another pid.
func watchdog(usec, pid string, self int) (time.Duration, error) {
	if usec == "" {
		return 0, nil
	}
	if pid != "" && pid != strconv.Itoa(self) {
		return 0, nil
	}
	n, err := strconv.ParseUint(usec, 10, 63)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("sdnotify: %s=%q is not a positive number of microseconds", EnvWatchdog, usec)
	}
	return time.Duration(n) * time.Microsecond, nil
}

// Notify sends one notification, such as "READY=1\nSTATUS=VI_1 MASTER".
// Newlines inside a STATUS text would start a new assignment: callers
// pass one-line values (see [Status]).
func (n *Notifier) Notify(state string) error {
	if n == nil {
		return nil
	}
	// One write(2), made as a raw system call: the watchdog's ping every
	// few seconds then wakes no thread but the poller's (package timerfd
	// says why that matters). The socket is non-blocking: when systemd's
	// queue is full, n.raw.Write waits in the poller instead.
	b := []byte(state)
	var errno syscall.Errno
	err := n.raw.Write(func(fd uintptr) bool {
		for {
			_, _, errno = syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
			if errno != syscall.EINTR {
				return errno != syscall.EAGAIN
			}
		}
	})
	if err == nil && errno != 0 {
		err = os.NewSyscallError("write", errno)
	}
	if err != nil {
		return fmt.Errorf("sdnotify: %w", err)
	}
	return nil
}

// Close releases the socket.
func (n *Notifier) Close() error {
	if n == nil {
		return nil
	}
	return n.conn.Close()
}

// Status returns the STATUS= assignment for text, on one line.
func Status(text string) string {
	return "STATUS=" + strings.Join(strings.Fields(text), " ")
}

// The notifications the agent sends.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)

// Reloading returns the notification that a reload starts: RELOADING=1
// with MONOTONIC_USEC=, the time of CLOCK_MONOTONIC (see [Monotonic]) in
// microseconds, as systemd's reload protocol asks (sd_notify(3); required
// by Type=notify-reload, systemd 253 and later, and ignored by earlier
// ones). READY=1 ends the reload.
func Reloading(monotonic time.Duration) string {
	return "RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(monotonic.Microseconds(), 10)
}

// Monotonic returns the time of CLOCK_MONOTONIC, the clock of
// MONOTONIC_USEC=.
func Monotonic() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("sdnotify: CLOCK_MONOTONIC: " + err.Error()) // Linux always has it
	}
	return time.Duration(ts.Nano())
}
