package sms

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestOutboxRestartMidSendLosesNothingSendsNothingTwice(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock(at(2026, 3, 2, 10, 0))
		release := make(chan struct{})
		var inFlight atomic.Int32
		var mu sync.Mutex
		count := map[string]int{}
		first := &fakeProvider{SendFunc: func(ctx context.Context, m OutMessage) ([]string, error) {
			inFlight.Add(1)
			<-release // the send is in progress when the process is told to stop
			return nil, nil
		}}
		cfg := OutboxConfig{Concurrency: 4, Batch: 4, Poll: 10 * time.Millisecond, DailyCap: 100}
		a := newTestOutbox(rdb, first, clk, cfg)
		var ids []string
		for i := range 20 {
			got, err := a.Enqueue(ctx, "ack", fmt.Sprintf("1380013%04d", i), "", plain("hello"))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, got...)
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- a.Run(runCtx) }()
		for inFlight.Load() < 4 {
			time.Sleep(time.Millisecond)
		}
		stop() // shutdown while four sends are in flight
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		for _, m := range first.Sent() {
			count[m.ID]++
		}
		// The sends in flight were recorded as sent; nothing else left the first process.
		if n := len(first.Sent()); n != 4 {
			t.Fatalf("first process sent %d, want the 4 in flight", n)
		}
		second := &fakeProvider{}
		b := newTestOutbox(rdb, second, clk, cfg)
		for {
			n, err := b.SendDue(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, m := range second.Sent() {
			count[m.ID]++
		}
		for _, id := range ids {
			if count[id] != 1 {
				t.Errorf("message %s sent %d times", id, count[id])
			}
			m, err := b.Get(ctx, id)
			if err != nil || m.State != StateSent {
				t.Errorf("message %s: state %v, err %v", id, m, err)
			}
		}
		checkCounts(t, rdb, b, "after the restart", map[string]int64{StateSent: int64(len(ids))})
	})
}

func TestOutboxCrashDuringSendResendsAfterLeaseWithSameRef(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock(at(2026, 3, 2, 10, 0))
		a := newTestOutbox(rdb, &fakeProvider{}, clk, OutboxConfig{})
		ids, _ := a.Enqueue(ctx, "ack", "13800138000", "", plain("hello"))
		claimed, err := a.claim(ctx, 10) // the process dies before recording the outcome
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %v %v", claimed, err)
		}
		checkCounts(t, rdb, a, "claimed by a process that dies", map[string]int64{StateSending: 1})
		p := &fakeProvider{}
		b := newTestOutbox(rdb, p, clk, OutboxConfig{})
		if n, _ := b.SendDue(ctx); n != 0 {
			t.Fatal("a message under lease was sent by another process")
		}
		clk.Add(a.Config().Lease + time.Second)
		if n, _ := b.SendDue(ctx); n != 1 {
			t.Fatal("the lapsed lease was not taken over")
		}
		if got := p.Sent(); got[0].UserRef != claimed[0].UserRef || got[0].ID != ids[0] {
			t.Errorf("resend %+v, want the same message and user reference %d", got[0], claimed[0].UserRef)
		}
		m, _ := b.Get(ctx, ids[0])
		if m.State != StateSent || m.Attempts != 2 {
			t.Errorf("state %s attempts %d", m.State, m.Attempts)
		}
		// The first process's late outcome does not overwrite the second's.
		a.send(claimed[0])
		if m2, _ := b.Get(ctx, ids[0]); m2.State != StateSent {
			t.Errorf("state after stale completion: %s", m2.State)
		}
		checkCounts(t, rdb, b, "after the lease was taken over", map[string]int64{StateSent: 1})
	})
}

func TestOutboxRetriesWithBackoff(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock(at(2026, 3, 2, 10, 0))
		fails := 2
		p := &fakeProvider{SendFunc: func(ctx context.Context, m OutMessage) ([]string, error) {
			if fails > 0 {
				fails--
				return nil, errTemp
			}
			return nil, nil
		}}
		o := newTestOutbox(rdb, p, clk, OutboxConfig{BackoffMin: time.Second, BackoffMax: time.Minute})
		ids, _ := o.Enqueue(ctx, "ack", "13800138000", "", plain("hello"))
		for attempt, want := range []time.Duration{time.Second, 2 * time.Second} {
			if n, _ := o.SendDue(ctx); n != 1 {
				t.Fatalf("attempt %d not made", attempt+1)
			}
			m, _ := o.Get(ctx, ids[0])
			wait := m.Due.Sub(clk.Now())
			if m.State != StateQueued || wait < want/2 || wait > want {
				t.Fatalf("after failure %d: state %s, next in %v, want %v/2..%v", attempt+1, m.State, wait, want, want)
			}
			if n, _ := o.SendDue(ctx); n != 0 {
				t.Fatal("retried before its backoff")
			}
			clk.Add(wait)
		}
		if n, _ := o.SendDue(ctx); n != 1 || len(p.Sent()) != 1 {
			t.Fatal("third attempt not made")
		}
		if m, _ := o.Get(ctx, ids[0]); m.State != StateSent || m.Attempts != 3 {
			t.Errorf("state %s attempts %d", m.State, m.Attempts)
		}
	})
}

