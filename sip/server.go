package sip

import (
	"context"
	"errors"
	"fmt"
	"github.com/haochaping/haochaping/internal/phone"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	siplib "github.com/emiago/sipgo/sip"
)

// Defaults of Config, applied by NewServer.
const (
	DefaultAddr         = "127.0.0.1:5060"
	DefaultMaxCalls     = 2500
	DefaultBusyStatus   = 503
	DefaultRetryAfter   = 30 * time.Second
	DefaultMinSE        = 90 * time.Second
	DefaultDrainTimeout = 25 * time.Second
	DefaultUserAgent    = "haochaping"
	// hangupTimeout bounds the BYE the server sends for a handler that
	// returned without hanging up.
	hangupTimeout = 5 * time.Second
	// DefaultAbortGrace is how long aborted calls get to hang up after the
	// drain timeout before the listeners close.
	DefaultAbortGrace = 3 * time.Second
)

// Config holds the settings of a Server; zero fields take the defaults.
type Config struct {
	// Addr is host:port of the UDP and TCP listeners. Port 0 picks a free
	// port, the same for both (Server.Addr reports it).
	Addr string
	// Allow lists the networks INVITEs may come from (403 otherwise).
	// Empty allows none.
	Allow []netip.Prefix
	// ExternalIP is our address in SDP and Contact; zero means the
	// listener's host, which must then be a specific address.
	ExternalIP netip.Addr
	// RTPIP is the address RTP sockets bind to; zero means the listener's
	// host (all interfaces if that is unspecified).
	RTPIP netip.Addr
	// RTPPorts is the RTP port range; zero means any free port.
	RTPPorts PortRange
	// MaxCalls bounds calls in progress; above it INVITEs get BusyStatus.
	MaxCalls int
	// BusyStatus is 486 (Busy Here) or 503 (Service Unavailable, with
	// Retry-After, so a proxy tries another server).
	BusyStatus int
	// RetryAfter is the Retry-After of 503 answers.
	RetryAfter time.Duration
	// MinSE is the smallest session interval (RFC 4028) we accept (422 below).
	MinSE time.Duration
	// AnswerDelay is how long we ring (180) before answering.
	AnswerDelay time.Duration
	// Inband says when tones in the audio count as keys.
	Inband InbandMode
	// DrainTimeout bounds how long Run waits, after its context ends, for
	// running calls to finish before it cancels their contexts.
	DrainTimeout time.Duration
	// AbortGrace is how long calls get to hang up once their contexts are
	// cancelled at the drain timeout.
	AbortGrace time.Duration
	// Shards is the number of RTP scheduler goroutines; 0 means one per CPU.
	Shards int
	// UserAgent is our User-Agent and Server header.
	UserAgent string
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxCalls == 0 {
		c.MaxCalls = DefaultMaxCalls
	}
	if c.BusyStatus == 0 {
		c.BusyStatus = DefaultBusyStatus
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.MinSE == 0 {
		c.MinSE = DefaultMinSE
	}
	if c.Inband == "" {
		c.Inband = InbandAuto
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.AbortGrace == 0 {
		c.AbortGrace = DefaultAbortGrace
	}
	if c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	return c
}

// Handler decides what a call is for. The sip package calls Admit before
// answering and Serve once the call is answered.
type Handler interface {
	// Admit accepts the call (nil) or refuses it: a *Reject chooses the
	// status (404 for an unknown Request-URI user), any other error is 500.
	Admit(c *Call) error
	// Serve runs the answered call and returns when it is over. If the call
	// is still up when Serve returns, the server hangs up. ctx ends when the
	// server stops waiting for calls to drain.
	Serve(ctx context.Context, c *Call)
}

// HandlerFuncs adapts two functions to Handler; a nil Admit admits all.
type HandlerFuncs struct {
	AdmitFunc func(c *Call) error
	ServeFunc func(ctx context.Context, c *Call)
}

// Admit calls AdmitFunc.
func (h HandlerFuncs) Admit(c *Call) error {
	if h.AdmitFunc == nil {
		return nil
	}
	return h.AdmitFunc(c)
}

// Serve calls ServeFunc.
func (h HandlerFuncs) Serve(ctx context.Context, c *Call) { h.ServeFunc(ctx, c) }

// Reject is a refusal of a call with a SIP status.
type Reject struct {
	Status int
	Reason string
}

func (r *Reject) Error() string { return fmt.Sprintf("sip: reject %d %s", r.Status, r.Reason) }

// Params are the dependencies of a Server. Handler is required.
type Params struct {
	Config  Config
	Handler Handler
	Logger  *slog.Logger
	Metrics *Metrics
	// Now stamps key presses; time.Now if nil. RTP pacing always uses the
	// wall clock.
	Now func() time.Time
}

// Server is the SIP user agent server: it listens on UDP and TCP, answers
// calls and runs their media.
type Server struct {
	cfg     Config
	h       Handler
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time

	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	client  *sipgo.Client
	dua     sipgo.DialogUA
	udp     *net.UDPConn
	tcp     *net.TCPListener
	addr    netip.AddrPort
	extIP   netip.Addr
	rtpIP   netip.Addr
	sched   *scheduler
	callCtx context.Context
	abort   context.CancelFunc

	closeOnce sync.Once

	mu       sync.Mutex
	calls    map[string]*Call // by dialog ID
	active   int
	draining bool
	wg       sync.WaitGroup
	sessions atomic.Uint64
}

// NewServer opens the listeners (so a port in use fails here) and returns
// the server; Run serves.
func NewServer(p Params) (*Server, error) {
	if p.Handler == nil {
		return nil, errors.New("sip: new server: nil Handler")
	}
	cfg := p.Config.withDefaults()
	s := &Server{cfg: cfg, h: p.Handler, log: p.Logger, metrics: p.Metrics, now: p.Now, calls: map[string]*Call{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.BusyStatus != 486 && cfg.BusyStatus != 503 {
		return nil, fmt.Errorf("sip: busy status %d, want 486 or 503", cfg.BusyStatus)
	}
	if err := s.listen(); err != nil {
		return nil, err
	}
	s.extIP = cfg.ExternalIP
	if !s.extIP.IsValid() {
		s.extIP = s.addr.Addr()
		if s.extIP.IsUnspecified() {
			s.close()
			return nil, errors.New("sip: an external IP is required when listening on all interfaces")
		}
	}
	s.rtpIP = cfg.RTPIP
	if !s.rtpIP.IsValid() {
		s.rtpIP = s.addr.Addr()
	}
	var err error
	s.ua, err = sipgo.NewUA(sipgo.WithUserAgent(cfg.UserAgent), sipgo.WithUserAgentHostname(s.extIP.String()))
	if err != nil {
		s.close()
		return nil, wrapErr("new user agent", err)
	}
	s.srv, err = sipgo.NewServer(s.ua, sipgo.WithServerLogger(s.log))
	if err != nil {
		s.close()
		return nil, wrapErr("new server", err)
	}
	s.client, err = sipgo.NewClient(s.ua, sipgo.WithClientHostname(s.extIP.String()), sipgo.WithClientPort(int(s.addr.Port())))
	if err != nil {
		s.close()
		return nil, wrapErr("new client", err)
	}
	s.dua = sipgo.DialogUA{Client: s.client, ContactHDR: s.contact("udp"), RewriteContact: true}
	s.srv.OnInvite(s.onInvite)
	s.srv.OnAck(s.onAck)
	s.srv.OnBye(s.onBye)
	s.srv.OnInfo(s.onInfo)
	s.srv.OnOptions(s.onOptions)
	s.srv.OnUpdate(s.onUpdate)
	s.srv.OnCancel(func(req *siplib.Request, tx siplib.ServerTransaction) {
		// The transaction layer answers a CANCEL that matches an INVITE
		// (200, then 487 to the INVITE); this one matched none.
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
	})
	s.sched = newScheduler(cfg.Shards, s.metrics, s.now)
	return s, nil
}

// listen binds UDP and TCP on the same port, retrying when port 0 gave a
// UDP port that is taken for TCP.
func (s *Server) listen() error {
	ap, err := netip.ParseAddrPort(s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("sip: listen address %q: %w", s.cfg.Addr, err)
	}
	for attempt := 0; ; attempt++ {
		u, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return wrapErr("listen udp", err)
		}
		got := u.LocalAddr().(*net.UDPAddr).AddrPort()
		t, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr(), got.Port())))
		if err != nil {
			u.Close()
			if ap.Port() == 0 && attempt < 20 {
				continue
			}
			return wrapErr("listen tcp", err)
		}
		s.udp, s.tcp, s.addr = u, t, netip.AddrPortFrom(ap.Addr().Unmap(), got.Port())
		return nil
	}
}

