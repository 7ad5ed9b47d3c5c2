package sip

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func offer(m string, attrs ...string) []byte {
	return []byte("v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n" + m + "\r\n" +
		strings.Join(attrs, "\r\n") + "\r\n")
}

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sdp       []byte
		codecs    []uint8
		eventPT   int // -1: none
		local     Direction
		wantError error
	}{
		{"pcma first", offer("m=audio 4000 RTP/AVP 8 0 101", "a=rtpmap:101 telephone-event/8000"), []uint8{8, 0}, 101, SendRecv, nil},
		{"pcmu first", offer("m=audio 4000 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000"), []uint8{0, 8}, 101, SendRecv, nil},
		{"events on 96", offer("m=audio 4000 RTP/AVP 8 96", "a=rtpmap:96 telephone-event/8000", "a=fmtp:96 0-16"), []uint8{8}, 96, SendRecv, nil},
		{"events upper case", offer("m=audio 4000 RTP/AVP 0 100", "a=rtpmap:100 TELEPHONE-EVENT/8000"), []uint8{0}, 100, SendRecv, nil},
		{"events at 16 kHz only", offer("m=audio 4000 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/16000"), []uint8{0}, -1, SendRecv, nil},
		{"no events", offer("m=audio 4000 RTP/AVP 8"), []uint8{8}, -1, SendRecv, nil},
		{"other codecs before", offer("m=audio 4000 RTP/AVP 9 18 0", "a=rtpmap:9 G722/8000", "a=rtpmap:18 G729/8000"), []uint8{0}, -1, SendRecv, nil},
		{"no common codec", offer("m=audio 4000 RTP/AVP 9 18 101", "a=rtpmap:101 telephone-event/8000"), nil, 0, "", ErrNoCommonCodec},
		{"static type remapped", offer("m=audio 4000 RTP/AVP 8", "a=rtpmap:8 opus/48000/2"), nil, 0, "", ErrNoCommonCodec},
		{"hold sendonly", offer("m=audio 4000 RTP/AVP 8", "a=sendonly"), []uint8{8}, -1, RecvOnly, nil},
		{"hold inactive", offer("m=audio 4000 RTP/AVP 8", "a=inactive"), []uint8{8}, -1, Inactive, nil},
		{"recvonly", offer("m=audio 4000 RTP/AVP 8", "a=recvonly"), []uint8{8}, -1, SendOnly, nil},
		{"resume", offer("m=audio 4000 RTP/AVP 8", "a=sendrecv"), []uint8{8}, -1, SendRecv, nil},
		{"old hold 0.0.0.0", []byte("v=0\r\no=- 1 2 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"), []uint8{8}, -1, RecvOnly, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseOffer(tc.sdp)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Negotiate(o)
			if tc.wantError != nil {
				if !errors.Is(err, tc.wantError) {
					t.Fatalf("err %v, want %v", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Codecs) != string(tc.codecs) {
				t.Errorf("codecs %v, want %v", m.Codecs, tc.codecs)
			}
			if (tc.eventPT >= 0) != m.HasEvents || m.HasEvents && int(m.EventPT) != tc.eventPT {
				t.Errorf("events %v on %d, want %d", m.HasEvents, m.EventPT, tc.eventPT)
			}
			if m.Local != tc.local {
				t.Errorf("direction %s, want %s", m.Local, tc.local)
			}
			ans := string(LocalSDP{SessionID: 7, Version: 1, Addr: netip.MustParseAddrPort("192.0.2.1:20000")}.AnswerSDP(o, m))
			if !strings.Contains(ans, "a=ptime:20\r\n") || !strings.Contains(ans, "a="+string(tc.local)+"\r\n") {
				t.Errorf("answer lacks ptime or direction:\n%s", ans)
			}
			if m.HasEvents && !strings.Contains(ans, "telephone-event/8000") {
				t.Errorf("answer lacks telephone-event:\n%s", ans)
			}
			// The answer parses and negotiates the same way.
			back, err := ParseOffer([]byte(ans))
			if err != nil {
				t.Fatalf("our answer does not parse: %v\n%s", err, ans)
			}
			if bm, err := Negotiate(back); err != nil || string(bm.Codecs) != string(m.Codecs) || bm.EventPT != m.EventPT {
				t.Errorf("answer renegotiates to %+v, %v", bm, err)
			}
		})
	}
}

