package smpp

import (
	"context"
	"errors"
	"fmt"
	"github.com/haochaping/haochaping/internal/phone"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// BindMode selects how the client binds.
type BindMode int

const (
	// ModeTransceiver uses one bind_transceiver connection for both ways.
	ModeTransceiver BindMode = iota
	// ModeTransmitterReceiver uses a bind_transmitter connection for
	// submits and a separate bind_receiver connection for deliver_sm.
	ModeTransmitterReceiver
)

// Defaults applied by New to zero Config fields.
const (
	DefaultWindow              = 10
	DefaultResponseTimeout     = 10 * time.Second
	DefaultBindTimeout         = 10 * time.Second
	DefaultEnquireLinkInterval = 30 * time.Second
	DefaultDeadPeerFactor      = 3 // DeadPeerTimeout = 3 × EnquireLinkInterval
	DefaultUnbindTimeout       = 2 * time.Second
	DefaultWriteTimeout        = 10 * time.Second
	DefaultReconnectMin        = 500 * time.Millisecond
	DefaultReconnectMax        = 30 * time.Second
	DefaultThrottlePause       = time.Second
	DefaultThrottleRetries     = 3
	DefaultHandlerConcurrency  = 4
	DefaultHandlerTimeout      = 30 * time.Second
)

// Config holds the client's settings. Only Addr is required.
type Config struct {
	Addr       string // host:port of the SMSC
	SystemID   string
	Password   string
	SystemType string
	// AddressRange is sent in the bind (some SMSCs route MO by it).
	AddressRange string
	BindMode     BindMode

	// SourceAddr is the sender (the hotline's long number or 12345...).
	SourceAddr               string
	SourceAddrTON            byte
	SourceAddrNPI            byte
	DestAddrTON, DestAddrNPI byte
	ServiceType              string

	// Window is the maximum of outstanding submit_sm.
	Window int
	// ResponseTimeout bounds the wait for each response.
	ResponseTimeout time.Duration
	BindTimeout     time.Duration
	// EnquireLinkInterval is how often an idle link is probed;
	// DeadPeerTimeout closes a connection on which nothing arrived for so
	// long.
	EnquireLinkInterval time.Duration
	DeadPeerTimeout     time.Duration
	// UnbindTimeout bounds the graceful shutdown: draining outstanding
	// submits, then waiting for unbind_resp.
	UnbindTimeout time.Duration
	WriteTimeout  time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff with
	// full jitter between connection attempts.
	ReconnectMin, ReconnectMax time.Duration
	// ThrottlePause is how long submits pause after a throttling answer;
	// ThrottleRetries how often one segment is retried inside Submit
	// (negative: never).
	ThrottlePause   time.Duration
	ThrottleRetries int
	// MaxPDULength bounds incoming PDUs; a longer one closes the connection.
	MaxPDULength int

	// AckIDFormat is the format of submit_sm_resp ids and of the
	// receipted_message_id TLV, ReceiptIDFormat that of the id: in receipt
	// texts (Kannel's msg-id-type 0x01 is AckIDFormat IDHex with
	// ReceiptIDFormat IDDecimal).
	AckIDFormat     IDFormat
	ReceiptIDFormat IDFormat
	// Location is the time zone of receipt dates (time.Local if nil).
	Location *time.Location

	Concat ConcatMode
	// NoReceipts asks for no delivery receipts (registered_delivery 0).
	NoReceipts bool

	Reassembly ReassemblerConfig
	// HandlerConcurrency bounds concurrent handler calls; when all are
	// busy the client stops reading, which pushes back on the SMSC.
	HandlerConcurrency int
	HandlerTimeout     time.Duration
}

func (c *Config) applyDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	def(&c.ResponseTimeout, DefaultResponseTimeout)
	def(&c.BindTimeout, DefaultBindTimeout)
	def(&c.EnquireLinkInterval, DefaultEnquireLinkInterval)
	def(&c.DeadPeerTimeout, DefaultDeadPeerFactor*c.EnquireLinkInterval)
	def(&c.UnbindTimeout, DefaultUnbindTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.ReconnectMin, DefaultReconnectMin)
	def(&c.ReconnectMax, DefaultReconnectMax)
	def(&c.ThrottlePause, DefaultThrottlePause)
	def(&c.HandlerTimeout, DefaultHandlerTimeout)
	if c.ThrottleRetries == 0 {
		c.ThrottleRetries = DefaultThrottleRetries
	}
	if c.MaxPDULength <= 0 {
		c.MaxPDULength = DefaultMaxPDULength
	}
	if c.HandlerConcurrency <= 0 {
		c.HandlerConcurrency = DefaultHandlerConcurrency
	}
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = c.ReconnectMin
	}
}

