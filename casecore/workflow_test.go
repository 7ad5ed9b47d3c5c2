package casecore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/casecore/redisstore"
	"github.com/haochaping/haochaping/internal/clock"
	"github.com/haochaping/haochaping/internal/redistest"
)

// env is one service on a fresh Redis namespace with a fake clock.
type env struct {
	t     *testing.T
	ctx   context.Context
	clk   *clock.Fake
	svc   *casecore.Service
	store *redisstore.Store
	rdb   redis.UniversalClient
	ns    string
}

var (
	admin   = casecore.Actor{ID: "admin1", Role: casecore.RoleAdmin}
	handler = casecore.Actor{ID: "h1", Role: casecore.RoleHandler, Units: []string{"fh-g08"}}
	intake  = casecore.Actor{ID: "api", Role: casecore.RoleIntake}
)

// backends runs f against a real redis-server and against miniredis.
func backends(t *testing.T, f func(t *testing.T, rdb redis.UniversalClient)) {
	t.Run("redis-server", func(t *testing.T) {
		srv := redistest.Start(t)
		f(t, srv.Client(t))
	})
	t.Run("miniredis", func(t *testing.T) {
		_, c := redistest.Mini(t)
		f(t, c)
	})
}

func newEnv(t *testing.T, rdb redis.UniversalClient, start string) *env {
	t.Helper()
	now, err := time.ParseInLocation("2006-01-02 15:04", start, casecore.Shanghai)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: context.Background(), clk: clock.NewFake(now), rdb: rdb, ns: strings.ReplaceAll(t.Name(), "/", ".")}
	e.store = redisstore.New(rdb, redisstore.Config{Namespace: e.ns})
	e.svc = e.service()
	return e
}

// service builds another Service on the same store and clock, like a second process.
func (e *env) service() *casecore.Service {
	cal, err := casecore.DefaultCalendar()
	if err != nil {
		e.t.Fatal(err)
	}
	svc, err := casecore.NewService(e.ctx, casecore.Params{Store: e.store, Calendar: cal, Clock: e.clk}, casecore.Config{})
	if err != nil {
		e.t.Fatal(err)
	}
	return svc
}

func (e *env) at(s string) {
	now, err := time.ParseInLocation("2006-01-02 15:04", s, casecore.Shanghai)
	if err != nil {
		e.t.Fatal(err)
	}
	e.clk.Set(now)
}

var keySeq int

func (e *env) rate(level casecore.Level, mod func(*casecore.RatingInput)) *casecore.Rating {
	e.t.Helper()
	keySeq++
	in := casecore.RatingInput{IdempotencyKey: fmt.Sprintf("k-%s-%d", e.ns, keySeq), Channel: casecore.ChannelHotlineIVR,
		Level: level, WorkOrderID: fmt.Sprintf("WO-%d", keySeq), UnitID: "fh-g08", StaffID: "s-007", RaterPhone: "13800138001"}
	if mod != nil {
		mod(&in)
	}
	r, created, err := e.svc.SubmitRating(e.ctx, intake, in)
	if err != nil {
		e.t.Fatalf("submit rating: %v", err)
	}
	if !created {
		e.t.Fatalf("rating %s not created", r.ID)
	}
	return r
}

func (e *env) caseOf(id string) *casecore.Case {
	e.t.Helper()
	c, err := e.store.GetCase(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) act(actor casecore.Actor, id string, a casecore.Action, in casecore.ActionInput) *casecore.Case {
	e.t.Helper()
	c, err := e.svc.Act(e.ctx, actor, id, a, in)
	if err != nil {
		e.t.Fatalf("%s: %v", a, err)
	}
	return c
}

// fire runs the deadline worker until nothing more is due.
func (e *env) fire() int {
	e.t.Helper()
	total := 0
	for {
		n, err := e.svc.FireDue(e.ctx, 100)
		if err != nil {
			e.t.Fatal(err)
		}
		total += n
		if n == 0 {
			return total
		}
	}
}

func (e *env) events(typ string) []map[string]any {
	e.t.Helper()
	xs, err := e.rdb.XRange(e.ctx, e.store.EventsKey(), "-", "+").Result()
	if err != nil {
		e.t.Fatal(err)
	}
	var out []map[string]any
	for _, x := range xs {
		if typ == "" || x.Values["type"] == typ {
			out = append(out, x.Values)
		}
	}
	return out
}

func dueDate(t *testing.T, c *casecore.Case, k casecore.ClockKind) string {
	t.Helper()
	clk, ok := c.Clocks[k]
	if !ok {
		t.Fatalf("case %s (state %s) has no %s clock; clocks: %v", c.ID, c.State, k, c.Clocks)
	}
	return clk.DueDate.String()
}

func TestWorkedExamples(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, tc := range []struct {
			name, ratedAt, callback, appeal string
		}{
			{"friday before make-up saturday", "2026-02-13 10:00", "2026-02-14", "2026-02-27"},
			{"eve of national day", "2026-09-30 16:30", "2026-10-08", "2026-10-13"}, // 10-10 is a make-up Saturday,
			{"new year's eve", "2025-12-31 09:00", "2026-01-04", "2026-01-08"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, rdb, tc.ratedAt)
				r := e.rate(casecore.Dissatisfied, nil)
				if r.CaseID == "" {
					t.Fatal("bad rating opened no case")
				}
				c := e.caseOf(r.CaseID)
				if c.State != casecore.StateOpen {
					t.Errorf("state %s, want open", c.State)
				}
				if got := dueDate(t, c, casecore.ClockCallback); got != tc.callback {
					t.Errorf("callback due %s, want %s", got, tc.callback)
				}
				if got := dueDate(t, c, casecore.ClockAppeal); got != tc.appeal {
					t.Errorf("appeal due %s, want %s", got, tc.appeal)
				}
				// The deadline ends at 24:00 of the due date, Shanghai time.
				want := c.Clocks[casecore.ClockCallback].DueDate.AddDays(1).Start()
				if !c.Clocks[casecore.ClockCallback].DueAt.Equal(want) {
					t.Errorf("callback due_at %s, want %s", c.Clocks[casecore.ClockCallback].DueAt, want)
				}
			})
		}
	})
}

