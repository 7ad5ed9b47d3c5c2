package casecore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults of WorkerConfig.
const (
	DefaultWorkerBatch = 500
	DefaultWorkerPoll  = time.Second
	DefaultGaugeEvery  = 15 * time.Second
)

// WorkerConfig tunes the deadline worker.
type WorkerConfig struct {
	// Batch is how many due clocks one round reads.
	Batch int
	// Poll bounds how long the worker sleeps before looking again; other
	// processes may schedule earlier deadlines meanwhile.
	Poll time.Duration
	// GaugeEvery is how often the open-case gauges are refreshed.
	GaugeEvery time.Duration
}

func (c WorkerConfig) withDefaults() WorkerConfig {
	if c.Batch <= 0 {
		c.Batch = DefaultWorkerBatch
	}
	if c.Poll <= 0 {
		c.Poll = DefaultWorkerPoll
	}
	if c.GaugeEvery <= 0 {
		c.GaugeEvery = DefaultGaugeEvery
	}
	return c
}

// RunDeadlines fires deadlines as they fall due until ctx ends. Any number of
// processes may run it on one store: every firing is a compare-and-set on the
// case's version, so each warning, escalation and automatic transition
// happens once. Clocks that fell due while no worker ran fire on start.
// Its idle cost is one O(log n) look at the earliest due time per Poll.
func (s *Service) RunDeadlines(ctx context.Context, cfg WorkerConfig) error {
	cfg = cfg.withDefaults()
	var lastGauge time.Time
	failures := 0
	for {
		n, err := s.FireDue(ctx, cfg.Batch)
		if err != nil && ctx.Err() == nil {
			// Log the first failure and then every 30th, so an outage of
			// Redis does not flood the log; back off up to 30 s.
			if failures%30 == 0 {
				s.log.Error("deadline worker", "err", err, "consecutive_failures", failures+1)
			}
			failures++
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(min(cfg.Poll<<min(failures, 5), 30*time.Second)):
			}
			continue
		}
		if failures > 0 {
			s.log.Info("deadline worker recovered", "after_failures", failures)
			failures = 0
		}
		now := s.clock.Now()
		if now.Sub(lastGauge) >= cfg.GaugeEvery {
			lastGauge = now
			s.refreshGauges(ctx)
		}
		wait := cfg.Poll
		if n >= cfg.Batch && err == nil {
			wait = 0 // more are due
		} else if next, err := s.store.NextDue(ctx); err == nil && !next.IsZero() {
			if d := next.Sub(now); d < wait {
				wait = max(d, 10*time.Millisecond)
			}
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		} else if ctx.Err() != nil {
			return nil
		}
	}
}

func (s *Service) refreshGauges(ctx context.Context) {
	if s.metrics == nil {
		return
	}
	byState, overdue, err := s.store.CountOpen(ctx)
	if err != nil {
		s.log.Warn("count open cases", "err", err)
		return
	}
	s.metrics.setOpen(byState, overdue)
}

