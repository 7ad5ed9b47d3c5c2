package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/haochaping/haochaping/casecore"
)

var errUnauthorized = errors.New("unauthorized")

// Auth maps bearer tokens to actors. Tokens are kept as SHA-256 hashes; a
// lookup hashes the presented token and compares in constant time.
type Auth struct {
	tokens []tokenEntry
}

type tokenEntry struct {
	hash  [32]byte
	actor casecore.Actor
}

// NewAuth returns an empty token table.
func NewAuth() *Auth { return &Auth{} }

// AddToken adds a token given as its hex SHA-256.
func (a *Auth) AddToken(sha256Hex string, actor casecore.Actor) error {
	b, err := hex.DecodeString(sha256Hex)
	if err != nil || len(b) != 32 {
		return errors.New("token hash: want 64 hex digits")
	}
	var e tokenEntry
	copy(e.hash[:], b)
	e.actor = actor
	a.tokens = append(a.tokens, e)
	return nil
}

// Lookup returns the actor of a presented token.
func (a *Auth) Lookup(token string) (casecore.Actor, bool) {
	h := sha256.Sum256([]byte(token))
	var found casecore.Actor
	ok := false
	for _, e := range a.tokens { // no early exit: the time does not depend on which token matched
		if subtle.ConstantTimeCompare(h[:], e.hash[:]) == 1 {
			found, ok = e.actor, true
		}
	}
	return found, ok
}

// authed wraps a handler that needs an actor from the Authorization header.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, casecore.Actor)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// The scheme is case-insensitive (RFC 7235 §2.1): "bearer" too.
		scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" || s.auth == nil {
			s.Error(w, r, errUnauthorized)
			return
		}
		actor, ok := s.auth.Lookup(strings.TrimSpace(tok))
		if !ok {
			s.Error(w, r, errUnauthorized)
			return
		}
		h(w, r, actor)
	}
}

// Authed wraps a handler of another module (SMS API) that needs an actor
// from the Authorization header; a missing or unknown token gets the API's
// 401 JSON error.
func (s *Server) Authed(h func(http.ResponseWriter, *http.Request, casecore.Actor)) http.Handler {
	return s.authed(h)
}
