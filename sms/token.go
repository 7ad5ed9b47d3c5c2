package sms

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Rating link tokens.
//
// A token is 32 URL-safe characters, the unpadded base64url encoding of 24
// bytes:
//
//	random (10 bytes, 80 bits) | expiry (4 bytes, Unix minutes, big-endian) | MAC (10 bytes, 80 bits)
//
// where MAC is HMAC-SHA256(key, "haochaping/sms-link/v1" | random | expiry)
// truncated to 80 bits. Thirty-two characters keep a link such as
// https://x.cn/r/<token> inside one SMS beside a short text; there is no
// "." between the parts because the layout is fixed and the dot would cost
// a character.
//
// The token does not carry the invitation ID: an ID would make it longer
// and would show it to anyone who sees the link. The random part, as
// Claims.ID, is the key under which the caller stores the invitation
// (in Redis, expiring at Claims.Expires). The MAC lets the server turn
// away forged or altered tokens, and expired ones, before any lookup, so a
// guessing attacker costs no Redis round trip; the 80 random bits make the
// ID itself unguessable.
//
// Keys rotate: a signer signs with its first key and verifies with any,
// so a new key is put first and an old one is dropped once the tokens it
// signed have expired (DefaultTokenTTL).

// DefaultTokenTTL is how long a rating link stays valid.
const DefaultTokenTTL = 7 * 24 * time.Hour

// MinTokenKeyLen is the shortest key accepted: 256 bits for HMAC-SHA256.
const MinTokenKeyLen = 32

// TokenLen is the length of every token.
const TokenLen = 32

const (
	tokenRandLen = 10
	tokenExpLen  = 4
	tokenMACLen  = 10
	tokenBytes   = tokenRandLen + tokenExpLen + tokenMACLen
	tokenDomain  = "haochaping/sms-link/v1"
)

// Sentinel errors of Verify.
var (
	// ErrTokenInvalid means the token is malformed or was not signed by any
	// of our keys.
	ErrTokenInvalid = errors.New("invalid rating link token")
	// ErrTokenExpired means a genuine token whose validity has passed.
	ErrTokenExpired = errors.New("rating link token expired")
)

// Claims is what a token says.
type Claims struct {
	// ID is the token's random part, 14 base64url characters: the key the
	// caller looks the invitation up by.
	ID string
	// Expires is when the token stops being valid, to the minute.
	Expires time.Time
}

// TokenSigner signs and verifies rating link tokens.
type TokenSigner struct {
	keys [][]byte
	ttl  time.Duration
	rand io.Reader
}

// NewTokenSigner returns a signer that signs with keys[0] and verifies
// with any of keys; each key has at least MinTokenKeyLen bytes. A ttl of
// zero means DefaultTokenTTL.
func NewTokenSigner(keys [][]byte, ttl time.Duration) (*TokenSigner, error) {
	if len(keys) == 0 {
		return nil, errors.New("token signer: no key")
	}
	s := &TokenSigner{ttl: ttl, rand: rand.Reader}
	for i, k := range keys {
		if len(k) < MinTokenKeyLen {
			return nil, fmt.Errorf("token signer: key %d has %d bytes, want at least %d", i, len(k), MinTokenKeyLen)
		}
		s.keys = append(s.keys, append([]byte(nil), k...))
	}
	switch {
	case ttl == 0:
		s.ttl = DefaultTokenTTL
	case ttl < time.Minute:
		return nil, fmt.Errorf("token signer: ttl %v is shorter than a minute", ttl)
	}
	return s, nil
}

// Sign returns a new token valid from now for the signer's ttl (rounded up
// to the minute), with its claims; the caller stores Claims.ID → invitation.
func (s *TokenSigner) Sign(now time.Time) (string, Claims, error) {
	var b [tokenBytes]byte
	if _, err := io.ReadFull(s.rand, b[:tokenRandLen]); err != nil {
		return "", Claims{}, fmt.Errorf("sign token: %w", err)
	}
	exp := now.Add(s.ttl).Add(time.Minute-1).Unix() / 60
	if now.Unix() < 0 || exp > math.MaxUint32 {
		return "", Claims{}, fmt.Errorf("sign token: time %v out of range", now)
	}
	binary.BigEndian.PutUint32(b[tokenRandLen:], uint32(exp))
	copy(b[tokenRandLen+tokenExpLen:], mac(s.keys[0], b[:tokenRandLen+tokenExpLen]))
	return base64.RawURLEncoding.EncodeToString(b[:]), claims(b[:]), nil
}