// FireDue fires up to limit clocks that are due now and returns how many due
// members it looked at.
func (s *Service) FireDue(ctx context.Context, limit int) (int, error) {
	now := s.clock.Now()
	items, err := s.store.Due(ctx, now, limit)
	if err != nil {
		return 0, fmt.Errorf("read due deadlines: %w", err)
	}
	if len(items) > 0 {
		s.metrics.lag(now.Sub(time.UnixMilli(items[0].Score)))
	} else {
		s.metrics.lag(0)
	}
	if len(items) == 0 {
		return 0, nil
	}
	// Group the members by entity, so the clocks of one case that fell due
	// together are fired in one change, in the order they fell due.
	byEntity := map[string][]DueItem{}
	var caseIDs, ratingIDs []string
	for _, it := range items {
		e := it.Ref.Entity
		if _, ok := byEntity[e]; !ok {
			if strings.HasPrefix(e, "R") {
				ratingIDs = append(ratingIDs, e)
			} else {
				caseIDs = append(caseIDs, e)
			}
		}
		byEntity[e] = append(byEntity[e], it)
	}
	cases, err := s.store.GetCases(ctx, caseIDs)
	if err != nil {
		return 0, err
	}
	ratings, err := s.store.GetRatings(ctx, ratingIDs)
	if err != nil {
		return 0, err
	}
	// Compute every case's firings from this read and apply them in one
	// pipelined round; a case whose compare-and-set lost (another worker or a
	// person moved it meanwhile) is fired again alone from a fresh read.
	var errs []error
	var batch []*Change
	var batchIDs []string
	var batchFired [][]Escalation
	for i, id := range caseIDs {
		if cases[i] == nil {
			if err := s.fireCase(ctx, id, nil, now); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		ch, fired, err := s.caseFirings(ctx, cases[i], now)
		if err != nil {
			errs = append(errs, fmt.Errorf("fire case %s: %w", id, err))
			continue
		}
		if ch != nil {
			batch, batchIDs, batchFired = append(batch, ch), append(batchIDs, id), append(batchFired, fired)
		}
	}
	for i, err := range s.store.ApplyMany(ctx, batch) {
		id := batchIDs[i]
		switch {
		case errors.Is(err, ErrConflict):
			s.metrics.conflict()
			c, gerr := s.store.GetCase(ctx, id)
			if errors.Is(gerr, ErrNotFound) {
				c, gerr = nil, nil
			}
			if gerr == nil {
				gerr = s.fireCase(ctx, id, c, now)
			}
			if gerr != nil {
				errs = append(errs, gerr)
			}
		case err != nil:
			errs = append(errs, fmt.Errorf("fire case %s: %w", id, err))
		default:
			s.logFired(id, batchFired[i])
		}
	}
	for i, id := range ratingIDs {
		if err := s.fireRating(ctx, id, ratings[i], now); err != nil {
			errs = append(errs, err)
		}
	}
	return len(items), errors.Join(errs...)
}

// fireCase fires every due clock of one case, retrying on a lost
// compare-and-set with a fresh read (another worker, or a person, moved the case).
func (s *Service) fireCase(ctx context.Context, id string, c *Case, now time.Time) error {
	for attempt := 0; ; attempt++ {
		if c == nil {
			// The case vanished or was never written: drop its members.
			return s.store.Apply(ctx, &Change{Deadlines: s.orphanOps(id)})
		}
		ch, fired, err := s.caseFirings(ctx, c, now)
		if err != nil || ch == nil {
			return err
		}
		err = s.store.Apply(ctx, ch)
		if errors.Is(err, ErrConflict) && attempt < s.cfg.MaxRetries {
			s.metrics.conflict()
			if c, err = s.store.GetCase(ctx, id); errors.Is(err, ErrNotFound) {
				c = nil
			} else if err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("fire case %s: %w", id, err)
		}
		s.logFired(id, fired)
		return nil
	}
}

func (s *Service) logFired(id string, fired []Escalation) {
	for _, f := range fired {
		s.metrics.fired(f.Clock, f.Kind)
		s.log.Info("deadline fired", "case_id", id, "clock", f.Clock, "kind", f.Kind, "due_at", f.DueAt)
	}
}

// orphanOps removes every possible member of an entity that has no record.
func (s *Service) orphanOps(id string) []DeadlineOp {
	var ops []DeadlineOp
	for _, k := range ClockKinds {
		ops = append(ops, DeadlineOp{Ref: DeadlineRef{id, k}})
	}
	return ops
}

// caseFirings computes the change that fires every clock of c due at now.
// It returns a nil change when nothing is due (another worker was first).
func (s *Service) caseFirings(ctx context.Context, c *Case, now time.Time) (*Change, []Escalation, error) {
	var ch *Change
	var fired []Escalation
	cur := c
	for {
		// The earliest due clock of the current version of the case.
		var due *Clock
		for _, k := range ClockKinds {
			clk, ok := cur.Clocks[k]
			if !ok {
				continue
			}
			if nf := clk.NextFire(); !nf.IsZero() && !nf.After(now) && (due == nil || nf.Before(due.NextFire())) {
				due = clk
			}
		}
		if due == nil {
			break
		}
		var step *Change
		auto := Action("")
		if !now.Before(due.DueAt) {
			switch {
			case due.Kind == ClockAppeal && Allowed(ActionAppealExpired, RoleSystem, cur.State):
				auto = ActionAppealExpired
			case due.Kind == ClockFollowup && Allowed(ActionFollowupExpired, RoleSystem, cur.State):
				auto = ActionFollowupExpired
			}
		}
		if auto != "" {
			var err error
			step, err = s.transition(ctx, cur, auto, SystemActor, ActionInput{Note: fmt.Sprintf("%s period ended %s", due.Kind, due.DueDate)}, due.DueAt)
			if err != nil {
				return nil, nil, err
			}
			fired = append(fired, Escalation{Clock: due.Kind, Kind: "expired", At: now, DueAt: due.DueAt})
		} else {
			n := cur.clone()
			n.Version++
			n.UpdatedAt = now
			clk := n.Clocks[due.Kind]
			esc := Escalation{Clock: due.Kind, At: now, DueAt: clk.DueAt}
			step = &Change{Case: n, CaseExpect: cur.Version, PrevState: cur.State, PrevOverdue: cur.Overdue()}
			if now.Before(clk.DueAt) {
				clk.Warned = true
				esc.Kind = "warning"
				step.Deadlines = append(step.Deadlines, DeadlineOp{Ref: DeadlineRef{c.ID, clk.Kind}, At: clk.DueAt, Provisional: clk.Provisional})
			} else {
				clk.Warned, clk.Overdue = true, true
				esc.Kind = "overdue"
				step.Deadlines = append(step.Deadlines, DeadlineOp{Ref: DeadlineRef{c.ID, clk.Kind}})
				step.Stats = append(step.Stats, StatOp{c.UnitID, DateOf(c.RatedAt), "overdue:" + string(clk.Kind), 1})
			}
			n.Escalations = append(n.Escalations, esc)
			n.History = append(n.History, HistoryEntry{At: now, Actor: "system", Role: RoleSystem, Action: "deadline_" + esc.Kind,
				From: cur.State, To: cur.State, Note: fmt.Sprintf("%s due %s", clk.Kind, clk.DueDate)})
			step.Events = append(step.Events, Event{Type: "deadline_" + esc.Kind, CaseID: c.ID, Unit: c.UnitID, State: cur.State, Clock: clk.Kind, At: now})
			fired = append(fired, esc)
		}
		ch = mergeChanges(ch, step)
		cur = step.Case
	}
	return ch, fired, nil
}

// mergeChanges folds step, computed from the case in a, into a, so several
// firings of one case are applied as one change against the version first read.
func mergeChanges(a, step *Change) *Change {
	if a == nil {
		return step
	}
	a.Case = step.Case
	a.Deadlines = append(a.Deadlines, step.Deadlines...)
	a.Stats = append(a.Stats, step.Stats...)
	a.Events = append(a.Events, step.Events...)
	if step.Referral != nil {
		a.Referral = step.Referral
	}
	return a
}

// fireRating fires the text-review clock of a rating's comment.
func (s *Service) fireRating(ctx context.Context, id string, r *Rating, now time.Time) error {
	for attempt := 0; ; attempt++ {
		if r == nil || r.TextReview == nil || r.TextReview.Clock == nil {
			if r == nil {
				return s.store.Apply(ctx, &Change{Deadlines: s.orphanOps(id)})
			}
			n := *r
			n.Version++
			return s.store.Apply(ctx, &Change{Rating: &n, RatingExpect: r.Version, Deadlines: []DeadlineOp{{Ref: DeadlineRef{id, ClockTextReview}}}})
		}
		clk := *r.TextReview.Clock
		nf := clk.NextFire()
		if nf.IsZero() || nf.After(now) {
			return nil
		}
		n := *r
		tr := *r.TextReview
		n.TextReview, tr.Clock = &tr, &clk
		n.Version++
		kind := "warning"
		ch := &Change{Rating: &n, RatingExpect: r.Version}
		if now.Before(clk.DueAt) {
			clk.Warned = true
			ch.Deadlines = []DeadlineOp{{Ref: DeadlineRef{id, ClockTextReview}, At: clk.DueAt, Provisional: clk.Provisional}}
		} else {
			kind = "overdue"
			clk.Warned, clk.Overdue = true, true
			ch.Deadlines = []DeadlineOp{{Ref: DeadlineRef{id, ClockTextReview}}}
			ch.Stats = []StatOp{{r.UnitID, DateOf(r.RatedAt), "overdue:text_review", 1}}
		}
		ch.Events = []Event{{Type: "deadline_" + kind, Rating: id, CaseID: r.CaseID, Unit: r.UnitID, Clock: ClockTextReview, At: now}}
		err := s.store.Apply(ctx, ch)
		if errors.Is(err, ErrConflict) && attempt < s.cfg.MaxRetries {
			var gerr error
			if r, gerr = s.store.GetRating(ctx, id); gerr != nil {
				return gerr
			}
			continue
		}
		if err == nil {
			s.metrics.fired(ClockTextReview, kind)
		}
		return err
	}
}

// SetCalendar installs new calendar data and recomputes every provisional
// deadline. Deadlines that were final stay as they are: the law counts them
// on the calendar in force when they started.
func (s *Service) SetCalendar(ctx context.Context, cal *Calendar) (int, error) {
	s.cal.Store(cal)
	return s.RecomputeProvisional(ctx)
}

// RecomputeProvisional recomputes the provisional deadlines on the current
// calendar and returns how many changed. It is safe to run in several
// processes at once.
func (s *Service) RecomputeProvisional(ctx context.Context) (int, error) {
	refs, err := s.store.Provisional(ctx)
	if err != nil {
		return 0, err
	}
	changed := 0
	for _, ref := range refs {
		ok, err := s.recompute(ctx, ref)
		if err != nil {
			return changed, fmt.Errorf("recompute %s: %w", ref.Member(), err)
		}
		if ok {
			changed++
		}
	}
	if changed > 0 {
		s.log.Info("provisional deadlines recomputed", "changed", changed, "calendar", s.cal.Load().Version())
	}
	return changed, nil
}

func (s *Service) recompute(ctx context.Context, ref DeadlineRef) (bool, error) {
	for attempt := 0; ; attempt++ {
		var ch *Change
		var old, clk *Clock
		var warnAt float64
		if strings.HasPrefix(ref.Entity, "R") {
			r, err := s.store.GetRating(ctx, ref.Entity)
			if err != nil {
				return false, err
			}
			if r.TextReview == nil || r.TextReview.Clock == nil {
				return false, s.store.Apply(ctx, &Change{Deadlines: []DeadlineOp{{Ref: ref}}})
			}
			n := *r
			tr := *r.TextReview
			old = r.TextReview.Clock
			c := *old
			clk, tr.Clock, n.TextReview = &c, &c, &tr
			n.Version++
			ch = &Change{Rating: &n, RatingExpect: r.Version}
			warnAt = s.cfg.Rules.WarnAt
		} else {
			c, err := s.store.GetCase(ctx, ref.Entity)
			if err != nil {
				return false, err
			}
			rules, err := s.rulesOf(ctx, c.Rules)
			if err != nil {
				return false, err
			}
			warnAt = rules.WarnAt
			old = c.Clocks[ref.Kind]
			if old == nil {
				return false, s.store.Apply(ctx, &Change{Deadlines: []DeadlineOp{{Ref: ref}}})
			}
			n := c.clone()
			n.Version++
			clk = n.Clocks[ref.Kind]
			ch = &Change{Case: n, CaseExpect: c.Version, PrevState: c.State, PrevOverdue: c.Overdue()}
		}
		s.computeDue(clk, warnAt)
		// A clock stays overdue only if the new due time has passed too; a
		// warning stays given if its new time has passed.
		now := s.clock.Now()
		clk.Overdue = old.Overdue && !now.Before(clk.DueAt)
		clk.Warned = clk.Overdue || old.Warned && !clk.WarnAt.After(now)
		if clk.DueDate == old.DueDate && clk.Provisional == old.Provisional {
			return false, nil
		}
		ch.Deadlines = []DeadlineOp{{Ref: ref, At: clk.NextFire(), Provisional: clk.Provisional, WasProvisional: old.Provisional}}
		ch.Events = []Event{{Type: "deadline_recomputed", CaseID: ref.Entity, Clock: ref.Kind, At: s.clock.Now()}}
		if ch.Case != nil {
			ch.Case.History = append(ch.Case.History, HistoryEntry{At: s.clock.Now(), Actor: "system", Role: RoleSystem,
				Action: "deadline_recomputed", From: ch.Case.State, To: ch.Case.State,
				Note: fmt.Sprintf("%s due %s → %s (calendar %s)", ref.Kind, old.DueDate, clk.DueDate, s.cal.Load().Version())})
		}
		err := s.store.Apply(ctx, ch)
		if errors.Is(err, ErrConflict) && attempt < s.cfg.MaxRetries {
			continue
		}
		return err == nil, err
	}
}
