package sms

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	key1 = bytes.Repeat([]byte{1}, 32)
	key2 = bytes.Repeat([]byte{2}, 32)
	t0   = time.Date(2026, 2, 13, 10, 30, 15, 0, time.UTC)
)

func mustSigner(t testing.TB, keys ...[]byte) *TokenSigner {
	t.Helper()
	s, err := NewTokenSigner(keys, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenRoundTrip(t *testing.T) {
	s := mustSigner(t, key1)
	tok, c, err := s.Sign(t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != TokenLen || strings.ContainsAny(tok, "+/=.") {
		t.Fatalf("token %q", tok)
	}
	if want := time.Date(2026, 2, 20, 10, 31, 0, 0, time.UTC); !c.Expires.Equal(want) || len(c.ID) != 14 || !strings.HasPrefix(tok, c.ID[:13]) {
		t.Fatalf("claims %+v", c)
	}
	got, err := s.Verify(tok, t0.Add(DefaultTokenTTL))
	if err != nil || got != c {
		t.Fatalf("Verify = %+v, %v; want %+v", got, err, c)
	}
	got, err = s.Verify(tok, c.Expires)
	if !errors.Is(err, ErrTokenExpired) || got != c {
		t.Fatalf("at expiry: %+v, %v", got, err)
	}
	tok2, _, _ := s.Sign(t0)
	if tok2 == tok {
		t.Fatal("two tokens alike")
	}
}

func TestTokenRejects(t *testing.T) {
	s := mustSigner(t, key1)
	tok, _, err := s.Sign(t0)
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := mustSigner(t, key2).Sign(t0)
	b, _ := base64.RawURLEncoding.DecodeString(tok)
	b[12]++ // later expiry, same MAC
	extended := base64.RawURLEncoding.EncodeToString(b)
	flip := []byte(tok)
	flip[TokenLen-1] ^= 1
	for name, bad := range map[string]string{
		"empty":        "",
		"truncated":    tok[:TokenLen-1],
		"extended":     tok + "A",
		"padded":       tok[:TokenLen-2] + "==",
		"bad alphabet": tok[:TokenLen-1] + "+",
		"last bit":     string(flip),
		"forged exp":   extended,
		"other key":    other,
		"space":        " " + tok[1:],
		"dot":          tok[:16] + "." + tok[17:],
		"zeros":        strings.Repeat("A", TokenLen),
	} {
		if name == "last bit" && string(flip) == tok {
			continue
		}
		if c, err := s.Verify(bad, t0); !errors.Is(err, ErrTokenInvalid) || c != (Claims{}) {
			t.Errorf("%s: %+v, %v", name, c, err)
		}
	}
	// An expired forgery is invalid, not expired: no information leaks.
	if _, err := s.Verify(other, t0.Add(30*24*time.Hour)); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("expired forgery: %v", err)
	}
}

func TestTokenRotation(t *testing.T) {
	oldS := mustSigner(t, key1)
	old, _, _ := oldS.Sign(t0)
	rotated := mustSigner(t, key2, key1)
	fresh, _, _ := rotated.Sign(t0)
	if _, err := rotated.Verify(old, t0); err != nil {
		t.Errorf("old token after rotation: %v", err)
	}
	if _, err := rotated.Verify(fresh, t0); err != nil {
		t.Errorf("new token: %v", err)
	}
	if _, err := oldS.Verify(fresh, t0); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("new token with only the old key: %v", err)
	}
	if _, err := mustSigner(t, key2).Verify(old, t0); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("old token after the old key is dropped: %v", err)
	}
}

func TestNewTokenSigner(t *testing.T) {
	if _, err := NewTokenSigner(nil, 0); err == nil {
		t.Error("no keys accepted")
	}
	if _, err := NewTokenSigner([][]byte{key1, []byte("short")}, 0); err == nil {
		t.Error("short key accepted")
	}
	if _, err := NewTokenSigner([][]byte{key1}, time.Second); err == nil {
		t.Error("ttl of a second accepted")
	}
	s, err := NewTokenSigner([][]byte{key1}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, c, _ := s.Sign(t0)
	if want := t0.Add(time.Hour).Truncate(time.Minute).Add(time.Minute); !c.Expires.Equal(want) {
		t.Errorf("expires %v, want %v", c.Expires, want)
	}
	if _, _, err := s.Sign(time.Unix(-1, 0)); err == nil {
		t.Error("signed before 1970")
	}
	s.rand = strings.NewReader("short")
	if _, _, err := s.Sign(t0); err == nil {
		t.Error("signed without randomness")
	}
}

func FuzzVerifyToken(f *testing.F) {
	s := mustSigner(f, key1, key2)
	tok, _, _ := s.Sign(t0)
	other, _, _ := mustSigner(f, bytes.Repeat([]byte{3}, 32)).Sign(t0)
	for _, seed := range []string{tok, other, tok[:20], tok + "x", strings.Repeat("_", TokenLen), "", "..."} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := s.Verify(in, t0)
		switch {
		case err == nil, errors.Is(err, ErrTokenExpired):
			if len(in) != TokenLen || len(c.ID) != 14 || !strings.HasPrefix(in, c.ID[:13]) {
				t.Fatalf("accepted %q as %+v", in, c)
			}
		case errors.Is(err, ErrTokenInvalid):
			if c != (Claims{}) {
				t.Fatalf("invalid token with claims %+v", c)
			}
		default:
			t.Fatalf("unexpected error %v", err)
		}
	})
}

func TestShortCode(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 2000 {
		c := NewShortCode()
		if len(c) != ShortCodeLen || strings.ContainsAny(c, "0O1IL") {
			t.Fatalf("code %q", c)
		}
		if n, ok := NormalizeShortCode(c); !ok || n != c {
			t.Fatalf("NormalizeShortCode(%q) = %q, %v", c, n, ok)
		}
		if seen[c] {
			t.Fatalf("code %q twice", c)
		}
		seen[c] = true
		for _, r := range c {
			counts[r]++
		}
	}
	if len(counts) != len(ShortCodeAlphabet) {
		t.Errorf("%d symbols used, want %d", len(counts), len(ShortCodeAlphabet))
	}
	for in, want := range map[string]string{
		"abc-def-ghj": "ABCDEFGHJ",
		"ＡＢＣ ＤＥＦ ＧＨＪ": "ABCDEFGHJ",
		"23456789Z":   "23456789Z",
		"ABCDEFGH":    "",
		"ABCDEFGHJK":  "",
		"ABCDEFGH0":   "",
		"ABCDEFGHI":   "",
		"ABCDEFGH满":   "",
	} {
		got, ok := NormalizeShortCode(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizeShortCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
