package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SMS defaults, applied by (*SMS).applyDefaults.
const (
	DefaultSMSProvider     = "console"
	DefaultSMSSendWindow   = "08:00-21:00"
	DefaultSMSTimeZone     = "Asia/Shanghai"
	DefaultSMSDailyCap     = 5
	DefaultSMSValidity     = 7 * 24 * time.Hour
	DefaultSMSLink         = "none"
	DefaultSMSPlacement    = "own_message"
	DefaultSMSMaxAttempts  = 10
	DefaultSMSBackoffMin   = 2 * time.Second
	DefaultSMSBackoffMax   = 10 * time.Minute
	DefaultSMSPageIPRate   = 30 // requests a minute per address
	DefaultSMSPageTokRate  = 10 // requests a minute per token
	DefaultSMSSMPPPort     = 2775
	DefaultSMSSMPPWindow   = 10
	DefaultSMSSMPPBindMode = "transceiver"
	MinSMSTokenKeyLen      = 32
)

// SMS configures the SMS invitations, replies, rating page and gateways (issue 4).
// Every key is documented in configs/haochaping.example.yaml.
type SMS struct {
	// Provider is console (development: messages stay in Redis and show
	// at /dev/sms), kannel or smpp.
	Provider string `yaml:"provider"`
	// SendWindow is when invitations may go out, local time, "08:00-21:00".
	SendWindow string `yaml:"send_window"`
	TimeZone   string `yaml:"time_zone"`
	// DailyCap is the most messages one number gets a day.
	DailyCap int `yaml:"daily_cap"`
	// Validity is how long an invitation (reply or link) stays open.
	Validity time.Duration `yaml:"validity"`
	// TokenKey signs rating links: at least 32 bytes; several keys
	// separated by commas rotate (the first signs). Required unless the
	// provider is console.
	TokenKey string `yaml:"token_key"`
	// Link is none (reply by digit only), link (per-recipient URL) or code
	// (FixedURL plus a typed code).
	Link          string `yaml:"link"`
	LinkPlacement string `yaml:"link_placement"`
	FixedURL      string `yaml:"fixed_url"`
	// Ack sends the acknowledgement after a rating by reply.
	Ack bool `yaml:"ack"`
	// OptOutConfirmation, when set, is sent once after an opt-out.
	OptOutConfirmation string       `yaml:"opt_out_confirmation"`
	Templates          SMSTemplates `yaml:"templates"`
	Retry              SMSRetry     `yaml:"retry"`
	Page               SMSPage      `yaml:"page"`
	Kannel             SMSKannel    `yaml:"kannel"`
	SMPP               SMSSMPP      `yaml:"smpp"`
}

// SMSTemplates is the wording; empty fields take the defaults of DOMAIN.md.
type SMSTemplates struct {
	Signature     string `yaml:"signature"`
	Invitation    string `yaml:"invitation"`
	FollowUp      string `yaml:"follow_up"`
	Clarification string `yaml:"clarification"`
	Ack           string `yaml:"ack"`
	LinkLine      string `yaml:"link_line"`
	LinkMessage   string `yaml:"link_message"`
}

// SMSRetry bounds the outbox's retries of temporary failures.
type SMSRetry struct {
	MaxAttempts int           `yaml:"max_attempts"`
	BackoffMin  time.Duration `yaml:"backoff_min"`
	BackoffMax  time.Duration `yaml:"backoff_max"`
}

// SMSPage limits the rating page.
type SMSPage struct {
	PerIPPerMinute    int `yaml:"per_ip_per_minute"`
	PerTokenPerMinute int `yaml:"per_token_per_minute"`
}

// SMSKannel configures the Kannel HTTP provider.
type SMSKannel struct {
	// SendSMSURL is the sendsms URL with username and password,
	// http://host:13013/cgi-bin/sendsms?username=..&password=..
	SendSMSURL string `yaml:"sendsms_url"`
	// DLRBaseURL is how Kannel reaches us for receipts (http.public_url if empty).
	DLRBaseURL string `yaml:"dlr_base_url"`
	// From is the sender address, if Kannel should not use its global-sender.
	From string `yaml:"from"`
}

