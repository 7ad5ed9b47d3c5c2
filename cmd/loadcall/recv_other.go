//go:build !linux

package main

import (
	"errors"
	"net/netip"
)

// The load tool sends and reads its RTP with raw Linux system calls
// (recvmmsg, SO_TIMESTAMPNS).

type rtpSocket struct{ port int }

func openRTP(netip.Addr) (*rtpSocket, error) { return nil, errors.New("loadcall needs Linux") }

func (s *rtpSocket) close()                      {}
func (s *rtpSocket) send([]byte, netip.AddrPort) {}

type reader struct{}

func newReader() *reader { return &reader{} }

func (r *reader) drain(*rtpSocket, func(int, int64)) {}
