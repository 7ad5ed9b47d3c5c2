package kannel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/haochaping/haochaping/sms"
)

// DLRMask asks for every report: delivered (1), failed (2), buffered (4),
// SMSC accepted (8), SMSC rejected (16).
const DLRMask = 31

// Config configures the provider.
type Config struct {
	// SendSMSURL is smsbox's sendsms URL with username and password:
	// http://127.0.0.1:13013/cgi-bin/sendsms?username=u&password=p
	SendSMSURL string
	// DLRURL is our receipt URL as Kannel reaches it
	// (http://host:port/sms/kannel/dlr); empty asks for no receipts.
	DLRURL string
	// From is the sender; empty leaves it to Kannel's global-sender.
	From string
	// Client is the HTTP client (a 30 s timeout client if nil).
	Client *http.Client
}

// Provider sends through Kannel.
type Provider struct {
	base   *url.URL
	cfg    Config
	client *http.Client
}

var _ sms.Provider = (*Provider)(nil)

// New returns the provider.
func New(cfg Config) (*Provider, error) {
	u, err := url.Parse(cfg.SendSMSURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("kannel: sendsms URL is not an http(s) URL")
	}
	c := cfg.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	return &Provider{base: u, cfg: cfg, client: c}, nil
}

// Name is "kannel".
func (p *Provider) Name() string { return "kannel" }

// SendURL returns the sendsms request for m (exported for tests).
func (p *Provider) SendURL(m sms.OutMessage) string {
	u := *p.base
	q := u.Query()
	q.Set("to", m.To)
	q.Set("text", m.Text)
	q.Set("charset", "UTF-8")
	q.Set("coding", "2")
	if p.cfg.From != "" {
		q.Set("from", p.cfg.From)
	}
	if p.cfg.DLRURL != "" {
		q.Set("dlr-mask", strconv.Itoa(DLRMask))
		// Kannel fills %d (status), %F (the SMSC's id, per segment) and %T (time).
		q.Set("dlr-url", p.cfg.DLRURL+"?id="+url.QueryEscape(m.ID)+"&status=%d&fid=%F&ts=%T")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Send submits m. Kannel answers 202 "0: Accepted for delivery" (or
// "3: Queued for later delivery"); 4xx is final, 5xx and transport errors
// are temporary (retried with the same message ID, so its receipts still
// match). The returned id is our message ID, which rides in the dlr-url.
func (p *Provider) Send(ctx context.Context, m sms.OutMessage) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.SendURL(m), nil)
	if err != nil {
		return nil, fmt.Errorf("kannel sendsms: %w", err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		// Includes a connection lost after the request was written: the
		// outcome is unknown and, as for SMPP, the message is sent again.
		return nil, sms.Temporary(fmt.Errorf("kannel sendsms: %s", redact(err.Error(), p.base)))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	text := strings.TrimSpace(string(body))
	switch {
	case resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK:
		if strings.HasPrefix(text, "0:") || strings.HasPrefix(text, "3:") || text == "" {
			return []string{m.ID}, nil
		}
		return nil, fmt.Errorf("kannel sendsms: %d %q", resp.StatusCode, text)
	case resp.StatusCode >= 500:
		return nil, sms.Temporary(fmt.Errorf("kannel sendsms: %d %q", resp.StatusCode, text))
	default:
		return nil, fmt.Errorf("kannel sendsms: %d %q", resp.StatusCode, text)
	}
}

// redact hides the sendsms password in errors that quote the URL.
func redact(s string, u *url.URL) string {
	if pw := u.Query().Get("password"); pw != "" {
		s = strings.ReplaceAll(s, url.QueryEscape(pw), "xxxxx")
		s = strings.ReplaceAll(s, pw, "xxxxx")
	}
	return s
}

// DecodeText turns Kannel's text parameter into a string by its charset
// (%C) and coding (%c): UTF-8 as is (mo-recode on, or GSM texts);
// UTF-16BE/UCS-2 raw bytes (mo-recode off) decoded; ISO-8859-1 and
// WINDOWS-1252 by code point.
func DecodeText(raw, charset, coding string) string {
	cs := strings.ToUpper(strings.TrimSpace(charset))
	switch {
	case cs == "UTF-16BE" || cs == "UCS-2" || cs == "UCS2" || cs == "UTF-16" || (cs == "" && coding == "2"):
		b := []byte(raw)
		if len(b) >= 2 && b[0] == 0xFE && b[1] == 0xFF {
			b = b[2:]
		}
		u := make([]uint16, 0, len(b)/2)
		for i := 0; i+1 < len(b); i += 2 {
			u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
		}
		return string(utf16.Decode(u))
	case cs == "ISO-8859-1" || cs == "WINDOWS-1252" || cs == "LATIN1":
		r := make([]rune, len(raw))
		for i := 0; i < len(raw); i++ {
			r[i] = rune(raw[i])
		}
		return string(r)
	default:
		return raw
	}
}

func params(r *http.Request) url.Values {
	r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
	_ = r.ParseForm()
	return r.Form
}

// MOHandler serves Kannel's get-url (GET or POST)
// ?from=%p&to=%P&text=%a&charset=%C&coding=%c&id=%I. It answers 200 with
// an EMPTY body so Kannel sends nothing back to the citizen (with
// max-messages = 0 it sends nothing anyway), and 500 when the reply could
// not be stored.
func MOHandler(in sms.Inbound) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := params(r)
		mo := sms.MO{From: q.Get("from"), To: q.Get("to"), ID: q.Get("id"),
			Text: DecodeText(q.Get("text"), q.Get("charset"), q.Get("coding"))}
		if err := in.HandleMO(r.Context(), "kannel", mo); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	})
}

// ReceiptStatus maps Kannel's DLR type (%d) to a receipt status.
func ReceiptStatus(d string) string {
	switch d {
	case "1":
		return sms.ReceiptDelivered
	case "2", "16":
		return sms.ReceiptFailed
	default: // 4 buffered, 8 SMSC accepted
		return sms.ReceiptPending
	}
}

// DLRHandler serves the dlr-url ?id=<our message ID>&status=%d&fid=%F.
func DLRHandler(in sms.Inbound) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := params(r)
		id := q.Get("id")
		if id == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		rc := sms.Receipt{MessageID: id, Part: q.Get("fid"), Status: ReceiptStatus(q.Get("status")), OwnID: true}
		if err := in.HandleReceipt(r.Context(), "kannel", rc); err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	})
}
