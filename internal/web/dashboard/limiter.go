package dashboard

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limiter bounds login attempts: at most Rate a minute from one IP and for
// one account, and after Failures failed logins in a row the account is
// locked for Lockout. Counters live in Redis so every process shares them.
type Limiter struct {
	rdb      redis.UniversalClient
	k        keys
	Rate     int
	Failures int
	Lockout  time.Duration
}

// attemptScript counts one attempt in a fixed one-minute window.
// KEYS: counter. ARGV: window ms. Returns the count.
var attemptScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)

// Verdict is what the limiter says about a login attempt.
type Verdict int

// The verdicts.
const (
	Allowed Verdict = iota
	RateLimited
	Locked
)

// Attempt counts an attempt from ip for account name and says whether it
// may proceed. A locked account is refused before its password is checked.
func (l *Limiter) Attempt(ctx context.Context, ip, name string) (Verdict, time.Duration, error) {
	if ttl, err := l.rdb.PTTL(ctx, l.k.lock(name)).Result(); err != nil {
		return Allowed, 0, err
	} else if ttl > 0 {
		return Locked, ttl, nil
	}
	const window = int64(time.Minute / time.Millisecond)
	for _, k := range []string{l.k.rateIP(ip), l.k.rateUser(name)} {
		n, err := attemptScript.Run(ctx, l.rdb, []string{k}, window).Int()
		if err != nil {
			return Allowed, 0, err
		}
		if n > l.Rate {
			ttl, _ := l.rdb.PTTL(ctx, k).Result()
			return RateLimited, max(ttl, time.Second), nil
		}
	}
	return Allowed, 0, nil
}

// Failed records a failed login and reports whether it locked the account.
func (l *Limiter) Failed(ctx context.Context, name string) (bool, error) {
	n, err := attemptScript.Run(ctx, l.rdb, []string{l.k.fails(name)}, l.Lockout.Milliseconds()).Int()
	if err != nil {
		return false, err
	}
	if n >= l.Failures {
		pipe := l.rdb.TxPipeline()
		pipe.Set(ctx, l.k.lock(name), "1", l.Lockout)
		pipe.Del(ctx, l.k.fails(name))
		_, err := pipe.Exec(ctx)
		return true, err
	}
	return false, nil
}

// Succeeded clears the failure count of an account.
func (l *Limiter) Succeeded(ctx context.Context, name string) error {
	return l.rdb.Del(ctx, l.k.fails(name)).Err()
}

// Unlock lifts a lock-out (the administrator resetting a password).
func (l *Limiter) Unlock(ctx context.Context, name string) error {
	return l.rdb.Del(ctx, l.k.lock(name), l.k.fails(name)).Err()
}

// NewLimiter returns the login limiter of a namespace.
func NewLimiter(rdb redis.UniversalClient, namespace string, rate, failures int, lockout time.Duration) *Limiter {
	return &Limiter{rdb: rdb, k: newKeys(namespace), Rate: rate, Failures: failures, Lockout: lockout}
}
