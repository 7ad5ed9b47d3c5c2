// Package web serves haochaping over HTTP: the JSON API (/api/v1), health
// and readiness probes, Prometheus metrics, and a mount point for the other
// modules' pages (SMS webhooks and rating page, staff dashboard). It turns
// casecore's errors into HTTP responses and logs them once, here at the edge.
//
// It imports casecore and internal leaves; never sip, ivr or sms.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/haochaping/haochaping/internal/phone"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/haochaping/haochaping/casecore"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 64 << 10

// Params are the server's dependencies.
type Params struct {
	Service   *casecore.Service
	Units     *casecore.Directory
	Auth      *Auth
	Logger    *slog.Logger
	Gatherer  prometheus.Gatherer
	Registry  prometheus.Registerer
	Readiness func(ctx context.Context) error // /readyz; nil = always ready
}

// Server is the HTTP handler of the API and probes.
type Server struct {
	svc     *casecore.Service
	units   *casecore.Directory
	auth    *Auth
	log     *slog.Logger
	ready   func(ctx context.Context) error
	mux     *http.ServeMux
	metrics *httpMetrics
}

// New builds the server with its routes.
func New(p Params) *Server {
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{svc: p.Service, units: p.Units, auth: p.Auth, log: p.Logger, ready: p.Readiness,
		mux: http.NewServeMux(), metrics: newHTTPMetrics(p.Registry)}
	s.route("GET /healthz", s.healthz)
	s.route("GET /readyz", s.readyz)
	if p.Gatherer != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(p.Gatherer, promhttp.HandlerOpts{}))
	}
	s.route("POST /api/v1/ratings", s.authed(s.postRating))
	s.route("GET /api/v1/ratings", s.authed(s.listRatings))
	s.route("GET /api/v1/ratings/{id}", s.authed(s.getRating))
	s.route("POST /api/v1/ratings/{id}/text_review", s.authed(s.reviewText))
	s.route("GET /api/v1/cases", s.authed(s.listCases))
	s.route("GET /api/v1/cases/{id}", s.authed(s.getCase))
	s.route("POST /api/v1/cases/{id}/{action}", s.authed(s.act))
	s.route("GET /api/v1/stats", s.authed(s.stats))
	s.route("GET /api/v1/units", s.authed(s.listUnits))
	s.route("GET /api/v1/referrals", s.authed(s.referrals))
	return s
}

// Handle mounts another module's handler (SMS webhooks, pages, dashboard).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

// route registers h under pattern, counting requests by the pattern.
func (s *Server) route(pattern string, h http.HandlerFunc) {
	s.mux.Handle(pattern, s.metrics.wrap(pattern, h))
}

// apiError is the body of every error response.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// Error writes err as a JSON error response and logs it once if it is ours.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	var e apiError
	status := http.StatusInternalServerError
	var ve *casecore.ValidationError
	switch {
	case errors.As(err, &ve):
		status, e.Error.Code, e.Error.Message, e.Error.Field = http.StatusBadRequest, "invalid", ve.Message, ve.Field
	case errors.Is(err, casecore.ErrNotFound):
		status, e.Error.Code, e.Error.Message = http.StatusNotFound, "not_found", "not found"
	case errors.Is(err, casecore.ErrForbidden):
		status, e.Error.Code, e.Error.Message = http.StatusForbidden, "forbidden", "not allowed for this token"
	case errors.Is(err, casecore.ErrState):
		status, e.Error.Code, e.Error.Message = http.StatusConflict, "state", err.Error()
	case errors.Is(err, casecore.ErrConflict):
		status, e.Error.Code, e.Error.Message = http.StatusConflict, "conflict", "the case changed meanwhile; reload and retry"
	case errors.Is(err, casecore.ErrIdempotencyReuse):
		status, e.Error.Code, e.Error.Message, e.Error.Field = http.StatusConflict, "idempotency_key_reused",
			"this idempotency_key was used for a different rating", "idempotency_key"
	case errors.Is(err, errUnauthorized):
		status, e.Error.Code, e.Error.Message = http.StatusUnauthorized, "unauthorized", "missing or unknown bearer token"
		w.Header().Set("WWW-Authenticate", `Bearer realm="haochaping"`)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		status, e.Error.Code, e.Error.Message = http.StatusServiceUnavailable, "timeout", "the request was cancelled or timed out"
	default:
		e.Error.Code, e.Error.Message = "internal", "internal error"
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, e)
}

