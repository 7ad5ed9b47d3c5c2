package ivr

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRateKeyDuringMenu(t *testing.T) {
	h := newHarness(t, Config{})
	h.start(context.Background(), rateInfo())
	h.leadIn()
	h.expectPlay(PromptWelcomeMenu)
	h.clock.Advance(3 * time.Second)
	h.press('1') // interrupts the menu
	h.played(ChosenPrompt(VerySatisfied))
	h.played(PromptThanks)
	res, err := h.wait()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := Result{
		Call: rateInfo(), Channel: Channel, Outcome: Rated, Level: VerySatisfied, Key: "1",
		Attempts: 1, StartedAt: t0, DecidedAt: t0.Add(DefaultLeadIn + 3*time.Second),
	}
	if res != want {
		t.Errorf("result\n got %+v\nwant %+v", res, want)
	}
	if got := h.rec.calls(); len(got) != 1 || got[0] != want {
		t.Errorf("recorded %+v, want once %+v", got, want)
	}
	if n := h.call.hangupCount(); n != 1 {
		t.Errorf("hung up %d times, want 1", n)
	}
	if v := counterValue(t, h.reg, "haochaping_ivr_calls_total", "rate", "rated"); v != 1 {
		t.Errorf("calls_total{rate,rated} = %v, want 1", v)
	}
	if n := histogramCount(t, h.reg, "haochaping_ivr_time_to_rate_seconds", "rate"); n != 1 {
		t.Errorf("time_to_rate observations = %d, want 1", n)
	}
	logs := h.logs.String()
	if strings.Contains(logs, "13812341234") {
		t.Errorf("caller number in clear in the logs:\n%s", logs)
	}
	if !strings.Contains(logs, "138****1234") || !strings.Contains(logs, "call_id=call-1") {
		t.Errorf("logs lack the masked number or the call ID:\n%s", logs)
	}
}

func TestRateKeyAfterMenu(t *testing.T) {
	h := newHarness(t, Config{})
	h.start(context.Background(), rateInfo())
	h.leadIn()
	h.played(PromptWelcomeMenu)
	h.expectTimer(DefaultDigitTimeout)
	h.press('4')
	h.played(ChosenPrompt(Dissatisfied))
	h.played(PromptThanks)
	res, err := h.wait()
	if err != nil || res.Outcome != Rated || res.Level != Dissatisfied || res.Key != "4" || res.Attempts != 1 {
		t.Fatalf("Run = %+v, %v; want rated dissatisfied by key 4 at attempt 1", res, err)
	}
}

func TestKeyDuringLeadInCounts(t *testing.T) {
	h := newHarness(t, Config{})
	h.start(context.Background(), rateInfo())
	h.expectTimer(DefaultLeadIn)
	h.press('3')
	h.played(ChosenPrompt(BasicallySatisfied))
	h.played(PromptThanks)
	if res, err := h.wait(); err != nil || res.Level != BasicallySatisfied {
		t.Fatalf("Run = %+v, %v; want basically_satisfied", res, err)
	}
}

func TestInvalidThenValid(t *testing.T) {
	h := newHarness(t, Config{})
	h.start(context.Background(), rateInfo())
	h.leadIn()
	h.expectPlay(PromptWelcomeMenu)
	h.press('7')
	h.played(PromptInvalid)
	h.played(PromptWelcomeMenu)
	h.expectTimer(DefaultDigitTimeout)
	h.press('2')
	h.played(ChosenPrompt(Satisfied))
	h.played(PromptThanks)
	res, err := h.wait()
	if err != nil || res.Outcome != Rated || res.Level != Satisfied || res.Key != "2" || res.Attempts != 2 {
		t.Fatalf("Run = %+v, %v; want rated satisfied by key 2 at attempt 2", res, err)
	}
}

func TestKeyDuringInvalidPromptAnswersMenu(t *testing.T) {
	h := newHarness(t, Config{})
	h.start(context.Background(), rateInfo())
	h.leadIn()
	h.expectPlay(PromptWelcomeMenu)
	h.press('#')
	h.expectPlay(PromptInvalid)
	h.press('5')
	h.played(ChosenPrompt(VeryDissatisfied))
	h.played(PromptThanks)
	if res, err := h.wait(); err != nil || res.Level != VeryDissatisfied || res.Attempts != 2 {
		t.Fatalf("Run = %+v, %v; want very_dissatisfied at attempt 2", res, err)
	}
}

