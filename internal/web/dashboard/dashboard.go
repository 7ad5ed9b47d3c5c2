package dashboard

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/internal/config"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// CallStatus is one rating call in progress, as the operations view shows it.
type CallStatus struct {
	ID    string    // call or dialog ID (no phone number)
	Flow  string    // rate or followup
	Step  string    // the IVR step: menu, confirm, ...
	Since time.Time // when the call started
}

// CallsSource reports the rating calls in progress (the SIP/IVR module).
type CallsSource interface {
	Snapshot() []CallStatus
}

// OutboxSource reports the SMS outbox (the SMS module).
type OutboxSource interface {
	// Counts returns the number of messages by outbox state (queued, sent,
	// delivered, failed, ...).
	Counts(ctx context.Context) (map[string]int64, error)
	// GatewayState describes the gateway connection ("connected", "down: ...").
	GatewayState() string
}

// Params are the dashboard's dependencies. Calls, Outbox and Gatherer may be nil.
type Params struct {
	Service   *casecore.Service
	Units     *casecore.Directory
	Redis     redis.UniversalClient
	Namespace string
	// Stream is the case core's event stream (redisstore.Events(namespace)).
	Stream   string
	Logger   *slog.Logger
	Registry prometheus.Registerer
	// Gatherer is read by the operations view (worker lag, IVR steps).
	Gatherer prometheus.Gatherer
	Calls    CallsSource
	Outbox   OutboxSource
}

// Config holds the dashboard's settings (see config.Dashboard).
type Config struct {
	SessionLifetime time.Duration
	CookieSecure    bool
	LoginRate       int
	LockoutFailures int
	LockoutDuration time.Duration
	AuditMaxLen     int64
	AreaCode        string
}

// ConfigFrom derives the dashboard's settings from the configuration.
func ConfigFrom(c *config.Config) Config {
	d := c.Dashboard
	secure := d.CookieSecure == "true" || d.CookieSecure == "auto" && strings.HasPrefix(c.HTTP.PublicURL, "https://")
	return Config{SessionLifetime: d.SessionLifetime, CookieSecure: secure, LoginRate: d.LoginRate,
		LockoutFailures: d.LockoutFailures, LockoutDuration: d.LockoutDuration, AuditMaxLen: d.AuditMaxLen, AreaCode: d.AreaCode}
}

func (c Config) withDefaults() Config {
	if c.SessionLifetime <= 0 {
		c.SessionLifetime = config.DefaultSessionLifetime
	}
	if c.LoginRate <= 0 {
		c.LoginRate = config.DefaultLoginRate
	}
	if c.LockoutFailures <= 0 {
		c.LockoutFailures = config.DefaultLockoutFailures
	}
	if c.LockoutDuration <= 0 {
		c.LockoutDuration = config.DefaultLockoutDuration
	}
	if c.AuditMaxLen <= 0 {
		c.AuditMaxLen = config.DefaultAuditMaxLen
	}
	if c.AreaCode == "" {
		c.AreaCode = config.DefaultAreaCode
	}
	return c
}

// Dashboard is the staff dashboard: an http.Handler for /dash/ and a Run part.
type Dashboard struct {
	svc      *casecore.Service
	units    *casecore.Directory
	rdb      redis.UniversalClient
	log      *slog.Logger
	cfg      Config
	gatherer prometheus.Gatherer
	calls    CallsSource
	outbox   OutboxSource
	stream   string

	Accounts *Accounts
	Sessions *Sessions
	Limiter  *Limiter
	Audit    *AuditLog
	hub      *Hub
	pinger   *RedisPinger
	metrics  *Metrics

	pages  map[string]*template.Template
	mux    *http.ServeMux
	cookie string

	stopOnce sync.Once
	stopping chan struct{}
}

// New builds the dashboard.
func New(p Params, cfg Config) (*Dashboard, error) {
	if p.Service == nil || p.Units == nil || p.Redis == nil || p.Stream == "" {
		return nil, errors.New("dashboard: service, units, redis and stream are required")
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	m := NewMetrics(p.Registry)
	d := &Dashboard{svc: p.Service, units: p.Units, rdb: p.Redis, log: p.Logger, cfg: cfg, gatherer: p.Gatherer,
		calls: p.Calls, outbox: p.Outbox, stream: p.Stream,
		Accounts: NewAccounts(p.Redis, p.Namespace, p.Units.IDs()),
		Sessions: NewSessions(p.Redis, p.Namespace, cfg.SessionLifetime),
		Limiter:  NewLimiter(p.Redis, p.Namespace, cfg.LoginRate, cfg.LockoutFailures, cfg.LockoutDuration),
		Audit:    NewAuditLog(p.Redis, p.Namespace, cfg.AuditMaxLen),
		hub:      NewHub(p.Redis, p.Stream, p.Logger),
		pinger:   newPinger(p.Redis, m),
		metrics:  m,
		mux:      http.NewServeMux(),
		cookie:   "hcp_session",
		stopping: make(chan struct{}),
	}
	if cfg.CookieSecure {
		d.cookie = "__Host-hcp_session" // the browser insists on Secure, Path=/ and no Domain
	}
	if err := d.parseTemplates(); err != nil {
		return nil, err
	}
	d.routes()
	return d, nil
}

// Run runs the live-event hub and the Redis pinger
// until ctx ends; then it ends the live connections, so the HTTP server's
// shutdown does not wait for them.
func (d *Dashboard) Run(ctx context.Context) error {
	defer d.stop()
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{d.hub.Run, d.pinger.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = run(ctx)
		}()
	}
	<-ctx.Done()
	d.stop()
	wg.Wait()
	return nil
}