// MO is an incoming (mobile originated) message, reassembled.
type MO struct {
	From, To   string
	Text       string
	DataCoding byte
	// Parts is the number of segments (1 for a plain message).
	Parts int
	// Missing lists parts that never arrived when reassembly timed out;
	// Text then holds only what did arrive.
	Missing []int
}

// Handler receives incoming messages and receipts. Returning nil means
// the item is stored: only then is deliver_sm_resp OK sent. An error makes
// the client answer ESME_RX_T_APPN so the SMSC delivers it again; handlers
// must therefore be idempotent. Calls are concurrent.
type Handler interface {
	OnMessage(ctx context.Context, m MO) error
	OnReceipt(ctx context.Context, r Receipt) error
}

// HandlerFuncs adapts two functions to Handler; a nil field accepts and
// drops.
type HandlerFuncs struct {
	Message func(ctx context.Context, m MO) error
	Receipt func(ctx context.Context, r Receipt) error
}

// OnMessage calls f.Message.
func (f HandlerFuncs) OnMessage(ctx context.Context, m MO) error {
	if f.Message == nil {
		return nil
	}
	return f.Message(ctx, m)
}

// OnReceipt calls f.Receipt.
func (f HandlerFuncs) OnReceipt(ctx context.Context, r Receipt) error {
	if f.Receipt == nil {
		return nil
	}
	return f.Receipt(ctx, r)
}

// Params are the client's dependencies.
type Params struct {
	Handler Handler      // required
	Logger  *slog.Logger // slog.Default() if nil
	Metrics *Metrics     // may be nil
	Now     func() time.Time
	// Dial opens connections; net.Dialer.DialContext if nil.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Message is one text to send.
type Message struct {
	To   string
	From string // Config.SourceAddr if empty
	Text string
	// Encoding is EncUCS2 by default.
	Encoding Encoding
	// UserRef, when 1..65535, is sent as user_message_reference and used as
	// the concatenation reference, so a retry of the same message carries
	// the same references. The outbox should derive it from its message id.
	UserRef int
	// NoReceipt overrides Config.NoReceipts for this message.
	NoReceipt bool
}

// Result describes an accepted message.
type Result struct {
	// MessageIDs holds one normalised id per segment, in order; "" for a
	// segment that was not acknowledged (only with an error).
	MessageIDs []string
	// RawIDs are the ids as the SMSC wrote them.
	RawIDs []string
}

// Client is an SMPP 3.4 ESME. Submit is safe for concurrent use; Run
// maintains the connections.
type Client struct {
	cfg   Config
	h     Handler
	log   *slog.Logger
	m     *Metrics
	now   func() time.Time
	dial  func(ctx context.Context, network, addr string) (net.Conn, error)
	win   *window
	reasm *Reassembler

	ref        atomic.Uint32
	pauseUntil atomic.Int64 // unix nanoseconds
	handlerSem chan struct{}
	handlers   sync.WaitGroup
	running    atomic.Bool

	mu      sync.Mutex
	tx      *session
	changed chan struct{} // closed and replaced when tx or closed change
	closed  bool
}

// New returns a client; call Run to connect.
func New(cfg Config, p Params) (*Client, error) {
	if cfg.Addr == "" {
		return nil, errors.New("smpp: Config.Addr is required")
	}
	if p.Handler == nil {
		return nil, errors.New("smpp: Params.Handler is required")
	}
	cfg.applyDefaults()
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Dial == nil {
		var d net.Dialer
		p.Dial = d.DialContext
	}
	if cfg.Reassembly.Now == nil {
		cfg.Reassembly.Now = p.Now
	}
	c := &Client{
		cfg: cfg, h: p.Handler, log: p.Logger.With("component", "smpp", "smsc", cfg.Addr),
		m: p.Metrics, now: p.Now, dial: p.Dial,
		reasm:      NewReassembler(cfg.Reassembly),
		handlerSem: make(chan struct{}, cfg.HandlerConcurrency),
		changed:    make(chan struct{}),
	}
	c.win = newWindow(cfg.Window, p.Metrics.setWindow)
	c.ref.Store(rand.Uint32())
	return c, nil
}

// Run connects, binds and keeps the connections up until ctx ends, then
// unbinds and returns nil. Submit fails with ErrClosed after Run returned.
func (c *Client) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("smpp: Run called twice")
	}
	var wg sync.WaitGroup
	kinds := []CommandID{BindTransceiver}
	if c.cfg.BindMode == ModeTransmitterReceiver {
		kinds = []CommandID{BindTransmitter, BindReceiver}
	}
	for _, k := range kinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.connLoop(ctx, k)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.expireLoop(ctx)
	}()
	wg.Wait()
	c.handlers.Wait()
	c.mu.Lock()
	c.closed = true
	c.broadcastLocked()
	c.mu.Unlock()
	return nil
}

