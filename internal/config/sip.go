package config

import (
	"fmt"

	"net/netip"
	"strconv"
	"strings"
	"time"

	// ivr imports no project package but internal/clock, so config stays a
	// leaf in practice; holding ivr.Config (which has yaml tags) avoids a
	// second copy of the flow settings that would drift.
	"github.com/haochaping/haochaping/ivr"
)

// Defaults of the sip section, applied by (*SIP).applyDefaults.
const (
	DefaultSIPAddr       = "127.0.0.1:5060"
	DefaultRTPPorts      = "20000-29999"
	DefaultSIPMaxCalls   = 2500
	DefaultSIPBusyStatus = 503
	DefaultSIPRetryAfter = 30 * time.Second
	DefaultSIPMinSE      = 90 * time.Second
	DefaultInbandDTMF    = "auto"
)

// SIP configures the SIP user agent, RTP media and the IVR flow (issue 3).
type SIP struct {
	// Enabled starts the SIP user agent with serve. Default false, so that
	// tests and tools running several servers do not fight over port 5060;
	// configs/dev.yaml and production configs turn it on.
	Enabled bool `yaml:"enabled"`
	// badEnabledEnv is HAOCHAPING_SIP_ENABLED when it is neither true nor
	// false, for validate to refuse.
	badEnabledEnv string
	// Addr is host:port of the UDP and TCP listeners (HAOCHAPING_SIP_ADDR);
	// port 0 picks a free port, logged as "sip: listening".
	Addr string `yaml:"addr"`
	// Allow lists the networks (CIDR, or single addresses) INVITEs may come
	// from, e.g. the SBC's (HAOCHAPING_SIP_ALLOW, comma-separated).
	Allow []string `yaml:"allow"`
	// ExternalIP is our address in SDP and Contact (behind NAT, or when
	// addr listens on all interfaces).
	ExternalIP string `yaml:"external_ip"`
	// RTPIP is the address RTP sockets bind to; default the host of addr.
	RTPIP string `yaml:"rtp_ip"`
	// RTPPorts is the UDP port range for RTP, "min-max" (HAOCHAPING_RTP_PORTS).
	RTPPorts string `yaml:"rtp_ports"`
	// MaxCalls bounds calls in progress; above it INVITEs get busy_status.
	MaxCalls int `yaml:"max_calls"`
	// BusyStatus is 486 or 503 (503 carries Retry-After).
	BusyStatus int `yaml:"busy_status"`
	// RetryAfter is the Retry-After of 503 answers (busy and draining).
	RetryAfter time.Duration `yaml:"retry_after"`
	// MinSE is the smallest RFC 4028 session interval accepted (422 below).
	MinSE time.Duration `yaml:"min_se"`
	// AnswerDelay is how long we ring before answering.
	AnswerDelay time.Duration `yaml:"answer_delay"`
	// InbandDTMF: auto (only calls without telephone-event), always, never.
	InbandDTMF string `yaml:"inband_dtmf"`
	// Shards is the number of RTP scheduler goroutines (0: one per CPU).
	Shards int `yaml:"shards"`
	// Headers names the headers that carry the call context.
	Headers SIPHeaders `yaml:"headers"`
	// Flows maps the Request-URI user to a flow (rate or followup); other
	// users get 404.
	Flows map[string]ivr.Kind `yaml:"flows"`
	// IVR is the call flow: timeouts, attempts, key map, prompt files.
	IVR ivr.Config `yaml:"ivr"`
}

// SIPHeaders names the INVITE headers of the call context. Each value may
// also come as a key of the same name, lower-cased and without "X-" (e.g.
// work-order-id), or as the key of uui_keys, in the User-to-User header.
type SIPHeaders struct {
	WorkOrderID string `yaml:"work_order_id"`
	UnitID      string `yaml:"unit_id"`
	StaffID     string `yaml:"staff_id"`
	Post        string `yaml:"post"`
	FollowupOf  string `yaml:"followup_of"`
	// UUIKeys maps a field (work_order_id, unit_id, staff_id, post,
	// followup_of) to its key in the User-to-User header.
	UUIKeys map[string]string `yaml:"uui_keys"`
}

// DefaultUUIKeys are the User-to-User keys of the call context.
func DefaultUUIKeys() map[string]string {
	return map[string]string{"work_order_id": "wo", "unit_id": "unit", "staff_id": "staff", "post": "post", "followup_of": "case"}
}

func (c *SIP) applyEnv(env func(string) string) {
	if v := env("HAOCHAPING_SIP_ADDR"); v != "" {
		c.Addr = v
	}
	if v := env("HAOCHAPING_SIP_ALLOW"); v != "" {
		c.Allow = nil
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.Allow = append(c.Allow, p)
			}
		}
	}
	if v := env("HAOCHAPING_RTP_PORTS"); v != "" {
		c.RTPPorts = v
	}
	if v := env("HAOCHAPING_SIP_EXTERNAL_IP"); v != "" {
		c.ExternalIP = v
	}
	if v := env("HAOCHAPING_SIP_ENABLED"); v != "" {
		b, ok := parseBool(v)
		c.Enabled = b
		if !ok {
			c.badEnabledEnv = v
		}
	}
}

