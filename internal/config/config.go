// Package config loads haochaping's YAML configuration, applies the
// environment overrides (HAOCHAPING_*), fills in defaults in one place and
// validates it, naming the offending key in every error. It also loads the
// unit directory. It imports casecore for the types it configures, and no
// other project package.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/configs"
)

// Defaults, applied by (*Config).applyDefaults.
const (
	DefaultHTTPAddr        = "127.0.0.1:8080"
	DefaultRedisURL        = "embedded"
	DefaultEmbeddedAddr    = "127.0.0.1:0"
	DefaultNamespace       = "hcp"
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "text"
	DefaultShutdownTimeout = 30 * time.Second
	DefaultDeadlinePoll    = time.Second
	DefaultDeadlineBatch   = 500
	DefaultEventsMaxLen    = 1_000_000
	DefaultPipelines       = 4
	DefaultPipelineBatch   = 64
	MinTokenLength         = 16
)

// Config is the whole configuration. Every key is documented in
// configs/haochaping.example.yaml.
type Config struct {
	Log       Log       `yaml:"log"`
	HTTP      HTTP      `yaml:"http"`
	Redis     Redis     `yaml:"redis"`
	Auth      Auth      `yaml:"auth"`
	Units     Units     `yaml:"units"`
	Calendar  Calendar  `yaml:"calendar"`
	Workflow  Workflow  `yaml:"workflow"`
	Deadlines Deadlines `yaml:"deadlines"`
	Shutdown  Shutdown  `yaml:"shutdown"`
	SIP       SIP       `yaml:"sip"`
	SMS       SMS       `yaml:"sms"`
	Dashboard Dashboard `yaml:"dashboard"`
}

// Log configures structured logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// HTTP configures the API and dashboard listener.
type HTTP struct {
	Addr string `yaml:"addr"`
	// PublicURL is how citizens and staff reach the server (links in SMS).
	PublicURL string `yaml:"public_url"`
	// DebugAddr, when set, serves Go's profiler (/debug/pprof/) on this
	// loopback address, for operators measuring a live process. Off by default.
	DebugAddr string `yaml:"debug_addr"`
	// TrustedProxyList lists the reverse proxies in front of the server
	// (CIDR, or single addresses; HAOCHAPING_TRUSTED_PROXIES,
	// comma-separated). A request from one of them is taken to come from
	// the client it names in X-Forwarded-For or X-Real-IP; see
	// internal/realip. Empty by default: both headers are ignored.
	TrustedProxyList []string `yaml:"trusted_proxies"`
}

