package sip

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Errors of SDP handling, for the caller to choose its answer.
var (
	// ErrBadSDP is wrapped by errors about a body that is not usable SDP (400).
	ErrBadSDP = errors.New("sip: malformed SDP")
	// ErrNoCommonCodec means the offer shares no codec with us (488).
	ErrNoCommonCodec = errors.New("sip: no common codec")
)

// maxSDPBody bounds the SDP we parse; real offers are well under 2 KiB.
const maxSDPBody = 16 << 10

// Direction is an SDP media direction attribute (RFC 3264 section 5.1).
type Direction string

// The directions.
const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

// Mirror returns the direction that answers d: what the peer only sends we
// only receive, and the other way round.
func (d Direction) Mirror() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	}
	return SendRecv
}

// Sends reports whether the side with direction d sends media.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly }

// MediaLine is one m= line of an offer, kept so that the answer can reject
// the streams we do not take with port 0 (RFC 3264 section 6).
type MediaLine struct {
	Media   string
	Proto   string
	Formats []string
}

// Offer is what we use of a session description from the peer: the audio
// stream we answer and the other m= lines we reject. It describes answers
// (to our own offers) too.
type Offer struct {
	// Addr is where the peer wants its RTP; its address is unspecified
	// (0.0.0.0) for an old-style hold.
	Addr netip.AddrPort
	// Payloads are the payload types of the audio stream in the peer's
	// order of preference.
	Payloads []uint8
	// Codecs maps dynamic and static payload types to their encoding name
	// in lower case with its clock rate ("pcma/8000", "telephone-event/8000").
	Codecs map[uint8]string
	// EventFmtp is the fmtp of the telephone-event payload, if any ("0-16").
	EventFmtp string
	// Direction is the peer's direction of the audio stream.
	Direction Direction
	// AudioIndex is the index in Lines of the audio stream.
	AudioIndex int
	Lines      []MediaLine
}

