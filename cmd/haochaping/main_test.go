package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haochaping/haochaping/internal/redistest"
	"github.com/haochaping/haochaping/internal/syncbuf"
)

// server is a `haochaping serve` running in-process, as main runs it.
type server struct {
	t      *testing.T
	base   string
	cancel context.CancelFunc
	done   chan error
	stderr *syncbuf.Buffer
}

const (
	adminToken   = "test-admin-token-000"
	intakeToken  = "test-intake-token-00"
	handlerToken = "test-handler-token-0"
	superToken   = "test-super-token-000"
)

// startServe writes a config and runs serve with it; env adds overrides.
func startServe(t *testing.T, redisURL string, extraYAML string, env map[string]string) *server {
	t.Helper()
	return startServeWith(t, redisURL, extraYAML, env, 5*time.Second)
}

// startServeWith is startServe with its own shutdown.timeout.
func startServeWith(t *testing.T, redisURL, extraYAML string, env map[string]string, shutdown time.Duration) *server {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`log: {level: debug}
http: {addr: "127.0.0.1:0"}
redis: {url: %q, namespace: %s}
auth:
  tokens:
    - {name: intake, token: %s, role: intake}
    - {name: h-g08, token: %s, role: handler, units: [fh-g08]}
    - {name: sup, token: %s, role: supervisor}
deadlines: {poll: 50ms}
shutdown: {timeout: %s}
%s`, redisURL, "e2e", intakeToken, handlerToken, superToken, shutdown, extraYAML)
	path := filepath.Join(dir, "haochaping.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "HAOCHAPING_ADMIN_TOKEN" {
			return adminToken
		}
		return env[k]
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &server{t: t, cancel: cancel, done: make(chan error, 1), stderr: &syncbuf.Buffer{}}
	go func() {
		err := run(ctx, []string{"serve", "-config", path}, pw, s.stderr, getenv)
		pw.CloseWithError(fmt.Errorf("serve ended: %v", err))
		s.done <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("serve did not start: %v\n%s", err, s.stderr.String())
	}
	go io.Copy(io.Discard, pr)
	f := strings.Fields(line)
	s.base = "http://" + f[len(f)-1]
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *server) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		s.t.Error("serve did not stop within 15 s")
	}
}

func (s *server) do(method, path, token string, body any) (int, map[string]any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		if raw, ok := body.(string); ok {
			b = []byte(raw)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.base+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &out); err != nil {
			s.t.Fatalf("%s %s: bad JSON %q", method, path, b)
		}
	} else {
		out = map[string]any{"_raw": string(b)}
	}
	return resp.StatusCode, out
}

