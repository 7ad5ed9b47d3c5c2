package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	phonenum "github.com/haochaping/haochaping/internal/phone"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// Recorder records a rating in the case core. cmd/haochaping implements it
// over casecore.Service; the sms package never imports casecore.
type Recorder interface {
	// RecordRating records r once per r.IdempotencyKey and returns the
	// rating's ID. The same key with other content (the invitation was
	// already rated another way) returns an error matching ErrAlreadyRated;
	// an error matching ErrRejected is final (the case core refused the
	// content), anything else may be retried.
	RecordRating(ctx context.Context, r RatingRecord) (string, error)
}

// RatingRecord is a rating obtained by SMS reply or on the rating page.
type RatingRecord struct {
	IdempotencyKey string
	// Via is ViaReply (channel hotline_sms) or ViaLink (channel sms_link).
	Via         string
	Level       Level
	WorkOrderID string
	UnitID      string
	StaffID     string
	Phone       string
	Comment     string
	// FollowupOf is the case a follow-up (追评) rating belongs to.
	FollowupOf string
}

// Ways a rating arrives.
const (
	ViaReply = "reply"
	ViaLink  = "link"
)

// Errors callers branch on.
var (
	ErrAlreadyRated = errors.New("sms: invitation already rated")
	ErrRejected     = errors.New("sms: rating rejected by the case core")
	ErrSuppressed   = errors.New("sms: number opted out")
	ErrExists       = errors.New("sms: the work order already has an invitation")
	ErrExpired      = errors.New("sms: invitation expired")
)

// InvalidError is a request field that is missing or wrong.
type InvalidError struct{ Field, Message string }

func (e *InvalidError) Error() string { return e.Field + ": " + e.Message }

// MaxComment bounds a comment in characters (the case core's limit).
const MaxComment = 2000

// Invitation is a request to one number to rate one work order (or, for a
// follow-up, one case), with everything a reply or the page needs.
type Invitation struct {
	ID             string       `json:"id"`
	Kind           TemplateKind `json:"kind"`
	Trigger        string       `json:"trigger"`
	WorkOrderID    string       `json:"work_order_id,omitempty"`
	UnitID         string       `json:"unit_id,omitempty"`
	StaffID        string       `json:"staff_id,omitempty"`
	Phone          string       `json:"phone"`
	FollowupOf     string       `json:"followup_of,omitempty"`
	IdempotencyKey string       `json:"idempotency_key,omitempty"`
	CallDate       string       `json:"call_date"`
	CreatedAt      time.Time    `json:"created_at"`
	ExpiresAt      time.Time    `json:"expires_at"`
	// Token is the current rating link token; Code the typed short code.
	Token   string `json:"token,omitempty"`
	Code    string `json:"code,omitempty"`
	Resends int    `json:"resends,omitempty"`
	// Comments are texts received before the rating (ambiguous replies,
	// free text); they go into the rating's comment.
	Comments  []string  `json:"comments,omitempty"`
	Clarified bool      `json:"clarified,omitempty"`
	RatingID  string    `json:"rating_id,omitempty"`
	RatedVia  string    `json:"rated_via,omitempty"`
	RatedText string    `json:"rated_text,omitempty"`
	Level     Level     `json:"level,omitempty"`
	RatedAt   time.Time `json:"rated_at,omitzero"`

	version  int
	sentAt   time.Time
	messages []string
}

// Sent reports when the first message of the invitation was sent (zero if
// none yet).
func (inv *Invitation) Sent() time.Time { return inv.sentAt }

// Messages returns the IDs of the invitation's outbox messages.
func (inv *Invitation) Messages() []string { return inv.messages }

// Expired reports whether the invitation's validity has passed at now.
func (inv *Invitation) Expired(now time.Time) bool { return !now.Before(inv.ExpiresAt) }

// ServiceConfig tunes the module.
type ServiceConfig struct {
	// Validity is how long an invitation stays open (DefaultTokenTTL).
	Validity time.Duration
	// PublicURL is the base of rating links (https://x.cn).
	PublicURL string
	// Ack sends the acknowledgement template after a rating by reply.
	Ack bool
	// OptOutConfirmation is sent once after an opt-out, if not empty.
	OptOutConfirmation string
	// KeepAfter is how long an invitation's data stays after it expires.
	KeepAfter time.Duration
}

// ServiceParams are the module's dependencies.
type ServiceParams struct {
	Redis     redis.UniversalClient
	Namespace string
	Outbox    *Outbox
	Templates *Templates
	Signer    *TokenSigner
	Recorder  Recorder
	Logger    *slog.Logger
	Metrics   *Metrics
	Now       func() time.Time
}

