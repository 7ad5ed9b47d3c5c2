package sip

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestDigitMerger(t *testing.T) {
	const (
		R = DTMFRFC4733
		I = DTMFInfo
		B = DTMFInband
	)
	type in struct {
		key    rune
		method DTMFMethod
		ms     int // milliseconds after t0
	}
	tests := []struct {
		name   string
		window time.Duration
		digits []in
		want   string
	}{
		{"one method", 0, []in{{'1', R, 0}, {'2', R, 300}}, "12"},
		{"RFC 4733 then in-band", 0, []in{{'5', R, 0}, {'5', B, 60}}, "5"},
		{"in-band then RFC 4733", 0, []in{{'5', B, 0}, {'5', R, 30}}, "5"},
		{"INFO at key-up", 0, []in{{'5', R, 0}, {'5', I, 450}}, "5"},
		{"all three", 0, []in{{'3', R, 0}, {'3', B, 50}, {'3', I, 250}}, "3"},
		{"same key, same method, quick repeat", 0, []in{{'5', R, 0}, {'5', R, 120}}, "55"},
		{"same key twice by two methods", 0, []in{
			{'5', R, 0}, {'5', B, 50}, {'5', R, 200}, {'5', B, 250},
		}, "55"},
		{"second press seen only in-band", 0, []in{{'5', R, 0}, {'5', B, 50}, {'5', B, 200}}, "55"},
		{"outside the window", 0, []in{{'5', R, 0}, {'5', I, 600}}, "55"},
		{"custom window", 100 * time.Millisecond, []in{{'5', R, 0}, {'5', I, 150}}, "55"},
		{"different keys", 0, []in{{'1', R, 0}, {'2', B, 40}, {'1', B, 60}, {'2', R, 70}}, "12"},
		{"out of order times", 0, []in{{'7', I, 200}, {'7', R, 0}}, "7"},
		{"old press forgotten after many", 0, []in{
			{'1', R, 0}, {'2', R, 10}, {'3', R, 20}, {'4', R, 30}, {'5', R, 40},
			{'6', R, 50}, {'7', R, 60}, {'8', R, 70}, {'9', R, 80}, {'1', B, 90},
		}, "1234567891"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewDigitMerger(tc.window)
			var got strings.Builder
			for _, d := range tc.digits {
				if m.Add(Digit{Key: d.key, Method: d.method, At: t0.Add(time.Duration(d.ms) * time.Millisecond)}) {
					got.WriteRune(d.key)
				}
			}
			if got.String() != tc.want {
				t.Errorf("emitted %q, want %q", got.String(), tc.want)
			}
		})
	}
}

func TestDigitMergerConcurrent(t *testing.T) {
	m := NewDigitMerger(0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	n := 0
	for _, method := range []DTMFMethod{DTMFRFC4733, DTMFInfo, DTMFInband} {
		wg.Go(func() {
			if m.Add(Digit{Key: '4', Method: method, At: t0}) {
				mu.Lock()
				n++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n != 1 {
		t.Errorf("emitted %d presses, want 1", n)
	}
}

func TestDTMFMethodString(t *testing.T) {
	for m, want := range map[DTMFMethod]string{DTMFRFC4733: "rfc4733", DTMFInfo: "info", DTMFInband: "inband", 0: "unknown"} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", m, got, want)
		}
	}
}

func TestIsDTMFKey(t *testing.T) {
	for _, r := range dtmfKeys {
		if !IsDTMFKey(r) {
			t.Errorf("IsDTMFKey(%q) = false", r)
		}
	}
	for _, r := range "aEe/:+ 五" {
		if IsDTMFKey(r) {
			t.Errorf("IsDTMFKey(%q) = true", r)
		}
	}
}

// Example shows how a call's media loop uses the detectors: one decoder
// per method, all feeding one merger.
func ExampleDigitMerger() {
	var (
		events RFC4733Decoder                      // telephone-event packets
		tones  = NewInbandDetector(InbandConfig{}) // decoded audio
		merger = NewDigitMerger(0)
		now    = t0 // from the call's clock
	)
	emit := func(d Digit, ok bool) {
		if ok && merger.Add(d) {
			fmt.Printf("key %c by %s\n", d.Key, d.Method)
		}
	}
	// The caller presses 5: the gateway sends an RFC 4733 event, the tone
	// is also in the audio, and a SIP INFO follows at key-up.
	emit(events.Decode(&rtp.Packet{
		Header:  rtp.Header{Marker: true, PayloadType: 101, Timestamp: 8000},
		Payload: []byte{5, 10, 0, 0},
	}, now))
	audio := make([]int16, 800) // 100 ms of 770 Hz + 1336 Hz
	for i := range audio {
		t := float64(i) / SampleRate
		audio[i] = int16(5000*math.Sin(2*math.Pi*770*t) + 5000*math.Sin(2*math.Pi*1336*t))
	}
	for i := 0; i < len(audio); i += FrameSamples {
		emit(tones.Process(audio[i:i+FrameSamples], now.Add(time.Duration(i/8)*time.Millisecond)))
	}
	key, err := ParseDTMFInfo("application/dtmf-relay", []byte("Signal=5\r\nDuration=100\r\n"))
	emit(Digit{Key: key, Method: DTMFInfo, At: now.Add(180 * time.Millisecond)}, err == nil)
	// Output: key 5 by rfc4733
}