func TestOutboxGivesUpAfterMaxAttemptsAndOnPermanentErrors(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock(at(2026, 3, 2, 10, 0))
		p := &fakeProvider{SendFunc: func(ctx context.Context, m OutMessage) ([]string, error) {
			if m.To == "13800000001" {
				return nil, fmt.Errorf("rejected: bad number")
			}
			return nil, errTemp
		}}
		o := newTestOutbox(rdb, p, clk, OutboxConfig{MaxAttempts: 3, BackoffMin: time.Second, BackoffMax: time.Second})
		perm, _ := o.Enqueue(ctx, "ack", "13800000001", "", plain("x"))
		temp, _ := o.Enqueue(ctx, "ack", "13800000002", "", plain("x"))
		for range 5 {
			o.SendDue(ctx)
			clk.Add(2 * time.Second)
		}
		for _, id := range []string{perm[0], temp[0]} {
			if m, _ := o.Get(ctx, id); m.State != StateFailed {
				t.Errorf("%s: state %s, want failed", id, m.State)
			}
		}
		if m, _ := o.Get(ctx, temp[0]); m.Attempts != 3 {
			t.Errorf("attempts %d, want 3", m.Attempts)
		}
	})
}

func TestOutboxSendWindow(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock(at(2026, 3, 2, 22, 30))
		p := &fakeProvider{}
		o := newTestOutbox(rdb, p, clk, OutboxConfig{})
		s := o.newSpec(string(KindInvitation), "13800138000", NewMessage("invite"), clk.Now(), time.Time{}, true)
		if want := at(2026, 3, 3, 8, 0).UnixMilli(); s.Due != want {
			t.Fatalf("due %v, want next 08:00", time.UnixMilli(s.Due))
		}
		ids, err := enqueueScript.Run(ctx, rdb, []string{o.k.due()}, o.k.p, clk.Now().UnixMilli(), specsJSON([]spec{s}), "").StringSlice()
		if err != nil {
			t.Fatal(err)
		}
		// A windowed message that fell due at night (a retry) waits too.
		late := o.newSpec(string(KindInvitation), "13800138001", NewMessage("invite"), at(2026, 3, 2, 20, 0), time.Time{}, true)
		late.Due = clk.Now().UnixMilli()
		enqueueScript.Run(ctx, rdb, []string{o.k.due()}, o.k.p, clk.Now().UnixMilli(), specsJSON([]spec{late}), "")
		if n, _ := o.SendDue(ctx); n != 0 {
			t.Fatal("sent at night")
		}
		clk.Set(at(2026, 3, 3, 7, 59))
		if n, _ := o.SendDue(ctx); n != 0 {
			t.Fatal("sent before 08:00")
		}
		clk.Set(at(2026, 3, 3, 8, 0))
		if n, _ := o.SendDue(ctx); n != 2 {
			t.Fatalf("sent %d at 08:00, want 2", n)
		}
		if m, _ := o.Get(ctx, ids[0]); m.State != StateSent {
			t.Errorf("state %s", m.State)
		}
	})
}

func TestOutboxDailyCapAndSuppression(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock(at(2026, 3, 2, 10, 0))
		p := &fakeProvider{}
		o := newTestOutbox(rdb, p, clk, OutboxConfig{DailyCap: 2})
		var ids []string
		for range 3 {
			got, _ := o.Enqueue(ctx, "ack", "13800138000", "", plain("x"))
			ids = append(ids, got...)
		}
		sup, _ := o.Enqueue(ctx, "ack", "13900139000", "", plain("x"))
		rdb.SAdd(ctx, o.k.sup(), "13900139000")
		o.SendDue(ctx)
		if n := len(p.SentTo("13800138000")); n != 2 {
			t.Fatalf("sent %d to one number, cap 2", n)
		}
		if len(p.SentTo("13900139000")) != 0 {
			t.Fatal("sent to a suppressed number")
		}
		if m, _ := o.Get(ctx, sup[0]); m.State != StateFailed || m.Error != "suppressed" {
			t.Errorf("suppressed message: %s %s", m.State, m.Error)
		}
		m, _ := o.Get(ctx, ids[2])
		if m.State != StateQueued || !m.Due.Equal(at(2026, 3, 3, 8, 0)) {
			t.Fatalf("capped message: %s due %v", m.State, m.Due)
		}
		clk.Set(at(2026, 3, 3, 8, 0))
		o.SendDue(ctx)
		if n := len(p.SentTo("13800138000")); n != 3 {
			t.Fatalf("capped message not sent the next day (%d)", n)
		}
	})
}

