package web_test

import (
	"net/http"
	"slices"
	"testing"
)

// authedRoutes are the API routes that need a bearer token, with a body a
// request may carry.
var authedRoutes = []struct{ method, path, body string }{
	{"POST", "/api/v1/ratings", `{"idempotency_key":"unauth","channel":"api","level":"very_dissatisfied","unit_id":"fh-g08"}`},
	{"GET", "/api/v1/ratings?work_order_id=WO-1", ""},
	{"GET", "/api/v1/ratings/R20260213000001", ""},
	{"POST", "/api/v1/ratings/R20260213000001/text_review", `{"decision":"approve"}`},
	{"GET", "/api/v1/cases", ""},
	{"GET", "/api/v1/cases/C20260213000001", ""},
	{"POST", "/api/v1/cases/C20260213000001/callback", `{"note":"called"}`},
	{"GET", "/api/v1/stats?from=2026-02-13&to=2026-02-13", ""},
	{"GET", "/api/v1/units", ""},
	{"GET", "/api/v1/referrals", ""},
}

func TestAuthMissingOrUnknownToken(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	for _, tc := range []struct {
		name, header string
	}{
		{"no header", ""},
		{"scheme only", "Bearer"},
		{"empty token", "Bearer "},
		{"blank token", "Bearer    "},
		{"basic scheme", "Basic dGVzdDp0ZXN0"},
		{"token scheme", "Token " + adminTok},
		{"no scheme", adminTok},
		{"no space", "Bearer" + adminTok},
		{"unknown token", "Bearer wrong-token"},
		{"token with suffix", "Bearer " + adminTok + "x"},
		{"token prefix", "Bearer " + adminTok[:len(adminTok)-1]},
		{"token in other case", "Bearer TEST-ADMIN-TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, rt := range authedRoutes {
				h := map[string]string{"Authorization": tc.header}
				r := e.send(request{method: rt.method, path: rt.path, body: rt.body, header: h})
				wantError(t, r, http.StatusUnauthorized, "unauthorized", "missing or unknown bearer token", "")
				if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="haochaping"` {
					t.Errorf("%s %s: WWW-Authenticate %q", rt.method, rt.path, got)
				}
			}
		})
	}
	// Nothing was recorded by the refused POST.
	r := e.do("GET", "/api/v1/ratings?from=2026-02-13&to=2026-02-13", adminTok, nil)
	wantBody(t, r, http.StatusOK, `{"ratings":[]}`)
}

// TestAuthBeforeValidation: an unauthenticated request with a bad body is
// refused for the token, not for the body, so nothing is learnt without one.
func TestAuthBeforeValidation(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	r := e.send(request{method: "POST", path: "/api/v1/ratings", body: `{not json`})
	wantError(t, r, http.StatusUnauthorized, "unauthorized", "missing or unknown bearer token", "")
	r = e.send(request{method: "GET", path: "/api/v1/cases?state=bogus"})
	wantError(t, r, http.StatusUnauthorized, "unauthorized", "missing or unknown bearer token", "")
}

// TestAuthSchemeCaseInsensitive: RFC 7235 section 2.1 makes the
// authentication scheme case-insensitive ("bearer" is "Bearer").
func TestAuthSchemeCaseInsensitive(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	for _, scheme := range []string{"bearer", "BEARER"} {
		r := e.send(request{method: "GET", path: "/api/v1/units", header: map[string]string{"Authorization": scheme + " " + adminTok}})
		if r.code != http.StatusOK {
			t.Errorf("%s: status %d, want 200; %s", scheme, r.code, r.body)
		}
	}
}

func TestAuthEveryTokenReadsUnits(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	for _, tok := range []string{adminTok, intakeTok, handlerTok, handler2Tok, superTok} {
		if r := e.do("GET", "/api/v1/units", tok, nil); r.code != http.StatusOK {
			t.Errorf("%s: %d %s", tok, r.code, r.body)
		}
	}
}

func TestAuthRoleForbidden(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	_, caseID := e.post(rating("k-bad", "very_dissatisfied", func(m map[string]any) { m["comment"] = "态度差" }))
	ratingID := "R20260213000001"
	e.at("2026-02-13 11:00")
	_, appealedCase := e.post(rating("k-bad2", "dissatisfied", nil))
	e.act(handlerTok, appealedCase, "appeal", map[string]any{"reason": "mistaken", "note": "误评"})

	for _, tc := range []struct {
		name, token, method, path string
		body                      any
	}{
		{"handler posts a rating", handlerTok, "POST", "/api/v1/ratings", rating("k-h", "very_dissatisfied", nil)},
		{"supervisor posts a rating", superTok, "POST", "/api/v1/ratings", rating("k-s", "very_dissatisfied", nil)},
		{"intake calls back", intakeTok, "POST", "/api/v1/cases/" + caseID + "/callback", map[string]any{"note": "x"}},
		{"intake notes", intakeTok, "POST", "/api/v1/cases/" + caseID + "/note", map[string]any{"note": "x"}},
		{"supervisor calls back", superTok, "POST", "/api/v1/cases/" + caseID + "/callback", map[string]any{"note": "x"}},
		{"supervisor notes", superTok, "POST", "/api/v1/cases/" + caseID + "/note", map[string]any{"note": "x"}},
		{"admin appeals", adminTok, "POST", "/api/v1/cases/" + caseID + "/appeal", map[string]any{"reason": "mistaken", "note": "x"}},
		{"admin accepts", adminTok, "POST", "/api/v1/cases/" + caseID + "/accept", nil},
		{"admin rectifies", adminTok, "POST", "/api/v1/cases/" + caseID + "/rectify", map[string]any{"note": "x"}},
		{"handler upholds", handlerTok, "POST", "/api/v1/cases/" + appealedCase + "/uphold", nil},
		{"handler rejects an appeal", handlerTok, "POST", "/api/v1/cases/" + appealedCase + "/reject", nil},
		{"handler passes a re-review", handlerTok, "POST", "/api/v1/cases/" + caseID + "/rereview_pass", nil},
		{"handler reviews a text", handlerTok, "POST", "/api/v1/ratings/" + ratingID + "/text_review", map[string]any{"decision": "approve"}},
		{"intake reviews a text", intakeTok, "POST", "/api/v1/ratings/" + ratingID + "/text_review", map[string]any{"decision": "reject"}},
		{"supervisor reviews a text", superTok, "POST", "/api/v1/ratings/" + ratingID + "/text_review", map[string]any{"decision": "reject"}},
		{"handler reads referrals", handlerTok, "GET", "/api/v1/referrals", nil},
		{"intake reads referrals", intakeTok, "GET", "/api/v1/referrals", nil},
		{"handler lists another unit's cases", handlerTok, "GET", "/api/v1/cases?unit_id=fh-g09", nil},
		{"handler lists own and another unit's cases", handlerTok, "GET", "/api/v1/cases?unit_id=fh-g08&unit_id=fh-t01", nil},
		{"handler reads another unit's stats", handlerTok, "GET", "/api/v1/stats?from=2026-02-13&to=2026-02-13&unit_id=fh-g09", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.token, tc.body)
			wantError(t, r, http.StatusForbidden, "forbidden", "not allowed for this token", "")
		})
	}
	// The refused POSTs recorded nothing; the refused actions changed nothing.
	r := e.do("GET", "/api/v1/ratings?from=2026-02-13&to=2026-02-13", adminTok, nil)
	if got := len(r.json(t)["ratings"].([]any)); got != 2 {
		t.Errorf("%d ratings recorded, want 2: %s", got, r.body)
	}
	c := e.do("GET", "/api/v1/cases/"+caseID, adminTok, nil).json(t)
	if c["state"] != "open" || c["version"] != 1.0 {
		t.Errorf("case after refused actions: state %v version %v, want open 1", c["state"], c["version"])
	}
	rv := e.do("GET", "/api/v1/ratings/"+ratingID, adminTok, nil).json(t)
	if rv["text_review"] != "pending" {
		t.Errorf("text review after refused reviews: %v, want pending", rv["text_review"])
	}
}

// TestAuthOtherUnitIsNotFound: a handler does not learn that another
// unit's case or rating exists (README: "handlers: their units, else 404").
func TestAuthOtherUnitIsNotFound(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	ratingID, caseID := e.post(rating("k-g09", "very_dissatisfied", func(m map[string]any) { m["unit_id"] = "fh-g09" }))
	for _, tc := range []struct {
		name, method, path string
		body               any
	}{
		{"read case", "GET", "/api/v1/cases/" + caseID, nil},
		{"read rating", "GET", "/api/v1/ratings/" + ratingID, nil},
		{"call back", "POST", "/api/v1/cases/" + caseID + "/callback", map[string]any{"note": "x"}},
		{"note", "POST", "/api/v1/cases/" + caseID + "/note", map[string]any{"note": "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, handlerTok, tc.body)
			wantError(t, r, http.StatusNotFound, "not_found", "not found", "")
			// The same request of the unit's own handler succeeds.
			if r := e.do(tc.method, tc.path, handler2Tok, tc.body); r.code != http.StatusOK {
				t.Errorf("handler of fh-g09: %d %s", r.code, r.body)
			}
		})
	}
}

// TestAuthUnitScopedLists: unit-scoped tokens list only their units' cases and ratings.
func TestAuthUnitScopedLists(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	var cases = map[string]string{}
	for _, u := range []string{"fh-g08", "fh-g09", "fh-t01"} {
		_, c := e.post(rating("k-"+u, "very_dissatisfied", func(m map[string]any) { m["unit_id"] = u }))
		cases[u] = c
	}
	listed := func(tok, query string) []string {
		t.Helper()
		r := e.do("GET", "/api/v1/cases"+query, tok, nil)
		if r.code != http.StatusOK {
			t.Fatalf("list cases %s: %d %s", query, r.code, r.body)
		}
		var units []string
		for _, c := range r.json(t)["cases"].([]any) {
			units = append(units, c.(map[string]any)["unit_id"].(string))
		}
		return units
	}
	ratingUnits := func(tok string) []string {
		t.Helper()
		r := e.do("GET", "/api/v1/ratings?phone="+phone1, tok, nil)
		if r.code != http.StatusOK {
			t.Fatalf("list ratings: %d %s", r.code, r.body)
		}
		var units []string
		for _, x := range r.json(t)["ratings"].([]any) {
			units = append(units, x.(map[string]any)["unit_id"].(string))
		}
		return units
	}
	for _, tc := range []struct {
		name, token, query string
		want               []string
	}{
		{"handler of fh-g08", handlerTok, "", []string{"fh-g08"}},
		{"handler of fh-g08, own unit asked", handlerTok, "?unit_id=fh-g08", []string{"fh-g08"}},
		{"handler of fh-g09 and fh-t01", handler2Tok, "", []string{"fh-g09", "fh-t01"}},
		{"handler of fh-g09 and fh-t01, one asked", handler2Tok, "?unit_id=fh-t01", []string{"fh-t01"}},
		{"admin", adminTok, "", []string{"fh-g08", "fh-g09", "fh-t01"}},
		{"supervisor", superTok, "", []string{"fh-g08", "fh-g09", "fh-t01"}},
		{"admin, one unit", adminTok, "?unit_id=fh-g09", []string{"fh-g09"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := listed(tc.token, tc.query); !slices.Equal(got, tc.want) {
				t.Errorf("cases of units %v, want %v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, token string
		want        []string
	}{
		{"handler of fh-g08", handlerTok, []string{"fh-g08"}},
		{"handler of fh-g09 and fh-t01", handler2Tok, []string{"fh-g09", "fh-t01"}},
		{"intake", intakeTok, []string{"fh-g08", "fh-g09", "fh-t01"}},
		{"supervisor", superTok, []string{"fh-g08", "fh-g09", "fh-t01"}},
	} {
		t.Run("ratings/"+tc.name, func(t *testing.T) {
			if got := ratingUnits(tc.token); !slices.Equal(got, tc.want) {
				t.Errorf("ratings of units %v, want %v", got, tc.want)
			}
		})
	}
	// Single ratings: a handler reads its own unit's and no other.
	for u, c := range cases {
		id := "R" + c[1:]
		r := e.do("GET", "/api/v1/ratings/"+id, handlerTok, nil)
		if want := map[bool]int{true: 200, false: 404}[u == "fh-g08"]; r.code != want {
			t.Errorf("handler of fh-g08 reads the rating of %s: %d, want %d", u, r.code, want)
		}
	}
}
