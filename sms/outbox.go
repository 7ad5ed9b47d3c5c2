package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/haochaping/haochaping/internal/phone"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Message states of the outbox.
const (
	StateQueued    = "queued"
	StateSending   = "sending"
	StateSent      = "sent"
	StateDelivered = "delivered"
	StateFailed    = "failed"
	StateExpired   = "expired"
)

// States lists the message states in their order.
var States = []string{StateQueued, StateSending, StateSent, StateDelivered, StateFailed, StateExpired}

// Outbox defaults, applied by NewOutbox.
const (
	DefaultLease        = 2 * time.Minute
	DefaultBatch        = 50
	DefaultPoll         = time.Second
	DefaultMaxAttempts  = 10
	DefaultBackoffMin   = 2 * time.Second
	DefaultBackoffMax   = 10 * time.Minute
	DefaultConcurrency  = 8
	DefaultDailyCap     = 5
	DefaultSendTimeout  = 60 * time.Second
	DefaultKeepTerminal = 30 * 24 * time.Hour
)

// OutboxConfig tunes the outbox; zero fields take the defaults above.
type OutboxConfig struct {
	// Lease is how long a claimed message is reserved for the process that
	// sends it; it must be longer than SendTimeout.
	Lease time.Duration
	// Batch is how many due messages one round claims.
	Batch int
	// Poll is the longest sleep between rounds.
	Poll time.Duration
	// MaxAttempts bounds the sends of one message with temporary failures.
	MaxAttempts int
	// BackoffMin and BackoffMax bound the exponential backoff (with jitter)
	// between attempts.
	BackoffMin, BackoffMax time.Duration
	// Concurrency is how many sends run at once in this process.
	Concurrency int
	// DailyCap is the most messages one number gets a local day.
	DailyCap int
	// Window is when invitations may go out.
	Window      Window
	SendTimeout time.Duration
	// KeepTerminal is how long finished messages stay readable.
	KeepTerminal time.Duration
}

func (c *OutboxConfig) applyDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.SendTimeout, DefaultSendTimeout)
	def(&c.Lease, DefaultLease)
	if c.Lease <= c.SendTimeout {
		c.Lease = c.SendTimeout + 30*time.Second
	}
	def(&c.Poll, DefaultPoll)
	def(&c.BackoffMin, DefaultBackoffMin)
	def(&c.BackoffMax, DefaultBackoffMax)
	def(&c.KeepTerminal, DefaultKeepTerminal)
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.DailyCap <= 0 {
		c.DailyCap = DefaultDailyCap
	}
	if c.Window.Loc == nil && c.Window.From == 0 && c.Window.To == 0 {
		c.Window = DefaultWindow()
	}
}

// OutboxParams are the outbox's dependencies.
type OutboxParams struct {
	Redis     redis.UniversalClient
	Namespace string
	Provider  Provider
	Logger    *slog.Logger
	Metrics   *Metrics
	// Now is the clock (time.Now if nil); tests move a fake one.
	Now func() time.Time
	// OnSent, if set, is called after a message was marked sent, with the
	// gateway ids (used to apply receipts that overtook the send).
	OnSent func(ctx context.Context, ids []string)
}

// Outbox is the durable queue of messages in Redis and the loop that sends
// them. Several processes may run the loop on the same Redis: a message is
// claimed under a lease by one of them.
type Outbox struct {
	rdb    redis.UniversalClient
	k      keys
	p      Provider
	cfg    OutboxConfig
	log    *slog.Logger
	m      *Metrics
	now    func() time.Time
	onSent func(ctx context.Context, ids []string)
	wake   chan struct{}

	gwMu    sync.Mutex
	gwSince time.Time // start of the current run of send outcomes
	gwOK    bool      // whether the last send succeeded
}

// NewOutbox returns the outbox; Run sends.
func NewOutbox(p OutboxParams, cfg OutboxConfig) *Outbox {
	cfg.applyDefaults()
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	o := &Outbox{rdb: p.Redis, k: newKeys(p.Namespace), p: p.Provider, cfg: cfg, log: p.Logger, m: p.Metrics,
		now: p.Now, onSent: p.OnSent, wake: make(chan struct{}, 1)}
	p.Metrics.observe(o)
	return o
}

// Config returns the configuration in use, defaults applied.
func (o *Outbox) Config() OutboxConfig { return o.cfg }

// Kinds of outbox messages besides the template kinds.
const (
	kindLink   = "link"
	kindOptOut = "opt_out"
)

