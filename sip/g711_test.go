package sip

import (
	"math"
	"slices"
	"testing"
)

func TestG711KnownValues(t *testing.T) {
	// Values of the ITU-T G.711 tables, checked against SoX (whose encoder
	// rounds where the G.711 reference code truncates, so these inputs stay
	// away from decision levels, except -1).
	tests := []struct {
		pcm        int16
		alaw, ulaw byte
	}{
		{0, 0xD5, 0xFF},
		{-1, 0x55, 0x7E}, // truncation: -1 is in the first negative interval
		{8, 0xD5, 0xFE},
		{-8, 0x55, 0x7E},
		{100, 0xD3, 0xF2},
		{-120, 0x52, 0x70},
		{1000, 0xFA, 0xCE},
		{-1000, 0x7A, 0x4E},
		{-4096, 0x1A, 0x2F},
		{8000, 0x8A, 0xA0},
		{-8000, 0x0A, 0x20},
		{32767, 0xAA, 0x80},
		{-32768, 0x2A, 0x00},
	}
	for _, tc := range tests {
		var a, u [1]byte
		EncodeALaw(a[:], []int16{tc.pcm})
		EncodeULaw(u[:], []int16{tc.pcm})
		if a[0] != tc.alaw || u[0] != tc.ulaw {
			t.Errorf("encode %d: A-law %#x µ-law %#x, want %#x %#x", tc.pcm, a[0], u[0], tc.alaw, tc.ulaw)
		}
	}
	decodes := []struct {
		code       byte
		alaw, ulaw int16
	}{
		{0xD5, 8, 716},
		{0x55, -8, -716},
		{0xFF, 848, 0},
		{0x7F, -848, 0},
		{0xAA, 32256, 5372},
		{0x2A, -32256, -5372},
		{0x80, 5504, 32124},
		{0x00, -5504, -32124},
		{0x01, -5248, -31100},
	}
	for _, tc := range decodes {
		var a, u [1]int16
		DecodeALaw(a[:], []byte{tc.code})
		DecodeULaw(u[:], []byte{tc.code})
		if a[0] != tc.alaw || u[0] != tc.ulaw {
			t.Errorf("decode %#x: A-law %d µ-law %d, want %d %d", tc.code, a[0], u[0], tc.alaw, tc.ulaw)
		}
	}
}

func TestG711EveryCode(t *testing.T) {
	for _, law := range []struct {
		name   string
		encode func([]byte, []int16) int
		decode func([]int16, []byte) int
		// G.711 truncates to 13 (A-law) or 14 (µ-law) bits, and codes
		// negative values in one's complement: the level chosen may be off
		// the nearest by up to two steps of those bits.
		slack int
	}{
		{"alaw", EncodeALaw, DecodeALaw, 16},
		{"ulaw", EncodeULaw, DecodeULaw, 8},
	} {
		t.Run(law.name, func(t *testing.T) {
			codes := make([]byte, 256)
			for i := range codes {
				codes[i] = byte(i)
			}
			levels := make([]int16, 256)
			law.decode(levels, codes)
			// Each code decodes to a value that encodes back to it (µ-law
			// has two zeros; 0x7F, "-0", comes back as 0xFF).
			back := make([]byte, 256)
			law.encode(back, levels)
			for i, b := range back {
				if b != byte(i) && !(law.name == "ulaw" && i == 0x7F && b == 0xFF) {
					t.Errorf("code %#x decodes to %d, which encodes to %#x", i, levels[i], b)
				}
			}
			// Every sample encodes to the level of the interval it lies in:
			// within half the interval (the wider gap to a neighbouring
			// level) of it. Beyond the largest level, samples clip.
			sorted := slices.Clone(levels)
			slices.Sort(sorted)
			sorted = slices.Compact(sorted)
			all := make([]int16, 65536)
			for i := range all {
				all[i] = int16(i - 32768)
			}
			enc := make([]byte, len(all))
			law.encode(enc, all)
			dec := make([]int16, len(all))
			law.decode(dec, enc)
			for i, x := range all {
				j, _ := slices.BinarySearch(sorted, dec[i])
				if j == 0 || j == len(sorted)-1 {
					if x > sorted[1] && x < sorted[len(sorted)-2] {
						t.Fatalf("%d clips to %d", x, dec[i])
					}
					continue
				}
				gap := max(int(sorted[j])-int(sorted[j-1]), int(sorted[j+1])-int(sorted[j]))
				if err := abs(int(x) - int(dec[i])); err > gap/2+law.slack {
					t.Fatalf("%d encodes to %#x = %d, off by %d; intervals there are %d wide", x, enc[i], dec[i], err, gap)
				}
			}
			// Monotonic: a louder sample never decodes quieter.
			for i := 1; i < len(dec); i++ {
				if dec[i] < dec[i-1] {
					t.Fatalf("not monotonic at %d: %d < %d", all[i], dec[i], dec[i-1])
				}
			}
		})
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func TestG711RoundTripSNR(t *testing.T) {
	// A 1 kHz tone at -10 dBm0 keeps a signal to quantization noise ratio
	// of about 38 dB through either law (G.711 aims at ~35 dB or better).
	pcm := make([]int16, 8000)
	a := dBm0Amplitude * math.Pow(10, -10.0/20)
	for i := range pcm {
		pcm[i] = int16(a * math.Sin(2*math.Pi*1000*float64(i)/SampleRate+0.3))
	}
	for _, law := range []struct {
		name   string
		encode func([]byte, []int16) int
		decode func([]int16, []byte) int
	}{{"alaw", EncodeALaw, DecodeALaw}, {"ulaw", EncodeULaw, DecodeULaw}} {
		enc := make([]byte, len(pcm))
		out := make([]int16, len(pcm))
		if n := law.encode(enc, pcm); n != len(pcm) {
			t.Fatalf("%s: encoded %d", law.name, n)
		}
		law.decode(out, enc)
		var sig, noise float64
		for i := range pcm {
			sig += float64(pcm[i]) * float64(pcm[i])
			d := float64(pcm[i] - out[i])
			noise += d * d
		}
		if snr := 10 * math.Log10(sig/noise); snr < 33 {
			t.Errorf("%s: SNR %.1f dB, want >= 33", law.name, snr)
		}
	}
}

func BenchmarkEncodeALawFrame(b *testing.B) {
	pcm := make([]int16, FrameSamples)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(float64(i)))
	}
	dst := make([]byte, FrameSamples)
	b.SetBytes(FrameSamples)
	for b.Loop() {
		EncodeALaw(dst, pcm)
	}
}

func BenchmarkEncodeULawFrame(b *testing.B) {
	pcm := make([]int16, FrameSamples)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(float64(i)))
	}
	dst := make([]byte, FrameSamples)
	b.SetBytes(FrameSamples)
	for b.Loop() {
		EncodeULaw(dst, pcm)
	}
}

func BenchmarkDecodeALawFrame(b *testing.B) {
	src := make([]byte, FrameSamples)
	for i := range src {
		src[i] = byte(i)
	}
	dst := make([]int16, FrameSamples)
	b.SetBytes(FrameSamples)
	for b.Loop() {
		DecodeALaw(dst, src)
	}
}