func TestOutboxReceiptsPerSegment(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock(at(2026, 3, 2, 10, 0))
		p := &fakeProvider{SendFunc: func(ctx context.Context, m OutMessage) ([]string, error) {
			return nil, nil
		}}
		o := newTestOutbox(rdb, segProvider{}, clk, OutboxConfig{})
		long := NewMessage(string(make([]rune, 0)) + fmt.Sprintf("%0100d", 0))
		ids, _ := o.Enqueue(ctx, "ack", "13800138000", "", []Message{long})
		_ = p
		o.SendDue(ctx)
		if _, res, _ := o.ApplyReceipt(ctx, "seg", Receipt{MessageID: "1A", Status: ReceiptDelivered}); res != "partial" {
			t.Fatalf("first segment: %s", res)
		}
		if _, res, _ := o.ApplyReceipt(ctx, "seg", Receipt{MessageID: "1A", Status: ReceiptDelivered}); res != "partial" {
			t.Fatalf("repeated receipt of the first segment: %s", res)
		}
		if id, res, _ := o.ApplyReceipt(ctx, "seg", Receipt{MessageID: "1B", Status: ReceiptDelivered}); res != "delivered" || id != ids[0] {
			t.Fatalf("second segment: %s %s", res, id)
		}
		if _, res, _ := o.ApplyReceipt(ctx, "seg", Receipt{MessageID: "zz", Status: ReceiptDelivered}); res != "unknown" {
			t.Fatalf("unknown id: %s", res)
		}
		if m, _ := o.Get(ctx, ids[0]); m.State != StateDelivered || len(m.ProviderIDs) != 2 {
			t.Errorf("state %s ids %v", m.State, m.ProviderIDs)
		}
	})
}

// segProvider acknowledges two segments with their own ids.
type segProvider struct{}

func (segProvider) Name() string { return "seg" }
func (segProvider) Send(ctx context.Context, m OutMessage) ([]string, error) {
	return []string{"1A", "1B"}, nil
}

func BenchmarkOutboxEnqueue(b *testing.B) {
	_, rdb := miniForBench(b)
	o := NewOutbox(OutboxParams{Redis: rdb, Namespace: "b", Provider: &fakeProvider{}}, OutboxConfig{})
	ctx := context.Background()
	msgs := plain("【奉化12345】请评价您11月27日来电的办理服务：回复1非常满意，2满意，3基本满意，4不满意，5非常不满意。回TD退订")
	b.ResetTimer()
	for b.Loop() {
		if _, err := o.Enqueue(ctx, "invitation", "13800138000", "", msgs); err != nil {
			b.Fatal(err)
		}
	}
}

// TestOutboxReceiptBeforeSendReturns: a gateway that delivers at once
// (Kannel's fake SMSC) reports delivery before its send call returns. The
// receipt must not be lost, and the message still counts as sent.
func TestOutboxReceiptBeforeSendReturns(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		clk := newClock(at(2026, 3, 2, 10, 0))
		var o *Outbox
		p := &fakeProvider{SendFunc: func(ctx context.Context, m OutMessage) ([]string, error) {
			if _, res, err := o.ApplyReceipt(ctx, "fake", Receipt{MessageID: m.ID, Status: ReceiptDelivered, OwnID: true}); err != nil || res != "delivered" {
				t.Errorf("early receipt: %s %v", res, err)
			}
			return []string{m.ID}, nil
		}}
		o = newTestOutbox(rdb, p, clk, OutboxConfig{})
		ids, err := o.Enqueue(ctx, "ack", "13800138000", "", plain("【奉化12345】感谢您的评价！"))
		if err != nil {
			t.Fatal(err)
		}
		o.SendDue(ctx)
		m, err := o.Get(ctx, ids[0])
		if err != nil || m.State != StateDelivered || m.Provider != "fake" {
			t.Fatalf("message %+v %v, want delivered and recorded as sent by fake", m, err)
		}
		checkCounts(t, rdb, o, "after an early receipt", map[string]int64{StateDelivered: 1})
	})
}
