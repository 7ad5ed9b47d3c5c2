package web_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// caseBody is the part of a case view the tests check exactly.
type caseBody struct {
	ID        string                    `json:"id"`
	State     string                    `json:"state"`
	Version   int                       `json:"version"`
	UnitID    string                    `json:"unit_id"`
	StaffID   string                    `json:"staff_id"`
	RatingID  string                    `json:"rating_id"`
	Level     string                    `json:"level"`
	History   []map[string]any          `json:"history"`
	Deadlines map[string]map[string]any `json:"deadlines"`
	Overdue   bool                      `json:"overdue"`
	Actions   []string                  `json:"actions"`
}

func (e *env) getCase(token, id string) (caseBody, map[string]any) {
	e.t.Helper()
	r := e.do("GET", "/api/v1/cases/"+id, token, nil)
	if r.code != http.StatusOK {
		e.t.Fatalf("get case %s: %d %s", id, r.code, r.body)
	}
	var c caseBody
	if err := json.Unmarshal([]byte(r.body), &c); err != nil {
		e.t.Fatal(err)
	}
	return c, r.json(e.t)
}

// deadline is the JSON of one running clock.
func deadline(due, dueAt string, provisional, overdue, warned bool, left int) map[string]any {
	return map[string]any{"due_date": due, "due_at": dueAt, "provisional": provisional, "overdue": overdue,
		"warned": warned, "working_days_left": float64(left)}
}

func TestGetCase(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00") // a Friday before the Spring Festival
	ratingID, caseID := e.post(rating("k-1", "very_dissatisfied", func(m map[string]any) { m["comment"] = "等了两个小时" }))
	if caseID != "C20260213000001" {
		t.Fatalf("case %q", caseID)
	}
	c, raw := e.getCase(adminTok, caseID)
	if c.ID != caseID || c.State != "open" || c.Version != 1 || c.UnitID != "fh-g08" || c.StaffID != "s-007" ||
		c.RatingID != ratingID || c.Level != "very_dissatisfied" || c.Overdue {
		t.Errorf("case %+v", c)
	}
	wantHistory := []map[string]any{{"at": "2026-02-13T10:00:00+08:00", "actor": "system", "role": "system", "action": "opened", "to": "open"}}
	if !reflect.DeepEqual(c.History, wantHistory) {
		t.Errorf("history %v, want %v", c.History, wantHistory)
	}
	// DOMAIN.md: rating 2026-02-13 (Fri) → callback due 2026-02-14 (make-up
	// Saturday), appeal due 2026-02-27; the comment's text review is 5
	// working days too. due_at is 24:00 of due_date in +08:00.
	wantDeadlines := map[string]map[string]any{
		"callback":    deadline("2026-02-14", "2026-02-15T00:00:00+08:00", false, false, false, 1),
		"appeal":      deadline("2026-02-27", "2026-02-28T00:00:00+08:00", false, false, false, 5),
		"text_review": deadline("2026-02-27", "2026-02-28T00:00:00+08:00", false, false, false, 5),
	}
	if !reflect.DeepEqual(c.Deadlines, wantDeadlines) {
		t.Errorf("deadlines\n got %v\nwant %v", c.Deadlines, wantDeadlines)
	}
	if _, ok := raw["clocks"]; ok {
		t.Errorf("case view shows the internal clocks: %v", raw["clocks"])
	}
	for _, k := range []string{"work_order_id", "rated_at", "opened_at", "updated_at", "rules", "channel"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("case view lacks %q", k)
		}
	}
	// actions says what the caller may do now.
	for _, tc := range []struct {
		token string
		want  []string
	}{
		{adminTok, []string{"callback", "note"}},
		{handlerTok, []string{"callback", "appeal", "accept", "note"}},
		{superTok, []string{}},
		{intakeTok, []string{}},
	} {
		if got, _ := e.getCase(tc.token, caseID); !reflect.DeepEqual(got.Actions, tc.want) {
			t.Errorf("%s: actions %v, want %v", tc.token, got.Actions, tc.want)
		}
	}
	for _, id := range []string{"C20260213000002", "R20260213000001", "x"} {
		wantError(t, e.do("GET", "/api/v1/cases/"+id, adminTok, nil), http.StatusNotFound, "not_found", "not found", "")
	}
}

