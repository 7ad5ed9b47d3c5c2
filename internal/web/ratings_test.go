package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/haochaping/haochaping/internal/web"
)

func TestPostRatingCreated(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	for _, tc := range []struct {
		name, token string
		body        map[string]any
		want        string
	}{
		{"good rating opens no case", intakeTok, rating("k-good", "satisfied", nil),
			`{"id":"R20260213000001","case_id":null}`},
		{"bad rating opens a case", intakeTok, rating("k-bad", "dissatisfied", nil),
			`{"id":"R20260213000002","case_id":"C20260213000002"}`},
		{"very bad rating by admin", adminTok, rating("k-vbad", "very_dissatisfied", nil),
			`{"id":"R20260213000003","case_id":"C20260213000003"}`},
		{"basically satisfied", intakeTok, rating("k-basic", "basically_satisfied", nil),
			`{"id":"R20260213000004","case_id":null}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/api/v1/ratings", tc.token, tc.body)
			wantBody(t, r, http.StatusCreated, tc.want)
			id := r.json(t)["id"].(string)
			if got := r.header.Get("Location"); got != "/api/v1/ratings/"+id {
				t.Errorf("Location %q, want /api/v1/ratings/%s", got, id)
			}
			if got := r.header.Get("Content-Type"); got != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", got)
			}
			// The Location names the rating just recorded.
			if g := e.do("GET", r.header.Get("Location"), adminTok, nil); g.code != http.StatusOK || g.json(t)["level"] != tc.body["level"] {
				t.Errorf("GET Location: %d %s", g.code, g.body)
			}
		})
	}
	// A Content-Type with parameters is JSON.
	r := e.send(request{method: "POST", path: "/api/v1/ratings", token: intakeTok, body: mustJSON(rating("k-ct", "satisfied", nil)),
		header: map[string]string{"Content-Type": "application/json; charset=utf-8"}})
	wantBody(t, r, http.StatusCreated, `{"id":"R20260213000005","case_id":null}`)
	// So is a request without one.
	r = e.send(request{method: "POST", path: "/api/v1/ratings", token: intakeTok, body: mustJSON(rating("k-noct", "satisfied", nil)),
		header: map[string]string{"Content-Type": ""}})
	wantBody(t, r, http.StatusCreated, `{"id":"R20260213000006","case_id":null}`)
}

func TestPostRatingIdempotent(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	bad := rating("k-1", "very_dissatisfied", func(m map[string]any) { m["comment"] = "等了两个小时"; m["rater_name"] = "张三" })
	first := e.do("POST", "/api/v1/ratings", intakeTok, bad)
	wantBody(t, first, http.StatusCreated, `{"id":"R20260213000001","case_id":"C20260213000001"}`)

	e.at("2026-02-13 10:05") // a retry a little later: rated_at defaults are not content
	for _, tc := range []struct {
		name, token string
		body        map[string]any
	}{
		{"same body", intakeTok, bad},
		{"same body by another token", adminTok, bad},
		{"same number written otherwise", intakeTok, with(bad, "rater_phone", "+86 138-0013-8001")},
		{"key with spaces", intakeTok, with(bad, "idempotency_key", "  k-1 ")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/api/v1/ratings", tc.token, tc.body)
			wantBody(t, r, http.StatusOK, `{"id":"R20260213000001","case_id":"C20260213000001"}`)
			if got := r.header.Get("Location"); got != "" {
				t.Errorf("retry has Location %q, want none", got)
			}
		})
	}
	// A good rating's retry keeps case_id null. (Retries use up rating
	// numbers: IDs have gaps, so this one is not R…000002.)
	good := rating("k-2", "satisfied", nil)
	created := e.do("POST", "/api/v1/ratings", intakeTok, good)
	goodID, _ := created.json(t)["id"].(string)
	wantBody(t, created, http.StatusCreated, `{"id":"`+goodID+`","case_id":null}`)
	wantBody(t, e.do("POST", "/api/v1/ratings", intakeTok, good), http.StatusOK, `{"id":"`+goodID+`","case_id":null}`)

	for _, tc := range []struct {
		name string
		body map[string]any
	}{
		{"other level", with(bad, "level", "satisfied")},
		{"other unit", with(bad, "unit_id", "fh-g09")},
		{"other comment", with(bad, "comment", "还行")},
		{"other phone", with(bad, "rater_phone", phone2)},
		{"other name", with(bad, "rater_name", "王五")},
		{"other channel", with(bad, "channel", "pc")},
		{"rated_at given", with(bad, "rated_at", "2026-02-13T10:00:00+08:00")},
		{"comment dropped", without(bad, "comment")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/api/v1/ratings", intakeTok, tc.body)
			wantError(t, r, http.StatusConflict, "idempotency_key_reused", "this idempotency_key was used for a different rating", "idempotency_key")
		})
	}
	// One rating and one case, whatever the retries.
	r := e.do("GET", "/api/v1/ratings?work_order_id=WO-k-1", adminTok, nil)
	if n := len(r.json(t)["ratings"].([]any)); n != 1 {
		t.Errorf("%d ratings of WO-k-1, want 1: %s", n, r.body)
	}
	r = e.do("GET", "/api/v1/cases", adminTok, nil)
	if n := len(r.json(t)["cases"].([]any)); n != 1 {
		t.Errorf("%d cases, want 1: %s", n, r.body)
	}
	// The retry did not change what was recorded.
	v := e.do("GET", "/api/v1/ratings/R20260213000001", adminTok, nil).json(t)
	if v["rated_at"] != "2026-02-13T10:00:00+08:00" || v["comment"] != "等了两个小时" {
		t.Errorf("rating after retries: %v", v)
	}
}

func with(m map[string]any, k string, v any) map[string]any {
	n := make(map[string]any, len(m)+1)
	for a, b := range m {
		n[a] = b
	}
	n[k] = v
	return n
}

func without(m map[string]any, k string) map[string]any {
	n := with(m, k, nil)
	delete(n, k)
	return n
}

func TestPostRatingValidation(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	_, caseID := e.post(rating("k-case", "dissatisfied", nil))
	ok := rating("k-v", "satisfied", nil)
	big := with(ok, "comment", strings.Repeat("a", web.MaxBodyBytes))
	for _, tc := range []struct {
		name        string
		body        string
		contentType string // "" keeps application/json; "-" sends none
		field, msg  string
	}{
		{"missing idempotency_key", mustJSON(without(ok, "idempotency_key")), "",
			"idempotency_key", "required: a key unique to this rating, so a retry is not counted twice"},
		{"blank idempotency_key", mustJSON(with(ok, "idempotency_key", "   ")), "",
			"idempotency_key", "required: a key unique to this rating, so a retry is not counted twice"},
		{"long idempotency_key", mustJSON(with(ok, "idempotency_key", strings.Repeat("k", 201))), "",
			"idempotency_key", "longer than 200 bytes"},
		{"missing channel", mustJSON(without(ok, "channel")), "", "channel", `"" is not a channel`},
		{"bad channel", mustJSON(with(ok, "channel", "fax")), "", "channel", `"fax" is not a channel`},
		{"missing level", mustJSON(without(ok, "level")), "",
			"level", `"" is not a level (very_satisfied, satisfied, basically_satisfied, dissatisfied, very_dissatisfied)`},
		{"level as a digit string", mustJSON(with(ok, "level", "5")), "",
			"level", `"5" is not a level (very_satisfied, satisfied, basically_satisfied, dissatisfied, very_dissatisfied)`},
		{"level in Chinese", mustJSON(with(ok, "level", "满意")), "",
			"level", `"满意" is not a level (very_satisfied, satisfied, basically_satisfied, dissatisfied, very_dissatisfied)`},
		{"level as a number", mustJSON(with(ok, "level", 5)), "", "level", "wrong type: want a string"},
		{"missing unit_id", mustJSON(without(ok, "unit_id")), "", "unit_id", "required"},
		{"unknown unit_id", mustJSON(with(ok, "unit_id", "nope")), "", "unit_id", `"nope" is not a known unit`},
		{"bad characters in work_order_id", mustJSON(with(ok, "work_order_id", "WO|1")), "", "work_order_id", "contains invalid characters"},
		{"long staff_id", mustJSON(with(ok, "staff_id", strings.Repeat("s", 129))), "", "staff_id", "longer than 128 bytes"},
		{"long comment", mustJSON(with(ok, "comment", strings.Repeat("差", 2001))), "", "comment", "2001 characters, at most 2000"},
		{"bad phone", mustJSON(with(ok, "rater_phone", "12")), "", "rater_phone", "not a phone number"},
		{"unknown field", mustJSON(with(ok, "stars", 5)), "", "stars", "unknown field"},
		{"wrong type", mustJSON(with(ok, "work_order_id", 123)), "", "work_order_id", "wrong type: want a string"},
		{"array for a string", mustJSON(with(ok, "comment", []string{"a"})), "", "comment", "wrong type: want a string"},
		{"malformed JSON", `{"idempotency_key":"k",}`, "", "body", "malformed JSON at byte 24"},
		{"not JSON", `idempotency_key=k`, "", "body", "malformed JSON at byte 1"},
		{"truncated JSON", `{"idempotency_key":`, "", "body", "unexpected EOF"},
		{"trailing data", mustJSON(ok) + `{"x":1}`, "", "body", "trailing data after the JSON object"},
		{"empty body", "", "", "body", "empty"},
		{"blank body", " \n ", "", "body", "empty"},
		{"body too large", mustJSON(big), "", "body", fmt.Sprintf("larger than %d bytes", web.MaxBodyBytes)},
		{"text/plain", mustJSON(ok), "text/plain", "Content-Type", "want application/json"},
		{"form", "idempotency_key=k", "application/x-www-form-urlencoded", "Content-Type", "want application/json"},
		{"bad rated_at", mustJSON(with(ok, "rated_at", "yesterday")), "", "rated_at", "want RFC 3339, e.g. 2026-11-27T10:00:00+08:00"},
		{"rated_at without time", mustJSON(with(ok, "rated_at", "2026-02-13")), "", "rated_at", "want RFC 3339, e.g. 2026-11-27T10:00:00+08:00"},
		{"rated_at in the future", mustJSON(with(ok, "rated_at", "2026-02-13T10:06:00+08:00")), "", "rated_at", "in the future"},
		{"rated_at over two years ago", mustJSON(with(ok, "rated_at", "2024-02-13T09:59:00+08:00")), "", "rated_at", "more than two years ago"},
		{"followup_of an unknown case", mustJSON(with(ok, "followup_of", "C20260101000001")), "",
			"followup_of", `case "C20260101000001" does not exist`},
		{"followup_of another unit's case", mustJSON(with(with(ok, "followup_of", caseID), "unit_id", "fh-g09")), "",
			"unit_id", "differs from the unit of the case followed up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request{method: "POST", path: "/api/v1/ratings", token: intakeTok, body: tc.body}
			switch tc.contentType {
			case "":
			case "-":
				req.header = map[string]string{"Content-Type": ""}
			default:
				req.header = map[string]string{"Content-Type": tc.contentType}
			}
			wantError(t, e.send(req), http.StatusBadRequest, "invalid", tc.msg, tc.field)
		})
	}
	// Only the case's rating was recorded.
	r := e.do("GET", "/api/v1/ratings?from=2026-02-11&to=2026-02-14", adminTok, nil)
	if n := len(r.json(t)["ratings"].([]any)); n != 1 {
		t.Errorf("%d ratings recorded, want 1: %s", n, r.body)
	}
}

// TestPostRatingStrictJSON: decode is documented as strict; these inputs
// are not one JSON object and must not be recorded, naming the field.
func TestPostRatingStrictJSON(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	for _, tc := range []struct{ name, body, field string }{
		{"trailing brace", mustJSON(rating("k-brace", "satisfied", nil)) + "}", "body"},
		{"trailing bracket", mustJSON(rating("k-bracket", "satisfied", nil)) + "]", "body"},
		{"rated_at as a number", mustJSON(rating("k-num", "satisfied", func(m map[string]any) { m["rated_at"] = 12345 })), "rated_at"},
		{"array", `[]`, "body"},
		{"string", `"x"`, "body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/api/v1/ratings", intakeTok, tc.body)
			if r.code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.code, r.body)
			}
			if f, _ := r.json(t)["error"].(map[string]any)["field"].(string); f != tc.field {
				t.Errorf("field %q, want %q: %s", f, tc.field, r.body)
			}
		})
	}
}

// TestPostRatingContentTypeCase: media types are case-insensitive (RFC 9110 section 8.3.1).
func TestPostRatingContentTypeCase(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	r := e.send(request{method: "POST", path: "/api/v1/ratings", token: intakeTok, body: mustJSON(rating("k-ct", "satisfied", nil)),
		header: map[string]string{"Content-Type": "Application/JSON"}})
	wantBody(t, r, http.StatusCreated, `{"id":"R20260213000001","case_id":null}`)
}

func TestGetRating(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	e.post(rating("k-1", "very_dissatisfied", func(m map[string]any) {
		m["post"] = "window"
		m["rater_name"] = "欧阳娜娜"
		m["comment"] = "等了两个小时"
		m["rated_at"] = "2026-02-13T09:30:00+08:00"
	}))
	e.at("2026-02-13 10:01")
	e.post(rating("k-2", "satisfied", func(m map[string]any) {
		m["channel"] = "sms_link"
		m["rater_phone"] = "+86 139 1234 5678"
		delete(m, "staff_id")
		delete(m, "work_order_id")
	}))
	for _, tc := range []struct{ name, token, path, want string }{
		{"bad rating with comment", superTok, "/api/v1/ratings/R20260213000001",
			`{"id":"R20260213000001","channel":"hotline_ivr","level":"very_dissatisfied","work_order_id":"WO-k-1","unit_id":"fh-g08",` +
				`"staff_id":"s-007","post":"window","rater_phone":"138****8001","rater_name":"欧***","comment":"等了两个小时",` +
				`"text_review":"pending","rated_at":"2026-02-13T09:30:00+08:00","received_at":"2026-02-13T10:00:00+08:00",` +
				`"case_id":"C20260213000001","seq":1}`},
		{"good rating, number normalised", handlerTok, "/api/v1/ratings/R20260213000002",
			`{"id":"R20260213000002","channel":"sms_link","level":"satisfied","unit_id":"fh-g08","rater_phone":"139****5678",` +
				`"rated_at":"2026-02-13T10:01:00+08:00","received_at":"2026-02-13T10:01:00+08:00","case_id":null,"seq":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantBody(t, e.do("GET", tc.path, tc.token, nil), http.StatusOK, tc.want)
		})
	}
	for _, id := range []string{"R20260213000003", "C20260213000001", "nope", "R20260213000001x"} {
		wantError(t, e.do("GET", "/api/v1/ratings/"+id, adminTok, nil), http.StatusNotFound, "not_found", "not found", "")
	}
}

func TestTextReview(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	withComment, _ := e.post(rating("k-1", "very_dissatisfied", func(m map[string]any) { m["comment"] = "工作人员态度恶劣" }))
	other, _ := e.post(rating("k-2", "satisfied", func(m map[string]any) { m["comment"] = "很好" }))
	noComment, _ := e.post(rating("k-3", "satisfied", nil))
	path := func(id string) string { return "/api/v1/ratings/" + id + "/text_review" }

	wantError(t, e.do("POST", path(withComment), adminTok, map[string]any{"decision": "maybe"}), http.StatusBadRequest, "invalid", "approve or reject", "decision")
	wantError(t, e.do("POST", path(withComment), adminTok, map[string]any{"decision": "reject", "why": "x"}), http.StatusBadRequest, "invalid", "unknown field", "why")
	wantError(t, e.do("POST", path("R20260213000099"), adminTok, map[string]any{"decision": "reject"}), http.StatusNotFound, "not_found", "not found", "")
	wantError(t, e.do("POST", path(noComment), adminTok, map[string]any{"decision": "approve"}), http.StatusConflict, "state",
		"rating has no comment to review: action not allowed in this state", "")

	r := e.do("POST", path(withComment), adminTok, map[string]any{"decision": "reject", "note": "辱骂"})
	if r.code != http.StatusOK {
		t.Fatalf("reject: %d %s", r.code, r.body)
	}
	v := r.json(t)
	if v["text_review"] != "rejected" || v["comment"] != nil || v["id"] != withComment || v["rater_phone"] != "138****8001" {
		t.Errorf("rejected text: %s", r.body)
	}
	// A rejected comment stays withheld when the rating is read again.
	g := e.do("GET", "/api/v1/ratings/"+withComment, adminTok, nil).json(t)
	if g["text_review"] != "rejected" || g["comment"] != nil {
		t.Errorf("rating after rejection: %v", g)
	}
	wantError(t, e.do("POST", path(withComment), adminTok, map[string]any{"decision": "approve"}), http.StatusConflict, "state",
		"text already rejected: action not allowed in this state", "")

	r = e.do("POST", path(other), adminTok, map[string]any{"decision": "approve"})
	if v := r.json(t); r.code != http.StatusOK || v["text_review"] != "approved" || v["comment"] != "很好" {
		t.Errorf("approve: %d %s", r.code, r.body)
	}
}

func TestListRatings(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	// R1: 02-10 by phone1 over IVR; R2: 02-12 15:00 by phone1 over SMS link;
	// R3: now by phone2 with work order WO-X; R4: now by phone1 over PC with work order WO-X.
	e.post(rating("k-1", "satisfied", func(m map[string]any) { m["rated_at"] = "2026-02-10T09:00:00+08:00" }))
	e.post(rating("k-2", "dissatisfied", func(m map[string]any) {
		m["rated_at"] = "2026-02-12T15:00:00+08:00"
		m["channel"] = "sms_link"
	}))
	e.post(rating("k-3", "satisfied", func(m map[string]any) { m["rater_phone"] = phone2; m["work_order_id"] = "WO-X" }))
	e.post(rating("k-4", "very_satisfied", func(m map[string]any) { m["channel"] = "pc"; m["work_order_id"] = "WO-X" }))

	ids := func(r response) []string {
		t.Helper()
		out := []string{}
		for _, x := range r.json(t)["ratings"].([]any) {
			m := x.(map[string]any)
			if p, ok := m["rater_phone"].(string); ok && !strings.Contains(p, "****") {
				t.Errorf("rating %v: number not masked: %q", m["id"], p)
			}
			out = append(out, strings.TrimPrefix(m["id"].(string), "R20260213"))
		}
		return out
	}
	for _, tc := range []struct {
		name, query string
		want        []string
	}{
		{"work order", "work_order_id=WO-X", []string{"000003", "000004"}},
		{"work order, none", "work_order_id=WO-none", []string{}},
		{"phone", "phone=" + phone1, []string{"000001", "000002", "000004"}},
		{"phone written otherwise", "phone=" + url.QueryEscape("+86 138-0013-8001"), []string{"000001", "000002", "000004"}},
		{"phone with 0086", "phone=0086" + phone2, []string{"000003"}},
		{"phone masked is no number", "phone=" + url.QueryEscape("138****8001"), []string{}},
		{"phone partial", "phone=8001", []string{}},
		{"phone and work order", "phone=" + phone1 + "&work_order_id=WO-X", []string{"000004"}},
		{"phone and channel", "phone=" + phone1 + "&channel=sms_link", []string{"000002"}},
		{"work order and channel", "work_order_id=WO-X&channel=pc", []string{"000004"}},
		{"phone and limit", "phone=" + phone1 + "&limit=2", []string{"000001", "000002"}},
		{"date range", "from=2026-02-10&to=2026-02-12", []string{"000001", "000002"}},
		{"to is a whole day", "from=2026-02-12&to=2026-02-12", []string{"000002"}},
		{"from an instant", "from=2026-02-12T15:00:01%2B08:00&to=2026-02-13", []string{"000003", "000004"}},
		{"to an instant", "from=2026-02-10&to=2026-02-12T14:59:59%2B08:00", []string{"000001"}},
		{"date range and channel", "from=2026-02-10&to=2026-02-13&channel=hotline_ivr", []string{"000001", "000003"}},
		{"phone and date range", "phone=" + phone1 + "&from=2026-02-11&to=2026-02-13", []string{"000002", "000004"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", "/api/v1/ratings?"+tc.query, superTok, nil)
			if r.code != http.StatusOK {
				t.Fatalf("%d %s", r.code, r.body)
			}
			if got := ids(r); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("ratings %v, want %v", got, tc.want)
			}
		})
	}
	// The exact shape of one listed rating.
	wantBody(t, e.do("GET", "/api/v1/ratings?phone="+phone2, superTok, nil), http.StatusOK,
		`{"ratings":[{"id":"R20260213000003","channel":"hotline_ivr","level":"satisfied","work_order_id":"WO-X","unit_id":"fh-g08",`+
			`"staff_id":"s-007","rater_phone":"139****5678","rated_at":"2026-02-13T10:00:00+08:00",`+
			`"received_at":"2026-02-13T10:00:00+08:00","case_id":null,"seq":1}]}`)

	for _, tc := range []struct{ name, query, field, msg string }{
		{"no selector", "", "work_order_id", "give work_order_id, phone or from"},
		{"only channel", "channel=pc", "work_order_id", "give work_order_id, phone or from"},
		{"only to", "to=2026-02-13", "work_order_id", "give work_order_id, phone or from"},
		{"bad channel", "phone=" + phone1 + "&channel=fax", "channel", "not a channel"},
		{"bad from", "from=13/02/2026", "from", "want RFC 3339 or YYYY-MM-DD"},
		{"impossible from", "from=2026-02-30", "from", "want RFC 3339 or YYYY-MM-DD"},
		{"bad to", "from=2026-02-10&to=tomorrow", "to", "want RFC 3339 or YYYY-MM-DD"},
		{"zero limit", "phone=" + phone1 + "&limit=0", "limit", "want 1..1000"},
		{"limit too big", "phone=" + phone1 + "&limit=1001", "limit", "want 1..1000"},
		{"limit not a number", "phone=" + phone1 + "&limit=ten", "limit", "want 1..1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do("GET", "/api/v1/ratings?"+tc.query, adminTok, nil), http.StatusBadRequest, "invalid", tc.msg, tc.field)
		})
	}
}

