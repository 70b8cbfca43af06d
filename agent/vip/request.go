package vip

import (
	"encoding/binary"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// requester sends batches of rtnetlink requests and collects the kernel's
// answer to each, on a socket written and read with raw system calls:
// the lease renewals of an idle master then wake only the thread blocked
// in the runtime's poller, not the runtime's monitor thread as a system
// call made the ordinary way does (package timerfd says why that
// matters). The socket is non-blocking; a read with nothing to read waits
// in the poller. It is not safe for concurrent use (Manager serializes).
type requester struct {
	f   *os.File
	rc  syscall.RawConn
	seq uint32
	buf []byte
}

// nlmsgHeaderLen is the size of struct nlmsghdr.
const nlmsgHeaderLen = 16

func dialRequester() (*requester, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// Acknowledgements without a copy of the request (Linux 4.3 and
	// later; older kernels copy it, which the buffers fit too).
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf) // capped by rmem_max
	}
	f := os.NewFile(uintptr(fd), "rtnetlink") // non-blocking: the poller watches it
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	var seq [4]byte
	_, _ = unix.Getrandom(seq[:], unix.GRND_NONBLOCK)
	return &requester{f: f, rc: rc, seq: binary.NativeEndian.Uint32(seq[:]), buf: make([]byte, 1<<16)}, nil
}

func (r *requester) Close() error { return r.f.Close() }

// batchMax is the most requests one datagram carries: the answers to
// one batch fit the socket's receive buffer (rcvBuf) many times over.
const batchMax = 64

// rcvBuf is the socket's receive buffer.
const rcvBuf = 1 << 20

// exchange sends msgs as requests with acknowledgement, batchMax to a
// datagram, and returns the kernel's answer to each: nil when it was
// done, the errno when it was refused. err is for the socket failing;
// the answers are then unknown.
func (r *requester) exchange(msgs []netlink.Message) ([]error, error) {
	answers := make([]error, 0, len(msgs))
	for len(msgs) > 0 {
		n := min(len(msgs), batchMax)
		a, err := r.batch(msgs[:n])
		if err != nil {
			return nil, err
		}
		answers = append(answers, a...)
		msgs = msgs[n:]
	}
	return answers, nil
}

// batch is one datagram of exchange.
func (r *requester) batch(msgs []netlink.Message) ([]error, error) {
	var b []byte
	as := answerSet{first: r.seq + 1, answers: make([]error, len(msgs)), answered: make([]bool, len(msgs)), left: len(msgs)}
	for i := range msgs {
		r.seq++
		h := msgs[i].Header
		h.Flags |= netlink.Request | netlink.Acknowledge
		h.Sequence, h.PID = r.seq, 0
		h.Length = uint32(nlmsgAlign(nlmsgHeaderLen + len(msgs[i].Data)))
		mb, err := (netlink.Message{Header: h, Data: msgs[i].Data}).MarshalBinary()
		if err != nil {
			return nil, err
		}
		b = append(b, mb...)
	}
	if err := r.send(b); err != nil {
		return nil, err
	}
	for as.left > 0 {
		n, err := r.recv()
		if err != nil {
			return nil, err
		}
		if err := as.take(r.buf[:n]); err != nil {
			return nil, err
		}
	}
	return as.answers, nil
}

// answerSet collects the kernel's answers to the requests numbered
// first, first+1, … (one per request).
type answerSet struct {
	first    uint32
	answers  []error
	answered []bool
	left     int // requests not answered yet
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

// send writes b to the kernel in one sendto(2).
func (r *requester) send(b []byte) error {
	sa := unix.RawSockaddrNetlink{Family: unix.AF_NETLINK}
	var errno syscall.Errno
	err := r.rc.Write(func(fd uintptr) bool {
		for {
			_, _, errno = syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), 0,
				uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrNetlink)
			if errno != syscall.EINTR {
				return errno != syscall.EAGAIN
			}
		}
	})
	if err != nil {
		return err
	}
	if errno != 0 {
		return os.NewSyscallError("sendto", errno)
	}
	return nil
}

// recv reads one datagram into r.buf, waiting in the poller for it.
func (r *requester) recv() (int, error) {
	var (
		n     uintptr
		errno syscall.Errno
	)
	err := r.rc.Read(func(fd uintptr) bool {
		for {
			n, _, errno = syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)), 0, 0, 0)
			if errno != syscall.EINTR {
				return errno != syscall.EAGAIN
			}
		}
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, os.NewSyscallError("recvfrom", errno) // ENOBUFS: answers were dropped
	}
	return int(n), nil
}

// nlmsgAlign rounds n up to netlink's 4-byte alignment.
func nlmsgAlign(n int) int { return (n + 3) &^ 3 }