// A rating without rated_at was made when received: stored to the
// millisecond, it must not come out a millisecond after its receipt.
func TestDefaultRatedAtNotAfterReceipt(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		e := newEnv(t, rdb, "2026-03-02 10:00")
		e.clk.Advance(1999500 * time.Nanosecond) // 10:00:00.0019995
		r := e.rate(casecore.Satisfied, nil)
		got, err := e.store.GetRating(e.ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.RatedAt.After(got.ReceivedAt) || got.RatedAt.UnixMilli()%1000 != 1 {
			t.Errorf("rated_at %s, received_at %s", got.RatedAt.Format(time.RFC3339Nano), got.ReceivedAt.Format(time.RFC3339Nano))
		}
	})
}

// "from" without "to" lists until now on the service's clock, not the
// machine's: here the clock is a year ahead.
func TestListRatingsFromUntilNow(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		e := newEnv(t, rdb, "2027-11-29 10:00")
		r := e.rate(casecore.Satisfied, nil)
		from := e.clk.Now().Add(-time.Hour)
		rs, err := e.svc.ListRatings(e.ctx, admin, casecore.RatingQuery{From: from})
		if err != nil || len(rs) != 1 || rs[0].ID != r.ID {
			t.Errorf("ratings from %s: %v, %v", from, rs, err)
		}
	})
}

func TestGoodRatingOpensNoCase(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		e := newEnv(t, rdb, "2026-03-02 10:00")
		for _, l := range []casecore.Level{casecore.VerySatisfied, casecore.Satisfied, casecore.BasicallySatisfied} {
			if r := e.rate(l, nil); r.CaseID != "" {
				t.Errorf("%s opened case %s", l, r.CaseID)
			}
		}
		for _, l := range []casecore.Level{casecore.Dissatisfied, casecore.VeryDissatisfied} {
			if r := e.rate(l, nil); r.CaseID == "" {
				t.Errorf("%s opened no case", l)
			}
		}
	})
}

func TestCallbackWarningThenOverdue(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		e := newEnv(t, rdb, "2026-03-02 10:00") // Monday
		r := e.rate(casecore.VeryDissatisfied, nil)
		// Callback due 2026-03-03 24:00; 75% of the 38 h span is 28.5 h after 10:00 Mon.
		e.at("2026-03-03 14:00")
		if n := e.fire(); n != 0 {
			t.Fatalf("fired %d before the warning time", n)
		}
		e.at("2026-03-03 14:31")
		e.fire()
		c := e.caseOf(r.CaseID)
		if clk := c.Clocks[casecore.ClockCallback]; !clk.Warned || clk.Overdue {
			t.Fatalf("after warning time: warned=%v overdue=%v", clk.Warned, clk.Overdue)
		}
		if n := len(e.events("deadline_warning")); n != 1 {
			t.Errorf("%d warning events, want 1", n)
		}
		e.fire()
		if n := len(e.events("deadline_warning")); n != 1 {
			t.Errorf("warning fired again: %d events", n)
		}
		e.at("2026-03-03 23:59")
		e.fire()
		if c := e.caseOf(r.CaseID); c.Overdue() {
			t.Fatal("overdue before 24:00 of the due date")
		}
		e.at("2026-03-04 00:00")
		e.fire()
		c = e.caseOf(r.CaseID)
		if !c.Clocks[casecore.ClockCallback].Overdue || !c.Overdue() {
			t.Fatal("callback not overdue at 24:00 of the due date")
		}
		if c.State != casecore.StateOpen {
			t.Errorf("state %s, want open (an overdue callback escalates, it does not move the case)", c.State)
		}
		if n := len(e.events("deadline_overdue")); n != 1 {
			t.Errorf("%d overdue events, want 1", n)
		}
		od, err := e.svc.ListCases(e.ctx, admin, casecore.CaseQuery{Overdue: true})
		if err != nil || len(od) != 1 || od[0].ID != c.ID {
			t.Errorf("overdue list = %v, %v", od, err)
		}
		// Logging the callback late stops the clock and clears the overdue flag.
		c = e.act(handler, c.ID, casecore.ActionCallback, casecore.ActionInput{Note: "called, rater confirms long wait"})
		if c.State != casecore.StateCalledBack || c.Overdue() {
			t.Errorf("after callback: state %s overdue %v", c.State, c.Overdue())
		}
		od, _ = e.svc.ListCases(e.ctx, admin, casecore.CaseQuery{Overdue: true})
		if len(od) != 0 {
			t.Errorf("overdue list still has %d", len(od))
		}
	})
}

