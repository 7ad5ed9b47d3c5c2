package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/casecore/redisstore"
	"github.com/haochaping/haochaping/internal/config"
	"github.com/haochaping/haochaping/sms"
	"github.com/haochaping/haochaping/sms/kannel"
	"github.com/haochaping/haochaping/sms/smpp"
)

// smsActor is the actor the SMS module records ratings as.
var smsActor = casecore.Actor{ID: "sms", Role: casecore.RoleSystem}

// buildSMS wires the SMS invitations, replies, rating page and gateways (issue 4) into the app.
func buildSMS(ctx context.Context, a *app) error {
	c := a.cfg.SMS
	log := a.log.With("part", "sms")
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return fmt.Errorf("sms.time_zone: %w", err)
	}
	from, to, err := config.ParseSendWindow(c.SendWindow)
	if err != nil {
		return fmt.Errorf("sms.send_window: %w", err)
	}
	window := sms.Window{From: from, To: to, Loc: loc}
	metrics := sms.NewMetrics(a.reg)

	keys := c.TokenKeys()
	if len(keys) == 0 { // only the console provider gets here (config validation)
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		keys = [][]byte{k}
		log.Warn("sms.token_key not set: a random DEVELOPMENT key signs rating links; they stop working at restart")
	}
	signer, err := sms.NewTokenSigner(keys, c.Validity)
	if err != nil {
		return fmt.Errorf("sms.token_key: %w", err)
	}
	tpl, err := sms.NewTemplates(sms.TemplateConfig{Signature: c.Templates.Signature, Invitation: c.Templates.Invitation,
		FollowUp: c.Templates.FollowUp, Clarification: c.Templates.Clarification, Ack: c.Templates.Ack,
		LinkLine: c.Templates.LinkLine, LinkMessage: c.Templates.LinkMessage, Link: sms.LinkMode(c.Link),
		Placement: sms.LinkPlacement(c.LinkPlacement), FixedURL: c.FixedURL})
	if err != nil {
		return fmt.Errorf("sms.templates: %w", err)
	}
	// A link that can never fit beside its text is a configuration error,
	// found now rather than at the first invitation.
	sample := sms.Vars{Date: "12月31日", Link: strings.TrimRight(a.cfg.HTTP.PublicURL, "/") + "/r/" + strings.Repeat("x", sms.TokenLen),
		Code: strings.Repeat("X", sms.ShortCodeLen)}
	for _, k := range []sms.TemplateKind{sms.KindInvitation, sms.KindFollowUp} {
		if _, err := tpl.Render(k, sample); err != nil {
			return fmt.Errorf("sms.link: %w (shorten http.public_url or sms.fixed_url, or use link_placement second_segment)", err)
		}
	}

	var svc *sms.Service
	inbound := lateInbound{&svc}
	var provider sms.Provider
	var console *sms.Console
	var client *smpp.Client
	switch c.Provider {
	case "console":
		console = sms.NewConsole(a.rdb, a.cfg.Redis.Namespace)
		provider = console
		log.Warn("sms provider console: messages are not sent, they show at /dev/sms (development only)")
	case "kannel":
		dlrBase := c.Kannel.DLRBaseURL
		if dlrBase == "" {
			dlrBase = a.cfg.HTTP.PublicURL
		}
		provider, err = kannel.New(kannel.Config{SendSMSURL: c.Kannel.SendSMSURL, From: c.Kannel.From,
			DLRURL: strings.TrimRight(dlrBase, "/") + "/sms/kannel/dlr"})
		if err != nil {
			return fmt.Errorf("sms.kannel.sendsms_url: %w", err)
		}
	case "smpp":
		client, err = smpp.New(smppConfig(c), smpp.Params{Handler: smppHandler{in: inbound}, Logger: log,
			Metrics: smpp.NewMetrics(a.reg)})
		if err != nil {
			return fmt.Errorf("sms.smpp: %w", err)
		}
		provider = smppProvider{client}
	}
	outbox := sms.NewOutbox(sms.OutboxParams{Redis: a.rdb, Namespace: a.cfg.Redis.Namespace, Provider: provider,
		Logger: log, Metrics: metrics, OnSent: func(ctx context.Context, ids []string) {
			svc.ApplyEarlyReceipts(ctx, provider.Name(), ids)
		}},
		sms.OutboxConfig{MaxAttempts: c.Retry.MaxAttempts, BackoffMin: c.Retry.BackoffMin, BackoffMax: c.Retry.BackoffMax,
			DailyCap: c.DailyCap, Window: window})
	svc = sms.NewService(sms.ServiceParams{Redis: a.rdb, Namespace: a.cfg.Redis.Namespace, Outbox: outbox, Templates: tpl,
		Signer: signer, Recorder: smsRecorder{a.svc}, Logger: log, Metrics: metrics},
		sms.ServiceConfig{Validity: c.Validity, PublicURL: a.cfg.HTTP.PublicURL, Ack: c.Ack, OptOutConfirmation: c.OptOutConfirmation})
	svc.SetPageConfig(sms.PageConfig{PerIPPerMinute: c.Page.PerIPPerMinute, PerTokenPerMinute: c.Page.PerTokenPerMinute})
	// The dashboard's operations view: the outbox by state and the
	// gateway's state (*sms.Outbox has both methods).
	setDashboardOutbox(a, outbox)

	// The rating page and the gateways' callbacks.
	page := http.HandlerFunc(svc.ServePage)
	a.web.Handle("GET /r/{token}", page)
	a.web.Handle("POST /r/{token}", page)
	if c.Link == string(sms.LinkFixedCode) {
		a.web.Handle("GET /r", http.HandlerFunc(svc.ServeCode))
		a.web.Handle("POST /r", http.HandlerFunc(svc.ServeCode))
	}
	switch c.Provider {
	case "console":
		inbox := console.InboxHandler(svc)
		a.web.Handle("GET /dev/sms", inbox)
		a.web.Handle("POST /dev/sms/reply", inbox)
	case "kannel":
		a.web.Handle("/sms/kannel/mo", kannel.MOHandler(svc))
		a.web.Handle("/sms/kannel/dlr", kannel.DLRHandler(svc))
	}

	// The invitation API, behind the API's bearer tokens.
	a.web.Handle("POST /api/v1/sms/invitations", a.web.Authed(func(w http.ResponseWriter, r *http.Request, actor casecore.Actor) {
		if actor.Role != casecore.RoleAdmin && actor.Role != casecore.RoleIntake {
			a.web.Error(w, r, casecore.ErrForbidden)
			return
		}
		svc.ServeCreate(w, r)
	}))
	a.web.Handle("GET /api/v1/sms/invitations/{id}", a.web.Authed(func(w http.ResponseWriter, r *http.Request, actor casecore.Actor) {
		inv, ok := smsInvitationFor(a, svc, w, r, actor, casecore.RoleAdmin, casecore.RoleSupervisor, casecore.RoleHandler, casecore.RoleIntake)
		if ok {
			svc.ServeGet(w, r, inv)
		}
	}))
	a.web.Handle("POST /api/v1/sms/invitations/{id}/resend", a.web.Authed(func(w http.ResponseWriter, r *http.Request, actor casecore.Actor) {
		if _, ok := smsInvitationFor(a, svc, w, r, actor, casecore.RoleAdmin, casecore.RoleHandler); ok {
			svc.ServeResend(w, r)
		}
	}))

	// The case core's events: no-rating outcomes and follow-up invitations.
	host, _ := os.Hostname()
	consumerName := fmt.Sprintf("%s-%d-%x", host, os.Getpid(), time.Now().UnixNano()&0xffffff)
	consumer := sms.NewEventConsumer(a.rdb, redisstore.Events(a.cfg.Redis.Namespace), "sms", consumerName, log,
		smsEvents{a: a, svc: svc, validity: c.Validity}.handle)

	a.front = append(a.front, part{name: "sms", run: func(ctx context.Context) error {
		// The gateway connection outlives the outbox: sends in flight
		// finish and are recorded before the SMPP client unbinds.
		gwCtx, stopGW := context.WithCancel(context.Background())
		defer stopGW()
		gwDone := make(chan error, 1)
		if client != nil {
			go func() { gwDone <- client.Run(gwCtx) }()
			go watchSMPP(gwCtx, client, metrics)
		} else {
			metrics.SetConnected(provider.Name(), true)
			gwDone <- nil
		}
		var g errgroup.Group
		g.Go(func() error { return outbox.Run(ctx) })
		g.Go(func() error { return consumer.Run(ctx) })
		err := g.Wait()
		stopGW()
		if gerr := <-gwDone; gerr != nil && err == nil {
			err = gerr
		}
		log.Info("sms stopped")
		return err
	}})
	log.Info("sms ready", "provider", provider.Name(), "send_window", window.String(), "link", c.Link, "daily_cap", c.DailyCap)
	return nil
}

