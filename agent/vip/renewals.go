package vip

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Renewals renews leases with requests the kernel answers only when they
// fail: a renewal that works is one sendto(2) and nothing else, where
// [Manager.AddAll] reads an acknowledgement back for every request. An
// idle master renews its leases every other advert, so the answer it
// always expected was a second system call, and a netlink message built
// and freed, for nothing. The kernel handles the requests within the
// sendto; the failures it answers (each with a copy of its request, which
// names the address) wait on the socket, which the runtime's poller
// watches, and [Renewals.Failures] passes them on. At rest nothing is
// read and no goroutine wakes.
type Renewals struct {
	fd int
	f  *os.File // fd, in the runtime's poller
	rc syscall.RawConn

	// closed is set, with mu and readMu held, by Close: the descriptor
	// may be another file's from then on.
	closed bool

	mu   sync.Mutex // serializes Renew; guards what follows
	seq  uint32
	reqs leaseRequests
	out  []byte  // the datagram Renew sends
	in   []Lease // the leases in out

	readMu sync.Mutex // serializes reading the failures; guards what follows
	buf    []byte
	failed func(Failure) // set by Failures
}

// Failure is a renewal the kernel refused, or, when Prefix is not valid,
// renewals whose answers were lost (the socket's buffer overflowed) or
// could not be read: which ones failed is not known, so every lease may
// have to be renewed again.
type Failure struct {
	Index  int
	Prefix netip.Prefix
	Err    error
}

// DialRenewals opens the socket of the renewals in the calling thread's
// network namespace.
func DialRenewals() (*Renewals, error) {
	fd, seq, err := dialRoute()
	if err != nil {
		return nil, fmt.Errorf("vip: open rtnetlink: %w (the agent needs CAP_NET_ADMIN)", err)
	}
	// A failure's answer carries its request (NETLINK_CAP_ACK is off, as
	// it is by default): the address that was refused.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 0)
	f := os.NewFile(uintptr(fd), "rtnetlink") // non-blocking: the poller watches it
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("vip: open rtnetlink: %w", err)
	}
	return &Renewals{fd: fd, f: f, rc: rc, seq: seq, buf: make([]byte, 1<<16)}, nil
}

// Close closes the socket; Failures returns nil, and Renew fails from now
// on.
func (r *Renewals) Close() error {
	r.mu.Lock() // after the renewal being sent, if any
	defer r.mu.Unlock()
	r.readMu.Lock() // after the failures being read, if any
	r.closed = true
	r.readMu.Unlock()
	// Not under readMu: Close waits for Failures' read to return, which
	// may be waiting for readMu.
	return r.f.Close()
}

// Renew does what [Manager.AddAll] does for every lease, batchMax to a
// datagram, without waiting for answers: the kernel has done each
// request when it returns, and those it refused are passed to the
// function given to [Renewals.Failures]. It returns the leases it could
// not send (one that cannot be encoded, or every lease of a datagram the
// socket did not take), after sending all the others; nil when it sent
// all. A renewal of leases renewed before allocates nothing.
func (r *Renewals) Renew(ls []Lease) []Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	var fs []Failure // made at the first failure
	if r.closed {
		for _, l := range ls {
			fs = append(fs, Failure{l.Index, l.Prefix, fmt.Errorf("vip: renew %v: %w", l.Prefix, os.ErrClosed)})
		}
		return fs
	}
	for len(ls) > 0 {
		n := min(len(ls), batchMax)
		r.out, r.in = r.out[:0], r.in[:0]
		for _, l := range ls[:n] {
			b, err := r.reqs.body(l)
			if err != nil {
				fs = append(fs, Failure{l.Index, l.Prefix, fmt.Errorf("vip: renew %v: %w", l.Prefix, err)})
				continue
			}
			r.seq++
			r.out = appendRequest(r.out, netlink.HeaderType(unix.RTM_NEWADDR), netlink.Create|netlink.Replace, r.seq, b)
			r.in = append(r.in, l)
		}
		if len(r.in) > 0 {
			if err := sendToKernel(r.fd, r.out); err != nil {
				for _, l := range r.in {
					fs = append(fs, Failure{l.Index, l.Prefix, fmt.Errorf("vip: renew %v: %w", l.Prefix, err)})
				}
			}
		}
		ls = ls[n:]
	}
	return fs
}

