package sip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// wavFile builds a WAV file: fmt fields, then extra chunks before data.
type wavFile struct {
	format, channels, bits uint16
	rate                   uint32
	fmtExtra               []byte // appended to the 16-byte fmt body
	before                 [][2]string
	data                   []byte
	dataSize               *uint32 // declared size, if not len(data)
	noFmt                  bool
}

func (w wavFile) bytes() []byte {
	var body bytes.Buffer
	body.WriteString("WAVE")
	chunk := func(id string, b []byte, size uint32) {
		body.WriteString(id)
		binary.Write(&body, binary.LittleEndian, size)
		body.Write(b)
		if len(b)%2 == 1 {
			body.WriteByte(0)
		}
	}
	if !w.noFmt {
		f := make([]byte, 16)
		binary.LittleEndian.PutUint16(f[0:], w.format)
		binary.LittleEndian.PutUint16(f[2:], w.channels)
		binary.LittleEndian.PutUint32(f[4:], w.rate)
		binary.LittleEndian.PutUint32(f[8:], w.rate*uint32(w.channels*w.bits/8))
		binary.LittleEndian.PutUint16(f[12:], w.channels*w.bits/8)
		binary.LittleEndian.PutUint16(f[14:], w.bits)
		f = append(f, w.fmtExtra...)
		chunk("fmt ", f, uint32(len(f)))
	}
	for _, c := range w.before {
		chunk(c[0], []byte(c[1]), uint32(len(c[1])))
	}
	size := uint32(len(w.data))
	if w.dataSize != nil {
		size = *w.dataSize
	}
	chunk("data", w.data, size)
	var out bytes.Buffer
	out.WriteString("RIFF")
	binary.Write(&out, binary.LittleEndian, uint32(body.Len()))
	out.Write(body.Bytes())
	return out.Bytes()
}