// smsInvitationFor loads the invitation of the path and checks the actor
// may see it (handlers: their units only).
func smsInvitationFor(a *app, svc *sms.Service, w http.ResponseWriter, r *http.Request, actor casecore.Actor, roles ...casecore.Role) (*sms.Invitation, bool) {
	allowed := false
	for _, role := range roles {
		allowed = allowed || actor.Role == role
	}
	if !allowed {
		a.web.Error(w, r, casecore.ErrForbidden)
		return nil, false
	}
	inv, err := svc.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		svc.WriteError(w, r, err)
		return nil, false
	}
	if !actor.CanSeeUnit(inv.UnitID) {
		a.web.Error(w, r, casecore.ErrForbidden)
		return nil, false
	}
	return inv, true
}

// lateInbound hands gateway callbacks to the service built after the gateway.
type lateInbound struct{ svc **sms.Service }

func (l lateInbound) HandleMO(ctx context.Context, provider string, m sms.MO) error {
	return (*l.svc).HandleMO(ctx, provider, m)
}

func (l lateInbound) HandleReceipt(ctx context.Context, provider string, r sms.Receipt) error {
	return (*l.svc).HandleReceipt(ctx, provider, r)
}

// smsRecorder records the SMS module's ratings in the case core.
type smsRecorder struct{ svc *casecore.Service }