// Addr returns the address of the UDP and TCP listeners.
func (s *Server) Addr() netip.AddrPort { return s.addr }

func (s *Server) contact(transport string) siplib.ContactHeader {
	h := siplib.ContactHeader{Address: siplib.Uri{User: "haochaping", Host: s.extIP.String(), Port: int(s.addr.Port())}}
	if strings.EqualFold(transport, "tcp") {
		h.Address.UriParams = siplib.NewParams()
		h.Address.UriParams.Add("transport", "tcp")
	}
	return h
}

// Active returns the number of calls in progress.
func (s *Server) Active() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// Run serves until ctx ends, then drains: new INVITEs get 503, running
// calls may finish within DrainTimeout, after which their contexts are
// cancelled and they get a few seconds to hang up. Then the listeners close.
func (s *Server) Run(ctx context.Context) error {
	var callCancel context.CancelFunc
	s.mu.Lock()
	s.callCtx, callCancel = context.WithCancel(context.WithoutCancel(ctx))
	s.abort = callCancel
	s.mu.Unlock()
	defer callCancel()
	schedCtx, stopSched := context.WithCancel(context.Background())
	schedDone := make(chan struct{})
	go func() { s.sched.run(schedCtx); close(schedDone) }()
	errc := make(chan error, 2)
	go func() { errc <- s.srv.ServeUDP(s.udp) }()
	go func() { errc <- s.srv.ServeTCP(s.tcp) }()
	s.log.Info("sip: listening", "udp", s.addr.String(), "tcp", s.addr.String(), "external_ip", s.extIP.String(),
		"rtp_ports", s.cfg.RTPPorts.String(), "max_calls", s.cfg.MaxCalls)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		runErr = wrapErr("serve", err)
	}
	s.mu.Lock()
	s.draining = true
	n := s.active
	s.mu.Unlock()
	s.log.Info("sip: draining", "calls", n, "timeout", s.cfg.DrainTimeout)
	drained := make(chan struct{})
	go func() { s.wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(s.cfg.DrainTimeout):
		s.log.Warn("sip: drain timeout, ending calls", "calls", s.Active())
		callCancel()
		select {
		case <-drained:
		case <-time.After(s.cfg.AbortGrace):
			s.log.Warn("sip: calls still up after abort", "calls", s.Active())
		}
	}
	stopSched()
	<-schedDone
	s.close()
	s.log.Info("sip: stopped")
	return runErr
}

