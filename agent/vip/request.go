package vip

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// requester sends batches of rtnetlink requests and collects the kernel's
// answer to each, on a socket written and read with raw system calls: a
// VIP added on a takeover wakes no other thread, not even the runtime's
// monitor thread as a system call made the ordinary way does (package
// timerfd says why that matters). The kernel handles a request to
// rtnetlink within the sendto(2) that carries it, answers included, so
// the socket is not in the runtime's poller (which would get an event for
// every answer, and read it at the next wake-up for nothing): a read
// finds the answers there, and waits in ppoll(2) in the one case they
// are not. Its buffers are made once: an exchange of requests made before
// allocates nothing. It is not safe for concurrent use (Manager
// serializes). Lease renewals, which need no answer when they work, go
// through [Renewals] instead.
type requester struct {
	fd  int
	seq uint32

	out     []byte    // the datagram batch sends
	buf     []byte    // the datagram recv reads
	as      answerSet // batch's
	answers []error   // what exchange returns
}

// nlmsgHeaderLen is the size of struct nlmsghdr.
const nlmsgHeaderLen = 16

func dialRequester() (*requester, error) {
	fd, seq, err := dialRoute()
	if err != nil {
		return nil, err
	}
	// Acknowledgements without a copy of the request (Linux 4.3 and
	// later; older kernels copy it, which the buffers fit too).
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	return &requester{fd: fd, seq: seq, buf: make([]byte, 1<<16)}, nil
}

// dialRoute opens a non-blocking rtnetlink socket for requests, with a
// receive buffer of rcvBuf, and draws the first sequence number.
func dialRoute() (fd int, seq uint32, err error) {
	fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return -1, 0, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf) // capped by rmem_max
	}
	var b [4]byte
	_, _ = unix.Getrandom(b[:], unix.GRND_NONBLOCK)
	return fd, binary.NativeEndian.Uint32(b[:]), nil
}

func (r *requester) Close() error { return unix.Close(r.fd) }

// answerWait bounds the wait for an answer the kernel did not give within
// the sendto: a request to rtnetlink never takes that long.
const answerWait = 5 * time.Second

// batchMax is the most requests one datagram carries: the answers to
// one batch fit the socket's receive buffer (rcvBuf) many times over.
const batchMax = 64

// rcvBuf is the socket's receive buffer.
const rcvBuf = 1 << 20

// exchange sends one request of type typ with flags (and acknowledgement)
// for each body, batchMax to a datagram, and returns the kernel's answer
// to each: nil when it was done, the errno when it was refused. err is
// for the socket failing; the answers are then unknown. The answers are
// valid until the next exchange.
func (r *requester) exchange(typ netlink.HeaderType, flags netlink.HeaderFlags, bodies [][]byte) ([]error, error) {
	r.answers = r.answers[:0]
	for len(bodies) > 0 {
		n := min(len(bodies), batchMax)
		if err := r.batch(typ, flags, bodies[:n]); err != nil {
			return nil, err
		}
		r.answers = append(r.answers, r.as.answers...)
		bodies = bodies[n:]
	}
	return r.answers, nil
}

// batch is one datagram of exchange; the answers are left in r.as.
func (r *requester) batch(typ netlink.HeaderType, flags netlink.HeaderFlags, bodies [][]byte) error {
	r.out = r.out[:0]
	for _, b := range bodies {
		r.seq++
		r.out = appendRequest(r.out, typ, flags|netlink.Acknowledge, r.seq, b)
	}
	r.as.reset(r.seq+1-uint32(len(bodies)), len(bodies))
	if err := r.send(); err != nil {
		return err
	}
	for r.as.left > 0 {
		n, err := r.recv()
		if err != nil {
			return err
		}
		if err := r.as.take(r.buf[:n]); err != nil {
			return err
		}
	}
	return nil
}

// answerSet collects the kernel's answers to the requests numbered
// first, first+1, … (one per request).
type answerSet struct {
	first    uint32
	answers  []error
	answered []bool
	left     int // requests not answered yet
}

