package dashboard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Session is a logged-in browser. Its cookie holds a random token; Redis
// keeps only the token's SHA-256, so a read of Redis does not yield cookies.
type Session struct {
	User      string
	CSRF      string // the per-session token every form carries
	CreatedAt time.Time
	ExpiresAt time.Time
	key       string
}

// Sessions keeps sessions in Redis with a TTL of their lifetime.
type Sessions struct {
	rdb      redis.UniversalClient
	k        keys
	lifetime time.Duration
	now      func() time.Time
}

// NewSessions returns the session store of a namespace.
func NewSessions(rdb redis.UniversalClient, namespace string, lifetime time.Duration) *Sessions {
	return &Sessions{rdb: rdb, k: newKeys(namespace), lifetime: lifetime, now: time.Now}
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// Create starts a session for user and returns its cookie value.
func (s *Sessions) Create(ctx context.Context, user string) (string, *Session, error) {
	tok := randomToken(32)
	now := s.now()
	sess := &Session{User: user, CSRF: randomToken(24), CreatedAt: now, ExpiresAt: now.Add(s.lifetime), key: s.k.session(hashToken(tok))}
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, sess.key, "user", user, "csrf", sess.CSRF, "created", now.UnixMilli(), "expires", sess.ExpiresAt.UnixMilli())
	pipe.PExpire(ctx, sess.key, s.lifetime)
	pipe.SAdd(ctx, s.k.userSessions(user), sess.key)
	pipe.PExpire(ctx, s.k.userSessions(user), s.lifetime)
	if _, err := pipe.Exec(ctx); err != nil {
		return "", nil, fmt.Errorf("create session: %w", err)
	}
	return tok, sess, nil
}

var errNoSession = errors.New("no session")

// Get returns the session of a cookie value.
func (s *Sessions) Get(ctx context.Context, tok string) (*Session, error) {
	if tok == "" || len(tok) > 128 {
		return nil, errNoSession
	}
	key := s.k.session(hashToken(tok))
	m, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("get session: %w", err)
	}
	if m["user"] == "" {
		return nil, errNoSession
	}
	sess := &Session{User: m["user"], CSRF: m["csrf"], CreatedAt: msTime(m["created"]), ExpiresAt: msTime(m["expires"]), key: key}
	if !s.now().Before(sess.ExpiresAt) {
		return nil, errNoSession
	}
	return sess, nil
}

// Delete ends a session.
func (s *Sessions) Delete(ctx context.Context, sess *Session) error {
	pipe := s.rdb.TxPipeline()
	pipe.Del(ctx, sess.key)
	pipe.SRem(ctx, s.k.userSessions(sess.User), sess.key)
	_, err := pipe.Exec(ctx)
	return err
}