// Close closes the listeners; Run does it on return. It is for a server
// that is never run (start-up failed elsewhere) and safe to call twice.
func (s *Server) Close() error {
	s.close()
	return nil
}

func (s *Server) close() {
	s.closeOnce.Do(func() {
		if s.udp != nil {
			s.udp.Close()
		}
		if s.tcp != nil {
			s.tcp.Close()
		}
		if s.ua != nil {
			s.ua.Close()
		}
	})
}

func (s *Server) allowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.cfg.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (s *Server) lookup(req *siplib.Request) *Call {
	id, err := siplib.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

func respond(tx siplib.ServerTransaction, req *siplib.Request, code int, reason string, hdrs ...siplib.Header) {
	res := siplib.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	_ = tx.Respond(res)
}

const allowMethods = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE"

func (s *Server) onOptions(req *siplib.Request, tx siplib.ServerTransaction) {
	respond(tx, req, 200, "OK", siplib.NewHeader("Allow", allowMethods),
		siplib.NewHeader("Accept", "application/sdp, application/dtmf-relay, application/dtmf"),
		siplib.NewHeader("Supported", "timer"))
}

// sessionTimer reads the RFC 4028 headers of req. It returns the headers
// of our 2xx, or a 422 to send when the interval is below our Min-SE.
func (s *Server) sessionTimer(req *siplib.Request) (hdrs []siplib.Header, tooSmall bool) {
	v := ""
	for _, n := range []string{"Session-Expires", "x"} {
		if h := req.GetHeader(n); h != nil {
			v = h.Value()
			break
		}
	}
	if v == "" {
		return nil, false
	}
	secs, params, _ := strings.Cut(v, ";")
	se, err := strconv.Atoi(strings.TrimSpace(secs))
	if err != nil || se <= 0 {
		return nil, false // unreadable: ignore the timer rather than fail the call
	}
	if time.Duration(se)*time.Second < s.cfg.MinSE {
		return nil, true
	}
	supported := false
	for _, h := range append(req.GetHeaders("Supported"), req.GetHeaders("k")...) {
		for _, opt := range strings.Split(h.Value(), ",") {
			supported = supported || strings.EqualFold(strings.TrimSpace(opt), "timer")
		}
	}
	if !supported {
		return nil, false // the UAC cannot refresh; we do not run the timer
	}
	refresher := "uac"
	for _, p := range strings.Split(params, ";") {
		if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "refresher") &&
			strings.EqualFold(strings.TrimSpace(val), "uas") {
			refresher = "uas"
		}
	}
	return []siplib.Header{siplib.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", se, refresher)),
		siplib.NewHeader("Require", "timer")}, false
}

