package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// EventConsumer reads the case core's event stream in a consumer group, so
// several processes share the work and a restart loses nothing: an entry
// is acknowledged (XACK) only after its handler returned nil (the
// invitation is durably queued) or a permanent error; entries left pending
// by a consumer that died are taken over (XAUTOCLAIM) after MinIdle.
type EventConsumer struct {
	rdb      redis.UniversalClient
	stream   string
	group    string
	consumer string
	handle   func(ctx context.Context, ev Event) error
	log      *slog.Logger
	// MinIdle is how long an entry stays pending before another consumer
	// takes it over; Block the longest wait for new entries; Count the most
	// entries one read returns; Linger how long to wait after a read that
	// returned fewer than Count before reading again (0: no wait).
	MinIdle time.Duration
	Block   time.Duration
	Count   int64
	Linger  time.Duration
}

// DefaultLinger is the consumer's default Linger. Under load it turns a
// thousand small reads a second into a few large ones, at the price of
// handling an entry up to DefaultLinger later; the first entry after a quiet
// spell is still read at once, by the blocking read.
const DefaultLinger = 100 * time.Millisecond

// Event is one entry of the case core's stream.
type Event struct {
	ID     string
	Type   string
	Fields map[string]string
}

// Permanent marks a handler error that retrying cannot fix: the entry is
// acknowledged and logged.
type Permanent struct{ Err error }

func (p *Permanent) Error() string { return p.Err.Error() }
func (p *Permanent) Unwrap() error { return p.Err }

// NewEventConsumer returns a consumer of stream in group, named consumer
// (unique per process).
func NewEventConsumer(rdb redis.UniversalClient, stream, group, consumer string, log *slog.Logger,
	handle func(ctx context.Context, ev Event) error) *EventConsumer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &EventConsumer{rdb: rdb, stream: stream, group: group, consumer: consumer, handle: handle, log: log,
		MinIdle: time.Minute, Block: time.Second, Count: 200, Linger: DefaultLinger}
}

// Run consumes until ctx ends.
func (c *EventConsumer) Run(ctx context.Context) error {
	for {
		err := c.rdb.XGroupCreateMkStream(ctx, c.stream, c.group, "0").Err()
		if err == nil || strings.Contains(err.Error(), "BUSYGROUP") {
			break
		}
		c.log.Warn("sms events: create consumer group", "err", err)
		if !sleepCtx(ctx, time.Second) {
			return nil
		}
	}
	lastClaim := time.Time{}
	for ctx.Err() == nil {
		if time.Since(lastClaim) >= c.MinIdle/2 {
			lastClaim = time.Now()
			c.reclaim(ctx)
		}
		res, err := c.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: c.group, Consumer: c.consumer,
			Streams: []string{c.stream, ">"}, Count: c.Count, Block: c.Block}).Result()
		if errors.Is(err, redis.Nil) || ctx.Err() != nil {
			continue
		}
		if err != nil {
			c.log.Warn("sms events: read", "err", err)
			if strings.Contains(err.Error(), "NOGROUP") {
				_ = c.rdb.XGroupCreateMkStream(ctx, c.stream, c.group, "0").Err()
			}
			sleepCtx(ctx, time.Second)
			continue
		}
		n := 0
		for _, s := range res {
			n += len(s.Messages)
			c.process(ctx, s.Messages)
		}
		if int64(n) < c.Count && c.Linger > 0 {
			// The stream is drained but busy: let entries gather.
			sleepCtx(ctx, c.Linger)
		}
	}
	return nil
}

// reclaim takes over entries pending longer than MinIdle, including this
// consumer's own from before a handler error.
func (c *EventConsumer) reclaim(ctx context.Context) {
	start := "0-0"
	for i := 0; i < 100 && ctx.Err() == nil; i++ {
		msgs, next, err := c.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: c.stream, Group: c.group,
			Consumer: c.consumer, MinIdle: c.MinIdle, Start: start, Count: c.Count}).Result()
		if err != nil {
			c.log.Warn("sms events: autoclaim", "err", err)
			return
		}
		c.process(ctx, msgs)
		if next == "0-0" || next == "" || len(msgs) == 0 {
			return
		}
		start = next
	}
}

func (c *EventConsumer) process(ctx context.Context, msgs []redis.XMessage) {
	// Entries handled (or dropped as permanent failures) are acknowledged
	// together at the end, in one XACK; those that failed stay pending.
	done := make([]string, 0, len(msgs))
	defer func() {
		if len(done) == 0 {
			return
		}
		// Entries handled during shutdown are still acknowledged, briefly,
		// so they are not handled again at the next start.
		ackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := c.rdb.XAck(ackCtx, c.stream, c.group, done...).Err(); err != nil {
			c.log.Warn("sms events: ack", "entries", len(done), "err", err)
		}
	}()
	for _, m := range msgs {
		ev := Event{ID: m.ID, Fields: make(map[string]string, len(m.Values))}
		for k, v := range m.Values {
			ev.Fields[k] = fmt.Sprint(v)
		}
		ev.Type = ev.Fields["type"]
		err := c.handle(ctx, ev)
		var perm *Permanent
		switch {
		case err == nil:
		case errors.As(err, &perm):
			c.log.Warn("sms events: entry dropped", "entry", m.ID, "type", ev.Type, "err", err)
		default:
			if ctx.Err() != nil {
				return // shutting down: the rest stays pending for the next start
			}
			c.log.Warn("sms events: entry left pending for a retry", "entry", m.ID, "type", ev.Type, "err", err)
			continue
		}
		done = append(done, m.ID)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
