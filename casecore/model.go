package casecore

import (
	"slices"
	"strings"
	"time"
)

// Rating is one rating as received from any channel. RaterPhone and RaterName
// are kept in clear inside the core (the SMS module needs the number, an
// audited reveal shows it); every edge masks them with MaskPhone and MaskName.
type Rating struct {
	ID             string    `json:"id"`
	IdempotencyKey string    `json:"idempotency_key"`
	Channel        Channel   `json:"channel"`
	Level          Level     `json:"level"`
	WorkOrderID    string    `json:"work_order_id,omitempty"`
	UnitID         string    `json:"unit_id"`
	StaffID        string    `json:"staff_id,omitempty"`
	Post           string    `json:"post,omitempty"`
	RaterPhone     string    `json:"rater_phone,omitempty"`
	RaterName      string    `json:"rater_name,omitempty"`
	Comment        string    `json:"comment,omitempty"`
	RatedAt        time.Time `json:"rated_at"`
	ReceivedAt     time.Time `json:"received_at"`
	// FollowupOf is the case a follow-up rating (追评) answers.
	FollowupOf string `json:"followup_of,omitempty"`
	// CaseID is the case this rating opened, if it is a bad first rating.
	CaseID string `json:"case_id,omitempty"`
	// Seq is GB/T 39046 评价次数: 1 for a first rating, 2 for a follow-up.
	Seq int `json:"seq"`
	// TextReview is the administrator's review of Comment; nil without a comment.
	TextReview *TextReview `json:"text_review,omitempty"`
	Version    int         `json:"version"`
}

// Text review statuses.
const (
	TextPending  = "pending"
	TextApproved = "approved"
	TextRejected = "rejected"
)