func (s *Server) minSEHeader() siplib.Header {
	return siplib.NewHeader("Min-SE", strconv.Itoa(int(s.cfg.MinSE/time.Second)))
}

func (s *Server) retryAfter() siplib.Header {
	return siplib.NewHeader("Retry-After", strconv.Itoa(int(s.cfg.RetryAfter/time.Second)))
}

func hasSDP(req *siplib.Request) bool {
	if len(req.Body()) == 0 {
		return false
	}
	ct := req.ContentType()
	return ct == nil || strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct.Value())), "application/sdp")
}

func (s *Server) onInvite(req *siplib.Request, tx siplib.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		s.onModify(req, tx)
		return
	}
	start := time.Now()
	callID := ""
	if h := req.CallID(); h != nil {
		callID = h.Value()
	}
	log := s.log.With("call_id", callID)
	src, _ := netip.ParseAddrPort(req.Source())
	if !s.allowed(src.Addr()) {
		log.Warn("sip: INVITE from a network not allowed", "source", src.Addr().String())
		respond(tx, req, 403, "Forbidden")
		s.metrics.call(OutcomeForbidden)
		return
	}
	s.mu.Lock()
	switch {
	case s.draining:
		s.mu.Unlock()
		respond(tx, req, 503, "Service Unavailable", s.retryAfter())
		s.metrics.call(OutcomeDraining)
		return
	case s.active >= s.cfg.MaxCalls:
		s.mu.Unlock()
		log.Warn("sip: max calls reached", "max_calls", s.cfg.MaxCalls)
		if s.cfg.BusyStatus == 486 {
			respond(tx, req, 486, "Busy Here")
		} else {
			respond(tx, req, 503, "Service Unavailable", s.retryAfter())
		}
		s.metrics.call(OutcomeBusy)
		return
	}
	s.active++
	s.wg.Add(1)
	callCtx := s.callCtx
	s.mu.Unlock()
	s.metrics.activeAdd(1)
	defer func() {
		s.mu.Lock()
		s.active--
		s.mu.Unlock()
		s.metrics.activeAdd(-1)
		s.wg.Done()
	}()
	outcome := s.invite(req, tx, log, start, callCtx)
	s.metrics.call(outcome)
}

