package main

import (
	"context"
	"github.com/haochaping/haochaping/internal/phone"

	"fmt"

	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/internal/config"
	"github.com/haochaping/haochaping/ivr"
	"github.com/haochaping/haochaping/sip"
)

// ivrActor is the actor of ratings the IVR submits.
var ivrActor = casecore.Actor{ID: "ivr", Role: casecore.RoleIntake}

// buildSIP wires the SIP user agent, RTP media and the IVR flow (issue 3)
// into the app: sip.Server answers calls, sipHandler runs ivr.Flow on each
// through ivrCall, and caseRecorder stores the results in the case core.
//
// Shutdown: the server stops taking calls (503) when the run context ends,
// lets running calls finish for 60% of shutdown.timeout, then cancels them
// (the flow records "aborted" and hangs up) and gives them 30% more.
func buildSIP(ctx context.Context, a *app) error {
	c := a.cfg.SIP
	if !c.Enabled {
		return nil
	}
	log := a.log.With("part", "sip")
	prompts, err := loadPrompts(c.IVR.WithDefaults())
	if err != nil {
		return err
	}
	flow, err := ivr.New(ivr.Params{
		Recorder: &caseRecorder{svc: a.svc},
		Config:   c.IVR,
		Logger:   a.log.With("part", "ivr"),
		Metrics:  ivr.NewMetrics(a.reg),
	})
	if err != nil {
		return fmt.Errorf("sip.ivr: %w", err)
	}
	scfg, err := sipConfig(c, a.cfg.Shutdown.Timeout)
	if err != nil {
		return err
	}
	srv, err := sip.NewServer(sip.Params{
		Config:  scfg,
		Handler: &sipHandler{flow: flow, prompts: prompts, cfg: c, units: a.units},
		Logger:  log,
		Metrics: sip.NewMetrics(a.reg),
	})
	if err != nil {
		return fmt.Errorf("sip.addr: %w", err)
	}
	setDashboardCalls(a, ivrCalls{flow}) // the operations view lists the calls in progress
	a.closers = append(a.closers, func() { _ = srv.Close() })
	a.front = append(a.front, part{name: "sip", run: srv.Run})
	return nil
}

// sipConfig translates the validated sip section.
func sipConfig(c config.SIP, shutdown time.Duration) (sip.Config, error) {
	allow, err := c.AllowPrefixes()
	if err != nil {
		return sip.Config{}, err
	}
	lo, hi, err := c.RTPPortRange()
	if err != nil {
		return sip.Config{}, err
	}
	out := sip.Config{
		Addr: c.Addr, Allow: allow, RTPPorts: sip.PortRange{Min: lo, Max: hi},
		MaxCalls: c.MaxCalls, BusyStatus: c.BusyStatus, RetryAfter: c.RetryAfter, MinSE: c.MinSE,
		AnswerDelay: c.AnswerDelay, Inband: sip.InbandMode(c.InbandDTMF), Shards: c.Shards,
		DrainTimeout: shutdown * 6 / 10, AbortGrace: shutdown * 3 / 10,
	}
	if c.ExternalIP != "" {
		out.ExternalIP, _ = netip.ParseAddr(c.ExternalIP)
	}
	if c.RTPIP != "" {
		out.RTPIP, _ = netip.ParseAddr(c.RTPIP)
	}
	return out, nil
}

// loadPrompts reads every prompt of the catalogue once and encodes it for
// both G.711 laws.
func loadPrompts(cfg ivr.Config) (map[ivr.PromptID]*sip.Prompt, error) {
	out := map[ivr.PromptID]*sip.Prompt{}
	for id, path := range cfg.PromptPaths() {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("sip.ivr.prompt_dir: prompt %s: %w", id, err)
		}
		pcm, err := sip.LoadWAV(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("sip.ivr.prompt_dir: prompt %s (%s): %w", id, path, err)
		}
		out[id] = sip.NewPrompt(string(id), pcm)
	}
	return out, nil
}

// sipHandler admits calls by their Request-URI user and call context, and
// runs the IVR flow on them.
type sipHandler struct {
	flow    *ivr.Flow
	prompts map[ivr.PromptID]*sip.Prompt
	cfg     config.SIP
	units   *casecore.Directory
}

// Admit refuses unknown flows (404) and calls whose result could never be
// recorded: a rating without a known unit, a follow-up without its case (400).
func (h *sipHandler) Admit(c *sip.Call) error {
	info, err := h.info(c)
	if err != nil {
		return err
	}
	switch {
	case info.Kind == ivr.KindFollowup && info.FollowupOf == "":
		return &sip.Reject{Status: 400, Reason: "Missing " + h.cfg.Headers.FollowupOf}
	case info.Kind == ivr.KindRate && info.UnitID == "":
		return &sip.Reject{Status: 400, Reason: "Missing " + h.cfg.Headers.UnitID}
	}
	if info.UnitID != "" {
		if _, ok := h.units.Unit(info.UnitID); !ok {
			return &sip.Reject{Status: 400, Reason: "Unknown unit"}
		}
	}
	return nil
}

