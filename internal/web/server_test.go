package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestStats(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	_, c1 := e.post(rating("k-1", "very_dissatisfied", func(m map[string]any) { m["comment"] = "差" }))
	e.post(rating("k-2", "satisfied", nil))
	e.post(rating("k-3", "satisfied", func(m map[string]any) { m["unit_id"] = "fh-g09" }))
	_, c4 := e.post(rating("k-4", "dissatisfied", nil))
	e.post(rating("k-5", "very_satisfied", func(m map[string]any) { m["rated_at"] = "2026-02-12T09:00:00+08:00" }))
	e.act(handlerTok, c1, "accept", nil)
	e.act(handlerTok, c4, "appeal", map[string]any{"reason": "mistaken", "note": "误评"})
	e.act(adminTok, c4, "uphold", nil)

	zeroLevels := `{"very_satisfied":0,"satisfied":0,"basically_satisfied":0,"dissatisfied":0,"very_dissatisfied":0}`
	// fh-g08 on 02-13: very_dissatisfied (confirmed), satisfied, dissatisfied (not adopted on appeal).
	g08 := `{"unit_id":"fh-g08","total":3,"levels":{"very_satisfied":0,"satisfied":1,"basically_satisfied":0,"dissatisfied":1,"very_dissatisfied":1},` +
		`"bad":1,"not_adopted":1,"satisfaction_rate":0.5,"bad_rate":0.5,` +
		`"appeals":{"filed":1,"upheld":1,"rejected":0,"pending":0,"rate":0.5},` +
		`"rectification":{"confirmed":1,"rectified":0,"on_time":0,"on_time_rate":0},` +
		`"followups":{"total":0,"levels":` + zeroLevels + `,"none":0},"closed":0,"comments":1,"text_rejected":0,"overdue":{}}`
	g09 := `{"unit_id":"fh-g09","total":1,"levels":{"very_satisfied":0,"satisfied":1,"basically_satisfied":0,"dissatisfied":0,"very_dissatisfied":0},` +
		`"bad":0,"not_adopted":0,"satisfaction_rate":1,"bad_rate":0,` +
		`"appeals":{"filed":0,"upheld":0,"rejected":0,"pending":0,"rate":0},` +
		`"rectification":{"confirmed":0,"rectified":0,"on_time":0,"on_time_rate":0},` +
		`"followups":{"total":0,"levels":` + zeroLevels + `,"none":0},"closed":0,"comments":0,"text_rejected":0,"overdue":{}}`
	total := `{"unit_id":"","total":4,"levels":{"very_satisfied":0,"satisfied":2,"basically_satisfied":0,"dissatisfied":1,"very_dissatisfied":1},` +
		`"bad":1,"not_adopted":1,"satisfaction_rate":0.6666666666666666,"bad_rate":0.3333333333333333,` +
		`"appeals":{"filed":1,"upheld":1,"rejected":0,"pending":0,"rate":0.5},` +
		`"rectification":{"confirmed":1,"rectified":0,"on_time":0,"on_time_rate":0},` +
		`"followups":{"total":0,"levels":` + zeroLevels + `,"none":0},"closed":0,"comments":1,"text_rejected":0,"overdue":{}}`
	wantBody(t, e.do("GET", "/api/v1/stats?from=2026-02-13&to=2026-02-13", superTok, nil), http.StatusOK,
		`{"from":"2026-02-13","to":"2026-02-13","units":[`+g08+`,`+g09+`],"total":`+total+`}`)
	// A handler's figures are its units', and so is the total.
	wantBody(t, e.do("GET", "/api/v1/stats?from=2026-02-13&to=2026-02-13", handlerTok, nil), http.StatusOK,
		`{"from":"2026-02-13","to":"2026-02-13","units":[`+g08+`],"total":`+strings.Replace(g08, `"fh-g08"`, `""`, 1)+`}`)
	wantBody(t, e.do("GET", "/api/v1/stats?from=2026-02-13&to=2026-02-13&unit_id=fh-g09", adminTok, nil), http.StatusOK,
		`{"from":"2026-02-13","to":"2026-02-13","units":[`+g09+`],"total":`+strings.Replace(g09, `"fh-g09"`, `""`, 1)+`}`)
	// The range is by rating date: the 02-12 rating counts only in ranges that hold it.
	for _, tc := range []struct {
		query string
		want  float64
	}{
		{"from=2026-02-12&to=2026-02-12", 1},
		{"from=2026-02-12&to=2026-02-13", 5},
		{"from=2026-02-14&to=2026-02-20", 0},
	} {
		r := e.do("GET", "/api/v1/stats?"+tc.query, adminTok, nil)
		if got := r.json(t)["total"].(map[string]any)["total"]; r.code != http.StatusOK || got != tc.want {
			t.Errorf("%s: %d total %v, want %v", tc.query, r.code, got, tc.want)
		}
	}
	for _, tc := range []struct{ name, query, field, msg string }{
		{"no range", "", "from", "want YYYY-MM-DD"},
		{"no to", "from=2026-02-13", "to", "want YYYY-MM-DD"},
		{"no from", "to=2026-02-13", "from", "want YYYY-MM-DD"},
		{"instant", "from=2026-02-13T00:00:00%2B08:00&to=2026-02-13", "from", "want YYYY-MM-DD"},
		{"impossible date", "from=2026-02-13&to=2026-02-30", "to", "want YYYY-MM-DD"},
		{"to before from", "from=2026-02-13&to=2026-02-12", "to", "before from"},
		{"over ten years", "from=2016-01-01&to=2026-02-13", "to", "range longer than ten years"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do("GET", "/api/v1/stats?"+tc.query, adminTok, nil), http.StatusBadRequest, "invalid", tc.msg, tc.field)
		})
	}
}