// Verify checks a token at now. It returns ErrTokenInvalid for anything
// malformed, altered or signed with an unknown key, without saying which;
// for a genuine token past its expiry it returns the claims with
// ErrTokenExpired, so the page can say the link has expired. The MAC is
// compared in constant time.
func (s *TokenSigner) Verify(token string, now time.Time) (Claims, error) {
	if len(token) != TokenLen {
		return Claims{}, ErrTokenInvalid
	}
	var b [tokenBytes]byte
	if n, err := base64.RawURLEncoding.Decode(b[:], []byte(token)); err != nil || n != tokenBytes {
		return Claims{}, ErrTokenInvalid
	}
	signed, got := b[:tokenRandLen+tokenExpLen], b[tokenRandLen+tokenExpLen:]
	ok := false
	for _, k := range s.keys {
		if hmac.Equal(mac(k, signed), got) {
			ok = true
		}
	}
	if !ok {
		return Claims{}, ErrTokenInvalid
	}
	c := claims(b[:])
	if !now.Before(c.Expires) {
		return c, ErrTokenExpired
	}
	return c, nil
}

func mac(key, signed []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(tokenDomain))
	h.Write(signed)
	return h.Sum(nil)[:tokenMACLen]
}

func claims(b []byte) Claims {
	exp := binary.BigEndian.Uint32(b[tokenRandLen:])
	return Claims{
		ID:      base64.RawURLEncoding.EncodeToString(b[:tokenRandLen]),
		Expires: time.Unix(int64(exp)*60, 0).UTC(),
	}
}

// Short codes, for gateways that refuse per-recipient links: the SMS
// prints a fixed URL and a code the citizen types on the page.
//
// A code is ShortCodeLen characters from ShortCodeAlphabet, the digits and
// capital letters without 0, O, 1, I and L, which are misread or mistyped.
// With 31 symbols, 9 characters give 44.6 bits (8 would give only 39.6, less
// than the 40 bits asked for). The code is not signed: the page looks it up
// (the caller stores code → invitation with the invitation's expiry). That
// is enough because guessing is online only and rate-limited: with a
// million open codes and a global limit of 100 failed tries a second, an
// attacker's chance of hitting any open code is 1e6/2^44.6 ≈ 4·10⁻⁸ a try,
// about one hit per 70 hours of sustained maximum-rate guessing across the
// whole service, and each hit is one citizen's single rating, not their
// data; per-address limits and an alert on failure rates cut that further.

// ShortCodeAlphabet holds the characters of a short code.
const ShortCodeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// ShortCodeLen is the length of a short code.
const ShortCodeLen = 9

// NewShortCode returns a new random short code.
func NewShortCode() string {
	return newShortCode(rand.Reader)
}

func newShortCode(r io.Reader) string {
	var code [ShortCodeLen]byte
	var buf [16]byte
	for n := 0; n < ShortCodeLen; {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			panic(fmt.Sprintf("short code: %v", err)) // crypto/rand never fails
		}
		for _, c := range buf {
			// Rejection sampling keeps every symbol equally likely.
			if c &= 31; int(c) < len(ShortCodeAlphabet) && n < ShortCodeLen {
				code[n] = ShortCodeAlphabet[c]
				n++
			}
		}
	}
	return string(code[:])
}

// NormalizeShortCode reads a code as typed: it drops spaces and hyphens,
// maps full-width and lower-case letters to capitals, and reports whether
// the result is a well-formed code. Whether it is a live one is for the
// lookup to say.
func NormalizeShortCode(s string) (string, bool) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == ' ' || r == '-' || r == 0x3000 || r == 0xFF0D:
			continue
		case r >= 0xFF01 && r <= 0xFF5E:
			r -= 0xFEE0
		}
		if 'a' <= r && r <= 'z' {
			r -= 'a' - 'A'
		}
		if r >= 0x80 || !strings.ContainsRune(ShortCodeAlphabet, r) || b.Len() == ShortCodeLen {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != ShortCodeLen {
		return "", false
	}
	return b.String(), true
}
