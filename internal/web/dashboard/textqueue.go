package dashboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haochaping/haochaping/casecore"
)

// TextIndex keeps the text-review queue: the ratings whose comment waits for
// the administrator's 文本审核, including good ratings that open no case
// (casecore lists cases, not ratings by review state). It consumes the event
// stream with the consumer group "dashboard": rating_received adds the rating
// if its text review is pending, text_review removes it. The group starts at
// the beginning of the stream, so a first start indexes the stream's history;
// every step is idempotent, so a redelivered event does no harm. Listing
// re-reads each rating and drops any no longer pending.
type TextIndex struct {
	rdb      redis.UniversalClient
	store    casecore.Store
	k        keys
	stream   string
	consumer string
	log      *slog.Logger
}

// Group is the consumer group the dashboard reads the event stream with.
const Group = "dashboard"

// NewTextIndex returns the text-review index of a namespace.
func NewTextIndex(rdb redis.UniversalClient, store casecore.Store, namespace, stream string, log *slog.Logger) *TextIndex {
	host, _ := os.Hostname()
	if host == "" {
		host = "haochaping"
	}
	return &TextIndex{rdb: rdb, store: store, k: newKeys(namespace), stream: stream, consumer: host, log: log}
}

// Run consumes the event stream until ctx ends.
func (x *TextIndex) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		err := x.rdb.XGroupCreateMkStream(ctx, x.stream, Group, "0").Err()
		if err == nil || strings.Contains(err.Error(), "BUSYGROUP") {
			break
		}
		x.log.Warn("create consumer group", "err", err)
		sleep(ctx, 2*time.Second)
	}
	pending := true // first our own unacknowledged entries, then new ones
	for ctx.Err() == nil {
		id := ">"
		if pending {
			id = "0"
		}
		res, err := x.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: Group, Consumer: x.consumer,
			Streams: []string{x.stream, id}, Count: 200, Block: 2 * time.Second}).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if strings.Contains(err.Error(), "NOGROUP") {
				_ = x.rdb.XGroupCreateMkStream(ctx, x.stream, Group, "0").Err()
			} else {
				x.log.Warn("read event stream", "err", err)
			}
			sleep(ctx, time.Second)
			continue
		}
		n := 0
		var done []string // acknowledged together, in one XACK
		for _, s := range res {
			for _, m := range s.Messages {
				n++
				if err := x.handle(ctx, m.Values); err != nil {
					if ctx.Err() != nil {
						break // shutting down: the rest stays pending for the next start
					}
					x.log.Warn("text index", "event", m.ID, "err", err)
					continue // stays pending; retried on the next start
				}
				done = append(done, m.ID)
			}
		}
		if len(done) > 0 {
			ackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = x.rdb.XAck(ackCtx, x.stream, Group, done...).Err()
			cancel()
		}
		if ctx.Err() != nil {
			return nil
		}
		if pending && n == 0 {
			pending = false
		}
	}
	return nil
}

func (x *TextIndex) handle(ctx context.Context, v map[string]any) error {
	id := str(v["rating_id"])
	switch str(v["type"]) {
	case "rating_received":
		if str(v["comment"]) != "1" {
			return nil // no comment, nothing to review
		}
		r, err := x.store.GetRating(ctx, id)
		if errors.Is(err, casecore.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return x.Index(ctx, r)
	case "text_review":
		return x.rdb.ZRem(ctx, x.k.textQueue(), id).Err()
	}
	return nil
}

// Index adds r to the queue if its text review is pending, else removes it.
func (x *TextIndex) Index(ctx context.Context, r *casecore.Rating) error {
	if r.TextReview == nil || r.TextReview.Status != casecore.TextPending {
		return x.rdb.ZRem(ctx, x.k.textQueue(), r.ID).Err()
	}
	score := float64(r.ReceivedAt.UnixMilli())
	if c := r.TextReview.Clock; c != nil {
		score = float64(c.DueAt.UnixMilli())
	}
	return x.rdb.ZAdd(ctx, x.k.textQueue(), redis.Z{Score: score, Member: r.ID}).Err()
}

// Pending returns up to limit ratings whose text review is pending, earliest
// due first, of the units the actor may see.
func (x *TextIndex) Pending(ctx context.Context, actor casecore.Actor, limit int) ([]*casecore.Rating, error) {
	var out []*casecore.Rating
	for off := int64(0); len(out) < limit; off += 500 {
		ids, err := x.rdb.ZRange(ctx, x.k.textQueue(), off, off+499).Result()
		if err != nil {
			return nil, fmt.Errorf("text queue: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		rs, err := x.store.GetRatings(ctx, ids)
		if err != nil {
			return nil, err
		}
		for i, r := range rs {
			if r == nil || r.TextReview == nil || r.TextReview.Status != casecore.TextPending {
				_ = x.rdb.ZRem(ctx, x.k.textQueue(), ids[i]).Err()
				continue
			}
			if actor.CanSeeUnit(r.UnitID) {
				out = append(out, r)
				if len(out) == limit {
					break
				}
			}
		}
		if len(ids) < 500 {
			break
		}
	}
	return out, nil
}

// Count returns the number of ratings in the queue (of all units).
func (x *TextIndex) Count(ctx context.Context) (int64, error) {
	return x.rdb.ZCard(ctx, x.k.textQueue()).Result()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