// decode reads a JSON body strictly: size-bounded, unknown fields refused.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		// Media types are case-insensitive (RFC 9110 §8.3.1).
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &casecore.ValidationError{Field: "Content-Type", Message: "want application/json"}
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &mbe):
			return &casecore.ValidationError{Field: "body", Message: fmt.Sprintf("larger than %d bytes", MaxBodyBytes)}
		case errors.As(err, &te) && te.Field == "":
			return &casecore.ValidationError{Field: "body", Message: "want a JSON object"}
		case errors.As(err, &te):
			return &casecore.ValidationError{Field: te.Field, Message: "wrong type: want " + jsonType(te.Type)}
		case errors.As(err, &se):
			return &casecore.ValidationError{Field: "body", Message: fmt.Sprintf("malformed JSON at byte %d", se.Offset)}
		case errors.Is(err, io.EOF):
			return &casecore.ValidationError{Field: "body", Message: "empty"}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return &casecore.ValidationError{Field: f, Message: "unknown field"}
		case strings.Contains(err.Error(), "parsing time") || strings.Contains(err.Error(), "Time.UnmarshalJSON"):
			return &casecore.ValidationError{Field: "rated_at", Message: "want RFC 3339, e.g. 2026-11-27T10:00:00+08:00"}
		}
		return &casecore.ValidationError{Field: "body", Message: err.Error()}
	}
	// Only white space may follow the object: not "}", "]" or a second value.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &casecore.ValidationError{Field: "body", Message: "trailing data after the JSON object"}
	}
	return nil
}

// jsonType names a Go type by the JSON a client should send.
func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct, reflect.Pointer:
		return "an object"
	}
	return t.String()
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			// The probe needs no token: say what is down, not where it is.
			s.log.Warn("not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "redis unreachable"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) postRating(w http.ResponseWriter, r *http.Request, a casecore.Actor) {
	if a.Role != casecore.RoleAdmin && a.Role != casecore.RoleIntake {
		s.Error(w, r, casecore.ErrForbidden)
		return
	}
	var in casecore.RatingInput
	if err := decode(w, r, &in); err != nil {
		s.Error(w, r, err)
		return
	}
	rating, created, err := s.svc.SubmitRating(r.Context(), a, in)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		w.Header().Set("Location", "/api/v1/ratings/"+rating.ID)
	}
	body := ratingCreated{ID: rating.ID}
	if rating.CaseID != "" {
		body.CaseID = &rating.CaseID
	}
	writeJSON(w, status, body)
}

// ratingCreated answers POST /api/v1/ratings (a struct, not a map: no
// sorting of keys on the busiest path).
type ratingCreated struct {
	ID     string  `json:"id"`
	CaseID *string `json:"case_id"`
}

// RatingView is a rating as the API shows it: number and name masked,
// a comment rejected by text review withheld.
type RatingView struct {
	ID          string           `json:"id"`
	Channel     casecore.Channel `json:"channel"`
	Level       casecore.Level   `json:"level"`
	WorkOrderID string           `json:"work_order_id,omitempty"`
	UnitID      string           `json:"unit_id"`
	StaffID     string           `json:"staff_id,omitempty"`
	Post        string           `json:"post,omitempty"`
	RaterPhone  string           `json:"rater_phone,omitempty"`
	RaterName   string           `json:"rater_name,omitempty"`
	Comment     string           `json:"comment,omitempty"`
	TextReview  string           `json:"text_review,omitempty"`
	RatedAt     time.Time        `json:"rated_at"`
	ReceivedAt  time.Time        `json:"received_at"`
	FollowupOf  string           `json:"followup_of,omitempty"`
	CaseID      *string          `json:"case_id"`
	Seq         int              `json:"seq"`
}

