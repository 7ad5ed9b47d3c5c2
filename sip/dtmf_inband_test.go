package sip

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// keyFreqs returns the row and column frequencies of a key.
func keyFreqs(key rune) (row, col float64) {
	for r := range 4 {
		for c := range 4 {
			if rune(dtmfKeypad[r][c]) == key {
				return dtmfRowFreqs[r], dtmfColFreqs[c]
			}
		}
	}
	panic("not a key: " + string(key))
}

// signal builds test audio segment by segment.
type signal struct {
	pcm   []float64
	noise float64 // RMS of white noise added everywhere, linear
	rng   *rand.Rand
}

func newSignal(seed uint64) *signal {
	return &signal{rng: rand.New(rand.NewPCG(seed, 1))}
}

func dBm0(level float64) float64 { return dBm0Amplitude * math.Pow(10, level/20) }

// tone appends ms milliseconds of the key's two tones, the row at rowLevel
// and the column at colLevel dBm0, each frequency scaled by 1+dev.
func (s *signal) tone(key rune, ms float64, rowLevel, colLevel, dev float64) *signal {
	fr, fc := keyFreqs(key)
	fr, fc = fr*(1+dev), fc*(1+dev)
	ar, ac := dBm0(rowLevel), dBm0(colLevel)
	pr, pc := s.rng.Float64()*2*math.Pi, s.rng.Float64()*2*math.Pi
	n := int(ms * SampleRate / 1000)
	for i := range n {
		t := float64(i) / SampleRate
		s.pcm = append(s.pcm, ar*math.Sin(2*math.Pi*fr*t+pr)+ac*math.Sin(2*math.Pi*fc*t+pc))
	}
	return s
}

func (s *signal) silence(ms float64) *signal {
	s.pcm = append(s.pcm, make([]float64, int(ms*SampleRate/1000))...)
	return s
}

// g711 adds the noise and returns the audio after A-law encoding and
// decoding, as the detector would receive it.
func (s *signal) g711() []int16 {
	pcm := make([]int16, len(s.pcm))
	for i, v := range s.pcm {
		v += s.noise * s.rng.NormFloat64()
		pcm[i] = int16(max(-32768, min(32767, math.Round(v))))
	}
	enc := make([]byte, len(pcm))
	EncodeALaw(enc, pcm)
	DecodeALaw(pcm, enc)
	return pcm
}

// detectKeys feeds pcm to a new detector in frames of n samples.
func detectKeys(cfg InbandConfig, pcm []int16, n int) string {
	d := NewInbandDetector(cfg)
	var keys strings.Builder
	for i := 0; i < len(pcm); i += n {
		at := t0.Add(time.Duration(i) * time.Second / SampleRate)
		if dg, ok := d.Process(pcm[i:min(i+n, len(pcm))], at); ok {
			keys.WriteRune(dg.Key)
		}
	}
	for { // drain digits completed by the last frame
		dg, ok := d.Process(nil, t0)
		if !ok {
			break
		}
		keys.WriteRune(dg.Key)
	}
	return keys.String()
}

func TestInbandEveryKey(t *testing.T) {
	// Each key at levels from -3 to -25 dBm0 per tone, with white noise 15 dB
	// below the tones, random phases and a start off the frame grid.
	for _, level := range []float64{-3, -10, -18, -25} {
		for i, key := range dtmfKeys {
			t.Run(fmt.Sprintf("%c/%gdBm0", key, level), func(t *testing.T) {
				s := newSignal(uint64(i*100) + uint64(-level))
				s.noise = dBm0(level) / math.Pow(10, 15.0/20) // tones' RMS is a(1/√2)·√2
				s.silence(float64(37+7*i)).tone(key, 90, level, level, 0).silence(100)
				if got := detectKeys(InbandConfig{}, s.g711(), FrameSamples); got != string(key) {
					t.Errorf("detected %q, want %q", got, string(key))
				}
			})
		}
	}
}

