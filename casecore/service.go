package casecore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/haochaping/haochaping/internal/phone"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/haochaping/haochaping/internal/clock"
)

// Defaults of Config, applied in one place (Config.withDefaults).
const (
	DefaultIDBlock       = 64
	DefaultMaxRetries    = 16
	DefaultMaxComment    = 2000 // characters
	DefaultMaxFieldBytes = 128
)

// Config holds the Service's optional settings.
type Config struct {
	// Rules is the rule set new cases are opened under (DefaultRules if zero).
	Rules Rules
	// IDBlock is how many rating numbers a process reserves at a time.
	IDBlock int
	// MaxRetries bounds the compare-and-set retries of one operation.
	MaxRetries int
	// Units, when not nil, is the set of known unit IDs: ratings for other
	// units are refused.
	Units map[string]bool
}

func (c Config) withDefaults() Config {
	if c.Rules.Name == "" {
		c.Rules = DefaultRules()
	}
	if c.IDBlock <= 0 {
		c.IDBlock = DefaultIDBlock
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	return c
}

// Params are the Service's required dependencies.
type Params struct {
	Store    Store
	Calendar *Calendar
	Clock    clock.Clock
	Logger   *slog.Logger
	Metrics  *Metrics // may be nil
}

// Service runs the workflow: every rating and every transition goes through it.
type Service struct {
	store   Store
	cal     atomic.Pointer[Calendar]
	clock   clock.Clock
	log     *slog.Logger
	metrics *Metrics
	cfg     Config

	rulesMu sync.RWMutex
	rules   map[string]Rules
	rulesID string // cfg.Rules.ID(), recorded on every case it opens

	idMu   sync.Mutex
	idDay  Date
	idNext int64
	idEnd  int64
}

// NewService builds a Service and records its rule set in the store.
func NewService(ctx context.Context, p Params, cfg Config) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Rules.Validate(); err != nil {
		return nil, err
	}
	if p.Store == nil || p.Calendar == nil {
		return nil, errors.New("casecore: store and calendar are required")
	}
	if p.Clock == nil {
		p.Clock = clock.Real{}
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{store: p.Store, clock: p.Clock, log: p.Logger, metrics: p.Metrics, cfg: cfg,
		rules: map[string]Rules{cfg.Rules.ID(): cfg.Rules}, rulesID: cfg.Rules.ID()}
	s.cal.Store(p.Calendar)
	if err := p.Store.SaveRules(ctx, cfg.Rules); err != nil {
		return nil, fmt.Errorf("save rules: %w", err)
	}
	return s, nil
}

// Calendar returns the calendar in use.
func (s *Service) Calendar() *Calendar { return s.cal.Load() }

// Rules returns the rule set new cases are opened under.
func (s *Service) Rules() Rules { return s.cfg.Rules }

// Store returns the store (for read-only views such as the dashboard).
func (s *Service) Store() Store { return s.store }

// Now returns the service clock's time.
func (s *Service) Now() time.Time { return s.clock.Now() }

// RatingInput is a rating as submitted by a channel.
type RatingInput struct {
	IdempotencyKey string    `json:"idempotency_key"`
	Channel        Channel   `json:"channel"`
	Level          Level     `json:"level"`
	WorkOrderID    string    `json:"work_order_id"`
	UnitID         string    `json:"unit_id"`
	StaffID        string    `json:"staff_id"`
	Post           string    `json:"post"`
	RaterPhone     string    `json:"rater_phone"`
	RaterName      string    `json:"rater_name"`
	Comment        string    `json:"comment"`
	RatedAt        time.Time `json:"rated_at"`
	FollowupOf     string    `json:"followup_of"`
}

// fingerprint identifies the content of a submission, so a retry with the
// same idempotency key and content is recognised and a reuse with other
// content is refused. Defaults (rated_at = now) are not part of it.
func (in *RatingInput) fingerprint() string {
	// Each field as "<len>:<value>|", then the rating time in ms if given.
	b := make([]byte, 0, 256)
	for _, f := range []string{string(in.Channel), string(in.Level), in.WorkOrderID, in.UnitID, in.StaffID,
		in.Post, in.RaterPhone, in.RaterName, in.Comment, in.FollowupOf} {
		b = strconv.AppendInt(b, int64(len(f)), 10)
		b = append(b, ':')
		b = append(b, f...)
		b = append(b, '|')
	}
	if !in.RatedAt.IsZero() {
		b = strconv.AppendInt(b, in.RatedAt.UnixMilli(), 10)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6]) // 48 bits tell a retry from a reuse
}