func TestNoAppealInTimeConfirms(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		e := newEnv(t, rdb, "2026-02-13 10:00")
		r := e.rate(casecore.Dissatisfied, nil)
		e.act(handler, r.CaseID, casecore.ActionCallback, casecore.ActionInput{Note: "called"})
		e.at("2026-02-27 23:00")
		e.fire()
		if c := e.caseOf(r.CaseID); c.State != casecore.StateCalledBack {
			t.Fatalf("state %s before the appeal window closed", c.State)
		}
		e.at("2026-02-28 00:00")
		e.fire()
		c := e.caseOf(r.CaseID)
		if c.State != casecore.StateRectifying {
			t.Fatalf("state %s, want rectifying after the appeal window", c.State)
		}
		if c.ConfirmedAt == nil || !c.ConfirmedAt.Equal(time.Date(2026, 2, 28, 0, 0, 0, 0, casecore.Shanghai)) {
			t.Errorf("confirmed at %v, want the end of the appeal window", c.ConfirmedAt)
		}
		// 15 working days from Saturday 2026-02-28 (not counted).
		if got := dueDate(t, c, casecore.ClockRectification); got != "2026-03-20" {
			t.Errorf("rectification due %s, want 2026-03-20", got)
		}
		if _, err := e.svc.Act(e.ctx, handler, c.ID, casecore.ActionAppeal, casecore.ActionInput{Reason: "mistaken", Note: "x"}); !errors.Is(err, casecore.ErrState) {
			t.Errorf("appeal after the window: %v, want ErrState", err)
		}
	})
}

func TestAppealUpheldIsNotAdopted(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		e := newEnv(t, rdb, "2026-03-02 10:00")
		r := e.rate(casecore.VeryDissatisfied, nil)
		e.act(handler, r.CaseID, casecore.ActionCallback, casecore.ActionInput{Note: "rater pressed the wrong key"})
		e.at("2026-03-04 11:00")
		c := e.act(handler, r.CaseID, casecore.ActionAppeal, casecore.ActionInput{Reason: casecore.AppealMistaken, Note: "rater meant 1"})
		if c.State != casecore.StateAppealed {
			t.Fatalf("state %s", c.State)
		}
		if got := dueDate(t, c, casecore.ClockAppealReview); got != "2026-03-11" {
			t.Errorf("appeal review due %s, want 2026-03-11", got)
		}
		if _, ok := c.Clocks[casecore.ClockAppeal]; ok {
			t.Error("appeal clock still running after the appeal")
		}
		// A handler may not decide; the administrator may.
		if _, err := e.svc.Act(e.ctx, handler, c.ID, casecore.ActionUphold, casecore.ActionInput{}); !errors.Is(err, casecore.ErrForbidden) {
			t.Errorf("handler uphold: %v, want ErrForbidden", err)
		}
		c = e.act(admin, c.ID, casecore.ActionUphold, casecore.ActionInput{Note: "recording confirms"})
		if c.State != casecore.StateNotAdopted || c.ClosedAt == nil || len(c.Clocks) != 0 {
			t.Fatalf("after uphold: state %s closed %v clocks %v", c.State, c.ClosedAt, c.Clocks)
		}
		st, err := e.svc.Stats(e.ctx, admin, casecore.StatsQuery{From: casecore.DateOf(r.RatedAt), To: casecore.DateOf(r.RatedAt)})
		if err != nil {
			t.Fatal(err)
		}
		u := st.Units[0]
		if u.Total != 1 || u.NotAdopted != 1 || u.Bad != 0 || u.Appeals.Upheld != 1 {
			t.Errorf("stats after upheld appeal: %+v", u)
		}
	})
}

func TestAppealRejectedConfirms(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		e := newEnv(t, rdb, "2026-03-02 10:00")
		r := e.rate(casecore.Dissatisfied, nil)
		e.act(handler, r.CaseID, casecore.ActionAppeal, casecore.ActionInput{Reason: casecore.AppealMalicious, Note: "abusive caller"})
		e.at("2026-03-05 09:00")
		c := e.act(admin, r.CaseID, casecore.ActionReject, casecore.ActionInput{Note: "no evidence"})
		if c.State != casecore.StateRectifying || c.ConfirmedAt == nil {
			t.Fatalf("state %s confirmed %v", c.State, c.ConfirmedAt)
		}
		if got := dueDate(t, c, casecore.ClockRectification); got != "2026-03-26" {
			t.Errorf("rectification due %s, want 2026-03-26", got)
		}
	})
}

func TestAppealReviewOverdueEscalates(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		e := newEnv(t, rdb, "2026-03-02 10:00")
		r := e.rate(casecore.Dissatisfied, nil)
		e.act(handler, r.CaseID, casecore.ActionAppeal, casecore.ActionInput{Reason: casecore.AppealMistaken, Note: "n"})
		e.at("2026-03-10 00:00") // appeal review due 2026-03-09
		e.fire()
		c := e.caseOf(r.CaseID)
		if c.State != casecore.StateAppealed || !c.Clocks[casecore.ClockAppealReview].Overdue {
			t.Fatalf("state %s, appeal review %+v", c.State, c.Clocks[casecore.ClockAppealReview])
		}
	})
}