// TestStatsUnitsIsAList: lists in API bodies are [] when empty (cases,
// ratings, referrals, actions); the stats' units are too.
func TestStatsUnitsIsAList(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	r := e.do("GET", "/api/v1/stats?from=2026-02-13&to=2026-02-13", adminTok, nil)
	if units, ok := r.json(t)["units"].([]any); r.code != http.StatusOK || !ok || len(units) != 0 {
		t.Errorf("stats of an empty store: %d %s, want units []", r.code, r.body)
	}
}

func TestUnits(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	want := `{"groups":[{"id":"government","name":"政府部门"},{"id":"town","name":"镇和街道"}],` +
		`"units":[{"id":"fh-g08","name":"区司法局","group":"government","level":"district","posts":[{"id":"window","name":"窗口"}],` +
		`"staff":[{"id":"s-007","name":"李四","posts":["window"]}]},` +
		`{"id":"fh-g09","name":"区财政局","group":"government","level":"district"},` +
		`{"id":"fh-t01","name":"锦屏街道","group":"town","level":"town"}]}`
	for _, tok := range []string{adminTok, handlerTok, superTok, intakeTok} {
		wantBody(t, e.do("GET", "/api/v1/units", tok, nil), http.StatusOK, want)
	}
}

func TestReferrals(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	wantBody(t, e.do("GET", "/api/v1/referrals", adminTok, nil), http.StatusOK, `{"referrals":[]}`)
	// Two confirmed bad ratings of staff s-007 within a year refer them.
	r1, c1 := e.post(rating("k-1", "very_dissatisfied", nil))
	r2, c2 := e.post(rating("k-2", "dissatisfied", nil))
	e.act(handlerTok, c1, "accept", nil)
	wantBody(t, e.do("GET", "/api/v1/referrals", adminTok, nil), http.StatusOK, `{"referrals":[]}`)
	e.at("2026-02-13 11:00")
	e.act(handlerTok, c2, "accept", nil)
	// The referral's "at" is in UTC, unlike the +08:00 of ratings and cases.
	want := `{"referrals":[{"id":"F20260213000002","staff_id":"s-007","unit_id":"fh-g08","case_id":"` + c2 + `",` +
		`"rating_ids":["` + r1 + `","` + r2 + `"],"count":2,"at":"2026-02-13T11:00:00+08:00"}]}`
	for _, tok := range []string{adminTok, superTok} {
		wantBody(t, e.do("GET", "/api/v1/referrals", tok, nil), http.StatusOK, want)
	}
}