// TrustedProxies parses http.trusted_proxies; a single address is a /32 or
// /128 network.
func (h HTTP) TrustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range h.TrustedProxyList {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("http.trusted_proxies[%d]: %q is not a network (CIDR) or address", i, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Bits() == 0 {
			// Every address trusted: any client could name its own.
			return nil, fmt.Errorf("http.trusted_proxies[%d]: %q trusts every address, so a client could choose the address it is seen from; "+
				"list the proxies' own addresses", i, s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Redis says where the data lives.
type Redis struct {
	// URL is "embedded" (an in-process server, data in memory only) or
	// redis://[user:password@]host:port/db (rediss:// for TLS); with Cluster,
	// the seed nodes of a Redis Cluster:
	// redis://[user:password@]host:port?addr=host2:port&addr=host3:port.
	URL string `yaml:"url"`
	// Cluster says URL names nodes of a Redis Cluster (HAOCHAPING_REDIS_CLUSTER).
	// Every key of a deployment carries the hash tag {namespace}, so all of
	// them live in one slot, served by one master at a time: the cluster
	// brings failover to a replica, not sharding.
	Cluster bool `yaml:"cluster"`
	// badClusterEnv is HAOCHAPING_REDIS_CLUSTER when it is neither true nor
	// false, for Validate to refuse.
	badClusterEnv string
	// EmbeddedAddr is where the embedded server listens (loopback).
	EmbeddedAddr string `yaml:"embedded_addr"`
	// Namespace prefixes every key.
	Namespace string `yaml:"namespace"`
	// EventsMaxLen caps the event stream.
	EventsMaxLen int64 `yaml:"events_max_len"`
	// Pipelines is how many pipelines of concurrent changes may be in
	// flight at once; -1 sends each change alone. Default 4.
	Pipelines int `yaml:"pipelines"`
	// PipelineBatch is the most changes one pipeline carries. Default 64.
	PipelineBatch int `yaml:"pipeline_batch"`
}

// Embedded reports whether the in-process server is used.
func (r Redis) Embedded() bool { return r.URL == "embedded" }

// Token is a bearer token for machine clients.
type Token struct {
	Name string `yaml:"name"`
	// Token is the secret in clear; prefer SHA256, its hex SHA-256.
	Token  string        `yaml:"token"`
	SHA256 string        `yaml:"sha256"`
	Role   casecore.Role `yaml:"role"`
	Units  []string      `yaml:"units"`
}

// Hash returns the hex SHA-256 of the token.
func (t Token) Hash() string {
	if t.SHA256 != "" {
		return strings.ToLower(t.SHA256)
	}
	return HashToken(t.Token)
}

// HashToken returns the hex SHA-256 of a token.
func HashToken(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

// Auth lists the API tokens.
type Auth struct {
	// AdminToken is a bearer token with administrator rights (HAOCHAPING_ADMIN_TOKEN).
	AdminToken string  `yaml:"admin_token"`
	Tokens     []Token `yaml:"tokens"`
}

// Units says where the unit directory comes from.
type Units struct {
	// File overrides the embedded configs/units.yaml.
	File string `yaml:"file"`
}

// Calendar says where the working-day calendar comes from.
type Calendar struct {
	// Dir overrides the embedded holiday data with a directory of YEAR.json.
	Dir string `yaml:"dir"`
}

// Workflow holds the rule set new cases are opened under.
type Workflow struct {
	Rules casecore.Rules `yaml:"rules"`
}

// Deadlines tunes the deadline worker.
type Deadlines struct {
	Poll  time.Duration `yaml:"poll"`
	Batch int           `yaml:"batch"`
}

// Shutdown bounds the graceful shutdown.
type Shutdown struct {
	Timeout time.Duration `yaml:"timeout"`
}

// Load reads the file (none when path is empty), applies the environment
// and defaults, and validates.
func Load(path string, env func(string) string) (*Config, error) {
	c := &Config{Workflow: Workflow{Rules: casecore.DefaultRules()}}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := Parse(b, c); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if env == nil {
		env = os.Getenv
	}
	c.applyEnv(env)
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// Parse decodes YAML into c, refusing unknown keys.
func Parse(b []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) { // an empty file is no error
			return nil
		}
		return err
	}
	// A second document ("---") would be silently ignored: refuse it.
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		if err != nil {
			return err
		}
		return fmt.Errorf("line %d: a second YAML document; the configuration is one document", more.Line)
	}
	return nil
}

// Env names the environment overrides, for the README and --help.
var Env = []struct{ Name, Key string }{
	{"HAOCHAPING_REDIS_URL", "redis.url"},
	{"HAOCHAPING_REDIS_CLUSTER", "redis.cluster"},
	{"HAOCHAPING_REDIS_NAMESPACE", "redis.namespace"},
	{"HAOCHAPING_HTTP_ADDR", "http.addr"},
	{"HAOCHAPING_PUBLIC_URL", "http.public_url"},
	{"HAOCHAPING_DEBUG_ADDR", "http.debug_addr"},
	{"HAOCHAPING_TRUSTED_PROXIES", "http.trusted_proxies"},
	{"HAOCHAPING_ADMIN_TOKEN", "auth.admin_token"},
	{"HAOCHAPING_LOG_LEVEL", "log.level"},
	{"HAOCHAPING_LOG_FORMAT", "log.format"},
	{"HAOCHAPING_CALENDAR_DIR", "calendar.dir"},
	{"HAOCHAPING_UNITS_FILE", "units.file"},
	{"HAOCHAPING_SIP_ENABLED", "sip.enabled"},
	{"HAOCHAPING_SIP_ADDR", "sip.addr"},
	{"HAOCHAPING_SIP_ALLOW", "sip.allow"},
	{"HAOCHAPING_RTP_PORTS", "sip.rtp_ports"},
	{"HAOCHAPING_SIP_EXTERNAL_IP", "sip.external_ip"},
	{"HAOCHAPING_ADMIN_USER", "dashboard.admin_user"},
	{"HAOCHAPING_ADMIN_PASSWORD", "dashboard.admin_password"},
}

// envString sets *dst from the variable name when it is set.
func envString(env func(string) string, name string, dst *string) {
	if v := env(name); v != "" {
		*dst = v
	}
}

// envInt sets *dst from the variable name when it is set; a value that is
// not a number becomes -1, which validation refuses naming the key.
func envInt(env func(string) string, name string, dst *int) {
	if v := env(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			n = -1
		}
		*dst = n
	}
}

// defString sets *dst to v when it is empty.
func defString(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

func (c *Config) applyEnv(env func(string) string) {
	set := func(name string, dst *string) { envString(env, name, dst) }
	set("HAOCHAPING_REDIS_URL", &c.Redis.URL)
	if v := env("HAOCHAPING_REDIS_CLUSTER"); v != "" {
		b, ok := parseBool(v)
		c.Redis.Cluster = b
		if !ok {
			c.Redis.badClusterEnv = v
		}
	}
	set("HAOCHAPING_REDIS_NAMESPACE", &c.Redis.Namespace)
	set("HAOCHAPING_HTTP_ADDR", &c.HTTP.Addr)
	set("HAOCHAPING_PUBLIC_URL", &c.HTTP.PublicURL)
	set("HAOCHAPING_DEBUG_ADDR", &c.HTTP.DebugAddr)
	if v := env("HAOCHAPING_TRUSTED_PROXIES"); v != "" {
		c.HTTP.TrustedProxyList = nil
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.HTTP.TrustedProxyList = append(c.HTTP.TrustedProxyList, p)
			}
		}
	}
	set("HAOCHAPING_ADMIN_TOKEN", &c.Auth.AdminToken)
	set("HAOCHAPING_LOG_LEVEL", &c.Log.Level)
	set("HAOCHAPING_LOG_FORMAT", &c.Log.Format)
	set("HAOCHAPING_CALENDAR_DIR", &c.Calendar.Dir)
	set("HAOCHAPING_UNITS_FILE", &c.Units.File)
	c.SIP.applyEnv(env)
	c.SMS.applyEnv(env)
	c.Dashboard.applyEnv(env)
}

func (c *Config) applyDefaults() {
	def := defString
	def(&c.Log.Level, DefaultLogLevel)
	def(&c.Log.Format, DefaultLogFormat)
	def(&c.HTTP.Addr, DefaultHTTPAddr)
	def(&c.Redis.URL, DefaultRedisURL)
	def(&c.Redis.EmbeddedAddr, DefaultEmbeddedAddr)
	def(&c.Redis.Namespace, DefaultNamespace)
	if c.HTTP.PublicURL == "" {
		c.HTTP.PublicURL = "http://" + c.HTTP.Addr
	}
	if c.Redis.EventsMaxLen == 0 {
		c.Redis.EventsMaxLen = DefaultEventsMaxLen
	}
	if c.Redis.Pipelines == 0 {
		c.Redis.Pipelines = DefaultPipelines
	}
	if c.Redis.PipelineBatch == 0 {
		c.Redis.PipelineBatch = DefaultPipelineBatch
	}
	if c.Shutdown.Timeout == 0 {
		c.Shutdown.Timeout = DefaultShutdownTimeout
	}
	if c.Deadlines.Poll == 0 {
		c.Deadlines.Poll = DefaultDeadlinePoll
	}
	if c.Deadlines.Batch == 0 {
		c.Deadlines.Batch = DefaultDeadlineBatch
	}
	c.SIP.applyDefaults()
	c.SMS.applyDefaults()
	c.Dashboard.applyDefaults()
}

// Validate checks every key; the error names the first bad one.
func (c *Config) Validate() error {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q, want debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log.format: %q, want text or json", c.Log.Format)
	}
	if err := checkHostPort(c.HTTP.Addr); err != nil {
		return fmt.Errorf("http.addr: %q: %v", c.HTTP.Addr, err)
	}
	if u, err := url.Parse(c.HTTP.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return fmt.Errorf("http.public_url: %q is not an http(s) URL with a host name (the base of links in SMS; "+
			"set it when http.addr has no host)", c.HTTP.PublicURL)
	}
	if c.HTTP.DebugAddr != "" {
		if host, _, err := net.SplitHostPort(c.HTTP.DebugAddr); err != nil || checkHostPort(c.HTTP.DebugAddr) != nil || !isLoopback(host) {
			return fmt.Errorf("http.debug_addr: %q must be a loopback host:port (the profiler is not for the network)", c.HTTP.DebugAddr)
		}
	}
	if _, err := c.HTTP.TrustedProxies(); err != nil {
		return err
	}
	if err := c.Redis.validateURL(); err != nil {
		return err
	}
	if !idPatternOK(c.Redis.Namespace) {
		return fmt.Errorf("redis.namespace: %q, want letters, digits, - or _", c.Redis.Namespace)
	}
	if c.Redis.EventsMaxLen < 1000 {
		return fmt.Errorf("redis.events_max_len: %d, want at least 1000", c.Redis.EventsMaxLen)
	}
	if c.Redis.Pipelines < -1 || c.Redis.Pipelines > 64 {
		return fmt.Errorf("redis.pipelines: %d, want 1 to 64, or -1 to send each change alone", c.Redis.Pipelines)
	}
	if c.Redis.PipelineBatch < 1 || c.Redis.PipelineBatch > 1000 {
		return fmt.Errorf("redis.pipeline_batch: %d, want 1 to 1000", c.Redis.PipelineBatch)
	}
	if c.Auth.AdminToken != "" && len(c.Auth.AdminToken) < MinTokenLength {
		return fmt.Errorf("auth.admin_token: shorter than %d characters", MinTokenLength)
	}
	seen := map[string]bool{}
	for i, t := range c.Auth.Tokens {
		where := fmt.Sprintf("auth.tokens[%d]", i)
		if t.Name == "" {
			return fmt.Errorf("%s.name: required", where)
		}
		switch {
		case t.Token == "" && t.SHA256 == "":
			return fmt.Errorf("%s: token or sha256 required", where)
		case t.Token != "" && t.SHA256 != "":
			return fmt.Errorf("%s: give token or sha256, not both", where)
		case t.Token != "" && len(t.Token) < MinTokenLength:
			return fmt.Errorf("%s.token: shorter than %d characters", where, MinTokenLength)
		case t.SHA256 != "" && !isHex64(t.SHA256):
			return fmt.Errorf("%s.sha256: want 64 hex digits", where)
		}
		if !t.Role.Valid() {
			return fmt.Errorf("%s.role: %q, want admin, handler, supervisor or intake", where, t.Role)
		}
		if t.Role == casecore.RoleHandler && len(t.Units) == 0 {
			return fmt.Errorf("%s.units: a handler token needs at least one unit", where)
		}
		if seen[t.Hash()] {
			return fmt.Errorf("%s: the same token is listed twice", where)
		}
		seen[t.Hash()] = true
	}
	if err := c.Workflow.Rules.Validate(); err != nil {
		return err
	}
	if c.Deadlines.Poll < 10*time.Millisecond || c.Deadlines.Poll > time.Minute {
		return fmt.Errorf("deadlines.poll: %s out of range 10ms..1m", c.Deadlines.Poll)
	}
	if c.Deadlines.Batch < 1 || c.Deadlines.Batch > 10000 {
		return fmt.Errorf("deadlines.batch: %d out of range 1..10000", c.Deadlines.Batch)
	}
	if c.Shutdown.Timeout < time.Second {
		return fmt.Errorf("shutdown.timeout: %s, want at least 1s", c.Shutdown.Timeout)
	}
	if err := c.SIP.validate(); err != nil {
		return err
	}
	if err := c.SMS.validate(); err != nil {
		return err
	}
	return c.Dashboard.validate()
}