func (s *Service) validate(in *RatingInput) error {
	in.IdempotencyKey = strings.TrimSpace(in.IdempotencyKey)
	switch {
	case in.IdempotencyKey == "":
		return &ValidationError{"idempotency_key", "required: a key unique to this rating, so a retry is not counted twice"}
	case len(in.IdempotencyKey) > 200:
		return &ValidationError{"idempotency_key", "longer than 200 bytes"}
	case !in.Channel.Valid():
		return &ValidationError{"channel", fmt.Sprintf("%q is not a channel", in.Channel)}
	case !in.Level.Valid():
		return &ValidationError{"level", fmt.Sprintf("%q is not a level (very_satisfied, satisfied, basically_satisfied, dissatisfied, very_dissatisfied)", in.Level)}
	}
	for _, f := range []struct{ name, v string }{{"work_order_id", in.WorkOrderID}, {"unit_id", in.UnitID},
		{"staff_id", in.StaffID}, {"post", in.Post}, {"rater_name", in.RaterName}, {"followup_of", in.FollowupOf}} {
		if len(f.v) > DefaultMaxFieldBytes {
			return &ValidationError{f.name, fmt.Sprintf("longer than %d bytes", DefaultMaxFieldBytes)}
		}
		if !utf8.ValidString(f.v) || strings.ContainsAny(f.v, "\x00\r\n|") {
			return &ValidationError{f.name, "contains invalid characters"}
		}
	}
	if !utf8.ValidString(in.Comment) {
		return &ValidationError{"comment", "not valid UTF-8"}
	}
	if n := utf8.RuneCountInString(in.Comment); n > DefaultMaxComment {
		return &ValidationError{"comment", fmt.Sprintf("%d characters, at most %d", n, DefaultMaxComment)}
	}
	if in.RaterPhone != "" {
		p := phone.Normalize(in.RaterPhone)
		if len(p) < 5 || len(p) > 20 {
			return &ValidationError{"rater_phone", "not a phone number"}
		}
		in.RaterPhone = p
	}
	if in.FollowupOf == "" {
		if in.UnitID == "" {
			return &ValidationError{"unit_id", "required"}
		}
	}
	if in.UnitID != "" && s.cfg.Units != nil && !s.cfg.Units[in.UnitID] {
		return &ValidationError{"unit_id", fmt.Sprintf("%q is not a known unit", in.UnitID)}
	}
	now := s.clock.Now()
	if !in.RatedAt.IsZero() {
		if in.RatedAt.After(now.Add(5 * time.Minute)) {
			return &ValidationError{"rated_at", "in the future"}
		}
		if in.RatedAt.Before(now.AddDate(-2, 0, 0)) {
			return &ValidationError{"rated_at", "more than two years ago"}
		}
	}
	return nil
}

// SubmitRating records a rating. A bad first rating opens a case; a follow-up
// rating (FollowupOf) moves its case on. The same idempotency key with the
// same content returns the rating recorded the first time and created false.
func (s *Service) SubmitRating(ctx context.Context, actor Actor, in RatingInput) (*Rating, bool, error) {
	if err := s.validate(&in); err != nil {
		return nil, false, err
	}
	fp := in.fingerprint()
	now := s.clock.Now()
	if in.RatedAt.IsZero() {
		in.RatedAt = now
	}
	for attempt := 0; ; attempt++ {
		r, created, err := s.submitOnce(ctx, actor, in, fp, now)
		if errors.Is(err, ErrConflict) && attempt < s.cfg.MaxRetries {
			s.metrics.conflict()
			continue
		}
		return r, created, err
	}
}

