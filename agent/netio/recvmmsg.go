package netio

import (
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// receiver reads up to len(bufs) datagrams per recvmmsg(2), made as a raw
// system call like sender's sendmsg: a backup that hears an advert a
// second then wakes only the thread blocked in the runtime's poller, not
// the runtime's monitor thread as a call made the ordinary way does
// (package timerfd says why that matters). The socket is non-blocking:
// with nothing queued, the read waits in the poller. One goroutine reads.
type receiver struct {
	rc    syscall.RawConn
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrAny
	bufs  [][]byte
	oobs  [][]byte
	n     int // datagrams the last read returned
	errno syscall.Errno
	read  func(fd uintptr) bool // made once
}

// newReceiver returns a receiver of count datagrams of at most size
// bytes, with control messages of at most oobSize bytes.
func newReceiver(rc syscall.RawConn, count, size, oobSize int) *receiver {
	r := &receiver{
		rc:    rc,
		hdrs:  make([]unix.Mmsghdr, count),
		iovs:  make([]unix.Iovec, count),
		names: make([]unix.RawSockaddrAny, count),
		bufs:  make([][]byte, count),
		oobs:  make([][]byte, count),
	}
	for i := range count {
		r.bufs[i], r.oobs[i] = make([]byte, size), make([]byte, oobSize)
	}
	r.read = func(fd uintptr) bool {
		for i := range r.hdrs {
			r.iovs[i] = unix.Iovec{Base: &r.bufs[i][0]}
			r.iovs[i].SetLen(len(r.bufs[i]))
			h := &r.hdrs[i].Hdr
			*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&r.names[i])), Namelen: unix.SizeofSockaddrAny, Iov: &r.iovs[i]}
			h.SetIovlen(1)
			h.Control = &r.oobs[i][0]
			h.SetControllen(len(r.oobs[i]))
			r.hdrs[i].Len = 0
		}
		for {
			n, _, errno := syscall.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(len(r.hdrs)), 0, 0, 0)
			if errno == syscall.EINTR {
				continue
			}
			r.n, r.errno = int(n), errno
			return errno != syscall.EAGAIN
		}
	}
	return r
}

// readBatch waits for datagrams and reads those queued, up to the
// receiver's count; it returns how many.
func (r *receiver) readBatch() (int, error) {
	if err := r.rc.Read(r.read); err != nil {
		return 0, err
	}
	if r.errno != 0 {
		return 0, os.NewSyscallError("recvmmsg", r.errno)
	}
	return r.n, nil
}

// datagram returns the i-th datagram of the last read: its bytes (an
// IPv4 raw socket's with the IP header), control messages and source.
func (r *receiver) datagram(i int) (data, oob []byte, src netip.Addr) {
	h := &r.hdrs[i]
	data = r.bufs[i][:min(int(h.Len), len(r.bufs[i]))]
	oob = r.oobs[i][:min(int(h.Hdr.Controllen), len(r.oobs[i]))]
	switch sa := &r.names[i]; sa.Addr.Family {
	case unix.AF_INET:
		src = netip.AddrFrom4((*unix.RawSockaddrInet4)(unsafe.Pointer(sa)).Addr)
	case unix.AF_INET6:
		src = netip.AddrFrom16((*unix.RawSockaddrInet6)(unsafe.Pointer(sa)).Addr).Unmap()
	}
	return data, oob, src
}