// Serve runs the flow; the flow hangs up.
func (h *sipHandler) Serve(ctx context.Context, c *sip.Call) {
	info, err := h.info(c)
	if err != nil {
		return
	}
	_, _ = h.flow.Run(ctx, &ivrCall{c: c, prompts: h.prompts}, info) // Run logs its own errors
}

// info reads the call context from the INVITE: the configured headers
// first, then the User-to-User pairs, then parameters of the Request-URI
// with the same keys (sip:rate@host;unit=fh-g08;wo=WO-1), for PBXes and
// softphones that cannot add headers.
func (h *sipHandler) info(c *sip.Call) (ivr.CallInfo, error) {
	kind, ok := h.cfg.Flows[c.User()]
	if !ok {
		return ivr.CallInfo{}, &sip.Reject{Status: 404, Reason: "Not Found"}
	}
	uui := c.UserToUser()
	hd := h.cfg.Headers
	get := func(field, header string) string {
		if v := c.Header(header); v != "" {
			return v
		}
		if k := hd.UUIKeys[field]; k != "" {
			if uui[k] != "" {
				return uui[k]
			}
			if v := c.URIParam(k); v != "" {
				return v
			}
		}
		return uui[strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(header, "X-"), "x-"))]
	}
	info := ivr.CallInfo{
		CallID:      c.ID(),
		Kind:        kind,
		WorkOrderID: get("work_order_id", hd.WorkOrderID),
		UnitID:      get("unit_id", hd.UnitID),
		StaffID:     get("staff_id", hd.StaffID),
		Post:        get("post", hd.Post),
		FollowupOf:  get("followup_of", hd.FollowupOf),
	}
	// Only a real number is kept: SIP users like "sipp" or "anonymous" are not raters' numbers.
	if n := phone.Normalize(c.CallerNumber()); len(n) >= 5 && len(n) <= 20 {
		info.CallerNumber = n
	}
	return info, nil
}

// ivrCall is a *sip.Call as the flow sees it: prompt IDs become the
// pre-encoded prompts.
type ivrCall struct {
	c       *sip.Call
	prompts map[ivr.PromptID]*sip.Prompt
}

var _ ivr.Call = (*ivrCall)(nil)

func (x *ivrCall) Play(ctx context.Context, id ivr.PromptID) error {
	p := x.prompts[id]
	if p == nil {
		return fmt.Errorf("play %s: no such prompt", id)
	}
	return x.c.Play(ctx, p)
}

func (x *ivrCall) Digits() <-chan rune              { return x.c.Digits() }
func (x *ivrCall) Hangup(ctx context.Context) error { return x.c.Hangup(ctx) }
func (x *ivrCall) Done() <-chan struct{}            { return x.c.Done() }

// caseRecorder stores IVR results in the case core: a rating, or a
// no-rating outcome that the SMS module turns into an invitation. The SIP
// Call-ID is the idempotency key, so the flow's retries store once.
type caseRecorder struct {
	svc *casecore.Service
}

var _ ivr.Recorder = (*caseRecorder)(nil)

func (r *caseRecorder) RecordRating(ctx context.Context, res ivr.Result) error {
	in := res.Call
	key := "sip:" + in.CallID
	if len(key) > 200 {
		key = key[:200]
	}
	if res.Outcome == ivr.Rated {
		_, _, err := r.svc.SubmitRating(ctx, ivrActor, casecore.RatingInput{
			IdempotencyKey: key, Channel: casecore.ChannelHotlineIVR, Level: casecore.Level(res.Level),
			WorkOrderID: in.WorkOrderID, UnitID: in.UnitID, StaffID: in.StaffID, Post: in.Post,
			RaterPhone: in.CallerNumber, RatedAt: res.DecidedAt, FollowupOf: in.FollowupOf,
		})
		if err != nil {
			return fmt.Errorf("submit rating: %w", err)
		}
		return nil
	}
	_, _, err := r.svc.RecordNoRating(ctx, casecore.NoRating{
		IdempotencyKey: key, Channel: casecore.ChannelHotlineIVR, Reason: string(res.Reason),
		WorkOrderID: in.WorkOrderID, UnitID: in.UnitID, StaffID: in.StaffID, Post: in.Post,
		RaterPhone: in.CallerNumber, FollowupOf: in.FollowupOf,
	})
	if err != nil {
		return fmt.Errorf("record no rating: %w", err)
	}
	return nil
}
