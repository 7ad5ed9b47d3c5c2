package sip

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// ErrPlayInterrupted is returned by a Play that another Play replaced.
var ErrPlayInterrupted = errors.New("sip: prompt interrupted by another")

// ErrCallEnded is returned by Play once the call has ended.
var ErrCallEnded = errors.New("sip: call ended")

// rtpHeaderLen is the size of the fixed RTP header we send (no CSRC, no
// extension).
const rtpHeaderLen = 12

// stream is the RTP of one call: its socket, where to send, what to send
// next. The scheduler calls next from one shard goroutine; the call's
// goroutines change it under mu.
type stream struct {
	// fd is the socket taken from conn (detach) on Linux, which the shard
	// sends on and reads; conn is then closed. With fd < 0, conn is used
	// and a goroutine reads it. fd is closed by whoever owns the stream
	// once it is closed: its shard while scheduled (a descriptor closed
	// under the shard's feet could be reused by the next call's socket),
	// else close itself.
	fd    int
	conn  *net.UDPConn
	local netip.AddrPort

	// onPacket takes each RTP packet received, on the goroutine that reads
	// the socket (the stream's shard); set before the stream is scheduled.
	onPacket  func(p *rtp.Packet, at time.Time)
	readPhase uint8 // the ticks (mod recvEvery) at which its shard reads it

	mu        sync.Mutex
	dst       netip.AddrPort
	latched   bool // dst is the source of the peer's RTP (symmetric RTP)
	pt        uint8
	sending   bool // our direction sends media (not on hold)
	seq       uint16
	ts        uint32
	ssrc      uint32
	marker    bool
	prompt    *Prompt
	pos       int
	done      chan error // of the prompt playing
	closed    bool
	paused    bool // true until the call is answered
	scheduled bool // a shard owns fd

	buf [rtpHeaderLen + FrameSamples]byte // owned by the shard goroutine
}

func newStream(conn *net.UDPConn, dst netip.AddrPort, pt uint8, sending bool) *stream {
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return &stream{
		fd: detach(conn), conn: conn, local: local,
		dst: dst, pt: pt, sending: sending,
		seq: uint16(rand.Uint32()), ts: rand.Uint32(), ssrc: rand.Uint32(),
		marker: true, paused: true,
	}
}

// next writes the packet of the next 20 ms slot into st.buf and returns its
// length, or 0 when nothing is to be sent (on hold, not answered, no
// address). The timestamp advances every slot, sent or not, so that the
// peer's jitter buffer sees real time.
func (st *stream) next() (int, netip.AddrPort) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed || st.paused {
		return 0, netip.AddrPort{}
	}
	st.ts += FrameSamples
	if !st.sending || !st.dst.IsValid() || st.dst.Addr().IsUnspecified() || st.dst.Port() == 0 {
		st.marker = true
		return 0, netip.AddrPort{}
	}
	var payload []byte
	if st.prompt != nil {
		frames := st.prompt.Frames(st.pt)
		if st.pos < len(frames) {
			payload = frames[st.pos]
			st.pos++
		}
		if st.pos >= len(frames) {
			st.finish(nil)
		}
	}
	b := st.buf[:rtpHeaderLen+FrameSamples]
	b[0] = 0x80
	b[1] = st.pt
	if st.marker {
		b[1] |= 0x80
		st.marker = false
	}
	b[2], b[3] = byte(st.seq>>8), byte(st.seq)
	b[4], b[5], b[6], b[7] = byte(st.ts>>24), byte(st.ts>>16), byte(st.ts>>8), byte(st.ts)
	b[8], b[9], b[10], b[11] = byte(st.ssrc>>24), byte(st.ssrc>>16), byte(st.ssrc>>8), byte(st.ssrc)
	st.seq++
	if payload == nil {
		fill := byte(alawSilence)
		if st.pt == PayloadTypePCMU {
			fill = ulawSilence
		}
		p := b[rtpHeaderLen:]
		for i := range p {
			p[i] = fill
		}
	} else {
		copy(b[rtpHeaderLen:], payload)
	}
	return len(b), st.dst
}

// finish ends the prompt playing with err; st.mu is held.
func (st *stream) finish(err error) {
	if st.done != nil {
		st.done <- err
	}
	st.prompt, st.pos, st.done = nil, 0, nil
}