func (r smsRecorder) RecordRating(ctx context.Context, rr sms.RatingRecord) (string, error) {
	ch := casecore.ChannelHotlineSMS
	if rr.Via == sms.ViaLink {
		ch = casecore.ChannelSMSLink
	}
	rt, _, err := r.svc.SubmitRating(ctx, smsActor, casecore.RatingInput{IdempotencyKey: rr.IdempotencyKey, Channel: ch,
		Level: casecore.Level(rr.Level), WorkOrderID: rr.WorkOrderID, UnitID: rr.UnitID, StaffID: rr.StaffID,
		RaterPhone: rr.Phone, Comment: rr.Comment, FollowupOf: rr.FollowupOf})
	var ve *casecore.ValidationError
	switch {
	case errors.Is(err, casecore.ErrIdempotencyReuse):
		return "", sms.ErrAlreadyRated
	case errors.As(err, &ve):
		return "", fmt.Errorf("%w: %v", sms.ErrRejected, err)
	case err != nil:
		return "", err
	}
	return rt.ID, nil
}

// smsEvents turns case core events into invitations.
type smsEvents struct {
	a        *app
	svc      *sms.Service
	validity time.Duration
}

func (e smsEvents) handle(ctx context.Context, ev sms.Event) error {
	var req sms.InviteRequest
	switch ev.Type {
	case "no_rating":
		nr, err := e.a.svc.GetNoRating(ctx, ev.Fields["rating_id"])
		if errors.Is(err, casecore.ErrNotFound) {
			return &sms.Permanent{Err: err}
		}
		if err != nil {
			return err
		}
		if nr.RaterPhone == "" {
			return nil // nobody to text
		}
		if time.Since(nr.At) > e.validity {
			return &sms.Permanent{Err: errors.New("no-rating outcome older than an invitation's validity")}
		}
		req = sms.InviteRequest{Trigger: "no_rating", WorkOrderID: nr.WorkOrderID, UnitID: nr.UnitID, StaffID: nr.StaffID,
			Phone: nr.RaterPhone, FollowupOf: nr.FollowupOf, IdempotencyKey: nr.ID, CallTime: nr.At}
	case "followup_invite":
		st := e.a.svc.Store()
		c, err := st.GetCase(ctx, ev.Fields["case_id"])
		if errors.Is(err, casecore.ErrNotFound) {
			return &sms.Permanent{Err: err}
		}
		if err != nil {
			return err
		}
		r, err := st.GetRating(ctx, c.RatingID)
		if errors.Is(err, casecore.ErrNotFound) {
			return &sms.Permanent{Err: err}
		}
		if err != nil {
			return err
		}
		if r.RaterPhone == "" {
			return nil
		}
		req = sms.InviteRequest{Trigger: "followup_invite", Kind: sms.KindFollowUp, WorkOrderID: c.WorkOrderID,
			UnitID: c.UnitID, StaffID: c.StaffID, Phone: r.RaterPhone, FollowupOf: c.ID, IdempotencyKey: c.ID, CallTime: r.RatedAt}
	default:
		return nil
	}
	_, err := e.svc.Invite(ctx, req)
	var inv *sms.InvalidError
	switch {
	case err == nil, errors.Is(err, sms.ErrExists), errors.Is(err, sms.ErrSuppressed):
		return nil
	case errors.As(err, &inv):
		return &sms.Permanent{Err: err}
	}
	return err
}

