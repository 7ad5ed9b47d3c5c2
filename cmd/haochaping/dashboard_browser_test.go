package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/haochaping/haochaping/internal/redistest"
)

const (
	dashAdminPassword   = "admin-password-e2e"
	dashHandlerPassword = "handler-password-e2e"
)

// dashBrowser starts a headless Chromium with a fresh profile. A missing
// chromium fails the test (apt-get install chromium fonts-wqy-microhei).
func dashBrowser(t *testing.T) context.Context {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (apt-get install chromium): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// dashDo runs browser steps with a time limit.
func dashDo(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		t.Fatalf("%s: %v (at %s)", what, err, loc)
	}
}

// dashGet runs a browser action that returns a value.
func dashGet[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

type dashCSS = chromedp.CSS

func dashLogin(base, user, pw string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(base + "/dash/login"),
		chromedp.WaitVisible(dashCSS(`input[name=username]`)),
		chromedp.SendKeys(dashCSS(`input[name=username]`), user),
		chromedp.SendKeys(dashCSS(`input[name=password]`), pw),
		chromedp.Submit(dashCSS(`input[name=password]`)),
		chromedp.WaitVisible(dashCSS(`header nav`)),
	}
}

func TestDashboardInBrowser(t *testing.T) {
	rs := redistest.Start(t)
	s := startServe(t, rs.URL, `dashboard:
  demo_users:
    - {name: h-g08, password: `+dashHandlerPassword+`, role: handler, units: [fh-g08]}
`, map[string]string{"HAOCHAPING_ADMIN_USER": "admin", "HAOCHAPING_ADMIN_PASSWORD": dashAdminPassword})

	rate := func(key, unit, level, ratedAt, comment string) string {
		t.Helper()
		body := map[string]any{"idempotency_key": key, "channel": "hotline_ivr", "level": level, "unit_id": unit,
			"rater_phone": "13800138001", "rater_name": "张三", "work_order_id": "WO-" + key, "comment": comment}
		if ratedAt != "" {
			body["rated_at"] = ratedAt
		}
		code, b := s.do("POST", "/api/v1/ratings", intakeToken, body)
		if code != 201 {
			t.Fatalf("rating: %d %v", code, b)
		}
		id, _ := b["case_id"].(string)
		return id
	}
	mine := rate("b1", "fh-g08", "very_dissatisfied", "", "办事等了很久")
	other := rate("b2", "fh-t01", "dissatisfied", "", "")
	// Some history for the overview: overdue cases and good ratings.
	old := time.Now().AddDate(0, 0, -3).Format(time.RFC3339)
	for i, u := range []string{"fh-g04", "fh-g04", "fh-t03", "fh-g10", "fh-t01"} {
		rate(fmt.Sprint("o", i), u, "dissatisfied", old, "")
	}
	for i, u := range []string{"fh-g08", "fh-t01", "fh-g04"} {
		rate(fmt.Sprint("g", i), u, "satisfied", "", "")
	}

	// The handler logs in and sees only the unit's cases.
	hb := dashBrowser(t)
	dashDo(t, hb, "handler login", append(dashLogin(s.base, "h-g08", dashHandlerPassword), chromedp.Navigate(s.base+"/dash/cases"))...)
	cases := dashGet(t, hb, "case list", chromedp.Text(dashCSS(`main`)))
	if !strings.Contains(cases, mine) || strings.Contains(cases, other) {
		t.Fatalf("handler's case list: want %s and not %s:\n%s", mine, other, cases)
	}
	if strings.Contains(cases, "13800138001") {
		t.Fatal("number in clear on the case list")
	}

	// The administrator watches the appeal queue in a second browser.
	ab := dashBrowser(t)
	dashDo(t, ab, "admin login", append(dashLogin(s.base, "admin", dashAdminPassword),
		chromedp.Navigate(s.base+"/dash/queues/appeals"), chromedp.WaitVisible(dashCSS(`body[data-live-connected="1"]`)))...)
	if queue := dashGet(t, ab, "queue", chromedp.Text(dashCSS(`main`))); strings.Contains(queue, mine) {
		t.Fatal("case in the appeal queue before the appeal")
	}

	// The handler logs a callback and sees the state change, then appeals.
	dashDo(t, hb, "callback", chromedp.Navigate(s.base+"/dash/cases/"+mine),
		chromedp.SendKeys(dashCSS(`form[data-action=callback] textarea[name=note]`), "已电话回访，群众反映等候时间长"),
		chromedp.Click(dashCSS(`form[data-action=callback] button`)),
		chromedp.WaitVisible(dashCSS(`#case-state[data-state=called_back]`)))
	if state := dashGet(t, hb, "state", chromedp.Text(dashCSS(`#case-state`))); state != "已回访" {
		t.Errorf("state after the callback: %q", state)
	}
	dashDo(t, hb, "appeal", chromedp.SetValue(dashCSS(`form[data-action=appeal] select[name=reason]`), "mistaken"),
		chromedp.SendKeys(dashCSS(`form[data-action=appeal] textarea[name=note]`), "群众按错键，本意为满意"),
		chromedp.Click(dashCSS(`form[data-action=appeal] button`)),
		chromedp.WaitVisible(dashCSS(`#case-state[data-state=appealed]`)))

	// The administrator's queue shows it without a reload.
	dashDo(t, ab, "live queue", chromedp.WaitVisible(dashCSS(fmt.Sprintf(`tr[data-case=%q]`, mine))))
	if v := dashGet(t, ab, "live version", chromedp.AttributeValue(dashCSS(`body`), "data-live-version")); !v.Exists {
		t.Error("the queue changed by a full page load, not by the live update")
	}

	// The administrator decides the appeal.
	dashDo(t, ab, "uphold", chromedp.Click(dashCSS(fmt.Sprintf(`tr[data-case=%q] a`, mine))),
		chromedp.WaitVisible(dashCSS(`form[data-action=uphold]`)),
		chromedp.SendKeys(dashCSS(`form[data-action=uphold] textarea[name=note]`), "核实为误评，申诉成立"),
		chromedp.Click(dashCSS(`form[data-action=uphold] button`)),
		chromedp.WaitVisible(dashCSS(`#case-state[data-state=not_adopted]`)))

	// The handler's case page notices the change live.
	dashDo(t, hb, "case changed", chromedp.WaitVisible(dashCSS(`body[data-case-changed="1"]`)))

	// A screenshot of the overview.
	dashDo(t, ab, "overview", chromedp.Navigate(s.base+"/dash/"), chromedp.WaitVisible(dashCSS(`#n-open`)))
	png := dashGet(t, ab, "screenshot", chromedp.FullScreenshot(100))
	out := filepath.Join(t.TempDir(), "overview.png")
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("overview screenshot: %s (%d bytes)", out, len(png))
	if os.Getenv("HAOCHAPING_UPDATE_SCREENSHOT") == "1" {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "dashboard.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(s.stderr.String(), "13800138001") {
		t.Error("number in clear in the log")
	}
}
