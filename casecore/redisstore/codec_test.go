package redisstore

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/internal/redistest"
)

func TestCodecRoundTrip(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04:05.000", s, casecore.Shanghai)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	p := func(s string) *time.Time { v := at(s); return &v }
	clk := func(k casecore.ClockKind, kind casecore.DayKind, due casecore.Date, flags int) *casecore.Clock {
		return &casecore.Clock{Kind: k, StartedAt: at("2026-03-02 10:00:00.123"), Period: casecore.Period{Days: 5, Kind: kind},
			DueDate: due, DueAt: due.End(), WarnAt: at("2026-03-06 20:00:00.000"),
			Provisional: flags&1 != 0, Warned: flags&2 != 0, Overdue: flags&4 != 0}
	}
	d := casecore.Date{Year: 2026, Month: 3, Day: 9}
	c := &casecore.Case{ID: "C20260302000001", RatingID: "R20260302000001", WorkOrderID: "WO-1", UnitID: "fh-g08",
		StaffID: "s-1", Post: "窗口", Level: casecore.VeryDissatisfied, Channel: casecore.ChannelHotlineIVR,
		RatedAt: at("2026-03-02 10:00:00.123"), State: casecore.StateRereview, Version: 7, Rules: "r@1",
		OpenedAt: at("2026-03-02 10:00:00.200"), UpdatedAt: at("2026-03-09 11:00:00.000"), ClosedAt: p("2026-03-10 11:00:00.000"),
		Clocks: map[casecore.ClockKind]*casecore.Clock{
			casecore.ClockRereview: clk(casecore.ClockRereview, casecore.WorkingDays, d, 7),
			casecore.ClockFollowup: clk(casecore.ClockFollowup, casecore.NaturalDays, d, 0),
		},
		Appeal:      &casecore.Appeal{Reason: "mistaken", FiledAt: at("2026-03-03 09:00:00.000"), Decision: "rejected", DecidedAt: p("2026-03-04 09:00:00.000")},
		ConfirmedAt: p("2026-03-04 09:00:00.000"),
		Rectified:   []casecore.Rectification{{ReportedAt: at("2026-03-05 09:00:00.000"), DueAt: d.End(), OnTime: true}},
		Followups:   []string{"R20260306000009"},
		Escalations: []casecore.Escalation{{Clock: casecore.ClockCallback, Kind: "overdue", At: at("2026-03-04 00:00:01.000"), DueAt: d.End()}},
		History: []casecore.HistoryEntry{{At: at("2026-03-02 10:00:00.200"), Actor: "system", Role: casecore.RoleSystem,
			Action: "opened", To: casecore.StateOpen, Note: "说明 \"quoted\"\n"}},
	}
	b, err := encodeCase(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeCase(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("case round trip:\n got %+v\nwant %+v", got, c)
	}
	r := &casecore.Rating{ID: "R1", IdempotencyKey: "k", Channel: casecore.ChannelSMSLink, Level: casecore.Satisfied,
		WorkOrderID: "WO", UnitID: "u", StaffID: "s", Post: "p", RaterPhone: "13800138000", RaterName: "张三",
		Comment: "好", RatedAt: at("2026-03-02 10:00:00.123"), ReceivedAt: at("2026-03-02 10:00:01.000"), FollowupOf: "C9",
		Seq: 2, Version: 3, TextReview: &casecore.TextReview{Status: casecore.TextRejected, Clock: clk(casecore.ClockTextReview, casecore.WorkingDays, d, 2),
			DecidedBy: "admin", DecidedAt: p("2026-03-03 10:00:00.000"), Note: "n"}}
	b, err = encodeRating(r)
	if err != nil {
		t.Fatal(err)
	}
	gr, err := decodeRating(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gr, r) {
		t.Errorf("rating round trip:\n got %+v\nwant %+v", gr, r)
	}
}

func TestIndexKeepsNewest(t *testing.T) {
	_, rdb := redistest.Mini(t)
	st := New(rdb, Config{Namespace: "idx"})
	ctx := t.Context()
	for i := range maxIndexed + 5 {
		r := &casecore.Rating{ID: "R" + time.Duration(i).String(), IdempotencyKey: "k" + time.Duration(i).String(),
			Channel: casecore.ChannelAPI, Level: casecore.Satisfied, UnitID: "u", RaterPhone: "13800000000",
			RatedAt: time.Now(), Version: 1, Seq: 1}
		if err := st.Apply(ctx, &casecore.Change{NewRating: r, Fingerprint: "f"}); err != nil {
			t.Fatal(err)
		}
	}
	v, _ := rdb.HGet(ctx, st.k.phones("13800000000"), "13800000000").Result()
	ids := splitIDs(v)
	if len(ids) != maxIndexed || ids[len(ids)-1] != "R"+time.Duration(maxIndexed+4).String() || ids[0] != "R5ns" {
		t.Errorf("index holds %d ids from %s to %s", len(ids), ids[0], ids[len(ids)-1])
	}
}

// TestConcurrentApplyBatches: many callers at once share pipelines, and each
// gets the result of its own change (created, or a duplicate of its key).
func TestConcurrentApplyBatches(t *testing.T) {
	srv := redistest.Start(t)
	st := New(srv.Client(t), Config{Namespace: "batch"})
	ctx := t.Context()
	const n = 400
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprint("k", i/2) // every key twice: one creates, one is a duplicate
			r := &casecore.Rating{ID: fmt.Sprint("R", i), IdempotencyKey: key, Channel: casecore.ChannelAPI,
				Level: casecore.Satisfied, UnitID: "u", RatedAt: time.Now(), Version: 1, Seq: 1}
			errs[i] = st.Apply(ctx, &casecore.Change{NewRating: r, Fingerprint: "f"})
		}()
	}
	wg.Wait()
	created, dups := 0, 0
	for i, err := range errs {
		var dup *casecore.DuplicateError
		switch {
		case err == nil:
			created++
		case errors.As(err, &dup):
			dups++
			if other := dup.RatingID; other == fmt.Sprint("R", i) {
				t.Errorf("rating %d is a duplicate of itself", i)
			}
		default:
			t.Fatalf("apply %d: %v", i, err)
		}
	}
	if created != n/2 || dups != n/2 {
		t.Errorf("created %d, duplicates %d; want %d each", created, dups, n/2)
	}
}
