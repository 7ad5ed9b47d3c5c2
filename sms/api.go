package sms

import (
	"encoding/json"
	"errors"
	"github.com/haochaping/haochaping/internal/phone"
	"net/http"
	"strings"
)

// The JSON API of invitations. cmd/haochaping wraps these handlers with
// the API's bearer authentication and role checks.

// InvitationRequest is the body of POST /api/v1/sms/invitations.
type InvitationRequest struct {
	WorkOrderID    string `json:"work_order_id"`
	Phone          string `json:"phone"`
	UnitID         string `json:"unit_id"`
	StaffID        string `json:"staff_id"`
	IdempotencyKey string `json:"idempotency_key"`
	FollowupOf     string `json:"followup_of"`
}

type apiErr struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
		ID      string `json:"id,omitempty"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// WriteError writes err as the API's JSON error.
func (s *Service) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var e apiErr
	status := http.StatusInternalServerError
	var inv *InvalidError
	switch {
	case errors.As(err, &inv):
		status, e.Error.Code, e.Error.Message, e.Error.Field = http.StatusBadRequest, "invalid", inv.Message, inv.Field
	case errors.Is(err, ErrSuppressed):
		status, e.Error.Code, e.Error.Message = http.StatusConflict, "suppressed", "the number opted out of SMS"
	case errors.Is(err, ErrAlreadyRated):
		status, e.Error.Code, e.Error.Message = http.StatusConflict, "rated", "the invitation was already rated"
	case errors.Is(err, ErrNotFound):
		status, e.Error.Code, e.Error.Message = http.StatusNotFound, "not_found", "not found"
	default:
		e.Error.Code, e.Error.Message = "internal", "internal error"
		s.log.Error("sms api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, e)
}

// ServeCreate serves POST /api/v1/sms/invitations: 201 when the
// invitation is queued to go now, 202 when it waits for the send window,
// 409 when the work order already has one (with its id).
func (s *Service) ServeCreate(w http.ResponseWriter, r *http.Request) {
	var req InvitationRequest
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.WriteError(w, r, &InvalidError{"body", "not a JSON invitation: " + err.Error()})
		return
	}
	kind := KindInvitation
	if strings.TrimSpace(req.FollowupOf) != "" {
		kind = KindFollowUp
	}
	res, err := s.Invite(r.Context(), InviteRequest{Trigger: "api", Kind: kind, WorkOrderID: req.WorkOrderID, UnitID: req.UnitID,
		StaffID: req.StaffID, Phone: req.Phone, FollowupOf: req.FollowupOf, IdempotencyKey: req.IdempotencyKey})
	if errors.Is(err, ErrExists) {
		var e apiErr
		e.Error.Code, e.Error.Message, e.Error.ID = "exists", "the work order already has an invitation; resend it instead", res.ID
		writeJSON(w, http.StatusConflict, e)
		return
	}
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	s.writeResult(w, res)
}

func (s *Service) writeResult(w http.ResponseWriter, res InviteResult) {
	status, state := http.StatusCreated, "queued"
	if res.Waiting {
		status, state = http.StatusAccepted, "waiting_for_send_window"
	}
	writeJSON(w, status, map[string]any{"id": res.ID, "state": state})
}

// InvitationView is an invitation as the API shows it: the number masked,
// no token or code.
type InvitationView struct {
	ID          string           `json:"id"`
	Kind        TemplateKind     `json:"kind"`
	WorkOrderID string           `json:"work_order_id,omitempty"`
	UnitID      string           `json:"unit_id,omitempty"`
	StaffID     string           `json:"staff_id,omitempty"`
	Phone       string           `json:"phone"`
	FollowupOf  string           `json:"followup_of,omitempty"`
	CreatedAt   string           `json:"created_at"`
	ExpiresAt   string           `json:"expires_at"`
	Sent        bool             `json:"sent"`
	RatingID    string           `json:"rating_id,omitempty"`
	RatedVia    string           `json:"rated_via,omitempty"`
	Comments    int              `json:"pending_comments"`
	Resends     int              `json:"resends"`
	Messages    []*OutboxMessage `json:"messages"`
}

// View returns the API view of an invitation with its messages.
func (s *Service) View(r *http.Request, inv *Invitation) InvitationView {
	v := InvitationView{ID: inv.ID, Kind: inv.Kind, WorkOrderID: inv.WorkOrderID, UnitID: inv.UnitID, StaffID: inv.StaffID,
		Phone: phone.Mask(inv.Phone), FollowupOf: inv.FollowupOf, CreatedAt: inv.CreatedAt.Format("2006-01-02T15:04:05Z07:00"),
		ExpiresAt: inv.ExpiresAt.Format("2006-01-02T15:04:05Z07:00"), Sent: !inv.Sent().IsZero(), RatingID: inv.RatingID,
		RatedVia: inv.RatedVia, Comments: len(inv.Comments), Resends: inv.Resends, Messages: []*OutboxMessage{}}
	for _, id := range inv.Messages() {
		if m, err := s.out.Get(r.Context(), id); err == nil {
			v.Messages = append(v.Messages, m)
		}
	}
	return v
}

// ServeGet serves GET /api/v1/sms/invitations/{id}.
func (s *Service) ServeGet(w http.ResponseWriter, r *http.Request, inv *Invitation) {
	writeJSON(w, http.StatusOK, s.View(r, inv))
}

// ServeResend serves POST /api/v1/sms/invitations/{id}/resend.
func (s *Service) ServeResend(w http.ResponseWriter, r *http.Request) {
	res, err := s.Resend(r.Context(), r.PathValue("id"))
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	s.writeResult(w, res)
}
