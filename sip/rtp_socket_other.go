//go:build !linux

package sip

import (
	"net"
	"net/netip"
	"time"
)

// shardReads is false where recvmmsg is missing: each stream then has a
// goroutine reading its socket (stream.receive) and sends through its
// *net.UDPConn.
const shardReads = false

// detach keeps conn with Go's network poller here.
func detach(*net.UDPConn) int { return -1 }

func closeFD(int) {}

func sendTo(int, netip.Addr, []byte, netip.AddrPort) error { return net.ErrClosed }

type rtpReader struct{}

func newRTPReader() *rtpReader { return &rtpReader{} }

func (r *rtpReader) drain(*stream, func() time.Time) int { return 0 }
