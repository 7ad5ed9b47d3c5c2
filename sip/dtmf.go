package sip

import (
	"sync"
	"time"
)

// DTMFMethod is the way a key press reached us.
type DTMFMethod uint8

// The DTMF methods. None is preferred: a DigitMerger emits whichever report
// of a press arrives first.
const (
	// DTMFRFC4733 is a telephone event in the RTP stream (RFC 4733, formerly RFC 2833).
	DTMFRFC4733 DTMFMethod = iota + 1
	// DTMFInfo is a SIP INFO request (application/dtmf-relay or application/dtmf).
	DTMFInfo
	// DTMFInband is a dual tone found in the audio by the Goertzel detector.
	DTMFInband
)

// String returns the short name used in logs and metric labels.
func (m DTMFMethod) String() string {
	switch m {
	case DTMFRFC4733:
		return "rfc4733"
	case DTMFInfo:
		return "info"
	case DTMFInband:
		return "inband"
	}
	return "unknown"
}

// Digit is one key press: Key is one of 0-9, '*', '#' or A-D, and At is when
// the press was seen (the arrival of the first packet, the INFO request or the
// frame that confirmed the tone), on the clock the caller passed in.
type Digit struct {
	Key    rune
	Method DTMFMethod
	At     time.Time
}

// dtmfKeys maps RFC 4733 event codes 0-15 to keys.
const dtmfKeys = "0123456789*#ABCD"

// eventKey returns the key of an RFC 4733 event code, or false for events
// that are not keys (flash, modem and line tones).
func eventKey(code uint8) (rune, bool) {
	if int(code) < len(dtmfKeys) {
		return rune(dtmfKeys[code]), true
	}
	return 0, false
}

// IsDTMFKey reports whether r is one of the sixteen DTMF keys 0-9, *, #, A-D.
func IsDTMFKey(r rune) bool {
	switch {
	case r >= '0' && r <= '9', r == '*', r == '#', r >= 'A' && r <= 'D':
		return true
	}
	return false
}

// DefaultMergeWindow is how far apart two reports of the same key by
// different methods may be and still be one press.
//
// 500 ms because the methods report at different moments of a press: RFC 4733
// at key-down (first packet), in-band after 40 ms of tone, and SIP INFO from
// many gateways (Asterisk among them) only at key-up, after the whole tone
// (typically 100-250 ms, longer when the caller holds the key) plus signalling
// delay. A shorter window would count a held key twice on gateways that send
// both RTP events and INFO. The window is safe against genuine quick repeats
// because a report only merges into a press that its method has not already
// reported: two presses of the same key by the same method always stay two.
const DefaultMergeWindow = 500 * time.Millisecond

// mergeHistory is how many recent presses a DigitMerger remembers; a press
// with more than this many presses after it can no longer be merged into.
const mergeHistory = 8

// DigitMerger emits each key press once when a call reports digits by more
// than one method (an SBC that sends RFC 4733 events while the tone is also
// in the audio, or a gateway that sends both events and SIP INFO).
//
// A digit is a repeat of an earlier press when the key is the same, it came
// by a method that has not reported that press yet, and it is within the
// window of the press. The same key by the same method is always a new press:
// each method's decoder already reports a press only once. Time is taken
// from Digit.At, so tests can use a fake clock.
//
// The zero value is not ready; use NewDigitMerger. A DigitMerger is safe for
// concurrent use (RTP and SIP INFO arrive on different goroutines).
type DigitMerger struct {
	window time.Duration

	mu      sync.Mutex
	presses [mergeHistory]press
	next    int // index in presses of the slot to overwrite
}

type press struct {
	key     rune
	at      time.Time
	methods uint8 // bit 1<<Method for each method that reported this press
}

// NewDigitMerger returns a merger for one call; window <= 0 means
// DefaultMergeWindow.
func NewDigitMerger(window time.Duration) *DigitMerger {
	if window <= 0 {
		window = DefaultMergeWindow
	}
	return &DigitMerger{window: window}
}

// Add takes a digit from any method and reports whether it is a new key
// press (true) or another report of a press already emitted (false).
// Digits may arrive slightly out of time order.
func (m *DigitMerger) Add(d Digit) bool {
	bit := uint8(1) << (d.Method & 7)
	m.mu.Lock()
	defer m.mu.Unlock()
	// Look at the most recent presses first so that a late report joins the
	// latest press of its key, not an older one.
	for i := 1; i <= mergeHistory; i++ {
		p := &m.presses[(m.next-i+mergeHistory)%mergeHistory]
		if p.methods == 0 || p.key != d.Key || p.methods&bit != 0 {
			continue
		}
		if dt := d.At.Sub(p.at); dt > m.window || dt < -m.window {
			continue
		}
		p.methods |= bit
		return false
	}
	m.presses[m.next] = press{key: d.Key, at: d.At, methods: bit}
	m.next = (m.next + 1) % mergeHistory
	return true
}