// spec is a message to queue, as the scripts read it.
type spec struct {
	Kind   string `json:"kind"`
	To     string `json:"to"`
	Text   string `json:"text"`
	Segs   int    `json:"segs"`
	Due    int64  `json:"due"`
	Exp    int64  `json:"exp"`
	Window bool   `json:"window"`
}

// newSpec lays out one message; windowed messages wait for the send window.
func (o *Outbox) newSpec(kind, to string, msg Message, now, expires time.Time, windowed bool) spec {
	due := now
	if windowed {
		due = o.cfg.Window.Next(now)
	}
	s := spec{Kind: kind, To: to, Text: msg.Text, Segs: len(msg.Segments), Due: due.UnixMilli(), Window: windowed}
	if s.Segs == 0 {
		s.Segs = 1
	}
	if !expires.IsZero() {
		s.Exp = expires.UnixMilli()
	}
	return s
}

func specsJSON(specs []spec) string {
	if len(specs) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(specs)
	return string(b)
}

// Enqueue queues standalone messages (not windowed) and returns their IDs.
func (o *Outbox) Enqueue(ctx context.Context, kind, to, invID string, msgs []Message) ([]string, error) {
	now := o.now()
	specs := make([]spec, len(msgs))
	for i, m := range msgs {
		specs[i] = o.newSpec(kind, to, m, now, time.Time{}, false)
	}
	ids, err := enqueueScript.Run(ctx, o.rdb, []string{o.k.due()}, o.k.p, now.UnixMilli(), specsJSON(specs), invID).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("enqueue sms: %w", err)
	}
	for range ids {
		o.m.message(StateQueued, o.p.Name())
	}
	o.Wake()
	return ids, nil
}