// TestCaseDeadlinesOverTime moves the clock across the callback deadline:
// the view's overdue turns true at 24:00 of the due date, the warning and
// the breach fired by the deadline worker show in the case.
func TestCaseDeadlinesOverTime(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	_, caseID := e.post(rating("k-1", "dissatisfied", nil))
	appeal := func(left int) map[string]any {
		return deadline("2026-02-27", "2026-02-28T00:00:00+08:00", false, false, false, left)
	}
	for _, tc := range []struct {
		at          string
		fire        bool
		callback    map[string]any
		appeal      map[string]any
		caseOverdue bool
	}{
		{"2026-02-14 09:00", false, deadline("2026-02-14", "2026-02-15T00:00:00+08:00", false, false, false, 0), appeal(4), false},
		// The warning fires at 75% of the period (2026-02-14 14:30).
		{"2026-02-14 15:00", true, deadline("2026-02-14", "2026-02-15T00:00:00+08:00", false, false, true, 0), appeal(4), false},
		{"2026-02-14 23:59", false, deadline("2026-02-14", "2026-02-15T00:00:00+08:00", false, false, true, 0), appeal(4), false},
		// 24:00 of the due date: overdue, before and after the worker runs.
		{"2026-02-15 00:00", false, deadline("2026-02-14", "2026-02-15T00:00:00+08:00", false, true, true, 0), appeal(4), false},
		{"2026-02-15 00:01", true, deadline("2026-02-14", "2026-02-15T00:00:00+08:00", false, true, true, 0), appeal(4), true},
		// After the holiday the countdown goes negative.
		{"2026-02-24 09:00", false, deadline("2026-02-14", "2026-02-15T00:00:00+08:00", false, true, true, -1), appeal(3), true},
	} {
		e.at(tc.at)
		if tc.fire {
			e.fire()
		}
		c, _ := e.getCase(adminTok, caseID)
		if !reflect.DeepEqual(c.Deadlines["callback"], tc.callback) {
			t.Errorf("%s: callback %v, want %v", tc.at, c.Deadlines["callback"], tc.callback)
		}
		if !reflect.DeepEqual(c.Deadlines["appeal"], tc.appeal) {
			t.Errorf("%s: appeal %v, want %v", tc.at, c.Deadlines["appeal"], tc.appeal)
		}
		if c.Overdue != tc.caseOverdue || c.State != "open" {
			t.Errorf("%s: case overdue %v state %s, want %v open", tc.at, c.Overdue, c.State, tc.caseOverdue)
		}
	}
	c, _ := e.getCase(adminTok, caseID)
	var actions []string
	for _, h := range c.History {
		actions = append(actions, h["action"].(string))
	}
	if got := strings.Join(actions, ","); got != "opened,deadline_warning,deadline_overdue" {
		t.Errorf("history actions %s", got)
	}
}

// TestCaseDeadlinesWorkedExamples checks DOMAIN.md's worked examples through the API.
func TestCaseDeadlinesWorkedExamples(t *testing.T) {
	for _, tc := range []struct {
		at                  string
		callback, appeal    string
		callbackLeft, appLf int
		provisional         bool
	}{
		{"2026-02-13 10:00", "2026-02-14", "2026-02-27", 1, 5, false},
		{"2026-09-30 10:00", "2026-10-08", "2026-10-13", 1, 5, false},
		{"2025-12-31 10:00", "2026-01-04", "2026-01-08", 1, 5, false},
		// 2027's holidays are not announced yet: the deadlines are provisional.
		{"2026-12-31 10:00", "2027-01-01", "2027-01-07", 1, 5, true},
	} {
		t.Run(tc.at[:10], func(t *testing.T) {
			e := newEnv(t, tc.at)
			_, caseID := e.post(rating("k-1", "dissatisfied", nil))
			c, _ := e.getCase(handlerTok, caseID)
			// due_at is 24:00 of the due date, 00:00 of the next day.
			end := func(d string) string { return nextDay(t, d) + "T00:00:00+08:00" }
			want := map[string]map[string]any{
				"callback": deadline(tc.callback, end(tc.callback), tc.provisional, false, false, tc.callbackLeft),
				"appeal":   deadline(tc.appeal, end(tc.appeal), tc.provisional, false, false, tc.appLf),
			}
			if !reflect.DeepEqual(c.Deadlines, want) {
				t.Errorf("deadlines\n got %v\nwant %v", c.Deadlines, want)
			}
		})
	}
}