// invite runs a new call from its INVITE to its end and returns the outcome.
func (s *Server) invite(req *siplib.Request, tx siplib.ServerTransaction, log *slog.Logger, start time.Time, callCtx context.Context) string {
	timerHdrs, tooSmall := s.sessionTimer(req)
	if tooSmall {
		respond(tx, req, 422, "Session Interval Too Small", s.minSEHeader())
		return OutcomeTooSmall
	}
	var offer *Offer
	var media *Media
	if hasSDP(req) {
		var err error
		if offer, err = ParseOffer(req.Body()); err != nil {
			log.Info("sip: bad offer", "err", err)
			respond(tx, req, 400, "Bad SDP")
			return OutcomeBadSDP
		}
		if media, err = Negotiate(offer); err != nil {
			log.Info("sip: no common codec", "err", err)
			respond(tx, req, 488, "Not Acceptable Here", siplib.NewHeader("Warning", `304 haochaping "PCMA or PCMU only"`))
			return OutcomeNoCodec
		}
	} else if len(req.Body()) > 0 {
		respond(tx, req, 415, "Unsupported Media Type", siplib.NewHeader("Accept", "application/sdp"))
		return OutcomeBadSDP
	}
	conn, err := listenRTP(s.rtpIP, s.cfg.RTPPorts)
	if err != nil {
		log.Error("sip: no RTP port", "err", err)
		respond(tx, req, 503, "Service Unavailable", s.retryAfter())
		return OutcomeFailed
	}
	dialog, err := s.dua.ReadInvite(req, tx)
	if err != nil {
		conn.Close()
		log.Info("sip: unusable INVITE", "err", err)
		respond(tx, req, 400, "Bad Request")
		return OutcomeFailed
	}
	defer dialog.Close()
	c := &Call{srv: s, req: req, dialog: dialog, id: req.CallID().Value(), merger: NewDigitMerger(0),
		digits: make(chan rune, digitBuffer), done: make(chan struct{}), contact: s.contact(req.Transport())}
	c.ctx, c.cancel = context.WithCancel(callCtx)
	defer c.cancel()
	c.log = log.With("caller", phone.Mask(c.CallerNumber()), "transport", c.Transport())
	if media != nil {
		c.st = newStream(conn, media.Remote, media.Codec(), media.Local.Sends() && !media.Remote.Addr().IsUnspecified())
	} else {
		c.st = newStream(conn, netip.AddrPort{}, PayloadTypePCMA, false)
	}
	defer c.end("invite done")
	rtpAddr := netip.AddrPortFrom(s.extIP, c.st.local.Port())
	c.local = LocalSDP{SessionID: s.sessions.Add(1) + uint64(start.Unix())<<16, Version: 1, Addr: rtpAddr}

	if err := s.h.Admit(c); err != nil {
		var rj *Reject
		if errors.As(err, &rj) {
			c.log.Info("sip: call refused", "status", rj.Status, "reason", rj.Reason, "user", c.User())
			_ = dialog.Respond(rj.Status, rj.Reason, nil)
			if rj.Status == 404 {
				return OutcomeNotFound
			}
			return OutcomeRejected
		}
		c.log.Error("sip: admit failed", "err", err)
		_ = dialog.Respond(500, "Server Internal Error", nil)
		return OutcomeFailed
	}
	s.mu.Lock()
	s.calls[dialog.ID] = c
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.calls, dialog.ID)
		s.mu.Unlock()
	}()

	if err := dialog.Respond(180, "Ringing", nil, &c.contact); err != nil {
		c.log.Info("sip: 180 not sent", "err", err)
	}
	if s.cfg.AnswerDelay > 0 {
		select {
		case <-time.After(s.cfg.AnswerDelay):
		case <-dialog.Context().Done():
		}
	}
	if dialog.Context().Err() != nil {
		c.log.Info("sip: cancelled before answer")
		return OutcomeCancelled
	}
	var body []byte
	if offer != nil {
		c.setMedia(media)
		body = c.local.AnswerSDP(offer, media)
	} else {
		c.mu.Lock()
		c.awaitSDP = true
		c.mu.Unlock()
		body = c.local.OfferSDP(SendRecv)
	}
	res := siplib.NewSDPResponseFromRequest(dialog.InviteRequest, body)
	res.AppendHeader(&c.contact)
	res.AppendHeader(siplib.NewHeader("Allow", allowMethods))
	for _, h := range timerHdrs {
		res.AppendHeader(h)
	}
	s.metrics.answered(time.Since(start).Seconds())
	if err := dialog.WriteResponse(res); err != nil {
		if dialog.Context().Err() != nil || errors.Is(err, siplib.ErrTransactionCanceled) {
			c.log.Info("sip: cancelled before answer")
			return OutcomeCancelled
		}
		c.log.Warn("sip: answer failed", "err", err)
		return OutcomeFailed
	}
	// A re-INVITE may change c.media from now on (onModify): read it once
	// under the lock.
	c.mu.Lock()
	answered := c.media
	c.answered = true
	c.mu.Unlock()
	if answered == nil {
		c.log.Warn("sip: late offer without an answer in the ACK; hanging up")
		hctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
		_ = c.Hangup(hctx)
		cancel()
		return OutcomeFailed
	}
	c.log.Info("sip: answered", "rtp_local", c.st.local.String(), "rtp_remote", answered.Remote.String(),
		"codec", answered.Codec(), "events_pt", eventPTString(answered), "late_offer", offer == nil)
	go func() {
		select {
		case <-dialog.Context().Done():
			c.end("dialog ended")
		case <-c.done:
		}
	}()
	c.st.start()
	s.sched.add(c.st, c.onRTP)

	s.h.Serve(c.ctx, c)

	select {
	case <-c.done:
	default:
		hctx, cancel := context.WithTimeout(context.Background(), hangupTimeout)
		if err := c.Hangup(hctx); err != nil {
			c.log.Warn("sip: hang up after serve", "err", err)
		}
		cancel()
	}
	return OutcomeAnswered
}

