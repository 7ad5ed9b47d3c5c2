package sms

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/haochaping/haochaping/internal/redistest"
)

// recount counts the outbox's message hashes by state, scanning
// {ns}:sms:msg:*, with every state present (zero included).
func recount(t *testing.T, rdb redis.UniversalClient, o *Outbox) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	out := map[string]int64{}
	for _, st := range States {
		out[st] = 0
	}
	iter := rdb.Scan(ctx, 0, o.k.msg("*"), 100).Iterator()
	seen := map[string]bool{}
	for iter.Next(ctx) {
		k := iter.Val()
		if seen[k] {
			continue
		}
		seen[k] = true
		st, err := rdb.HGet(ctx, k, "state").Result()
		if err != nil {
			t.Fatalf("recount: %s: %v", k, err)
		}
		out[st]++
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkCounts asserts that Counts equals a recount of the message hashes
// and, if want is not nil, the expected numbers (states not named are 0).
func checkCounts(t *testing.T, rdb redis.UniversalClient, o *Outbox, step string, want map[string]int64) {
	t.Helper()
	got, err := o.Counts(context.Background())
	if err != nil {
		t.Fatalf("%s: counts: %v", step, err)
	}
	if re := recount(t, rdb, o); !maps.Equal(got, re) {
		t.Errorf("%s: counts %v, recount of the messages %v", step, got, re)
	}
	if want != nil {
		full := map[string]int64{}
		for _, st := range States {
			full[st] = want[st]
		}
		if !maps.Equal(got, full) {
			t.Errorf("%s: counts %v, want %v", step, got, full)
		}
	}
}

func TestOutboxCountsFollowMessages(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock(at(2026, 3, 2, 10, 0))
		fail := map[string]error{}
		p := &fakeProvider{SendFunc: func(ctx context.Context, m OutMessage) ([]string, error) {
			return nil, fail[m.To]
		}}
		o := newTestOutbox(rdb, p, clk, OutboxConfig{MaxAttempts: 2, BackoffMin: time.Second, BackoffMax: time.Second})
		checkCounts(t, rdb, o, "empty", nil)

		// queued → sending → sent → delivered.
		a, _ := o.Enqueue(ctx, "ack", "13800000001", "", plain("a"))
		checkCounts(t, rdb, o, "enqueued", map[string]int64{StateQueued: 1})
		claimed, err := o.claim(ctx, 10)
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		checkCounts(t, rdb, o, "claimed", map[string]int64{StateSending: 1})
		o.send(claimed[0])
		checkCounts(t, rdb, o, "sent", map[string]int64{StateSent: 1})
		if _, res, err := o.ApplyReceipt(ctx, "fake", Receipt{MessageID: "p-" + a[0], Status: ReceiptDelivered}); err != nil || res != "delivered" {
			t.Fatalf("receipt: %s %v", res, err)
		}
		checkCounts(t, rdb, o, "delivered", map[string]int64{StateDelivered: 1})
		o.ApplyReceipt(ctx, "fake", Receipt{MessageID: "p-" + a[0], Status: ReceiptDelivered}) // repeated
		checkCounts(t, rdb, o, "delivered again", map[string]int64{StateDelivered: 1})

		// A retry goes back to queued, then fails for good after MaxAttempts.
		fail["13800000002"] = errTemp
		b, _ := o.Enqueue(ctx, "ack", "13800000002", "", plain("b"))
		o.SendDue(ctx)
		checkCounts(t, rdb, o, "retry", map[string]int64{StateDelivered: 1, StateQueued: 1})
		clk.Add(time.Second)
		o.SendDue(ctx)
		checkCounts(t, rdb, o, "failed after retries", map[string]int64{StateDelivered: 1, StateFailed: 1})
		if m, _ := o.Get(ctx, b[0]); m.State != StateFailed {
			t.Fatalf("state %s", m.State)
		}

		// A permanent error fails at once; a receipt fails a sent message.
		fail["13800000003"] = errors.New("rejected")
		o.Enqueue(ctx, "ack", "13800000003", "", plain("c"))
		d, _ := o.Enqueue(ctx, "ack", "13800000004", "", plain("d"))
		o.SendDue(ctx)
		checkCounts(t, rdb, o, "rejected", map[string]int64{StateDelivered: 1, StateFailed: 2, StateSent: 1})
		o.ApplyReceipt(ctx, "fake", Receipt{MessageID: "p-" + d[0], Status: ReceiptExpired})
		checkCounts(t, rdb, o, "receipt expired", map[string]int64{StateDelivered: 1, StateFailed: 2, StateExpired: 1})

		// Expiry before the send, suppression, and a window deferral.
		s := o.newSpec("ack", "13800000005", NewMessage("e"), clk.Now(), clk.Now().Add(time.Minute), false)
		if _, err := enqueueScript.Run(ctx, rdb, []string{o.k.due()}, o.k.p, clk.Now().UnixMilli(), specsJSON([]spec{s}), "").Result(); err != nil {
			t.Fatal(err)
		}
		rdb.SAdd(ctx, o.k.sup(), "13800000006")
		o.Enqueue(ctx, "ack", "13800000006", "", plain("f"))
		night := o.newSpec(string(KindInvitation), "13800000007", NewMessage("g"), clk.Now(), time.Time{}, true)
		night.Due = clk.Now().UnixMilli()
		enqueueScript.Run(ctx, rdb, []string{o.k.due()}, o.k.p, clk.Now().UnixMilli(), specsJSON([]spec{night}), "")
		checkCounts(t, rdb, o, "three more queued", map[string]int64{StateDelivered: 1, StateFailed: 2, StateExpired: 1, StateQueued: 3})
		clk.Set(at(2026, 3, 2, 23, 0)) // the window is closed and e's minute is over
		o.SendDue(ctx)
		checkCounts(t, rdb, o, "expired, suppressed, deferred", map[string]int64{StateDelivered: 1, StateFailed: 3, StateExpired: 2, StateQueued: 1})

		// Finished messages are forgotten after KeepTerminal, with their counts.
		clk.Add(o.Config().KeepTerminal + time.Hour)
		o.SendDue(ctx)
		checkCounts(t, rdb, o, "after KeepTerminal", map[string]int64{StateQueued: 1})
		if n := len(p.Sent()); n != 2 {
			t.Errorf("sent %d, want 2", n)
		}
	})
}

