package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/casecore/redisstore"
	"github.com/haochaping/haochaping/internal/clock"
	"github.com/haochaping/haochaping/internal/redistest"
	"github.com/haochaping/haochaping/internal/syncbuf"
	"github.com/haochaping/haochaping/internal/web"
)

// The bearer tokens of the test server, one per kind of client.
const (
	adminTok    = "test-admin-token"
	intakeTok   = "test-intake-token"
	handlerTok  = "test-handler-g08" // handler of fh-g08
	handler2Tok = "test-handler-g09" // handler of fh-g09 and fh-t01
	superTok    = "test-super-token"
)

// The rater numbers the tests submit; no response body may carry them in clear.
const (
	phone1 = "13800138001"
	phone2 = "13912345678"
)

// env is a web.Server over a casecore.Service on its own real redis-server,
// with a fake clock and its own Prometheus registry.
type env struct {
	t     *testing.T
	ctx   context.Context
	clk   *clock.Fake
	redis *redistest.Server
	rdb   *redis.Client
	store *redisstore.Store
	svc   *casecore.Service
	reg   *prometheus.Registry
	srv   *web.Server
	logs  *syncbuf.Buffer
}

// testUnits is a small directory: two groups, three units.
func testUnits(t *testing.T) *casecore.Directory {
	t.Helper()
	d := &casecore.Directory{
		Groups: []casecore.UnitGroup{{ID: "government", Name: "政府部门"}, {ID: "town", Name: "镇和街道"}},
		Units: []casecore.Unit{
			{ID: "fh-g08", Name: "区司法局", Group: "government", Level: "district",
				Posts: []casecore.Post{{ID: "window", Name: "窗口"}},
				Staff: []casecore.Staff{{ID: "s-007", Name: "李四", Posts: []string{"window"}}}},
			{ID: "fh-g09", Name: "区财政局", Group: "government", Level: "district"},
			{ID: "fh-t01", Name: "锦屏街道", Group: "town", Level: "town"},
		},
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	return d
}

func tokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// newEnv builds the server with the clock at start ("2006-01-02 15:04", Asia/Shanghai).
func newEnv(t *testing.T, start string) *env {
	t.Helper()
	now, err := time.ParseInLocation("2006-01-02 15:04", start, casecore.Shanghai)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: context.Background(), clk: clock.NewFake(now), reg: prometheus.NewRegistry(), logs: &syncbuf.Buffer{}}
	e.redis = redistest.Start(t)
	// No retries: the tests that stop Redis need its failures fast.
	e.rdb = redis.NewClient(&redis.Options{Addr: e.redis.Addr, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { e.rdb.Close() })
	e.store = redisstore.New(e.rdb, redisstore.Config{Namespace: "webtest"})
	cal, err := casecore.DefaultCalendar()
	if err != nil {
		t.Fatal(err)
	}
	units := testUnits(t)
	e.svc, err = casecore.NewService(e.ctx, casecore.Params{Store: e.store, Calendar: cal, Clock: e.clk,
		Metrics: casecore.NewMetrics(e.reg)}, casecore.Config{Units: units.IDs()})
	if err != nil {
		t.Fatal(err)
	}
	auth := web.NewAuth()
	for tok, actor := range map[string]casecore.Actor{
		adminTok:    {ID: "admin-token", Role: casecore.RoleAdmin},
		intakeTok:   {ID: "token:intake", Role: casecore.RoleIntake},
		handlerTok:  {ID: "token:h-g08", Role: casecore.RoleHandler, Units: []string{"fh-g08"}},
		handler2Tok: {ID: "token:h-g09", Role: casecore.RoleHandler, Units: []string{"fh-g09", "fh-t01"}},
		superTok:    {ID: "token:sup", Role: casecore.RoleSupervisor},
	} {
		if err := auth.AddToken(tokenHash(tok), actor); err != nil {
			t.Fatal(err)
		}
	}
	e.srv = web.New(web.Params{Service: e.svc, Units: units, Auth: auth,
		Logger:   slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Gatherer: e.reg, Registry: e.reg,
		Readiness: func(ctx context.Context) error { return e.store.Ping(ctx) }})
	return e
}

// at moves the clock to s ("2006-01-02 15:04", Asia/Shanghai).
func (e *env) at(s string) {
	e.t.Helper()
	now, err := time.ParseInLocation("2006-01-02 15:04", s, casecore.Shanghai)
	if err != nil {
		e.t.Fatal(err)
	}
	e.clk.Set(now)
}

// fire runs the deadline worker until nothing more is due.
func (e *env) fire() {
	e.t.Helper()
	for {
		n, err := e.svc.FireDue(e.ctx, 100)
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// response is a recorded response.
type response struct {
	code   int
	header http.Header
	body   string
}

// json decodes the body into a generic value.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %q", err, r.body)
	}
	return m
}

// request is a request to send with env.send.
type request struct {
	method, path, token string
	body                string            // sent as is; "" sends no body
	header              map[string]string // overrides, e.g. Content-Type or Authorization
}

// send serves req and checks, for every response, that no rater number
// appears in clear and that errors are JSON.
func (e *env) send(req request) response {
	e.t.Helper()
	var rd io.Reader
	if req.body != "" {
		rd = strings.NewReader(req.body)
	}
	r := httptest.NewRequest(req.method, req.path, rd)
	if req.token != "" {
		r.Header.Set("Authorization", "Bearer "+req.token)
	}
	if req.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range req.header {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	resp := response{code: w.Code, header: w.Header(), body: w.Body.String()}
	for _, p := range []string{phone1, phone2} {
		if strings.Contains(resp.body, p) {
			e.t.Errorf("%s %s: rater number %s in clear in the response: %s", req.method, req.path, p, resp.body)
		}
	}
	if got := resp.header.Get("X-Content-Type-Options"); got != "nosniff" {
		e.t.Errorf("%s %s: X-Content-Type-Options %q, want nosniff", req.method, req.path, got)
	}
	return resp
}

// do sends a request with a JSON body (nil: none) and the token.
func (e *env) do(method, path, token string, body any) response {
	e.t.Helper()
	req := request{method: method, path: path, token: token}
	switch b := body.(type) {
	case nil:
	case string:
		req.body = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		req.body = string(j)
	}
	return e.send(req)
}

// rating is a valid rating submission; mod changes it.
func rating(key, level string, mod func(map[string]any)) map[string]any {
	m := map[string]any{"idempotency_key": key, "channel": "hotline_ivr", "level": level,
		"work_order_id": "WO-" + key, "unit_id": "fh-g08", "staff_id": "s-007", "rater_phone": phone1}
	if mod != nil {
		mod(m)
	}
	return m
}

// post submits a rating as intake and returns the new rating and case IDs.
func (e *env) post(body map[string]any) (id, caseID string) {
	e.t.Helper()
	r := e.do("POST", "/api/v1/ratings", intakeTok, body)
	if r.code != http.StatusCreated {
		e.t.Fatalf("post rating: %d %s", r.code, r.body)
	}
	m := r.json(e.t)
	id, _ = m["id"].(string)
	caseID, _ = m["case_id"].(string)
	return id, caseID
}

// act takes an action on a case and fails the test unless it answers 200.
func (e *env) act(token, caseID, action string, body any) map[string]any {
	e.t.Helper()
	r := e.do("POST", "/api/v1/cases/"+caseID+"/"+action, token, body)
	if r.code != http.StatusOK {
		e.t.Fatalf("%s %s: %d %s", action, caseID, r.code, r.body)
	}
	return r.json(e.t)
}

// wantError checks an error response: status, JSON content type and the
// exact error object (field "" means the field is absent).
func wantError(t *testing.T, r response, status int, code, message, field string) {
	t.Helper()
	if r.code != status {
		t.Errorf("status %d, want %d; body %s", r.code, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q, want application/json; charset=utf-8", ct)
	}
	want := map[string]any{"code": code, "message": message}
	if field != "" {
		want["field"] = field
	}
	var got struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatalf("error body is not JSON: %v: %q", err, r.body)
	}
	if !reflect.DeepEqual(got.Error, want) {
		t.Errorf("error body\n got %s\nwant {\"error\":%s}", strings.TrimSpace(r.body), mustJSON(want))
	}
}

// wantBody checks a status and an exact JSON body.
func wantBody(t *testing.T, r response, status int, body string) {
	t.Helper()
	if r.code != status {
		t.Errorf("status %d, want %d; body %s", r.code, status, r.body)
	}
	var got, want any
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatalf("body is not JSON: %v: %q", err, r.body)
	}
	if err := json.Unmarshal([]byte(body), &want); err != nil {
		t.Fatalf("bad wanted body %q: %v", body, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body\n got %s\nwant %s", strings.TrimSpace(r.body), body)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
