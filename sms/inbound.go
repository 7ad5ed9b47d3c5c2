package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	phonenum "github.com/haochaping/haochaping/internal/phone"
	"strings"
	"time"
)

// Reply outcomes, the labels of haochaping_sms_replies_total.
const (
	OutcomeRating      = "rating"
	OutcomeAmbiguous   = "ambiguous"
	OutcomeOptOut      = "opt_out"
	OutcomeLate        = "late"
	OutcomeUnsolicited = "unsolicited"
	OutcomeComment     = "comment"
	OutcomeEmpty       = "empty"
	OutcomeDuplicate   = "duplicate"
)

// keptText is a reply kept outside a rating: after the invitation was
// rated (late) or with no open invitation (unsolicited). Staff read them
// through the text review like any comment; the store keeps the number,
// logs never do.
type keptText struct {
	Invitation string    `json:"invitation,omitempty"`
	RatingID   string    `json:"rating_id,omitempty"`
	Phone      string    `json:"phone"`
	Text       string    `json:"text"`
	At         time.Time `json:"at"`
	Provider   string    `json:"provider"`
}

// maxKept bounds the unsolicited list.
const maxKept = 100_000

// HandleMO handles a citizen's message. In order:
//
//  1. A message id seen before (the gateway delivered it again) is dropped.
//  2. Opt-out words (TD, T, R, 退订, 取消, 拒收, STOP, full-width too) put the
//     number on the suppression list before anything else; nothing more is
//     sent to it, except the optional one-time confirmation.
//  3. The reply is matched to the newest invitation of the number that was
//     sent and has not expired. None: the text is kept as unsolicited.
//  4. If that invitation was rated already (by reply or on the page), the
//     text is kept as a late comment of the invitation (case core has no
//     "append comment" operation, so late texts live in the SMS store,
//     listed per invitation and counted by haochaping_sms_replies_total{outcome="late"}).
//  5. A rating is recorded, first wins, with the texts received before it
//     as its comment. An ambiguous reply is kept as such a text and gets one
//     clarification SMS per invitation; free text is kept likewise.
//
// HandleMO returns an error only when the message could not be stored, so
// the gateway may deliver it again.
func (s *Service) HandleMO(ctx context.Context, provider string, mo MO) error {
	phone := phonenum.Normalize(mo.From)
	now := s.now()
	log := s.log.With("from", phonenum.Mask(phone), "provider", provider)
	if phone == "" {
		log.Warn("sms reply without a sender dropped")
		return nil
	}
	if mo.ID != "" {
		ok, err := s.rdb.SetNX(ctx, s.k.mo(provider, mo.ID), "1", 7*24*time.Hour).Result()
		if err != nil {
			return fmt.Errorf("sms reply: %w", err)
		}
		if !ok {
			s.m.reply(OutcomeDuplicate)
			log.Info("sms reply delivered twice, dropped")
			return nil
		}
	}
	err := s.handleMO(ctx, provider, phone, mo, now, log)
	if err != nil && mo.ID != "" {
		s.rdb.Del(context.WithoutCancel(ctx), s.k.mo(provider, mo.ID)) // let the redelivery in
	}
	return err
}