// validateURL checks redis.cluster, redis.url and, for the embedded server,
// redis.embedded_addr.
func (r Redis) validateURL() error {
	if r.badClusterEnv != "" {
		return fmt.Errorf("redis.cluster: HAOCHAPING_REDIS_CLUSTER=%q, want true or false", r.badClusterEnv)
	}
	if r.Embedded() {
		if r.Cluster {
			return errors.New("redis.cluster: true, but redis.url is embedded (one in-process server); " +
				"set redis.url to the cluster's nodes, redis://host:port?addr=host2:port&addr=host3:port")
		}
		if host, _, err := net.SplitHostPort(r.EmbeddedAddr); err != nil || !isLoopback(host) {
			return fmt.Errorf("redis.embedded_addr: %q must be a loopback host:port", r.EmbeddedAddr)
		}
		return nil
	}
	u, err := url.Parse(r.URL)
	if r.Cluster {
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Hostname() == "" {
			return fmt.Errorf("redis.url: %q, want redis://[user:password@]host:port?addr=host2:port&addr=host3:port "+
				"(rediss:// for TLS) with redis.cluster", redactURL(r.URL))
		}
		if p := u.Path; p != "" && p != "/" && p != "/0" {
			return fmt.Errorf("redis.url: %q selects database %s; Redis Cluster has only database 0", redactURL(r.URL), p[1:])
		}
		if _, err := redis.ParseClusterURL(r.URL); err != nil {
			msg := err.Error()
			if pw, ok := u.User.Password(); ok && pw != "" {
				msg = strings.ReplaceAll(msg, pw, "xxxxx")
			}
			return fmt.Errorf("redis.url: %q: %s", redactURL(r.URL), msg)
		}
		return nil
	}
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") ||
		(u.Scheme == "unix" && u.Path == "") || (u.Scheme != "unix" && u.Hostname() == "") {
		return fmt.Errorf("redis.url: %q, want embedded or redis://host:port/db", redactURL(r.URL))
	}
	if u.Query().Has("addr") {
		// ParseURL refuses addr= at start; say what it means here.
		return fmt.Errorf("redis.url: %q lists further nodes (addr=), which only a cluster has; "+
			"set redis.cluster: true (HAOCHAPING_REDIS_CLUSTER) or remove them", redactURL(r.URL))
	}
	return nil
}

