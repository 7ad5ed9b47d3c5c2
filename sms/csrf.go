package sms

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// The rating page's form carries a nonce tied to its token and to the time
// the page was shown: "<unix seconds>.<MAC>", MAC = HMAC-SHA256(key,
// "haochaping/sms-page/v1" | token | seconds) truncated to 96 bits, with
// the link signing keys (the first signs, any verifies). A form posted from
// elsewhere (CSRF) or replayed much later does not carry a valid nonce; no
// cookie or server state is needed, so any process can check it.

const nonceDomain = "haochaping/sms-page/v1"

// PageNonceTTL is how long a shown page may be submitted.
const PageNonceTTL = 2 * time.Hour

func nonceMAC(key []byte, token, ts string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(nonceDomain))
	h.Write([]byte(token))
	h.Write([]byte{0})
	h.Write([]byte(ts))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:12])
}

// PageNonce returns the nonce for a page of token shown at now.
func (s *TokenSigner) PageNonce(token string, now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	return ts + "." + nonceMAC(s.keys[0], token, ts)
}

// CheckPageNonce reports whether nonce was issued for token within
// PageNonceTTL before now.
func (s *TokenSigner) CheckPageNonce(token, nonce string, now time.Time) bool {
	ts, mac, ok := strings.Cut(nonce, ".")
	if !ok {
		return false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	age := now.Sub(time.Unix(sec, 0))
	if age < -time.Minute || age > PageNonceTTL {
		return false
	}
	good := false
	for _, k := range s.keys {
		if hmac.Equal([]byte(nonceMAC(k, token, ts)), []byte(mac)) {
			good = true
		}
	}
	return good
}