// Wake makes the loop look at the due set now.
func (o *Outbox) Wake() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// OutboxMessage is a message as stored.
type OutboxMessage struct {
	ID           string    `json:"id"`
	Invitation   string    `json:"invitation,omitempty"`
	Kind         string    `json:"kind"`
	To           string    `json:"-"`
	Text         string    `json:"text"`
	Segments     int       `json:"segments"`
	UserRef      int       `json:"-"`
	State        string    `json:"state"`
	Attempts     int       `json:"attempts"`
	Due          time.Time `json:"due"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
	Provider     string    `json:"provider,omitempty"`
	ProviderIDs  []string  `json:"provider_ids,omitempty"`
	Error        string    `json:"error,omitempty"`
	leaseToken   string
	leaseExpired bool
}

func msTime(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

func messageFromHash(h map[string]string) *OutboxMessage {
	m := &OutboxMessage{ID: h["id"], Invitation: h["inv"], Kind: h["kind"], To: h["to"], Text: h["text"],
		State: h["state"], Due: msTime(h["due"]), Created: msTime(h["created"]), Updated: msTime(h["updated"]),
		Provider: h["provider"], Error: h["err"], leaseToken: h["tok"]}
	m.Segments, _ = strconv.Atoi(h["segs"])
	m.UserRef, _ = strconv.Atoi(h["ref"])
	m.Attempts, _ = strconv.Atoi(h["attempts"])
	if h["ids"] != "" {
		m.ProviderIDs = strings.Split(h["ids"], ",")
	}
	return m
}

// Get returns a stored message.
func (o *Outbox) Get(ctx context.Context, id string) (*OutboxMessage, error) {
	h, err := o.rdb.HGetAll(ctx, o.k.msg(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("get sms message: %w", err)
	}
	if len(h) == 0 {
		return nil, ErrNotFound
	}
	return messageFromHash(h), nil
}

// ErrNotFound is returned for unknown invitations and messages.
var ErrNotFound = errors.New("sms: not found")

// Run sends due messages until ctx ends. Sends in flight when ctx ends are
// finished (bounded by SendTimeout) and recorded, so a restart repeats
// nothing that was handed to the gateway.
func (o *Outbox) Run(ctx context.Context) error {
	sem := make(chan struct{}, o.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		n, err := o.round(ctx, sem, &wg)
		if err != nil && ctx.Err() == nil {
			o.log.Warn("sms outbox round failed", "err", err)
		}
		if n > 0 && err == nil {
			continue // more may be due
		}
		wait := o.cfg.Poll
		if next, err := o.nextDue(ctx); err == nil && !next.IsZero() {
			if d := next.Sub(o.now()); d < wait {
				wait = max(d, 5*time.Millisecond)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-o.wake:
		case <-t.C:
		}
		t.Stop()
	}
	return nil
}

func (o *Outbox) nextDue(ctx context.Context) (time.Time, error) {
	zs, err := o.rdb.ZRangeWithScores(ctx, o.k.due(), 0, 0).Result()
	if err != nil || len(zs) == 0 {
		return time.Time{}, err
	}
	return time.UnixMilli(int64(zs[0].Score)), nil
}

// round takes free send slots (waiting for one), claims at most that many
// due messages and starts their sends; it returns how many it claimed.
// Claiming no more than can start at once means a shutdown never leaves a
// claimed message unsent under its lease.
func (o *Outbox) round(ctx context.Context, sem chan struct{}, wg *sync.WaitGroup) (int, error) {
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return 0, nil
	}
	slots := 1
	for slots < o.cfg.Batch {
		select {
		case sem <- struct{}{}:
			slots++
			continue
		default:
		}
		break
	}
	claimed, err := o.claim(ctx, slots)
	for range slots - len(claimed) {
		<-sem
	}
	if err != nil {
		return 0, err
	}
	for _, m := range claimed {
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			o.send(m)
		}()
	}
	return len(claimed), nil
}

// sweepBatch bounds the finished messages one round forgets.
const sweepBatch = 500

// claim forgets finished messages whose time is up, runs the claim script
// and loads the messages to send.
func (o *Outbox) claim(ctx context.Context, limit int) ([]*OutboxMessage, error) {
	now := o.now()
	if err := sweepScript.Run(ctx, o.rdb, []string{o.k.end(), o.k.states()}, o.k.p, now.UnixMilli(), sweepBatch).Err(); err != nil {
		return nil, fmt.Errorf("sweep sms: %w", err)
	}
	w := o.cfg.Window
	open := "0"
	if w.Open(now) {
		open = "1"
	}
	res, err := claimScript.Run(ctx, o.rdb, []string{o.k.due(), o.k.sup()}, o.k.p, now.UnixMilli(), limit,
		o.cfg.Lease.Milliseconds(), open, w.Next(now).UnixMilli(), w.Day(now), o.cfg.DailyCap,
		w.NextDay(now).UnixMilli(), o.cfg.KeepTerminal.Milliseconds()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("claim sms: %w", err)
	}
	var out []*OutboxMessage
	pipe := o.rdb.Pipeline()
	var cmds []*redis.MapStringStringCmd
	var leases []string
	var resend []bool
	for i := 0; i+2 < len(res); i += 3 {
		id, action := res[i], res[i+1]
		switch action {
		case "send", "resend":
			cmds = append(cmds, pipe.HGetAll(ctx, o.k.msg(id)))
			leases = append(leases, res[i+2])
			resend = append(resend, action == "resend")
		case "deferred", "capped":
			o.m.message(action, o.p.Name())
		default:
			o.m.message(action, o.p.Name())
			if action == "expired" {
				o.log.Info("sms expired before it could be sent", "msg_id", id)
			} else {
				o.log.Info("sms not sent: number opted out", "msg_id", id)
			}
		}
	}
	if len(cmds) == 0 {
		return nil, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("claim sms: load: %w", err)
	}
	for i, c := range cmds {
		m := messageFromHash(c.Val())
		m.leaseToken, m.leaseExpired = leases[i], resend[i]
		out = append(out, m)
	}
	return out, nil
}

// send hands one message to the provider and records the outcome. It runs
// on its own context so a shutdown does not cut a send in the middle.
func (o *Outbox) send(m *OutboxMessage) {
	ctx, cancel := context.WithTimeout(context.Background(), o.cfg.SendTimeout)
	defer cancel()
	log := o.log.With("msg_id", m.ID, "to", phone.Mask(m.To), "attempt", m.Attempts)
	if m.leaseExpired {
		log.Warn("sms lease lapsed during an earlier send: sending again (at least once)")
	}
	o.m.message(StateSending, o.p.Name())
	start := time.Now()
	ids, err := o.p.Send(ctx, OutMessage{ID: m.ID, To: m.To, Text: m.Text, Segments: max(m.Segments, 1), UserRef: m.UserRef, Kind: m.Kind})
	o.m.gateway(o.p.Name(), time.Since(start))
	now := o.now()
	o.noteSend(err == nil, now)
	outcome, next, errText := "sent", int64(0), ""
	switch {
	case err == nil:
	case IsTemporary(err) && m.Attempts < o.cfg.MaxAttempts:
		outcome, errText = "retry", truncate(err.Error(), 200)
		next = now.Add(o.Backoff(m.Attempts)).UnixMilli()
	default:
		outcome, errText = "failed", truncate(err.Error(), 200)
	}
	res, cerr := completeScript.Run(ctx, o.rdb, []string{o.k.msg(m.ID), o.k.due()}, o.k.p, m.leaseToken, outcome,
		now.UnixMilli(), strings.Join(nonEmpty(ids), ","), next, errText, o.p.Name(), o.cfg.KeepTerminal.Milliseconds()).Text()
	if cerr != nil {
		// The lease lapses and the message is sent again: at least once.
		log.Error("sms outcome not recorded", "outcome", outcome, "err", cerr)
		return
	}
	switch {
	case res != "ok":
		log.Warn("sms outcome after the lease was taken over", "outcome", outcome, "result", res)
	case outcome == "sent":
		o.m.message(StateSent, o.p.Name())
		log.Debug("sms sent", "kind", m.Kind, "segments", m.Segments)
		if o.onSent != nil && len(ids) > 0 {
			o.onSent(ctx, nonEmpty(ids))
		}
	case outcome == "retry":
		o.m.message("retry", o.p.Name())
		log.Warn("sms send failed, will retry", "err", err, "next", time.UnixMilli(next))
	default:
		o.m.message(StateFailed, o.p.Name())
		log.Error("sms send failed", "err", err)
	}
}

// Backoff returns the wait after the given failed attempt (1-based):
// exponential from BackoffMin, capped at BackoffMax, with "equal jitter"
// (half fixed, half random) so retries of many messages spread out.
func (o *Outbox) Backoff(attempt int) time.Duration {
	d := o.cfg.BackoffMin
	for i := 1; i < attempt && d < o.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, o.cfg.BackoffMax)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// ApplyReceipt records a delivery receipt for a provider id. It returns
// the message's ID and the result (delivered, partial, failed, expired,
// ignored, unknown).
func (o *Outbox) ApplyReceipt(ctx context.Context, provider string, r Receipt) (string, string, error) {
	if r.Status == ReceiptPending || r.Status == "" {
		return "", "ignored", nil
	}
	part := r.Part
	if part == "" {
		part = r.MessageID
	}
	own := ""
	if r.OwnID {
		own = r.MessageID
	}
	res, err := receiptScript.Run(ctx, o.rdb, []string{o.k.rid(provider, r.MessageID)}, o.k.p, part, r.Status,
		o.now().UnixMilli(), o.cfg.KeepTerminal.Milliseconds(), own).StringSlice()
	if err != nil {
		return "", "", fmt.Errorf("sms receipt: %w", err)
	}
	switch res[0] {
	case "delivered":
		o.m.message(StateDelivered, provider)
	case "failed", "expired":
		o.m.message(res[0], provider)
	}
	return res[1], res[0], nil
}

func nonEmpty(ss []string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" && !strings.Contains(s, ",") {
			out = append(out, s)
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// SendDue claims what is due now and sends it before returning (tests and
// tools); it returns how many messages were handed to the provider.
func (o *Outbox) SendDue(ctx context.Context) (int, error) {
	ms, err := o.claim(ctx, o.cfg.Batch)
	if err != nil {
		return 0, err
	}
	for _, m := range ms {
		o.send(m)
	}
	return len(ms), nil
}

// Counts returns the number of messages in each state (every state, zero
// included), as the scripts count them with each state change.
func (o *Outbox) Counts(ctx context.Context) (map[string]int64, error) {
	res, err := countsScript.Run(ctx, o.rdb, []string{o.k.states()}, o.k.p, o.now().UnixMilli()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("count sms messages: %w", err)
	}
	out := make(map[string]int64, len(States))
	for _, st := range States {
		out[st] = 0
	}
	for i := 0; i+1 < len(res); i += 2 {
		n, err := strconv.ParseInt(res[i+1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("count sms messages: %s: %w", res[i], err)
		}
		out[res[i]] = n
	}
	return out, nil
}

// GatewayStater is a Provider that knows the state of its connection
// ("bound", "console", ...).
type GatewayStater interface {
	GatewayState() string
}

// GatewayState describes the gateway for the operations view: the
// provider's own word if it is a GatewayStater, otherwise this process's
// last send: "ok", "failing since <time>" or "no sends yet". No error
// text: a gateway's errors may hold its URL, password or a number.
func (o *Outbox) GatewayState() string {
	if s, ok := o.p.(GatewayStater); ok {
		return s.GatewayState()
	}
	o.gwMu.Lock()
	defer o.gwMu.Unlock()
	switch {
	case o.gwSince.IsZero():
		return "no sends yet"
	case o.gwOK:
		return "ok"
	}
	return "failing since " + o.gwSince.Format("2006-01-02 15:04:05")
}

// noteSend records a send's outcome for GatewayState.
func (o *Outbox) noteSend(ok bool, now time.Time) {
	o.gwMu.Lock()
	defer o.gwMu.Unlock()
	if o.gwSince.IsZero() || o.gwOK != ok {
		o.gwSince, o.gwOK = now, ok
	}
}