func TestInband(t *testing.T) {
	type seg struct {
		key                rune // 0 for silence
		ms                 float64
		rowLevel, colLevel float64
		dev                float64
	}
	tone := func(key rune, ms float64) seg { return seg{key: key, ms: ms, rowLevel: -10, colLevel: -10} }
	pause := func(ms float64) seg { return seg{ms: ms} }
	tests := []struct {
		name  string
		segs  []seg
		noise float64 // dBm0 of the noise, 0 for none
		want  string
	}{
		{"100 ms", []seg{pause(50), tone('5', 100), pause(50)}, 0, "5"},
		{"long press", []seg{pause(50), tone('5', 2000), pause(50)}, -30, "5"},
		{"40 ms on the frame grid", []seg{pause(40), tone('5', 40), pause(60)}, 0, "5"},
		{"60 ms off the grid", []seg{pause(51), tone('5', 60), pause(60)}, 0, "5"},
		{"20 ms too short", []seg{pause(40), tone('5', 20), pause(60)}, 0, ""},
		{"20 ms too short, off the grid", []seg{pause(50), tone('5', 20), pause(60)}, 0, ""},
		{"same key after a 60 ms pause", []seg{tone('5', 100), pause(60), tone('5', 100), pause(40)}, 0, "55"},
		{"same key after a 40 ms pause", []seg{pause(13), tone('5', 100), pause(40), tone('5', 100), pause(40)}, 0, "55"},
		{"10 ms drop-out is one press", []seg{tone('5', 100), pause(10), tone('5', 100), pause(40)}, 0, "5"},
		{"key after key", []seg{tone('1', 100), tone('9', 100), pause(40)}, 0, "19"},
		{"quick sequence", []seg{tone('1', 60), pause(40), tone('2', 60), pause(40), tone('3', 60), pause(40)}, -35, "123"},
		{"normal twist 7 dB", []seg{{key: '8', ms: 100, rowLevel: -10, colLevel: -17}, pause(40)}, 0, "8"},
		{"normal twist 10 dB", []seg{{key: '8', ms: 100, rowLevel: -10, colLevel: -20}, pause(40)}, 0, ""},
		{"reverse twist 3 dB", []seg{{key: '8', ms: 100, rowLevel: -13, colLevel: -10}, pause(40)}, 0, "8"},
		{"reverse twist 6 dB", []seg{{key: '8', ms: 100, rowLevel: -16, colLevel: -10}, pause(40)}, 0, ""},
		{"too quiet", []seg{{key: '8', ms: 100, rowLevel: -36, colLevel: -36}, pause(40)}, 0, ""},
		{"row tone alone", []seg{{key: '8', ms: 100, rowLevel: -10, colLevel: -90}, pause(40)}, 0, ""},
		{"frequencies 1.5% high", []seg{{key: '3', ms: 100, rowLevel: -10, colLevel: -10, dev: 0.015}, pause(40)}, 0, "3"},
		{"frequencies 1.5% low", []seg{{key: '3', ms: 100, rowLevel: -10, colLevel: -10, dev: -0.015}, pause(40)}, 0, "3"},
		{"loud noise", []seg{tone('6', 100), pause(40)}, -8, ""},
		{"noise alone", []seg{pause(1000)}, -10, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSignal(7)
			if tc.noise != 0 {
				s.noise = dBm0(tc.noise) / math.Sqrt2
			}
			for _, sg := range tc.segs {
				if sg.key == 0 {
					s.silence(sg.ms)
				} else {
					s.tone(sg.key, sg.ms, sg.rowLevel, sg.colLevel, sg.dev)
				}
			}
			pcm := s.g711()
			for _, n := range []int{FrameSamples, 80, 240, 480, 1000} {
				if got := detectKeys(InbandConfig{}, pcm, n); got != tc.want {
					t.Errorf("frames of %d: detected %q, want %q", n, got, tc.want)
				}
			}
		})
	}
}

// TestInbandShortTone checks that a 20 ms tone is rejected wherever it falls
// on the 20 ms analysis grid; Q.24 asks to reject tones under about 23 ms
// (and to accept them from 40 ms, checked above).
func TestInbandShortTone(t *testing.T) {
	for offset := 0.0; offset < 20; offset += 2.5 {
		for _, noise := range []float64{0, -40} {
			s := newSignal(uint64(offset))
			if noise != 0 {
				s.noise = dBm0(noise)
			}
			pcm := s.silence(40+offset).tone('0', 20, -5, -5, 0).silence(60).g711()
			if got := detectKeys(InbandConfig{}, pcm, FrameSamples); got != "" {
				t.Errorf("offset %g ms, noise %g dBm0: detected %q", offset, noise, got)
			}
		}
	}
}

