package sms

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestEventConsumerAcksAfterHandlingAndReclaims(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		const stream = "{t}:events"
		for _, id := range []string{"N1", "N2", "N3"} {
			rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"type", "no_rating", "rating_id", id}})
		}
		rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"type", "case_opened", "case_id", "C1"}})
		var mu sync.Mutex
		seen := map[string][]string{}
		handler := func(name string, failN2 bool) func(ctx context.Context, ev Event) error {
			return func(ctx context.Context, ev Event) error {
				mu.Lock()
				defer mu.Unlock()
				seen[name] = append(seen[name], ev.Fields["rating_id"]+ev.Fields["case_id"])
				if failN2 && ev.Fields["rating_id"] == "N2" {
					return errors.New("redis down") // left pending
				}
				return nil
			}
		}
		a := NewEventConsumer(rdb, stream, "sms", "a", nil, handler("a", true))
		a.MinIdle, a.Block = time.Hour, 20*time.Millisecond
		actx, stop := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- a.Run(actx) }()
		waitUntil(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen["a"]) == 4 })
		stop()
		<-done
		pend, err := rdb.XPending(ctx, stream, "sms").Result()
		if err != nil || pend.Count != 1 {
			t.Fatalf("pending %+v %v, want N2 only", pend, err)
		}
		// Another process takes over the entry of the "dead" consumer.
		b := NewEventConsumer(rdb, stream, "sms", "b", nil, handler("b", false))
		b.MinIdle, b.Block = time.Millisecond, 20*time.Millisecond
		time.Sleep(5 * time.Millisecond)
		bctx, stopB := context.WithCancel(ctx)
		go func() { done <- b.Run(bctx) }()
		waitUntil(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen["b"]) == 1 })
		stopB()
		<-done
		if seen["b"][0] != "N2" {
			t.Errorf("b handled %v", seen["b"])
		}
		if pend, _ := rdb.XPending(ctx, stream, "sms").Result(); pend.Count != 0 {
			t.Errorf("still pending: %+v", pend)
		}
	})
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