func (s *Service) submitOnce(ctx context.Context, actor Actor, in RatingInput, fp string, now time.Time) (*Rating, bool, error) {
	var fcase *Case
	if in.FollowupOf != "" {
		c, err := s.store.GetCase(ctx, in.FollowupOf)
		if errors.Is(err, ErrNotFound) {
			return nil, false, &ValidationError{"followup_of", fmt.Sprintf("case %q does not exist", in.FollowupOf)}
		} else if err != nil {
			return nil, false, err
		}
		if in.UnitID == "" {
			in.UnitID = c.UnitID
		} else if in.UnitID != c.UnitID {
			return nil, false, &ValidationError{"unit_id", "differs from the unit of the case followed up"}
		}
		if in.StaffID == "" {
			in.StaffID = c.StaffID
		}
		if in.WorkOrderID == "" {
			in.WorkOrderID = c.WorkOrderID
		}
		fcase = c
	}
	id, err := s.nextID(ctx, now)
	if err != nil {
		return nil, false, err
	}
	r := &Rating{ID: "R" + id, IdempotencyKey: in.IdempotencyKey, Channel: in.Channel, Level: in.Level,
		WorkOrderID: in.WorkOrderID, UnitID: in.UnitID, StaffID: in.StaffID, Post: in.Post,
		RaterPhone: in.RaterPhone, RaterName: in.RaterName, Comment: in.Comment,
		RatedAt: in.RatedAt.Truncate(time.Millisecond), ReceivedAt: now, FollowupOf: in.FollowupOf, Seq: 1, Version: 1}
	ch := &Change{NewRating: r, Fingerprint: fp}
	day := DateOf(r.RatedAt)
	ev := Event{Type: "rating_received", Rating: r.ID, Unit: r.UnitID, Level: r.Level, Chan: r.Channel, At: now, Comment: r.Comment != ""}
	if r.Comment != "" {
		rules := s.cfg.Rules
		clk := s.newClock(rules, ClockTextReview, now)
		r.TextReview = &TextReview{Status: TextPending, Clock: clk}
		ch.Deadlines = append(ch.Deadlines, DeadlineOp{Ref: DeadlineRef{r.ID, ClockTextReview}, At: clk.NextFire(), Provisional: clk.Provisional})
		ch.Stats = append(ch.Stats, StatOp{r.UnitID, day, "comments", 1})
	}
	switch {
	case fcase != nil:
		r.Seq = 2
		ev.CaseID = fcase.ID
		ch.Events = append(ch.Events, ev)
		ch.Stats = append(ch.Stats, StatOp{r.UnitID, day, "fu_total", 1}, StatOp{r.UnitID, day, "fu:" + string(r.Level), 1})
		if err := s.followupChange(ctx, ch, fcase, r, now); err != nil {
			return nil, false, err
		}
	default:
		ch.Events = append(ch.Events, ev)
		ch.Stats = append(ch.Stats, StatOp{r.UnitID, day, "total", 1}, StatOp{r.UnitID, day, "lvl:" + string(r.Level), 1})
		if r.Level.Bad() {
			c := s.openCase(r, now)
			r.CaseID = c.ID
			ch.Case = c
			ch.Stats = append(ch.Stats, StatOp{r.UnitID, day, "bad", 1})
			for _, k := range []ClockKind{ClockCallback, ClockAppeal} {
				clk := c.Clocks[k]
				ch.Deadlines = append(ch.Deadlines, DeadlineOp{Ref: DeadlineRef{c.ID, k}, At: clk.NextFire(), Provisional: clk.Provisional})
			}
			ch.Events = append(ch.Events, Event{Type: "case_opened", CaseID: c.ID, Rating: r.ID, Unit: c.UnitID, State: c.State, Level: r.Level, At: now, Actor: actor.ID})
		}
	}
	err = s.store.Apply(ctx, ch)
	var dup *DuplicateError
	if errors.As(err, &dup) {
		if dup.Fingerprint != fp {
			return nil, false, ErrIdempotencyReuse
		}
		old, gerr := s.store.GetRating(ctx, dup.RatingID)
		return old, false, gerr
	}
	if err != nil {
		return nil, false, err
	}
	s.metrics.rating(r)
	s.log.Debug("rating recorded", "rating_id", r.ID, "channel", r.Channel, "level", r.Level, "case_id", r.CaseID)
	return r, true, nil
}