// reset makes a the set of n requests numbered first, first+1, …, none
// answered yet, reusing its slices.
func (a *answerSet) reset(first uint32, n int) {
	a.first, a.left = first, n
	a.answers = slices.Grow(a.answers[:0], n)[:n]
	a.answered = slices.Grow(a.answered[:0], n)[:n]
	clear(a.answers)
	clear(a.answered)
}

// take records the answers in one datagram the kernel sent. Messages that
// answer no request of the set (left by an exchange that failed half-way)
// are skipped; a malformed datagram is an error.
func (a *answerSet) take(d []byte) error {
	for len(d) > 0 {
		if len(d) < nlmsgHeaderLen {
			return fmt.Errorf("vip: netlink answer: %d bytes left over, short of a header", len(d))
		}
		l := int(binary.NativeEndian.Uint32(d[0:4]))
		if l < nlmsgHeaderLen || l > len(d) {
			return fmt.Errorf("vip: netlink answer: message length %d in %d bytes", l, len(d))
		}
		typ, seq := binary.NativeEndian.Uint16(d[4:6]), binary.NativeEndian.Uint32(d[8:12])
		data := d[nlmsgHeaderLen:l]
		d = d[min(nlmsgAlign(l), len(d)):]
		i := seq - a.first // wraps like the sequence numbers
		if typ != unix.NLMSG_ERROR || i >= uint32(len(a.answers)) || a.answered[i] {
			continue
		}
		if len(data) < 4 {
			return fmt.Errorf("vip: netlink answer: error message of %d bytes", len(data))
		}
		if code := int32(binary.NativeEndian.Uint32(data[:4])); code != 0 {
			a.answers[i] = syscall.Errno(-code)
		}
		a.answered[i] = true
		a.left--
	}
	return nil
}

// send writes r.out to the kernel in one sendto(2).
func (r *requester) send() error { return sendToKernel(r.fd, r.out) }

// sendToKernel writes the datagram b to the kernel on the netlink socket
// fd in one sendto(2), made as a raw system call (see requester).
func sendToKernel(fd int, b []byte) error {
	sa := unix.RawSockaddrNetlink{Family: unix.AF_NETLINK}
	for {
		_, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), unix.MSG_DONTWAIT,
			uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrNetlink)
		switch errno {
		case syscall.EINTR:
			continue
		case 0:
			return nil
		}
		return os.NewSyscallError("sendto", errno)
	}
}

// recv reads one datagram into r.buf: at once, or after waiting (at most
// answerWait) for one.
func (r *requester) recv() (int, error) {
	waited := false
	for {
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(r.fd), uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)), unix.MSG_DONTWAIT, 0, 0)
		switch {
		case errno == syscall.EINTR:
			continue
		case errno == syscall.EAGAIN && !waited:
			fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
			ts := unix.NsecToTimespec(int64(answerWait))
			_, _ = unix.Ppoll(fds, &ts, nil)
			waited = true
			continue
		case errno == syscall.EAGAIN:
			return 0, fmt.Errorf("netlink: no answer within %v", answerWait)
		case errno != 0:
			return 0, os.NewSyscallError("recvfrom", errno) // ENOBUFS: answers were dropped
		}
		return int(n), nil
	}
}

// appendRequest appends to out the request to the kernel of type typ with
// flags (and NLM_F_REQUEST), number seq and body b.
func appendRequest(out []byte, typ netlink.HeaderType, flags netlink.HeaderFlags, seq uint32, b []byte) []byte {
	out = binary.NativeEndian.AppendUint32(out, uint32(nlmsgAlign(nlmsgHeaderLen+len(b))))
	out = binary.NativeEndian.AppendUint16(out, uint16(typ))
	out = binary.NativeEndian.AppendUint16(out, uint16(flags|netlink.Request))
	out = binary.NativeEndian.AppendUint32(out, seq)
	out = binary.NativeEndian.AppendUint32(out, 0) // to the kernel
	out = append(out, b...)
	return append(out, padding[:nlmsgAlign(len(b))-len(b)]...)
}

// padding is what aligns a message's end (nlmsgAlign).
var padding [3]byte

// nlmsgAlign rounds n up to netlink's 4-byte alignment.
func nlmsgAlign(n int) int { return (n + 3) &^ 3 }