// smppConfig maps the configuration onto the SMPP client's.
func smppConfig(c config.SMS) smpp.Config {
	idf := func(s string) smpp.IDFormat {
		switch s {
		case "hex":
			return smpp.IDHex
		case "decimal":
			return smpp.IDDecimal
		}
		return smpp.IDAsIs
	}
	mode := smpp.ModeTransceiver
	if c.SMPP.BindMode == "transmitter_receiver" {
		mode = smpp.ModeTransmitterReceiver
	}
	return smpp.Config{Addr: c.SMPPAddr(), SystemID: c.SMPP.SystemID, Password: c.SMPP.Password, SystemType: c.SMPP.SystemType,
		SourceAddr: c.SMPP.SourceAddr, BindMode: mode, Window: c.SMPP.Window, AckIDFormat: idf(c.SMPP.AckIDFormat),
		ReceiptIDFormat: idf(c.SMPP.ReceiptIDFormat), Location: sms.Shanghai()}
}

// smppProvider sends through the SMPP client. Its errors keep the
// client's Temporary() verdict: NOT SENT and UNKNOWN outcomes and
// throttling are retried by the outbox with the same UserRef (the smpp
// package's policy for UNKNOWN: at least once); rejections are final.
type smppProvider struct{ c *smpp.Client }

func (p smppProvider) Name() string { return "smpp" }

// GatewayState is "bound" or "not bound" (the client keeps reconnecting).
func (p smppProvider) GatewayState() string {
	if p.c.Bound() {
		return "bound"
	}
	return "not bound"
}

var _ sms.GatewayStater = smppProvider{}

func (p smppProvider) Send(ctx context.Context, m sms.OutMessage) ([]string, error) {
	res, err := p.c.Submit(ctx, smpp.Message{To: m.To, Text: m.Text, UserRef: m.UserRef})
	return res.MessageIDs, err
}

// smppHandler hands replies and receipts to the module; an error makes the
// SMSC deliver the item again.
type smppHandler struct{ in sms.Inbound }

func (h smppHandler) OnMessage(ctx context.Context, m smpp.MO) error {
	return h.in.HandleMO(ctx, "smpp", sms.MO{From: m.From, To: m.To, Text: m.Text})
}

func (h smppHandler) OnReceipt(ctx context.Context, r smpp.Receipt) error {
	st := sms.ReceiptPending
	switch {
	case !r.Final():
	case r.Success():
		st = sms.ReceiptDelivered
	case r.State == smpp.StateExpired:
		st = sms.ReceiptExpired
	default:
		st = sms.ReceiptFailed
	}
	return h.in.HandleReceipt(ctx, "smpp", sms.Receipt{MessageID: r.MessageID, Part: r.MessageID, Status: st})
}

// watchSMPP mirrors the client's bind state into the SMS metrics.
func watchSMPP(ctx context.Context, c *smpp.Client, m *sms.Metrics) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		m.SetConnected("smpp", c.Bound())
		select {
		case <-ctx.Done():
			m.SetConnected("smpp", false)
			return
		case <-t.C:
		}
	}
}