// openCase builds the case a bad first rating opens.
func (s *Service) openCase(r *Rating, now time.Time) *Case {
	rules := s.cfg.Rules
	c := &Case{ID: "C" + r.ID[1:], RatingID: r.ID, WorkOrderID: r.WorkOrderID, UnitID: r.UnitID,
		StaffID: r.StaffID, Post: r.Post, Level: r.Level, Channel: r.Channel, RatedAt: r.RatedAt,
		State: StateOpen, Version: 1, Rules: s.rulesID, OpenedAt: now, UpdatedAt: now,
		Clocks: map[ClockKind]*Clock{
			ClockCallback: s.newClock(rules, ClockCallback, r.RatedAt),
			ClockAppeal:   s.newClock(rules, ClockAppeal, r.RatedAt),
		},
		History: []HistoryEntry{{At: now, Actor: "system", Role: RoleSystem, Action: "opened", To: StateOpen}},
	}
	return c
}

// newClock starts a clock of kind k at the event instant start.
func (s *Service) newClock(rules Rules, k ClockKind, start time.Time) *Clock {
	c := &Clock{Kind: k, StartedAt: start, Period: rules.Period(k)}
	s.computeDue(c, rules.WarnAt)
	return c
}

// computeDue sets the due date and instant, the warning and the provisional
// flag of c from its start and period on the current calendar.
func (s *Service) computeDue(c *Clock, warnAt float64) {
	cal := s.cal.Load()
	from := DateOf(c.StartedAt)
	if c.Period.Kind == NaturalDays {
		c.DueDate, c.Provisional = cal.AddNaturalDays(from, c.Period.Days)
	} else {
		c.DueDate, c.Provisional = cal.AddWorkingDays(from, c.Period.Days)
	}
	c.DueAt = c.DueDate.End()
	c.WarnAt = time.Time{}
	if warnAt > 0 {
		span := c.DueAt.Sub(c.StartedAt)
		c.WarnAt = c.StartedAt.Add(time.Duration(float64(span) * warnAt)).Truncate(time.Second)
	}
}

// nextID returns the next rating number of the day, "YYYYMMDD" + 6 digits.
func (s *Service) nextID(ctx context.Context, now time.Time) (string, error) {
	day := DateOf(now)
	s.idMu.Lock()
	defer s.idMu.Unlock()
	if day != s.idDay || s.idNext >= s.idEnd {
		first, err := s.store.NextIDs(ctx, day, s.cfg.IDBlock)
		if err != nil {
			return "", fmt.Errorf("reserve rating ids: %w", err)
		}
		s.idDay, s.idNext, s.idEnd = day, first, first+int64(s.cfg.IDBlock)
	}
	n := s.idNext
	s.idNext++
	return string(appendPadded(day.AppendDigits(make([]byte, 0, 16), 0), int(n), 6)), nil
}

// rulesOf returns the rule set a case was opened under.
func (s *Service) rulesOf(ctx context.Context, id string) (Rules, error) {
	s.rulesMu.RLock()
	r, ok := s.rules[id]
	s.rulesMu.RUnlock()
	if ok {
		return r, nil
	}
	r, err := s.store.LoadRules(ctx, id)
	if err != nil {
		return Rules{}, fmt.Errorf("load rules %s: %w", id, err)
	}
	s.rulesMu.Lock()
	s.rules[id] = r
	s.rulesMu.Unlock()
	return r, nil
}

