package casecore

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict is a compare-and-set that lost: the case or rating changed
	// since it was read. The Service retries; callers see ErrState instead
	// when the new state does not allow the action.
	ErrConflict = errors.New("conflict")
	// ErrState is an action the case's current state does not allow.
	ErrState = errors.New("action not allowed in this state")
	// ErrForbidden is an action the actor's role or units do not allow.
	ErrForbidden = errors.New("forbidden")
	// ErrIdempotencyReuse is an idempotency key sent again with other content.
	ErrIdempotencyReuse = errors.New("idempotency key reused with different content")
)

// ValidationError is bad input, naming the field.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

// Store persists ratings and cases. Every method that changes something takes
// one Change and applies it atomically: all of it or, when a condition fails,
// none of it.
type Store interface {
	// Apply applies a change. It returns ErrConflict when ExpectVersion of the
	// case or rating does not match, and *DuplicateError when NewRating's
	// idempotency key is already known.
	Apply(ctx context.Context, ch *Change) error
	// ApplyMany applies changes in one round trip; each succeeds or fails on
	// its own, as Apply would, and errs[i] is the result of chs[i].
	ApplyMany(ctx context.Context, chs []*Change) (errs []error)
	GetRating(ctx context.Context, id string) (*Rating, error)
	GetNoRating(ctx context.Context, id string) (*NoRating, error)
	GetRatings(ctx context.Context, ids []string) ([]*Rating, error)
	ListRatings(ctx context.Context, q RatingQuery) ([]*Rating, error)
	// RatingsOfDay returns up to count ratings made on day, from position
	// offset of the day's list (in arrival order); fewer means the end.
	RatingsOfDay(ctx context.Context, day Date, offset, count int) ([]*Rating, error)
	GetCase(ctx context.Context, id string) (*Case, error)
	GetCases(ctx context.Context, ids []string) ([]*Case, error)
	ListCases(ctx context.Context, q CaseQuery) ([]*Case, error)
	// NextIDs reserves n consecutive sequence numbers of the day; IDs are
	// never reused, gaps are allowed.
	NextIDs(ctx context.Context, day Date, n int) (first int64, err error)
	// Due returns up to limit deadline members whose fire time is at or
	// before now, earliest first, and the earliest fire time of all (zero if none).
	Due(ctx context.Context, now time.Time, limit int) ([]DueItem, error)
	// NextDue returns the earliest fire time, zero when no clock runs.
	NextDue(ctx context.Context) (time.Time, error)
	// Provisional lists the deadline members whose due date is provisional.
	Provisional(ctx context.Context) ([]DeadlineRef, error)
	// SaveRules records a rule set under its ID (idempotent); LoadRules reads it back.
	SaveRules(ctx context.Context, r Rules) error
	LoadRules(ctx context.Context, id string) (Rules, error)
	// Stats sums the counters of the units (all when empty) over [from, to].
	Stats(ctx context.Context, units []string, from, to Date) (map[string]map[string]int64, error)
	// CountOpen returns the number of cases per state, and the number overdue.
	CountOpen(ctx context.Context) (map[State]int64, int64, error)
	// Summary counts the open cases of every unit by state, and those whose
	// earliest deadline has passed, ends before endOfDay, or within 24 hours
	// of now. Its cost grows with units and states, not with cases.
	Summary(ctx context.Context, now, endOfDay time.Time) ([]UnitSummary, error)
	Referrals(ctx context.Context, limit int) ([]*Referral, error)
	// TextReviews returns up to count IDs of the ratings whose text review
	// is pending, earliest due first, from position offset (Apply keeps that
	// queue with the ratings); and how many are pending in all. With count
	// 0 it returns the number only.
	TextReviews(ctx context.Context, offset, count int) (ids []string, total int64, err error)
	Ping(ctx context.Context) error
}

// DuplicateError reports an idempotency key already used, with the rating it made.
type DuplicateError struct {
	RatingID    string
	Fingerprint string
}

func (e *DuplicateError) Error() string { return "duplicate rating " + e.RatingID }

// DeadlineRef names one clock: of a case (C…) or of a rating's text review (R…).
type DeadlineRef struct {
	Entity string
	Kind   ClockKind
}

// Member is the deadline set member of the ref.
func (d DeadlineRef) Member() string { return d.Entity + "|" + string(d.Kind) }

// DueItem is a deadline member that fell due, with the score it was due at.
type DueItem struct {
	Ref   DeadlineRef
	Score int64 // fire time, Unix milliseconds
}

// DeadlineOp schedules (At non-zero) or removes (At zero) a clock's next firing.
type DeadlineOp struct {
	Ref         DeadlineRef
	At          time.Time
	Provisional bool
	// WasProvisional says the member may be marked provisional now, so a
	// final due date must clear the mark.
	WasProvisional bool
}

// StatOp adds Delta to a statistics counter of a unit and rating date.
type StatOp struct {
	Unit  string
	Date  Date
	Field string
	Delta int64
}

// ReferralCheck asks the store to count a confirmed bad rating of a staff
// member and open a referral when the count crosses the threshold within the
// window (one referral per crossing).
type ReferralCheck struct {
	StaffID   string
	RatingID  string
	RatedAt   time.Time
	Window    time.Duration
	Threshold int
	Referral  Referral // filled in by the store: Count, RatingIDs
}

// Event is appended to the event stream with every change.
type Event struct {
	Type   string    `json:"type"`
	CaseID string    `json:"case_id,omitempty"`
	Rating string    `json:"rating_id,omitempty"`
	Unit   string    `json:"unit_id,omitempty"`
	State  State     `json:"state,omitempty"`
	From   State     `json:"from,omitempty"`
	Clock  ClockKind `json:"clock,omitempty"`
	Actor  string    `json:"actor,omitempty"`
	Level  Level     `json:"level,omitempty"`
	Chan   Channel   `json:"channel,omitempty"`
	// Comment marks a rating_received event whose rating has a comment
	// waiting for text review, so consumers need not read every rating.
	Comment bool      `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

// Change is everything one operation changes, applied atomically.
type Change struct {
	// NewRating is created if its idempotency key is new.
	NewRating   *Rating
	Fingerprint string
	// NoRating is created if its idempotency key is new (see NewRating).
	NoRating *NoRating
	// Rating replaces a stored rating whose version is RatingExpect.
	Rating       *Rating
	RatingExpect int
	// Case is the case after the change; CaseExpect its version before (0:
	// the case must not exist). PrevState and PrevOverdue are what the
	// indexes hold now ("" for a new case).
	Case        *Case
	CaseExpect  int
	PrevState   State
	PrevOverdue bool
	Deadlines   []DeadlineOp
	Stats       []StatOp
	Referral    *ReferralCheck
	Events      []Event
}

// RatingQuery selects ratings. At least one of WorkOrderID, Phone or a date
// range is required; Phone matches exactly.
type RatingQuery struct {
	WorkOrderID string
	Phone       string
	Channel     Channel
	From, To    time.Time
	Limit       int
}

// UnitSummary counts a unit's open cases for the overview.
type UnitSummary struct {
	Unit     string          `json:"unit_id"`
	States   map[State]int64 `json:"states"`
	Open     int64           `json:"open"`
	Overdue  int64           `json:"overdue"`
	DueToday int64           `json:"due_today"`
	Due24h   int64           `json:"due_24h"`
}

// CaseQuery selects cases.
type CaseQuery struct {
	State   State
	Units   []string // any of; empty = all
	Overdue bool
	Limit   int
}
