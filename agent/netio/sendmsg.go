package netio

import (
	"net/netip"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sender sends datagrams with one sendmsg(2) each on a socket, made as a
// raw system call: a call made the ordinary way (syscall.Syscall, which
// package net uses) tells the runtime it may block, and the runtime then
// wakes its monitor thread if it sleeps, one more thread woken per advert
// for an agent that is otherwise idle (see package timerfd). The socket
// is non-blocking, so the call never blocks: when the send buffer is
// full, the write waits in the poller instead. Its buffers are reused
// (an idle master's adverts make no garbage); it is safe for concurrent
// use.
type sender struct {
	rc syscall.RawConn

	mu    sync.Mutex // guards the rest, used by one send at a time
	msg   unix.Msghdr
	iov   unix.Iovec
	sa4   unix.RawSockaddrInet4
	sa6   unix.RawSockaddrInet6
	errno syscall.Errno
	write func(fd uintptr) bool // sends msg; made once

	// oob is the control messages for the source src, marshalled once
	// per source (a conn's adverts mostly use one).
	src netip.Addr
	oob []byte
}

func newSender(rc syscall.RawConn) *sender {
	s := &sender{rc: rc}
	s.write = func(fd uintptr) bool {
		for {
			_, _, s.errno = syscall.RawSyscall(syscall.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&s.msg)), 0)
			if s.errno != syscall.EINTR {
				return s.errno != syscall.EAGAIN
			}
		}
	}
	return s
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
	s.errno = 0
	err := s.rc.Write(s.write)
	s.msg.Iov, s.iov.Base = nil, nil // keep nothing of b
	if err != nil {
		return err
	}
	if s.errno != 0 {
		return os.NewSyscallError("sendmsg", s.errno)
	}
	return nil
}