// SMSSMPP configures the SMPP 3.4 provider.
type SMSSMPP struct {
	Host       string `yaml:"host"`
	Port       int    `yaml:"port"`
	SystemID   string `yaml:"system_id"`
	Password   string `yaml:"password"`
	SystemType string `yaml:"system_type"`
	SourceAddr string `yaml:"source_addr"`
	// BindMode is transceiver or transmitter_receiver.
	BindMode string `yaml:"bind_mode"`
	Window   int    `yaml:"window"`
	// AckIDFormat and ReceiptIDFormat are as_is, hex or decimal.
	AckIDFormat     string `yaml:"ack_id_format"`
	ReceiptIDFormat string `yaml:"receipt_id_format"`
}

// SMSEnv names the SMS environment overrides.
var SMSEnv = []struct{ Name, Key string }{
	{"HAOCHAPING_SMS_PROVIDER", "sms.provider"},
	{"HAOCHAPING_SMS_SEND_WINDOW", "sms.send_window"},
	{"HAOCHAPING_SMS_DAILY_CAP", "sms.daily_cap"},
	{"HAOCHAPING_SMS_TOKEN_KEY", "sms.token_key"},
	{"HAOCHAPING_SMS_LINK", "sms.link"},
	{"HAOCHAPING_SMS_FIXED_URL", "sms.fixed_url"},
	{"HAOCHAPING_SMS_SIGNATURE", "sms.templates.signature"},
	{"HAOCHAPING_SMS_KANNEL_SENDSMS_URL", "sms.kannel.sendsms_url"},
	{"HAOCHAPING_SMS_KANNEL_DLR_BASE_URL", "sms.kannel.dlr_base_url"},
	{"HAOCHAPING_SMS_SMPP_HOST", "sms.smpp.host"},
	{"HAOCHAPING_SMS_SMPP_PORT", "sms.smpp.port"},
	{"HAOCHAPING_SMS_SMPP_SYSTEM_ID", "sms.smpp.system_id"},
	{"HAOCHAPING_SMS_SMPP_PASSWORD", "sms.smpp.password"},
	{"HAOCHAPING_SMS_SMPP_SOURCE_ADDR", "sms.smpp.source_addr"},
}

func (c *SMS) applyEnv(env func(string) string) {
	set := func(name string, dst *string) { envString(env, name, dst) }
	setInt := func(name string, dst *int) { envInt(env, name, dst) }
	set("HAOCHAPING_SMS_PROVIDER", &c.Provider)
	set("HAOCHAPING_SMS_SEND_WINDOW", &c.SendWindow)
	setInt("HAOCHAPING_SMS_DAILY_CAP", &c.DailyCap)
	set("HAOCHAPING_SMS_TOKEN_KEY", &c.TokenKey)
	set("HAOCHAPING_SMS_LINK", &c.Link)
	set("HAOCHAPING_SMS_FIXED_URL", &c.FixedURL)
	set("HAOCHAPING_SMS_SIGNATURE", &c.Templates.Signature)
	set("HAOCHAPING_SMS_KANNEL_SENDSMS_URL", &c.Kannel.SendSMSURL)
	set("HAOCHAPING_SMS_KANNEL_DLR_BASE_URL", &c.Kannel.DLRBaseURL)
	set("HAOCHAPING_SMS_SMPP_HOST", &c.SMPP.Host)
	setInt("HAOCHAPING_SMS_SMPP_PORT", &c.SMPP.Port)
	set("HAOCHAPING_SMS_SMPP_SYSTEM_ID", &c.SMPP.SystemID)
	set("HAOCHAPING_SMS_SMPP_PASSWORD", &c.SMPP.Password)
	set("HAOCHAPING_SMS_SMPP_SOURCE_ADDR", &c.SMPP.SourceAddr)
}