func TestRectificationAndFollowup(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		for _, tc := range []struct {
			name      string
			followup  casecore.Level // "" = none
			wantState casecore.State
		}{
			{"good follow-up closes", casecore.Satisfied, casecore.StateClosed},
			{"bad follow-up goes to re-review", casecore.VeryDissatisfied, casecore.StateRereview},
			{"no follow-up goes to re-review", "", casecore.StateRereview},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, rdb, "2026-03-02 10:00")
				r := e.rate(casecore.Dissatisfied, nil)
				e.act(handler, r.CaseID, casecore.ActionCallback, casecore.ActionInput{Note: "called"})
				e.act(handler, r.CaseID, casecore.ActionAccept, casecore.ActionInput{Note: "we were slow"})
				e.at("2026-03-10 15:00")
				c := e.act(handler, r.CaseID, casecore.ActionRectify, casecore.ActionInput{Note: "added a window"})
				if c.State != casecore.StateFollowupPending {
					t.Fatalf("state %s", c.State)
				}
				if got := dueDate(t, c, casecore.ClockFollowup); got != "2026-03-15" {
					t.Errorf("follow-up due %s, want 2026-03-15 (5 natural days)", got)
				}
				if len(c.Rectified) != 1 || !c.Rectified[0].OnTime {
					t.Errorf("rectifications %+v", c.Rectified)
				}
				if n := len(e.events("followup_invite")); n != 1 {
					t.Errorf("%d follow-up invitations, want 1", n)
				}
				if tc.followup != "" {
					e.at("2026-03-12 08:00")
					fr := e.rate(tc.followup, func(in *casecore.RatingInput) {
						in.FollowupOf, in.UnitID, in.StaffID, in.Channel = r.CaseID, "", "", casecore.ChannelHotlineSMS
					})
					if fr.Seq != 2 || fr.CaseID != "" {
						t.Errorf("follow-up rating seq %d case %q", fr.Seq, fr.CaseID)
					}
				} else {
					e.at("2026-03-16 00:00")
					e.fire()
				}
				c = e.caseOf(r.CaseID)
				if c.State != tc.wantState {
					t.Fatalf("state %s, want %s", c.State, tc.wantState)
				}
				if tc.wantState == casecore.StateRereview {
					if _, ok := c.Clocks[casecore.ClockRereview]; !ok {
						t.Error("no re-review clock")
					}
					c = e.act(admin, c.ID, casecore.ActionRereviewFail, casecore.ActionInput{Note: "not fixed"})
					if c.State != casecore.StateRectifying {
						t.Fatalf("after failed re-review: %s", c.State)
					}
					c = e.act(handler, c.ID, casecore.ActionRectify, casecore.ActionInput{Note: "fixed for real"})
					e.at("2026-03-17 08:00")
					e.rate(casecore.VerySatisfied, func(in *casecore.RatingInput) { in.FollowupOf = r.CaseID })
					if c = e.caseOf(r.CaseID); c.State != casecore.StateClosed {
						t.Fatalf("state %s, want closed", c.State)
					}
				}
				if c.ClosedAt == nil || len(c.Clocks) != 0 {
					t.Errorf("closed case: closed_at %v clocks %v", c.ClosedAt, c.Clocks)
				}
			})
		}
	})
}

func TestLateRectificationCounted(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		e := newEnv(t, rdb, "2026-03-02 10:00")
		r := e.rate(casecore.Dissatisfied, nil)
		e.act(handler, r.CaseID, casecore.ActionAccept, casecore.ActionInput{Note: "ok"})
		e.at("2026-03-30 10:00") // due 2026-03-23
		e.fire()
		c := e.act(handler, r.CaseID, casecore.ActionRectify, casecore.ActionInput{Note: "late"})
		if c.Rectified[0].OnTime {
			t.Error("late rectification counted on time")
		}
		st, _ := e.svc.Stats(e.ctx, admin, casecore.StatsQuery{From: casecore.DateOf(r.RatedAt), To: casecore.DateOf(r.RatedAt)})
		if u := st.Units[0]; u.Rectification.Rectified != 1 || u.Rectification.OnTime != 0 || u.Overdue["rectification"] != 1 {
			t.Errorf("stats %+v", u)
		}
	})
}