func (d *Dashboard) stop() { d.stopOnce.Do(func() { close(d.stopping) }) }

// ServeHTTP serves the dashboard.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	if d.cfg.CookieSecure {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	d.mux.ServeHTTP(w, r)
}

func (d *Dashboard) routes() {
	staticSub, _ := fs.Sub(staticFS, "static")
	static := http.StripPrefix("/dash/static/", http.FileServerFS(staticSub))
	d.mux.Handle("GET /dash/static/", d.metrics.wrap("static", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		static.ServeHTTP(w, r)
	}))
	d.mux.HandleFunc("GET /dash", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/dash/", http.StatusFound)
	})
	d.mux.HandleFunc("GET /dash/login", d.metrics.wrap("login", d.loginPage))
	d.mux.HandleFunc("POST /dash/login", d.metrics.wrap("login", d.loginPost))
	d.mux.HandleFunc("POST /dash/logout", d.metrics.wrap("logout", d.authed(anyRole, d.logout)))

	d.mux.HandleFunc("GET /dash/{$}", d.metrics.wrap("overview", d.authed(anyRole, d.overview)))
	d.mux.HandleFunc("GET /dash/cases", d.metrics.wrap("cases", d.authed(anyRole, d.caseList)))
	d.mux.HandleFunc("GET /dash/cases/{id}", d.metrics.wrap("case", d.authed(anyRole, d.caseDetail)))
	d.mux.HandleFunc("POST /dash/cases/{id}/act", d.metrics.wrap("case_act", d.authed(actors, d.caseAct)))
	d.mux.HandleFunc("POST /dash/cases/{id}/reveal", d.metrics.wrap("case_reveal", d.authed(actors, d.caseReveal)))
	d.mux.HandleFunc("GET /dash/queues/{name}", d.metrics.wrap("queue", d.authed(anyRole, d.queue)))
	d.mux.HandleFunc("POST /dash/ratings/{id}/review", d.metrics.wrap("text_review", d.authed(adminOnly, d.textReview)))
	d.mux.HandleFunc("GET /dash/referrals", d.metrics.wrap("referrals", d.authed(readers, d.referrals)))
	d.mux.HandleFunc("GET /dash/reports", d.metrics.wrap("reports", d.authed(anyRole, d.reports)))
	d.mux.HandleFunc("GET /dash/reports.csv", d.metrics.wrap("reports_csv", d.authed(anyRole, d.reportsCSV)))
	d.mux.HandleFunc("GET /dash/export/ratings.csv", d.metrics.wrap("export_ratings", d.authed(anyRole, d.exportRatings)))
	d.mux.HandleFunc("GET /dash/ops", d.metrics.wrap("ops", d.authed(readers, d.ops)))
	d.mux.HandleFunc("GET /dash/audit", d.metrics.wrap("audit", d.authed(adminOnly, d.auditPage)))
	d.mux.HandleFunc("GET /dash/users", d.metrics.wrap("users", d.authed(adminOnly, d.usersPage)))
	d.mux.HandleFunc("POST /dash/users", d.metrics.wrap("users", d.authed(adminOnly, d.userAdd)))
	d.mux.HandleFunc("POST /dash/users/{name}", d.metrics.wrap("users", d.authed(adminOnly, d.userUpdate)))
	d.mux.HandleFunc("GET /dash/events", d.metrics.wrap("events", d.authed(anyRole, d.events)))
	d.mux.HandleFunc("/dash/", d.metrics.wrap("not_found", d.authed(anyRole, func(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
		d.fail(w, r, rc, casecore.ErrNotFound)
	})))
}

// Role sets for authed.
var (
	anyRole   = []casecore.Role{casecore.RoleAdmin, casecore.RoleHandler, casecore.RoleSupervisor}
	actors    = []casecore.Role{casecore.RoleAdmin, casecore.RoleHandler}
	readers   = []casecore.Role{casecore.RoleAdmin, casecore.RoleSupervisor}
	adminOnly = []casecore.Role{casecore.RoleAdmin}
)

// reqCtx is the logged-in request.
type reqCtx struct {
	user  *User
	sess  *Session
	actor casecore.Actor
}