func TestProbes(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	wantBody(t, e.do("GET", "/healthz", "", nil), http.StatusOK, `{"status":"ok"}`)
	wantBody(t, e.do("GET", "/readyz", "", nil), http.StatusOK, `{"status":"ready"}`)

	// Redis goes away: not ready, but alive.
	stopRedis(t, e)
	// The probe needs no token: it says what is down, not where (no address).
	wantBody(t, e.do("GET", "/readyz", "", nil), http.StatusServiceUnavailable, `{"status":"unavailable","error":"redis unreachable"}`)
	wantBody(t, e.do("GET", "/healthz", "", nil), http.StatusOK, `{"status":"ok"}`)
}

// stopRedis shuts the test's redis-server down.
func stopRedis(t *testing.T, e *env) {
	t.Helper()
	_ = e.rdb.Do(e.ctx, "SHUTDOWN", "NOSAVE").Err() // the connection closes: an error is expected
	if err := e.rdb.Ping(e.ctx).Err(); err == nil {
		t.Fatal("redis-server still answers after SHUTDOWN")
	}
}

// TestInternalErrorsDoNotLeak: a failure of Redis is a 500 with a generic
// message; the error text is logged once, and never a number in clear.
func TestInternalErrorsDoNotLeak(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	_, caseID := e.post(rating("k-1", "very_dissatisfied", nil))
	stopRedis(t, e)
	reqs := []struct {
		method, path, token string
		body                any
	}{
		{"POST", "/api/v1/ratings", intakeTok, rating("k-2", "very_dissatisfied", nil)},
		{"GET", "/api/v1/ratings/R20260213000001", adminTok, nil},
		{"GET", "/api/v1/ratings?phone=" + phone1, adminTok, nil},
		{"GET", "/api/v1/cases/" + caseID, handlerTok, nil},
		{"GET", "/api/v1/cases", adminTok, nil},
		{"POST", "/api/v1/cases/" + caseID + "/callback", handlerTok, map[string]any{"note": "x"}},
		{"GET", "/api/v1/stats?from=2026-02-13&to=2026-02-13", adminTok, nil},
		{"GET", "/api/v1/referrals", adminTok, nil},
	}
	for _, rq := range reqs {
		r := e.do(rq.method, rq.path, rq.token, rq.body)
		wantError(t, r, http.StatusInternalServerError, "internal", "internal error", "")
		for _, leak := range []string{"dial", "refused", "127.0.0.1", e.redis.Addr, "redis", "EOF"} {
			if strings.Contains(r.body, leak) {
				t.Errorf("%s %s: 500 body leaks %q: %s", rq.method, rq.path, leak, r.body)
			}
		}
	}
	logs := e.logs.String()
	if n := strings.Count(logs, `msg="request failed"`); n != len(reqs) {
		t.Errorf("%d errors logged for %d failed requests:\n%s", n, len(reqs), logs)
	}
	if !strings.Contains(logs, "path=/api/v1/cases/"+caseID) {
		t.Errorf("log does not name the path:\n%s", logs)
	}
	if strings.Contains(logs, phone1) {
		t.Errorf("log carries the number in clear:\n%s", logs)
	}
}