func (c *Client) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func bindName(k CommandID) string {
	switch k {
	case BindTransmitter:
		return "transmitter"
	case BindReceiver:
		return "receiver"
	}
	return "transceiver"
}

// backoff returns the full-jitter delay before attempt n (n ≥ 1).
func (c *Client) backoff(n int) time.Duration {
	d := c.cfg.ReconnectMax
	if n < 30 {
		if e := c.cfg.ReconnectMin << (n - 1); e < d && e > 0 {
			d = e
		}
	}
	return rand.N(d) + time.Millisecond
}

func (c *Client) connLoop(ctx context.Context, kind CommandID) {
	name := bindName(kind)
	log := c.log.With("bind", name)
	defer c.m.setState(name, stateDisconnected)
	failures := 0
	for ctx.Err() == nil {
		c.m.setState(name, stateConnecting)
		s, err := c.connect(ctx, kind, log)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			d := c.backoff(failures)
			log.Warn("smpp connect failed", "err", err, "attempt", failures, "retry_in", d)
			c.m.setState(name, stateDisconnected)
			sleepCtx(ctx, d)
			continue
		}
		failures = 0
		c.m.setState(name, stateBound)
		log.Info("smpp bound")
		if kind != BindReceiver {
			c.setTx(s)
		}
		err = s.serve(ctx)
		c.clearTx(s)
		c.m.setState(name, stateDisconnected)
		if ctx.Err() != nil {
			log.Info("smpp unbound", "err", err)
			return
		}
		c.m.reconnect()
		failures = 1
		d := c.backoff(failures)
		log.Warn("smpp connection lost", "err", err, "retry_in", d)
		sleepCtx(ctx, d)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *Client) setTx(s *session) {
	c.mu.Lock()
	c.tx = s
	c.broadcastLocked()
	c.mu.Unlock()
}

func (c *Client) clearTx(s *session) {
	c.mu.Lock()
	if c.tx == s {
		c.tx = nil
		c.broadcastLocked()
	}
	c.mu.Unlock()
}

// txSession waits for a bound session that can submit.
func (c *Client) txSession(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		s, ch, closed := c.tx, c.changed, c.closed
		c.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		if s != nil {
			return s, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for bind: %w", ctx.Err())
		}
	}
}

// Bound reports whether a session able to submit is bound.
func (c *Client) Bound() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tx != nil
}

// WaitBound waits until a session able to submit is bound.
func (c *Client) WaitBound(ctx context.Context) error {
	_, err := c.txSession(ctx)
	return err
}

// Window returns the current window limit and the outstanding submits.
func (c *Client) Window() (limit, inUse int) { return c.win.current() }

func (c *Client) nextRef(m *Message) uint16 {
	if m.UserRef > 0 && m.UserRef <= 0xFFFF {
		return uint16(m.UserRef)
	}
	return uint16(c.ref.Add(1))
}

// Submit sends m, split into as many segments as needed, and waits for
// the SMSC to acknowledge each. It returns one message id per segment. On
// failure the error is a *SubmitError whose Outcome tells whether a retry
// can duplicate (see the package documentation); Result then holds the
// ids that were acknowledged.
func (c *Client) Submit(ctx context.Context, m Message) (Result, error) {
	if m.To == "" || len(m.To) >= maxAddr {
		return Result{}, fmt.Errorf("%w: destination %q", ErrInvalidMessage, phone.Mask(m.To))
	}
	from := m.From
	if from == "" {
		from = c.cfg.SourceAddr
	}
	segs, err := SplitMessage(m.Text, m.Encoding, c.cfg.Concat, c.nextRef(&m))
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	rd := byte(1)
	if c.cfg.NoReceipts || m.NoReceipt {
		rd = 0
	}
	res := Result{MessageIDs: make([]string, len(segs)), RawIDs: make([]string, len(segs))}
	for i, seg := range segs {
		sm := &SM{
			ServiceType:   c.cfg.ServiceType,
			SourceAddrTON: c.cfg.SourceAddrTON, SourceAddrNPI: c.cfg.SourceAddrNPI, SourceAddr: from,
			DestAddrTON: c.cfg.DestAddrTON, DestAddrNPI: c.cfg.DestAddrNPI, DestAddr: m.To,
			ESMClass: seg.ESMClass, RegisteredDelivery: rd, DataCoding: seg.DataCoding,
			ShortMessage: seg.ShortMessage, TLVs: seg.TLVs,
		}
		if m.UserRef > 0 && m.UserRef <= 0xFFFF {
			sm.TLVs = append(TLVs{Uint16TLV(TagUserMessageReference, uint16(m.UserRef))}, sm.TLVs...)
		}
		raw, serr := c.submitSegment(ctx, sm)
		if serr != nil {
			serr.Segment, serr.Segments = i+1, len(segs)
			if i > 0 && serr.Outcome == NotSent {
				// Earlier segments were accepted: the message as a whole
				// may have partly reached the handset.
				serr.Outcome = Unknown
			}
			c.log.Warn("smpp submit failed", "to", phone.Mask(m.To), "user_ref", m.UserRef,
				"outcome", serr.Outcome.String(), "err", serr)
			return res, serr
		}
		res.RawIDs[i] = raw
		res.MessageIDs[i] = NormalizeID(raw, c.cfg.AckIDFormat)
	}
	return res, nil
}

