package dashboard

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/casecore/redisstore"
	"github.com/haochaping/haochaping/configs"
	"github.com/haochaping/haochaping/internal/config"
	"github.com/haochaping/haochaping/internal/redistest"
)

const ns = "dt"

// env is a dashboard on a real redis-server, served by httptest.
type env struct {
	t   *testing.T
	d   *Dashboard
	svc *casecore.Service
	rdb *redis.Client
	srv *httptest.Server
	n   int
}

type envOpt func(*Params, *Config)

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	rs := redistest.Start(t)
	rdb := rs.Client(t)
	return newEnvOn(t, rdb, opts...)
}

func newEnvOn(t *testing.T, rdb *redis.Client, opts ...envOpt) *env {
	t.Helper()
	ctx := context.Background()
	units, err := config.ParseUnits(configs.Units)
	if err != nil {
		t.Fatal(err)
	}
	cal, err := casecore.DefaultCalendar()
	if err != nil {
		t.Fatal(err)
	}
	store := redisstore.New(rdb, redisstore.Config{Namespace: ns, EventsMaxLen: 100000})
	svc, err := casecore.NewService(ctx, casecore.Params{Store: store, Calendar: cal}, casecore.Config{Units: units.IDs()})
	if err != nil {
		t.Fatal(err)
	}
	p := Params{Service: svc, Units: units, Redis: rdb, Namespace: ns, Stream: redisstore.Events(ns),
		Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()}
	cfg := Config{}
	for _, o := range opts {
		o(&p, &cfg)
	}
	d, err := New(p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.Run(runCtx); close(done) }()
	srv := httptest.NewServer(d)
	t.Cleanup(func() {
		cancel()
		srv.CloseClientConnections()
		srv.Close()
		<-done
	})
	e := &env{t: t, d: d, svc: svc, rdb: rdb, srv: srv}
	for _, u := range []NewUser{
		{Name: "admin", Role: casecore.RoleAdmin, Password: "admin-password"},
		{Name: "h-g08", Role: casecore.RoleHandler, Units: []string{"fh-g08"}, Password: "handler-password"},
		{Name: "h-t01", Role: casecore.RoleHandler, Units: []string{"fh-t01"}, Password: "handler-password"},
		{Name: "sup", Role: casecore.RoleSupervisor, Password: "super-password"},
	} {
		if _, err := d.Accounts.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

var passwords = map[string]string{"admin": "admin-password", "h-g08": "handler-password", "h-t01": "handler-password", "sup": "super-password"}

// rate submits a rating and returns it.
func (e *env) rate(unit string, level casecore.Level, comment string) *casecore.Rating {
	e.t.Helper()
	e.n++
	r, _, err := e.svc.SubmitRating(context.Background(), casecore.Actor{ID: "test", Role: casecore.RoleIntake}, casecore.RatingInput{
		IdempotencyKey: fmt.Sprintf("k%d-%d", e.n, time.Now().UnixNano()), Channel: casecore.ChannelHotlineIVR, Level: level,
		WorkOrderID: fmt.Sprintf("WO-%d", e.n), UnitID: unit, StaffID: "s1", RaterPhone: "13800138001", RaterName: "张三", Comment: comment})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

var (
	admin   = casecore.Actor{ID: "admin", Role: casecore.RoleAdmin}
	handler = func(unit string) casecore.Actor {
		return casecore.Actor{ID: "h", Role: casecore.RoleHandler, Units: []string{unit}}
	}
)

// caseIn returns a case of unit moved (through the Service) into state s.
func (e *env) caseIn(unit string, s casecore.State) *casecore.Case {
	e.t.Helper()
	ctx := context.Background()
	r := e.rate(unit, casecore.VeryDissatisfied, "")
	h := handler(unit)
	act := func(a casecore.Actor, act casecore.Action, in casecore.ActionInput) {
		if _, err := e.svc.Act(ctx, a, r.CaseID, act, in); err != nil {
			e.t.Fatalf("%s: %v", act, err)
		}
	}
	switch s {
	case casecore.StateOpen:
	case casecore.StateCalledBack:
		act(h, casecore.ActionCallback, casecore.ActionInput{Note: "called"})
	case casecore.StateAppealed:
		act(h, casecore.ActionAppeal, casecore.ActionInput{Note: "wrong key", Reason: casecore.AppealMistaken})
	case casecore.StateRectifying:
		act(h, casecore.ActionAccept, casecore.ActionInput{Note: "ok"})
	case casecore.StateFollowupPending, casecore.StateRereview:
		act(h, casecore.ActionAccept, casecore.ActionInput{Note: "ok"})
		act(h, casecore.ActionRectify, casecore.ActionInput{Note: "fixed"})
		if s == casecore.StateRereview {
			e.n++
			_, _, err := e.svc.SubmitRating(ctx, casecore.Actor{ID: "test", Role: casecore.RoleIntake}, casecore.RatingInput{
				IdempotencyKey: fmt.Sprintf("fu%d", e.n), Channel: casecore.ChannelHotlineSMS, Level: casecore.Dissatisfied, FollowupOf: r.CaseID})
			if err != nil {
				e.t.Fatal(err)
			}
		}
	default:
		e.t.Fatalf("caseIn %s", s)
	}
	c, err := e.svc.GetCase(ctx, admin, r.CaseID)
	if err != nil || c.State != s {
		e.t.Fatalf("case in %s: %v %v", s, c, err)
	}
	return c
}

// browser is a client with a cookie jar.
type browser struct {
	e    *env
	c    *http.Client
	csrf string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) get(path string) (int, string, http.Header) {
	b.e.t.Helper()
	resp, err := b.c.Get(b.e.srv.URL + path)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := csrfRE.FindSubmatch(body); m != nil && !strings.HasPrefix(path, "/dash/login") {
		b.csrf = string(m[1])
	}
	return resp.StatusCode, string(body), resp.Header
}

func (b *browser) post(path string, form url.Values) (int, string, http.Header) {
	b.e.t.Helper()
	resp, err := b.c.PostForm(b.e.srv.URL+path, form)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

// postCSRF posts with the session's CSRF token.
func (b *browser) postCSRF(path string, form url.Values) (int, string, http.Header) {
	b.e.t.Helper()
	if b.csrf == "" {
		b.get("/dash/")
	}
	form.Set("csrf", b.csrf)
	return b.post(path, form)
}

func (b *browser) tryLogin(name, pw string) (int, string) {
	b.e.t.Helper()
	_, body, _ := b.get("/dash/login")
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		b.e.t.Fatalf("login page without csrf: %s", body)
	}
	code, body, _ := b.post("/dash/login", url.Values{"csrf": {m[1]}, "username": {name}, "password": {pw}})
	return code, body
}

func (e *env) login(name string) *browser {
	e.t.Helper()
	b := e.browser()
	if code, body := b.tryLogin(name, passwords[name]); code != http.StatusSeeOther {
		e.t.Fatalf("login %s: %d %s", name, code, body)
	}
	b.get("/dash/")
	return b
}

func TestPagesAndSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	c := e.caseIn("fh-g08", casecore.StateAppealed)
	e.rate("fh-t01", casecore.Satisfied, "服务很好")
	adminB := e.login("admin")
	pages := []string{"/dash/", "/dash/cases", "/dash/cases?state=appealed&unit=fh-g08&overdue=1&channel=hotline_ivr&staff=s1&from=2020-01-01&to=2030-01-01",
		"/dash/cases/" + c.ID, "/dash/queues/appeals", "/dash/queues/texts", "/dash/queues/rereview", "/dash/queues/overdue",
		"/dash/referrals", "/dash/reports", "/dash/ops", "/dash/audit", "/dash/users", "/dash/login"}
	for _, p := range pages {
		code, body, h := adminB.get(p)
		if p == "/dash/login" {
			if code != http.StatusSeeOther {
				t.Errorf("%s when logged in: %d, want a redirect", p, code)
			}
			continue
		}
		if code != 200 {
			t.Errorf("%s: %d", p, code)
		}
		if !strings.Contains(body, "好差评处置平台") || strings.Contains(body, "<no value>") {
			t.Errorf("%s: page not rendered fully", p)
		}
		if strings.Contains(body, "13800138001") || strings.Contains(body, "张三") {
			t.Errorf("%s: rater in clear", p)
		}
		for k, want := range map[string]string{"Content-Security-Policy": "default-src 'self'", "X-Frame-Options": "DENY",
			"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"} {
			if !strings.Contains(h.Get(k), want) {
				t.Errorf("%s: %s = %q", p, k, h.Get(k))
			}
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, "onclick") {
			t.Errorf("%s: inline script or style breaks the CSP", p)
		}
	}
	// Static files are embedded.
	for _, p := range []string{"/dash/static/dash.css", "/dash/static/dash.js"} {
		if code, body, _ := adminB.get(p); code != 200 || len(body) < 100 {
			t.Errorf("%s: %d", p, code)
		}
	}
	// Not logged in: pages redirect to the login, posts and events are refused.
	anon := e.browser()
	if code, _, h := anon.get("/dash/cases"); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/dash/login?next=") {
		t.Errorf("anonymous page: %d %s", code, h.Get("Location"))
	}
	if code, _, _ := anon.get("/dash/events"); code != http.StatusUnauthorized {
		t.Errorf("anonymous events: %d", code)
	}
	if code, _, _ := anon.post("/dash/cases/"+c.ID+"/act", url.Values{"action": {"uphold"}, "note": {"x"}}); code != http.StatusUnauthorized {
		t.Errorf("anonymous action: %d", code)
	}
	// The handler sees only the unit's pages.
	hb := e.login("h-t01")
	for p, want := range map[string]int{"/dash/cases/" + c.ID: 404, "/dash/cases?unit=fh-g08": 404, "/dash/queues/texts": 403,
		"/dash/ops": 403, "/dash/audit": 403, "/dash/users": 403, "/dash/referrals": 403, "/dash/reports?unit=fh-g08": 404,
		"/dash/export/ratings.csv?unit=fh-g08": 404, "/dash/": 200, "/dash/reports": 200, "/dash/queues/appeals": 200} {
		if code, _, _ := hb.get(p); code != want {
			t.Errorf("handler of fh-t01 %s: %d, want %d", p, code, want)
		}
	}
	if _, body, _ := hb.get("/dash/queues/appeals"); strings.Contains(body, c.ID) {
		t.Error("handler of fh-t01 sees a case of fh-g08 in the appeal queue")
	}
	sb := e.login("sup")
	for p, want := range map[string]int{"/dash/ops": 200, "/dash/queues/texts": 200, "/dash/audit": 403, "/dash/users": 403, "/dash/cases/" + c.ID: 200} {
		if code, _, _ := sb.get(p); code != want {
			t.Errorf("supervisor %s: %d, want %d", p, code, want)
		}
	}
}

func TestCSRFRefused(t *testing.T) {
	e := newEnv(t)
	c := e.caseIn("fh-g08", casecore.StateOpen)
	b := e.login("h-g08")
	form := url.Values{"action": {"callback"}, "note": {"called"}}
	if code, _, _ := b.post("/dash/cases/"+c.ID+"/act", form); code != http.StatusForbidden {
		t.Errorf("action without CSRF token: %d, want 403", code)
	}
	form.Set("csrf", "forged-token")
	if code, _, _ := b.post("/dash/cases/"+c.ID+"/act", form); code != http.StatusForbidden {
		t.Errorf("action with a forged CSRF token: %d, want 403", code)
	}
	// Another session's token does not work either.
	other := e.login("h-g08")
	form.Set("csrf", other.csrf)
	if code, _, _ := b.post("/dash/cases/"+c.ID+"/act", form); code != http.StatusForbidden {
		t.Errorf("action with another session's token: %d, want 403", code)
	}
	// A cross-site Origin is refused even with the token.
	req, _ := http.NewRequest("POST", e.srv.URL+"/dash/cases/"+c.ID+"/act", strings.NewReader(url.Values{"csrf": {b.csrf}, "action": {"callback"}, "note": {"x"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := b.c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin post: %v %v", resp.StatusCode, err)
	}
	if got, _ := e.svc.GetCase(context.Background(), admin, c.ID); got.State != casecore.StateOpen {
		t.Fatalf("a refused post changed the case: %s", got.State)
	}
	// Login needs its own token too.
	anon := e.browser()
	if code, _, _ := anon.post("/dash/login", url.Values{"username": {"admin"}, "password": {"admin-password"}}); code != http.StatusForbidden {
		t.Errorf("login without token: %d", code)
	}
	// With the token the action works.
	if code, _, h := b.postCSRF("/dash/cases/"+c.ID+"/act", url.Values{"action": {"callback"}, "note": {"called"}}); code != http.StatusSeeOther {
		t.Errorf("action with token: %d %v", code, h)
	}
}

// TestRolesActionsUnits tries every action as every role on a case of its
// own unit and of another in the state the action needs: exactly the pairs
// the workflow allows succeed; every other is refused and changes nothing.
func TestRolesActionsUnits(t *testing.T) {
	e := newEnv(t)
	from := map[casecore.Action]casecore.State{
		casecore.ActionCallback: casecore.StateOpen, casecore.ActionAppeal: casecore.StateCalledBack,
		casecore.ActionAccept: casecore.StateOpen, casecore.ActionUphold: casecore.StateAppealed,
		casecore.ActionReject: casecore.StateAppealed, casecore.ActionRectify: casecore.StateRectifying,
		casecore.ActionRereviewPass: casecore.StateRereview, casecore.ActionRereviewFail: casecore.StateRereview,
		casecore.ActionNote: casecore.StateRectifying,
	}
	browsers := map[string]*browser{}
	for n := range passwords {
		browsers[n] = e.login(n)
	}
	actors := map[string]casecore.Actor{"admin": admin, "h-g08": handler("fh-g08"), "h-t01": handler("fh-t01"), "sup": {ID: "sup", Role: casecore.RoleSupervisor}}
	for _, a := range casecore.UserActions {
		for _, who := range []string{"admin", "h-g08", "h-t01", "sup"} {
			// Also the action in a state that does not allow it.
			for _, st := range []casecore.State{from[a], casecore.StateClosed} {
				if st == casecore.StateClosed && a == casecore.ActionNote {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/%s", a, who, st), func(t *testing.T) {
					var c *casecore.Case
					if st == casecore.StateClosed {
						c = e.caseIn("fh-g08", casecore.StateAppealed)
						if _, err := e.svc.Act(context.Background(), admin, c.ID, casecore.ActionUphold, casecore.ActionInput{Note: "x"}); err != nil {
							t.Fatal(err)
						}
						c, _ = e.svc.GetCase(context.Background(), admin, c.ID)
						st = c.State
					} else {
						c = e.caseIn("fh-g08", st)
					}
					actor := actors[who]
					allowed := casecore.Allowed(a, actor.Role, st) && actor.CanSeeUnit(c.UnitID)
					// The page offers exactly the allowed actions.
					_, body, _ := browsers[who].get("/dash/cases/" + c.ID)
					if offered := strings.Contains(body, `data-action="`+string(a)+`"`); offered != allowed {
						t.Errorf("page offers %s: %v, allowed %v", a, offered, allowed)
					}
					code, _, _ := browsers[who].postCSRF("/dash/cases/"+c.ID+"/act", url.Values{"action": {string(a)},
						"note": {"note"}, "reason": {casecore.AppealMistaken}, "version": {fmt.Sprint(c.Version)}})
					after, _ := e.svc.GetCase(context.Background(), admin, c.ID)
					if allowed {
						if code != http.StatusSeeOther || after.Version == c.Version {
							t.Errorf("allowed: %d, version %d -> %d", code, c.Version, after.Version)
						}
						return
					}
					if code < 400 || after.Version != c.Version {
						t.Errorf("forbidden pair: %d, version %d -> %d", code, c.Version, after.Version)
					}
					if who == "h-t01" && code != http.StatusNotFound {
						t.Errorf("another unit's case: %d, want 404", code)
					}
				})
			}
		}
	}
}

func TestLoginRateLimitAndLockout(t *testing.T) {
	t.Run("lockout", func(t *testing.T) {
		e := newEnv(t, func(_ *Params, c *Config) { c.LockoutFailures, c.LockoutDuration, c.LoginRate = 3, time.Minute, 100 })
		b := e.browser()
		for i := 0; i < 3; i++ {
			if code, body := b.tryLogin("admin", "wrong-password"); code != http.StatusUnauthorized || !strings.Contains(body, "用户名或密码错误") {
				t.Fatalf("attempt %d: %d", i, code)
			}
		}
		code, body := b.tryLogin("admin", "admin-password")
		if code != http.StatusTooManyRequests || !strings.Contains(body, "锁定") {
			t.Fatalf("right password on a locked account: %d", code)
		}
		// Another account from the same browser is not locked.
		if code, _ := e.browser().tryLogin("sup", "super-password"); code != http.StatusSeeOther {
			t.Errorf("other account: %d", code)
		}
		es, _ := e.d.Audit.List(context.Background(), AuditLocked, 10)
		if len(es) != 1 || es[0].Actor != "admin" {
			t.Errorf("lock-out not audited: %v", es)
		}
		// The administrator's password reset lifts it.
		if err := e.d.Accounts.SetPassword(context.Background(), "admin", "admin-password"); err != nil {
			t.Fatal(err)
		}
		e.d.Limiter.Unlock(context.Background(), "admin")
		if code, _ := b.tryLogin("admin", "admin-password"); code != http.StatusSeeOther {
			t.Errorf("after unlock: %d", code)
		}
		// An unknown account answers like a wrong password.
		if code, _ := e.browser().tryLogin("nobody", "whatever-pass"); code != http.StatusUnauthorized {
			t.Errorf("unknown account: %d", code)
		}
	})
	t.Run("rate", func(t *testing.T) {
		e := newEnv(t, func(_ *Params, c *Config) { c.LoginRate, c.LockoutFailures = 3, 100 })
		b := e.browser()
		for i := 0; i < 3; i++ {
			b.tryLogin(fmt.Sprint("user", i), "wrong-password") // per IP: three names, one IP
		}
		if code, _ := b.tryLogin("admin", "admin-password"); code != http.StatusTooManyRequests {
			t.Errorf("fourth attempt from one IP in a minute: %d, want 429", code)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		e := newEnv(t)
		b := e.login("h-g08")
		if err := e.d.Accounts.SetDisabled(context.Background(), "h-g08", true); err != nil {
			t.Fatal(err)
		}
		if code, _, _ := b.get("/dash/"); code != http.StatusSeeOther {
			t.Errorf("session of a disabled account: %d", code)
		}
		if code, _ := e.browser().tryLogin("h-g08", "handler-password"); code != http.StatusUnauthorized {
			t.Errorf("login of a disabled account: %d", code)
		}
	})
	t.Run("logout", func(t *testing.T) {
		e := newEnv(t)
		b := e.login("admin")
		if code, _, _ := b.postCSRF("/dash/logout", url.Values{}); code != http.StatusSeeOther {
			t.Errorf("logout: %d", code)
		}
		if code, _, _ := b.get("/dash/"); code != http.StatusSeeOther {
			t.Errorf("after logout: %d", code)
		}
	})
}

func TestRevealAudited(t *testing.T) {
	e := newEnv(t)
	c := e.caseIn("fh-g08", casecore.StateOpen)
	hb := e.login("h-g08")
	_, page, _ := hb.get("/dash/cases/" + c.ID)
	if strings.Contains(page, "13800138001") || !strings.Contains(page, "138****8001") || !strings.Contains(page, "查看号码") {
		t.Fatal("case page: want the masked number and the reveal button only")
	}
	if code, body, _ := hb.postCSRF("/dash/cases/"+c.ID+"/reveal", url.Values{}); code != http.StatusBadRequest || strings.Contains(body, "13800138001") {
		t.Errorf("reveal without a reason: %d", code)
	}
	code, body, h := hb.postCSRF("/dash/cases/"+c.ID+"/reveal", url.Values{"reason": {"差评回访"}, "detail": {"回访核实"}})
	if code != 200 || !strings.Contains(body, "13800138001") || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("reveal: %d", code)
	}
	if strings.Contains(body, `data-live="1"`) {
		t.Error("the reveal response reloads itself")
	}
	es, err := e.d.Audit.List(context.Background(), AuditReveal, 10)
	if err != nil || len(es) != 1 || es[0].Actor != "h-g08" || es[0].Case != c.ID || es[0].Rating != c.RatingID || es[0].Reason != "差评回访：回访核实" {
		t.Fatalf("audit: %+v %v", es, err)
	}
	// Shown once: the page after it is masked again.
	if _, page, _ := hb.get("/dash/cases/" + c.ID); strings.Contains(page, "13800138001") {
		t.Error("number shown again after the reveal")
	}
	// The audit page shows the reveal without the number.
	ab := e.login("admin")
	_, audit, _ := ab.get("/dash/audit?kind=reveal")
	if !strings.Contains(audit, c.ID) || strings.Contains(audit, "13800138001") {
		t.Error("audit page")
	}
	// Supervisors (read only) and other units may not reveal.
	if code, body, _ := e.login("sup").postCSRF("/dash/cases/"+c.ID+"/reveal", url.Values{"reason": {"核实评价"}}); code != 403 || strings.Contains(body, "13800138001") {
		t.Errorf("supervisor reveal: %d", code)
	}
	if code, body, _ := e.login("h-t01").postCSRF("/dash/cases/"+c.ID+"/reveal", url.Values{"reason": {"核实评价"}}); code != 404 || strings.Contains(body, "13800138001") {
		t.Errorf("other unit reveal: %d", code)
	}
	if es, _ := e.d.Audit.List(context.Background(), AuditReveal, 10); len(es) != 1 {
		t.Errorf("refused reveals audited as reveals: %d", len(es))
	}
}

func TestTextReviewQueue(t *testing.T) {
	e := newEnv(t)
	good := e.rate("fh-t01", casecore.Satisfied, "窗口人员很耐心")
	bad := e.rate("fh-g08", casecore.VeryDissatisfied, "骂人的话")
	ab := e.login("admin")
	// Queued in the same step as the rating: no reader to wait for.
	if _, body, _ := ab.get("/dash/queues/texts"); !strings.Contains(body, good.ID) || !strings.Contains(body, bad.ID) {
		t.Errorf("text queue lacks the new comments: %s", body)
	}
	if code, _, _ := e.login("sup").postCSRF("/dash/ratings/"+good.ID+"/review", url.Values{"decision": {"approve"}}); code != 403 {
		t.Errorf("supervisor reviews: %d", code)
	}
	if code, _, _ := ab.postCSRF("/dash/ratings/"+good.ID+"/review", url.Values{"decision": {"approve"}}); code != http.StatusSeeOther {
		t.Errorf("approve: %d", code)
	}
	if code, _, _ := ab.postCSRF("/dash/ratings/"+bad.ID+"/review", url.Values{"decision": {"reject"}, "note": {"辱骂"}}); code != http.StatusSeeOther {
		t.Errorf("reject: %d", code)
	}
	_, body, _ := ab.get("/dash/queues/texts")
	if strings.Contains(body, good.ID) || strings.Contains(body, bad.ID) {
		t.Error("reviewed ratings still queued")
	}
	if code, _, _ := ab.postCSRF("/dash/ratings/"+bad.ID+"/review", url.Values{"decision": {"approve"}}); code != http.StatusConflict {
		t.Errorf("second review: %d, want 409", code)
	}
	// The rejected text is withheld in the case page and the export.
	_, page, _ := ab.get("/dash/cases/" + bad.CaseID)
	if strings.Contains(page, "骂人的话") || !strings.Contains(page, "已隐藏") {
		t.Error("rejected text shown on the case page")
	}
	_, csv, h := ab.get("/dash/export/ratings.csv")
	if strings.Contains(csv, "骂人的话") || !strings.Contains(csv, "窗口人员很耐心") || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
		t.Errorf("export: %s", csv)
	}
	// The queue is the case core's, kept in the same step as the review.
	if n, err := e.d.svc.CountTextReviews(context.Background()); err != nil || n != 0 {
		t.Errorf("ratings waiting for text review after both reviewed: %d, %v", n, err)
	}
}

func TestExports(t *testing.T) {
	e := newEnv(t)
	e.caseIn("fh-g08", casecore.StateAppealed)
	e.rate("fh-t01", casecore.Satisfied, "=HYPERLINK(\"x\")")
	ab := e.login("admin")
	_, rep, h := ab.get("/dash/reports.csv")
	if !strings.HasPrefix(rep, "\uFEFF单位编号,单位名称,评价总数,非常满意") || !strings.Contains(h.Get("Content-Disposition"), "attachment") {
		t.Errorf("report CSV: %q", rep[:min(len(rep), 80)])
	}
	if !strings.Contains(rep, "fh-g08,区司法局,1,0,0,0,0,1,") || !strings.Contains(rep, ",合计,2,") {
		t.Errorf("report rows: %s", rep)
	}
	_, exp, _ := ab.get("/dash/export/ratings.csv")
	lines := strings.Split(strings.TrimSpace(exp), "\n")
	if len(lines) != 3 || lines[0] != "\uFEFF办件编号,评价渠道,评价人,评价时间,评价次数,满意度代码,文字评价,行政区划" {
		t.Fatalf("export: %q", exp)
	}
	if !regexp.MustCompile(`^WO-\d+,电话,张\*,\d{8}T\d{6},1,5,,330213$`).MatchString(lines[1]) {
		t.Errorf("export row: %q", lines[1])
	}
	if !strings.Contains(lines[2], `"'=HYPERLINK(""x"")"`) {
		t.Errorf("formula not defused: %q", lines[2])
	}
	if strings.Contains(exp, "13800138001") {
		t.Error("number in the export")
	}
	// A handler exports only the unit's ratings.
	_, hexp, _ := e.login("h-t01").get("/dash/export/ratings.csv")
	if strings.Contains(hexp, "WO-1,") || !strings.Contains(hexp, "HYPERLINK") {
		t.Errorf("handler export: %s", hexp)
	}
	if es, _ := e.d.Audit.List(context.Background(), AuditExport, 10); len(es) != 2 {
		t.Errorf("exports audited: %d", len(es))
	}
	if code, _, _ := ab.get("/dash/export/ratings.csv?from=2020-01-01&to=2026-01-01"); code != 400 {
		t.Errorf("range too long: %d", code)
	}
}

type fakeCalls struct{ calls []CallStatus }

func (f fakeCalls) Snapshot() []CallStatus { return f.calls }

type fakeOutbox struct{}

func (fakeOutbox) Counts(context.Context) (map[string]int64, error) {
	return map[string]int64{"queued": 3, "delivered": 7}, nil
}
func (fakeOutbox) GatewayState() string { return "connected" }

func TestOpsView(t *testing.T) {
	e := newEnv(t)
	e.rate("fh-g08", casecore.Satisfied, "")
	_, body, _ := e.login("admin").get("/dash/ops")
	for _, want := range []string{`id="calls-none"`, `id="outbox-none"`, "正常", "今日每小时"} {
		if !strings.Contains(body, want) {
			t.Errorf("ops without sources lacks %s", want)
		}
	}
	e2 := newEnv(t, func(p *Params, _ *Config) {
		p.Calls = fakeCalls{[]CallStatus{{ID: "call-1", Flow: "rate", Step: "menu", Since: time.Now()}}}
		p.Outbox = fakeOutbox{}
	})
	_, body, _ = e2.login("sup").get("/dash/ops")
	for _, want := range []string{"call-1", "menu", `id="gateway">connected`, "delivered"} {
		if !strings.Contains(body, want) {
			t.Errorf("ops with sources lacks %s", want)
		}
	}
}

func TestUserManagement(t *testing.T) {
	e := newEnv(t)
	ab := e.login("admin")
	code, _, _ := ab.postCSRF("/dash/users", url.Values{"name": {"new-h"}, "role": {"handler"}, "units": {"fh-g08", "fh-t01"},
		"password": {"new-handler-pw"}, "display_name": {"李四"}})
	if code != http.StatusSeeOther {
		t.Fatalf("add: %d", code)
	}
	u, err := e.d.Accounts.Get(context.Background(), "new-h")
	if err != nil || u.Role != casecore.RoleHandler || strings.Join(u.Units, ",") != "fh-g08,fh-t01" {
		t.Fatalf("added: %+v %v", u, err)
	}
	for _, bad := range []url.Values{
		{"name": {"x y"}, "role": {"admin"}, "password": {"long-enough-pw"}},
		{"name": {"h2"}, "role": {"handler"}, "password": {"long-enough-pw"}},
		{"name": {"h3"}, "role": {"handler"}, "units": {"nope"}, "password": {"long-enough-pw"}},
		{"name": {"h4"}, "role": {"admin"}, "password": {"short"}},
		{"name": {"new-h"}, "role": {"admin"}, "password": {"long-enough-pw"}},
	} {
		if code, _, _ := ab.postCSRF("/dash/users", bad); code != 400 && code != 409 {
			t.Errorf("add %v: %d", bad, code)
		}
	}
	passwords["new-h"] = "new-handler-pw"
	nb := e.login("new-h")
	// Units, password, disable.
	if code, _, _ := ab.postCSRF("/dash/users/new-h", url.Values{"op": {"role"}, "role": {"handler"}, "units": {"fh-t01"}}); code != 303 {
		t.Errorf("set units: %d", code)
	}
	if u, _ := e.d.Accounts.Get(context.Background(), "new-h"); strings.Join(u.Units, ",") != "fh-t01" {
		t.Errorf("units now %v", u.Units)
	}
	if code, _, _ := ab.postCSRF("/dash/users/new-h", url.Values{"op": {"password"}, "password": {"another-password"}}); code != 303 {
		t.Errorf("reset: %d", code)
	}
	if code, _, _ := nb.get("/dash/"); code != http.StatusSeeOther {
		t.Error("a password reset did not end the sessions")
	}
	if code, _ := e.browser().tryLogin("new-h", "another-password"); code != http.StatusSeeOther {
		t.Errorf("login with the new password: %d", code)
	}
	if code, _, _ := ab.postCSRF("/dash/users/new-h", url.Values{"op": {"disable"}}); code != 303 {
		t.Errorf("disable: %d", code)
	}
	if code, _ := e.browser().tryLogin("new-h", "another-password"); code != http.StatusUnauthorized {
		t.Errorf("login disabled: %d", code)
	}
	if code, _, _ := ab.postCSRF("/dash/users/admin", url.Values{"op": {"disable"}}); code != 400 {
		t.Errorf("disable oneself: %d", code)
	}
	if code, _, _ := e.login("h-g08").postCSRF("/dash/users", url.Values{"name": {"evil"}, "role": {"admin"}, "password": {"long-enough-pw"}}); code != 403 {
		t.Errorf("handler adds a user: %d", code)
	}
	es, _ := e.d.Audit.List(context.Background(), AuditUser, 20)
	if len(es) != 4 {
		t.Errorf("user changes audited: %d", len(es))
	}
}

// sse reads events from /dash/events as the browser b.
func (b *browser) sse(t *testing.T, ctx context.Context) <-chan string {
	req, _ := http.NewRequestWithContext(ctx, "GET", b.e.srv.URL+"/dash/events", nil)
	resp, err := b.c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("events: %v %v", resp, err)
	}
	out := make(chan string, 100)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "data: ") {
				out <- strings.TrimPrefix(l, "data: ")
			}
		}
		close(out)
	}()
	return out
}