// TestFollowupRating: a 追评 through the API closes the case it answers.
func TestFollowupRating(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	_, caseID := e.post(rating("k-1", "very_dissatisfied", nil))
	e.act(handlerTok, caseID, "accept", nil)
	e.act(handlerTok, caseID, "rectify", map[string]any{"note": "已整改"})
	e.at("2026-02-14 09:00")
	r := e.do("POST", "/api/v1/ratings", intakeTok, map[string]any{"idempotency_key": "fu-1", "channel": "hotline_sms",
		"level": "satisfied", "rater_phone": phone1, "followup_of": caseID})
	wantBody(t, r, http.StatusCreated, `{"id":"R20260214000001","case_id":null}`)
	v := e.do("GET", "/api/v1/ratings/R20260214000001", adminTok, nil).json(t)
	if v["followup_of"] != caseID || v["seq"] != 2.0 || v["unit_id"] != "fh-g08" || v["work_order_id"] != "WO-k-1" {
		t.Errorf("follow-up rating: %v", v)
	}
	c := e.do("GET", "/api/v1/cases/"+caseID, adminTok, nil).json(t)
	if c["state"] != "closed" || len(c["deadlines"].(map[string]any)) != 0 {
		t.Errorf("case after a good follow-up: state %v deadlines %v", c["state"], c["deadlines"])
	}
}