func TestAnswerRejectsOtherStreams(t *testing.T) {
	o, err := ParseOffer(offer("m=video 5000 RTP/AVP 96\r\nm=audio 4000 RTP/AVP 0", "a=rtpmap:96 H264/90000"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := Negotiate(o)
	ans := string(LocalSDP{Addr: netip.MustParseAddrPort("192.0.2.1:20000")}.AnswerSDP(o, m))
	if !strings.Contains(ans, "m=video 0 RTP/AVP 96\r\n") || strings.Index(ans, "m=video") > strings.Index(ans, "m=audio") {
		t.Errorf("answer must keep the m= lines in order with video rejected:\n%s", ans)
	}
	if o.Addr != netip.MustParseAddrPort("192.0.2.10:4000") {
		t.Errorf("remote %s", o.Addr)
	}
}

func TestParseOfferErrors(t *testing.T) {
	for _, b := range []string{"", "garbage", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
		string(offer("m=audio 4000 RTP/SAVP 0")), string(offer("m=audio 0 RTP/AVP 0"))} {
		if _, err := ParseOffer([]byte(b)); !errors.Is(err, ErrBadSDP) {
			t.Errorf("%q: err %v, want ErrBadSDP", b, err)
		}
	}
}

func TestOfferSDP(t *testing.T) {
	b := LocalSDP{SessionID: 1, Version: 2, Addr: netip.MustParseAddrPort("192.0.2.1:20002")}.OfferSDP(SendRecv)
	o, err := ParseOffer(b)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Negotiate(o)
	if err != nil || m.Codecs[0] != PayloadTypePCMA || !m.HasEvents || m.EventPT != DefaultEventPT {
		t.Errorf("our offer negotiates to %+v, %v", m, err)
	}
}

func TestParseUserToUser(t *testing.T) {
	for _, tc := range []struct{ in, key, want string }{
		{"wo=WO-1;unit=fh-g08", "unit", "fh-g08"},
		{"776f3d574f2d313b756e69743d66682d673038;encoding=hex;purpose=call", "unit", "fh-g08"},
		{"776F3D574F2D31;encoding=hex", "wo", "WO-1"},
		{`"wo=WO-2&case=C1";purpose=isdn-uui`, "case", "C1"},
		{"zz;encoding=hex", "wo", ""},
	} {
		if got := ParseUserToUser(tc.in)[tc.key]; got != tc.want {
			t.Errorf("%q[%s] = %q, want %q", tc.in, tc.key, got, tc.want)
		}
	}
}

func TestURIUser(t *testing.T) {
	for in, want := range map[string]string{
		`"Zhang" <sip:13800138001@10.0.0.1;user=phone>`: "13800138001",
		"<tel:+8613800138001>":                          "+8613800138001",
		"sip:alice@example.com":                         "alice",
		"garbage":                                       "",
	} {
		if got := uriUser(in); got != want {
			t.Errorf("uriUser(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseOffer(f *testing.F) {
	f.Add(offer("m=audio 4000 RTP/AVP 8 0 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"))
	f.Add(offer("m=audio 4000 RTP/AVP 96", "a=rtpmap:96 telephone-event/8000", "a=sendonly"))
	f.Add([]byte("v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 1 RTP/AVP 0\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseOffer(b)
		if err != nil {
			return
		}
		m, err := Negotiate(o)
		if err != nil {
			return
		}
		ans := LocalSDP{Addr: netip.MustParseAddrPort("192.0.2.1:20000")}.AnswerSDP(o, m)
		if _, err := ParseOffer(ans); err != nil {
			t.Fatalf("our answer to %q does not parse: %v\n%s", b, err, ans)
		}
	})
}