// TestCancelledRequest: a request whose context ended is a 503, not a 500.
func TestCancelledRequest(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequestWithContext(ctx, "GET", "/api/v1/cases/C20260213000001", nil)
	r.Header.Set("Authorization", "Bearer "+adminTok)
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, r)
	wantError(t, response{code: w.Code, header: w.Header(), body: w.Body.String()}, http.StatusServiceUnavailable,
		"timeout", "the request was cancelled or timed out", "")
	if strings.Contains(e.logs.String(), "request failed") {
		t.Errorf("a cancelled request is logged as a failure:\n%s", e.logs.String())
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	good := rating("k-1", "satisfied", nil)
	r1, _ := e.post(good)
	r2, c2 := e.post(rating("k-2", "dissatisfied", nil))
	e.do("POST", "/api/v1/ratings", intakeTok, good)                            // 200
	e.do("POST", "/api/v1/ratings", intakeTok, with(good, "level", "5"))        // 400
	e.do("POST", "/api/v1/ratings", handlerTok, good)                           // 403
	for _, id := range []string{r1, r2, "R20260213000099", "R20260213000098"} { // 200, 200, 404, 404
		e.do("GET", "/api/v1/ratings/"+id, adminTok, nil)
	}
	e.do("GET", "/api/v1/cases", "", nil)                                         // 401
	e.act(handlerTok, c2, "callback", map[string]any{"note": "x"})                // 200
	e.do("POST", "/api/v1/cases/"+c2+"/frobnicate", handlerTok, map[string]any{}) // 400
	e.do("GET", "/api/v1/nope", adminTok, nil)                                    // mux 404: no route
	e.do("DELETE", "/api/v1/ratings", adminTok, nil)                              // mux 405: no route
	e.do("GET", "/healthz", "", nil)

	r := e.do("GET", "/metrics", "", nil)
	if r.code != http.StatusOK {
		t.Fatalf("metrics: %d %s", r.code, r.body)
	}
	for _, line := range []string{
		`haochaping_http_requests_total{code="201",route="POST /api/v1/ratings"} 2`,
		`haochaping_http_requests_total{code="200",route="POST /api/v1/ratings"} 1`,
		`haochaping_http_requests_total{code="400",route="POST /api/v1/ratings"} 1`,
		`haochaping_http_requests_total{code="403",route="POST /api/v1/ratings"} 1`,
		`haochaping_http_requests_total{code="200",route="GET /api/v1/ratings/{id}"} 2`,
		`haochaping_http_requests_total{code="404",route="GET /api/v1/ratings/{id}"} 2`,
		`haochaping_http_requests_total{code="401",route="GET /api/v1/cases"} 1`,
		`haochaping_http_requests_total{code="200",route="POST /api/v1/cases/{id}/{action}"} 1`,
		`haochaping_http_requests_total{code="400",route="POST /api/v1/cases/{id}/{action}"} 1`,
		`haochaping_http_requests_total{code="200",route="GET /healthz"} 1`,
		`haochaping_http_request_duration_seconds_count{route="GET /api/v1/ratings/{id}"} 4`,
		`haochaping_ratings_total{channel="hotline_ivr",level="satisfied"} 1`,
		`haochaping_ratings_total{channel="hotline_ivr",level="dissatisfied"} 1`,
		`haochaping_case_transitions_total{action="callback"} 1`,
	} {
		if !slices.Contains(strings.Split(r.body, "\n"), line) {
			t.Errorf("metrics lack the line %s", line)
		}
	}
	for _, name := range []string{"haochaping_cases_overdue", "haochaping_deadline_worker_lag_seconds",
		"haochaping_store_conflicts_total", "haochaping_http_request_duration_seconds"} {
		if !strings.Contains(r.body, "# TYPE "+name+" ") {
			t.Errorf("metrics lack %s", name)
		}
	}

	// Cardinality: the route label is a registered pattern, never a raw path.
	patterns := []string{"GET /healthz", "GET /readyz", "POST /api/v1/ratings", "GET /api/v1/ratings", "GET /api/v1/ratings/{id}",
		"POST /api/v1/ratings/{id}/text_review", "GET /api/v1/cases", "GET /api/v1/cases/{id}", "POST /api/v1/cases/{id}/{action}",
		"GET /api/v1/stats", "GET /api/v1/units", "GET /api/v1/referrals"}
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "haochaping_http_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "route" && !slices.Contains(patterns, lp.GetValue()) {
					t.Errorf("%s has route label %q, not a pattern", mf.GetName(), lp.GetValue())
				}
			}
			if mf.GetName() == "haochaping_http_requests_total" {
				series++
			}
		}
	}
	if series != 10 {
		t.Errorf("%d series of haochaping_http_requests_total, want 10 (one per route and code seen)", series)
	}
}