func TestTextReview(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		e := newEnv(t, rdb, "2026-03-02 10:00")
		good := e.rate(casecore.VerySatisfied, func(in *casecore.RatingInput) { in.Comment = "窗口工作人员很耐心" })
		bad := e.rate(casecore.Dissatisfied, func(in *casecore.RatingInput) { in.Comment = "等了两个小时" })
		none := e.rate(casecore.Satisfied, nil)
		if good.TextReview == nil || good.TextReview.Status != casecore.TextPending {
			t.Fatalf("good rating with comment: text review %+v", good.TextReview)
		}
		if none.TextReview != nil {
			t.Error("rating without comment has a text review")
		}
		if got := good.TextReview.Clock.DueDate.String(); got != "2026-03-09" {
			t.Errorf("text review due %s, want 2026-03-09", got)
		}
		other := e.rate(casecore.Satisfied, func(in *casecore.RatingInput) { in.Comment = "很好"; in.UnitID = "fh-t01" })
		// The queue holds the pending comments, earliest due first; a handler
		// sees those of its units only.
		queue := func(a casecore.Actor) string {
			t.Helper()
			rs, total, err := e.svc.PendingTextReviews(e.ctx, a, 10)
			if err != nil {
				t.Fatal(err)
			}
			ids := []string{fmt.Sprint(total)}
			for _, r := range rs {
				ids = append(ids, r.ID)
			}
			return strings.Join(ids, " ")
		}
		if got, want := queue(admin), strings.Join([]string{"3", good.ID, bad.ID, other.ID}, " "); got != want {
			t.Errorf("text queue: %s, want %s", got, want)
		}
		if got, want := queue(handler), strings.Join([]string{"3", good.ID, bad.ID}, " "); got != want {
			t.Errorf("handler's text queue: %s, want %s", got, want)
		}
		if rs, _, _ := e.svc.PendingTextReviews(e.ctx, admin, 1); len(rs) != 1 || rs[0].ID != good.ID {
			t.Errorf("text queue, limit 1: %v", rs)
		}
		dl := e.svc.Deadlines(e.caseOf(bad.CaseID), bad, e.clk.Now())
		if _, ok := dl[casecore.ClockTextReview]; !ok {
			t.Errorf("case deadlines lack text_review: %v", dl)
		}
		if _, err := e.svc.ReviewText(e.ctx, handler, good.ID, true, ""); !errors.Is(err, casecore.ErrForbidden) {
			t.Errorf("handler text review: %v", err)
		}
		if _, err := e.svc.ReviewText(e.ctx, admin, good.ID, true, ""); err != nil {
			t.Fatal(err)
		}
		rej, err := e.svc.ReviewText(e.ctx, admin, bad.ID, false, "contains a name")
		if err != nil {
			t.Fatal(err)
		}
		if rej.VisibleComment() != "" || rej.Comment == "" {
			t.Errorf("rejected text: visible %q stored %q", rej.VisibleComment(), rej.Comment)
		}
		if _, err := e.svc.ReviewText(e.ctx, admin, bad.ID, true, ""); !errors.Is(err, casecore.ErrState) {
			t.Errorf("second review: %v", err)
		}
		if got, want := queue(admin), "1 "+other.ID; got != want {
			t.Errorf("text queue after two reviews: %s, want %s", got, want)
		}
		// An unreviewed comment escalates after 5 working days.
		late := e.rate(casecore.Satisfied, func(in *casecore.RatingInput) { in.Comment = "还行" })
		e.at("2026-03-10 00:00")
		e.fire()
		got, _ := e.store.GetRating(e.ctx, late.ID)
		if !got.TextReview.Clock.Overdue {
			t.Errorf("text review not overdue: %+v", got.TextReview.Clock)
		}
		// Still queued once overdue: escalated, not dropped. (Both were rated
		// at the same instant, so they are due together; the order is by ID.)
		if got, want := queue(admin), "2 "+other.ID+" "+late.ID; got != want {
			t.Errorf("text queue with an overdue review: %s, want %s", got, want)
		}
	})
}

func TestStaffReferral(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		e := newEnv(t, rdb, "2026-01-05 10:00")
		confirm := func(staff string) {
			r := e.rate(casecore.Dissatisfied, func(in *casecore.RatingInput) { in.StaffID = staff })
			e.act(handler, r.CaseID, casecore.ActionAccept, casecore.ActionInput{Note: "ok"})
		}
		confirm("s-1")
		if refs, _ := e.store.Referrals(e.ctx, 10); len(refs) != 0 {
			t.Fatalf("referral after one bad rating: %v", refs)
		}
		// Unconfirmed bad ratings do not count.
		e.rate(casecore.Dissatisfied, func(in *casecore.RatingInput) { in.StaffID = "s-1" })
		confirm("s-2")
		e.at("2026-06-01 10:00")
		confirm("s-1")
		refs, _ := e.store.Referrals(e.ctx, 10)
		if len(refs) != 1 || refs[0].StaffID != "s-1" || refs[0].Count != 2 || len(refs[0].RatingIDs) != 2 {
			t.Fatalf("referrals %+v, want one for s-1 with 2 ratings", refs)
		}
		confirm("s-1") // a third within the year: no second referral for the same crossing
		if refs, _ = e.store.Referrals(e.ctx, 10); len(refs) != 1 {
			t.Fatalf("%d referrals after a third bad rating, want 1", len(refs))
		}
		if n := len(e.events("staff_referral")); n != 1 {
			t.Errorf("%d referral events", n)
		}
		// More than 365 days later the count starts again.
		e.at("2027-09-01 10:00")
		confirm("s-1")
		e.at("2027-09-02 10:00")
		confirm("s-1")
		if refs, _ = e.store.Referrals(e.ctx, 10); len(refs) != 2 {
			t.Fatalf("%d referrals after a new crossing, want 2", len(refs))
		}
	})
}

