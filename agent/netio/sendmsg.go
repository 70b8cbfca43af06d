package netio

import (
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendmsg sends b to dst with the control messages oob in one sendmsg(2)
// on the socket rc, made as a raw system call: a call made the ordinary
// way (syscall.Syscall, which package net uses) tells the runtime it may
// block, and the runtime then wakes its monitor thread if it sleeps, one
// more thread woken per advert for an agent that is otherwise idle (see
// package timerfd). The socket is non-blocking, so the call never blocks:
// when the send buffer is full, rc.Write waits in the poller instead.
// scope is the interface index of a link-local IPv6 destination.
func sendmsg(rc syscall.RawConn, b, oob []byte, dst netip.Addr, scope uint32) error {
	var msg unix.Msghdr
	if dst.Is4() {
		sa := &unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst.As4()}
		msg.Name, msg.Namelen = (*byte)(unsafe.Pointer(sa)), unix.SizeofSockaddrInet4
	} else {
		sa := &unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: dst.As16(), Scope_id: scope}
		msg.Name, msg.Namelen = (*byte)(unsafe.Pointer(sa)), unix.SizeofSockaddrInet6
	}
	iov := unix.Iovec{Base: unsafe.SliceData(b)}
	iov.SetLen(len(b))
	msg.Iov = &iov
	msg.SetIovlen(1)
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	var errno syscall.Errno
	err := rc.Write(func(fd uintptr) bool {
		for {
			_, _, errno = syscall.RawSyscall(syscall.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&msg)), 0)
			if errno != syscall.EINTR {
				return errno != syscall.EAGAIN
			}
		}
	})
	if err != nil {
		return err
	}
	if errno != 0 {
		return os.NewSyscallError("sendmsg", errno)
	}
	return nil
}