// ParseOffer reads an SDP body. It accepts an offer (or answer) with at
// least one audio stream on RTP/AVP with a port and a connection address;
// anything else is ErrBadSDP (wrapped).
func ParseOffer(body []byte) (*Offer, error) {
	if len(body) > maxSDPBody {
		return nil, fmt.Errorf("%w: body of %d bytes", ErrBadSDP, len(body))
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	o := &Offer{AudioIndex: -1, Codecs: map[uint8]string{}, Direction: SendRecv}
	sessionDir := directionOf(sd.Attributes)
	for i, md := range sd.MediaDescriptions {
		if md == nil {
			continue
		}
		mn := md.MediaName
		o.Lines = append(o.Lines, MediaLine{Media: mn.Media, Proto: strings.Join(mn.Protos, "/"), Formats: mn.Formats})
		if o.AudioIndex >= 0 || mn.Media != "audio" || mn.Port.Value <= 0 || mn.Port.Value > 65535 ||
			!strings.EqualFold(strings.Join(mn.Protos, "/"), "RTP/AVP") {
			continue
		}
		ci := md.ConnectionInformation
		if ci == nil {
			ci = sd.ConnectionInformation
		}
		if ci == nil || ci.Address == nil {
			return nil, fmt.Errorf("%w: audio stream without a connection address", ErrBadSDP)
		}
		ip, err := netip.ParseAddr(ci.Address.Address)
		if err != nil {
			return nil, fmt.Errorf("%w: connection address %.64q is not an IP address", ErrBadSDP, ci.Address.Address)
		}
		o.Addr = netip.AddrPortFrom(ip.Unmap(), uint16(mn.Port.Value))
		for _, f := range mn.Formats {
			pt, err := strconv.ParseUint(f, 10, 8)
			if err != nil || pt > 127 {
				continue // not an RTP payload type; ignore rather than refuse
			}
			o.Payloads = append(o.Payloads, uint8(pt))
		}
		for _, a := range md.Attributes {
			switch a.Key {
			case "rtpmap":
				pt, enc, ok := parseRTPMap(a.Value)
				if ok {
					o.Codecs[pt] = enc
				}
			}
		}
		for _, a := range md.Attributes {
			if a.Key != "fmtp" {
				continue
			}
			pts, params, _ := strings.Cut(a.Value, " ")
			if pt, err := strconv.ParseUint(pts, 10, 8); err == nil && o.Codecs[uint8(pt)] == "telephone-event/8000" {
				o.EventFmtp = strings.TrimSpace(params)
			}
		}
		o.Direction = sessionDir
		if d := directionOf(md.Attributes); d != "" {
			o.Direction = d
		}
		if o.Direction == "" {
			o.Direction = SendRecv
		}
		if ip.IsUnspecified() {
			o.Direction = dirWithoutSend(o.Direction)
		}
		o.AudioIndex = i
	}
	if o.AudioIndex < 0 {
		return nil, fmt.Errorf("%w: no RTP/AVP audio stream", ErrBadSDP)
	}
	return o, nil
}

// dirWithoutSend is d for a peer that gave the address 0.0.0.0: RFC 2543
// hold, the peer receives nothing.
func dirWithoutSend(d Direction) Direction {
	switch d {
	case SendRecv, SendOnly:
		return SendOnly
	}
	return Inactive
}

func directionOf(attrs []sdp.Attribute) Direction {
	d := Direction("")
	for _, a := range attrs {
		switch Direction(a.Key) {
		case SendRecv, SendOnly, RecvOnly, Inactive:
			d = Direction(a.Key)
		}
	}
	return d
}

// parseRTPMap reads "96 telephone-event/8000" or "8 PCMA/8000/1".
func parseRTPMap(v string) (uint8, string, bool) {
	pts, enc, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return 0, "", false
	}
	pt, err := strconv.ParseUint(pts, 10, 8)
	if err != nil || pt > 127 {
		return 0, "", false
	}
	enc = strings.ToLower(strings.TrimSpace(enc))
	if name, rate, ok := strings.Cut(enc, "/"); ok {
		rate, _, _ = strings.Cut(rate, "/") // drop the channel count
		enc = name + "/" + rate
	}
	return uint8(pt), enc, true
}

// codecOf returns the G.711 payload type a payload type of the offer stands
// for, or false. Static types 0 and 8 count unless an rtpmap gives them
// another meaning; a dynamic type mapped to PCMA or PCMU counts as the
// static one (we always send the static number, which every peer reads).
func (o *Offer) codecOf(pt uint8) (uint8, bool) {
	enc, mapped := o.Codecs[pt]
	switch {
	case mapped && enc == "pcma/8000":
		return PayloadTypePCMA, pt == PayloadTypePCMA
	case mapped && enc == "pcmu/8000":
		return PayloadTypePCMU, pt == PayloadTypePCMU
	case !mapped && (pt == PayloadTypePCMA || pt == PayloadTypePCMU):
		return pt, true
	}
	return 0, false
}

// EventPayloadType returns the payload type the peer offered for
// telephone-event/8000, or false.
func (o *Offer) EventPayloadType() (uint8, bool) {
	for _, pt := range o.Payloads {
		if o.Codecs[pt] == "telephone-event/8000" {
			return pt, true
		}
	}
	return 0, false
}

// Media is the negotiated audio of a call.
type Media struct {
	// Remote is where we send RTP until the peer's own RTP shows its real
	// source (symmetric RTP).
	Remote netip.AddrPort
	// Codecs are the G.711 payload types both sides take, in the peer's
	// order; we send the first.
	Codecs []uint8
	// EventPT is the negotiated telephone-event payload type; HasEvents
	// says whether there is one.
	EventPT   uint8
	HasEvents bool
	EventFmtp string
	// Local is our direction: the mirror of the peer's.
	Local Direction
}

// Codec returns the payload type we send.
func (m *Media) Codec() uint8 { return m.Codecs[0] }