// Service is the SMS module: invitations, replies and the rating page.
type Service struct {
	rdb  redis.UniversalClient
	k    keys
	out  *Outbox
	tpl  *Templates
	sig  *TokenSigner
	rec  Recorder
	log  *slog.Logger
	m    *Metrics
	now  func() time.Time
	cfg  ServiceConfig
	page *pageState
}

// NewService builds the module.
func NewService(p ServiceParams, cfg ServiceConfig) *Service {
	if cfg.Validity <= 0 {
		cfg.Validity = DefaultTokenTTL
	}
	if cfg.KeepAfter <= 0 {
		cfg.KeepAfter = 30 * 24 * time.Hour
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return &Service{rdb: p.Redis, k: newKeys(p.Namespace), out: p.Outbox, tpl: p.Templates, sig: p.Signer,
		rec: p.Recorder, log: p.Logger, m: p.Metrics, now: p.Now, cfg: cfg}
}

// Outbox returns the module's outbox.
func (s *Service) Outbox() *Outbox { return s.out }

// InviteRequest asks for an invitation.
type InviteRequest struct {
	// Trigger says where it came from (no_rating, followup_invite, api), for metrics.
	Trigger     string
	Kind        TemplateKind // KindInvitation (default) or KindFollowUp
	WorkOrderID string
	UnitID      string
	StaffID     string
	Phone       string
	FollowupOf  string
	// IdempotencyKey makes a repeated request return the first invitation.
	IdempotencyKey string
	// CallTime is the day the message names (now if zero).
	CallTime time.Time
}

// InviteResult says what became of a request.
type InviteResult struct {
	ID string
	// Waiting is set when the first message waits for the send window.
	Waiting bool
	// Duplicate is set when the idempotency key was seen before.
	Duplicate bool
}

func (s *Service) ttl() time.Duration { return s.cfg.Validity + s.cfg.KeepAfter }

// Invite creates an invitation and queues its messages, once per work
// order (follow-ups: once per case) and idempotency key. It refuses numbers
// on the suppression list (ErrSuppressed) and returns ErrExists with the
// existing ID when the work order already has one.
func (s *Service) Invite(ctx context.Context, req InviteRequest) (InviteResult, error) {
	trigger := req.Trigger
	if trigger == "" {
		trigger = "api"
	}
	if req.Kind == "" {
		req.Kind = KindInvitation
		if req.FollowupOf != "" {
			req.Kind = KindFollowUp
		}
	}
	phone := phonenum.Normalize(req.Phone)
	switch {
	case len(phone) < 5 || len(phone) > 20:
		return InviteResult{}, &InvalidError{"phone", "not a phone number"}
	case req.Kind != KindInvitation && req.Kind != KindFollowUp:
		return InviteResult{}, &InvalidError{"kind", "want invitation or follow_up"}
	case req.Kind == KindFollowUp && req.FollowupOf == "":
		return InviteResult{}, &InvalidError{"followup_of", "required for a follow-up invitation"}
	case req.Kind == KindInvitation && req.WorkOrderID == "" && req.IdempotencyKey == "":
		return InviteResult{}, &InvalidError{"work_order_id", "required (or an idempotency_key)"}
	case req.Kind == KindInvitation && req.UnitID == "":
		return InviteResult{}, &InvalidError{"unit_id", "required"}
	}
	for _, f := range []struct{ name, v string }{{"work_order_id", req.WorkOrderID}, {"unit_id", req.UnitID},
		{"staff_id", req.StaffID}, {"followup_of", req.FollowupOf}, {"idempotency_key", req.IdempotencyKey}} {
		if len(f.v) > 200 || !utf8.ValidString(f.v) || strings.ContainsAny(f.v, "\x00\r\n|") {
			return InviteResult{}, &InvalidError{f.name, "too long or invalid characters"}
		}
	}
	now := s.now()
	if sup, err := s.rdb.SIsMember(ctx, s.k.sup(), phone).Result(); err != nil {
		return InviteResult{}, fmt.Errorf("invite: %w", err)
	} else if sup {
		s.m.invitation(trigger, "suppressed")
		return InviteResult{}, ErrSuppressed
	}
	n, err := s.rdb.Incr(ctx, s.k.seq()).Result()
	if err != nil {
		return InviteResult{}, fmt.Errorf("invite: %w", err)
	}
	call := req.CallTime
	if call.IsZero() {
		call = now
	}
	inv := &Invitation{ID: "I" + strconv.FormatInt(n, 10), Kind: req.Kind, Trigger: trigger, WorkOrderID: req.WorkOrderID,
		UnitID: req.UnitID, StaffID: req.StaffID, Phone: phone, FollowupOf: req.FollowupOf,
		IdempotencyKey: req.IdempotencyKey, CallDate: FormatDate(call.In(s.out.cfg.Window.loc())), CreatedAt: now}
	woField := ""
	switch {
	case req.Kind == KindFollowUp:
		woField = "fu:" + req.FollowupOf
	case req.WorkOrderID != "":
		woField = "wo:" + req.WorkOrderID
	}
	idem := ""
	if req.IdempotencyKey != "" {
		idem = trigger + ":" + req.IdempotencyKey
	}
	for attempt := 0; ; attempt++ {
		specs, err := s.prepare(inv, now)
		if err != nil {
			return InviteResult{}, err
		}
		tokKey, codeKey := s.k.inv(inv.ID), s.k.inv(inv.ID)
		if inv.Token != "" {
			c, _ := s.sig.Verify(inv.Token, now)
			tokKey = s.k.tok(c.ID)
		}
		if inv.Code != "" {
			codeKey = s.k.code(inv.Code)
		}
		b, _ := json.Marshal(inv)
		res, err := createScript.Run(ctx, s.rdb, []string{s.k.inv(inv.ID), s.k.wo(), s.k.idem(), s.k.phone(phone), tokKey, codeKey},
			s.k.p, now.UnixMilli(), inv.ID, string(b), woField, idem, s.ttl().Milliseconds(), specsJSON(specs), "0").StringSlice()
		if err != nil && strings.Contains(err.Error(), "CODE_TAKEN") && attempt < 5 {
			continue
		}
		if err != nil {
			return InviteResult{}, fmt.Errorf("invite: %w", err)
		}
		switch res[0] {
		case "dup":
			r, err := s.result(ctx, res[1])
			r.Duplicate = true
			return r, err
		case "exists":
			s.m.invitation(trigger, "exists")
			return InviteResult{ID: res[1]}, ErrExists
		}
		s.m.invitation(trigger, "created")
		for range res[1:] {
			s.m.message(StateQueued, s.out.p.Name())
		}
		s.out.Wake()
		s.log.Info("sms invitation queued", "invitation_id", inv.ID, "kind", inv.Kind, "trigger", trigger,
			"to", phonenum.Mask(phone), "messages", len(res)-1)
		return InviteResult{ID: inv.ID, Waiting: specs[0].Due > now.UnixMilli()}, nil
	}
}

// prepare gives inv a fresh link token (and code) valid from now and
// renders its messages.
func (s *Service) prepare(inv *Invitation, now time.Time) ([]spec, error) {
	tok, claims, err := s.sig.Sign(now)
	if err != nil {
		return nil, err
	}
	inv.Token, inv.ExpiresAt = tok, claims.Expires
	if exp := now.Add(s.cfg.Validity); exp.Before(inv.ExpiresAt) {
		inv.ExpiresAt = exp
	}
	vars := Vars{Date: inv.CallDate}
	switch s.tpl.Config().Link {
	case LinkPerRecipient:
		vars.Link = s.cfg.PublicURL + "/r/" + tok
	case LinkFixedCode:
		inv.Code = NewShortCode()
		vars.Code = inv.Code
	}
	msgs, err := s.tpl.Render(inv.Kind, vars)
	if err != nil {
		return nil, err
	}
	specs := make([]spec, len(msgs))
	for i, m := range msgs {
		kind := string(inv.Kind)
		if i > 0 {
			kind = kindLink
		}
		specs[i] = s.out.newSpec(kind, inv.Phone, m, now, inv.ExpiresAt, true)
	}
	return specs, nil
}

// result describes a stored invitation as Invite would have.
func (s *Service) result(ctx context.Context, id string) (InviteResult, error) {
	inv, err := s.Get(ctx, id)
	if err != nil {
		return InviteResult{}, err
	}
	r := InviteResult{ID: id}
	if ms := inv.Messages(); len(ms) > 0 {
		if m, err := s.out.Get(ctx, ms[len(ms)-1]); err == nil && m.State == StateQueued && m.Due.After(s.now()) {
			r.Waiting = true
		}
	}
	return r, nil
}

// Get returns a stored invitation.
func (s *Service) Get(ctx context.Context, id string) (*Invitation, error) {
	vals, err := s.rdb.HMGet(ctx, s.k.inv(id), "j", "v", "sent", "msgs").Result()
	if err != nil {
		return nil, fmt.Errorf("get invitation: %w", err)
	}
	j, _ := vals[0].(string)
	if j == "" {
		return nil, ErrNotFound
	}
	inv := new(Invitation)
	if err := json.Unmarshal([]byte(j), inv); err != nil {
		return nil, fmt.Errorf("get invitation %s: %w", id, err)
	}
	v, _ := vals[1].(string)
	inv.version, _ = strconv.Atoi(v)
	if sent, _ := vals[2].(string); sent != "" {
		inv.sentAt = msTime(sent)
	}
	if msgs, _ := vals[3].(string); msgs != "" {
		inv.messages = strings.Split(msgs, ",")
	}
	return inv, nil
}

// update applies fn to the invitation and stores it with the messages fn
// returns, retrying on a concurrent change. fn returning errNoChange stores nothing.
func (s *Service) update(ctx context.Context, id string, fn func(inv *Invitation) ([]spec, error)) (*Invitation, error) {
	for attempt := 0; attempt < 20; attempt++ {
		inv, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		specs, err := fn(inv)
		if errors.Is(err, errNoChange) {
			return inv, nil
		}
		if err != nil {
			return inv, err
		}
		tokKey, codeKey := s.k.inv(id), s.k.inv(id)
		ttl := int64(0)
		if len(specs) > 0 || inv.Token != "" {
			ttl = inv.ExpiresAt.Add(s.cfg.KeepAfter).Sub(s.now()).Milliseconds()
			if c, err := s.sig.Verify(inv.Token, s.now()); err == nil {
				tokKey = s.k.tok(c.ID)
			}
			if inv.Code != "" {
				codeKey = s.k.code(inv.Code)
			}
		}
		b, _ := json.Marshal(inv)
		res, err := updateScript.Run(ctx, s.rdb, []string{s.k.inv(id), tokKey, codeKey}, s.k.p, s.now().UnixMilli(), id,
			inv.version, string(b), specsJSON(specs), max(ttl, 0)).StringSlice()
		if err != nil {
			return nil, fmt.Errorf("update invitation %s: %w", id, err)
		}
		switch res[0] {
		case "conflict":
			continue
		case "gone":
			return nil, ErrNotFound
		}
		for range res[1:] {
			s.m.message(StateQueued, s.out.p.Name())
		}
		if len(res) > 1 {
			s.out.Wake()
		}
		inv.version++
		inv.messages = append(inv.messages, res[1:]...)
		return inv, nil
	}
	return nil, fmt.Errorf("update invitation %s: too many concurrent changes", id)
}

var errNoChange = errors.New("no change")

// Resend sends an invitation again (staff action): a fresh link and
// validity, the same work order. A rated invitation is not resent.
func (s *Service) Resend(ctx context.Context, id string) (InviteResult, error) {
	now := s.now()
	var waiting bool
	_, err := s.update(ctx, id, func(inv *Invitation) ([]spec, error) {
		if inv.RatingID != "" {
			return nil, ErrAlreadyRated
		}
		if sup, err := s.rdb.SIsMember(ctx, s.k.sup(), inv.Phone).Result(); err != nil {
			return nil, err
		} else if sup {
			return nil, ErrSuppressed
		}
		inv.Resends++
		inv.Clarified = false
		specs, err := s.prepare(inv, now)
		if err == nil {
			waiting = specs[0].Due > now.UnixMilli()
		}
		return specs, err
	})
	if err != nil {
		return InviteResult{}, err
	}
	s.m.invitation("resend", "created")
	s.log.Info("sms invitation resent", "invitation_id", id)
	return InviteResult{ID: id, Waiting: waiting}, nil
}

// joinComments joins the texts kept before a rating with the rating's own
// comment, bounded to MaxComment characters.
func joinComments(before []string, own string) string {
	parts := append(append([]string(nil), before...), own)
	var kept []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			kept = append(kept, p)
		}
	}
	c := strings.Join(kept, "；")
	if utf8.RuneCountInString(c) > MaxComment {
		r := []rune(c)
		c = string(r[:MaxComment])
	}
	return c
}

// record sends the invitation's rating to the case core. The idempotency
// key is derived from the invitation ID, so a duplicate reply (or a reply
// and a page submission) can never count twice: the first wins.
func (s *Service) record(ctx context.Context, inv *Invitation, via string, level Level, comment string) (string, error) {
	return s.rec.RecordRating(ctx, RatingRecord{IdempotencyKey: "sms-invitation:" + inv.ID, Via: via, Level: level,
		WorkOrderID: inv.WorkOrderID, UnitID: inv.UnitID, StaffID: inv.StaffID, Phone: inv.Phone,
		Comment: joinComments(inv.Comments, comment), FollowupOf: inv.FollowupOf})
}

// markRated stores the rating on the invitation; the acknowledgement, if
// any, is queued with it.
func (s *Service) markRated(ctx context.Context, id, ratingID, via, text string, level Level, ack []spec) error {
	_, err := s.update(ctx, id, func(inv *Invitation) ([]spec, error) {
		if inv.RatingID != "" {
			return nil, errNoChange
		}
		inv.RatingID, inv.RatedVia, inv.RatedText, inv.Level, inv.RatedAt = ratingID, via, text, level, s.now()
		return ack, nil
	})
	return err
}