// TestOutboxCountsWhenRedisExpiresFirst lets Redis expire finished
// messages before the outbox's clock reaches their end: the next sweep
// takes them off the counts.
func TestOutboxCountsWhenRedisExpiresFirst(t *testing.T) {
	mr, rdb := redistest.Mini(t)
	ctx := context.Background()
	clk := newClock(at(2026, 3, 2, 10, 0))
	o := newTestOutbox(rdb, &fakeProvider{}, clk, OutboxConfig{KeepTerminal: time.Hour})
	o.Enqueue(ctx, "ack", "13800000001", "", plain("a"))
	o.Enqueue(ctx, "ack", "13800000002", "", plain("b"))
	o.SendDue(ctx)
	o.ApplyReceipt(ctx, "fake", Receipt{MessageID: "p-M1", Status: ReceiptDelivered})
	checkCounts(t, rdb, o, "sent", map[string]int64{StateSent: 1, StateDelivered: 1})
	mr.FastForward(time.Hour + time.Second)
	clk.Add(time.Hour + time.Second)
	o.SendDue(ctx)
	checkCounts(t, rdb, o, "expired by Redis, then swept", map[string]int64{})
}

// TestOutboxCountsRecountWhenMissing starts counting on a Redis that holds
// messages but no counts (an upgrade): the first script recounts them,
// TTLs included.
func TestOutboxCountsRecountWhenMissing(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock(at(2026, 3, 2, 10, 0))
		o := newTestOutbox(rdb, &fakeProvider{}, clk, OutboxConfig{Batch: 2})
		for _, to := range []string{"13800000001", "13800000002", "13800000003", "13800000004"} {
			o.Enqueue(ctx, "ack", to, "", plain("x"))
		}
		o.SendDue(ctx) // two sent, two queued
		rdb.Del(ctx, o.k.states(), o.k.end())
		o.Enqueue(ctx, "ack", "13800000005", "", plain("x"))
		checkCounts(t, rdb, o, "recounted", map[string]int64{StateSent: 2, StateQueued: 3})
		for n, _ := o.SendDue(ctx); n > 0; n, _ = o.SendDue(ctx) {
		}
		checkCounts(t, rdb, o, "all sent", map[string]int64{StateSent: 5})
		rdb.Del(ctx, o.k.states(), o.k.end())
		checkCounts(t, rdb, o, "recounted by Counts", map[string]int64{StateSent: 5})
		clk.Add(o.Config().KeepTerminal + time.Hour)
		o.SendDue(ctx)
		checkCounts(t, rdb, o, "swept after the recount", map[string]int64{})
	})
}