func eventPTString(m *Media) string {
	if !m.HasEvents {
		return "none"
	}
	return strconv.Itoa(int(m.EventPT))
}

func (s *Server) onAck(req *siplib.Request, tx siplib.ServerTransaction) {
	c := s.lookup(req)
	if c == nil {
		return
	}
	c.mu.Lock()
	await := c.awaitSDP
	c.awaitSDP = false
	c.mu.Unlock()
	if await {
		if !hasSDP(req) {
			c.log.Warn("sip: ACK without the SDP answer")
		} else if ans, err := ParseOffer(req.Body()); err != nil {
			c.log.Warn("sip: bad SDP answer in ACK", "err", err)
		} else if m, err := Negotiate(ans); err != nil {
			c.log.Warn("sip: SDP answer in ACK has no G.711", "err", err)
		} else {
			c.setMedia(m)
		}
	}
	if err := c.dialog.ReadAck(req, tx); err != nil {
		c.log.Debug("sip: ACK", "err", err)
	}
}

func (s *Server) onBye(req *siplib.Request, tx siplib.ServerTransaction) {
	c := s.lookup(req)
	if c == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if err := c.dialog.ReadBye(req, tx); err != nil {
		c.log.Info("sip: BYE", "err", err)
		respond(tx, req, 200, "OK")
	}
	c.log.Info("sip: caller hung up")
	c.end("remote bye")
}

func (s *Server) onInfo(req *siplib.Request, tx siplib.ServerTransaction) {
	c := s.lookup(req)
	if c == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	key, err := ParseDTMFInfo(ct, req.Body())
	switch {
	case errors.Is(err, ErrNotDTMFInfo):
		respond(tx, req, 415, "Unsupported Media Type", siplib.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
		return
	case err != nil:
		c.log.Info("sip: bad DTMF INFO", "err", err)
		respond(tx, req, 400, "Bad Request")
		return
	}
	respond(tx, req, 200, "OK")
	c.addDigit(Digit{Key: key, Method: DTMFInfo, At: s.now()})
}

func (s *Server) onUpdate(req *siplib.Request, tx siplib.ServerTransaction) { s.onModify(req, tx) }

// onModify answers a re-INVITE or UPDATE in a dialog: a session refresh,
// hold or resume (direction mirrored), a new address or codec, or (INVITE
// without SDP) a request for our offer, answered in the ACK.
func (s *Server) onModify(req *siplib.Request, tx siplib.ServerTransaction) {
	c := s.lookup(req)
	if c == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	if err := c.dialog.ReadRequest(req, tx); err != nil {
		respond(tx, req, 500, "Server Internal Error", siplib.NewHeader("Retry-After", "1"))
		return
	}
	timerHdrs, tooSmall := s.sessionTimer(req)
	if tooSmall {
		respond(tx, req, 422, "Session Interval Too Small", s.minSEHeader())
		return
	}
	var body []byte
	switch {
	case hasSDP(req):
		offer, err := ParseOffer(req.Body())
		if err != nil {
			respond(tx, req, 400, "Bad SDP")
			return
		}
		m, err := Negotiate(offer)
		if err != nil {
			respond(tx, req, 488, "Not Acceptable Here")
			return
		}
		c.setMedia(m)
		c.mu.Lock()
		c.local.Version++
		body = c.local.AnswerSDP(offer, m)
		c.mu.Unlock()
		c.log.Info("sip: media changed", "direction", m.Local, "remote", m.Remote.String(), "codec", m.Codec())
	case req.IsInvite():
		c.mu.Lock()
		c.awaitSDP = true
		body = c.local.OfferSDP(SendRecv)
		c.mu.Unlock()
	}
	res := siplib.NewResponseFromRequest(req, 200, "OK", body)
	if body != nil {
		res.AppendHeader(siplib.NewHeader("Content-Type", "application/sdp"))
	}
	res.AppendHeader(&c.contact)
	for _, h := range timerHdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		c.log.Info("sip: answer to re-INVITE not sent", "err", err)
	}
}

func wrapErr(op string, err error) error { return fmt.Errorf("sip: %s: %w", op, err) }
