package config

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/ivr"
)

var (
	examplePath = filepath.Join("..", "..", "configs", "haochaping.example.yaml")
	devPath     = filepath.Join("..", "..", "configs", "dev.yaml")
)

// envFunc is an environment holding only m, so that no test reads the
// process's environment.
func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// loadYAML writes doc to a file and loads it with the environment env.
func loadYAML(t *testing.T, doc string, env map[string]string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "haochaping.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path, envFunc(env))
}

// mustLoadYAML is loadYAML for documents that must be accepted.
func mustLoadYAML(t *testing.T, doc string, env map[string]string) *Config {
	t.Helper()
	c, err := loadYAML(t, doc, env)
	if err != nil {
		t.Fatalf("Load refused a valid config:\n%s\nerror: %v", doc, err)
	}
	return c
}

// badCase is a config that Load must refuse with an error containing want
// (the key, and where useful the reason).
type badCase struct {
	name string
	doc  string
	env  map[string]string
	want []string
}

func runBad(t *testing.T, tests []badCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadYAML(t, tt.doc, tt.env)
			if err == nil {
				t.Fatalf("Load accepted\n%s\nenv %v\nresult %+v", tt.doc, tt.env, c)
			}
			if !strings.HasPrefix(err.Error(), "config") {
				t.Errorf("error %q does not start with config", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// goodCase is a config that Load must accept; check (optional) looks at the result.
type goodCase struct {
	name  string
	doc   string
	env   map[string]string
	check func(t *testing.T, c *Config)
}

func runGood(t *testing.T, tests []goodCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoadYAML(t, tt.doc, tt.env)
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestLoadExample(t *testing.T) {
	c, err := Load(examplePath, envFunc(nil))
	if err != nil {
		t.Fatalf("Load(%s): %v", examplePath, err)
	}
	checks := []check{
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
		{"http.addr", c.HTTP.Addr, "127.0.0.1:8080"},
		{"http.public_url", c.HTTP.PublicURL, "https://hcp.example.gov.cn"},
		{"http.debug_addr", c.HTTP.DebugAddr, ""},
		{"http.trusted_proxies", len(c.HTTP.TrustedProxyList), 0},
		{"redis.url", c.Redis.URL, "redis://127.0.0.1:6379/0"},
		{"redis embedded", c.Redis.Embedded(), false},
		{"redis.cluster", c.Redis.Cluster, false},
		{"redis.embedded_addr", c.Redis.EmbeddedAddr, "127.0.0.1:0"},
		{"redis.namespace", c.Redis.Namespace, "hcp"},
		{"redis.events_max_len", c.Redis.EventsMaxLen, int64(1_000_000)},
		{"redis.pipelines", c.Redis.Pipelines, 4},
		{"redis.pipeline_batch", c.Redis.PipelineBatch, 64},
		{"auth.admin_token", c.Auth.AdminToken, ""},
		{"auth.tokens", len(c.Auth.Tokens), 2},
		{"auth.tokens[0].name", c.Auth.Tokens[0].Name, "zheliban-intake"},
		{"auth.tokens[0].role", c.Auth.Tokens[0].Role, casecore.RoleIntake},
		{"auth.tokens[0] hash", c.Auth.Tokens[0].Hash(), strings.Repeat("0", 64)},
		{"auth.tokens[1].name", c.Auth.Tokens[1].Name, "unit-fh-g08"},
		{"auth.tokens[1].role", c.Auth.Tokens[1].Role, casecore.RoleHandler},
		{"auth.tokens[1].units", c.Auth.Tokens[1].Units, []string{"fh-g08"}},
		{"auth.tokens[1] hash", c.Auth.Tokens[1].Hash(), strings.Repeat("1", 64)},
		{"units.file", c.Units.File, ""},
		{"calendar.dir", c.Calendar.Dir, ""},
		{"workflow.rules", c.Workflow.Rules, casecore.DefaultRules()},
		{"deadlines.poll", c.Deadlines.Poll, time.Second},
		{"deadlines.batch", c.Deadlines.Batch, 500},
		{"shutdown.timeout", c.Shutdown.Timeout, 30 * time.Second},
		{"sip.enabled", c.SIP.Enabled, false},
		{"sip.addr", c.SIP.Addr, "127.0.0.1:5060"},
		{"sip.allow", len(c.SIP.Allow), 0},
		{"sip.rtp_ports", c.SIP.RTPPorts, "20000-29999"},
		{"sip.max_calls", c.SIP.MaxCalls, 2500},
		{"sip.busy_status", c.SIP.BusyStatus, 503},
		{"sip.retry_after", c.SIP.RetryAfter, 30 * time.Second},
		{"sip.min_se", c.SIP.MinSE, 90 * time.Second},
		{"sip.answer_delay", c.SIP.AnswerDelay, time.Duration(0)},
		{"sip.inband_dtmf", c.SIP.InbandDTMF, "auto"},
		{"sip.headers.unit_id", c.SIP.Headers.UnitID, "X-Unit-Id"},
		{"sip.headers.uui_keys", c.SIP.Headers.UUIKeys, DefaultUUIKeys()},
		{"sip.flows", c.SIP.Flows, map[string]ivr.Kind{"rate": ivr.KindRate, "followup": ivr.KindFollowup}},
		{"sip.ivr.digit_timeout", c.SIP.IVR.DigitTimeout, 8 * time.Second},
		{"sip.ivr.lead_in", c.SIP.IVR.LeadIn, 300 * time.Millisecond},
		{"sip.ivr.key_map", c.SIP.IVR.KeyMap, ivr.DefaultKeyMap()},
		{"sip.ivr.prompt_dir", c.SIP.IVR.PromptDir, "configs/prompts/zh-CN"},
		{"dashboard.session_lifetime", c.Dashboard.SessionLifetime, 12 * time.Hour},
		{"dashboard.area_code", c.Dashboard.AreaCode, "330213"},
		{"sms.provider", c.SMS.Provider, "console"},
		{"sms.send_window", c.SMS.SendWindow, "08:00-21:00"},
		{"sms.validity", c.SMS.Validity, 168 * time.Hour},
		{"sms.templates.signature", c.SMS.Templates.Signature, "【奉化12345】"},
		{"sms.retry.backoff_max", c.SMS.Retry.BackoffMax, 10 * time.Minute},
		{"sms.smpp.port", c.SMS.SMPP.Port, 2775},
		{"sms.smpp.receipt_id_format", c.SMS.SMPP.ReceiptIDFormat, "as_is"},
	}
	runChecks(t, checks)
}

// TestExampleShowsDefaults holds the example file to its first line, "every
// key, with its default": loading it gives what loading no file gives, but
// for the few keys it fills in as an example.
func TestExampleShowsDefaults(t *testing.T) {
	ex, err := Load(examplePath, envFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	def, err := Load("", envFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	// Example values, not defaults.
	def.HTTP.PublicURL = "https://hcp.example.gov.cn"
	def.Redis.URL = "redis://127.0.0.1:6379/0"
	def.Auth.Tokens = ex.Auth.Tokens
	def.SMS.Templates.Signature = "【奉化12345】"
	// "[]" and "{}" decode to empty, not nil.
	for _, c := range []*Config{ex, def} {
		if len(c.HTTP.TrustedProxyList) == 0 {
			c.HTTP.TrustedProxyList = nil
		}
		if len(c.SIP.Allow) == 0 {
			c.SIP.Allow = nil
		}
		if len(c.SIP.IVR.PromptFiles) == 0 {
			c.SIP.IVR.PromptFiles = nil
		}
		if len(c.Dashboard.DemoUsers) == 0 {
			c.Dashboard.DemoUsers = nil
		}
	}
	ev, dv := reflect.ValueOf(ex).Elem(), reflect.ValueOf(def).Elem()
	for i := range ev.NumField() {
		if !reflect.DeepEqual(ev.Field(i).Interface(), dv.Field(i).Interface()) {
			t.Errorf("section %s: example %+v\ndefault %+v", ev.Type().Field(i).Name, ev.Field(i).Interface(), dv.Field(i).Interface())
		}
	}
}

// TestExampleDocumentsEveryKey checks the other half of "every key": each
// key of Config (descending into sections, not into lists or maps) appears
// in the example file.
func TestExampleDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind == yaml.DocumentNode {
			walk(n.Content[0], prefix)
			return
		}
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := prefix + n.Content[i].Value
			present[k] = true
			walk(n.Content[i+1], k+".")
		}
	}
	walk(&doc, "")

	var keys []string
	var fields func(t reflect.Type, prefix string)
	fields = func(t reflect.Type, prefix string) {
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			keys = append(keys, prefix+name)
			if f.Type.Kind() == reflect.Struct {
				fields(f.Type, prefix+name+".")
			}
		}
	}
	fields(reflect.TypeFor[Config](), "")
	if len(keys) < 100 {
		t.Fatalf("found only %d keys in Config: the walk is broken", len(keys))
	}
	for _, k := range keys {
		if !present[k] {
			t.Errorf("key %s is not in %s", k, examplePath)
		}
	}
}

func TestLoadDev(t *testing.T) {
	c, err := Load(devPath, envFunc(nil))
	if err != nil {
		t.Fatalf("Load(%s): %v", devPath, err)
	}
	checks := []check{
		{"http.addr", c.HTTP.Addr, "127.0.0.1:8080"},
		{"http.public_url", c.HTTP.PublicURL, "http://127.0.0.1:8080"},
		{"redis embedded", c.Redis.Embedded(), true},
		{"redis.embedded_addr", c.Redis.EmbeddedAddr, "127.0.0.1:0"},
		{"redis.namespace", c.Redis.Namespace, "hcp"},
		{"redis.pipelines", c.Redis.Pipelines, 4},
		{"redis.pipeline_batch", c.Redis.PipelineBatch, 64},
		{"auth.admin_token", c.Auth.AdminToken, "dev-admin-token-0000"},
		{"auth.tokens", len(c.Auth.Tokens), 3},
		{"auth.tokens[1] hash", c.Auth.Tokens[1].Hash(), HashToken("dev-handler-token-0000")},
		{"auth.tokens[1].units", c.Auth.Tokens[1].Units, []string{"fh-g08"}},
		{"auth.tokens[2].role", c.Auth.Tokens[2].Role, casecore.RoleSupervisor},
		{"sip.enabled", c.SIP.Enabled, true},
		{"sip.allow", c.SIP.Allow, []string{"127.0.0.0/8", "::1/128"}},
		{"sip.max_calls", c.SIP.MaxCalls, DefaultSIPMaxCalls},
		{"dashboard.admin_user", c.Dashboard.AdminUser, "admin"},
		{"dashboard.demo_users", len(c.Dashboard.DemoUsers), 2},
		{"dashboard.demo_users[0].units", c.Dashboard.DemoUsers[0].Units, []string{"fh-g08"}},
		{"sms.provider", c.SMS.Provider, "console"},
		{"sms.link", c.SMS.Link, "link"},
		{"sms.link_placement", c.SMS.LinkPlacement, "second_segment"},
		{"sms.send_window", c.SMS.SendWindow, "00:00-24:00"},
		{"sms.ack", c.SMS.Ack, true},
		{"sms.daily_cap", c.SMS.DailyCap, DefaultSMSDailyCap},
	}
	runChecks(t, checks)
	if _, err := c.LoadUnits(); err != nil {
		t.Errorf("LoadUnits: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), envFunc(nil))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}

	runBad(t, []badCase{
		{"misspelt top-level key", "redsi:\n  url: embedded\n", nil, []string{"redsi"}},
		{"misspelt key", "log:\n  levle: debug\n", nil, []string{"levle"}},
		{"misspelt nested key", "sms:\n  smpp:\n    hots: smsc.example\n", nil, []string{"hots"}},
		{"misspelt ivr key", "sip:\n  ivr:\n    digit_timeuot: 5s\n", nil, []string{"digit_timeuot"}},
		{"misspelt rules key", "workflow:\n  rules:\n    calback: {days: 1, kind: working}\n", nil, []string{"calback"}},
		{"misspelt token key", "auth:\n  tokens:\n    - {name: a, tokne: 0123456789abcdef, role: admin}\n", nil, []string{"tokne"}},
		{"wrong type", "redis:\n  pipelines: four\n", nil, []string{"four"}},
		{"bad duration", "deadlines:\n  poll: soon\n", nil, []string{"soon"}},
		{"syntax", "log: [\n", nil, []string{"haochaping.yaml"}},
		{"duplicate key", "log:\n  level: info\n  level: debug\n", nil, []string{"level"}},
		{"second document", "log: {level: info}\n---\nlog: {level: debug}\n", nil, []string{"line 2", "second YAML document"}},
	})
}

func TestLoadEmpty(t *testing.T) {
	for _, doc := range []string{"", "# only a comment\n", "---\n"} {
		c, err := loadYAML(t, doc, nil)
		if err != nil {
			t.Errorf("Load(%q): %v", doc, err)
			continue
		}
		if c.HTTP.Addr != DefaultHTTPAddr || c.Redis.URL != DefaultRedisURL {
			t.Errorf("Load(%q): defaults not applied: %+v", doc, c)
		}
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load("", envFunc(nil))
	if err != nil {
		t.Fatal(err)
	}
	checks := []check{
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
		{"http.addr", c.HTTP.Addr, "127.0.0.1:8080"},
		{"http.public_url", c.HTTP.PublicURL, "http://127.0.0.1:8080"},
		{"http.debug_addr", c.HTTP.DebugAddr, ""},
		{"http.trusted_proxies", c.HTTP.TrustedProxyList, []string(nil)},
		{"redis.url", c.Redis.URL, "embedded"},
		{"redis embedded", c.Redis.Embedded(), true},
		{"redis.cluster", c.Redis.Cluster, false},
		{"redis.embedded_addr", c.Redis.EmbeddedAddr, "127.0.0.1:0"},
		{"redis.namespace", c.Redis.Namespace, "hcp"},
		{"redis.events_max_len", c.Redis.EventsMaxLen, int64(1_000_000)},
		{"redis.pipelines", c.Redis.Pipelines, 4},
		{"redis.pipeline_batch", c.Redis.PipelineBatch, 64},
		{"auth.admin_token", c.Auth.AdminToken, ""},
		{"auth.tokens", len(c.Auth.Tokens), 0},
		{"workflow.rules", c.Workflow.Rules, casecore.DefaultRules()},
		{"deadlines.poll", c.Deadlines.Poll, time.Second},
		{"deadlines.batch", c.Deadlines.Batch, 500},
		{"shutdown.timeout", c.Shutdown.Timeout, 30 * time.Second},
		{"sip.enabled", c.SIP.Enabled, false},
		{"sip.addr", c.SIP.Addr, "127.0.0.1:5060"},
		{"sip.rtp_ports", c.SIP.RTPPorts, "20000-29999"},
		{"sip.max_calls", c.SIP.MaxCalls, 2500},
		{"sip.busy_status", c.SIP.BusyStatus, 503},
		{"sip.retry_after", c.SIP.RetryAfter, 30 * time.Second},
		{"sip.min_se", c.SIP.MinSE, 90 * time.Second},
		{"sip.inband_dtmf", c.SIP.InbandDTMF, "auto"},
		{"sip.headers", c.SIP.Headers, SIPHeaders{
			WorkOrderID: "X-Work-Order-Id", UnitID: "X-Unit-Id", StaffID: "X-Staff-Id",
			Post: "X-Post", FollowupOf: "X-Followup-Of", UUIKeys: DefaultUUIKeys(),
		}},
		{"sip.flows", c.SIP.Flows, map[string]ivr.Kind{"rate": ivr.KindRate, "followup": ivr.KindFollowup}},
		{"sip.ivr", c.SIP.IVR, ivr.Config{}.WithDefaults()},
		{"sms.provider", c.SMS.Provider, "console"},
		{"sms.send_window", c.SMS.SendWindow, "08:00-21:00"},
		{"sms.time_zone", c.SMS.TimeZone, "Asia/Shanghai"},
		{"sms.daily_cap", c.SMS.DailyCap, 5},
		{"sms.validity", c.SMS.Validity, 7 * 24 * time.Hour},
		{"sms.link", c.SMS.Link, "none"},
		{"sms.link_placement", c.SMS.LinkPlacement, "own_message"},
		{"sms.retry", c.SMS.Retry, SMSRetry{MaxAttempts: 10, BackoffMin: 2 * time.Second, BackoffMax: 10 * time.Minute}},
		{"sms.page", c.SMS.Page, SMSPage{PerIPPerMinute: 30, PerTokenPerMinute: 10}},
		{"sms.smpp.port", c.SMS.SMPP.Port, 2775},
		{"sms.smpp.window", c.SMS.SMPP.Window, 10},
		{"sms.smpp.bind_mode", c.SMS.SMPP.BindMode, "transceiver"},
		{"sms.smpp.ack_id_format", c.SMS.SMPP.AckIDFormat, "as_is"},
		{"sms.smpp.receipt_id_format", c.SMS.SMPP.ReceiptIDFormat, "as_is"},
		{"dashboard.session_lifetime", c.Dashboard.SessionLifetime, 12 * time.Hour},
		{"dashboard.cookie_secure", c.Dashboard.CookieSecure, "auto"},
		{"dashboard.login_rate", c.Dashboard.LoginRate, 10},
		{"dashboard.lockout_failures", c.Dashboard.LockoutFailures, 5},
		{"dashboard.lockout_duration", c.Dashboard.LockoutDuration, 15 * time.Minute},
		{"dashboard.audit_max_len", c.Dashboard.AuditMaxLen, int64(100_000)},
		{"dashboard.area_code", c.Dashboard.AreaCode, "330213"},
	}
	runChecks(t, checks)
}

func TestDefaultsFillGaps(t *testing.T) {
	runGood(t, []goodCase{
		{"zero numbers take defaults", "redis:\n  pipelines: 0\n  pipeline_batch: 0\n  events_max_len: 0\ndeadlines:\n  poll: 0s\n  batch: 0\nshutdown:\n  timeout: 0s\n", nil,
			func(t *testing.T, c *Config) {
				if c.Redis.Pipelines != 4 || c.Redis.PipelineBatch != 64 || c.Redis.EventsMaxLen != 1_000_000 {
					t.Errorf("redis = %+v", c.Redis)
				}
				if c.Deadlines.Poll != time.Second || c.Deadlines.Batch != 500 || c.Shutdown.Timeout != 30*time.Second {
					t.Errorf("deadlines = %+v, shutdown = %+v", c.Deadlines, c.Shutdown)
				}
			}},
		{"public_url follows http.addr", "http:\n  addr: 127.0.0.1:9000\n", nil,
			func(t *testing.T, c *Config) {
				if c.HTTP.PublicURL != "http://127.0.0.1:9000" {
					t.Errorf("http.public_url = %q", c.HTTP.PublicURL)
				}
			}},
		{"public_url follows HAOCHAPING_HTTP_ADDR", "http:\n  addr: 127.0.0.1:9000\n", map[string]string{"HAOCHAPING_HTTP_ADDR": "127.0.0.1:9100"},
			func(t *testing.T, c *Config) {
				if c.HTTP.PublicURL != "http://127.0.0.1:9100" {
					t.Errorf("http.public_url = %q", c.HTTP.PublicURL)
				}
			}},
		{"given values are kept", "log: {level: warn, format: json}\nredis: {url: 'redis://db:6379/1', namespace: prod, pipelines: -1, pipeline_batch: 10, events_max_len: 5000}\ndeadlines: {poll: 250ms, batch: 20}\nshutdown: {timeout: 5s}\n", nil,
			func(t *testing.T, c *Config) {
				want := Redis{URL: "redis://db:6379/1", EmbeddedAddr: DefaultEmbeddedAddr, Namespace: "prod", EventsMaxLen: 5000, Pipelines: -1, PipelineBatch: 10}
				if c.Redis != want {
					t.Errorf("redis = %+v, want %+v", c.Redis, want)
				}
				if c.Log != (Log{"warn", "json"}) || c.Deadlines != (Deadlines{250 * time.Millisecond, 20}) || c.Shutdown.Timeout != 5*time.Second {
					t.Errorf("log %+v deadlines %+v shutdown %+v", c.Log, c.Deadlines, c.Shutdown)
				}
			}},
		{"partial rules keep the other defaults", "workflow:\n  rules:\n    name: custom\n    callback: {days: 2, kind: natural}\n", nil,
			func(t *testing.T, c *Config) {
				want := casecore.DefaultRules()
				want.Name = "custom"
				want.Callback = casecore.Period{Days: 2, Kind: casecore.NaturalDays}
				if c.Workflow.Rules != want {
					t.Errorf("rules = %+v, want %+v", c.Workflow.Rules, want)
				}
			}},
	})
}

func TestEnvOverrides(t *testing.T) {
	tests := map[string]struct {
		key, value, want string
		got              func(c *Config) string
	}{
		// With HAOCHAPING_REDIS_CLUSTER set too, the URL is a cluster's seed list.
		"HAOCHAPING_REDIS_URL":       {"redis.url", "redis://10.0.0.5:6380?addr=10.0.0.6:6380", "", func(c *Config) string { return c.Redis.URL }},
		"HAOCHAPING_REDIS_CLUSTER":   {"redis.cluster", "yes", "true", func(c *Config) string { return boolString(c.Redis.Cluster) }},
		"HAOCHAPING_REDIS_NAMESPACE": {"redis.namespace", "hcp-test", "", func(c *Config) string { return c.Redis.Namespace }},
		"HAOCHAPING_HTTP_ADDR":       {"http.addr", "127.0.0.1:9090", "", func(c *Config) string { return c.HTTP.Addr }},
		"HAOCHAPING_PUBLIC_URL":      {"http.public_url", "https://rating.example.org", "", func(c *Config) string { return c.HTTP.PublicURL }},
		"HAOCHAPING_DEBUG_ADDR":      {"http.debug_addr", "127.0.0.1:6060", "", func(c *Config) string { return c.HTTP.DebugAddr }},
		"HAOCHAPING_TRUSTED_PROXIES": {"http.trusted_proxies", " 127.0.0.1, 10.1.2.0/24 ,", "127.0.0.1|10.1.2.0/24", func(c *Config) string { return strings.Join(c.HTTP.TrustedProxyList, "|") }},
		"HAOCHAPING_ADMIN_TOKEN":     {"auth.admin_token", "env-admin-token-0123456789", "", func(c *Config) string { return c.Auth.AdminToken }},
		"HAOCHAPING_LOG_LEVEL":       {"log.level", "debug", "", func(c *Config) string { return c.Log.Level }},
		"HAOCHAPING_LOG_FORMAT":      {"log.format", "json", "", func(c *Config) string { return c.Log.Format }},
		"HAOCHAPING_CALENDAR_DIR":    {"calendar.dir", "/srv/haochaping/calendar", "", func(c *Config) string { return c.Calendar.Dir }},
		"HAOCHAPING_UNITS_FILE":      {"units.file", "/srv/haochaping/units.yaml", "", func(c *Config) string { return c.Units.File }},
		"HAOCHAPING_SIP_ENABLED":     {"sip.enabled", "true", "", func(c *Config) string { return boolString(c.SIP.Enabled) }},
		"HAOCHAPING_SIP_ADDR":        {"sip.addr", "127.0.0.1:5070", "", func(c *Config) string { return c.SIP.Addr }},
		"HAOCHAPING_SIP_ALLOW":       {"sip.allow", " 10.1.2.0/24, 192.0.2.7 ,", "10.1.2.0/24|192.0.2.7", func(c *Config) string { return strings.Join(c.SIP.Allow, "|") }},
		"HAOCHAPING_RTP_PORTS":       {"sip.rtp_ports", "30000-30999", "", func(c *Config) string { return c.SIP.RTPPorts }},
		"HAOCHAPING_SIP_EXTERNAL_IP": {"sip.external_ip", "192.0.2.10", "", func(c *Config) string { return c.SIP.ExternalIP }},
		"HAOCHAPING_ADMIN_USER":      {"dashboard.admin_user", "root-admin", "", func(c *Config) string { return c.Dashboard.AdminUser }},
		"HAOCHAPING_ADMIN_PASSWORD":  {"dashboard.admin_password", "env-password-123", "", func(c *Config) string { return c.Dashboard.AdminPassword }},
	}
	if len(tests) != len(Env) {
		t.Errorf("Env lists %d variables, the test knows %d", len(Env), len(tests))
	}
	env := map[string]string{}
	for _, e := range Env {
		tt, ok := tests[e.Name]
		if !ok {
			t.Errorf("Env lists %s (%s), which the test does not know", e.Name, e.Key)
			continue
		}
		if e.Key != tt.key {
			t.Errorf("Env says %s sets %s, want %s", e.Name, e.Key, tt.key)
		}
		env[e.Name] = tt.value
	}
	// The example file sets every key to something else, so each value
	// seen below came from the environment.
	c, err := Load(examplePath, envFunc(env))
	if err != nil {
		t.Fatalf("Load with every override: %v", err)
	}
	for name, tt := range tests {
		want := tt.want
		if want == "" {
			want = tt.value
		}
		if got := tt.got(c); got != want {
			t.Errorf("%s=%q: %s = %q, want %q", name, tt.value, tt.key, got, want)
		}
	}
	// An empty variable is no override.
	empty := map[string]string{}
	for _, e := range Env {
		empty[e.Name] = ""
	}
	c, err = Load(examplePath, envFunc(empty))
	if err != nil {
		t.Fatal(err)
	}
	if c.Log.Level != "info" || c.Redis.URL != "redis://127.0.0.1:6379/0" || c.HTTP.PublicURL != "https://hcp.example.gov.cn" {
		t.Errorf("empty variables changed the file's values: %+v", c)
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// TestEnvBadValueNamesKey checks that a bad value given in a variable is
// refused naming the key it overrides.
func TestEnvBadValueNamesKey(t *testing.T) {
	sip := map[string]string{"HAOCHAPING_SIP_ENABLED": "1"}
	with := func(base map[string]string, k, v string) map[string]string {
		m := map[string]string{k: v}
		for bk, bv := range base {
			m[bk] = bv
		}
		return m
	}
	runBad(t, []badCase{
		{"HAOCHAPING_LOG_LEVEL", "", map[string]string{"HAOCHAPING_LOG_LEVEL": "verbose"}, []string{"log.level:", "verbose"}},
		{"HAOCHAPING_LOG_FORMAT", "", map[string]string{"HAOCHAPING_LOG_FORMAT": "xml"}, []string{"log.format:"}},
		{"HAOCHAPING_HTTP_ADDR", "", map[string]string{"HAOCHAPING_HTTP_ADDR": "8080"}, []string{"http.addr:"}},
		{"HAOCHAPING_PUBLIC_URL", "", map[string]string{"HAOCHAPING_PUBLIC_URL": "ftp://files.example"}, []string{"http.public_url:"}},
		{"HAOCHAPING_DEBUG_ADDR", "", map[string]string{"HAOCHAPING_DEBUG_ADDR": "0.0.0.0:6060"}, []string{"http.debug_addr:"}},
		{"HAOCHAPING_TRUSTED_PROXIES", "", map[string]string{"HAOCHAPING_TRUSTED_PROXIES": "127.0.0.1,nginx"}, []string{"http.trusted_proxies[1]:", "nginx"}},
		{"HAOCHAPING_REDIS_URL", "", map[string]string{"HAOCHAPING_REDIS_URL": "mysql://db/x"}, []string{"redis.url:"}},
		{"HAOCHAPING_REDIS_CLUSTER", "", map[string]string{"HAOCHAPING_REDIS_URL": "redis://db:7000", "HAOCHAPING_REDIS_CLUSTER": "maybe"},
			[]string{"redis.cluster:", "HAOCHAPING_REDIS_CLUSTER", "maybe"}},
		{"HAOCHAPING_REDIS_CLUSTER with embedded", "", map[string]string{"HAOCHAPING_REDIS_CLUSTER": "true"}, []string{"redis.cluster:", "embedded"}},
		{"HAOCHAPING_REDIS_NAMESPACE", "", map[string]string{"HAOCHAPING_REDIS_NAMESPACE": "a b"}, []string{"redis.namespace:"}},
		{"HAOCHAPING_ADMIN_TOKEN", "", map[string]string{"HAOCHAPING_ADMIN_TOKEN": "short"}, []string{"auth.admin_token:"}},
		{"HAOCHAPING_SIP_ADDR", "", with(sip, "HAOCHAPING_SIP_ADDR", "sip.example:5060"), []string{"sip.addr:"}},
		{"HAOCHAPING_SIP_ALLOW", "", with(sip, "HAOCHAPING_SIP_ALLOW", "10.0.0.0/8,bogus"), []string{"sip.allow[1]:", "bogus"}},
		{"HAOCHAPING_RTP_PORTS", "", with(sip, "HAOCHAPING_RTP_PORTS", "1-2"), []string{"sip.rtp_ports:"}},
		{"HAOCHAPING_SIP_EXTERNAL_IP", "", with(sip, "HAOCHAPING_SIP_EXTERNAL_IP", "nat.example"), []string{"sip.external_ip:"}},
		{"HAOCHAPING_ADMIN_USER", "", map[string]string{"HAOCHAPING_ADMIN_USER": "Bad User", "HAOCHAPING_ADMIN_PASSWORD": "long-enough-pass"}, []string{"dashboard.admin_user:"}},
		{"HAOCHAPING_ADMIN_PASSWORD", "", map[string]string{"HAOCHAPING_ADMIN_USER": "root", "HAOCHAPING_ADMIN_PASSWORD": "short"}, []string{"dashboard.admin_password:"}},
		{"HAOCHAPING_ADMIN_USER alone", "", map[string]string{"HAOCHAPING_ADMIN_USER": "root"}, []string{"dashboard.admin_password", "give both or neither"}},
		{"HAOCHAPING_SMS_PROVIDER", "", map[string]string{"HAOCHAPING_SMS_PROVIDER": "twilio"}, []string{"sms.provider:"}},
		{"HAOCHAPING_SMS_SEND_WINDOW", "", map[string]string{"HAOCHAPING_SMS_SEND_WINDOW": "all day"}, []string{"sms.send_window:"}},
		{"HAOCHAPING_SMS_DAILY_CAP not a number", "", map[string]string{"HAOCHAPING_SMS_DAILY_CAP": "five"}, []string{"sms.daily_cap:"}},
		{"HAOCHAPING_SMS_TOKEN_KEY", "", map[string]string{"HAOCHAPING_SMS_TOKEN_KEY": "too-short"}, []string{"sms.token_key:"}},
		{"HAOCHAPING_SMS_LINK", "", map[string]string{"HAOCHAPING_SMS_LINK": "url"}, []string{"sms.link:"}},
		{"HAOCHAPING_SMS_FIXED_URL", "", map[string]string{"HAOCHAPING_SMS_LINK": "code", "HAOCHAPING_SMS_FIXED_URL": "x.cn/r"}, []string{"sms.fixed_url:"}},
		{"HAOCHAPING_SMS_KANNEL_SENDSMS_URL", "", map[string]string{"HAOCHAPING_SMS_PROVIDER": "kannel", "HAOCHAPING_SMS_TOKEN_KEY": strings.Repeat("k", 32), "HAOCHAPING_SMS_KANNEL_SENDSMS_URL": "kannel:13013"}, []string{"sms.kannel.sendsms_url:"}},
		{"HAOCHAPING_SMS_KANNEL_DLR_BASE_URL", "", map[string]string{"HAOCHAPING_SMS_PROVIDER": "kannel", "HAOCHAPING_SMS_TOKEN_KEY": strings.Repeat("k", 32), "HAOCHAPING_SMS_KANNEL_SENDSMS_URL": "http://kannel:13013/cgi-bin/sendsms", "HAOCHAPING_SMS_KANNEL_DLR_BASE_URL": "hcp.example"}, []string{"sms.kannel.dlr_base_url:"}},
		{"HAOCHAPING_SMS_SMPP_PORT not a number", "", map[string]string{"HAOCHAPING_SMS_PROVIDER": "smpp", "HAOCHAPING_SMS_TOKEN_KEY": strings.Repeat("k", 32), "HAOCHAPING_SMS_SMPP_HOST": "smsc", "HAOCHAPING_SMS_SMPP_PORT": "2775x"}, []string{"sms.smpp.port:"}},
		{"HAOCHAPING_SMS_SMPP_SYSTEM_ID", "", map[string]string{"HAOCHAPING_SMS_PROVIDER": "smpp", "HAOCHAPING_SMS_TOKEN_KEY": strings.Repeat("k", 32), "HAOCHAPING_SMS_SMPP_HOST": "smsc", "HAOCHAPING_SMS_SMPP_SYSTEM_ID": "a-system-id-too-long"}, []string{"sms.smpp.system_id:"}},
	})
}

func TestValidate(t *testing.T) {
	runBad(t, []badCase{
		{"log.level", "log: {level: verbose}\n", nil, []string{"log.level:", `"verbose"`}},
		{"log.level case", "log: {level: DEBUG}\n", nil, []string{"log.level:"}},
		{"log.format", "log: {format: xml}\n", nil, []string{"log.format:", `"xml"`}},
		{"http.addr without port", "http: {addr: '8080'}\n", nil, []string{"http.addr:"}},
		{"http.addr junk", "http: {addr: 'not an address'}\n", nil, []string{"http.addr:"}},
		{"http.addr port out of range", "http: {addr: '127.0.0.1:99999'}\n", nil, []string{"http.addr:", "99999"}},
		{"http.addr port name", "http: {addr: '127.0.0.1:http'}\n", nil, []string{"http.addr:"}},
		{"http.debug_addr port out of range", "http: {debug_addr: '127.0.0.1:70000'}\n", nil, []string{"http.debug_addr:"}},
		{"redis.url without host", "redis: {url: 'redis://'}\n", nil, []string{"redis.url:"}},
		{"redis.url unix without path", "redis: {url: 'unix://'}\n", nil, []string{"redis.url:"}},
		{"http.public_url scheme", "http: {public_url: 'ftp://hcp.example'}\n", nil, []string{"http.public_url:"}},
		{"http.public_url no host", "http: {public_url: 'https://'}\n", nil, []string{"http.public_url:"}},
		{"http.public_url relative", "http: {public_url: 'hcp.example.gov.cn'}\n", nil, []string{"http.public_url:"}},
		{"http.debug_addr all interfaces", "http: {debug_addr: '0.0.0.0:6060'}\n", nil, []string{"http.debug_addr:", "loopback"}},
		{"http.debug_addr empty host", "http: {debug_addr: ':6060'}\n", nil, []string{"http.debug_addr:"}},
		{"http.debug_addr v6 any", "http: {debug_addr: '[::]:6060'}\n", nil, []string{"http.debug_addr:"}},
		{"http.debug_addr LAN", "http: {debug_addr: '192.168.1.5:6060'}\n", nil, []string{"http.debug_addr:"}},
		{"http.debug_addr hostname", "http: {debug_addr: 'debug.example:6060'}\n", nil, []string{"http.debug_addr:"}},
		{"http.debug_addr no port", "http: {debug_addr: '127.0.0.1'}\n", nil, []string{"http.debug_addr:"}},
		{"http.trusted_proxies hostname", "http: {trusted_proxies: [nginx.internal]}\n", nil, []string{"http.trusted_proxies[0]:", "nginx.internal"}},
		{"http.trusted_proxies second entry", "http: {trusted_proxies: [127.0.0.1, '10.0.0.0/33']}\n", nil, []string{"http.trusted_proxies[1]:", "10.0.0.0/33"}},
		{"http.trusted_proxies host:port", "http: {trusted_proxies: ['127.0.0.1:80']}\n", nil, []string{"http.trusted_proxies[0]:"}},
		{"http.trusted_proxies range", "http: {trusted_proxies: [10.0.0.1-10.0.0.9]}\n", nil, []string{"http.trusted_proxies[0]:"}},
		{"http.trusted_proxies empty entry", "http: {trusted_proxies: ['']}\n", nil, []string{"http.trusted_proxies[0]:"}},
		{"http.trusted_proxies zone", "http: {trusted_proxies: ['fe80::1%eth0']}\n", nil, []string{"http.trusted_proxies[0]:"}},
		{"http.trusted_proxies all v4", "http: {trusted_proxies: [0.0.0.0/0]}\n", nil, []string{"http.trusted_proxies[0]:", "every address"}},
		{"http.trusted_proxies all v6", "http: {trusted_proxies: ['::1', '::/0']}\n", nil, []string{"http.trusted_proxies[1]:", "every address"}},
		{"redis.url scheme", "redis: {url: 'mysql://db:3306/x'}\n", nil, []string{"redis.url:"}},
		{"redis.url bare host", "redis: {url: '127.0.0.1:6379'}\n", nil, []string{"redis.url:"}},
		{"redis.url typo of embedded", "redis: {url: embeded}\n", nil, []string{"redis.url:"}},
		{"redis.url addr= without cluster", "redis: {url: 'redis://db:7000?addr=db2:7000'}\n", nil, []string{"redis.url:", "redis.cluster"}},
		{"redis.cluster embedded", "redis: {cluster: true}\n", nil, []string{"redis.cluster:", "embedded"}},
		{"redis.cluster embedded given", "redis: {cluster: true, url: embedded}\n", nil, []string{"redis.cluster:", "embedded"}},
		{"redis.cluster db 1", "redis: {cluster: true, url: 'redis://db:7000/1?addr=db2:7000'}\n", nil, []string{"redis.url:", "database 1", "only database 0"}},
		{"redis.cluster db name", "redis: {cluster: true, url: 'redis://db:7000/hcp'}\n", nil, []string{"redis.url:", "database"}},
		{"redis.cluster unix", "redis: {cluster: true, url: 'unix:///run/redis.sock'}\n", nil, []string{"redis.url:", "redis.cluster"}},
		{"redis.cluster scheme", "redis: {cluster: true, url: 'http://db:7000'}\n", nil, []string{"redis.url:"}},
		{"redis.cluster no host", "redis: {cluster: true, url: 'redis://:7000'}\n", nil, []string{"redis.url:"}},
		{"redis.cluster bare host", "redis: {cluster: true, url: 'db:7000'}\n", nil, []string{"redis.url:"}},
		{"redis.cluster addr without port", "redis: {cluster: true, url: 'redis://db:7000?addr=db2'}\n", nil, []string{"redis.url:", "addr"}},
		{"redis.cluster unknown option", "redis: {cluster: true, url: 'redis://db:7000?adr=db2:7000'}\n", nil, []string{"redis.url:", "adr"}},
		{"redis.cluster bad option value", "redis: {cluster: true, url: 'redis://db:7000?pool_size=many'}\n", nil, []string{"redis.url:", "pool_size"}},
		{"redis.embedded_addr all interfaces", "redis: {embedded_addr: '0.0.0.0:6379'}\n", nil, []string{"redis.embedded_addr:", "loopback"}},
		{"redis.embedded_addr LAN", "redis: {embedded_addr: '10.0.0.1:6379'}\n", nil, []string{"redis.embedded_addr:"}},
		{"redis.embedded_addr no port", "redis: {embedded_addr: '127.0.0.1'}\n", nil, []string{"redis.embedded_addr:"}},
		{"redis.namespace colon", "redis: {namespace: 'hcp:prod'}\n", nil, []string{"redis.namespace:"}},
		{"redis.namespace braces", "redis: {namespace: '{hcp}'}\n", nil, []string{"redis.namespace:"}},
		{"redis.namespace too long", "redis: {namespace: " + strings.Repeat("n", 33) + "}\n", nil, []string{"redis.namespace:"}},
		{"redis.events_max_len small", "redis: {events_max_len: 999}\n", nil, []string{"redis.events_max_len:", "999"}},
		{"redis.events_max_len negative", "redis: {events_max_len: -1}\n", nil, []string{"redis.events_max_len:"}},
		{"redis.pipelines -2", "redis: {pipelines: -2}\n", nil, []string{"redis.pipelines:", "-2"}},
		{"redis.pipelines 65", "redis: {pipelines: 65}\n", nil, []string{"redis.pipelines:", "65"}},
		{"redis.pipeline_batch 1001", "redis: {pipeline_batch: 1001}\n", nil, []string{"redis.pipeline_batch:", "1001"}},
		{"redis.pipeline_batch negative", "redis: {pipeline_batch: -1}\n", nil, []string{"redis.pipeline_batch:"}},
		{"auth.admin_token short", "auth: {admin_token: 0123456789abcde}\n", nil, []string{"auth.admin_token:", "16"}},
		{"deadlines.poll small", "deadlines: {poll: 5ms}\n", nil, []string{"deadlines.poll:"}},
		{"deadlines.poll large", "deadlines: {poll: 61s}\n", nil, []string{"deadlines.poll:"}},
		{"deadlines.poll negative", "deadlines: {poll: -1s}\n", nil, []string{"deadlines.poll:"}},
		{"deadlines.batch large", "deadlines: {batch: 10001}\n", nil, []string{"deadlines.batch:"}},
		{"deadlines.batch negative", "deadlines: {batch: -1}\n", nil, []string{"deadlines.batch:"}},
		{"shutdown.timeout small", "shutdown: {timeout: 999ms}\n", nil, []string{"shutdown.timeout:"}},
		{"shutdown.timeout negative", "shutdown: {timeout: -5s}\n", nil, []string{"shutdown.timeout:"}},
		{"workflow.rules.name", "workflow: {rules: {name: ''}}\n", nil, []string{"workflow.rules.name:"}},
		{"workflow.rules days", "workflow: {rules: {rectification: {days: 400, kind: working}}}\n", nil, []string{"workflow.rules.rectification.days:"}},
		{"workflow.rules kind", "workflow: {rules: {appeal: {days: 5, kind: weekly}}}\n", nil, []string{"workflow.rules.appeal.kind:"}},
		{"workflow.rules.warn_at", "workflow: {rules: {warn_at: 1}}\n", nil, []string{"workflow.rules.warn_at:"}},
		{"workflow.rules.referral_threshold", "workflow: {rules: {referral_threshold: 0}}\n", nil, []string{"workflow.rules.referral_threshold:"}},
		{"workflow.rules.referral_window_days", "workflow: {rules: {referral_window_days: -1}}\n", nil, []string{"workflow.rules.referral_window_days:"}},
	})
}

func TestValidateAccepts(t *testing.T) {
	runGood(t, []goodCase{
		{"debug_addr 127.0.0.1", "http: {debug_addr: '127.0.0.1:6060'}\n", nil, nil},
		{"debug_addr ::1", "http: {debug_addr: '[::1]:6060'}\n", nil, nil},
		{"debug_addr localhost", "http: {debug_addr: 'localhost:6060'}\n", nil, nil},
		{"debug_addr 127.0.0.2", "http: {debug_addr: '127.0.0.2:0'}\n", nil, nil},
		{"public_url https with path", "http: {public_url: 'https://gov.example/hcp/'}\n", nil, nil},
		{"trusted_proxies", "http: {trusted_proxies: [127.0.0.1, '::1', 10.1.2.3/24, '2001:db8::/32', '::ffff:192.0.2.1']}\n", nil,
			func(t *testing.T, c *Config) {
				ps, err := c.HTTP.TrustedProxies()
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, p := range ps {
					got = append(got, p.String())
				}
				want := []string{"127.0.0.1/32", "::1/128", "10.1.2.0/24", "2001:db8::/32", "::ffff:192.0.2.1/128"}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("TrustedProxies = %v, want %v", got, want)
				}
			}},
		{"trusted_proxies empty", "http: {trusted_proxies: []}\n", nil, func(t *testing.T, c *Config) {
			if ps, err := c.HTTP.TrustedProxies(); err != nil || len(ps) != 0 {
				t.Errorf("TrustedProxies = %v, %v; want none", ps, err)
			}
		}},
		{"HAOCHAPING_TRUSTED_PROXIES replaces the file's list", "http: {trusted_proxies: [10.0.0.0/8]}\n", map[string]string{"HAOCHAPING_TRUSTED_PROXIES": "192.0.2.7"},
			func(t *testing.T, c *Config) {
				if ps, err := c.HTTP.TrustedProxies(); err != nil || len(ps) != 1 || ps[0].String() != "192.0.2.7/32" {
					t.Errorf("TrustedProxies = %v, %v; want [192.0.2.7/32]", ps, err)
				}
			}},
		{"embedded_addr ::1", "redis: {embedded_addr: '[::1]:6379'}\n", nil, nil},
		{"embedded_addr localhost", "redis: {embedded_addr: 'localhost:0'}\n", nil, nil},
		{"embedded_addr unchecked when not embedded", "redis: {url: 'redis://db:6379/0', embedded_addr: '0.0.0.0:6379'}\n", nil, nil},
		{"redis rediss", "redis: {url: 'rediss://user:pw@db:6380/0'}\n", nil, func(t *testing.T, c *Config) {
			if c.Redis.Embedded() {
				t.Error("rediss URL reported as embedded")
			}
		}},
		{"redis unix", "redis: {url: 'unix:///run/redis.sock'}\n", nil, nil},
		{"redis cluster seed list", "redis: {cluster: true, url: 'redis://10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000'}\n", nil,
			func(t *testing.T, c *Config) {
				o, err := redis.ParseClusterURL(c.Redis.URL)
				if err != nil {
					t.Fatal(err)
				}
				if want := []string{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"}; !c.Redis.Cluster || !reflect.DeepEqual(o.Addrs, want) {
					t.Errorf("cluster %t, seeds %v; want true, %v", c.Redis.Cluster, o.Addrs, want)
				}
			}},
		{"redis cluster one seed", "redis: {cluster: true, url: 'redis://db.example:7000'}\n", nil, nil},
		{"redis cluster /0", "redis: {cluster: true, url: 'redis://db.example:7000/0?addr=db2.example:7000'}\n", nil, nil},
		{"redis cluster /", "redis: {cluster: true, url: 'redis://db.example:7000/'}\n", nil, nil},
		{"redis cluster rediss with password", "redis: {cluster: true, url: 'rediss://hcp:pw@db.example:7000?addr=db2.example:7000'}\n", nil,
			func(t *testing.T, c *Config) {
				o, err := redis.ParseClusterURL(c.Redis.URL)
				if err != nil || o.TLSConfig == nil || o.Username != "hcp" || o.Password != "pw" {
					t.Errorf("ParseClusterURL = %+v, %v; want TLS and the user", o, err)
				}
			}},
		{"redis cluster ipv6", "redis: {cluster: true, url: 'redis://[::1]:7000?addr=[::1]:7001'}\n", nil, nil},
		{"HAOCHAPING_REDIS_CLUSTER on", "", map[string]string{"HAOCHAPING_REDIS_URL": "redis://db:7000?addr=db2:7000", "HAOCHAPING_REDIS_CLUSTER": "on"},
			func(t *testing.T, c *Config) {
				if !c.Redis.Cluster {
					t.Error("HAOCHAPING_REDIS_CLUSTER=on: redis.cluster false")
				}
			}},
		{"HAOCHAPING_REDIS_CLUSTER off overrides the file", "redis: {cluster: true, url: 'redis://db:7000?addr=db2:7000'}\n",
			map[string]string{"HAOCHAPING_REDIS_CLUSTER": "0", "HAOCHAPING_REDIS_URL": "redis://db:6379/3"},
			func(t *testing.T, c *Config) {
				if c.Redis.Cluster {
					t.Error("HAOCHAPING_REDIS_CLUSTER=0: redis.cluster true")
				}
			}},
		{"namespace 32", "redis: {namespace: " + strings.Repeat("n", 32) + "}\n", nil, nil},
		{"namespace chars", "redis: {namespace: Hcp_prod-2}\n", nil, nil},
		{"events_max_len 1000", "redis: {events_max_len: 1000}\n", nil, nil},
		{"pipelines -1", "redis: {pipelines: -1}\n", nil, func(t *testing.T, c *Config) {
			if c.Redis.Pipelines != -1 {
				t.Errorf("redis.pipelines = %d, want -1", c.Redis.Pipelines)
			}
		}},
		{"pipelines 1", "redis: {pipelines: 1}\n", nil, nil},
		{"pipelines 64", "redis: {pipelines: 64}\n", nil, nil},
		{"pipeline_batch 1", "redis: {pipeline_batch: 1}\n", nil, nil},
		{"pipeline_batch 1000", "redis: {pipeline_batch: 1000}\n", nil, nil},
		{"admin_token 16", "auth: {admin_token: 0123456789abcdef}\n", nil, nil},
		{"deadlines bounds", "deadlines: {poll: 10ms, batch: 10000}\n", nil, nil},
		{"deadlines upper poll", "deadlines: {poll: 1m, batch: 1}\n", nil, nil},
		{"shutdown 1s", "shutdown: {timeout: 1s}\n", nil, nil},
		{"warn_at 0", "workflow: {rules: {warn_at: 0}}\n", nil, nil},
	})
}

func TestValidateTokens(t *testing.T) {
	const tok = "0123456789abcdef" // 16 characters
	runBad(t, []badCase{
		{"missing name", "auth:\n  tokens:\n    - {token: " + tok + ", role: admin}\n", nil, []string{"auth.tokens[0].name: required"}},
		{"second entry", "auth:\n  tokens:\n    - {name: a, token: " + tok + ", role: admin}\n    - {token: fedcba9876543210, role: admin}\n", nil, []string{"auth.tokens[1].name:"}},
		{"neither token nor sha256", "auth:\n  tokens:\n    - {name: a, role: admin}\n", nil, []string{"auth.tokens[0]:", "token or sha256 required"}},
		{"token and sha256", "auth:\n  tokens:\n    - {name: a, token: " + tok + ", sha256: " + HashToken(tok) + ", role: admin}\n", nil, []string{"auth.tokens[0]:", "not both"}},
		{"short token", "auth:\n  tokens:\n    - {name: a, token: 0123456789abcde, role: admin}\n", nil, []string{"auth.tokens[0].token:", "16"}},
		{"sha256 short", "auth:\n  tokens:\n    - {name: a, sha256: " + strings.Repeat("a", 63) + ", role: admin}\n", nil, []string{"auth.tokens[0].sha256:"}},
		{"sha256 long", "auth:\n  tokens:\n    - {name: a, sha256: " + strings.Repeat("a", 65) + ", role: admin}\n", nil, []string{"auth.tokens[0].sha256:"}},
		{"bad role", "auth:\n  tokens:\n    - {name: a, token: " + tok + ", role: root}\n", nil, []string{"auth.tokens[0].role:", `"root"`}},
		{"system role", "auth:\n  tokens:\n    - {name: a, token: " + tok + ", role: system}\n", nil, []string{"auth.tokens[0].role:"}},
		{"missing role", "auth:\n  tokens:\n    - {name: a, token: " + tok + "}\n", nil, []string{"auth.tokens[0].role:"}},
		{"handler without units", "auth:\n  tokens:\n    - {name: a, token: " + tok + ", role: handler}\n", nil, []string{"auth.tokens[0].units:"}},
		{"duplicate token", "auth:\n  tokens:\n    - {name: a, token: " + tok + ", role: admin}\n    - {name: b, token: " + tok + ", role: intake}\n", nil, []string{"auth.tokens[1]:", "twice"}},
		{"duplicate as sha256", "auth:\n  tokens:\n    - {name: a, token: " + tok + ", role: admin}\n    - {name: b, sha256: " + strings.ToUpper(HashToken(tok)) + ", role: intake}\n", nil, []string{"auth.tokens[1]:", "twice"}},
	})
	runGood(t, []goodCase{
		{"every role", "auth:\n  tokens:\n" +
			"    - {name: a, token: " + tok + "a, role: admin}\n" +
			"    - {name: h, token: " + tok + "h, role: handler, units: [fh-g08]}\n" +
			"    - {name: s, token: " + tok + "s, role: supervisor}\n" +
			"    - {name: i, sha256: " + strings.ToUpper(HashToken(tok+"i")) + ", role: intake}\n", nil,
			func(t *testing.T, c *Config) {
				if len(c.Auth.Tokens) != 4 {
					t.Fatalf("tokens = %+v", c.Auth.Tokens)
				}
				if got := c.Auth.Tokens[3].Hash(); got != HashToken(tok+"i") {
					t.Errorf("Hash of upper-case sha256 = %s, want lower case %s", got, HashToken(tok+"i"))
				}
			}},
	})
}

func TestHashToken(t *testing.T) {
	// SHA-256 of "abc" (FIPS 180-2, appendix B.1).
	const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := HashToken("abc"); got != abc {
		t.Errorf("HashToken(abc) = %s, want %s", got, abc)
	}
	if got := (Token{Token: "abc"}).Hash(); got != abc {
		t.Errorf("Token.Hash = %s", got)
	}
	if got := (Token{SHA256: strings.ToUpper(abc)}).Hash(); got != abc {
		t.Errorf("Token.Hash of SHA256 = %s", got)
	}
}

func TestRedactedRedisURL(t *testing.T) {
	tests := []struct{ url, want string }{
		{"redis://:s3cret-pw@db.example:6379/0", "redis://:xxxxx@db.example:6379/0"},
		{"redis://hcp:s3cret-pw@db.example:6379/0", "redis://hcp:xxxxx@db.example:6379/0"},
		{"rediss://hcp:s3cret-pw@db.example:6380/1", "rediss://hcp:xxxxx@db.example:6380/1"},
		{"redis://hcp@db.example:6379/0", "redis://hcp@db.example:6379/0"},
		{"redis://db.example:6379/0", "redis://db.example:6379/0"},
		{"embedded", "embedded"},
	}
	for _, tt := range tests {
		c := &Config{Redis: Redis{URL: tt.url}}
		got := c.RedactedRedisURL()
		if got != tt.want {
			t.Errorf("RedactedRedisURL(%s) = %s, want %s", tt.url, got, tt.want)
		}
		if strings.Contains(got, "s3cret") {
			t.Errorf("RedactedRedisURL(%s) shows the password", tt.url)
		}
	}
	// Errors hide the password too, of a cluster's seed list as well.
	for _, doc := range []string{
		"redis: {url: 'mysql://hcp:s3cret-pw@db:3306/x'}\n",
		"redis: {cluster: true, url: 'mysql://hcp:s3cret-pw@db:3306/x'}\n",
		"redis: {cluster: true, url: 'redis://hcp:s3cret-pw@db:7000/2'}\n",
		"redis: {cluster: true, url: 'redis://hcp:s3cret-pw@db:7000?addr=db2'}\n",
		"redis: {url: 'redis://hcp:s3cret-pw@db:7000?addr=db2:7000'}\n",
	} {
		_, err := loadYAML(t, doc, nil)
		if err == nil || !strings.Contains(err.Error(), "redis.url:") {
			t.Errorf("%s: error %v does not name redis.url", doc, err)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error %q shows the password", err)
		}
	}
}

// TestRedactMalformedURL shows a password in an error message. redactURL
// only hides the password of a URL that parses with a user part.
func TestRedactMalformedURL(t *testing.T) {
	for _, u := range []string{
		"redis//hcp:s3cret-pw@db:6379/0",  // missing ':' after the scheme
		"redis://hcp:s3cret%zz@db:6379/0", // bad escape: url.Parse fails
		"hcp:s3cret-pw@db.example:6379/0", // scheme forgotten
	} {
		_, err := loadYAML(t, "redis: {url: '"+u+"'}\n", nil)
		if err == nil {
			t.Errorf("%s accepted", u)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error %q shows the password", err)
		}
	}
}

func TestLogLevel(t *testing.T) {
	for level, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
	} {
		c := mustLoadYAML(t, "log: {level: "+level+"}\n", nil)
		if got := c.LogLevel(); got != want {
			t.Errorf("LogLevel(%s) = %v, want %v", level, got, want)
		}
	}
}

// TestTokenSHA256MustBeHex: the error says "want 64 hex digits" but only
// the length is checked, so a sha256 that can never match is accepted.
func TestTokenSHA256MustBeHex(t *testing.T) {
	_, err := loadYAML(t, "auth:\n  tokens:\n    - {name: a, sha256: "+strings.Repeat("z", 64)+", role: admin}\n", nil)
	if err == nil || !strings.Contains(err.Error(), "auth.tokens[0].sha256:") {
		t.Errorf("non-hex sha256: error %v, want one naming auth.tokens[0].sha256", err)
	}
}

// TestPublicURLNeedsHostName: http.addr ":8080" (all interfaces) without
// http.public_url gives the default public_url "http://:8080", which
// Validate accepts because it checks u.Host (":8080"), not the host name;
// links in SMS would then have no host.
func TestPublicURLNeedsHostName(t *testing.T) {
	for _, doc := range []string{"http: {addr: ':8080'}\n", "http: {public_url: 'https://:443'}\n"} {
		c, err := loadYAML(t, doc, nil)
		if err == nil {
			t.Errorf("%q accepted with http.public_url %q", doc, c.HTTP.PublicURL)
		} else if !strings.Contains(err.Error(), "http.public_url") {
			t.Errorf("%q: error %q does not name http.public_url", doc, err)
		}
	}
}

// check is one expected value of a loaded configuration.
type check struct {
	key       string
	got, want any
}

func runChecks(t *testing.T, checks []check) {
	t.Helper()
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s = %#v, want %#v", ck.key, ck.got, ck.want)
		}
	}
}
