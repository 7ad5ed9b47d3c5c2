package casecore

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// DayKind says how a period's days are counted.
type DayKind string

// Day kinds.
const (
	WorkingDays DayKind = "working"
	NaturalDays DayKind = "natural"
)

// Period is a deadline length.
type Period struct {
	Days int     `json:"days" yaml:"days"`
	Kind DayKind `json:"kind" yaml:"kind"`
}

// String returns e.g. "5 working days".
func (p Period) String() string { return fmt.Sprintf("%d %s days", p.Days, p.Kind) }

// Rules is the rule set a case is opened under: the length of every clock,
// when warnings fire, and the staff referral threshold. A case records the ID
// of its rule set, so a later change of configuration never moves a running
// deadline; the store keeps every rule set it has seen.
type Rules struct {
	Name          string `json:"name" yaml:"name"`
	Callback      Period `json:"callback" yaml:"callback"`
	Appeal        Period `json:"appeal" yaml:"appeal"`
	AppealReview  Period `json:"appeal_review" yaml:"appeal_review"`
	Rectification Period `json:"rectification" yaml:"rectification"`
	Followup      Period `json:"followup" yaml:"followup"`
	Rereview      Period `json:"rereview" yaml:"rereview"`
	TextReview    Period `json:"text_review" yaml:"text_review"`
	// WarnAt is the fraction of a period after which a warning fires (0 disables warnings).
	WarnAt float64 `json:"warn_at" yaml:"warn_at"`
	// ReferralThreshold confirmed bad ratings of one staff member within
	// ReferralWindowDays natural days refer them to the conduct office.
	ReferralThreshold  int `json:"referral_threshold" yaml:"referral_threshold"`
	ReferralWindowDays int `json:"referral_window_days" yaml:"referral_window_days"`
}

// DefaultRules are the deadlines of 奉政办发〔2020〕48号, with the stricter reading
// where the plan is silent (DOMAIN.md): the appeal window runs from the rating,
// rectification from confirmation, and the administrator's re-review, which
// the plan leaves open, gets 5 working days.
func DefaultRules() Rules {
	return Rules{
		Name:               "fenghua-2020-48",
		Callback:           Period{1, WorkingDays},
		Appeal:             Period{5, WorkingDays},
		AppealReview:       Period{5, WorkingDays},
		Rectification:      Period{15, WorkingDays},
		Followup:           Period{5, NaturalDays},
		Rereview:           Period{5, WorkingDays},
		TextReview:         Period{5, WorkingDays},
		WarnAt:             0.75,
		ReferralThreshold:  2,
		ReferralWindowDays: 365,
	}
}

// Period returns the period of a clock kind.
func (r Rules) Period(k ClockKind) Period {
	switch k {
	case ClockCallback:
		return r.Callback
	case ClockAppeal:
		return r.Appeal
	case ClockAppealReview:
		return r.AppealReview
	case ClockRectification:
		return r.Rectification
	case ClockFollowup:
		return r.Followup
	case ClockRereview:
		return r.Rereview
	case ClockTextReview:
		return r.TextReview
	}
	return Period{}
}

// Validate checks the rule set; errors name the offending key.
func (r Rules) Validate() error {
	if r.Name == "" {
		return fmt.Errorf("workflow.rules.name: must not be empty")
	}
	for _, k := range ClockKinds {
		p := r.Period(k)
		if p.Days < 0 || p.Days > 366 {
			return fmt.Errorf("workflow.rules.%s.days: %d out of range 0..366", k, p.Days)
		}
		if p.Kind != WorkingDays && p.Kind != NaturalDays {
			return fmt.Errorf("workflow.rules.%s.kind: %q, want working or natural", k, p.Kind)
		}
	}
	if r.WarnAt < 0 || r.WarnAt >= 1 {
		return fmt.Errorf("workflow.rules.warn_at: %v out of range [0, 1)", r.WarnAt)
	}
	if r.ReferralThreshold < 1 {
		return fmt.Errorf("workflow.rules.referral_threshold: %d, want at least 1", r.ReferralThreshold)
	}
	if r.ReferralWindowDays < 1 {
		return fmt.Errorf("workflow.rules.referral_window_days: %d, want at least 1", r.ReferralWindowDays)
	}
	return nil
}

// ID identifies the rule set by name and content: any change of a period
// gives a new ID, so cases opened under the old rules keep them.
func (r Rules) ID() string {
	b, _ := json.Marshal(r)
	sum := sha256.Sum256(b)
	return r.Name + "@" + hex.EncodeToString(sum[:4])
}
