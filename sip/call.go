package sip

import (
	"context"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	siplib "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
)

// InbandMode says when a call's audio is searched for DTMF tones.
type InbandMode string

// The in-band detection modes.
const (
	// InbandAuto detects tones only on calls that negotiated no
	// telephone-event: gateways that send tones as audio.
	InbandAuto   InbandMode = "auto"
	InbandAlways InbandMode = "always"
	InbandNever  InbandMode = "never"
)

// digitBuffer is the capacity of a call's Digits channel; keys beyond it
// while nobody reads are dropped (the flow reads one key at a time).
const digitBuffer = 16

// Call is one incoming call: the INVITE that started it, its dialog, its
// media and the keys the caller presses. It knows nothing of what the call
// is for; a Handler decides. Its methods are safe for concurrent use.
type Call struct {
	srv    *Server
	req    *siplib.Request // the INVITE as received; read only
	dialog *sipgo.DialogServerSession
	log    *slog.Logger
	id     string

	st     *stream
	merger *DigitMerger
	digits chan rune

	mu        sync.Mutex
	media     *Media
	local     LocalSDP
	awaitSDP  bool // our offer is out; the ACK carries the answer
	answered  bool
	rfc4733   RFC4733Decoder
	inband    *InbandDetector
	inbandOn  bool
	pcm       [FrameSamples]int16
	contact   siplib.ContactHeader
	refresher string

	// ctx ends at the drain deadline (the handler should then wrap up and
	// hang up) or once the handler has returned; not when the caller hangs
	// up, which Done reports.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// ID returns the SIP Call-ID.
func (c *Call) ID() string { return c.id }

// User returns the user part of the Request-URI ("rate", "followup").
func (c *Call) User() string { return c.req.Recipient.User }

// Header returns the value of the first header called name, or "".
func (c *Call) Header(name string) string {
	if h := c.req.GetHeader(name); h != nil {
		return strings.TrimSpace(h.Value())
	}
	return ""
}

// URIParam returns the value of a parameter of the Request-URI
// (sip:rate@host;unit=fh-g08), or "". A PBX that cannot add headers can pass
// context this way.
func (c *Call) URIParam(name string) string {
	if c.req.Recipient.UriParams == nil {
		return ""
	}
	v, _ := c.req.Recipient.UriParams.Get(name)
	return v
}

// Source returns the address the INVITE came from.
func (c *Call) Source() netip.AddrPort {
	ap, _ := netip.ParseAddrPort(c.req.Source())
	return ap
}

// Transport returns "UDP" or "TCP".
func (c *Call) Transport() string { return strings.ToUpper(c.req.Transport()) }

// CallerNumber returns the caller's number: the user of the
// P-Asserted-Identity (sip: or tel: URI) if present, else of From. It is
// personal data: never log it in clear (phone.Mask).
func (c *Call) CallerNumber() string {
	if v := c.Header("P-Asserted-Identity"); v != "" {
		if n := uriUser(v); n != "" {
			return n
		}
	}
	if f := c.req.From(); f != nil {
		return f.Address.User
	}
	return ""
}

// uriUser returns the user of the first name-addr or addr-spec in v:
// `"Name" <sip:138...@host;user=phone>`, `<tel:+86138...>`, `sip:x@h`.
func uriUser(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		if j := strings.IndexByte(v, '>'); j >= 0 {
			v = v[:j]
		}
	} else if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	v = strings.TrimSpace(v)
	lv := strings.ToLower(v)
	switch {
	case strings.HasPrefix(lv, "sip:"), strings.HasPrefix(lv, "tel:"):
		v = v[4:]
	case strings.HasPrefix(lv, "sips:"):
		v = v[5:]
	default:
		return ""
	}
	if i := strings.IndexAny(v, "@;?"); i >= 0 {
		v = v[:i]
	}
	return v
}

// UserToUser returns the key=value pairs of the User-to-User header (RFC
// 7433): "wo=WO-1;unit=fh-g08" or, with ;encoding=hex, the same text
// hex-encoded. Pairs are separated by ';', '&' or ','; keys are case-sensitive.
func (c *Call) UserToUser() map[string]string { return ParseUserToUser(c.Header("User-to-User")) }