func TestTimeoutThreeTimes(t *testing.T) {
	h := newHarness(t, Config{})
	h.start(context.Background(), rateInfo())
	h.leadIn()
	for i := range DefaultMaxAttempts {
		h.played(PromptWelcomeMenu)
		h.fire(h.expectTimer(DefaultDigitTimeout))
		if i < DefaultMaxAttempts-1 {
			h.played(PromptNoInput)
		}
	}
	req := h.expectPlay(PromptGoodbyeNoRating)
	if got := h.rec.calls(); len(got) != 0 {
		t.Fatalf("recorded before the goodbye ended: %+v", got)
	}
	h.press('1') // too late: ignored during the goodbye
	req.finish <- nil
	res, err := h.wait()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Outcome != NoRating || res.Reason != ReasonTimeout || res.Attempts != 3 || res.Level != "" {
		t.Errorf("result %+v, want no_rating timeout after 3 attempts", res)
	}
	if want := t0.Add(DefaultLeadIn + 3*DefaultDigitTimeout); !res.DecidedAt.Equal(want) {
		t.Errorf("decided at %v, want %v", res.DecidedAt, want)
	}
	if h.call.hangupCount() != 1 {
		t.Errorf("hung up %d times, want 1", h.call.hangupCount())
	}
	if got := h.rec.calls(); len(got) != 1 || got[0].Outcome != NoRating {
		t.Errorf("recorded %+v, want one no_rating", got)
	}
	if v := counterValue(t, h.reg, "haochaping_ivr_calls_total", "rate", "no_rating_timeout"); v != 1 {
		t.Errorf("calls_total{rate,no_rating_timeout} = %v, want 1", v)
	}
}

func TestInvalidKeysEveryAttempt(t *testing.T) {
	h := newHarness(t, Config{MaxAttempts: 2})
	h.start(context.Background(), rateInfo())
	h.leadIn()
	h.expectPlay(PromptWelcomeMenu)
	h.press('0')
	h.played(PromptInvalid)
	h.expectPlay(PromptWelcomeMenu)
	h.press('*')
	h.played(PromptGoodbyeNoRating)
	res, err := h.wait()
	if err != nil || res.Outcome != NoRating || res.Reason != ReasonInvalid || res.Key != "*" || res.Attempts != 2 {
		t.Fatalf("Run = %+v, %v; want no_rating invalid, last key *, 2 attempts", res, err)
	}
	if v := counterValue(t, h.reg, "haochaping_ivr_calls_total", "rate", "no_rating_invalid"); v != 1 {
		t.Errorf("calls_total{rate,no_rating_invalid} = %v, want 1", v)
	}
}

func TestHangupDuringMenu(t *testing.T) {
	h := newHarness(t, Config{})
	h.start(context.Background(), rateInfo())
	h.leadIn()
	h.expectPlay(PromptWelcomeMenu)
	h.clock.Advance(2 * time.Second)
	h.call.end()
	res, err := h.wait()
	if err != nil || res.Outcome != NoRating || res.Reason != ReasonHangup || res.Attempts != 1 {
		t.Fatalf("Run = %+v, %v; want no_rating hangup", res, err)
	}
	if h.call.hangupCount() != 0 {
		t.Errorf("hung up a call the caller had ended")
	}
	if got := h.rec.calls(); len(got) != 1 || got[0].Reason != ReasonHangup {
		t.Errorf("recorded %+v, want one no_rating hangup", got)
	}
	if v := counterValue(t, h.reg, "haochaping_ivr_calls_total", "rate", "no_rating_hangup"); v != 1 {
		t.Errorf("calls_total{rate,no_rating_hangup} = %v, want 1", v)
	}
}

func TestHangupWhileWaitingForKey(t *testing.T) {
	h := newHarness(t, Config{})
	h.start(context.Background(), rateInfo())
	h.leadIn()
	h.played(PromptWelcomeMenu)
	h.expectTimer(DefaultDigitTimeout)
	h.call.end()
	if res, err := h.wait(); err != nil || res.Reason != ReasonHangup {
		t.Fatalf("Run = %+v, %v; want no_rating hangup", res, err)
	}
}

func TestKeyThenHangupCounts(t *testing.T) {
	// A key and the BYE arrive together: the key wins whatever select picks.
	for range 20 {
		h := newHarness(t, Config{})
		h.start(context.Background(), rateInfo())
		h.leadIn()
		h.played(PromptWelcomeMenu)
		h.expectTimer(DefaultDigitTimeout)
		h.press('2')
		h.call.end()
		res, err := h.wait()
		if err != nil || res.Outcome != Rated || res.Level != Satisfied {
			t.Fatalf("Run = %+v, %v; want rated satisfied", res, err)
		}
	}
}