func TestIdempotentIntake(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		e := newEnv(t, rdb, "2026-03-02 10:00")
		in := casecore.RatingInput{IdempotencyKey: "ivr-call-42", Channel: casecore.ChannelHotlineIVR,
			Level: casecore.Dissatisfied, UnitID: "fh-g08", RaterPhone: "+86 138-0013-8001"}
		r1, created, err := e.svc.SubmitRating(e.ctx, intake, in)
		if err != nil || !created {
			t.Fatalf("first: %v %v", created, err)
		}
		e.clk.Advance(time.Minute)
		r2, created, err := e.svc.SubmitRating(e.ctx, intake, in)
		if err != nil || created || r2.ID != r1.ID || r2.CaseID != r1.CaseID {
			t.Fatalf("retry: created=%v id %s/%s err %v", created, r2.ID, r1.ID, err)
		}
		in.Level = casecore.VerySatisfied
		if _, _, err := e.svc.SubmitRating(e.ctx, intake, in); !errors.Is(err, casecore.ErrIdempotencyReuse) {
			t.Errorf("reuse with other content: %v", err)
		}
		if n := len(e.events("case_opened")); n != 1 {
			t.Errorf("%d cases opened, want 1", n)
		}
		rs, err := e.svc.ListRatings(e.ctx, admin, casecore.RatingQuery{Phone: "13800138001"})
		if err != nil || len(rs) != 1 {
			t.Errorf("by phone: %d, %v", len(rs), err)
		}
		// Concurrent retries of one key record one rating.
		var wg sync.WaitGroup
		ids := make([]string, 20)
		in2 := in
		in2.IdempotencyKey, in2.Level = "sms-77", casecore.VeryDissatisfied
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, _, err := e.svc.SubmitRating(e.ctx, intake, in2)
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = r.ID
			}()
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("concurrent retries made ratings %v", ids)
			}
		}
	})
}

func TestValidation(t *testing.T) {
	_, rdb := redistest.Mini(t)
	e := newEnv(t, rdb, "2026-03-02 10:00")
	base := casecore.RatingInput{IdempotencyKey: "k", Channel: casecore.ChannelAPI, Level: casecore.Satisfied, UnitID: "u"}
	for _, tc := range []struct {
		field string
		mod   func(*casecore.RatingInput)
	}{
		{"idempotency_key", func(in *casecore.RatingInput) { in.IdempotencyKey = " " }},
		{"channel", func(in *casecore.RatingInput) { in.Channel = "fax" }},
		{"level", func(in *casecore.RatingInput) { in.Level = "5" }},
		{"unit_id", func(in *casecore.RatingInput) { in.UnitID = "" }},
		{"rater_phone", func(in *casecore.RatingInput) { in.RaterPhone = "abc" }},
		{"rated_at", func(in *casecore.RatingInput) { in.RatedAt = e.clk.Now().Add(time.Hour) }},
		{"followup_of", func(in *casecore.RatingInput) { in.FollowupOf = "C404" }},
		{"work_order_id", func(in *casecore.RatingInput) { in.WorkOrderID = "a|b" }},
		{"comment", func(in *casecore.RatingInput) { in.Comment = string([]byte{0xff, 0xfe}) }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			in := base
			tc.mod(&in)
			_, _, err := e.svc.SubmitRating(e.ctx, intake, in)
			var ve *casecore.ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.field {
				t.Errorf("err %v, want a validation error on %s", err, tc.field)
			}
		})
	}
}

func TestRolesAndUnits(t *testing.T) {
	_, rdb := redistest.Mini(t)
	e := newEnv(t, rdb, "2026-03-02 10:00")
	r := e.rate(casecore.Dissatisfied, nil) // unit fh-g08
	other := casecore.Actor{ID: "h2", Role: casecore.RoleHandler, Units: []string{"fh-t01"}}
	sup := casecore.Actor{ID: "sup", Role: casecore.RoleSupervisor}
	if _, err := e.svc.GetCase(e.ctx, other, r.CaseID); !errors.Is(err, casecore.ErrNotFound) {
		t.Errorf("other unit's handler reads case: %v", err)
	}
	if _, err := e.svc.Act(e.ctx, other, r.CaseID, casecore.ActionCallback, casecore.ActionInput{Note: "x"}); !errors.Is(err, casecore.ErrNotFound) {
		t.Errorf("other unit's handler acts: %v", err)
	}
	if _, err := e.svc.Act(e.ctx, sup, r.CaseID, casecore.ActionCallback, casecore.ActionInput{Note: "x"}); !errors.Is(err, casecore.ErrForbidden) {
		t.Errorf("supervisor acts: %v", err)
	}
	if _, err := e.svc.Act(e.ctx, admin, r.CaseID, casecore.ActionRectify, casecore.ActionInput{Note: "x"}); !errors.Is(err, casecore.ErrForbidden) {
		t.Errorf("admin rectifies: %v", err)
	}
	if _, err := e.svc.Act(e.ctx, handler, r.CaseID, casecore.ActionRectify, casecore.ActionInput{Note: "x"}); !errors.Is(err, casecore.ErrState) {
		t.Errorf("rectify in open: %v", err)
	}
	if _, err := e.svc.Act(e.ctx, handler, r.CaseID, casecore.ActionCallback, casecore.ActionInput{}); err == nil {
		t.Error("callback without a note accepted")
	}
	if _, err := e.svc.Act(e.ctx, handler, r.CaseID, casecore.ActionCallback, casecore.ActionInput{Note: "x", Version: 7}); !errors.Is(err, casecore.ErrConflict) {
		t.Errorf("stale version: %v", err)
	}
	cs, err := e.svc.ListCases(e.ctx, other, casecore.CaseQuery{})
	if err != nil || len(cs) != 0 {
		t.Errorf("other handler lists %d cases, %v", len(cs), err)
	}
	if _, err := e.svc.ListCases(e.ctx, other, casecore.CaseQuery{Units: []string{"fh-g08"}}); !errors.Is(err, casecore.ErrForbidden) {
		t.Errorf("other handler asks for fh-g08: %v", err)
	}
	cs, _ = e.svc.ListCases(e.ctx, handler, casecore.CaseQuery{})
	if len(cs) != 1 {
		t.Errorf("own handler lists %d cases", len(cs))
	}
	if got := casecore.AvailableActions(handler, cs[0]); fmt.Sprint(got) != "[callback appeal accept note]" {
		t.Errorf("handler actions in open: %v", got)
	}
}