// ActionInput carries what an action needs besides its name.
type ActionInput struct {
	Note   string `json:"note"`
	Reason string `json:"reason"` // appeal: mistaken or malicious
	// Version, when not zero, must equal the case's version: a stale page
	// cannot act on a case that changed since it was shown.
	Version int `json:"version"`
}

// Act takes a user action on a case.
func (s *Service) Act(ctx context.Context, actor Actor, caseID string, a Action, in ActionInput) (*Case, error) {
	t, ok := transitions[a]
	if !ok || actor.Role == RoleSystem && a != ActionNote {
		return nil, &ValidationError{"action", fmt.Sprintf("%q is not an action", a)}
	}
	if !slices.Contains(t.Roles, actor.Role) {
		return nil, ErrForbidden
	}
	in.Note = strings.TrimSpace(in.Note)
	if !utf8.ValidString(in.Note) || utf8.RuneCountInString(in.Note) > DefaultMaxComment {
		return nil, &ValidationError{"note", "invalid or too long"}
	}
	switch a {
	case ActionCallback, ActionRectify, ActionRereviewFail, ActionNote:
		if in.Note == "" {
			return nil, &ValidationError{"note", "required for " + string(a)}
		}
	case ActionAppeal:
		if in.Reason != AppealMistaken && in.Reason != AppealMalicious {
			return nil, &ValidationError{"reason", "must be mistaken or malicious"}
		}
		if in.Note == "" {
			return nil, &ValidationError{"note", "required: what the callback found"}
		}
	}
	for attempt := 0; ; attempt++ {
		c, err := s.store.GetCase(ctx, caseID)
		if err != nil {
			return nil, err
		}
		if !actor.CanSeeUnit(c.UnitID) {
			return nil, ErrNotFound // a handler does not learn that another unit's case exists
		}
		if in.Version != 0 && in.Version != c.Version {
			return nil, fmt.Errorf("case changed since version %d: %w", in.Version, ErrConflict)
		}
		if !Allowed(a, actor.Role, c.State) {
			return nil, fmt.Errorf("%s in state %s: %w", a, c.State, ErrState)
		}
		ch, err := s.transition(ctx, c, a, actor, in, s.clock.Now())
		if err != nil {
			return nil, err
		}
		err = s.store.Apply(ctx, ch)
		if errors.Is(err, ErrConflict) && attempt < s.cfg.MaxRetries {
			s.metrics.conflict()
			continue
		}
		if err != nil {
			return nil, err
		}
		s.metrics.transition(a)
		s.log.Info("case transition", "case_id", c.ID, "action", a, "from", ch.PrevState, "to", ch.Case.State, "actor", actor.ID)
		return ch.Case, nil
	}
}