func (c *SIP) applyDefaults() {
	if c.Addr == "" {
		c.Addr = DefaultSIPAddr
	}
	if c.RTPPorts == "" {
		c.RTPPorts = DefaultRTPPorts
	}
	if c.MaxCalls == 0 {
		c.MaxCalls = DefaultSIPMaxCalls
	}
	if c.BusyStatus == 0 {
		c.BusyStatus = DefaultSIPBusyStatus
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultSIPRetryAfter
	}
	if c.MinSE == 0 {
		c.MinSE = DefaultSIPMinSE
	}
	if c.InbandDTMF == "" {
		c.InbandDTMF = DefaultInbandDTMF
	}
	h := &c.Headers
	for _, d := range []struct {
		dst *string
		v   string
	}{{&h.WorkOrderID, "X-Work-Order-Id"}, {&h.UnitID, "X-Unit-Id"}, {&h.StaffID, "X-Staff-Id"},
		{&h.Post, "X-Post"}, {&h.FollowupOf, "X-Followup-Of"}} {
		if *d.dst == "" {
			*d.dst = d.v
		}
	}
	if len(h.UUIKeys) == 0 {
		h.UUIKeys = DefaultUUIKeys()
	}
	if len(c.Flows) == 0 {
		c.Flows = map[string]ivr.Kind{"rate": ivr.KindRate, "followup": ivr.KindFollowup}
	}
	c.IVR = c.IVR.WithDefaults()
}

func (c *SIP) validate() error {
	if c.badEnabledEnv != "" {
		return fmt.Errorf("sip.enabled: HAOCHAPING_SIP_ENABLED=%q, want true or false", c.badEnabledEnv)
	}
	if !c.Enabled {
		return nil
	}
	if _, err := netip.ParseAddrPort(c.Addr); err != nil {
		return fmt.Errorf("sip.addr: %q, want ip:port: %v", c.Addr, err)
	}
	if _, err := c.AllowPrefixes(); err != nil {
		return err
	}
	if _, _, err := c.RTPPortRange(); err != nil {
		return err
	}
	ap, _ := netip.ParseAddrPort(c.Addr)
	if c.ExternalIP != "" {
		if _, err := netip.ParseAddr(c.ExternalIP); err != nil {
			return fmt.Errorf("sip.external_ip: %q is not an IP address", c.ExternalIP)
		}
	} else if ap.Addr().IsUnspecified() {
		return fmt.Errorf("sip.external_ip: required when sip.addr listens on all interfaces (%s)", c.Addr)
	}
	if c.RTPIP != "" {
		if _, err := netip.ParseAddr(c.RTPIP); err != nil {
			return fmt.Errorf("sip.rtp_ip: %q is not an IP address", c.RTPIP)
		}
	}
	if c.MaxCalls < 1 || c.MaxCalls > 100000 {
		return fmt.Errorf("sip.max_calls: %d out of range 1..100000", c.MaxCalls)
	}
	if c.BusyStatus != 486 && c.BusyStatus != 503 {
		return fmt.Errorf("sip.busy_status: %d, want 486 or 503", c.BusyStatus)
	}
	if c.RetryAfter < time.Second {
		return fmt.Errorf("sip.retry_after: %s, want at least 1s", c.RetryAfter)
	}
	if c.MinSE < 90*time.Second {
		return fmt.Errorf("sip.min_se: %s, RFC 4028 requires at least 90s", c.MinSE)
	}
	if c.AnswerDelay < 0 || c.AnswerDelay > 30*time.Second {
		return fmt.Errorf("sip.answer_delay: %s out of range 0..30s", c.AnswerDelay)
	}
	switch c.InbandDTMF {
	case "auto", "always", "never":
	default:
		return fmt.Errorf("sip.inband_dtmf: %q, want auto, always or never", c.InbandDTMF)
	}
	if c.Shards < 0 || c.Shards > 64 {
		return fmt.Errorf("sip.shards: %d out of range 0..64", c.Shards)
	}
	for k, v := range c.Flows {
		if k == "" || strings.ContainsAny(k, "@:;<> ") {
			return fmt.Errorf("sip.flows[%q]: not a Request-URI user", k)
		}
		if v != ivr.KindRate && v != ivr.KindFollowup {
			return fmt.Errorf("sip.flows[%q]: %q, want rate or followup", k, v)
		}
	}
	for field := range c.Headers.UUIKeys {
		switch field {
		case "work_order_id", "unit_id", "staff_id", "post", "followup_of":
		default:
			return fmt.Errorf("sip.headers.uui_keys[%q]: unknown field", field)
		}
	}
	if err := c.IVR.Validate(); err != nil {
		// ivr names its keys ("ivr config: digit_timeout: ..."); say where.
		return fmt.Errorf("sip.ivr: %w", err)
	}
	return nil
}

// AllowPrefixes parses sip.allow.
func (c *SIP) AllowPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range c.Allow {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("sip.allow[%d]: %q is not a network (CIDR) or address", i, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// RTPPortRange parses sip.rtp_ports ("20000-29999").
func (c *SIP) RTPPortRange() (lo, hi int, err error) {
	a, b, ok := strings.Cut(c.RTPPorts, "-")
	lo, e1 := strconv.Atoi(strings.TrimSpace(a))
	hi, e2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || e1 != nil || e2 != nil || lo < 1024 || hi > 65535 || hi-lo < 1 {
		return 0, 0, fmt.Errorf("sip.rtp_ports: %q, want min-max within 1024-65535", c.RTPPorts)
	}
	return lo, hi, nil
}

// parseBool reads a switch from the environment: true, 1, yes, on or false,
// 0, no, off, in any case; ok is false for anything else.
func parseBool(v string) (b, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "on":
		return true, true
	case "false", "0", "no", "off":
		return false, true
	}
	return false, false
}
