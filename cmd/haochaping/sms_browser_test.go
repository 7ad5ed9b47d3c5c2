package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/device"

	"github.com/haochaping/haochaping/internal/redistest"
)

// smsBrowser starts a headless Chromium with a fresh profile; a missing
// chromium fails the test.
func smsBrowser(t *testing.T) context.Context {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (apt-get install -y chromium fonts-wqy-microhei): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// smsBrowse runs one browser action with a time limit and returns its value.
func smsBrowse[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// screenshotDir is where browser screenshots go: $HAOCHAPING_TEST_OUTPUT
// if set (CI keeps it), else the test's temporary directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("HAOCHAPING_TEST_OUTPUT"); d != "" {
		if err := os.MkdirAll(d, 0o755); err == nil {
			return d
		}
	}
	return t.TempDir()
}

var smsLinkRE = regexp.MustCompile(`https?://[^\s"<，。]+/r/[A-Za-z0-9_-]{32}`)

// TestSMSRatingPageInBrowser opens a rating link from the console inbox in
// headless Chromium at a phone's viewport, chooses, comments, submits,
// sees the thanks, and sees the "used" page when opening the link again.
func TestSMSRatingPageInBrowser(t *testing.T) {
	rs := redistest.Start(t)
	port := freeTCPPort(t)
	// The test's link (http://127.0.0.1:port/r/<token>) is too long to
	// stand alone beside the signature and opt-out: it goes whole in the
	// second segment.
	s := startServe(t, rs.URL, "sms: {link: link, link_placement: second_segment}\n", map[string]string{
		"HAOCHAPING_HTTP_ADDR":       fmt.Sprintf("127.0.0.1:%d", port),
		"HAOCHAPING_SMS_SEND_WINDOW": "00:00-24:00",
	})
	const wo = "WO-BROWSER-1"
	if code, body := s.do("POST", "/api/v1/sms/invitations", adminToken, map[string]any{
		"work_order_id": wo, "phone": "13800138002", "unit_id": "fh-g08", "staff_id": "s-002", "idempotency_key": "b-1"}); code != 201 {
		t.Fatalf("create invitation: %d %v", code, body)
	}
	var link string
	waitFor(t, "the link in the console inbox", 10*time.Second, func() bool {
		_, out := s.do("GET", "/dev/sms", "", nil)
		raw, _ := out["_raw"].(string)
		link = smsLinkRE.FindString(raw)
		return link != ""
	})

	ctx := smsBrowser(t)
	dir := screenshotDir(t)
	smsBrowse(t, ctx, "open the link", chromedp.Steps(
		chromedp.Emulate(device.IPhone12),
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("level4")),
	))
	title := smsBrowse(t, ctx, "title", chromedp.Title())
	smsBrowse(t, ctx, "choose and comment", chromedp.Steps(
		chromedp.Click(chromedp.CSS(`label.c:nth-of-type(4)`)),
		chromedp.SendKeys(chromedp.ID("comment"), "窗口排队太久"),
	))
	form := smsBrowse(t, ctx, "screenshot", chromedp.FullScreenshot(90))
	smsBrowse(t, ctx, "submit", chromedp.Steps(
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("message")),
	))
	msg := smsBrowse(t, ctx, "thanks text", chromedp.Text(chromedp.ID("message")))
	thanks := smsBrowse(t, ctx, "screenshot", chromedp.FullScreenshot(90))
	if !strings.Contains(msg, "感谢您的评价") {
		t.Fatalf("after submit: %q", msg)
	}
	smsBrowse(t, ctx, "open the link again", chromedp.Steps(
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("message")),
	))
	used := smsBrowse(t, ctx, "used text", chromedp.Text(chromedp.ID("message")))
	again := smsBrowse(t, ctx, "screenshot", chromedp.FullScreenshot(90))
	if !strings.Contains(used, "您已评价过，感谢") {
		t.Fatalf("second visit: %q", used)
	}
	for name, b := range map[string][]byte{"sms-page-form.jpg": form, "sms-page-thanks.jpg": thanks, "sms-page-used.jpg": again} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s (page title %q)", dir, title)

	_, out := s.do("GET", "/api/v1/ratings?work_order_id="+wo, adminToken, nil)
	rs2, _ := out["ratings"].([]any)
	if len(rs2) != 1 {
		t.Fatalf("ratings %v", out)
	}
	r := rs2[0].(map[string]any)
	if r["level"] != "dissatisfied" || r["channel"] != "sms_link" || r["comment"] != "窗口排队太久" {
		t.Fatalf("rating %v", r)
	}
}
