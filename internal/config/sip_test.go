package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// sipOn starts a sip section that validation looks at.
const sipOn = "sip:\n  enabled: true\n"

func TestValidateSIP(t *testing.T) {
	runBad(t, []badCase{
		{"addr hostname", sipOn + "  addr: 'sip.example:5060'\n", nil, []string{"sip.addr:"}},
		{"addr without port", sipOn + "  addr: '127.0.0.1'\n", nil, []string{"sip.addr:"}},
		{"allow", sipOn + "  allow: [10.0.0.0/8, sbc.example]\n", nil, []string{"sip.allow[1]:", "sbc.example"}},
		{"allow bad prefix length", sipOn + "  allow: [10.0.0.0/33]\n", nil, []string{"sip.allow[0]:"}},
		{"rtp_ports below 1024", sipOn + "  rtp_ports: 1000-2000\n", nil, []string{"sip.rtp_ports:"}},
		{"rtp_ports above 65535", sipOn + "  rtp_ports: 60000-70000\n", nil, []string{"sip.rtp_ports:"}},
		{"rtp_ports reversed", sipOn + "  rtp_ports: 30000-20000\n", nil, []string{"sip.rtp_ports:"}},
		{"rtp_ports one port", sipOn + "  rtp_ports: 20000-20000\n", nil, []string{"sip.rtp_ports:"}},
		{"rtp_ports no range", sipOn + "  rtp_ports: '20000'\n", nil, []string{"sip.rtp_ports:"}},
		{"rtp_ports words", sipOn + "  rtp_ports: low-high\n", nil, []string{"sip.rtp_ports:"}},
		{"external_ip", sipOn + "  external_ip: nat.example\n", nil, []string{"sip.external_ip:", "nat.example"}},
		{"external_ip needed on 0.0.0.0", sipOn + "  addr: '0.0.0.0:5060'\n", nil, []string{"sip.external_ip: required"}},
		{"external_ip needed on ::", sipOn + "  addr: '[::]:5060'\n", nil, []string{"sip.external_ip: required"}},
		{"rtp_ip", sipOn + "  rtp_ip: media.example\n", nil, []string{"sip.rtp_ip:"}},
		{"max_calls negative", sipOn + "  max_calls: -1\n", nil, []string{"sip.max_calls:"}},
		{"max_calls large", sipOn + "  max_calls: 100001\n", nil, []string{"sip.max_calls:"}},
		{"busy_status", sipOn + "  busy_status: 500\n", nil, []string{"sip.busy_status:", "500"}},
		{"retry_after", sipOn + "  retry_after: 999ms\n", nil, []string{"sip.retry_after:"}},
		{"min_se", sipOn + "  min_se: 89s\n", nil, []string{"sip.min_se:"}},
		{"answer_delay negative", sipOn + "  answer_delay: -1s\n", nil, []string{"sip.answer_delay:"}},
		{"answer_delay large", sipOn + "  answer_delay: 31s\n", nil, []string{"sip.answer_delay:"}},
		{"inband_dtmf", sipOn + "  inband_dtmf: sometimes\n", nil, []string{"sip.inband_dtmf:", "sometimes"}},
		{"shards negative", sipOn + "  shards: -1\n", nil, []string{"sip.shards:"}},
		{"shards large", sipOn + "  shards: 65\n", nil, []string{"sip.shards:"}},
		{"flows user", sipOn + "  flows: {'rate@host': rate}\n", nil, []string{`sip.flows["rate@host"]:`, "Request-URI user"}},
		{"flows empty user", sipOn + "  flows: {'': rate}\n", nil, []string{`sip.flows[""]:`}},
		{"flows kind", sipOn + "  flows: {survey: poll}\n", nil, []string{`sip.flows["survey"]:`, `"poll"`}},
		{"uui_keys field", sipOn + "  headers: {uui_keys: {city: c}}\n", nil, []string{`sip.headers.uui_keys["city"]:`}},
		{"ivr digit_timeout", sipOn + "  ivr: {digit_timeout: -1s}\n", nil, []string{"sip.ivr:", "digit_timeout"}},
		{"ivr key_map", sipOn + "  ivr: {key_map: {'12': satisfied}}\n", nil, []string{"sip.ivr:", `key_map["12"]`}},
		{"ivr prompt_files", sipOn + "  ivr: {prompt_files: {nonsense: x.wav}}\n", nil, []string{"sip.ivr:", `prompt_files["nonsense"]`}},
		{"ivr record_attempts", sipOn + "  ivr: {record_attempts: -1}\n", nil, []string{"sip.ivr:", "record_attempts"}},
	})
}