func (c *Client) submitSegment(ctx context.Context, sm *SM) (string, *SubmitError) {
	for attempt := 0; ; attempt++ {
		if err := c.win.acquire(ctx); err != nil {
			c.m.submit("not_sent")
			return "", &SubmitError{Outcome: NotSent, Err: err}
		}
		resp, cerr := c.trySubmit(ctx, sm)
		c.win.release()
		if cerr != nil {
			return "", cerr
		}
		st := resp.Status
		if resp.Command == GenericNack && st == StatusOK {
			st = ESME_RINVCMDID
		}
		c.m.submit(st.String())
		switch {
		case st == StatusOK:
			c.win.success()
			var id string
			if b, ok := resp.Body.(*SMResp); ok {
				id = b.MessageID
			}
			return id, nil
		case st == ESME_RTHROTTLED || st == ESME_RMSGQFUL:
			c.throttle()
			if c.cfg.ThrottleRetries > 0 && attempt < c.cfg.ThrottleRetries {
				continue
			}
			// The SMSC refused it: nothing was accepted.
			return "", &SubmitError{Outcome: NotSent, Status: st}
		default:
			return "", &SubmitError{Outcome: Rejected, Status: st}
		}
	}
}

// trySubmit sends one submit_sm on the current session. The caller holds
// a window slot.
func (c *Client) trySubmit(ctx context.Context, sm *SM) (*PDU, *SubmitError) {
	if err := c.waitPause(ctx); err != nil {
		c.m.submit("not_sent")
		return nil, &SubmitError{Outcome: NotSent, Err: err}
	}
	s, err := c.txSession(ctx)
	if err != nil {
		c.m.submit("not_sent")
		return nil, &SubmitError{Outcome: NotSent, Err: err}
	}
	start := c.now()
	resp, err := s.call(ctx, &PDU{Command: SubmitSM, Body: sm}, c.cfg.ResponseTimeout, true)
	if err != nil {
		var ce *callError
		if errors.As(err, &ce) && !ce.written {
			c.m.submit("not_sent")
			return nil, &SubmitError{Outcome: NotSent, Err: ce.err}
		}
		c.m.submit("unknown")
		return nil, &SubmitError{Outcome: Unknown, Err: err}
	}
	c.m.observeLatency(c.now().Sub(start))
	return resp, nil
}

// throttle pauses submits and halves the window.
func (c *Client) throttle() {
	c.win.throttled()
	until := c.now().Add(c.cfg.ThrottlePause).UnixNano()
	for {
		cur := c.pauseUntil.Load()
		if cur >= until || c.pauseUntil.CompareAndSwap(cur, until) {
			break
		}
	}
	c.log.Warn("smpp throttled by SMSC", "pause", c.cfg.ThrottlePause)
}

func (c *Client) waitPause(ctx context.Context) error {
	until := c.pauseUntil.Load()
	if until == 0 {
		return nil
	}
	d := time.Unix(0, until).Sub(c.now())
	if d <= 0 {
		return nil
	}
	if !sleepCtx(ctx, d) {
		return ctx.Err()
	}
	return nil
}

// expireLoop delivers the concatenated replies whose missing parts did not
// arrive in time.
func (c *Client) expireLoop(ctx context.Context) {
	tick := min(max(c.reasm.cfg.Timeout/10, 10*time.Millisecond), 5*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, a := range c.reasm.Expire() {
			c.log.Warn("smpp concatenated reply incomplete", "from", phone.Mask(a.Source),
				"parts", a.Total, "missing", a.Missing)
			c.handlers.Add(1)
			go func() {
				defer c.handlers.Done()
				c.deliverAssembled(a)
			}()
		}
	}
}