// NewRatingView masks a rating for display.
func NewRatingView(r *casecore.Rating) RatingView {
	v := RatingView{ID: r.ID, Channel: r.Channel, Level: r.Level, WorkOrderID: r.WorkOrderID, UnitID: r.UnitID,
		StaffID: r.StaffID, Post: r.Post, RaterPhone: phone.Mask(r.RaterPhone), RaterName: casecore.MaskName(r.RaterName),
		Comment: r.VisibleComment(), RatedAt: r.RatedAt.In(casecore.Shanghai), ReceivedAt: r.ReceivedAt.In(casecore.Shanghai),
		FollowupOf: r.FollowupOf, Seq: r.Seq}
	if r.TextReview != nil {
		v.TextReview = r.TextReview.Status
	}
	if r.CaseID != "" {
		id := r.CaseID
		v.CaseID = &id
	}
	return v
}

func (s *Server) getRating(w http.ResponseWriter, r *http.Request, a casecore.Actor) {
	rating, err := s.svc.GetRating(r.Context(), a, r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, NewRatingView(rating))
}

func parseTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := casecore.ParseDate(v); err == nil {
		return d.Start(), nil
	}
	return time.Time{}, &casecore.ValidationError{Field: field, Message: "want RFC 3339 or YYYY-MM-DD"}
}

func parseLimit(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return 0, &casecore.ValidationError{Field: "limit", Message: "want 1..1000"}
	}
	return n, nil
}

func (s *Server) listRatings(w http.ResponseWriter, r *http.Request, a casecore.Actor) {
	q := r.URL.Query()
	rq := casecore.RatingQuery{WorkOrderID: q.Get("work_order_id"), Phone: q.Get("phone"), Channel: casecore.Channel(q.Get("channel"))}
	var err error
	if rq.From, err = parseTime("from", q.Get("from")); err != nil {
		s.Error(w, r, err)
		return
	}
	if rq.To, err = parseTime("to", q.Get("to")); err != nil {
		s.Error(w, r, err)
		return
	}
	if to := q.Get("to"); len(to) == 10 && !rq.To.IsZero() {
		rq.To = rq.To.Add(24*time.Hour - time.Millisecond) // a date means the whole day
	}
	if rq.Channel != "" && !rq.Channel.Valid() {
		s.Error(w, r, &casecore.ValidationError{Field: "channel", Message: "not a channel"})
		return
	}
	if rq.Limit, err = parseLimit(q.Get("limit")); err != nil {
		s.Error(w, r, err)
		return
	}
	if rq.WorkOrderID == "" && rq.Phone == "" && rq.From.IsZero() {
		s.Error(w, r, &casecore.ValidationError{Field: "work_order_id", Message: "give work_order_id, phone or from"})
		return
	}
	rs, err := s.svc.ListRatings(r.Context(), a, rq)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	out := make([]RatingView, len(rs))
	for i, x := range rs {
		out[i] = NewRatingView(x)
	}
	writeJSON(w, http.StatusOK, map[string]any{"ratings": out})
}

func (s *Server) reviewText(w http.ResponseWriter, r *http.Request, a casecore.Actor) {
	var in struct {
		Decision string `json:"decision"`
		Note     string `json:"note"`
	}
	if err := decode(w, r, &in); err != nil {
		s.Error(w, r, err)
		return
	}
	if in.Decision != "approve" && in.Decision != "reject" {
		s.Error(w, r, &casecore.ValidationError{Field: "decision", Message: "approve or reject"})
		return
	}
	rating, err := s.svc.ReviewText(r.Context(), a, r.PathValue("id"), in.Decision == "approve", in.Note)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, NewRatingView(rating))
}

