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

// Hub reads the event stream with one blocking XREAD (from "$": live view
// only, no consumer group) and fans the events out to the SSE connections,
// so a hundred open dashboards cost one Redis connection, not a hundred.
type Hub struct {
	rdb    redis.UniversalClient
	stream string
	log    *slog.Logger

	mu   sync.Mutex
	subs map[chan LiveEvent]struct{}
}

// NewHub returns a hub of the event stream.
func NewHub(rdb redis.UniversalClient, stream string, log *slog.Logger) *Hub {
	return &Hub{rdb: rdb, stream: stream, log: log, subs: map[chan LiveEvent]struct{}{}}
}

// Subscribe returns a channel of live events and a function to end it.
func (h *Hub) Subscribe() (<-chan LiveEvent, func()) {
	ch := make(chan LiveEvent, 64)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
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

// Run reads the stream until ctx ends.
func (h *Hub) Run(ctx context.Context) error {
	// Start after the newest entry now in the stream ("$" once): a later "$"
	// would miss what arrived between two reads.
	last := ""
	for ctx.Err() == nil && last == "" {
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
	for ctx.Err() == nil {
		res, err := h.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{h.stream, last}, Count: 500, Block: 2 * time.Second}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			h.log.Warn("live events: read stream", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		for _, s := range res {
			for _, m := range s.Messages {
				last = m.ID
				v := m.Values
				h.publish(LiveEvent{Type: str(v["type"]), CaseID: str(v["case_id"]), Rating: str(v["rating_id"]),
					Unit: str(v["unit_id"]), State: str(v["state"]), From: str(v["from"])})
			}
		}
	}
	return nil
}