// Failures passes each renewal the kernel refuses to fn, on the calling
// goroutine, until ctx ends or the socket is closed; failures answered
// before it was called are passed first. Call it once.
func (r *Renewals) Failures(ctx context.Context, fn func(Failure)) error {
	r.readMu.Lock()
	r.failed = fn
	r.readMu.Unlock()
	r.Sync() // those answered already, even when ctx has ended
	stop := context.AfterFunc(ctx, func() { _ = r.f.SetReadDeadline(time.Now()) })
	defer stop()
	err := r.rc.Read(func(uintptr) bool {
		r.Sync()
		return false // wait for the next failure
	})
	r.readMu.Lock()
	closed := r.closed
	r.readMu.Unlock()
	if ctx.Err() != nil || closed {
		return nil
	}
	return fmt.Errorf("vip: read renewal failures: %w", err)
}

// Sync passes to the function given to Failures every failure the kernel
// answered so far, if Failures was called: once it returns, every renewal
// sent before has been either done or passed on.
func (r *Renewals) Sync() {
	r.readMu.Lock()
	defer r.readMu.Unlock()
	if r.failed == nil || r.closed {
		return // they wait on the socket for Failures; or it is gone
	}
	for {
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(r.fd), uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			for _, f := range renewalFailures(r.buf[:n]) {
				r.failed(f)
			}
			continue
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return
		}
		// ENOBUFS: answers were dropped; which is not known.
		r.failed(Failure{Err: fmt.Errorf("vip: renewal answers lost: %w", os.NewSyscallError("recvfrom", errno))})
		if errno != syscall.ENOBUFS {
			return
		}
	}
}

// renewalFailures decodes the answers in one datagram of the renewal
// socket: an NLMSG_ERROR with a non-zero error for each refused request,
// followed by the request (its ifaddrmsg and attributes name the
// address). An answer that does not name its address is a Failure without
// a Prefix; answers that are not errors are skipped.
func renewalFailures(d []byte) []Failure {
	var fs []Failure
	for len(d) >= nlmsgHeaderLen {
		l := int(binary.NativeEndian.Uint32(d[0:4]))
		if l < nlmsgHeaderLen || l > len(d) {
			return append(fs, Failure{Err: fmt.Errorf("vip: renewal answer: message length %d in %d bytes", l, len(d))})
		}
		typ, data := binary.NativeEndian.Uint16(d[4:6]), d[nlmsgHeaderLen:l]
		d = d[min(nlmsgAlign(l), len(d)):]
		if typ != unix.NLMSG_ERROR || len(data) < 4 {
			continue
		}
		code := int32(binary.NativeEndian.Uint32(data[:4]))
		if code == 0 {
			continue // an acknowledgement: none is asked for
		}
		f := Failure{Err: syscall.Errno(-code)}
		f.Index, f.Prefix = requestAddress(data[4:])
		if f.Prefix.IsValid() {
			f.Err = fmt.Errorf("vip: renew %v on interface %d: %w", f.Prefix, f.Index, f.Err)
		} else {
			f.Err = fmt.Errorf("vip: renew a lease (which is not known): %w", f.Err)
		}
		fs = append(fs, f)
	}
	return fs
}

// requestAddress returns the interface index and the address of the
// RTM_NEWADDR request m (its netlink header, ifaddrmsg and attributes);
// an invalid prefix when m does not name one.
func requestAddress(m []byte) (int, netip.Prefix) {
	const ifaddrmsgLen = 8
	if len(m) < nlmsgHeaderLen+ifaddrmsgLen || binary.NativeEndian.Uint16(m[4:6]) != unix.RTM_NEWADDR {
		return 0, netip.Prefix{}
	}
	if l := int(binary.NativeEndian.Uint32(m[0:4])); l >= nlmsgHeaderLen+ifaddrmsgLen && l < len(m) {
		m = m[:l]
	}
	ifa := m[nlmsgHeaderLen : nlmsgHeaderLen+ifaddrmsgLen]
	bits, index := int(ifa[1]), int(binary.NativeEndian.Uint32(ifa[4:8]))
	var local, address netip.Addr
	ad, err := netlink.NewAttributeDecoder(m[nlmsgHeaderLen+ifaddrmsgLen:])
	if err != nil {
		return 0, netip.Prefix{}
	}
	for ad.Next() {
		a, ok := netip.AddrFromSlice(ad.Bytes())
		switch {
		case !ok:
		case ad.Type() == unix.IFA_LOCAL:
			local = a
		case ad.Type() == unix.IFA_ADDRESS:
			address = a
		}
	}
	if local.IsValid() {
		address = local
	}
	if !address.IsValid() || bits > address.BitLen() {
		return 0, netip.Prefix{}
	}
	return index, netip.PrefixFrom(address, bits)
}