// transition computes the change action a makes to case c at instant at.
// c is not modified; the change carries a copy.
func (s *Service) transition(ctx context.Context, c *Case, a Action, actor Actor, in ActionInput, at time.Time) (*Change, error) {
	t := transitions[a]
	rules, err := s.rulesOf(ctx, c.Rules)
	if err != nil {
		return nil, err
	}
	n := c.clone()
	n.Version++
	n.UpdatedAt = s.clock.Now()
	ch := &Change{Case: n, CaseExpect: c.Version, PrevState: c.State, PrevOverdue: c.Overdue()}
	day := DateOf(c.RatedAt)
	stat := func(field string) { ch.Stats = append(ch.Stats, StatOp{c.UnitID, day, field, 1}) }
	for _, k := range t.Stop {
		if clk, ok := n.Clocks[k]; ok {
			delete(n.Clocks, k)
			ch.Deadlines = append(ch.Deadlines, DeadlineOp{Ref: DeadlineRef{c.ID, k}})
			if k == ClockRectification {
				onTime := !at.After(clk.DueAt)
				n.Rectified = append(n.Rectified, Rectification{ReportedAt: at, DueAt: clk.DueAt, OnTime: onTime})
				stat("rectified")
				if onTime {
					stat("rectified_on_time")
				}
			}
		}
	}
	for _, k := range t.Start {
		clk := &Clock{Kind: k, StartedAt: at, Period: rules.Period(k)}
		s.computeDue(clk, rules.WarnAt)
		n.Clocks[k] = clk
		ch.Deadlines = append(ch.Deadlines, DeadlineOp{Ref: DeadlineRef{c.ID, k}, At: clk.NextFire(), Provisional: clk.Provisional})
	}
	if t.To != "" {
		n.State = t.To
	}
	switch a {
	case ActionAppeal:
		n.Appeal = &Appeal{Reason: in.Reason, FiledAt: at}
		stat("appealed")
	case ActionUphold:
		n.Appeal.Decision, n.Appeal.DecidedAt = DecisionUpheld, &at
		stat("upheld") // "not_adopted" is counted below, as the terminal state
	case ActionReject:
		n.Appeal.Decision, n.Appeal.DecidedAt = DecisionRejected, &at
		stat("rejected")
	case ActionRectify:
		ch.Events = append(ch.Events, Event{Type: "followup_invite", CaseID: c.ID, Rating: c.RatingID, Unit: c.UnitID, At: at})
	case ActionFollowupExpired:
		stat("fu_none")
	}
	// Entering rectification for the first time confirms the bad rating.
	if n.State == StateRectifying && n.ConfirmedAt == nil {
		n.ConfirmedAt = &at
		stat("confirmed")
		if c.StaffID != "" {
			ch.Referral = &ReferralCheck{StaffID: c.StaffID, RatingID: c.RatingID, RatedAt: c.RatedAt,
				Window: time.Duration(rules.ReferralWindowDays) * 24 * time.Hour, Threshold: rules.ReferralThreshold,
				Referral: Referral{StaffID: c.StaffID, UnitID: c.UnitID, CaseID: c.ID, At: at}}
		}
	}
	if n.State.Terminal() {
		n.ClosedAt = &at
		stat(string(n.State))
	}
	note := in.Note
	if a == ActionAppeal {
		note = in.Reason + ": " + note
	}
	n.History = append(n.History, HistoryEntry{At: at, Actor: actor.ID, Role: actor.Role, Action: string(a), From: c.State, To: n.State, Note: note})
	if a != ActionNote {
		ch.Events = append(ch.Events, Event{Type: "case_transition", CaseID: c.ID, Unit: c.UnitID, From: c.State, State: n.State, Actor: actor.ID, At: at})
	} else {
		ch.Events = append(ch.Events, Event{Type: "case_note", CaseID: c.ID, Unit: c.UnitID, State: n.State, Actor: actor.ID, At: at})
	}
	return ch, nil
}

// followupChange adds to ch the effect of follow-up rating r on case c: a
// good one closes the case, a bad one sends it to re-review; one that arrives
// when the case no longer waits for it is kept and noted on the case.
func (s *Service) followupChange(ctx context.Context, ch *Change, c *Case, r *Rating, now time.Time) error {
	if c.State == StateFollowupPending {
		a := ActionFollowupGood
		if r.Level.Bad() {
			a = ActionFollowupBad
		}
		tc, err := s.transition(ctx, c, a, SystemActor, ActionInput{Note: "follow-up rating " + r.ID + ": " + string(r.Level)}, now)
		if err != nil {
			return err
		}
		tc.Case.Followups = append(tc.Case.Followups, r.ID)
		ch.Case, ch.CaseExpect, ch.PrevState, ch.PrevOverdue = tc.Case, tc.CaseExpect, tc.PrevState, tc.PrevOverdue
		ch.Deadlines = append(ch.Deadlines, tc.Deadlines...)
		ch.Stats = append(ch.Stats, tc.Stats...)
		ch.Events = append(ch.Events, tc.Events...)
		return nil
	}
	n := c.clone()
	n.Version++
	n.UpdatedAt = now
	n.Followups = append(n.Followups, r.ID)
	n.History = append(n.History, HistoryEntry{At: now, Actor: "system", Role: RoleSystem, Action: "late_followup",
		From: c.State, To: c.State, Note: fmt.Sprintf("follow-up rating %s (%s) arrived in state %s", r.ID, r.Level, c.State)})
	ch.Case, ch.CaseExpect, ch.PrevState, ch.PrevOverdue = n, c.Version, c.State, c.Overdue()
	return nil
}