func TestServeEndToEnd(t *testing.T) {
	rs := redistest.Start(t)
	s := startServe(t, rs.URL, "", nil)

	if code, _ := s.do("GET", "/healthz", "", nil); code != 200 {
		t.Errorf("healthz %d", code)
	}
	if code, _ := s.do("GET", "/readyz", "", nil); code != 200 {
		t.Errorf("readyz %d", code)
	}
	// Authorization.
	rating := map[string]any{"idempotency_key": "ivr-1", "channel": "hotline_ivr", "level": "very_dissatisfied",
		"work_order_id": "WO-1", "unit_id": "fh-g08", "staff_id": "s-1", "rater_phone": "13800138001",
		"rater_name": "张三", "comment": "等了两个小时"}
	if code, _ := s.do("POST", "/api/v1/ratings", "", rating); code != 401 {
		t.Errorf("no token: %d, want 401", code)
	}
	if code, _ := s.do("POST", "/api/v1/ratings", "wrong-token-wrong-token", rating); code != 401 {
		t.Errorf("unknown token: %d, want 401", code)
	}
	if code, _ := s.do("POST", "/api/v1/ratings", superToken, rating); code != 403 {
		t.Errorf("supervisor posts a rating: %d, want 403", code)
	}
	// Intake, idempotent.
	code, body := s.do("POST", "/api/v1/ratings", intakeToken, rating)
	if code != 201 || body["case_id"] == nil {
		t.Fatalf("post rating: %d %v", code, body)
	}
	id, caseID := body["id"].(string), body["case_id"].(string)
	code, again := s.do("POST", "/api/v1/ratings", intakeToken, rating)
	if code != 200 || again["id"] != id || again["case_id"] != caseID {
		t.Errorf("retry: %d %v, want 200 with the same body", code, again)
	}
	good := map[string]any{"idempotency_key": "ivr-2", "channel": "hotline_ivr", "level": "satisfied", "unit_id": "fh-g08"}
	if code, b := s.do("POST", "/api/v1/ratings", intakeToken, good); code != 201 || b["case_id"] != nil {
		t.Errorf("good rating: %d %v, want 201 with case_id null", code, b)
	}
	// Bad input names the field.
	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{"idempotency_key": "x", "channel": "hotline_ivr", "level": "5", "unit_id": "fh-g08"}, "level"},
		{map[string]any{"idempotency_key": "x", "channel": "fax", "level": "satisfied", "unit_id": "fh-g08"}, "channel"},
		{map[string]any{"idempotency_key": "x", "channel": "api", "level": "satisfied", "unit_id": "nope"}, "unit_id"},
		{map[string]any{"idempotency_key": "x", "channel": "api", "level": "satisfied", "unit_id": "fh-g08", "stars": 5}, "stars"},
		{map[string]any{"idempotency_key": "x", "channel": "api", "level": "satisfied", "unit_id": "fh-g08", "rated_at": "yesterday"}, "rated_at"},
		{`{"idempotency_key": "x",`, "body"},
	} {
		code, b := s.do("POST", "/api/v1/ratings", intakeToken, tc.body)
		e, _ := b["error"].(map[string]any)
		if code != 400 || e == nil || e["field"] != tc.field {
			t.Errorf("body %v: %d %v, want 400 naming %s", tc.body, code, b, tc.field)
		}
	}
	// The rating as stored, masked.
	code, r := s.do("GET", "/api/v1/ratings/"+id, adminToken, nil)
	if code != 200 || r["rater_phone"] != "138****8001" || r["rater_name"] != "张*" || r["level"] != "very_dissatisfied" {
		t.Errorf("get rating: %d %v", code, r)
	}
	code, list := s.do("GET", "/api/v1/ratings?phone=13800138001", adminToken, nil)
	if rs, _ := list["ratings"].([]any); code != 200 || len(rs) != 1 {
		t.Errorf("ratings by phone: %d %v", code, list)
	}
	if strings.Contains(fmt.Sprint(list), "13800138001") {
		t.Error("phone number in clear in the API")
	}
	// The case with its deadlines.
	code, c := s.do("GET", "/api/v1/cases/"+caseID, handlerToken, nil)
	if code != 200 || c["state"] != "open" {
		t.Fatalf("get case: %d %v", code, c)
	}
	dl, _ := c["deadlines"].(map[string]any)
	for _, k := range []string{"callback", "appeal", "text_review"} {
		d, _ := dl[k].(map[string]any)
		if d == nil || d["due_date"] == nil || d["due_at"] == nil || d["provisional"] == nil || d["overdue"] != false {
			t.Errorf("deadline %s: %v", k, d)
			continue
		}
		if due, _ := d["due_at"].(string); !strings.HasSuffix(due, "T00:00:00+08:00") {
			t.Errorf("deadline %s due_at %s, want 24:00 of the due date in +08:00", k, due)
		}
	}
	// A supervisor cannot act (another unit's handler: TestHandlerSeesOnlyOwnUnit).
	if code, _ := s.do("POST", "/api/v1/cases/"+caseID+"/callback", superToken, map[string]any{"note": "x"}); code != 403 {
		t.Errorf("supervisor acts: %d, want 403", code)
	}
	if code, _ := s.do("POST", "/api/v1/cases/"+caseID+"/rectify", handlerToken, map[string]any{"note": "x"}); code != 409 {
		t.Errorf("rectify in open: %d, want 409", code)
	}
	if code, b := s.do("POST", "/api/v1/cases/"+caseID+"/dance", handlerToken, map[string]any{"note": "x"}); code != 400 {
		t.Errorf("unknown action: %d %v", code, b)
	}
	code, c = s.do("POST", "/api/v1/cases/"+caseID+"/callback", handlerToken, map[string]any{"note": "called back"})
	if code != 200 || c["state"] != "called_back" {
		t.Fatalf("callback: %d %v", code, c)
	}
	code, c = s.do("POST", "/api/v1/cases/"+caseID+"/appeal", handlerToken, map[string]any{"reason": "mistaken", "note": "wrong key"})
	if code != 200 || c["state"] != "appealed" {
		t.Fatalf("appeal: %d %v", code, c)
	}
	code, c = s.do("POST", "/api/v1/cases/"+caseID+"/reject", adminToken, map[string]any{"note": "no"})
	if code != 200 || c["state"] != "rectifying" {
		t.Fatalf("reject: %d %v", code, c)
	}
	if h, _ := c["history"].([]any); len(h) != 4 {
		t.Errorf("history has %d entries, want 4: %v", len(h), h)
	}
	code, cl := s.do("GET", "/api/v1/cases?state=rectifying&unit_id=fh-g08", handlerToken, nil)
	if cs, _ := cl["cases"].([]any); code != 200 || len(cs) != 1 {
		t.Errorf("list cases: %d %v", code, cl)
	}
	if code, _ := s.do("GET", "/api/v1/cases?unit_id=fh-t01", handlerToken, nil); code != 403 {
		t.Errorf("handler lists another unit: %d, want 403", code)
	}
	// Statistics and units.
	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02")
	code, st := s.do("GET", "/api/v1/stats?from="+today+"&to="+today, adminToken, nil)
	total, _ := st["total"].(map[string]any)
	if code != 200 || total["total"] != 2.0 || total["bad"] != 1.0 || total["satisfaction_rate"] != 0.5 {
		t.Errorf("stats: %d %v", code, total)
	}
	if code, b := s.do("GET", "/api/v1/stats?from=2026-13-01&to="+today, adminToken, nil); code != 400 {
		t.Errorf("bad stats date: %d %v", code, b)
	}
	code, u := s.do("GET", "/api/v1/units", intakeToken, nil)
	if units, _ := u["units"].([]any); code != 200 || len(units) != 59 {
		t.Errorf("units: %d, %d units", code, len(u["units"].([]any)))
	}
	// Metrics.
	code, m := s.do("GET", "/metrics", "", nil)
	raw, _ := m["_raw"].(string)
	for _, want := range []string{`haochaping_ratings_total{channel="hotline_ivr",level="very_dissatisfied"} 1`,
		"haochaping_deadline_worker_lag_seconds", "haochaping_cases_overdue", "haochaping_cases_open"} {
		if !strings.Contains(raw, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(raw, "13800138001") || strings.Contains(s.stderr.String(), "13800138001") {
		t.Error("phone number in clear in metrics or logs")
	}
}

func TestHandlerSeesOnlyOwnUnit(t *testing.T) {
	rs := redistest.Start(t)
	s := startServe(t, rs.URL, "", nil)
	code, b := s.do("POST", "/api/v1/ratings", intakeToken, map[string]any{"idempotency_key": "k1",
		"channel": "qr", "level": "dissatisfied", "unit_id": "fh-t01"})
	if code != 201 {
		t.Fatalf("%d %v", code, b)
	}
	caseID := b["case_id"].(string)
	if code, _ := s.do("GET", "/api/v1/cases/"+caseID, handlerToken, nil); code != 404 {
		t.Errorf("handler of fh-g08 reads a case of fh-t01: %d, want 404", code)
	}
	if code, _ := s.do("POST", "/api/v1/cases/"+caseID+"/callback", handlerToken, map[string]any{"note": "x"}); code != 404 {
		t.Errorf("handler of fh-g08 acts on a case of fh-t01: %d, want 404", code)
	}
	if code, _ := s.do("GET", "/api/v1/ratings/"+b["id"].(string), handlerToken, nil); code != 404 {
		t.Errorf("handler reads another unit's rating: %d, want 404", code)
	}
}

// TestTwoServesFireDeadlinesOnce runs two serve processes on one Redis with
// ratings whose deadlines are already past: every deadline fires once.
func TestTwoServesFireDeadlinesOnce(t *testing.T) {
	rs := redistest.Start(t)
	a := startServe(t, rs.URL, "", nil)
	const n = 40
	ratedAt := time.Now().AddDate(0, 0, -12).Format(time.RFC3339)
	for i := range n {
		code, b := a.do("POST", "/api/v1/ratings", intakeToken, map[string]any{"idempotency_key": fmt.Sprint("old-", i),
			"channel": "pc", "level": "dissatisfied", "unit_id": "fh-g08", "rated_at": ratedAt})
		if code != 201 {
			t.Fatalf("%d %v", code, b)
		}
	}
	startServe(t, rs.URL, "", nil) // a second process on the same Redis
	rdb := rs.Client(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		xs, err := rdb.XRange(context.Background(), "{e2e}:events", "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		for _, x := range xs {
			counts[x.Values["type"].(string)]++
		}
		if counts["deadline_overdue"] >= n && counts["case_transition"] >= n {
			time.Sleep(300 * time.Millisecond) // let a double firing show
			xs, _ = rdb.XRange(context.Background(), "{e2e}:events", "-", "+").Result()
			counts = map[string]int{}
			for _, x := range xs {
				counts[x.Values["type"].(string)]++
			}
			if counts["deadline_overdue"] != n || counts["case_transition"] != n {
				t.Fatalf("events %v: want exactly %d overdue callbacks and %d automatic confirmations", counts, n, n)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deadlines not fired in time: %v", counts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, cl := a.do("GET", "/api/v1/cases?state=rectifying", adminToken, nil)
	if cs, _ := cl["cases"].([]any); code != 200 || len(cs) != n {
		t.Errorf("rectifying cases: %d, %d", code, len(cl["cases"].([]any)))
	}
}

func TestServeEmbeddedRedis(t *testing.T) {
	s := startServe(t, "embedded", "", nil)
	if !strings.Contains(s.stderr.String(), "IN MEMORY ONLY") {
		t.Error("embedded mode does not say loudly that data is in memory only")
	}
	code, b := s.do("POST", "/api/v1/ratings", adminToken, map[string]any{"idempotency_key": "e1",
		"channel": "mobile", "level": "very_dissatisfied", "unit_id": "fh-p01"})
	if code != 201 || b["case_id"] == nil {
		t.Fatalf("%d %v", code, b)
	}
	if code, c := s.do("GET", "/api/v1/cases/"+b["case_id"].(string), adminToken, nil); code != 200 || c["state"] != "open" {
		t.Errorf("%d %v", code, c)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ yaml, want string }{
		{"redis: {url: mysql://x}", "redis.url"},
		{"http: {addr: nonsense}", "http.addr"},
		{"workflow: {rules: {name: x, callback: {days: 1, kind: lunar}}}", "workflow.rules.callback.kind"},
		{"auth: {tokens: [{name: a, token: short, role: admin}]}", "auth.tokens[0].token"},
		{"auth: {tokens: [{name: a, token: long-enough-token-1, role: handler}]}", "auth.tokens[0].units"},
		{"log: {level: loud}", "log.level"},
		{"htp: {addr: x}", "htp"},
	} {
		p := filepath.Join(dir, "c.yaml")
		os.WriteFile(p, []byte(tc.yaml), 0o600)
		var out, errb bytes.Buffer
		err := run(context.Background(), []string{"config", "check", "-config", p}, &out, &errb, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to name %s", tc.yaml, err, tc.want)
		}
	}
	// The environment overrides the file.
	var out bytes.Buffer
	err := run(context.Background(), []string{"config", "check"}, &out, io.Discard, func(k string) string {
		return map[string]string{"HAOCHAPING_REDIS_URL": "redis://127.0.0.1:6390/2", "HAOCHAPING_HTTP_ADDR": "127.0.0.1:9999"}[k]
	})
	if err != nil || !strings.Contains(out.String(), "redis://127.0.0.1:6390/2") || !strings.Contains(out.String(), "127.0.0.1:9999") {
		t.Errorf("env override: %v\n%s", err, out.String())
	}
}

func TestCalendarAdd(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"calendar", "add", "2026-02-13", "5"}, "2026-02-27"},
		{[]string{"calendar", "add", "2026-02-13", "1"}, "2026-02-14"},
		{[]string{"calendar", "add", "2026-09-30", "1"}, "2026-10-08"},
		{[]string{"calendar", "add", "2025-12-31", "5"}, "2026-01-08"},
		{[]string{"calendar", "add", "2026-03-10", "5", "--natural"}, "2026-03-15"},
	} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), tc.args, &out, &errb, func(string) string { return "" }); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if got := strings.TrimSpace(out.String()); got != tc.want {
			t.Errorf("%v = %s, want %s", tc.args, got, tc.want)
		}
	}
	var out, errb bytes.Buffer
	run(context.Background(), []string{"calendar", "add", "2026-12-28", "5"}, &out, &errb, func(string) string { return "" })
	if !strings.Contains(errb.String(), "PROVISIONAL") {
		t.Errorf("a deadline in unannounced 2027 is not marked provisional: %s", errb.String())
	}
	if err := run(context.Background(), []string{"calendar", "add", "2026-02-30", "5"}, &out, &errb, func(string) string { return "" }); exitCode(err) != 2 {
		t.Errorf("invalid date: %v", err)
	}
}
