package ivr

import (
	"context"
	"errors"
	"fmt"
	"github.com/haochaping/haochaping/internal/phone"
	"log/slog"
	"time"
)

// Kind is the flow a call runs: a first rating or the follow-up rating of a
// case after rectification.
type Kind string

// The flows.
const (
	KindRate     Kind = "rate"
	KindFollowup Kind = "followup"
)

// Channel is the rating channel of every result of this package.
const Channel = "hotline_ivr"

// CallInfo is the context of a call, taken by the SIP layer from the INVITE.
type CallInfo struct {
	// CallID identifies the call (the SIP Call-ID). It is in every log line
	// of the call and is the Recorder's idempotency key.
	CallID string
	Kind   Kind
	// WorkOrderID, UnitID, StaffID and Post say what is rated: the hotline
	// work order and the unit, staff member and post who handled it.
	WorkOrderID string
	UnitID      string
	StaffID     string
	Post        string
	// CallerNumber is the rater's number. It is passed on to the Recorder
	// and never logged in clear.
	CallerNumber string
	// FollowupOf is the ID of the case a follow-up rating belongs to;
	// required for KindFollowup.
	FollowupOf string
}

// ErrInvalidCallInfo is returned by CallInfo.Validate and Flow.Run when the
// call context cannot produce a usable result.
var ErrInvalidCallInfo = errors.New("ivr: invalid call info")

// Validate checks that info names the call and its flow, and that a follow-up
// call names its case.
func (i CallInfo) Validate() error {
	switch {
	case i.CallID == "":
		return fmt.Errorf("%w: empty call ID", ErrInvalidCallInfo)
	case i.Kind != KindRate && i.Kind != KindFollowup:
		return fmt.Errorf("%w: unknown flow %q", ErrInvalidCallInfo, i.Kind)
	case i.Kind == KindFollowup && i.FollowupOf == "":
		return fmt.Errorf("%w: follow-up call without followup_of", ErrInvalidCallInfo)
	}
	return nil
}

// LogValue logs the call context with the caller's number masked.
func (i CallInfo) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("call_id", i.CallID),
		slog.String("flow", string(i.Kind)),
		slog.String("work_order", i.WorkOrderID),
		slog.String("unit", i.UnitID),
		slog.String("staff", i.StaffID),
		slog.String("post", i.Post),
		slog.String("caller", phone.Mask(i.CallerNumber)),
		slog.String("followup_of", i.FollowupOf),
	)
}

// Outcome says whether a call produced a rating.
type Outcome string

// The outcomes.
const (
	Rated    Outcome = "rated"
	NoRating Outcome = "no_rating"
)

// Reason says why a call produced no rating.
type Reason string

// The reasons for NoRating.
const (
	// ReasonTimeout: no key within the timeout after the last attempt.
	ReasonTimeout Reason = "timeout"
	// ReasonInvalid: an invalid key at the last attempt.
	ReasonInvalid Reason = "invalid"
	// ReasonHangup: the caller hung up before choosing.
	ReasonHangup Reason = "hangup"
	// ReasonAborted: we ended the call before a choice, because the server
	// is stopping (the context of Run was cancelled) or a prompt failed.
	ReasonAborted Reason = "aborted"
)

// Result is what a call produced, handed to the Recorder.
type Result struct {
	Call    CallInfo
	Channel string // always Channel
	Outcome Outcome
	// Level is the chosen level when Outcome is Rated.
	Level Level
	// Key is the key that chose Level, or for ReasonInvalid the last invalid
	// key; empty otherwise.
	Key string
	// Reason is set when Outcome is NoRating.
	Reason Reason
	// Attempts is how many times the menu was offered (1 to MaxAttempts).
	Attempts int
	// StartedAt is when the flow started; DecidedAt when the caller chose a
	// level or the flow gave up.
	StartedAt time.Time
	DecidedAt time.Time
}

// Elapsed returns the time from the start of the flow to the decision.
func (r Result) Elapsed() time.Duration { return r.DecidedAt.Sub(r.StartedAt) }

// metricOutcome is the outcome label of the calls counter.
func (r Result) metricOutcome() string {
	if r.Outcome == Rated {
		return string(Rated)
	}
	return string(NoRating) + "_" + string(r.Reason)
}

// Recorder stores the result of a call: a rating goes to the case core, a
// NoRating lets the SMS module invite the caller.
type Recorder interface {
	// RecordRating stores res. The flow calls it once per call, but retries
	// it after an error, so an attempt that timed out yet stored res may be
	// followed by another: implementations must treat res.Call.CallID as an
	// idempotency key.
	RecordRating(ctx context.Context, res Result) error
}

// RecorderFunc adapts a function to Recorder.
type RecorderFunc func(ctx context.Context, res Result) error

// RecordRating calls f(ctx, res).
func (f RecorderFunc) RecordRating(ctx context.Context, res Result) error { return f(ctx, res) }

// ErrNotRecorded is returned by Flow.Run when the Recorder failed on every
// attempt.
var ErrNotRecorded = errors.New("ivr: result not recorded")