func TestInbandDigitTime(t *testing.T) {
	pcm := newSignal(1).silence(100).tone('#', 100, -10, -10, 0).silence(40).g711()
	d := NewInbandDetector(InbandConfig{})
	var got []Digit
	for i := 0; i < len(pcm); i += 480 { // 60 ms packets
		if dg, ok := d.Process(pcm[i:i+480], t0.Add(time.Duration(i/8)*time.Millisecond)); ok {
			got = append(got, dg)
		}
	}
	// The tone starts at 100 ms; it is confirmed at the end of its second
	// full frame, at 140 ms.
	want := Digit{Key: '#', Method: DTMFInband, At: t0.Add(140 * time.Millisecond)}
	if len(got) != 1 || got[0] != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestInbandSpeech(t *testing.T) {
	pcm := loadTestWAV(t, "testdata/speech_zh_8k.wav")
	for _, gain := range []float64{0.3, 1, 1.4} {
		t.Run(fmt.Sprintf("gain %g", gain), func(t *testing.T) {
			s := newSignal(3)
			for _, v := range pcm {
				s.pcm = append(s.pcm, float64(v)*gain)
			}
			if got := detectKeys(InbandConfig{}, s.g711(), FrameSamples); got != "" {
				t.Errorf("detected %q in speech", got)
			}
		})
	}
}

func TestInbandSIPpAudio(t *testing.T) {
	pkts := rtpPackets(t, readPCAPFile(t, sipTesterDir+"/g711a.pcap"), PayloadTypePCMA)
	if len(pkts) < 200 {
		t.Fatalf("%d PCMA packets, want the whole 7 s", len(pkts))
	}
	d := NewInbandDetector(InbandConfig{})
	pcm := make([]int16, 1500) // SIPp's capture has 30 ms packets
	for i, p := range pkts {
		n := DecodeALaw(pcm[:len(p.Payload)], p.Payload)
		if dg, ok := d.Process(pcm[:n], t0.Add(time.Duration(i)*FrameDuration)); ok {
			t.Errorf("packet %d: detected %q", i, dg.Key)
		}
	}
}

func TestInbandReset(t *testing.T) {
	pcm := newSignal(1).tone('4', 30, -10, -10, 0).g711()
	d := NewInbandDetector(InbandConfig{})
	d.Process(pcm[:200], t0)
	d.Reset()
	if dg, ok := d.Process(pcm[200:], t0); ok {
		t.Errorf("detected %+v after Reset from one frame", dg)
	}
}

func FuzzInband(f *testing.F) {
	f.Add(pcmBytes(newSignal(1).tone('5', 60, -10, -10, 0).g711()...), uint8(160))
	f.Fuzz(func(t *testing.T, b []byte, frame uint8) {
		pcm := make([]int16, len(b)/2)
		for i := range pcm {
			pcm[i] = int16(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
		}
		n := max(1, int(frame))
		d := NewInbandDetector(InbandConfig{})
		got := 0
		for i := 0; i < len(pcm); i += n {
			if dg, ok := d.Process(pcm[i:min(i+n, len(pcm))], t0); ok {
				if !IsDTMFKey(dg.Key) || dg.Method != DTMFInband {
					t.Fatalf("bad digit %+v", dg)
				}
				got++
			}
		}
		// A digit takes at least 40 ms.
		if got > len(pcm)/(2*FrameSamples) {
			t.Fatalf("%d digits in %d samples", got, len(pcm))
		}
	})
}

func BenchmarkInbandFrame(b *testing.B) {
	for _, bc := range []struct {
		name string
		pcm  []int16
	}{
		{"silence", make([]int16, FrameSamples)},
		{"tone", newSignal(1).tone('5', 20, -10, -10, 0).g711()},
		{"noise", func() []int16 { s := newSignal(1).silence(20); s.noise = 3000; return s.g711() }()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := NewInbandDetector(InbandConfig{})
			b.ReportAllocs()
			for b.Loop() {
				d.Process(bc.pcm, t0)
			}
		})
	}
}
