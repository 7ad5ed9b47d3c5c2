package sip

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestSchedulerSendsAndReads runs a real scheduler with one stream: the
// shard sends to the address of the offer until the peer's first packet,
// then to that packet's source (symmetric RTP), hands the peer's packets to
// onPacket, skips RTCP, and stops sending once the stream is closed.
func TestSchedulerSendsAndReads(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	listen := func() *net.UDPConn {
		t.Helper()
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	offered, natted := listen(), listen() // the SDP address; where the peer's RTP really comes from
	conn := listen()
	st := newStream(conn, offered.LocalAddr().(*net.UDPAddr).AddrPort(), PayloadTypePCMA, true)
	st.start()

	var mu sync.Mutex
	var got []rtp.Packet
	s := newScheduler(2, nil, time.Now)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	s.add(st, func(p *rtp.Packet, at time.Time) {
		mu.Lock()
		got = append(got, *p.Clone())
		mu.Unlock()
	})

	readFrom := func(c *net.UDPConn) rtp.Packet {
		t.Helper()
		buf := make([]byte, 1500)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("no RTP: %v", err)
		}
		if src != st.local {
			t.Fatalf("RTP from %v, want the stream's socket %v", src, st.local)
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := readFrom(offered); p.PayloadType != PayloadTypePCMA {
		t.Fatalf("payload type %d", p.PayloadType)
	}

	dst := net.UDPAddrFromAddrPort(st.local)
	rtcp := []byte{0x80, 200, 0, 6, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0}
	if _, err := natted.WriteToUDP(rtcp, dst); err != nil {
		t.Fatal(err)
	}
	pkt, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: 7, SSRC: 9},
		Payload: []byte{1, 10, 0, 160}}).Marshal()
	if _, err := natted.WriteToUDP(pkt, dst); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	if len(got) != 1 || got[0].PayloadType != 101 || got[0].SequenceNumber != 7 {
		t.Errorf("received %+v, want the one telephone-event packet (RTCP skipped)", got)
	}
	mu.Unlock()
	readFrom(natted) // latched

	st.close()
	time.Sleep(3 * FrameDuration) // the shard drops the stream at its next tick
	_ = natted.SetReadDeadline(time.Now().Add(10 * FrameDuration))
	buf := make([]byte, 1500)
	for {
		if _, _, err := natted.ReadFromUDPAddrPort(buf); err != nil {
			break // nothing more after the close (what was queued before is drained)
		}
		if time.Now().After(deadline) {
			t.Fatal("still sending after close")
		}
	}
}
