package netio

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sender sends datagrams with one sendmsg(2) each on a socket of its own
// that the runtime's poller does not watch (see openSend), made as a raw
// system call: a call made the ordinary way (syscall.Syscall, which
// package net uses) tells the runtime it may block, and the runtime then
// wakes its monitor thread if it sleeps, one more thread woken per advert
// for an agent that is otherwise idle (see package timerfd). The socket
// is non-blocking, so the call never blocks; when the send buffer is full
// (a link whose queue does not drain), the send waits for room, at most
// sendWait, in ppoll(2). Its buffers are reused (an idle master's adverts
// make no garbage); it is safe for concurrent use.
type sender struct {
	mu  sync.Mutex // guards the rest, used by one send at a time
	fd  int        // -1 once closed
	msg unix.Msghdr
	iov unix.Iovec
	sa4 unix.RawSockaddrInet4
	sa6 unix.RawSockaddrInet6

	// oob is the control messages for the source src, marshalled once
	// per source (a conn's adverts mostly use one).
	src netip.Addr
	oob []byte
}

// sendWait bounds how long a send waits for room in a full send buffer:
// an advert later than that is no use, and the instance goes to FAULT.
const sendWait = time.Second

func newSender(fd int) *sender { return &sender{fd: fd} }

// close closes the socket; later sends fail.
func (s *sender) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	return err
}

// sendmsg sends s.msg.
func (s *sender) sendmsg() syscall.Errno {
	for {
		_, _, errno := syscall.RawSyscall(syscall.SYS_SENDMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.msg)), 0)
		if errno != syscall.EINTR {
			return errno
		}
	}
}

// waitRoom waits, at most sendWait, until the socket takes a datagram.
func (s *sender) waitRoom() {
	fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLOUT}}
	ts := unix.NsecToTimespec(int64(sendWait))
	_, _ = unix.Ppoll(fds, &ts, nil)
}

// send sends b to dst with the control messages control(src) returns (only
// called when src differs from the last send's); scope is the interface
// index of a link-local IPv6 destination.
func (s *sender) send(b []byte, src, dst netip.Addr, scope uint32, control func() []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if src != s.src || s.oob == nil {
		s.src, s.oob = src, control()
	}
	if s.fd < 0 {
		return net.ErrClosed
	}
	s.msg = unix.Msghdr{}
	if dst.Is4() {
		s.sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst.As4()}
		s.msg.Name, s.msg.Namelen = (*byte)(unsafe.Pointer(&s.sa4)), unix.SizeofSockaddrInet4
	} else {
		s.sa6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: dst.As16(), Scope_id: scope}
		s.msg.Name, s.msg.Namelen = (*byte)(unsafe.Pointer(&s.sa6)), unix.SizeofSockaddrInet6
	}
	s.iov = unix.Iovec{Base: unsafe.SliceData(b)}
	s.iov.SetLen(len(b))
	s.msg.Iov = &s.iov
	s.msg.SetIovlen(1)
	if len(s.oob) > 0 {
		s.msg.Control = &s.oob[0]
		s.msg.SetControllen(len(s.oob))
	}
	errno := s.sendmsg()
	if errno == syscall.EAGAIN {
		s.waitRoom()
		errno = s.sendmsg()
	}
	s.msg.Iov, s.iov.Base = nil, nil // keep nothing of b
	if errno != 0 {
		return os.NewSyscallError("sendmsg", errno)
	}
	return nil
}