func TestValidateSIPAccepts(t *testing.T) {
	runGood(t, []goodCase{
		{"disabled is not checked", "sip:\n  enabled: false\n  addr: nonsense\n  rtp_ports: x\n  busy_status: 1\n", nil, nil},
		{"all interfaces with external_ip", sipOn + "  addr: '0.0.0.0:5060'\n  external_ip: 192.0.2.10\n", nil, nil},
		{"port 0", sipOn + "  addr: '127.0.0.1:0'\n", nil, nil},
		{"ipv6", sipOn + "  addr: '[::1]:5060'\n  rtp_ip: '::1'\n", nil, nil},
		{"bounds", sipOn + "  rtp_ports: 1024-1025\n  max_calls: 1\n  busy_status: 486\n  retry_after: 1s\n  min_se: 90s\n  answer_delay: 30s\n  shards: 64\n", nil, nil},
		{"other bounds", sipOn + "  rtp_ports: 65534-65535\n  max_calls: 100000\n  inband_dtmf: never\n", nil, nil},
		{"inband always", sipOn + "  inband_dtmf: always\n", nil, nil},
		{"flows and headers kept", sipOn + "  flows: {bewerten: rate, '12345': followup}\n  headers: {unit_id: X-Dept, uui_keys: {unit_id: u}}\n", nil,
			func(t *testing.T, c *Config) {
				if len(c.SIP.Flows) != 2 || c.SIP.Flows["bewerten"] != "rate" || c.SIP.Flows["12345"] != "followup" {
					t.Errorf("sip.flows = %v", c.SIP.Flows)
				}
				h := c.SIP.Headers
				if h.UnitID != "X-Dept" || h.WorkOrderID != "X-Work-Order-Id" || !reflect.DeepEqual(h.UUIKeys, map[string]string{"unit_id": "u"}) {
					t.Errorf("sip.headers = %+v", h)
				}
			}},
	})
}

func TestSIPEnabledEnv(t *testing.T) {
	tests := []struct {
		file, value string
		want        bool
	}{
		{"false", "true", true},
		{"false", "1", true},
		{"false", "yes", true},
		{"true", "false", false},
		{"true", "0", false},
		{"true", "no", false},
		{"true", "", true},
		{"false", "", false},
	}
	for _, tt := range tests {
		c := mustLoadYAML(t, "sip: {enabled: "+tt.file+"}\n", map[string]string{"HAOCHAPING_SIP_ENABLED": tt.value})
		if c.SIP.Enabled != tt.want {
			t.Errorf("file %s, HAOCHAPING_SIP_ENABLED=%q: enabled %t, want %t", tt.file, tt.value, c.SIP.Enabled, tt.want)
		}
	}
}

// TestSIPEnabledEnvUnknownValue: a value that is neither true nor false
// (TRUE, on) silently leaves SIP off instead of being refused.
func TestSIPEnabledEnvUnknownValue(t *testing.T) {
	for _, v := range []string{"TRUE", "True", "on", "enabled"} {
		c, err := loadYAML(t, "", map[string]string{"HAOCHAPING_SIP_ENABLED": v})
		if err == nil && !c.SIP.Enabled {
			t.Errorf("HAOCHAPING_SIP_ENABLED=%q: SIP silently off", v)
		}
	}
}

func TestSIPAllowEnvReplacesFile(t *testing.T) {
	c := mustLoadYAML(t, "sip:\n  allow: [10.0.0.0/8, 172.16.0.0/12]\n", map[string]string{"HAOCHAPING_SIP_ALLOW": "192.0.2.0/24"})
	if !reflect.DeepEqual(c.SIP.Allow, []string{"192.0.2.0/24"}) {
		t.Errorf("sip.allow = %q, want only the environment's", c.SIP.Allow)
	}
}

func TestAllowPrefixes(t *testing.T) {
	c := SIP{Allow: []string{"10.1.2.3/24", "192.0.2.7", "2001:db8::1", "2001:db8::/32", "::1/128"}}
	got, err := c.AllowPrefixes()
	if err != nil {
		t.Fatal(err)
	}
	var want []netip.Prefix
	for _, s := range []string{"10.1.2.0/24", "192.0.2.7/32", "2001:db8::1/128", "2001:db8::/32", "::1/128"} {
		want = append(want, netip.MustParsePrefix(s))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AllowPrefixes = %v, want %v", got, want)
	}
	if p, err := (&SIP{}).AllowPrefixes(); err != nil || len(p) != 0 {
		t.Errorf("empty allow: %v, %v", p, err)
	}
	_, err = (&SIP{Allow: []string{"10.0.0.0/8", "", "x"}}).AllowPrefixes()
	if err == nil || !strings.Contains(err.Error(), "sip.allow[1]:") {
		t.Errorf("empty entry: error %v, want one naming sip.allow[1]", err)
	}
}

func TestRTPPortRange(t *testing.T) {
	tests := []struct {
		in     string
		lo, hi int
		ok     bool
	}{
		{"20000-29999", 20000, 29999, true},
		{" 1024 - 1025 ", 1024, 1025, true},
		{"64000-65535", 64000, 65535, true},
		{"1023-2000", 0, 0, false},
		{"2000-65536", 0, 0, false},
		{"3000-3000", 0, 0, false},
		{"3001-3000", 0, 0, false},
		{"3000", 0, 0, false},
		{"3000-", 0, 0, false},
		{"-3000", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		c := SIP{RTPPorts: tt.in}
		lo, hi, err := c.RTPPortRange()
		if (err == nil) != tt.ok || lo != tt.lo || hi != tt.hi {
			t.Errorf("RTPPortRange(%q) = %d, %d, %v; want %d, %d, ok %t", tt.in, lo, hi, err, tt.lo, tt.hi, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "sip.rtp_ports:") {
			t.Errorf("RTPPortRange(%q): error %q does not name sip.rtp_ports", tt.in, err)
		}
	}
}
