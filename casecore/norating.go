package casecore

import (
	"context"
	"errors"
	"fmt"
	"github.com/haochaping/haochaping/internal/phone"
	"strings"
	"time"
)

// NoRating is the outcome of a contact in which the citizen gave no rating
// (the IVR's last attempt passed, or the caller hung up), kept so the SMS
// module can invite them and reports can count it.
type NoRating struct {
	ID             string    `json:"id"`
	IdempotencyKey string    `json:"idempotency_key"`
	Channel        Channel   `json:"channel"`
	Reason         string    `json:"reason"` // timeout, invalid, hangup, aborted
	WorkOrderID    string    `json:"work_order_id,omitempty"`
	UnitID         string    `json:"unit_id"`
	StaffID        string    `json:"staff_id,omitempty"`
	Post           string    `json:"post,omitempty"`
	RaterPhone     string    `json:"rater_phone,omitempty"`
	FollowupOf     string    `json:"followup_of,omitempty"`
	At             time.Time `json:"at"`
}

// RecordNoRating records a contact without a rating, once per idempotency
// key, and appends a no_rating event (without the phone number) for the
// SMS module. It returns the stored record and whether it was new.
func (s *Service) RecordNoRating(ctx context.Context, in NoRating) (*NoRating, bool, error) {
	in.IdempotencyKey = strings.TrimSpace(in.IdempotencyKey)
	if in.IdempotencyKey == "" {
		return nil, false, &ValidationError{"idempotency_key", "required"}
	}
	if !in.Channel.Valid() {
		return nil, false, &ValidationError{"channel", fmt.Sprintf("%q is not a channel", in.Channel)}
	}
	if in.RaterPhone != "" {
		in.RaterPhone = phone.Normalize(in.RaterPhone)
	}
	now := s.clock.Now()
	in.At = now
	id, err := s.nextID(ctx, now)
	if err != nil {
		return nil, false, err
	}
	in.ID = "N" + id
	err = s.store.Apply(ctx, &Change{NoRating: &in,
		Events: []Event{{Type: "no_rating", Rating: in.ID, CaseID: in.FollowupOf, Unit: in.UnitID, Chan: in.Channel, At: now}},
		Stats:  []StatOp{{in.UnitID, DateOf(now), "no_rating", 1}}})
	var dup *DuplicateError
	if errors.As(err, &dup) {
		old, gerr := s.store.GetNoRating(ctx, dup.RatingID)
		return old, false, gerr
	}
	if err != nil {
		return nil, false, err
	}
	return &in, true, nil
}

// GetNoRating returns a recorded no-rating outcome (with the phone number,
// for the SMS module only).
func (s *Service) GetNoRating(ctx context.Context, id string) (*NoRating, error) {
	return s.store.GetNoRating(ctx, id)
}
