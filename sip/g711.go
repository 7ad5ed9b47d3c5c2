package sip

import "time"

// Audio format shared by the codecs, the prompts and the media engine.
const (
	// SampleRate is the G.711 sample rate in Hz.
	SampleRate = 8000
	// FrameDuration is the packetization time we send and expect (ptime 20).
	FrameDuration = 20 * time.Millisecond
	// FrameSamples is the number of samples, and of G.711 bytes, in one frame.
	FrameSamples = SampleRate * 20 / 1000
)

// Static RTP payload types of the G.711 codecs (RFC 3551).
const (
	PayloadTypePCMU uint8 = 0
	PayloadTypePCMA uint8 = 8
)

// Encoded silence (linear 0) of each law; used to pad frames.
const (
	alawSilence = 0xD5
	ulawSilence = 0xFF
)

// Decode tables; encode tables indexed by the top 13 (A-law) or 14 (µ-law)
// bits of the sample, which is all G.711 looks at. 8 KiB + 16 KiB, built
// once at start-up from the reference algorithms below.
var (
	alawDecode [256]int16
	ulawDecode [256]int16
	alawEncode [1 << 13]byte
	ulawEncode [1 << 14]byte
)

func init() {
	for i := range 256 {
		alawDecode[i] = alaw2linear(byte(i))
		ulawDecode[i] = ulaw2linear(byte(i))
	}
	for i := range alawEncode {
		alawEncode[i] = linear2alaw(int16(uint16(i) << 3))
	}
	for i := range ulawEncode {
		ulawEncode[i] = linear2ulaw(int16(uint16(i) << 2))
	}
}

// EncodeALaw encodes src as PCMA into dst, which must be at least as long
// as src; it returns the number of bytes written.
func EncodeALaw(dst []byte, src []int16) int {
	dst = dst[:len(src)]
	for i, s := range src {
		dst[i] = alawEncode[uint16(s)>>3]
	}
	return len(src)
}

// EncodeULaw encodes src as PCMU into dst, which must be at least as long
// as src; it returns the number of bytes written.
func EncodeULaw(dst []byte, src []int16) int {
	dst = dst[:len(src)]
	for i, s := range src {
		dst[i] = ulawEncode[uint16(s)>>2]
	}
	return len(src)
}

// DecodeALaw decodes PCMA src into dst, which must be at least as long as
// src; it returns the number of samples written.
func DecodeALaw(dst []int16, src []byte) int {
	dst = dst[:len(src)]
	for i, b := range src {
		dst[i] = alawDecode[b]
	}
	return len(src)
}

// DecodeULaw decodes PCMU src into dst, which must be at least as long as
// src; it returns the number of samples written.
func DecodeULaw(dst []int16, src []byte) int {
	dst = dst[:len(src)]
	for i, b := range src {
		dst[i] = ulawDecode[b]
	}
	return len(src)
}

// linear2alaw is the ITU-T G.711 A-law encoder as in the reference code
// (Sun Microsystems' g711.c, also used by SoX): 13-bit magnitude, segment
// search, even bits inverted.
func linear2alaw(pcm int16) byte {
	v := int32(pcm) >> 3
	mask := byte(0xD5)
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	seg := 0
	for seg < 8 && v >= int32(0x20)<<seg {
		seg++
	}
	if seg >= 8 {
		return 0x7F ^ mask
	}
	a := byte(seg << 4)
	if seg < 2 {
		a |= byte(v>>1) & 0x0F
	} else {
		a |= byte(v>>seg) & 0x0F
	}
	return a ^ mask
}

func alaw2linear(a byte) int16 {
	a ^= 0x55
	t := int32(a&0x0F) << 4
	switch seg := (a & 0x70) >> 4; seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// linear2ulaw is the ITU-T G.711 µ-law encoder of the reference code: 14-bit
// magnitude clipped at 8159, bias 33, segment search, all bits inverted.
func linear2ulaw(pcm int16) byte {
	const bias, clip = 0x84 >> 2, 8159
	v := int32(pcm) >> 2
	mask := byte(0xFF)
	if v < 0 {
		v = -v
		mask = 0x7F
	}
	if v > clip {
		v = clip
	}
	v += bias
	seg := 0
	for seg < 8 && v >= int32(0x40)<<seg {
		seg++
	}
	if seg >= 8 {
		return 0x7F ^ mask
	}
	u := byte(seg<<4) | byte(v>>(seg+1))&0x0F
	return u ^ mask
}

func ulaw2linear(u byte) int16 {
	const bias = 0x84
	u = ^u
	t := int32(u&0x0F)<<3 + bias
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(bias - t)
	}
	return int16(t - bias)
}