func TestHangupDuringAnnouncementKeepsRating(t *testing.T) {
	h := newHarness(t, Config{})
	h.start(context.Background(), rateInfo())
	h.leadIn()
	h.expectPlay(PromptWelcomeMenu)
	h.press('5')
	h.expectPlay(ChosenPrompt(VeryDissatisfied))
	// Recorded before the announcement, so the hang-up cannot lose it.
	if got := h.rec.calls(); len(got) != 1 || got[0].Level != VeryDissatisfied {
		t.Fatalf("recorded %+v before the announcement, want very_dissatisfied", got)
	}
	h.press('1') // ignored: the choice is made
	h.call.end()
	res, err := h.wait()
	if err != nil || res.Outcome != Rated || res.Level != VeryDissatisfied || res.Key != "5" {
		t.Fatalf("Run = %+v, %v; want rated very_dissatisfied", res, err)
	}
	if got := h.rec.calls(); len(got) != 1 {
		t.Errorf("recorded %d times, want once: %+v", len(got), got)
	}
	if h.call.hangupCount() != 0 {
		t.Errorf("hung up a call the caller had ended")
	}
	if v := counterValue(t, h.reg, "haochaping_ivr_calls_total", "rate", "rated"); v != 1 {
		t.Errorf("calls_total{rate,rated} = %v, want 1", v)
	}
}

func TestKeysDuringAnnouncementIgnored(t *testing.T) {
	h := newHarness(t, Config{})
	h.start(context.Background(), rateInfo())
	h.leadIn()
	h.expectPlay(PromptWelcomeMenu)
	h.press('1')
	req := h.expectPlay(ChosenPrompt(VerySatisfied))
	h.press('5')
	h.press('9')
	req.finish <- nil
	req = h.expectPlay(PromptThanks)
	h.press('4')
	req.finish <- nil
	res, err := h.wait()
	if err != nil || res.Level != VerySatisfied || res.Key != "1" {
		t.Fatalf("Run = %+v, %v; want very_satisfied by key 1", res, err)
	}
	if got := h.rec.calls(); len(got) != 1 {
		t.Errorf("recorded %d times, want once", len(got))
	}
}

func TestFollowupFlow(t *testing.T) {
	h := newHarness(t, Config{})
	info := rateInfo()
	info.Kind, info.FollowupOf = KindFollowup, "case-42"
	h.start(context.Background(), info)
	h.leadIn()
	h.expectPlay(PromptFollowupMenu)
	h.press('2')
	h.played(ChosenPrompt(Satisfied))
	h.played(PromptThanks)
	res, err := h.wait()
	if err != nil || res.Call.Kind != KindFollowup || res.Call.FollowupOf != "case-42" || res.Level != Satisfied {
		t.Fatalf("Run = %+v, %v; want followup of case-42 rated satisfied", res, err)
	}
	if got := h.rec.calls(); len(got) != 1 || got[0].Call.FollowupOf != "case-42" {
		t.Errorf("recorded %+v, want followup_of case-42", got)
	}
	if v := counterValue(t, h.reg, "haochaping_ivr_calls_total", "followup", "rated"); v != 1 {
		t.Errorf("calls_total{followup,rated} = %v, want 1", v)
	}
}

func TestFollowupTimeoutUsesFollowupMenu(t *testing.T) {
	h := newHarness(t, Config{MaxAttempts: 2})
	info := rateInfo()
	info.Kind, info.FollowupOf = KindFollowup, "case-42"
	h.start(context.Background(), info)
	h.leadIn()
	h.played(PromptFollowupMenu)
	h.fire(h.expectTimer(DefaultDigitTimeout))
	h.played(PromptNoInput)
	h.played(PromptFollowupMenu)
	h.fire(h.expectTimer(DefaultDigitTimeout))
	h.played(PromptGoodbyeNoRating)
	if res, err := h.wait(); err != nil || res.Reason != ReasonTimeout || res.Call.FollowupOf != "case-42" {
		t.Fatalf("Run = %+v, %v; want followup no_rating timeout", res, err)
	}
}

func TestInvalidCallInfo(t *testing.T) {
	for name, info := range map[string]CallInfo{
		"followup without case": {CallID: "c", Kind: KindFollowup},
		"unknown flow":          {CallID: "c", Kind: "survey"},
		"no call ID":            {Kind: KindRate},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, Config{})
			res, err := h.flow.Run(context.Background(), h.call, info)
			if !errors.Is(err, ErrInvalidCallInfo) {
				t.Fatalf("Run err = %v, want ErrInvalidCallInfo", err)
			}
			if res.Outcome != "" || len(h.rec.calls()) != 0 || h.call.hangupCount() != 0 {
				t.Errorf("Run touched the call or recorded: %+v", res)
			}
		})
	}
}