func TestActions(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	_, c1 := e.post(rating("k-1", "very_dissatisfied", nil))
	_, c2 := e.post(rating("k-2", "dissatisfied", nil))
	_, c3 := e.post(rating("k-3", "dissatisfied", nil))

	e.at("2026-02-13 11:00")
	v := e.act(handlerTok, c1, "callback", map[string]any{"note": "已回访，市民反映等待时间长"})
	if v["state"] != "called_back" || v["version"] != 2.0 {
		t.Errorf("after callback: state %v version %v", v["state"], v["version"])
	}
	if got := v["actions"]; !reflect.DeepEqual(got, []any{"appeal", "accept", "note"}) {
		t.Errorf("actions after callback %v", got)
	}
	dl := v["deadlines"].(map[string]any)
	if _, ok := dl["callback"]; ok || dl["appeal"] == nil || len(dl) != 1 {
		t.Errorf("deadlines after callback: %v, want the appeal only", dl)
	}
	hist := v["history"].([]any)
	last := hist[len(hist)-1].(map[string]any)
	wantLast := map[string]any{"at": "2026-02-13T11:00:00+08:00", "actor": "token:h-g08", "role": "handler", "action": "callback",
		"from": "open", "to": "called_back", "note": "已回访，市民反映等待时间长"}
	if !reflect.DeepEqual(last, wantLast) {
		t.Errorf("history entry %v, want %v", last, wantLast)
	}
	// The view returned is what GET shows.
	if g, _ := e.getCase(handlerTok, c1); g.State != "called_back" || g.Version != 2 {
		t.Errorf("GET after callback: %+v", g)
	}

	for _, tc := range []struct {
		name, token, id, action string
		body                    any
		status                  int
		code, msg, field        string
	}{
		{"callback twice", handlerTok, c1, "callback", map[string]any{"note": "again"},
			409, "state", "callback in state called_back: action not allowed in this state", ""},
		{"rectify while open", handlerTok, c2, "rectify", map[string]any{"note": "x"},
			409, "state", "rectify in state open: action not allowed in this state", ""},
		{"uphold without an appeal", adminTok, c2, "uphold", nil,
			409, "state", "uphold in state open: action not allowed in this state", ""},
		{"stale version", handlerTok, c1, "note", map[string]any{"note": "x", "version": 1},
			409, "conflict", "the case changed meanwhile; reload and retry", ""},
		{"unknown action", handlerTok, c2, "frobnicate", map[string]any{"note": "x"},
			400, "invalid", `"frobnicate" is not an action`, "action"},
		{"system action", handlerTok, c2, "appeal_expired", nil,
			400, "invalid", `"appeal_expired" is not an action`, "action"},
		{"system action by admin", adminTok, c2, "followup_good", nil,
			400, "invalid", `"followup_good" is not an action`, "action"},
		{"callback without a note", handlerTok, c2, "callback", nil,
			400, "invalid", "required for callback", "note"},
		{"callback with a blank note", handlerTok, c2, "callback", map[string]any{"note": "  "},
			400, "invalid", "required for callback", "note"},
		{"appeal without a reason", handlerTok, c2, "appeal", map[string]any{"note": "x"},
			400, "invalid", "must be mistaken or malicious", "reason"},
		{"appeal without a note", handlerTok, c2, "appeal", map[string]any{"reason": "malicious"},
			400, "invalid", "required: what the callback found", "note"},
		{"unknown field", handlerTok, c2, "callback", map[string]any{"note": "x", "state": "closed"},
			400, "invalid", "unknown field", "state"},
		{"malformed body", handlerTok, c2, "callback", `{"note":`,
			400, "invalid", "unexpected EOF", "body"},
		{"unknown case", handlerTok, "C20260213000099", "callback", map[string]any{"note": "x"},
			404, "not_found", "not found", ""},
		{"unknown case by admin", adminTok, "C20260213000099", "callback", map[string]any{"note": "x"},
			404, "not_found", "not found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/api/v1/cases/"+tc.id+"/"+tc.action, tc.token, tc.body)
			wantError(t, r, tc.status, tc.code, tc.msg, tc.field)
		})
	}
	// Nothing above changed c2.
	if g, _ := e.getCase(adminTok, c2); g.State != "open" || g.Version != 1 || len(g.History) != 1 {
		t.Errorf("c2 after refused actions: %+v", g)
	}

	// accept needs no body at all; the matching version is taken.
	r := e.send(request{method: "POST", path: "/api/v1/cases/" + c2 + "/accept", token: handlerTok})
	if v := r.json(t); r.code != http.StatusOK || v["state"] != "rectifying" || v["deadlines"].(map[string]any)["rectification"] == nil {
		t.Errorf("accept: %d %s", r.code, r.body)
	}
	if v := e.act(handlerTok, c1, "appeal", map[string]any{"reason": "malicious", "note": "恶意差评", "version": 2}); v["state"] != "appealed" {
		t.Errorf("appeal: %v", v["state"])
	}
	// A closed case takes notes only.
	if v := e.act(adminTok, c1, "uphold", map[string]any{"note": "属实"}); v["state"] != "not_adopted" ||
		!reflect.DeepEqual(v["actions"], []any{"note"}) || len(v["deadlines"].(map[string]any)) != 0 {
		t.Errorf("uphold: state %v actions %v deadlines %v", v["state"], v["actions"], v["deadlines"])
	}
	e.act(handlerTok, c3, "appeal", map[string]any{"reason": "mistaken", "note": "误评"})
	if v := e.act(adminTok, c3, "reject", nil); v["state"] != "rectifying" {
		t.Errorf("reject: %v", v["state"])
	}
	if v := e.act(adminTok, c3, "note", map[string]any{"note": "催办"}); v["state"] != "rectifying" || v["version"] != 4.0 {
		t.Errorf("note: state %v version %v", v["state"], v["version"])
	}
}

