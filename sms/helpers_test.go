package sms

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haochaping/haochaping/internal/redistest"
)

// backends runs f against a real redis-server and against miniredis.
func backends(t *testing.T, f func(t *testing.T, rdb redis.UniversalClient)) {
	t.Run("redis-server", func(t *testing.T) {
		t.Parallel()
		f(t, redistest.Start(t).Client(t))
	})
	t.Run("miniredis", func(t *testing.T) {
		t.Parallel()
		_, c := redistest.Mini(t)
		f(t, c)
	})
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// at returns a time in Shanghai.
func at(y int, mo time.Month, d, h, mi int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, Shanghai())
}

// fakeProvider records sends; SendFunc, if set, decides the outcome.
type fakeProvider struct {
	mu       sync.Mutex
	sent     []OutMessage
	SendFunc func(ctx context.Context, m OutMessage) ([]string, error)
}

func (p *fakeProvider) Name() string { return "fake" }

func (p *fakeProvider) Send(ctx context.Context, m OutMessage) ([]string, error) {
	if p.SendFunc != nil {
		ids, err := p.SendFunc(ctx, m)
		if err != nil {
			return ids, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, m)
	return []string{"p-" + m.ID}, nil
}

func (p *fakeProvider) Sent() []OutMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]OutMessage(nil), p.sent...)
}

func (p *fakeProvider) SentTo(phone string) []OutMessage {
	var out []OutMessage
	for _, m := range p.Sent() {
		if m.To == phone {
			out = append(out, m)
		}
	}
	return out
}

var errTemp = Temporary(errors.New("throttled"))

func newTestOutbox(rdb redis.UniversalClient, p Provider, clk *fakeClock, cfg OutboxConfig) *Outbox {
	return NewOutbox(OutboxParams{Redis: rdb, Namespace: "t", Provider: p, Now: clk.Now}, cfg)
}

func plain(text string) []Message { return []Message{NewMessage(text)} }

// fakeRecorder records ratings like the case core: once per idempotency
// key; the same key with other content is ErrAlreadyRated.
type fakeRecorder struct {
	mu      sync.Mutex
	byKey   map[string]RatingRecord
	ids     map[string]string
	Fail    error
	records []RatingRecord
}

func (r *fakeRecorder) RecordRating(ctx context.Context, rr RatingRecord) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Fail != nil {
		return "", r.Fail
	}
	if r.byKey == nil {
		r.byKey, r.ids = map[string]RatingRecord{}, map[string]string{}
	}
	if old, ok := r.byKey[rr.IdempotencyKey]; ok {
		if old != rr {
			return "", ErrAlreadyRated
		}
		return r.ids[rr.IdempotencyKey], nil
	}
	id := "R" + string(rune('0'+len(r.byKey)))
	r.byKey[rr.IdempotencyKey], r.ids[rr.IdempotencyKey] = rr, id
	r.records = append(r.records, rr)
	return id, nil
}

func (r *fakeRecorder) Records() []RatingRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]RatingRecord(nil), r.records...)
}

func miniForBench(b *testing.B) (any, *redis.Client) {
	if url := benchRedis(); url != "" {
		opt, _ := redis.ParseURL(url)
		c := redis.NewClient(opt)
		b.Cleanup(func() { c.Close() })
		return nil, c
	}
	s := redistest.Start(b)
	return s, s.Client(b)
}

// backendsOnce gives a table case its own miniredis (fast; the stateful
// tests run on both backends).
func backendsOnce(t *testing.T, out *redis.UniversalClient) {
	_, c := redistest.Mini(t)
	*out = c
}