// PendingTextReviews returns up to limit ratings whose comment waits for
// text review, earliest due first, of the units actor may see; and how many
// wait in all units.
func (s *Service) PendingTextReviews(ctx context.Context, actor Actor, limit int) ([]*Rating, int64, error) {
	const page = 500
	var out []*Rating
	var total int64
	for off := 0; len(out) < limit; off += page {
		ids, n, err := s.store.TextReviews(ctx, off, page)
		if err != nil {
			return nil, 0, err
		}
		if off == 0 {
			total = n
		}
		if len(ids) == 0 {
			break
		}
		rs, err := s.store.GetRatings(ctx, ids)
		if err != nil {
			return nil, 0, err
		}
		for _, r := range rs {
			// A rating reviewed between the two reads is no longer pending.
			if r != nil && r.TextReview != nil && r.TextReview.Status == TextPending && actor.CanSeeUnit(r.UnitID) {
				out = append(out, r)
				if len(out) == limit {
					break
				}
			}
		}
		if len(ids) < page {
			break
		}
	}
	return out, total, nil
}

// CountTextReviews returns how many ratings wait for text review, in all units.
func (s *Service) CountTextReviews(ctx context.Context) (int64, error) {
	_, n, err := s.store.TextReviews(ctx, 0, 0)
	return n, err
}