// Negotiate picks the media of an answer to o: PCMA and PCMU in the peer's
// order, telephone-event on the peer's payload type, the mirrored
// direction. It returns ErrNoCommonCodec when o has neither G.711 law.
func Negotiate(o *Offer) (*Media, error) {
	m := &Media{Remote: o.Addr, Local: o.Direction.Mirror()}
	for _, pt := range o.Payloads {
		if c, ok := o.codecOf(pt); ok && !containsPT(m.Codecs, c) {
			m.Codecs = append(m.Codecs, c)
		}
	}
	if len(m.Codecs) == 0 {
		return nil, fmt.Errorf("%w: offered %v", ErrNoCommonCodec, o.Payloads)
	}
	m.EventPT, m.HasEvents = o.EventPayloadType()
	m.EventFmtp = o.EventFmtp
	return m, nil
}

func containsPT(s []uint8, pt uint8) bool {
	for _, x := range s {
		if x == pt {
			return true
		}
	}
	return false
}

// DefaultEventPT is the telephone-event payload type of our own offers.
const DefaultEventPT = 101

// LocalSDP is what we describe of our side in an offer or answer.
type LocalSDP struct {
	// SessionID and Version are the o= line's; bump Version on every change.
	SessionID uint64
	Version   uint64
	Addr      netip.AddrPort // our RTP address as the peer must see it
}

// AnswerSDP writes the answer to o with media m.
func (l LocalSDP) AnswerSDP(o *Offer, m *Media) []byte {
	var b strings.Builder
	l.header(&b)
	for i, line := range o.Lines {
		if i != o.AudioIndex {
			fmt.Fprintf(&b, "m=%s 0 %s %s\r\n", line.Media, line.Proto, strings.Join(line.Formats, " "))
			continue
		}
		l.audio(&b, m.Codecs, m.EventPT, m.HasEvents, m.EventFmtp, m.Local)
	}
	return []byte(b.String())
}

// OfferSDP writes our offer (late offer, or a re-INVITE without SDP):
// PCMA, PCMU and telephone-event on DefaultEventPT, with direction dir.
func (l LocalSDP) OfferSDP(dir Direction) []byte {
	var b strings.Builder
	l.header(&b)
	l.audio(&b, []uint8{PayloadTypePCMA, PayloadTypePCMU}, DefaultEventPT, true, "0-16", dir)
	return []byte(b.String())
}

func (l LocalSDP) header(b *strings.Builder) {
	ipv := "IP4"
	if l.Addr.Addr().Is6() {
		ipv = "IP6"
	}
	fmt.Fprintf(b, "v=0\r\no=haochaping %d %d IN %s %s\r\ns=haochaping\r\nc=IN %s %s\r\nt=0 0\r\n",
		l.SessionID, l.Version, ipv, l.Addr.Addr(), ipv, l.Addr.Addr())
}

func (l LocalSDP) audio(b *strings.Builder, codecs []uint8, evPT uint8, events bool, fmtp string, dir Direction) {
	fmt.Fprintf(b, "m=audio %d RTP/AVP", l.Addr.Port())
	for _, c := range codecs {
		fmt.Fprintf(b, " %d", c)
	}
	if events {
		fmt.Fprintf(b, " %d", evPT)
	}
	b.WriteString("\r\n")
	for _, c := range codecs {
		name := "PCMU"
		if c == PayloadTypePCMA {
			name = "PCMA"
		}
		fmt.Fprintf(b, "a=rtpmap:%d %s/8000\r\n", c, name)
	}
	if events {
		if fmtp == "" {
			fmtp = "0-16"
		}
		fmt.Fprintf(b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d %s\r\n", evPT, evPT, sanitizeFmtp(fmtp))
	}
	fmt.Fprintf(b, "a=ptime:20\r\na=%s\r\n", dir)
}

// sanitizeFmtp keeps an echoed telephone-event fmtp to the characters of an
// event list, so a hostile offer cannot inject lines into our answer.
func sanitizeFmtp(s string) string {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r == '-' || r == ',') {
			return "0-16"
		}
	}
	return s
}