// TextReview is the state of the 文本审核 of a rating's comment.
type TextReview struct {
	Status    string     `json:"status"`
	Clock     *Clock     `json:"clock,omitempty"`
	DecidedBy string     `json:"decided_by,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	Note      string     `json:"note,omitempty"`
}

// VisibleComment returns the comment unless the text review rejected it.
func (r *Rating) VisibleComment() string {
	if r.TextReview != nil && r.TextReview.Status == TextRejected {
		return ""
	}
	return r.Comment
}

// State is a case's workflow state.
type State string

// The case states.
const (
	StateOpen            State = "open"             // bad rating received; callback and appeal clocks run
	StateCalledBack      State = "called_back"      // the unit called the rater back; the appeal window still runs
	StateAppealed        State = "appealed"         // the unit appealed (误评/恶意差评); the administrator decides
	StateRectifying      State = "rectifying"       // confirmed bad rating; the unit rectifies
	StateFollowupPending State = "followup_pending" // rectification reported; the rater is invited to 追评
	StateRereview        State = "rereview"         // follow-up bad or missing: the administrator re-reviews
	StateClosed          State = "closed"           // rectified and accepted (terminal)
	StateNotAdopted      State = "not_adopted"      // appeal upheld: the rating is not adopted (terminal)
)

// States lists every state in workflow order.
var States = []State{StateOpen, StateCalledBack, StateAppealed, StateRectifying,
	StateFollowupPending, StateRereview, StateClosed, StateNotAdopted}

// Valid reports whether s is a known state.
func (s State) Valid() bool { return slices.Contains(States, s) }

// Terminal reports whether no further transition leaves s.
func (s State) Terminal() bool { return s == StateClosed || s == StateNotAdopted }

// ClockKind names a deadline clock.
type ClockKind string

// The clocks; the workflow table says which transitions start and stop each.
const (
	ClockCallback      ClockKind = "callback"
	ClockAppeal        ClockKind = "appeal"
	ClockAppealReview  ClockKind = "appeal_review"
	ClockRectification ClockKind = "rectification"
	ClockFollowup      ClockKind = "followup"
	ClockRereview      ClockKind = "rereview"
	ClockTextReview    ClockKind = "text_review"
)

// ClockKinds lists every clock kind.
var ClockKinds = []ClockKind{ClockCallback, ClockAppeal, ClockAppealReview, ClockRectification,
	ClockFollowup, ClockRereview, ClockTextReview}

// Clock is one running deadline.
type Clock struct {
	Kind ClockKind `json:"kind"`
	// StartedAt is the event that started the clock; its day does not count.
	StartedAt time.Time `json:"started_at"`
	Period    Period    `json:"period"`
	DueDate   Date      `json:"due_date"`
	// DueAt is 24:00 of DueDate in Asia/Shanghai.
	DueAt time.Time `json:"due_at"`
	// WarnAt is when the warning fires; zero when warnings are off.
	WarnAt      time.Time `json:"warn_at,omitzero"`
	Provisional bool      `json:"provisional,omitempty"`
	Warned      bool      `json:"warned,omitempty"`
	Overdue     bool      `json:"overdue,omitempty"`
}

// NextFire is when the deadline worker must next look at the clock: the
// warning if it is still to come, else the breach; zero when nothing is left
// to fire (already overdue).
func (c *Clock) NextFire() time.Time {
	switch {
	case c.Overdue:
		return time.Time{}
	case !c.Warned && !c.WarnAt.IsZero() && c.WarnAt.Before(c.DueAt):
		return c.WarnAt
	default:
		return c.DueAt
	}
}

// HistoryEntry is one line of a case's history: who did what, when, with a note.
type HistoryEntry struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Role   Role      `json:"role"`
	Action string    `json:"action"`
	From   State     `json:"from,omitempty"`
	To     State     `json:"to,omitempty"`
	Note   string    `json:"note,omitempty"`
}

// Case is the bad-rating workflow (差评闭环) of one bad first rating.
type Case struct {
	ID          string               `json:"id"`
	RatingID    string               `json:"rating_id"`
	WorkOrderID string               `json:"work_order_id,omitempty"`
	UnitID      string               `json:"unit_id"`
	StaffID     string               `json:"staff_id,omitempty"`
	Post        string               `json:"post,omitempty"`
	Level       Level                `json:"level"`
	Channel     Channel              `json:"channel"`
	RatedAt     time.Time            `json:"rated_at"`
	State       State                `json:"state"`
	Version     int                  `json:"version"`
	Rules       string               `json:"rules"`
	OpenedAt    time.Time            `json:"opened_at"`
	UpdatedAt   time.Time            `json:"updated_at"`
	ClosedAt    *time.Time           `json:"closed_at,omitempty"`
	Clocks      map[ClockKind]*Clock `json:"clocks,omitempty"`
	Appeal      *Appeal              `json:"appeal,omitempty"`
	ConfirmedAt *time.Time           `json:"confirmed_at,omitempty"`
	Rectified   []Rectification      `json:"rectifications,omitempty"`
	Followups   []string             `json:"followups,omitempty"`
	Escalations []Escalation         `json:"escalations,omitempty"`
	History     []HistoryEntry       `json:"history"`
}

// Appeal is the unit's 申诉.
type Appeal struct {
	Reason    string     `json:"reason"` // mistaken (误评) or malicious (恶意差评)
	FiledAt   time.Time  `json:"filed_at"`
	Decision  string     `json:"decision,omitempty"` // upheld or rejected
	DecidedAt *time.Time `json:"decided_at,omitempty"`
}

// Rectification is one reported 整改.
type Rectification struct {
	ReportedAt time.Time `json:"reported_at"`
	DueAt      time.Time `json:"due_at"`
	OnTime     bool      `json:"on_time"`
}

// Escalation records a warning or breach fired by the deadline worker.
type Escalation struct {
	Clock ClockKind `json:"clock"`
	Kind  string    `json:"kind"` // warning or overdue
	At    time.Time `json:"at"`
	DueAt time.Time `json:"due_at"`
}

// Overdue reports whether any running clock of the case is past due.
func (c *Case) Overdue() bool {
	for _, k := range c.Clocks {
		if k.Overdue {
			return true
		}
	}
	return false
}

// Referral is the referral of a staff member to the 区委作风办 after repeated
// confirmed bad ratings.
type Referral struct {
	ID        string    `json:"id"`
	StaffID   string    `json:"staff_id"`
	UnitID    string    `json:"unit_id"`
	CaseID    string    `json:"case_id"`
	RatingIDs []string  `json:"rating_ids,omitempty"`
	Count     int       `json:"count"`
	At        time.Time `json:"at"`
}

// MaskName masks a person's name: 张三 → 张*, 欧阳娜娜 → 欧***.
func MaskName(n string) string {
	r := []rune(n)
	if len(r) == 0 {
		return ""
	}
	return string(r[:1]) + strings.Repeat("*", max(len(r)-1, 1))
}