func idPatternOK(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// checkHostPort checks a listen address: host (may be empty) and a port
// number 0..65535.
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q, want a number 0..65535", port)
	}
	return nil
}

func isHex64(s string) bool {
	_, err := hex.DecodeString(s)
	return len(s) == 64 && err == nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactURL hides the secrets of a URL for messages and logs: the password
// of the user part, and the value of a password query parameter (Kannel's
// sendsms takes its password there). A URL that does not parse still has
// anything before an "@" hidden: it may be a password all the same.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || (u.User == nil && strings.Contains(s, "@")) {
		if i := strings.LastIndexByte(s, '@'); i >= 0 {
			start := 0
			if k := strings.Index(s, "//"); k >= 0 && k+2 <= i {
				start = k + 2
			}
			s = s[:start] + "xxxxx" + s[i:]
		}
		return redactQuery(s)
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// redactQuery hides the value of password= in s, however malformed.
func redactQuery(s string) string {
	i := strings.Index(s, "password=")
	if i < 0 {
		return s
	}
	j := i + len("password=")
	end := strings.IndexAny(s[j:], "&#")
	if end < 0 {
		return s[:j] + "xxxxx"
	}
	return s[:j] + "xxxxx" + s[j+end:]
}

// RedactedRedisURL is redis.url safe to log.
func (c *Config) RedactedRedisURL() string { return redactURL(c.Redis.URL) }

// LogLevel returns the slog level.
func (c *Config) LogLevel() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.Log.Level))
	return l
}

// LoadUnits reads the unit directory: units.file, or the embedded one.
func (c *Config) LoadUnits() (*casecore.Directory, error) {
	b := configs.Units
	src := "embedded configs/units.yaml"
	if c.Units.File != "" {
		var err error
		if b, err = os.ReadFile(c.Units.File); err != nil {
			return nil, fmt.Errorf("units.file: %w", err)
		}
		src = c.Units.File
	}
	d, err := ParseUnits(b)
	if err != nil {
		return nil, fmt.Errorf("units (%s): %w", src, err)
	}
	return d, nil
}

// ParseUnits decodes and validates a unit directory.
func ParseUnits(b []byte) (*casecore.Directory, error) {
	d := new(casecore.Directory)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(d); err != nil {
		return nil, err
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// LoadCalendar returns the calendar: calendar.dir, or the embedded data.
func (c *Config) LoadCalendar() (*casecore.Calendar, error) {
	if c.Calendar.Dir != "" {
		cal, err := casecore.LoadCalendarDir(c.Calendar.Dir)
		if err != nil {
			return nil, fmt.Errorf("calendar.dir: %w", err)
		}
		return cal, nil
	}
	return casecore.DefaultCalendar()
}
