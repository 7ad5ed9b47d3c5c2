package ivr

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/haochaping/haochaping/internal/clock"
	"github.com/haochaping/haochaping/internal/syncbuf"
	"github.com/prometheus/client_golang/prometheus"
)

// watchdog bounds every wait of a test for the flow; it is never reached
// when the flow behaves.
const watchdog = 5 * time.Second

var errCallEnded = errors.New("fake call: ended")

// playReq is one call of fakeCall.Play, held until the test finishes it.
type playReq struct {
	prompt PromptID
	finish chan error // send nil: played to the end
}

// fakeCall is a Call driven by the test through channels.
type fakeCall struct {
	plays   chan playReq
	digits  chan rune
	done    chan struct{}
	endOnce sync.Once

	mu      sync.Mutex
	hangups int
}

func newFakeCall() *fakeCall {
	return &fakeCall{
		plays:  make(chan playReq),
		digits: make(chan rune, 16),
		done:   make(chan struct{}),
	}
}

func (c *fakeCall) Play(ctx context.Context, p PromptID) error {
	req := playReq{prompt: p, finish: make(chan error, 1)}
	select {
	case c.plays <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return errCallEnded
	}
	select {
	case err := <-req.finish:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return errCallEnded
	}
}

func (c *fakeCall) Digits() <-chan rune { return c.digits }

func (c *fakeCall) Hangup(context.Context) error {
	c.mu.Lock()
	c.hangups++
	c.mu.Unlock()
	c.end()
	return nil
}

func (c *fakeCall) Done() <-chan struct{} { return c.done }

// end ends the call, as a caller's BYE does.
func (c *fakeCall) end() { c.endOnce.Do(func() { close(c.done) }) }

func (c *fakeCall) hangupCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hangups
}

// fakeTimer is one call of fakeTimers.After.
type fakeTimer struct {
	d  time.Duration
	ch chan time.Time
}

// fakeTimers reports every timer the flow asks for; the test fires them.
type fakeTimers struct{ reqs chan fakeTimer }

func (f *fakeTimers) After(d time.Duration) <-chan time.Time {
	t := fakeTimer{d: d, ch: make(chan time.Time, 1)}
	f.reqs <- t
	return t.ch
}

// fakeRecorder records results; RecordFunc, if set, decides each attempt's
// error.
type fakeRecorder struct {
	mu         sync.Mutex
	attempts   []Result
	RecordFunc func(attempt int, res Result) error
}

func (r *fakeRecorder) RecordRating(_ context.Context, res Result) error {
	r.mu.Lock()
	r.attempts = append(r.attempts, res)
	n := len(r.attempts)
	r.mu.Unlock()
	if r.RecordFunc != nil {
		return r.RecordFunc(n, res)
	}
	return nil
}

func (r *fakeRecorder) calls() []Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Result(nil), r.attempts...)
}

var t0 = time.Date(2026, 2, 13, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

// harness runs one flow on a fake call.
type harness struct {
	t      *testing.T
	call   *fakeCall
	timers *fakeTimers
	clock  *clock.Fake
	rec    *fakeRecorder
	reg    *prometheus.Registry
	logs   *syncbuf.Buffer
	flow   *Flow

	ended chan struct{}
	res   Result
	err   error
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{
		t:      t,
		call:   newFakeCall(),
		timers: &fakeTimers{reqs: make(chan fakeTimer, 16)},
		clock:  clock.NewFake(t0),
		rec:    &fakeRecorder{},
		reg:    prometheus.NewRegistry(),
		logs:   &syncbuf.Buffer{},
		ended:  make(chan struct{}),
	}
	f, err := New(Params{
		Recorder: h.rec,
		Config:   cfg,
		Clock:    h.clock,
		Timers:   h.timers,
		Logger:   slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:  NewMetrics(h.reg),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.flow = f
	return h
}

func rateInfo() CallInfo {
	return CallInfo{
		CallID: "call-1", Kind: KindRate, WorkOrderID: "WO-20260213-0001", UnitID: "fh-rsj",
		StaffID: "s-17", Post: "窗口3", CallerNumber: "13812341234",
	}
}

// start runs the flow in the background with ctx.
func (h *harness) start(ctx context.Context, info CallInfo) {
	go func() {
		defer close(h.ended)
		h.res, h.err = h.flow.Run(ctx, h.call, info)
	}()
}

// expectPlay waits for the flow to play p.
func (h *harness) expectPlay(p PromptID) playReq {
	h.t.Helper()
	select {
	case req := <-h.call.plays:
		if req.prompt != p {
			h.t.Fatalf("played %q, want %q", req.prompt, p)
		}
		return req
	case <-h.ended:
		h.t.Fatalf("flow ended (%+v, %v), want it to play %q", h.res, h.err, p)
	case <-time.After(watchdog):
		h.t.Fatalf("no play, want %q", p)
	}
	return playReq{}
}

// played waits for the flow to play p and lets it play to the end.
func (h *harness) played(p PromptID) {
	h.t.Helper()
	h.expectPlay(p).finish <- nil
}

// expectTimer waits for the flow to start a timer of d.
func (h *harness) expectTimer(d time.Duration) fakeTimer {
	h.t.Helper()
	select {
	case tm := <-h.timers.reqs:
		if tm.d != d {
			h.t.Fatalf("timer of %s, want %s", tm.d, d)
		}
		return tm
	case <-h.ended:
		h.t.Fatalf("flow ended (%+v, %v), want a timer of %s", h.res, h.err, d)
	case <-time.After(watchdog):
		h.t.Fatalf("no timer, want %s", d)
	}
	return fakeTimer{}
}

// fire lets timer tm expire, moving the clock by its duration.
func (h *harness) fire(tm fakeTimer) {
	h.clock.Advance(tm.d)
	tm.ch <- h.clock.Now()
}

// leadIn waits for the default lead-in timer and fires it.
func (h *harness) leadIn() { h.fire(h.expectTimer(DefaultLeadIn)) }

func (h *harness) press(k rune) { h.call.digits <- k }

// wait waits for Run to return.
func (h *harness) wait() (Result, error) {
	h.t.Helper()
	select {
	case <-h.ended:
	case <-time.After(watchdog):
		h.t.Fatal("flow did not end")
	}
	if strings := h.logs.String(); containsAny(strings, "no transition", "unknown state", "already recorded") {
		h.t.Errorf("flow logged an internal error:\n%s", strings)
	}
	return h.res, h.err
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if bytes.Contains([]byte(s), []byte(sub)) {
			return true
		}
	}
	return false
}
