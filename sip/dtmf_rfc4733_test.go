package sip

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

var t0 = time.Date(2025, 1, 2, 9, 0, 0, 0, time.UTC)

// rtpPackets unmarshals the RTP packets of a capture with payload type pt.
func rtpPackets(t testing.TB, pkts []udpPacket, pt uint8) []*rtp.Packet {
	t.Helper()
	var out []*rtp.Packet
	for _, u := range pkts {
		p := new(rtp.Packet)
		if err := p.Unmarshal(u.Payload); err != nil {
			t.Fatalf("unmarshal RTP: %v", err)
		}
		if p.PayloadType == pt {
			out = append(out, p)
		}
	}
	return out
}

// decodeAll feeds the packets to a fresh decoder, 20 ms apart on a fake
// clock, and returns the keys reported.
func decodeAll(pkts []*rtp.Packet) string {
	var d RFC4733Decoder
	var keys strings.Builder
	for i, p := range pkts {
		if dg, ok := d.Decode(p, t0.Add(time.Duration(i)*20*time.Millisecond)); ok {
			if dg.Method != DTMFRFC4733 {
				panic("wrong method")
			}
			keys.WriteRune(dg.Key)
		}
	}
	return keys.String()
}

func TestRFC4733SIPpCaptures(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"0", "0"}, {"1", "1"}, {"2", "2"}, {"3", "3"}, {"4", "4"},
		{"5", "5"}, {"6", "6"}, {"7", "7"}, {"8", "8"}, {"9", "9"},
		{"star", "*"}, {"pound", "#"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			pkts := rtpPackets(t, readPCAPFile(t, fmt.Sprintf("%s/dtmf_2833_%s.pcap", sipTesterDir, tc.file)), 101)
			if len(pkts) == 0 {
				t.Fatal("no RTP packets with payload type 101")
			}
			first, _ := ParseTelephoneEvent(pkts[0].Payload)
			if !pkts[0].Marker || first.Duration != 0 {
				t.Errorf("capture no longer starts with a marked packet of duration 0: %+v", first)
			}
			if got := decodeAll(pkts); got != tc.want {
				t.Errorf("decoded %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRFC4733PCAPNG(t *testing.T) {
	b := readPCAPFile(t, "testdata/dtmf_star.pcapng")
	if got := decodeAll(rtpPackets(t, b, 101)); got != "*" {
		t.Errorf("decoded %q, want *", got)
	}
}

// ev builds a telephone-event packet.
type ev struct {
	seq    uint16
	ts     uint32
	marker bool
	code   uint8
	end    bool
	dur    uint16
	ssrc   uint32
}

func (e ev) packet() *rtp.Packet {
	b1 := byte(10)
	if e.end {
		b1 |= 0x80
	}
	ssrc := e.ssrc
	if ssrc == 0 {
		ssrc = 0x1234
	}
	return &rtp.Packet{
		Header: rtp.Header{
			Version: 2, Marker: e.marker, PayloadType: 96,
			SequenceNumber: e.seq, Timestamp: e.ts, SSRC: ssrc,
		},
		Payload: []byte{e.code, b1, byte(e.dur >> 8), byte(e.dur)},
	}
}

// baresipEvent returns the packets baresip sends for one key: first
// packet marked with duration 160, one packet per 20 ms, three end packets
// with distinct sequence numbers.
func baresipEvent(seq uint16, ts uint32, code uint8, packets int) []ev {
	var out []ev
	for i := range packets {
		out = append(out, ev{seq: seq + uint16(i), ts: ts, marker: i == 0, code: code, dur: uint16(160 * (i + 1))})
	}
	dur := uint16(160 * packets)
	for i := range 3 {
		out = append(out, ev{seq: seq + uint16(packets+i), ts: ts, code: code, end: true, dur: dur})
	}
	return out
}

func concat(evs ...[]ev) []ev {
	var out []ev
	for _, e := range evs {
		out = append(out, e...)
	}
	return out
}

func TestRFC4733Decoder(t *testing.T) {
	five := baresipEvent(100, 8000, 5, 5)
	tests := []struct {
		name string
		evs  []ev
		want string
	}{
		{"baresip", five, "5"},
		{"lost first packet", five[1:], "5"},
		{"lost all but the end", five[5:], "5"},
		{"only end packets lost", five[:5], "5"},
		{"reordered", []ev{five[1], five[0], five[3], five[2], five[4], five[6], five[5], five[7]}, "5"},
		{"duplicated", concat(five[:2], five[:2], five[1:], five[5:]), "5"},
		{"same digit twice", concat(five, baresipEvent(108, 8000+1600, 5, 5)), "55"},
		{"same digit twice, second first packet lost", concat(five, baresipEvent(108, 9600, 5, 5)[1:]), "55"},
		{"same digit twice, no end packets at all", concat(five[:5], baresipEvent(108, 9600, 5, 5)[:5]), "55"},
		{"two digits", concat(five, baresipEvent(108, 9600, 9, 4)), "59"},
		{"late packet of the previous event", concat(five, baresipEvent(108, 9600, 5, 2)[:1], five[6:7], baresipEvent(108, 9600, 5, 2)[1:]), "55"},
		{
			"same digit across a timestamp wrap",
			concat(baresipEvent(65530, 0xFFFFFD00, 1, 3), baresipEvent(0, 0x340, 1, 3)), // 0x340 = 0xFFFFFD00 + 1600 mod 2^32
			"11",
		},
		{
			"event spanning the timestamp wrap",
			[]ev{{seq: 1, ts: 0xFFFFFF00, marker: true, code: 2, dur: 160}, {seq: 2, ts: 0xFFFFFF00, code: 2, dur: 320}, {seq: 3, ts: 0xFFFFFF00, code: 2, end: true, dur: 480}},
			"2",
		},
		{
			"SIPp style: duration 0, end repeated with one sequence number",
			[]ev{
				{seq: 8155, ts: 43200, marker: true, code: 3}, {seq: 8156, ts: 43200, code: 3, dur: 320},
				{seq: 8157, ts: 43200, code: 3, end: true, dur: 640}, {seq: 8157, ts: 43200, code: 3, end: true, dur: 640},
				{seq: 8157, ts: 43200, code: 3, end: true, dur: 640},
			},
			"3",
		},
		{
			"marker with the same timestamp after the end is a new press",
			[]ev{
				{seq: 1, ts: 800, marker: true, code: 4, dur: 160}, {seq: 2, ts: 800, code: 4, end: true, dur: 320},
				{seq: 3, ts: 800, code: 4, end: true, dur: 320}, {seq: 4, ts: 800, marker: true, code: 4, dur: 160},
			},
			"44",
		},
		{
			"late duplicate of the marked first packet after the end",
			[]ev{
				{seq: 1, ts: 800, marker: true, code: 4, dur: 160}, {seq: 2, ts: 800, code: 4, end: true, dur: 320},
				{seq: 1, ts: 800, marker: true, code: 4, dur: 160},
			},
			"4",
		},
		{
			"sender advancing the timestamp in every packet",
			[]ev{
				{seq: 1, ts: 800, marker: true, code: 7, dur: 160}, {seq: 2, ts: 960, code: 7, dur: 320},
				{seq: 3, ts: 1120, code: 7, dur: 480}, {seq: 4, ts: 1280, code: 7, end: true, dur: 640},
			},
			"7",
		},
		{
			"sender advancing the timestamp, reordered",
			[]ev{
				{seq: 1, ts: 800, marker: true, code: 7, dur: 160}, {seq: 3, ts: 1120, code: 7, dur: 480},
				{seq: 2, ts: 960, code: 7, dur: 320}, {seq: 4, ts: 1280, code: 7, end: true, dur: 640},
			},
			"7",
		},
		{
			"long event in 0xFFFF segments",
			[]ev{
				{seq: 1, ts: 1000, marker: true, code: 8, dur: 160}, {seq: 2, ts: 1000, code: 8, dur: 0xFFFF},
				{seq: 3, ts: 1000 + 0xFFFF, code: 8, dur: 160}, {seq: 4, ts: 1000 + 0xFFFF, code: 8, end: true, dur: 320},
			},
			"8",
		},
		{
			"new SSRC",
			[]ev{{seq: 1, ts: 800, marker: true, code: 1, dur: 160}, {seq: 1, ts: 800, marker: true, code: 1, dur: 160, ssrc: 99}},
			"11",
		},
		{"flash and unknown events ignored", []ev{{seq: 1, ts: 800, marker: true, code: 16, dur: 160}, {seq: 2, ts: 1600, marker: true, code: 200}}, ""},
		{"A to D", []ev{{seq: 1, ts: 800, marker: true, code: 12}, {seq: 2, ts: 1600, marker: true, code: 15}}, "AD"},
		{"sender timestamp reset", concat(baresipEvent(1, 900000, 6, 2), baresipEvent(6, 100, 6, 2)), "66"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkts := make([]*rtp.Packet, len(tc.evs))
			for i, e := range tc.evs {
				pkts[i] = e.packet()
			}
			if got := decodeAll(pkts); got != tc.want {
				t.Errorf("decoded %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRFC4733DecoderMalformed(t *testing.T) {
	var d RFC4733Decoder
	for _, p := range []*rtp.Packet{
		nil,
		{},
		{Payload: []byte{5}},
		{Payload: []byte{5, 0, 0}},
	} {
		if dg, ok := d.Decode(p, t0); ok {
			t.Errorf("Decode(%v) = %v, want nothing", p, dg)
		}
	}
}

func TestDecoderReportsOnFirstPacket(t *testing.T) {
	var d RFC4733Decoder
	dg, ok := d.Decode(ev{seq: 1, ts: 1, marker: true, code: 11}.packet(), t0)
	if !ok || dg.Key != '#' || !dg.At.Equal(t0) || dg.Method != DTMFRFC4733 {
		t.Fatalf("got %+v, %v; want # at t0 by rfc4733", dg, ok)
	}
}

func TestParseTelephoneEvent(t *testing.T) {
	tests := []struct {
		in      []byte
		want    TelephoneEvent
		wantErr bool
	}{
		{[]byte{5, 0x0a, 0, 0}, TelephoneEvent{Event: 5, Volume: 10}, false},
		{[]byte{11, 0x8a, 0x08, 0xc0}, TelephoneEvent{Event: 11, End: true, Volume: 10, Duration: 2240}, false},
		{[]byte{1, 0xff, 0xff, 0xff, 9, 9}, TelephoneEvent{Event: 1, End: true, Volume: 63, Duration: 0xFFFF}, false},
		{nil, TelephoneEvent{}, true},
		{[]byte{1, 2, 3}, TelephoneEvent{}, true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%x", tc.in), func(t *testing.T) {
			got, err := ParseTelephoneEvent(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrShortEvent) {
				t.Errorf("err = %v, want ErrShortEvent", err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseTelephoneEvent(f *testing.F) {
	f.Add([]byte{5, 0x0a, 0, 0}, false, uint32(43200))
	f.Fuzz(func(t *testing.T, payload []byte, marker bool, ts uint32) {
		e, err := ParseTelephoneEvent(payload)
		if err == nil && len(payload) < 4 || err != nil && len(payload) >= 4 {
			t.Fatalf("len %d: err %v", len(payload), err)
		}
		if k, ok := e.Key(); ok && !IsDTMFKey(k) {
			t.Fatalf("key %q is not a DTMF key", k)
		}
		// The same packet, duplicated, is one press at most.
		var d RFC4733Decoder
		p := &rtp.Packet{Header: rtp.Header{Marker: marker, Timestamp: ts}, Payload: payload}
		_, ok1 := d.Decode(p, t0)
		_, ok2 := d.Decode(p, t0)
		if ok2 || ok1 && err != nil {
			t.Fatalf("reported %v then %v (err %v)", ok1, ok2, err)
		}
	})
}

func BenchmarkRFC4733Decode(b *testing.B) {
	evs := concat(baresipEvent(1, 800, 5, 5), baresipEvent(9, 2400, 5, 5))
	pkts := make([]*rtp.Packet, len(evs))
	for i, e := range evs {
		pkts[i] = e.packet()
	}
	var d RFC4733Decoder
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		d.Decode(pkts[i%len(pkts)], t0)
	}
}
