package sip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrWAVFormat is wrapped by LoadWAV errors about a file that is not
// 8 kHz 16-bit mono PCM WAV.
var ErrWAVFormat = errors.New("wav: unsupported file")

// maxWAVSamples bounds a prompt at ten minutes so that a wrong file cannot
// take all memory.
const maxWAVSamples = 10 * 60 * SampleRate

const (
	wavFormatPCM        = 1
	wavFormatExtensible = 0xFFFE
)

// LoadWAV reads a RIFF/WAVE file of 8000 Hz, 16-bit, mono linear PCM (also
// as WAVE_FORMAT_EXTENSIBLE) and returns its samples. Chunks other than fmt
// and data (LIST, fact, ...) are skipped. Other formats are rejected with an
// error naming what was found, such as "wav: 16000 Hz, want 8000".
func LoadWAV(r io.Reader) ([]int16, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("wav: reading header: %w", noEOF(err))
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%w: not a RIFF/WAVE file (starts %q)", ErrWAVFormat, hdr[:4])
	}
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if err == io.EOF {
				return nil, fmt.Errorf("%w: no data chunk", ErrWAVFormat)
			}
			return nil, fmt.Errorf("wav: reading chunk header: %w", noEOF(err))
		}
		id, size := string(ch[0:4]), binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if err := readWAVFormat(r, size); err != nil {
				return nil, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, fmt.Errorf("%w: data chunk before fmt chunk", ErrWAVFormat)
			}
			return readWAVData(r, size)
		default:
			// Chunks are padded to an even size.
			if _, err := io.CopyN(io.Discard, r, int64(size)+int64(size&1)); err != nil {
				return nil, fmt.Errorf("wav: skipping %q chunk: %w", id, noEOF(err))
			}
		}
	}
}

func readWAVFormat(r io.Reader, size uint32) error {
	if size < 16 || size > 1024 {
		return fmt.Errorf("%w: fmt chunk of %d bytes", ErrWAVFormat, size)
	}
	b := make([]byte, size+size&1)
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("wav: reading fmt chunk: %w", noEOF(err))
	}
	format := binary.LittleEndian.Uint16(b[0:2])
	channels := binary.LittleEndian.Uint16(b[2:4])
	rate := binary.LittleEndian.Uint32(b[4:8])
	bits := binary.LittleEndian.Uint16(b[14:16])
	if format == wavFormatExtensible && size >= 40 {
		format = binary.LittleEndian.Uint16(b[24:26]) // the sub-format GUID starts with the format tag
	}
	switch {
	case format != wavFormatPCM:
		return fmt.Errorf("%w: format %d (%s), want PCM (1)", ErrWAVFormat, format, wavFormatName(format))
	case rate != SampleRate:
		return fmt.Errorf("%w: %d Hz, want %d", ErrWAVFormat, rate, SampleRate)
	case bits != 16:
		return fmt.Errorf("%w: %d-bit samples, want 16", ErrWAVFormat, bits)
	case channels != 1:
		return fmt.Errorf("%w: %d channels, want mono", ErrWAVFormat, channels)
	}
	return nil
}

func wavFormatName(f uint16) string {
	switch f {
	case 3:
		return "float"
	case 6:
		return "A-law"
	case 7:
		return "µ-law"
	case 0x11:
		return "IMA ADPCM"
	case 0x55:
		return "MP3"
	case wavFormatExtensible:
		return "extensible"
	}
	return "unknown"
}

// readWAVData reads the samples of a data chunk. Writers that stream (sox to
// a pipe) leave the size 0 or 0xFFFFFFFF; then the samples run to the end of
// the file, as they also may when a file was truncated.
func readWAVData(r io.Reader, size uint32) ([]int16, error) {
	// Read at most one sample more than allowed, to tell a file too long.
	const most = 2 * (maxWAVSamples + 1)
	limit := int64(size)
	if size == 0 || limit > most {
		limit = most
	}
	// Grow as the bytes arrive instead of trusting the declared size.
	var pcm []int16
	buf := make([]byte, 32*1024)
	var odd []byte
	lr := io.LimitReader(r, limit)
	for {
		n, err := lr.Read(buf[len(odd):])
		chunk := buf[:len(odd)+n]
		whole := len(chunk) &^ 1
		for i := 0; i < whole; i += 2 {
			pcm = append(pcm, int16(binary.LittleEndian.Uint16(chunk[i:])))
		}
		odd = append(buf[:0], chunk[whole:]...)
		if len(pcm) > maxWAVSamples {
			return nil, fmt.Errorf("%w: longer than %v", ErrWAVFormat, time.Duration(maxWAVSamples/SampleRate)*time.Second)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("wav: reading data: %w", err)
		}
	}
	if len(pcm) == 0 {
		return nil, fmt.Errorf("%w: no samples", ErrWAVFormat)
	}
	return pcm, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Prompt is an announcement ready to send: its audio encoded once, at
// start-up, as 20 ms frames of PCMA and of PCMU, the last frame padded with
// silence. A Prompt is immutable and shared by all calls.
type Prompt struct {
	name   string
	frames int
	pcma   [][]byte
	pcmu   [][]byte
}

// NewPrompt encodes pcm (8 kHz 16-bit mono) for both G.711 laws.
func NewPrompt(name string, pcm []int16) *Prompt {
	n := (len(pcm) + FrameSamples - 1) / FrameSamples
	p := &Prompt{name: name, frames: n}
	p.pcma = encodeFrames(pcm, n, alawSilence, EncodeALaw)
	p.pcmu = encodeFrames(pcm, n, ulawSilence, EncodeULaw)
	return p
}

func encodeFrames(pcm []int16, n int, silence byte, encode func([]byte, []int16) int) [][]byte {
	buf := make([]byte, n*FrameSamples)
	k := encode(buf, pcm)
	for i := k; i < len(buf); i++ {
		buf[i] = silence
	}
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = buf[i*FrameSamples : (i+1)*FrameSamples : (i+1)*FrameSamples]
	}
	return frames
}

// Name returns the name the prompt was created with (its file, usually).
func (p *Prompt) Name() string { return p.name }

// Frames returns the payloads of the prompt for RTP payload type pt (8 PCMA,
// 0 PCMU), FrameSamples bytes each, or nil for another payload type. The
// slices are shared and must not be modified.
func (p *Prompt) Frames(pt uint8) [][]byte {
	switch pt {
	case PayloadTypePCMA:
		return p.pcma
	case PayloadTypePCMU:
		return p.pcmu
	}
	return nil
}

// Duration returns how long the prompt plays, including the padding of its
// last frame.
func (p *Prompt) Duration() time.Duration { return time.Duration(p.frames) * FrameDuration }