// play starts p, replacing a prompt already playing; the returned channel
// receives once when p ends.
func (st *stream) play(p *Prompt) (chan error, error) {
	done := make(chan error, 1)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return nil, ErrCallEnded
	}
	if st.prompt != nil {
		st.finish(ErrPlayInterrupted)
	}
	st.prompt, st.pos, st.done = p, 0, done
	// A new talkspurt: comfort silence went before it.
	st.marker = true
	return done, nil
}

// stop stops the prompt whose channel is done, if it is still playing.
func (st *stream) stop(done chan error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done == done {
		st.finish(ErrPlayInterrupted)
		st.marker = true
	}
}

// update applies renegotiated media (a re-INVITE): a new address resets
// the latch; the direction says whether we send.
func (st *stream) update(m *Media) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if m.Remote != st.dst && !st.latched || m.Remote.Addr() != st.dst.Addr() && !m.Remote.Addr().IsUnspecified() {
		st.dst, st.latched = m.Remote, false
	}
	if st.pt != m.Codec() {
		st.pt = m.Codec()
	}
	send := m.Local.Sends() && !m.Remote.Addr().IsUnspecified()
	if send && !st.sending {
		st.marker = true
	}
	st.sending = send
}

// latch sends to src from now on: the first RTP packet of the peer shows
// the address its NAT really uses.
func (st *stream) latch(src netip.AddrPort) {
	st.mu.Lock()
	if !st.latched {
		st.dst, st.latched = src, true
	}
	st.mu.Unlock()
}

// start lets the scheduler send (after the ACK).
func (st *stream) start() {
	st.mu.Lock()
	st.paused = false
	st.mu.Unlock()
}

// close stops sending, ends a prompt playing and closes the socket (or
// leaves that to the shard that owns it), which ends the receive loop.
func (st *stream) close() {
	st.mu.Lock()
	first := !st.closed
	if first {
		st.closed = true
		if st.prompt != nil {
			st.finish(ErrCallEnded)
		}
	}
	owned := st.scheduled
	st.mu.Unlock()
	switch {
	case st.fd < 0:
		st.conn.Close()
	case first && !owned:
		closeFD(st.fd)
	}
}

// send sends b to dst from the stream's socket.
func (st *stream) send(b []byte, dst netip.AddrPort) error {
	if st.fd < 0 {
		_, err := st.conn.WriteToUDPAddrPort(b, dst)
		return err
	}
	return sendTo(st.fd, st.local.Addr(), b, dst)
}

func (st *stream) isClosed() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.closed
}

// packetHandler checks and parses received datagrams for a stream; it is
// owned by the goroutine reading the socket.
type packetHandler struct{ p rtp.Packet }

// handle hands b, received from src at at, to st.onPacket if it is RTP (not
// RTCP multiplexed on the port), latching st to src; it reports whether it
// did.
func (h *packetHandler) handle(st *stream, b []byte, src netip.AddrPort, at time.Time) bool {
	if len(b) < rtpHeaderLen || b[0]>>6 != 2 {
		return false
	}
	if err := h.p.Unmarshal(b); err != nil {
		return false
	}
	if pt := h.p.PayloadType; pt >= 72 && pt <= 76 {
		return false // RTCP multiplexed on the RTP port (RFC 5761)
	}
	st.latch(src)
	if st.onPacket != nil {
		st.onPacket(&h.p, at)
	}
	return true
}

// receive reads the peer's RTP until the socket is closed, where the shards
// cannot read it themselves (shardReads is false).
func (st *stream) receive(now func() time.Time, m *Metrics) {
	buf := make([]byte, 1500)
	var h packetHandler
	n := 0
	defer func() { m.receivedN(n) }()
	for {
		size, src, err := st.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if !h.handle(st, buf[:size], src, now()) {
			continue
		}
		if n++; n%64 == 0 {
			m.receivedN(64)
			n = 0
		}
	}
}

// PortRange is the range of UDP ports for RTP, both ends included.
type PortRange struct{ Min, Max int }

// String returns "min-max".
func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.Min, r.Max) }

// listenRTP binds a UDP socket on ip at an even port of r (RFC 3550
// convention), starting at a random one.
func listenRTP(ip netip.Addr, r PortRange) (*net.UDPConn, error) {
	if r.Min == 0 && r.Max == 0 {
		return net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	}
	lo := (r.Min + 1) &^ 1
	n := (r.Max-lo)/2 + 1
	if n <= 0 {
		return nil, fmt.Errorf("rtp ports %s: no even port", r)
	}
	start := rand.IntN(n)
	var last error
	for i := range min(n, 256) {
		port := lo + 2*((start+i)%n)
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, fmt.Errorf("rtp ports %s: no free port: %w", r, last)
}