func pcmBytes(s ...int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

func u32(v uint32) *uint32 { return &v }

func TestLoadWAV(t *testing.T) {
	good := wavFile{format: 1, channels: 1, bits: 16, rate: 8000, data: pcmBytes(1, -2, 32767, -32768)}
	extensible := good
	extensible.format = 0xFFFE
	extensible.fmtExtra = append([]byte{22, 0, 16, 0, 4, 0, 0, 0, 1, 0}, make([]byte, 14)...) // cbSize, valid bits, mask, PCM GUID
	withList := good
	withList.before = [][2]string{{"LIST", "INFOISFT\x0e\x00\x00\x00Lavf58.76.100\x00"}, {"fact", "odd"}}
	streamed := good
	streamed.dataSize = u32(0xFFFFFFFF)
	zeroSize := good
	zeroSize.dataSize = u32(0)
	oddData := good
	oddData.data = append(pcmBytes(1, -2, 32767, -32768), 7)
	with := func(f func(*wavFile)) []byte { w := good; f(&w); return w.bytes() }

	tests := []struct {
		name    string
		in      []byte
		want    []int16
		wantErr string
	}{
		{"pcm", good.bytes(), []int16{1, -2, 32767, -32768}, ""},
		{"extensible", extensible.bytes(), []int16{1, -2, 32767, -32768}, ""},
		{"LIST and odd fact chunk skipped", withList.bytes(), []int16{1, -2, 32767, -32768}, ""},
		{"streamed size", streamed.bytes(), []int16{1, -2, 32767, -32768}, ""},
		{"zero size", zeroSize.bytes(), []int16{1, -2, 32767, -32768}, ""},
		{"odd data size", oddData.bytes(), []int16{1, -2, 32767, -32768}, ""},
		{"16 kHz", with(func(w *wavFile) { w.rate = 16000 }), nil, "wav: unsupported file: 16000 Hz, want 8000"},
		{"stereo", with(func(w *wavFile) { w.channels = 2 }), nil, "2 channels, want mono"},
		{"8-bit", with(func(w *wavFile) { w.bits = 8 }), nil, "8-bit samples, want 16"},
		{"A-law", with(func(w *wavFile) { w.format, w.bits = 6, 8 }), nil, "format 6 (A-law), want PCM (1)"},
		{"float", with(func(w *wavFile) { w.format, w.bits = 3, 32 }), nil, "format 3 (float)"},
		{"data before fmt", with(func(w *wavFile) { w.noFmt = true }), nil, "data chunk before fmt"},
		{"no data", good.bytes()[:36], nil, "no data chunk"},
		{"empty data", with(func(w *wavFile) { w.data = nil; w.dataSize = u32(0) }), nil, "no samples"},
		{"truncated data", good.bytes()[:len(good.bytes())-3], []int16{1, -2}, ""},
		{"not RIFF", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"), nil, `not a RIFF/WAVE file (starts "OggS")`},
		{"empty", nil, nil, "unexpected EOF"},
		{"short fmt", []byte("RIFF\x00\x00\x00\x00WAVEfmt \x04\x00\x00\x00\x01\x00\x01\x00"), nil, "fmt chunk of 4 bytes"},
		{"truncated fmt", []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00"), nil, "unexpected EOF"},
		{"truncated chunk", []byte("RIFF\x00\x00\x00\x00WAVELIST\xff\x00\x00\x00abc"), nil, "unexpected EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadWAV(bytes.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slicesEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func slicesEqual(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLoadWAVFormatError(t *testing.T) {
	w := wavFile{format: 1, channels: 1, bits: 16, rate: 44100, data: pcmBytes(0)}
	_, err := LoadWAV(bytes.NewReader(w.bytes()))
	if !errors.Is(err, ErrWAVFormat) {
		t.Errorf("err = %v, want ErrWAVFormat", err)
	}
	if err.Error() != "wav: unsupported file: 44100 Hz, want 8000" {
		t.Errorf("err = %q", err)
	}
}

// TestLoadWAVSox reads the file sox and espeak-ng made.
func TestLoadWAVSox(t *testing.T) {
	pcm := loadTestWAV(t, "testdata/speech_zh_8k.wav")
	if len(pcm) < 8*SampleRate {
		t.Errorf("%d samples, want at least 8 s", len(pcm))
	}
}

func loadTestWAV(t testing.TB, path string) []int16 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, err := LoadWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	return pcm
}

func TestLoadWAVTooLong(t *testing.T) {
	w := wavFile{format: 1, channels: 1, bits: 16, rate: 8000, dataSize: u32(0xFFFFFFFF)}
	r := io.MultiReader(bytes.NewReader(w.bytes()), io.LimitReader(zeroReader{}, 2*maxWAVSamples+10))
	if _, err := LoadWAV(r); err == nil || !strings.Contains(err.Error(), "longer than 10m0s") {
		t.Errorf("err = %v, want too long", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestPrompt(t *testing.T) {
	tests := []struct {
		samples    int
		wantFrames int
	}{
		{0, 0},
		{1, 1},
		{FrameSamples, 1},
		{FrameSamples + 1, 2},
		{8000, 50},
	}
	for _, tc := range tests {
		pcm := make([]int16, tc.samples)
		for i := range pcm {
			pcm[i] = 1000
		}
		p := NewPrompt("welcome.wav", pcm)
		if p.Name() != "welcome.wav" {
			t.Errorf("Name() = %q", p.Name())
		}
		if got, want := p.Duration(), time.Duration(tc.wantFrames)*20*time.Millisecond; got != want {
			t.Errorf("%d samples: Duration() = %v, want %v", tc.samples, got, want)
		}
		for _, law := range []struct {
			pt       uint8
			loud     byte
			silence  byte
			encoding string
		}{{8, 0xFA, 0xD5, "PCMA"}, {0, 0xCE, 0xFF, "PCMU"}} {
			frames := p.Frames(law.pt)
			if len(frames) != tc.wantFrames {
				t.Fatalf("%s %d samples: %d frames, want %d", law.encoding, tc.samples, len(frames), tc.wantFrames)
			}
			for i, f := range frames {
				if len(f) != FrameSamples || cap(f) != FrameSamples {
					t.Fatalf("%s frame %d: len %d cap %d", law.encoding, i, len(f), cap(f))
				}
				for j, b := range f {
					want := law.loud
					if i*FrameSamples+j >= tc.samples {
						want = law.silence
					}
					if b != want {
						t.Fatalf("%s frame %d byte %d = %#x, want %#x", law.encoding, i, j, b, want)
					}
				}
			}
		}
		if p.Frames(18) != nil {
			t.Errorf("Frames(18) (G.729) = non-nil")
		}
	}
}

func FuzzLoadWAV(f *testing.F) {
	f.Add(wavFile{format: 1, channels: 1, bits: 16, rate: 8000, data: pcmBytes(1, 2, 3)}.bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		pcm, err := LoadWAV(bytes.NewReader(b))
		if err == nil && (len(pcm) == 0 || len(pcm) > len(b)/2) {
			t.Fatalf("%d samples from %d bytes", len(pcm), len(b))
		}
	})
}