func TestLiveEvents(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := e.login("h-g08").sse(t, ctx)
	a := e.login("admin").sse(t, ctx)
	time.Sleep(300 * time.Millisecond) // let the hub start reading
	other := e.rate("fh-t01", casecore.VeryDissatisfied, "")
	mine := e.rate("fh-g08", casecore.VeryDissatisfied, "")
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < 2 {
		select {
		case s := <-h:
			got = append(got, s)
		case <-timeout:
			t.Fatalf("handler got %v", got)
		}
	}
	all := strings.Join(got, "\n")
	if strings.Contains(all, other.ID) || !strings.Contains(all, mine.CaseID) || strings.Contains(all, "13800138001") {
		t.Errorf("handler events: %s", all)
	}
	var seen []string
	for len(seen) < 4 {
		select {
		case s := <-a:
			seen = append(seen, s)
		case <-timeout:
			t.Fatalf("admin got %v", seen)
		}
	}
	if !strings.Contains(strings.Join(seen, "\n"), other.CaseID) {
		t.Errorf("admin events: %v", seen)
	}
}

func TestShutdownEndsLiveConnections(t *testing.T) {
	rs := redistest.Start(t)
	e := newEnvOn(t, rs.Client(t))
	b := e.login("admin")
	ch := b.sse(t, context.Background())
	e.d.stop()
	select {
	case _, ok := <-ch:
		for ok {
			_, ok = <-ch
		}
	case <-time.After(5 * time.Second):
		t.Fatal("live connection still open after stop")
	}
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatal(h, err)
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct hors": false, "": false} {
		if ok, err := CheckPassword(h, pw); ok != want || err != nil {
			t.Errorf("%q: %v %v", pw, ok, err)
		}
	}
	if _, err := CheckPassword("$2a$10$bcrypt", "x"); err == nil {
		t.Error("non-argon2id hash accepted")
	}
}
