package sip

import (
	"net"
	"net/netip"
	"testing"

	"github.com/pion/rtp"
)

func TestStreamPacketsAndPrompts(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st := newStream(conn, netip.MustParseAddrPort("127.0.0.1:9"), PayloadTypePCMA, true)
	if n, _ := st.next(); n != 0 {
		t.Fatal("a stream sends before the answer")
	}
	st.start()
	pcm := make([]int16, 3*FrameSamples)
	for i := range pcm {
		pcm[i] = 1000
	}
	read := func() rtp.Packet {
		t.Helper()
		n, _ := st.next()
		var p rtp.Packet
		if n == 0 || p.Unmarshal(st.buf[:n]) != nil {
			t.Fatalf("no packet (%d bytes)", n)
		}
		return p
	}
	first := read() // comfort silence opens the stream: marker
	if !first.Marker || first.PayloadType != PayloadTypePCMA || len(first.Payload) != FrameSamples || first.Payload[0] != alawSilence {
		t.Fatalf("first packet %+v", first.Header)
	}
	done, err := st.play(NewPrompt("p", pcm))
	if err != nil {
		t.Fatal(err)
	}
	prev := first
	for i := range 3 {
		p := read()
		if p.SequenceNumber != prev.SequenceNumber+1 || p.Timestamp != prev.Timestamp+FrameSamples || p.SSRC != first.SSRC {
			t.Fatalf("frame %d: seq %d ts %d after seq %d ts %d", i, p.SequenceNumber, p.Timestamp, prev.SequenceNumber, prev.Timestamp)
		}
		if p.Marker != (i == 0) {
			t.Errorf("frame %d: marker %v", i, p.Marker)
		}
		if p.Payload[0] == alawSilence {
			t.Errorf("frame %d is silence", i)
		}
		prev = p
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatal("prompt not finished after its frames")
	}
	if p := read(); p.Marker || p.Payload[0] != alawSilence {
		t.Error("silence after the prompt should continue without marker")
	}
	// Hold: nothing sent, time goes on; resume sets the marker.
	st.update(&Media{Remote: netip.MustParseAddrPort("127.0.0.1:9"), Codecs: []uint8{PayloadTypePCMA}, Local: RecvOnly})
	if n, _ := st.next(); n != 0 {
		t.Error("sent while on hold")
	}
	st.update(&Media{Remote: netip.MustParseAddrPort("127.0.0.1:9"), Codecs: []uint8{PayloadTypePCMA}, Local: SendRecv})
	p := read()
	if !p.Marker || p.Timestamp != prev.Timestamp+3*FrameSamples {
		t.Errorf("after hold: marker %v ts +%d", p.Marker, p.Timestamp-prev.Timestamp)
	}
	// A later Play interrupts; close ends the last.
	d1, _ := st.play(NewPrompt("a", pcm))
	d2, _ := st.play(NewPrompt("b", pcm))
	if err := <-d1; err != ErrPlayInterrupted {
		t.Errorf("replaced prompt: %v", err)
	}
	st.close()
	if err := <-d2; err != ErrCallEnded {
		t.Errorf("prompt at close: %v", err)
	}
}

func TestListenRTPInRange(t *testing.T) {
	c, err := listenRTP(netip.MustParseAddr("127.0.0.1"), PortRange{Min: 41001, Max: 41100})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := c.LocalAddr().(*net.UDPAddr).Port
	if p < 41001 || p > 41100 || p%2 != 0 {
		t.Errorf("port %d", p)
	}
}
