package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/haochaping/haochaping/internal/redistest"
)

// TestFollowupBySMSEndToEnd drives the whole 追评 loop through serve: a bad
// rating opens a case, the unit calls back, accepts and reports the
// rectification; the case core's followup_invite event becomes a follow-up
// SMS to the rater; the rater replies "1" and the case closes.
func TestFollowupBySMSEndToEnd(t *testing.T) {
	rs := redistest.Start(t)
	s := startServe(t, rs.URL, `sms: {provider: console, send_window: "00:00-24:00"}`, nil)
	code, b := s.do("POST", "/api/v1/ratings", intakeToken, map[string]any{"idempotency_key": "fu-1",
		"channel": "hotline_ivr", "level": "dissatisfied", "work_order_id": "WO-FU-1", "unit_id": "fh-g08",
		"staff_id": "s-3", "rater_phone": "13900139000"})
	if code != 201 {
		t.Fatalf("%d %v", code, b)
	}
	caseID := b["case_id"].(string)
	for _, step := range []struct{ action, note string }{
		{"callback", "called the rater"}, {"accept", "we were slow"}, {"rectify", "a second window opened"},
	} {
		if code, c := s.do("POST", "/api/v1/cases/"+caseID+"/"+step.action, handlerToken, map[string]any{"note": step.note}); code != 200 {
			t.Fatalf("%s: %d %v", step.action, code, c)
		}
	}
	// The follow-up invitation reaches the rater (the console provider keeps it).
	inbox := func() string {
		resp, err := http.Get(s.base + "/dev/sms")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		if page := inbox(); strings.Contains(page, "13900139000") && strings.Contains(page, "整改") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no follow-up SMS to the rater:\n%s\n%s", inbox(), tail(s.stderr.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The rater replies "1" (非常满意): a follow-up rating that closes the case.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(s.base+"/dev/sms/reply", url.Values{"from": {"13900139000"}, "text": {"1 问题解决了"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reply: %d", resp.StatusCode)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, c := s.do("GET", "/api/v1/cases/"+caseID, adminToken, nil)
		if code == 200 && c["state"] == "closed" {
			fus, _ := c["followups"].([]any)
			if len(fus) != 1 {
				t.Fatalf("case followups %v", c["followups"])
			}
			code, r := s.do("GET", "/api/v1/ratings/"+fus[0].(string), adminToken, nil)
			if code != 200 || r["followup_of"] != caseID || r["level"] != "very_satisfied" || r["channel"] != "hotline_sms" ||
				r["seq"] != 2.0 || r["comment"] != "问题解决了" {
				t.Errorf("follow-up rating: %d %v", code, r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("case not closed by the follow-up reply: %d %v", code, c)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