// TestTwoProcessesFireOnce runs two services on one Redis, each with its
// worker loop, and checks every deadline fired exactly once.
func TestTwoProcessesFireOnce(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		e := newEnv(t, rdb, "2026-03-02 10:00")
		const n = 60
		var ids []string
		for range n {
			ids = append(ids, e.rate(casecore.Dissatisfied, nil).CaseID)
		}
		e.at("2026-03-27 12:00") // callback overdue, appeal expired, rectification (due 03-31) warned
		other := e.service()
		var wg sync.WaitGroup
		for _, svc := range []*casecore.Service{e.svc, other, e.svc, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					k, err := svc.FireDue(e.ctx, 7)
					if err != nil {
						t.Error(err)
						return
					}
					if k == 0 {
						return
					}
				}
			}()
		}
		wg.Wait()
		counts := map[string]int{}
		for _, ev := range e.events("") {
			counts[ev["type"].(string)]++
		}
		if counts["deadline_overdue"] != n || counts["deadline_warning"] != n || counts["case_transition"] != n {
			t.Errorf("events %v, want %d overdue, %d warnings, %d transitions", counts, n, n, n)
		}
		for _, id := range ids {
			c := e.caseOf(id)
			if c.State != casecore.StateRectifying || len(c.Escalations) != 2 {
				t.Fatalf("case %s: state %s escalations %+v", id, c.State, c.Escalations)
			}
		}
	})
}

// TestPickUpAfterDowntime: nothing ran for weeks; on start everything that
// fell due fires, in order, with the automatic transitions at the instants
// they were due.
func TestPickUpAfterDowntime(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		e := newEnv(t, rdb, "2026-03-02 10:00")
		r := e.rate(casecore.Dissatisfied, nil)
		e.act(handler, r.CaseID, casecore.ActionAccept, casecore.ActionInput{Note: "ok"})
		e.act(handler, r.CaseID, casecore.ActionRectify, casecore.ActionInput{Note: "done"})
		e.at("2026-04-30 10:00")
		e.fire()
		c := e.caseOf(r.CaseID)
		if c.State != casecore.StateRereview {
			t.Fatalf("state %s, want rereview", c.State)
		}
		// The re-review clock started when the follow-up period ended (2026-03-07 24:00).
		if got := c.Clocks[casecore.ClockRereview].StartedAt; !got.Equal(time.Date(2026, 3, 8, 0, 0, 0, 0, casecore.Shanghai)) {
			t.Errorf("re-review started %s", got)
		}
		if !c.Clocks[casecore.ClockRereview].Overdue {
			t.Error("re-review not overdue after the downtime")
		}
	})
}

func TestProvisionalRecomputed(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		e := newEnv(t, rdb, "2026-12-28 10:00")
		r := e.rate(casecore.Dissatisfied, nil)
		c := e.caseOf(r.CaseID)
		if c.Clocks[casecore.ClockCallback].Provisional {
			t.Error("callback due 2026-12-29 is provisional")
		}
		ap := c.Clocks[casecore.ClockAppeal]
		if !ap.Provisional || ap.DueDate.String() != "2027-01-04" {
			t.Fatalf("appeal %s provisional %v, want 2027-01-04 provisional", ap.DueDate, ap.Provisional)
		}
		dl := e.svc.Deadlines(c, nil, e.clk.Now())
		if !dl[casecore.ClockAppeal].Provisional {
			t.Error("API deadline not provisional")
		}
		// The State Council announces 2027: New Year's holiday 1–3 January.
		fs := fstest.MapFS{}
		for _, y := range []string{"2025", "2026"} {
			b, err := readCalendar(y)
			if err != nil {
				t.Fatal(err)
			}
			fs[y+".json"] = &fstest.MapFile{Data: b}
		}
		fs["2027.json"] = &fstest.MapFile{Data: []byte(`{"year":2027,"days":[
			{"name":"元旦","date":"2027-01-01","isOffDay":true},
			{"name":"元旦","date":"2027-01-04","isOffDay":true}]}`)}
		cal, err := casecore.LoadCalendar(fs)
		if err != nil {
			t.Fatal(err)
		}
		n, err := e.svc.SetCalendar(e.ctx, cal)
		if err != nil || n != 1 {
			t.Fatalf("recomputed %d, %v", n, err)
		}
		ap = e.caseOf(r.CaseID).Clocks[casecore.ClockAppeal]
		if ap.Provisional || ap.DueDate.String() != "2027-01-06" {
			t.Errorf("after announcement: %s provisional %v, want 2027-01-06 final", ap.DueDate, ap.Provisional)
		}
		if refs, _ := e.store.Provisional(e.ctx); len(refs) != 0 {
			t.Errorf("still provisional: %v", refs)
		}
	})
}