func (c *SMS) applyDefaults() {
	def := defString
	def(&c.Provider, DefaultSMSProvider)
	def(&c.SendWindow, DefaultSMSSendWindow)
	def(&c.TimeZone, DefaultSMSTimeZone)
	def(&c.Link, DefaultSMSLink)
	def(&c.LinkPlacement, DefaultSMSPlacement)
	def(&c.SMPP.BindMode, DefaultSMSSMPPBindMode)
	def(&c.SMPP.AckIDFormat, "as_is")
	def(&c.SMPP.ReceiptIDFormat, "as_is")
	if c.DailyCap == 0 {
		c.DailyCap = DefaultSMSDailyCap
	}
	if c.Validity == 0 {
		c.Validity = DefaultSMSValidity
	}
	if c.Retry.MaxAttempts == 0 {
		c.Retry.MaxAttempts = DefaultSMSMaxAttempts
	}
	if c.Retry.BackoffMin == 0 {
		c.Retry.BackoffMin = DefaultSMSBackoffMin
	}
	if c.Retry.BackoffMax == 0 {
		c.Retry.BackoffMax = DefaultSMSBackoffMax
	}
	if c.Page.PerIPPerMinute == 0 {
		c.Page.PerIPPerMinute = DefaultSMSPageIPRate
	}
	if c.Page.PerTokenPerMinute == 0 {
		c.Page.PerTokenPerMinute = DefaultSMSPageTokRate
	}
	if c.SMPP.Port == 0 {
		c.SMPP.Port = DefaultSMSSMPPPort
	}
	if c.SMPP.Window == 0 {
		c.SMPP.Window = DefaultSMSSMPPWindow
	}
}

// ParseSendWindow reads "HH:MM-HH:MM" as minutes after midnight. The end may
// be earlier than the start for a window across midnight; "00:00-24:00" is
// the whole day.
func ParseSendWindow(s string) (from, to int, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q, want HH:MM-HH:MM", s)
	}
	parse := func(x string) (int, error) {
		if strings.TrimSpace(x) == "24:00" {
			return 24 * 60, nil
		}
		t, err := time.Parse("15:04", strings.TrimSpace(x))
		if err != nil {
			return 0, fmt.Errorf("%q, want HH:MM-HH:MM", s)
		}
		return t.Hour()*60 + t.Minute(), nil
	}
	if from, err = parse(a); err != nil {
		return 0, 0, err
	}
	if from == 24*60 {
		return 0, 0, fmt.Errorf("%q: 24:00 may end a window, not start one", s)
	}
	if to, err = parse(b); err != nil {
		return 0, 0, err
	}
	if from == to {
		return 0, 0, fmt.Errorf("%q is empty", s)
	}
	return from, to, nil
}

// TokenKeys returns the link signing keys, first the one that signs.
func (c *SMS) TokenKeys() [][]byte {
	var keys [][]byte
	for _, k := range strings.Split(c.TokenKey, ",") {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, []byte(k))
		}
	}
	return keys
}