func TestListCases(t *testing.T) {
	e := newEnv(t, "2026-02-13 10:00")
	_, a := e.post(rating("k-a", "dissatisfied", nil))
	_, b := e.post(rating("k-b", "dissatisfied", func(m map[string]any) { m["unit_id"] = "fh-g09" }))
	_, c := e.post(rating("k-c", "very_dissatisfied", nil))
	e.post(rating("k-good", "satisfied", nil))
	e.act(handlerTok, c, "callback", map[string]any{"note": "已回访"})

	list := func(tok, query string) []string {
		t.Helper()
		r := e.do("GET", "/api/v1/cases"+query, tok, nil)
		if r.code != http.StatusOK {
			t.Fatalf("list %s: %d %s", query, r.code, r.body)
		}
		out := []string{}
		for _, x := range r.json(t)["cases"].([]any) {
			m := x.(map[string]any)
			out = append(out, m["id"].(string))
			if _, ok := m["clocks"]; ok {
				t.Errorf("listed case %v shows the internal clocks", m["id"])
			}
			if m["deadlines"] == nil || m["actions"] == nil {
				t.Errorf("listed case %v lacks deadlines or actions: %v", m["id"], m)
			}
		}
		return out
	}
	check := func(tok, query string, want ...string) {
		t.Helper()
		if want == nil {
			want = []string{}
		}
		if got := list(tok, query); !reflect.DeepEqual(got, want) {
			t.Errorf("GET /api/v1/cases%s: %v, want %v", query, got, want)
		}
	}
	// Earliest due first: a and b are due 02-14; c's earliest is its appeal, 02-27.
	check(adminTok, "", a, b, c)
	check(adminTok, "?state=open", a, b)
	check(adminTok, "?state=called_back", c)
	check(adminTok, "?state=rectifying")
	check(adminTok, "?unit_id=fh-g09", b)
	check(adminTok, "?unit_id=fh-g08&state=open", a)
	check(adminTok, "?unit_id=fh-g08&unit_id=fh-g09", a, b, c)
	check(adminTok, "?unit_id=fh-t01")
	check(adminTok, "?limit=1", a)
	check(adminTok, "?overdue=true")
	check(adminTok, "?overdue=false", a, b, c)
	check(handlerTok, "", a, c)

	// Past the callback deadline, once the worker ran: a and b are overdue.
	e.at("2026-02-15 01:00")
	e.fire()
	check(adminTok, "?overdue=true", a, b)
	check(adminTok, "?overdue=true&unit_id=fh-g09", b)
	check(adminTok, "?overdue=true&state=open", a, b)
	check(adminTok, "?overdue=true&state=called_back")
	check(handlerTok, "?overdue=true", a)
	check(superTok, "?overdue=true&limit=1", a)
	r := e.do("GET", "/api/v1/cases?overdue=true", adminTok, nil)
	for _, x := range r.json(t)["cases"].([]any) {
		if m := x.(map[string]any); m["overdue"] != true {
			t.Errorf("case %v listed as overdue has overdue %v", m["id"], m["overdue"])
		}
	}
	// Terminal states are listed when asked for.
	e.act(handlerTok, c, "appeal", map[string]any{"reason": "mistaken", "note": "误评"})
	e.act(adminTok, c, "uphold", nil)
	check(adminTok, "?state=not_adopted", c)
	check(adminTok, "", a, b)

	for _, tc := range []struct{ name, query, field, msg string }{
		{"bad state", "?state=bogus", "state", "not a state"},
		{"bad overdue", "?overdue=yes", "overdue", "true or false"},
		{"zero limit", "?limit=0", "limit", "want 1..1000"},
		{"negative limit", "?limit=-1", "limit", "want 1..1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do("GET", "/api/v1/cases"+tc.query, adminTok, nil), http.StatusBadRequest, "invalid", tc.msg, tc.field)
		})
	}
}

func nextDay(t *testing.T, d string) string {
	t.Helper()
	day, err := time.Parse(time.DateOnly, d)
	if err != nil {
		t.Fatal(err)
	}
	return day.AddDate(0, 0, 1).Format(time.DateOnly)
}
