package sip

import (
	"errors"
	"fmt"
	"time"

	"github.com/pion/rtp"
)

// TelephoneEvent is the 4-byte payload of an RFC 4733 telephone-event
// packet.
type TelephoneEvent struct {
	Event    uint8  // 0-9, 10 '*', 11 '#', 12-15 A-D; others are not keys
	End      bool   // E bit: this packet ends the event
	Volume   uint8  // power level in -dBm0, 0-63
	Duration uint16 // in timestamp units since the event's RTP timestamp
}

// ErrShortEvent is returned by ParseTelephoneEvent for a payload shorter than
// four bytes.
var ErrShortEvent = errors.New("sip: telephone-event payload shorter than 4 bytes")

// ParseTelephoneEvent parses an RFC 4733 telephone-event payload. Bytes after
// the first event are ignored (senders do not pack several events into one
// packet; redundancy comes as RFC 2198, which is not negotiated).
func ParseTelephoneEvent(payload []byte) (TelephoneEvent, error) {
	if len(payload) < 4 {
		return TelephoneEvent{}, fmt.Errorf("%w: got %d", ErrShortEvent, len(payload))
	}
	return TelephoneEvent{
		Event:    payload[0],
		End:      payload[1]&0x80 != 0,
		Volume:   payload[1] & 0x3f,
		Duration: uint16(payload[2])<<8 | uint16(payload[3]),
	}, nil
}

// Key returns the keypad key of the event, or false for events that are not
// keys (flash, tones).
func (e TelephoneEvent) Key() (rune, bool) { return eventKey(e.Event) }

const (
	// rfc4733Recent is how many reported events a decoder remembers, so that
	// late and repeated packets of them are not reported again.
	rfc4733Recent = 8
	// rfc4733StaleWindow: a packet whose timestamp is older than the current
	// event's by less than this (2 s at 8 kHz) belongs to an earlier event
	// that was never seen or is long over; it is dropped. A bigger step back
	// is taken as the sender restarting its timestamps.
	rfc4733StaleWindow = 2 * 8000
	// rfc4733ContinueSlack: how far (in timestamp units, 40 ms at 8 kHz)
	// beyond the current event's last known duration a new timestamp of the
	// same event code may start and still be the same, unfinished, event.
	// This covers the long-event segments of RFC 4733 section 2.5.1.3 (a new
	// timestamp every 0xFFFF units) and senders that wrongly advance the
	// timestamp in every packet. A genuine second press of the same key
	// starts at least a 40 ms pause plus one packet later, and is in any
	// case only at risk when all the end packets of the first were lost.
	rfc4733ContinueSlack = 320
)

// RFC4733Decoder turns the telephone-event packets of one RTP stream into
// key presses, each reported once, as soon as the first packet of the event
// arrives.
//
// An event is identified by its RTP timestamp (all packets of an event carry
// the timestamp of its start) and event code; a new timestamp, or the marker
// bit after the previous event has ended, starts a new event. This tolerates
// a first packet with duration 0 and end packets repeated with the same
// sequence number (SIPp), end packets with distinct sequence numbers
// (baresip), a lost first packet, duplicates and reordering, and timestamp
// wrap-around. A change of SSRC starts afresh.
//
// The caller passes only packets whose payload type is the negotiated
// telephone-event type. Timestamp arithmetic assumes the 8 kHz clock of
// telephone-event/8000, the rate used with G.711. The zero value is ready to
// use; a decoder is not safe for concurrent use.
type RFC4733Decoder struct {
	started bool
	ssrc    uint32

	// The current (most recent) event.
	has     bool
	ts      uint32
	code    uint8
	ended   bool
	lastDur uint16
	maxSeq  uint16

	recent [rfc4733Recent]eventID
	next   int
}

type eventID struct {
	ts    uint32
	code  uint8
	valid bool
}

// Reset forgets all events, as for a new stream.
func (d *RFC4733Decoder) Reset() { *d = RFC4733Decoder{} }

// Decode takes one telephone-event packet received at the given time and
// returns the key press it starts, if any. Packets that are malformed or
// carry events other than keys are ignored.
func (d *RFC4733Decoder) Decode(p *rtp.Packet, at time.Time) (Digit, bool) {
	if p == nil {
		return Digit{}, false
	}
	ev, err := ParseTelephoneEvent(p.Payload)
	if err != nil {
		return Digit{}, false
	}
	key, ok := ev.Key()
	if !ok {
		return Digit{}, false
	}
	if !d.started || p.SSRC != d.ssrc {
		d.Reset()
		d.started, d.ssrc = true, p.SSRC
	}
	ts, seq := p.Timestamp, p.SequenceNumber

	if d.has && ts == d.ts && ev.Event == d.code {
		// Another packet of the current event: a continuation, an end packet
		// or a repeat. Only a marker bit after the end, in a later packet,
		// is a new event (a sender that keeps its timestamp between events).
		newer := seqNewer(seq, d.maxSeq)
		if p.Marker && d.ended && newer {
			return d.start(ts, ev, seq, key, at), true
		}
		if newer {
			d.maxSeq = seq
			if ev.Duration > d.lastDur {
				d.lastDur = ev.Duration
			}
		}
		d.ended = d.ended || ev.End
		return Digit{}, false
	}
	if d.seen(ts, ev.Event) {
		return Digit{}, false // late packet of an earlier event
	}
	if d.has {
		diff := int32(ts - d.ts)
		if diff < 0 && diff > -rfc4733StaleWindow {
			return Digit{}, false // stray packet of an older event
		}
		if diff > 0 && !d.ended && !p.Marker && ev.Event == d.code &&
			uint32(diff) <= uint32(d.lastDur)+rfc4733ContinueSlack {
			// The same event under a new timestamp: a long-event segment
			// or a sender advancing the timestamp in every packet.
			d.ts = ts
			d.remember(ts, ev.Event)
			d.lastDur = ev.Duration
			d.maxSeq = seq
			d.ended = ev.End
			return Digit{}, false
		}
	}
	return d.start(ts, ev, seq, key, at), true
}

func (d *RFC4733Decoder) start(ts uint32, ev TelephoneEvent, seq uint16, key rune, at time.Time) Digit {
	d.has = true
	d.ts, d.code, d.ended, d.lastDur, d.maxSeq = ts, ev.Event, ev.End, ev.Duration, seq
	d.remember(ts, ev.Event)
	return Digit{Key: key, Method: DTMFRFC4733, At: at}
}

func (d *RFC4733Decoder) remember(ts uint32, code uint8) {
	d.recent[d.next] = eventID{ts: ts, code: code, valid: true}
	d.next = (d.next + 1) % rfc4733Recent
}

func (d *RFC4733Decoder) seen(ts uint32, code uint8) bool {
	for _, e := range d.recent {
		if e.valid && e.ts == ts && e.code == code {
			return true
		}
	}
	return false
}

// seqNewer reports whether RTP sequence number a comes after b, modulo 2^16.
func seqNewer(a, b uint16) bool { return int16(a-b) > 0 }
