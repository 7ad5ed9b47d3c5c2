//go:build linux

package main

import (
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// recvBatch is how many datagrams one recvmmsg takes from a call's socket;
// the server sends one per 20 ms, so one call usually drains it.
const recvBatch = 8

// cmsgSpace is room for one SCM_TIMESTAMPNS control message.
var cmsgSpace = unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))

// reader drains call sockets without waiting (recvmmsg, MSG_DONTWAIT) and
// returns each datagram with the kernel's receive time (SO_TIMESTAMPNS), so
// a gap is measured from when the packet reached the socket, not from when
// the load tool got round to reading it.
type reader struct {
	msgs [recvBatch]unix.Mmsghdr
	iovs [recvBatch]unix.Iovec
	bufs [recvBatch][1500]byte
	oob  []byte
}

func newReader() *reader {
	r := &reader{oob: make([]byte, recvBatch*cmsgSpace)}
	for i := range r.msgs {
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(len(r.bufs[i]))
		r.msgs[i].Hdr.Iov = &r.iovs[i]
		r.msgs[i].Hdr.SetIovlen(1)
		r.msgs[i].Hdr.Control = &r.oob[i*cmsgSpace]
	}
	return r
}

// rtpSocket is a call's RTP socket: a non-blocking UDP socket that Go's
// network poller does not know of, so a packet arriving wakes no poller
// thread; the shards send and read it with raw system calls. Only the shard
// that has the call closes it (closing an fd that another goroutine may use
// could hand its number to the next call's socket).
type rtpSocket struct {
	fd   int
	six  bool
	port int
}

// openRTP binds a socket on ip at a port the kernel picks and asks it to
// stamp every datagram received (SO_TIMESTAMPNS).
func openRTP(ip netip.Addr) (*rtpSocket, error) {
	s := &rtpSocket{six: !ip.Is4()}
	family := unix.AF_INET
	var sa unix.Sockaddr = &unix.SockaddrInet4{Addr: ip.As4()}
	if s.six {
		family, sa = unix.AF_INET6, &unix.SockaddrInet6{Addr: ip.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("rtp socket: %w", err)
	}
	s.fd = fd
	if err := unix.Bind(fd, sa); err != nil {
		s.close()
		return nil, fmt.Errorf("rtp bind: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		s.close()
		return nil, fmt.Errorf("rtp SO_TIMESTAMPNS: %w", err)
	}
	local, err := unix.Getsockname(fd)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("rtp getsockname: %w", err)
	}
	switch a := local.(type) {
	case *unix.SockaddrInet4:
		s.port = a.Port
	case *unix.SockaddrInet6:
		s.port = a.Port
	}
	return s, nil
}

func (s *rtpSocket) close() { _ = unix.Close(s.fd) }

// send sends b to dst without waiting; a full socket buffer drops it.
func (s *rtpSocket) send(b []byte, dst netip.AddrPort) {
	var sa4 unix.RawSockaddrInet4
	var sa6 unix.RawSockaddrInet6
	var p unsafe.Pointer
	var l uintptr
	port := dst.Port()
	if s.six {
		sa6.Family = unix.AF_INET6
		sa6.Addr = dst.Addr().As16()
		*(*[2]byte)(unsafe.Pointer(&sa6.Port)) = [2]byte{byte(port >> 8), byte(port)}
		p, l = unsafe.Pointer(&sa6), unsafe.Sizeof(sa6)
	} else {
		sa4.Family = unix.AF_INET
		sa4.Addr = dst.Addr().Unmap().As4()
		*(*[2]byte)(unsafe.Pointer(&sa4.Port)) = [2]byte{byte(port >> 8), byte(port)}
		p, l = unsafe.Pointer(&sa4), unsafe.Sizeof(sa4)
	}
	_, _, _ = unix.RawSyscall6(unix.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		unix.MSG_DONTWAIT, uintptr(p), l)
}

// drain reads what is waiting on raw and calls got with each datagram's
// length and kernel receive time (Unix ns; 0 if the kernel gave none). It
// reads at most 4 batches.
func (r *reader) drain(s *rtpSocket, got func(n int, at int64)) {
	for range 4 {
		for i := range r.msgs {
			r.msgs[i].Hdr.SetControllen(cmsgSpace)
			r.msgs[i].Len = 0
		}
		r0, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&r.msgs[0])), recvBatch,
			unix.MSG_DONTWAIT, 0, 0)
		n := int(r0)
		if errno != 0 || n <= 0 {
			return
		}
		for i := range n {
			got(int(r.msgs[i].Len), stamp(r.oob[i*cmsgSpace:i*cmsgSpace+int(r.msgs[i].Hdr.Controllen)]))
		}
		if n < recvBatch {
			return
		}
	}
}

// stamp finds SCM_TIMESTAMPNS in a control buffer.
func stamp(b []byte) int64 {
	for len(b) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		if h.Len < unix.SizeofCmsghdr || int(h.Len) > len(b) {
			return 0
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS &&
			int(h.Len) >= unix.CmsgLen(int(unsafe.Sizeof(unix.Timespec{}))) {
			ts := (*unix.Timespec)(unsafe.Pointer(&b[unix.CmsgLen(0)]))
			return ts.Sec*1e9 + ts.Nsec
		}
		b = b[min(unix.CmsgSpace(int(h.Len)-unix.CmsgLen(0)), len(b)):]
	}
	return 0
}
