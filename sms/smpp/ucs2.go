package smpp

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Data coding values (SMPP 3.4, section 5.2.19).
const (
	CodingDefault byte = 0x00 // SMSC default alphabet; GSM 03.38 here
	CodingIA5     byte = 0x01 // IA5 / ASCII
	CodingBinary  byte = 0x02
	CodingLatin1  byte = 0x03
	CodingBinary4 byte = 0x04
	CodingUCS2    byte = 0x08
)

// EncodeUCS2 encodes s as UTF-16BE; characters outside the BMP become
// surrogate pairs. Invalid UTF-8 becomes U+FFFD.
func EncodeUCS2(s string) []byte {
	b := make([]byte, 0, 2*len(s))
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			b = append(b, byte(r1>>8), byte(r1), byte(r2>>8), byte(r2))
			continue
		}
		b = append(b, byte(r>>8), byte(r))
	}
	return b
}

// DecodeUCS2 decodes UTF-16BE. A trailing odd byte and unpaired surrogates
// become U+FFFD; it never fails.
func DecodeUCS2(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	s := string(utf16.Decode(u))
	if len(b)%2 == 1 {
		s += string(utf8.RuneError)
	}
	return s
}

// DecodeLatin1 decodes ISO-8859-1.
func DecodeLatin1(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// EncodeLatin1 encodes s as ISO-8859-1 or fails on the first character
// outside it.
func EncodeLatin1(s string) ([]byte, error) {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xFF {
			return nil, fmt.Errorf("smpp: %q is not in Latin-1", r)
		}
		b = append(b, byte(r))
	}
	return b, nil
}

// gsmBasic is the GSM 03.38 default alphabet, indexed by septet.
var gsmBasic = [128]rune{
	'@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
	'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', 0x1B, 'Æ', 'æ', 'ß', 'É',
	' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
	'¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
	'¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
}

// gsmExt is the GSM 03.38 extension table reached through escape 0x1B.
var gsmExt = map[byte]rune{
	0x0A: '\f', 0x14: '^', 0x28: '{', 0x29: '}', 0x2F: '\\', 0x3C: '[', 0x3D: '~',
	0x3E: ']', 0x40: '|', 0x65: '€',
}

var gsmEncode = func() map[rune][]byte {
	m := make(map[rune][]byte, 140)
	for i, r := range gsmBasic {
		if i != 0x1B {
			m[r] = []byte{byte(i)}
		}
	}
	for c, r := range gsmExt {
		m[r] = []byte{0x1B, c}
	}
	return m
}()

// DecodeGSM decodes unpacked GSM 03.38 septets, one per octet, which is how
// SMPP carries data_coding 0. Unknown escapes decode as a space.
func DecodeGSM(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i] & 0x7F
		if c == 0x1B {
			if i+1 < len(b) {
				i++
				if r, ok := gsmExt[b[i]&0x7F]; ok {
					sb.WriteRune(r)
					continue
				}
			}
			sb.WriteByte(' ')
			continue
		}
		sb.WriteRune(gsmBasic[c])
	}
	return sb.String()
}

// EncodeGSM encodes s as unpacked GSM 03.38 septets or fails on the first
// character outside the default alphabet and its extension.
func EncodeGSM(s string) ([]byte, error) {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		e, ok := gsmEncode[r]
		if !ok {
			return nil, fmt.Errorf("smpp: %q is not in the GSM 7-bit alphabet", r)
		}
		b = append(b, e...)
	}
	return b, nil
}

// alphabet classifies a data_coding value.
type alphabet int

const (
	alphaGSM alphabet = iota
	alphaASCII
	alphaLatin1
	alphaUCS2
	alphaBinary
)

func alphabetOf(dc byte) alphabet {
	switch {
	case dc == CodingDefault:
		return alphaGSM
	case dc == CodingIA5:
		return alphaASCII
	case dc == CodingLatin1:
		return alphaLatin1
	case dc == CodingUCS2:
		return alphaUCS2
	case dc < 0x10:
		return alphaBinary
	case dc < 0x40, dc&0xF0 == 0xC0: // GSM general data coding groups
		switch dc >> 2 & 0x03 {
		case 0:
			return alphaGSM
		case 2:
			return alphaUCS2
		}
		return alphaBinary
	case dc&0xF0 == 0xD0:
		return alphaGSM
	case dc&0xF0 == 0xE0:
		return alphaUCS2
	case dc&0xF0 == 0xF0:
		if dc&0x04 == 0 {
			return alphaGSM
		}
		return alphaBinary
	}
	return alphaBinary
}

// DecodeText turns a short message in data coding dc into a Go string.
// Binary codings are returned as Latin-1 so no byte is lost.
func DecodeText(dc byte, b []byte) string {
	switch alphabetOf(dc) {
	case alphaGSM:
		return DecodeGSM(b)
	case alphaUCS2:
		return DecodeUCS2(b)
	case alphaASCII:
		if utf8.Valid(b) {
			return string(b)
		}
		return DecodeLatin1(b)
	default:
		return DecodeLatin1(b)
	}
}