func TestCustomKeyMap(t *testing.T) {
	cfg := Config{KeyMap: map[string]Level{"9": VerySatisfied, "1": VeryDissatisfied}, DigitTimeout: 5 * time.Second}
	h := newHarness(t, cfg)
	h.start(context.Background(), rateInfo())
	h.leadIn()
	h.expectPlay(PromptWelcomeMenu)
	h.press('5') // not in this map
	h.played(PromptInvalid)
	h.played(PromptWelcomeMenu)
	h.expectTimer(5 * time.Second)
	h.press('9')
	h.played(ChosenPrompt(VerySatisfied))
	h.played(PromptThanks)
	if res, err := h.wait(); err != nil || res.Level != VerySatisfied || res.Key != "9" || res.Attempts != 2 {
		t.Fatalf("Run = %+v, %v; want very_satisfied by key 9 at attempt 2", res, err)
	}
}

func TestNoLeadIn(t *testing.T) {
	h := newHarness(t, Config{LeadIn: -1})
	h.start(context.Background(), rateInfo())
	h.expectPlay(PromptWelcomeMenu)
	h.press('1')
	h.played(ChosenPrompt(VerySatisfied))
	h.played(PromptThanks)
	if res, err := h.wait(); err != nil || res.Level != VerySatisfied {
		t.Fatalf("Run = %+v, %v", res, err)
	}
}

func TestRecorderFailsTwiceThenSucceeds(t *testing.T) {
	h := newHarness(t, Config{})
	h.rec.RecordFunc = func(n int, _ Result) error {
		if n <= 2 {
			return errors.New("redis: connection refused")
		}
		return nil
	}
	h.start(context.Background(), rateInfo())
	h.leadIn()
	h.expectPlay(PromptWelcomeMenu)
	h.press('1')
	h.fire(h.expectTimer(DefaultRecordBackoff))
	h.fire(h.expectTimer(2 * DefaultRecordBackoff))
	h.played(ChosenPrompt(VerySatisfied))
	h.played(PromptThanks)
	res, err := h.wait()
	if err != nil || res.Level != VerySatisfied {
		t.Fatalf("Run = %+v, %v; want very_satisfied recorded", res, err)
	}
	got := h.rec.calls()
	if len(got) != 3 {
		t.Fatalf("recorder called %d times, want 3", len(got))
	}
	for i, r := range got {
		if r != res {
			t.Errorf("attempt %d recorded %+v, want %+v", i+1, r, res)
		}
	}
	if v := counterValue(t, h.reg, "haochaping_ivr_record_errors_total", "rate"); v != 2 {
		t.Errorf("record_errors_total = %v, want 2", v)
	}
	if strings.Contains(h.logs.String(), "not recorded") {
		t.Errorf("logged a failure that was retried away:\n%s", h.logs.String())
	}
}

func TestRecorderAlwaysFails(t *testing.T) {
	h := newHarness(t, Config{RecordAttempts: 3})
	errStore := errors.New("redis: connection refused")
	h.rec.RecordFunc = func(int, Result) error { return errStore }
	h.start(context.Background(), rateInfo())
	h.leadIn()
	h.expectPlay(PromptWelcomeMenu)
	h.press('4')
	h.fire(h.expectTimer(DefaultRecordBackoff))
	h.fire(h.expectTimer(2 * DefaultRecordBackoff))
	// The caller is still thanked: the failure is ours to handle.
	h.played(ChosenPrompt(Dissatisfied))
	h.played(PromptThanks)
	res, err := h.wait()
	if !errors.Is(err, ErrNotRecorded) || !errors.Is(err, errStore) {
		t.Fatalf("Run err = %v, want ErrNotRecorded wrapping the store error", err)
	}
	if res.Outcome != Rated || res.Level != Dissatisfied {
		t.Errorf("result %+v, want the rating for the caller's fallback", res)
	}
	if n := len(h.rec.calls()); n != 3 {
		t.Errorf("recorder called %d times, want 3", n)
	}
	if n := strings.Count(h.logs.String(), "result not recorded"); n != 1 {
		t.Errorf("failure logged %d times, want once:\n%s", n, h.logs.String())
	}
}