// ReviewText records the administrator's decision on a rating's comment.
func (s *Service) ReviewText(ctx context.Context, actor Actor, ratingID string, approve bool, note string) (*Rating, error) {
	if actor.Role != RoleAdmin {
		return nil, ErrForbidden
	}
	for attempt := 0; ; attempt++ {
		r, err := s.store.GetRating(ctx, ratingID)
		if err != nil {
			return nil, err
		}
		if r.TextReview == nil {
			return nil, fmt.Errorf("rating has no comment to review: %w", ErrState)
		}
		if r.TextReview.Status != TextPending {
			return nil, fmt.Errorf("text already %s: %w", r.TextReview.Status, ErrState)
		}
		now := s.clock.Now()
		n := *r
		tr := *r.TextReview
		n.TextReview = &tr
		n.Version++
		tr.Status, tr.DecidedBy, tr.DecidedAt, tr.Note, tr.Clock = TextApproved, actor.ID, &now, note, nil
		if !approve {
			tr.Status = TextRejected
		}
		ch := &Change{Rating: &n, RatingExpect: r.Version,
			Deadlines: []DeadlineOp{{Ref: DeadlineRef{r.ID, ClockTextReview}}},
			Events:    []Event{{Type: "text_review", Rating: r.ID, Unit: r.UnitID, CaseID: r.CaseID, Actor: actor.ID, At: now}}}
		if !approve {
			ch.Stats = append(ch.Stats, StatOp{r.UnitID, DateOf(r.RatedAt), "text_rejected", 1})
		}
		err = s.store.Apply(ctx, ch)
		if errors.Is(err, ErrConflict) && attempt < s.cfg.MaxRetries {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &n, nil
	}
}

// GetCase returns a case the actor may see.
func (s *Service) GetCase(ctx context.Context, actor Actor, id string) (*Case, error) {
	c, err := s.store.GetCase(ctx, id)
	if err != nil {
		return nil, err
	}
	if !actor.CanSeeUnit(c.UnitID) {
		return nil, ErrNotFound
	}
	return c, nil
}

// ListCases lists the cases the actor may see.
func (s *Service) ListCases(ctx context.Context, actor Actor, q CaseQuery) ([]*Case, error) {
	if actor.Role == RoleHandler {
		if len(q.Units) == 0 {
			q.Units = actor.Units
		}
		for _, u := range q.Units {
			if !actor.CanSeeUnit(u) {
				return nil, ErrForbidden
			}
		}
		if len(q.Units) == 0 {
			return nil, nil
		}
	}
	return s.store.ListCases(ctx, q)
}

// GetRating returns a rating the actor may see.
func (s *Service) GetRating(ctx context.Context, actor Actor, id string) (*Rating, error) {
	r, err := s.store.GetRating(ctx, id)
	if err != nil {
		return nil, err
	}
	if !actor.CanSeeUnit(r.UnitID) {
		return nil, ErrNotFound
	}
	return r, nil
}

// ListRatings lists the ratings the actor may see.
func (s *Service) ListRatings(ctx context.Context, actor Actor, q RatingQuery) ([]*Rating, error) {
	if q.Phone != "" {
		q.Phone = phone.Normalize(q.Phone)
	}
	if !q.From.IsZero() && q.To.IsZero() {
		q.To = s.clock.Now() // "from" alone: until now, on the service's clock
	}
	rs, err := s.store.ListRatings(ctx, q)
	if err != nil {
		return nil, err
	}
	out := rs[:0]
	for _, r := range rs {
		if actor.CanSeeUnit(r.UnitID) {
			out = append(out, r)
		}
	}
	return out, nil
}

// EachRatingOfDay calls fn with every rating made on day that the actor
// may see, in arrival order, reading them in pages (for exports).
func (s *Service) EachRatingOfDay(ctx context.Context, actor Actor, day Date, fn func(*Rating) error) error {
	const page = 500
	for offset := 0; ; offset += page {
		rs, err := s.store.RatingsOfDay(ctx, day, offset, page)
		if err != nil {
			return fmt.Errorf("ratings of %s: %w", day, err)
		}
		for _, r := range rs {
			if actor.CanSeeUnit(r.UnitID) {
				if err := fn(r); err != nil {
					return err
				}
			}
		}
		if len(rs) < page {
			return nil
		}
	}
}

// Deadline is a running clock as the API shows it.
type Deadline struct {
	DueDate     Date      `json:"due_date"`
	DueAt       time.Time `json:"due_at"`
	Provisional bool      `json:"provisional"`
	Overdue     bool      `json:"overdue"`
	Warned      bool      `json:"warned"`
	// WorkingDaysLeft counts the working days after today up to the due date
	// (0 on the last day, negative when overdue).
	WorkingDaysLeft int `json:"working_days_left"`
}

// Deadlines returns the running clocks of a case, and the text review of its
// rating's comment while pending, keyed by clock kind.
func (s *Service) Deadlines(c *Case, r *Rating, now time.Time) map[ClockKind]Deadline {
	cal := s.cal.Load()
	today := DateOf(now)
	out := map[ClockKind]Deadline{}
	add := func(k ClockKind, clk *Clock) {
		out[k] = Deadline{DueDate: clk.DueDate, DueAt: clk.DueAt.In(Shanghai), Provisional: clk.Provisional,
			Overdue: clk.Overdue || !now.Before(clk.DueAt), Warned: clk.Warned,
			WorkingDaysLeft: cal.WorkingDaysBetween(today, clk.DueDate)}
	}
	for k, clk := range c.Clocks {
		add(k, clk)
	}
	if r != nil && r.TextReview != nil && r.TextReview.Clock != nil && r.TextReview.Status == TextPending {
		add(ClockTextReview, r.TextReview.Clock)
	}
	return out
}

func (c *Case) clone() *Case {
	n := *c
	n.Clocks = make(map[ClockKind]*Clock, len(c.Clocks)+1)
	for k, v := range c.Clocks {
		cp := *v
		n.Clocks[k] = &cp
	}
	if c.Appeal != nil {
		a := *c.Appeal
		n.Appeal = &a
	}
	n.Rectified = append([]Rectification(nil), c.Rectified...)
	n.Followups = append([]string(nil), c.Followups...)
	n.Escalations = append([]Escalation(nil), c.Escalations...)
	n.History = append([]HistoryEntry(nil), c.History...)
	return &n
}
