//go:build linux

package sip

import (
	"net"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// shardReads says that the scheduler shards read their streams' sockets
// themselves (recvmmsg, below) instead of a goroutine per socket.
const shardReads = true

// detach takes the socket of conn away from Go's network poller: it returns
// a duplicate of its descriptor and closes conn, which removes conn from the
// poller's epoll set. A packet arriving on a detached socket then wakes no
// poller thread (at 2,000 calls, 100,000 wake-ups a second); the shard
// sends and reads it with non-blocking system calls. It returns -1 and
// leaves conn open if the descriptor cannot be duplicated.
func detach(conn *net.UDPConn) int {
	raw, err := conn.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if err := raw.Control(func(s uintptr) {
		fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil || fd < 0 {
		return -1
	}
	conn.Close()
	return fd
}

func closeFD(fd int) { _ = unix.Close(fd) }

// sendTo sends b from the detached socket fd (of the family of local) to
// dst without waiting: a full socket buffer drops the packet, as a network
// would, instead of holding up every other stream of the shard.
func sendTo(fd int, local netip.Addr, b []byte, dst netip.AddrPort) error {
	var sa4 unix.RawSockaddrInet4
	var sa6 unix.RawSockaddrInet6
	var p unsafe.Pointer
	var l uintptr
	port := dst.Port()
	if local.Is4() {
		if !dst.Addr().Unmap().Is4() {
			return unix.EAFNOSUPPORT
		}
		sa4.Family = unix.AF_INET
		sa4.Addr = dst.Addr().Unmap().As4()
		*(*[2]byte)(unsafe.Pointer(&sa4.Port)) = [2]byte{byte(port >> 8), byte(port)}
		p, l = unsafe.Pointer(&sa4), unsafe.Sizeof(sa4)
	} else {
		sa6.Family = unix.AF_INET6
		sa6.Addr = dst.Addr().As16()
		*(*[2]byte)(unsafe.Pointer(&sa6.Port)) = [2]byte{byte(port >> 8), byte(port)}
		p, l = unsafe.Pointer(&sa6), unsafe.Sizeof(sa6)
	}
	// RawSyscall: the call never blocks (MSG_DONTWAIT), and the shard keeps
	// its P instead of handing it over and queueing to get it back.
	_, _, errno := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		unix.MSG_DONTWAIT, uintptr(p), l)
	if errno != 0 {
		return errno
	}
	return nil
}

// recvBatch is how many datagrams one recvmmsg takes from a socket; a call
// sends one packet per 20 ms, so one call usually drains a socket.
const recvBatch = 8

// maxRecvPerTick bounds the datagrams read from one socket per tick, so a
// peer flooding its port cannot hold up the shard; the rest waits in the
// socket buffer (and beyond it the kernel drops).
const maxRecvPerTick = 4 * recvBatch

// rtpReader drains the RTP sockets of one shard once per tick with
// non-blocking recvmmsg: no goroutine per call is woken per packet, which at
// thousands of calls is what made the shards' ticks late (they queued behind
// the readers on the Go run queue). Packets wait at most one frame in the
// socket buffer, which DTMF detection does not notice.
type rtpReader struct {
	msgs  [recvBatch]unix.Mmsghdr
	iovs  [recvBatch]unix.Iovec
	names [recvBatch]unix.RawSockaddrInet6
	bufs  [recvBatch][1500]byte
	pkt   packetHandler
}

func newRTPReader() *rtpReader {
	r := &rtpReader{}
	for i := range r.msgs {
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(len(r.bufs[i]))
		r.msgs[i].Hdr.Iov = &r.iovs[i]
		r.msgs[i].Hdr.SetIovlen(1)
		r.msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
	}
	return r
}

// drain reads what has arrived on st's socket without waiting and hands each
// packet to the stream; it returns how many RTP packets it handed on.
func (r *rtpReader) drain(st *stream, now func() time.Time) int {
	if st.fd < 0 {
		return 0 // read by its own goroutine (stream.receive)
	}
	handled := 0
	for read := 0; read < maxRecvPerTick; {
		for i := range r.msgs {
			r.msgs[i].Hdr.Namelen = uint32(unsafe.Sizeof(r.names[i]))
			r.msgs[i].Len = 0
		}
		r0, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(st.fd), uintptr(unsafe.Pointer(&r.msgs[0])), recvBatch,
			unix.MSG_DONTWAIT, 0, 0)
		n := int(r0)
		if errno != 0 || n <= 0 {
			return handled // nothing waiting (EAGAIN) or an error
		}
		at := now()
		for i := range n {
			src := sockaddrAddrPort(&r.names[i])
			if r.pkt.handle(st, r.bufs[i][:r.msgs[i].Len], src, at) {
				handled++
			}
		}
		read += n
		if n < recvBatch {
			return handled
		}
	}
	return handled
}

// sockaddrAddrPort converts the source address recvmmsg filled in.
func sockaddrAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}