func (s *Service) handleMO(ctx context.Context, provider, phone string, mo MO, now time.Time, log interface {
	Info(string, ...any)
	Warn(string, ...any)
}) error {
	r := ParseReply(mo.Text)
	if r.Kind == ReplyOptOut {
		added, err := s.rdb.SAdd(ctx, s.k.sup(), phone).Result()
		if err != nil {
			return fmt.Errorf("sms opt-out: %w", err)
		}
		s.m.reply(OutcomeOptOut)
		log.Info("sms opt-out: number suppressed")
		if added == 1 && s.cfg.OptOutConfirmation != "" {
			if _, err := s.out.Enqueue(ctx, kindOptOut, phone, "", []Message{NewMessage(s.cfg.OptOutConfirmation)}); err != nil {
				log.Warn("sms opt-out confirmation not queued", "err", err)
			}
		}
		return nil
	}
	inv, err := s.openInvitation(ctx, phone, now)
	if err != nil {
		return err
	}
	if inv == nil {
		if r.Kind == ReplyEmpty {
			s.m.reply(OutcomeEmpty)
			return nil
		}
		s.m.reply(OutcomeUnsolicited)
		log.Info("sms reply matches no open invitation: kept as unsolicited")
		return s.keep(ctx, s.k.unsolicited(), keptText{Phone: phone, Text: mo.Text, At: now, Provider: provider})
	}
	log = s.log.With("from", phonenum.Mask(phone), "invitation_id", inv.ID)
	if inv.RatingID != "" {
		return s.late(ctx, inv, provider, mo.Text, now, log)
	}
	switch r.Kind {
	case ReplyEmpty:
		s.m.reply(OutcomeEmpty)
		return nil
	case ReplyRating:
		id, err := s.record(ctx, inv, ViaReply, r.Level, r.Comment)
		switch {
		case errors.Is(err, ErrAlreadyRated):
			return s.late(ctx, inv, provider, mo.Text, now, log)
		case errors.Is(err, ErrRejected):
			log.Warn("sms rating refused by the case core: kept as a comment", "err", err)
			_, err = s.update(ctx, inv.ID, func(inv *Invitation) ([]spec, error) {
				inv.Comments = append(inv.Comments, mo.Text)
				return nil, nil
			})
			return err
		case err != nil:
			return fmt.Errorf("sms reply: record rating: %w", err)
		}
		var ack []spec
		if s.cfg.Ack {
			if msgs, err := s.tpl.Render(KindAck, Vars{}); err == nil {
				for _, m := range msgs {
					ack = append(ack, s.out.newSpec(string(KindAck), phone, m, now, time.Time{}, false))
				}
			}
		}
		if err := s.markRated(ctx, inv.ID, id, ViaReply, mo.Text, r.Level, ack); err != nil {
			return err
		}
		s.m.reply(OutcomeRating)
		log.Info("sms reply recorded as a rating", "rating_id", id, "level", r.Level)
		return nil
	default: // ambiguous or free text: keep it; clarify once
		outcome := OutcomeComment
		if r.Kind == ReplyAmbiguous {
			outcome = OutcomeAmbiguous
		}
		rated := false
		_, err := s.update(ctx, inv.ID, func(cur *Invitation) ([]spec, error) {
			if cur.RatingID != "" {
				rated = true
				return nil, errNoChange
			}
			cur.Comments = append(cur.Comments, strings.TrimSpace(mo.Text))
			if r.Kind != ReplyAmbiguous || cur.Clarified {
				return nil, nil
			}
			cur.Clarified = true
			msgs, err := s.tpl.Render(KindClarification, Vars{})
			if err != nil {
				return nil, err
			}
			var specs []spec
			for _, m := range msgs {
				specs = append(specs, s.out.newSpec(string(KindClarification), phone, m, now, cur.ExpiresAt, false))
			}
			return specs, nil
		})
		if err != nil {
			return err
		}
		if rated {
			return s.late(ctx, inv, provider, mo.Text, now, log)
		}
		s.m.reply(outcome)
		log.Info("sms reply kept as a comment of the invitation", "kind", r.Kind, "reason", r.Reason)
		return nil
	}
}

// late keeps a text that came after the invitation's rating. The same text
// as the one that rated (a resent copy of the same reply) is dropped.
func (s *Service) late(ctx context.Context, inv *Invitation, provider, text string, now time.Time, log interface{ Info(string, ...any) }) error {
	if cur, err := s.Get(ctx, inv.ID); err == nil {
		inv = cur
	}
	if inv.RatedVia == ViaReply && strings.TrimSpace(text) == strings.TrimSpace(inv.RatedText) {
		s.m.reply(OutcomeDuplicate)
		return nil
	}
	s.m.reply(OutcomeLate)
	log.Info("sms reply after the rating: kept as a late comment")
	return s.keep(ctx, s.k.late(inv.ID), keptText{Invitation: inv.ID, RatingID: inv.RatingID, Phone: inv.Phone,
		Text: text, At: now, Provider: provider})
}

