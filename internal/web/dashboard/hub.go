package dashboard

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// LiveEvent is what a browser receives of an event: identifiers and the
// state, never a phone number or name.
type LiveEvent struct {
	Type   string `json:"type"`
	CaseID string `json:"case_id,omitempty"`
	Rating string `json:"rating_id,omitempty"`
	Unit   string `json:"unit_id,omitempty"`
	State  string `json:"state,omitempty"`
	From   string `json:"from,omitempty"`
}

const (
	// hubCount is the most entries one XREAD returns.
	hubCount = 500
	// hubBlock is the longest one XREAD waits for a new entry when the
	// stream is quiet.
	hubBlock = 2 * time.Second
	// hubLinger is how long the hub waits after a read that did not fill
	// hubCount before it reads again. Under load this turns a thousand small
	// reads a second into a few large ones, at the price of live updates up
	// to hubLinger late; the first entry after a quiet spell still arrives at
	// once, through the blocking read.
	hubLinger = 100 * time.Millisecond
	// subBuffer is how many events a subscriber's channel holds: what the hub
	// gathers in one linger at the peak rate (about 10,000 events a second),
	// so a browser that keeps up on average loses nothing to the batching.
	subBuffer = 1024
)

// Hub reads the event stream with one blocking XREAD (live view only, no
// consumer group) and fans the events out to the SSE connections, so a
// hundred open dashboards cost one Redis connection, not a hundred. While
// nobody is subscribed it does not read at all.
type Hub struct {
	rdb    redis.UniversalClient
	stream string
	log    *slog.Logger
	// count, block and linger are hubCount, hubBlock and hubLinger; tests
	// shorten them.
	count         int64
	block, linger time.Duration

	mu   sync.Mutex
	subs map[chan LiveEvent]struct{}
	// wake is signalled when the first subscriber arrives, so an idle Run
	// starts reading without polling.
	wake chan struct{}
}

// NewHub returns a hub of the event stream.
func NewHub(rdb redis.UniversalClient, stream string, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{rdb: rdb, stream: stream, log: log, count: hubCount, block: hubBlock, linger: hubLinger,
		subs: map[chan LiveEvent]struct{}{}, wake: make(chan struct{}, 1)}
}

// Subscribe returns a channel of live events and a function to end it. The
// first subscriber of an idle hub receives the entries added after the hub
// resumed reading, which it does at once.
func (h *Hub) Subscribe() (<-chan LiveEvent, func()) {
	ch := make(chan LiveEvent, subBuffer)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	first := len(h.subs) == 1
	h.mu.Unlock()
	if first {
		select {
		case h.wake <- struct{}{}:
		default: // a signal is already waiting
		}
	}
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

// Subscribers returns the number of open subscriptions.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *Hub) publish(e LiveEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- e:
		default: // a slow browser misses an event; its next one reloads anyway
		}
	}
}

// Run reads the stream while anybody is subscribed, until ctx ends.
func (h *Hub) Run(ctx context.Context) error {
	for h.awaitSubscriber(ctx) {
		h.follow(ctx)
	}
	return nil
}

// awaitSubscriber waits until somebody is subscribed; it reports false if
// ctx ended first.
func (h *Hub) awaitSubscriber(ctx context.Context) bool {
	for h.Subscribers() == 0 {
		select {
		case <-ctx.Done():
			return false
		case <-h.wake:
		}
	}
	return ctx.Err() == nil
}

// follow reads and publishes the entries added from now on, until nobody
// is subscribed any more or ctx ends.
func (h *Hub) follow(ctx context.Context) {
	// Start after the newest entry now in the stream ("$" once): a later "$"
	// would miss what arrived between two reads.
	last := ""
	for last == "" {
		if ctx.Err() != nil || h.Subscribers() == 0 {
			return
		}
		xs, err := h.rdb.XRevRangeN(ctx, h.stream, "+", "-", 1).Result()
		switch {
		case err != nil:
			h.log.Warn("live events: read stream", "err", err)
			sleep(ctx, time.Second)
		case len(xs) == 0:
			last = "0-0"
		default:
			last = xs[0].ID
		}
	}
	for ctx.Err() == nil && h.Subscribers() > 0 {
		res, err := h.read(ctx, last)
		if errors.Is(err, redis.Nil) {
			continue // quiet: the read blocked for h.block and found nothing
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			h.log.Warn("live events: read stream", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		n := 0
		for _, s := range res {
			for _, m := range s.Messages {
				n++
				last = m.ID
				v := m.Values
				h.publish(LiveEvent{Type: str(v["type"]), CaseID: str(v["case_id"]), Rating: str(v["rating_id"]),
					Unit: str(v["unit_id"]), State: str(v["state"]), From: str(v["from"])})
			}
		}
		if n < int(h.count) && h.linger > 0 {
			// The stream is drained but busy: let entries gather.
			sleep(ctx, h.linger)
		}
	}
}

// read runs one blocking XREAD after last. It returns when ctx ends even if
// the read is still blocked: go-redis does not interrupt a read on
// cancellation, so an abandoned read ends by itself within h.block (or when
// the client is closed) and its result is dropped.
func (h *Hub) read(ctx context.Context, last string) ([]redis.XStream, error) {
	type result struct {
		res []redis.XStream
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := h.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{h.stream, last}, Count: h.count,
			Block: h.block}).Result()
		done <- result{res, err}
	}()
	select {
	case r := <-done:
		return r.res, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