// CaseView is a case as the API shows it.
type CaseView struct {
	*casecore.Case
	Deadlines map[casecore.ClockKind]casecore.Deadline `json:"deadlines"`
	Overdue   bool                                     `json:"overdue"`
	Actions   []casecore.Action                        `json:"actions"`
	Clocks    *struct{}                                `json:"clocks,omitempty"` // shadows Case.Clocks: deadlines says it for people
}

func (s *Server) caseView(ctx context.Context, a casecore.Actor, c *casecore.Case, withRating bool) CaseView {
	var rating *casecore.Rating
	if withRating {
		rating, _ = s.svc.Store().GetRating(ctx, c.RatingID)
	}
	acts := casecore.AvailableActions(a, c)
	if acts == nil {
		acts = []casecore.Action{}
	}
	return CaseView{Case: c, Deadlines: s.svc.Deadlines(c, rating, s.svc.Now()), Overdue: c.Overdue(), Actions: acts}
}

func (s *Server) getCase(w http.ResponseWriter, r *http.Request, a casecore.Actor) {
	c, err := s.svc.GetCase(r.Context(), a, r.PathValue("id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.caseView(r.Context(), a, c, true))
}

func (s *Server) listCases(w http.ResponseWriter, r *http.Request, a casecore.Actor) {
	q := r.URL.Query()
	cq := casecore.CaseQuery{State: casecore.State(q.Get("state")), Units: q["unit_id"]}
	if cq.State != "" && !cq.State.Valid() {
		s.Error(w, r, &casecore.ValidationError{Field: "state", Message: "not a state"})
		return
	}
	switch q.Get("overdue") {
	case "", "false":
	case "true":
		cq.Overdue = true
	default:
		s.Error(w, r, &casecore.ValidationError{Field: "overdue", Message: "true or false"})
		return
	}
	var err error
	if cq.Limit, err = parseLimit(q.Get("limit")); err != nil {
		s.Error(w, r, err)
		return
	}
	cs, err := s.svc.ListCases(r.Context(), a, cq)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	out := make([]CaseView, len(cs))
	for i, c := range cs {
		out[i] = s.caseView(r.Context(), a, c, false)
	}
	writeJSON(w, http.StatusOK, map[string]any{"cases": out})
}

func (s *Server) act(w http.ResponseWriter, r *http.Request, a casecore.Actor) {
	var in casecore.ActionInput
	if r.ContentLength != 0 {
		if err := decode(w, r, &in); err != nil {
			s.Error(w, r, err)
			return
		}
	}
	action := casecore.Action(r.PathValue("action"))
	if !slices.Contains(casecore.UserActions, action) {
		s.Error(w, r, &casecore.ValidationError{Field: "action", Message: fmt.Sprintf("%q is not an action", action)})
		return
	}
	c, err := s.svc.Act(r.Context(), a, r.PathValue("id"), action, in)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.caseView(r.Context(), a, c, true))
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request, a casecore.Actor) {
	q := r.URL.Query()
	sq := casecore.StatsQuery{Units: q["unit_id"]}
	var err error
	if sq.From, err = casecore.ParseDate(q.Get("from")); err != nil {
		s.Error(w, r, &casecore.ValidationError{Field: "from", Message: "want YYYY-MM-DD"})
		return
	}
	if sq.To, err = casecore.ParseDate(q.Get("to")); err != nil {
		s.Error(w, r, &casecore.ValidationError{Field: "to", Message: "want YYYY-MM-DD"})
		return
	}
	st, err := s.svc.Stats(r.Context(), a, sq)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) listUnits(w http.ResponseWriter, r *http.Request, a casecore.Actor) {
	writeJSON(w, http.StatusOK, map[string]any{"groups": s.units.Groups, "units": s.units.Units})
}

func (s *Server) referrals(w http.ResponseWriter, r *http.Request, a casecore.Actor) {
	if a.Role != casecore.RoleAdmin && a.Role != casecore.RoleSupervisor {
		s.Error(w, r, casecore.ErrForbidden)
		return
	}
	refs, err := s.svc.Store().Referrals(r.Context(), 1000)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if refs == nil {
		refs = []*casecore.Referral{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"referrals": refs})
}