func TestRecordNoRating(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		e := newEnv(t, rdb, "2026-03-02 10:00")
		in := casecore.NoRating{IdempotencyKey: "call-9", Channel: casecore.ChannelHotlineIVR, Reason: "timeout",
			WorkOrderID: "WO-9", UnitID: "fh-g08", RaterPhone: "13800138009"}
		n1, created, err := e.svc.RecordNoRating(e.ctx, in)
		if err != nil || !created {
			t.Fatalf("%v %v", created, err)
		}
		n2, created, err := e.svc.RecordNoRating(e.ctx, in)
		if err != nil || created || n2.ID != n1.ID {
			t.Fatalf("retry: %v %v %v", n2, created, err)
		}
		evs := e.events("no_rating")
		if len(evs) != 1 || evs[0]["rating_id"] != n1.ID {
			t.Fatalf("events %v", evs)
		}
		for _, ev := range e.events("") {
			if strings.Contains(fmt.Sprint(ev), "13800138009") {
				t.Fatal("phone number in the event stream")
			}
		}
		got, err := e.svc.GetNoRating(e.ctx, n1.ID)
		if err != nil || got.RaterPhone != "13800138009" || got.Reason != "timeout" {
			t.Errorf("stored %+v %v", got, err)
		}
	})
}

// TestRulesKeptPerCase: a case keeps the rule set it was opened under; a
// process started later with other rules computes that case's later
// deadlines with the old ones, and new cases with the new ones.
func TestRulesKeptPerCase(t *testing.T) {
	_, rdb := redistest.Mini(t)
	e := newEnv(t, rdb, "2026-03-02 10:00")
	old := e.rate(casecore.Dissatisfied, nil)
	rules := casecore.DefaultRules()
	rules.Rectification.Days = 20
	rules.Callback.Days = 2
	cal, _ := casecore.DefaultCalendar()
	svc2, err := casecore.NewService(e.ctx, casecore.Params{Store: e.store, Calendar: cal, Clock: e.clk}, casecore.Config{Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	c, err := svc2.Act(e.ctx, handler, old.CaseID, casecore.ActionAccept, casecore.ActionInput{Note: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	if got := dueDate(t, c, casecore.ClockRectification); got != "2026-03-23" {
		t.Errorf("old case under new config: rectification due %s, want 2026-03-23 (15 working days)", got)
	}
	r, _, err := svc2.SubmitRating(e.ctx, intake, casecore.RatingInput{IdempotencyKey: "new-rules", Channel: casecore.ChannelAPI,
		Level: casecore.Dissatisfied, UnitID: "fh-g08"})
	if err != nil {
		t.Fatal(err)
	}
	nc := e.caseOf(r.CaseID)
	if got := dueDate(t, nc, casecore.ClockCallback); got != "2026-03-04" {
		t.Errorf("new case: callback due %s, want 2026-03-04 (2 working days)", got)
	}
	if nc.Rules == c.Rules {
		t.Errorf("both cases record rules %s", nc.Rules)
	}
}

func TestSummary(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		e := newEnv(t, rdb, "2026-03-02 10:00") // Monday
		e.rate(casecore.Dissatisfied, nil)      // fh-g08: callback due Tuesday 24:00
		e.rate(casecore.Dissatisfied, func(in *casecore.RatingInput) { in.UnitID = "fh-t01" })
		e.at("2026-03-03 09:00")                                                                        // Tuesday: both callbacks due today, within 24 h
		r := e.rate(casecore.VeryDissatisfied, func(in *casecore.RatingInput) { in.UnitID = "fh-t01" }) // due Wednesday
		e.act(casecore.Actor{ID: "h", Role: casecore.RoleHandler, Units: []string{"fh-t01"}}, r.CaseID, casecore.ActionCallback, casecore.ActionInput{Note: "x"})
		sum, err := e.svc.Summary(e.ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprint(sum)
		want := "[{fh-g08 map[open:1] 1 0 1 1} {fh-t01 map[called_back:1 open:1] 2 0 1 1}]"
		if got != want {
			t.Errorf("summary on Tuesday\n got %s\nwant %s", got, want)
		}
		e.at("2026-03-04 01:00") // Wednesday: the first two are overdue
		sum, _ = e.svc.Summary(e.ctx, handler)
		if got := fmt.Sprint(sum); got != "[{fh-g08 map[open:1] 1 1 0 0}]" {
			t.Errorf("handler's summary on Wednesday: %s", got)
		}
	})
}

func TestEachRatingOfDayPages(t *testing.T) {
	_, rdb := redistest.Mini(t)
	e := newEnv(t, rdb, "2026-03-02 10:00")
	const n = 1203 // more than two pages
	for i := range n {
		unit := "fh-g08"
		if i%3 == 0 {
			unit = "fh-t01"
		}
		e.rate(casecore.Satisfied, func(in *casecore.RatingInput) { in.UnitID = unit })
	}
	seen := 0
	err := e.svc.EachRatingOfDay(e.ctx, handler, casecore.DateOf(e.clk.Now()), func(r *casecore.Rating) error {
		if r.UnitID != "fh-g08" {
			t.Fatalf("handler of fh-g08 got a rating of %s", r.UnitID)
		}
		seen++
		return nil
	})
	if err != nil || seen != n-(n+2)/3 {
		t.Errorf("saw %d ratings of fh-g08, want %d (err %v)", seen, n-(n+2)/3, err)
	}
}