func TestOutboxGatewayState(t *testing.T) {
	_, rdb := redistest.Mini(t)
	ctx := context.Background()
	clk := newClock(at(2026, 3, 2, 10, 0))
	var err error
	o := newTestOutbox(rdb, &fakeProvider{SendFunc: func(ctx context.Context, m OutMessage) ([]string, error) {
		return nil, err
	}}, clk, OutboxConfig{BackoffMin: time.Second, BackoffMax: time.Second})
	if got := o.GatewayState(); got != "no sends yet" {
		t.Errorf("before sends: %q", got)
	}
	o.Enqueue(ctx, "ack", "13800000001", "", plain("a"))
	o.SendDue(ctx)
	if got := o.GatewayState(); got != "ok" {
		t.Errorf("after a send: %q", got)
	}
	err = Temporary(errors.New("dial tcp: password=secret 13800000001"))
	o.Enqueue(ctx, "ack", "13800000001", "", plain("b"))
	o.SendDue(ctx)
	clk.Add(2 * time.Second)
	o.SendDue(ctx)
	if got := o.GatewayState(); got != "failing since 2026-03-02 10:00:00" {
		t.Errorf("after failures: %q", got)
	}
	err = nil
	clk.Add(time.Minute)
	o.SendDue(ctx)
	if got := o.GatewayState(); got != "ok" {
		t.Errorf("after recovery: %q", got)
	}
	c := newTestOutbox(rdb, NewConsole(rdb, "t"), clk, OutboxConfig{})
	if got := c.GatewayState(); got != "console" {
		t.Errorf("console: %q", got)
	}
}

func TestOutboxGauge(t *testing.T) {
	_, rdb := redistest.Mini(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	clk := newClock(at(2026, 3, 2, 10, 0))
	gauge := func() map[string]float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, mf := range mfs {
			if mf.GetName() != "haochaping_sms_outbox_messages" {
				continue
			}
			for _, x := range mf.GetMetric() {
				out[x.GetLabel()[0].GetValue()] = x.GetGauge().GetValue()
			}
		}
		return out
	}
	if g := gauge(); len(g) != 0 {
		t.Errorf("gauge before an outbox: %v", g)
	}
	o := NewOutbox(OutboxParams{Redis: rdb, Namespace: "t", Provider: &fakeProvider{}, Metrics: m, Now: clk.Now}, OutboxConfig{})
	o.Enqueue(ctx, "ack", "13800000001", "", plain("a"))
	o.Enqueue(ctx, "ack", "13800000002", "", plain("b"))
	o.claim(ctx, 1)
	want := map[string]float64{StateQueued: 1, StateSending: 1, StateSent: 0, StateDelivered: 0, StateFailed: 0, StateExpired: 0}
	if g := gauge(); !maps.Equal(g, want) {
		t.Errorf("gauge %v, want %v", g, want)
	}
	rdb.Close() // Redis unreachable: no series rather than stale ones
	if g := gauge(); len(g) != 0 {
		t.Errorf("gauge without Redis: %v", g)
	}
}