func (s *Service) keep(ctx context.Context, key string, t keptText) error {
	b, _ := json.Marshal(t)
	pipe := s.rdb.TxPipeline()
	pipe.RPush(ctx, key, b)
	pipe.LTrim(ctx, key, -maxKept, -1)
	pipe.Expire(ctx, key, s.ttl())
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("sms keep text: %w", err)
	}
	return nil
}

// LateComments returns the texts that came after an invitation's rating.
func (s *Service) LateComments(ctx context.Context, id string) ([]keptText, error) {
	return s.kept(ctx, s.k.late(id))
}

// Unsolicited returns the texts that matched no open invitation, oldest first.
func (s *Service) Unsolicited(ctx context.Context) ([]keptText, error) {
	return s.kept(ctx, s.k.unsolicited())
}

func (s *Service) kept(ctx context.Context, key string) ([]keptText, error) {
	raw, err := s.rdb.LRange(ctx, key, 0, -1).Result()
	if err != nil {
		return nil, err
	}
	out := make([]keptText, 0, len(raw))
	for _, r := range raw {
		var t keptText
		if json.Unmarshal([]byte(r), &t) == nil {
			out = append(out, t)
		}
	}
	return out, nil
}

// openInvitation returns the newest invitation of phone that was sent and
// has not expired, or nil.
func (s *Service) openInvitation(ctx context.Context, phone string, now time.Time) (*Invitation, error) {
	ids, err := s.rdb.ZRevRange(ctx, s.k.phone(phone), 0, 19).Result()
	if err != nil {
		return nil, fmt.Errorf("sms reply: %w", err)
	}
	for _, id := range ids {
		inv, err := s.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if inv.Sent().IsZero() || inv.Expired(now) {
			continue
		}
		return inv, nil
	}
	return nil, nil
}

// Suppressed reports whether a number opted out.
func (s *Service) Suppressed(ctx context.Context, phone string) (bool, error) {
	return s.rdb.SIsMember(ctx, s.k.sup(), phonenum.Normalize(phone)).Result()
}

// Unsuppress takes a number off the suppression list (the citizen asked
// again to receive messages).
func (s *Service) Unsuppress(ctx context.Context, phone string) error {
	return s.rdb.SRem(ctx, s.k.sup(), phonenum.Normalize(phone)).Err()
}

// HandleReceipt applies a delivery receipt. A receipt for an id not yet
// recorded (it overtook the gateway's answer to the submit) is kept for a
// few minutes and applied when the send is recorded.
func (s *Service) HandleReceipt(ctx context.Context, provider string, r Receipt) error {
	id, res, err := s.out.ApplyReceipt(ctx, provider, r)
	if err != nil {
		return err
	}
	if res == "unknown" && r.Status != ReceiptPending {
		b, _ := json.Marshal(r)
		key := s.k.early(provider, r.MessageID)
		pipe := s.rdb.TxPipeline()
		pipe.RPush(ctx, key, b)
		pipe.Expire(ctx, key, 10*time.Minute)
		_, err := pipe.Exec(ctx)
		return err
	}
	if id != "" {
		s.log.Debug("sms receipt", "msg_id", id, "result", res)
	}
	return nil
}

// ApplyEarlyReceipts applies receipts that arrived before the send of the
// given provider ids was recorded (the outbox's OnSent hook).
func (s *Service) ApplyEarlyReceipts(ctx context.Context, provider string, ids []string) {
	for _, pid := range ids {
		key := s.k.early(provider, pid)
		raw, err := s.rdb.LRange(ctx, key, 0, -1).Result()
		if err != nil || len(raw) == 0 {
			continue
		}
		s.rdb.Del(ctx, key)
		for _, x := range raw {
			var r Receipt
			if json.Unmarshal([]byte(x), &r) == nil {
				_, _, _ = s.out.ApplyReceipt(ctx, provider, r)
			}
		}
	}
}