// authed wraps a page: a session of an enabled account with one of roles is
// required, and every POST must carry the session's CSRF token.
func (d *Dashboard) authed(roles []casecore.Role, h func(http.ResponseWriter, *http.Request, *reqCtx)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		rc, err := d.session(r)
		if err != nil {
			if !errors.Is(err, errNoSession) {
				d.log.Error("session", "err", err)
				http.Error(w, "服务暂不可用", http.StatusServiceUnavailable)
				return
			}
			if r.Method == http.MethodGet && r.URL.Path != "/dash/events" {
				http.Redirect(w, r, "/dash/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "请先登录", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			if !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(rc.sess.CSRF)) != 1 {
				d.log.Warn("csrf check failed", "user", rc.user.Name, "path", r.URL.Path)
				w.WriteHeader(http.StatusForbidden)
				d.render(w, r, rc, "error", "请求无效", map[string]any{"Message": "表单已失效（CSRF 校验未通过），请返回并刷新页面后重试。"})
				return
			}
		}
		for _, role := range roles {
			if rc.user.Role == role {
				h(w, r, rc)
				return
			}
		}
		d.fail(w, r, rc, casecore.ErrForbidden)
	}
}

// sameOrigin refuses a POST whose Origin header names another site (a
// second line behind the CSRF token); browsers that send none pass.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func (d *Dashboard) session(r *http.Request) (*reqCtx, error) {
	c, err := r.Cookie(d.cookie)
	if err != nil {
		return nil, errNoSession
	}
	sess, err := d.Sessions.Get(r.Context(), c.Value)
	if err != nil {
		return nil, err
	}
	u, err := d.Accounts.Get(r.Context(), sess.User)
	if errors.Is(err, ErrUserNotFound) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, errNoSession
	}
	return &reqCtx{user: u, sess: sess, actor: u.Actor()}, nil
}

// fail renders an error page for err, with the status it means.
func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, rc *reqCtx, err error) {
	status, msg := errorStatus(err)
	if status == http.StatusInternalServerError {
		d.log.Error("dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	w.WriteHeader(status)
	d.render(w, r, rc, "error", "出错了", map[string]any{"Message": msg, "Status": status})
}

func errorStatus(err error) (int, string) {
	var ve *casecore.ValidationError
	switch {
	case errors.As(err, &ve):
		return http.StatusBadRequest, "输入有误：" + fieldZh(ve.Field) + "（" + ve.Message + "）"
	case errors.Is(err, casecore.ErrNotFound), errors.Is(err, ErrUserNotFound):
		return http.StatusNotFound, "未找到，或您无权查看。"
	case errors.Is(err, casecore.ErrForbidden):
		return http.StatusForbidden, "您的角色无权进行此操作。"
	case errors.Is(err, casecore.ErrConflict):
		return http.StatusConflict, "案件已被他人更新，请刷新后重试。"
	case errors.Is(err, casecore.ErrState):
		return http.StatusConflict, "案件当前状态不允许此操作，请刷新后查看。"
	case errors.Is(err, ErrUserExists):
		return http.StatusConflict, "账号已存在。"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "请求超时，请重试。"
	}
	return http.StatusInternalServerError, "系统错误，请稍后重试。"
}

func fieldZh(f string) string {
	return zhOr(map[string]string{"note": "备注", "reason": "理由", "password": "密码", "name": "账号",
		"units": "单位", "role": "角色", "from": "开始日期", "to": "结束日期", "display_name": "姓名", "action": "操作"}, f, f)
}

// view is what every page template receives.
type view struct {
	Title   string
	Page    string
	User    *User
	CSRF    string
	Flash   string
	Data    map[string]any
	Now     time.Time
	Live    bool
	Counts  map[string]int
	IsAdmin bool
	CanRead bool // administrator or supervisor
}

func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, rc *reqCtx, page, title string, data map[string]any) {
	t, ok := d.pages[page]
	if !ok {
		http.Error(w, "no template "+page, http.StatusInternalServerError)
		return
	}
	v := view{Title: title, Page: page, Data: data, Now: d.svc.Now(), Flash: flashText(r.URL.Query().Get("done"))}
	if rc != nil {
		v.User, v.CSRF = rc.user, rc.sess.CSRF
		v.IsAdmin = rc.user.Role == casecore.RoleAdmin
		v.CanRead = v.IsAdmin || rc.user.Role == casecore.RoleSupervisor
	}
	if live, _ := data["Live"].(bool); live {
		v.Live = true
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := t.ExecuteTemplate(w, "layout", v); err != nil {
		d.log.Error("render", "page", page, "err", err)
	}
}

func flashText(done string) string {
	if done == "" {
		return ""
	}
	if a, ok := actionZh[casecore.Action(done)]; ok {
		return "已完成：" + a
	}
	return zhOr(map[string]string{"approve": "文字评价已通过审核", "reject": "文字评价已驳回（报表中隐藏）",
		"user_added": "账号已创建", "user_updated": "账号已更新"}, done, "")
}

func (d *Dashboard) parseTemplates() error {
	funcs := d.funcs()
	base, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return fmt.Errorf("dashboard templates: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	d.pages = map[string]*template.Template{}
	for _, n := range names {
		page := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if page == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return fmt.Errorf("dashboard template %s: %w", n, err)
		}
		d.pages[page] = t
	}
	return nil
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