// ParseUserToUser decodes a User-to-User header value; see Call.UserToUser.
func ParseUserToUser(v string) map[string]string {
	if v == "" {
		return nil
	}
	v = strings.TrimSpace(v)
	data, params := v, ""
	// The header's own parameters (encoding, purpose, content) follow the
	// data, which is quoted or hex (no ';') when it has parameters.
	if strings.HasPrefix(v, `"`) {
		if end := strings.IndexByte(v[1:], '"'); end >= 0 {
			data, params = v[1:end+1], strings.ToLower(v[end+2:])
		}
	} else if i := strings.Index(strings.ToLower(v), ";encoding="); i >= 0 {
		data, params = v[:i], strings.ToLower(v[i+1:])
	}
	params = strings.TrimPrefix(params, ";")
	if strings.HasPrefix(params, "encoding=hex") || strings.Contains(params, ";encoding=hex") {
		b, err := hex.DecodeString(data)
		if err != nil {
			return nil
		}
		data = string(b)
	}
	out := map[string]string{}
	for _, kv := range strings.FieldsFunc(data, func(r rune) bool { return r == ';' || r == '&' || r == ',' }) {
		k, val, ok := strings.Cut(kv, "=")
		if k = strings.TrimSpace(k); ok && k != "" {
			out[k] = strings.TrimSpace(val)
		}
	}
	return out
}

// Context ends when the server gives up draining, or after the handler
// returned; the end of the call is Done.
func (c *Call) Context() context.Context { return c.ctx }

// Digits delivers each key press once, whichever way it came. It is never
// closed; watch Done.
func (c *Call) Digits() <-chan rune { return c.digits }

// Done is closed when the call has ended, whoever ended it.
func (c *Call) Done() <-chan struct{} { return c.done }

// Play plays p to the end and returns nil; it returns early with ctx's error
// when ctx ends (the prompt stops and comfort silence follows), with
// ErrCallEnded when the call ends, or with ErrPlayInterrupted when another
// Play replaces it.
func (c *Call) Play(ctx context.Context, p *Prompt) error {
	done, err := c.st.play(p)
	if err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		c.st.stop(done)
		return ctx.Err()
	case <-c.done:
		return ErrCallEnded
	}
}

// Hangup ends the call with a BYE (or, before the ACK, as soon as it
// arrives) and waits for its answer, bounded by ctx.
func (c *Call) Hangup(ctx context.Context) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	defer c.end("local bye")
	if err := c.dialog.Bye(ctx); err != nil {
		return wrapErr("bye", err)
	}
	return nil
}

// end releases the call's media once and closes Done.
func (c *Call) end(why string) {
	c.once.Do(func() {
		// Done first: a Play that the closing stream ends must find the
		// call over, or the flow would take it for a failed prompt.
		close(c.done)
		c.st.close()
		c.log.Debug("sip: call ended", "why", why)
	})
}

// onRTP handles one received packet: telephone events always, audio for
// the in-band detector when it is on.
func (c *Call) onRTP(p *rtp.Packet, at time.Time) {
	c.mu.Lock()
	m := c.media
	if m == nil {
		c.mu.Unlock()
		return
	}
	var d Digit
	var ok bool
	switch {
	case m.HasEvents && p.PayloadType == m.EventPT:
		d, ok = c.rfc4733.Decode(p, at)
	case c.inbandOn && (p.PayloadType == PayloadTypePCMA || p.PayloadType == PayloadTypePCMU):
		pl := p.Payload
		for len(pl) > 0 {
			n := min(len(pl), FrameSamples)
			if p.PayloadType == PayloadTypePCMA {
				DecodeALaw(c.pcm[:n], pl[:n])
			} else {
				DecodeULaw(c.pcm[:n], pl[:n])
			}
			if dd, found := c.inband.Process(c.pcm[:n], at); found {
				d, ok = dd, true
			}
			pl = pl[n:]
		}
	}
	c.mu.Unlock()
	if ok {
		c.addDigit(d)
	}
}

// addDigit passes a key press through the merger to Digits.
func (c *Call) addDigit(d Digit) {
	if !c.merger.Add(d) {
		c.log.Debug("sip: repeated key merged", "key", string(d.Key), "method", d.Method.String())
		return
	}
	c.srv.metrics.digit(d.Method)
	c.log.Info("sip: key", "key", string(d.Key), "method", d.Method.String())
	select {
	case c.digits <- d.Key:
	default:
		c.log.Warn("sip: key dropped, nobody reading", "key", string(d.Key))
	}
}

// setMedia applies negotiated media to the call and its stream.
func (c *Call) setMedia(m *Media) {
	c.mu.Lock()
	first := c.media == nil
	c.media = m
	mode := c.srv.cfg.Inband
	on := mode == InbandAlways || mode == InbandAuto && !m.HasEvents
	if on && c.inband == nil {
		c.inband = NewInbandDetector(InbandConfig{})
	}
	c.inbandOn = on
	if first {
		c.rfc4733.Reset()
	}
	c.mu.Unlock()
	c.st.update(m)
}