func (c *SMS) validate() error {
	switch c.Provider {
	case "console", "kannel", "smpp":
	default:
		return fmt.Errorf("sms.provider: %q, want console, kannel or smpp", c.Provider)
	}
	if _, _, err := ParseSendWindow(c.SendWindow); err != nil {
		return fmt.Errorf("sms.send_window: %v", err)
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		return fmt.Errorf("sms.time_zone: %v", err)
	}
	if c.DailyCap < 1 || c.DailyCap > 100 {
		return fmt.Errorf("sms.daily_cap: %d out of range 1..100", c.DailyCap)
	}
	if c.Validity < time.Hour || c.Validity > 90*24*time.Hour {
		return fmt.Errorf("sms.validity: %s out of range 1h..2160h", c.Validity)
	}
	keys := c.TokenKeys()
	if len(keys) == 0 && c.Provider != "console" {
		return fmt.Errorf("sms.token_key: required with provider %s (HAOCHAPING_SMS_TOKEN_KEY, at least %d bytes)", c.Provider, MinSMSTokenKeyLen)
	}
	for i, k := range keys {
		if len(k) < MinSMSTokenKeyLen {
			return fmt.Errorf("sms.token_key: key %d has %d bytes, want at least %d", i, len(k), MinSMSTokenKeyLen)
		}
	}
	switch c.Link {
	case "none", "link":
	case "code":
		if u, err := url.Parse(c.FixedURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("sms.fixed_url: %q is not an http(s) URL (needed by link mode code)", c.FixedURL)
		}
	default:
		return fmt.Errorf("sms.link: %q, want none, link or code", c.Link)
	}
	if c.LinkPlacement != "own_message" && c.LinkPlacement != "second_segment" {
		return fmt.Errorf("sms.link_placement: %q, want own_message or second_segment", c.LinkPlacement)
	}
	if c.Retry.MaxAttempts < 1 || c.Retry.MaxAttempts > 100 {
		return fmt.Errorf("sms.retry.max_attempts: %d out of range 1..100", c.Retry.MaxAttempts)
	}
	if c.Retry.BackoffMin < 10*time.Millisecond || c.Retry.BackoffMax < c.Retry.BackoffMin {
		return fmt.Errorf("sms.retry: backoff_min %s must be at least 10ms and at most backoff_max %s", c.Retry.BackoffMin, c.Retry.BackoffMax)
	}
	if c.Page.PerIPPerMinute < 1 || c.Page.PerTokenPerMinute < 1 {
		return fmt.Errorf("sms.page: rates must be at least 1 a minute")
	}
	// Checked whatever the provider: a bad HAOCHAPING_SMS_SMPP_PORT is an
	// error now, not when someone switches to SMPP.
	if c.SMPP.Port != 0 && (c.SMPP.Port < 1 || c.SMPP.Port > 65535) {
		return fmt.Errorf("sms.smpp.port: %d out of range 1..65535 (HAOCHAPING_SMS_SMPP_PORT)", c.SMPP.Port)
	}
	switch c.Provider {
	case "kannel":
		u, err := url.Parse(c.Kannel.SendSMSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("sms.kannel.sendsms_url: %q is not an http(s) URL (HAOCHAPING_SMS_KANNEL_SENDSMS_URL)", redactURL(c.Kannel.SendSMSURL))
		}
		if c.Kannel.DLRBaseURL != "" {
			if u, err := url.Parse(c.Kannel.DLRBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("sms.kannel.dlr_base_url: %q is not an http(s) URL", c.Kannel.DLRBaseURL)
			}
		}
	case "smpp":
		if c.SMPP.Host == "" {
			return fmt.Errorf("sms.smpp.host: required with provider smpp (HAOCHAPING_SMS_SMPP_HOST)")
		}
		if c.SMPP.Port < 1 || c.SMPP.Port > 65535 {
			return fmt.Errorf("sms.smpp.port: %d out of range 1..65535", c.SMPP.Port)
		}
		if len(c.SMPP.SystemID) > 15 {
			return fmt.Errorf("sms.smpp.system_id: at most 15 characters (SMPP 3.4)")
		}
		if len(c.SMPP.Password) > 8 {
			return fmt.Errorf("sms.smpp.password: at most 8 characters (SMPP 3.4)")
		}
	}
	switch c.SMPP.BindMode {
	case "transceiver", "transmitter_receiver":
	default:
		return fmt.Errorf("sms.smpp.bind_mode: %q, want transceiver or transmitter_receiver", c.SMPP.BindMode)
	}
	for _, f := range []struct{ k, v string }{{"ack_id_format", c.SMPP.AckIDFormat}, {"receipt_id_format", c.SMPP.ReceiptIDFormat}} {
		if f.v != "as_is" && f.v != "hex" && f.v != "decimal" {
			return fmt.Errorf("sms.smpp.%s: %q, want as_is, hex or decimal", f.k, f.v)
		}
	}
	if c.SMPP.Window < 1 || c.SMPP.Window > 1000 {
		return fmt.Errorf("sms.smpp.window: %d out of range 1..1000", c.SMPP.Window)
	}
	return nil
}

// SMPPAddr is host:port of the SMSC.
func (c *SMS) SMPPAddr() string {
	return net.JoinHostPort(c.SMPP.Host, strconv.Itoa(c.SMPP.Port))
}