func TestCancelDuringMenu(t *testing.T) {
	h := newHarness(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	h.start(ctx, rateInfo())
	h.leadIn()
	h.expectPlay(PromptWelcomeMenu)
	cancel()
	res, err := h.wait()
	if err != nil || res.Outcome != NoRating || res.Reason != ReasonAborted {
		t.Fatalf("Run = %+v, %v; want no_rating aborted", res, err)
	}
	if h.call.hangupCount() != 1 {
		t.Errorf("hung up %d times, want 1", h.call.hangupCount())
	}
	if got := h.rec.calls(); len(got) != 1 || got[0].Reason != ReasonAborted {
		t.Errorf("recorded %+v, want one no_rating aborted despite the cancelled context", got)
	}
}

func TestPlayFailure(t *testing.T) {
	h := newHarness(t, Config{})
	h.start(context.Background(), rateInfo())
	h.leadIn()
	h.expectPlay(PromptWelcomeMenu).finish <- errors.New("prompt not loaded")
	res, err := h.wait()
	if err != nil || res.Reason != ReasonAborted || h.call.hangupCount() != 1 {
		t.Fatalf("Run = %+v, %v; want no_rating aborted and a hang-up", res, err)
	}
	if !strings.Contains(h.logs.String(), "play failed") {
		t.Errorf("play failure not logged")
	}
}

func TestSnapshotAndStateGauge(t *testing.T) {
	h := newHarness(t, Config{})
	h.start(context.Background(), rateInfo())
	h.leadIn()
	h.expectPlay(PromptWelcomeMenu)
	snap := h.flow.Snapshot()
	want := ActiveCall{
		CallID: "call-1", Kind: KindRate, WorkOrderID: "WO-20260213-0001", UnitID: "fh-rsj",
		State: StateMenu, Attempts: 1, StartedAt: t0, StateSince: t0.Add(DefaultLeadIn),
	}
	if len(snap) != 1 || snap[0] != want {
		t.Fatalf("Snapshot = %+v, want [%+v]", snap, want)
	}
	if v := gaugeValue(t, h.reg, "haochaping_ivr_calls_in_state", "rate", "menu"); v != 1 {
		t.Errorf("calls_in_state{rate,menu} = %v, want 1", v)
	}
	h.press('1')
	h.played(ChosenPrompt(VerySatisfied))
	h.played(PromptThanks)
	h.wait()
	if snap := h.flow.Snapshot(); len(snap) != 0 {
		t.Errorf("Snapshot after the call = %+v, want empty", snap)
	}
	for _, s := range states {
		if s == StateDone {
			continue
		}
		if v := gaugeValue(t, h.reg, "haochaping_ivr_calls_in_state", "rate", string(s)); v != 0 {
			t.Errorf("calls_in_state{rate,%s} = %v after the call, want 0", s, v)
		}
	}
}

func TestConcurrentCalls(t *testing.T) {
	// One Flow serves many calls; run with -race.
	rec := &fakeRecorder{}
	f, err := New(Params{Recorder: rec, Config: Config{LeadIn: -1}, Timers: &fakeTimers{reqs: make(chan fakeTimer, 100)}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	errs := make(chan error, n)
	for i := range n {
		call := newFakeCall()
		go func() {
			<-call.plays // the menu, interrupted by the key
			call.digits <- rune('1' + i%5)
			for range 2 { // the announcement and the thanks
				(<-call.plays).finish <- nil
			}
		}()
		go func() {
			info := rateInfo()
			info.CallID = "call-" + string(rune('A'+i))
			_, err := f.Run(context.Background(), call, info)
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := len(rec.calls()); got != n {
		t.Errorf("recorded %d, want %d", got, n)
	}
}

func TestNewNeedsRecorder(t *testing.T) {
	if _, err := New(Params{}); err == nil {
		t.Error("New without a Recorder succeeded")
	}
	if _, err := New(Params{Recorder: &fakeRecorder{}, Config: Config{MaxAttempts: -1}}); err == nil {
		t.Error("New with an invalid config succeeded")
	}
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) (float64, uint64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			lp := m.GetLabel()
			if len(lp) != len(labels) {
				continue
			}
			// Labels come sorted by name: flow, outcome/state.
			for i, l := range lp {
				if l.GetValue() != labels[i] {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), 0, true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), 0, true
			case m.Histogram != nil:
				return m.Histogram.GetSampleSum(), m.Histogram.GetSampleCount(), true
			}
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0, 0, false
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	v, _, _ := metricValue(t, reg, name, labels...)
	return v
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	v, _, _ := metricValue(t, reg, name, labels...)
	return v
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name string, labels ...string) uint64 {
	t.Helper()
	_, n, _ := metricValue(t, reg, name, labels...)
	return n
}
