package main

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haochaping/haochaping/internal/redistest"
)

// TestServeDashboardShowsSMSOutbox sends an invitation through the console
// provider and checks that the operations view and /metrics show the
// outbox by state as the message hashes in Redis count it, and the
// console gateway.
func TestServeDashboardShowsSMSOutbox(t *testing.T) {
	rs := redistest.Start(t)
	s := startServe(t, rs.URL, "", map[string]string{"HAOCHAPING_ADMIN_USER": "root", "HAOCHAPING_ADMIN_PASSWORD": "root-password-1",
		"HAOCHAPING_SMS_SEND_WINDOW": "00:00-24:00"})
	if code, body := s.do("POST", "/api/v1/sms/invitations", adminToken, map[string]any{
		"work_order_id": "WO-OPS-1", "phone": "13800138009", "unit_id": "fh-g08", "staff_id": "s-002", "idempotency_key": "ops-1"}); code != 201 {
		t.Fatalf("create invitation: %d %v", code, body)
	}
	rdb := rs.Client(t)
	var want map[string]int64
	waitFor(t, "the invitation sent", 10*time.Second, func() bool {
		want = recountSMS(t, rdb, "e2e")
		return want["sent"] > 0 && want["queued"] == 0 && want["sending"] == 0
	})

	c := dashClient(t, s.base, "root", "root-password-1")
	page := httpGet(t, c, s.base+"/dash/ops")
	if !strings.Contains(page, `<b id="gateway">console</b>`) {
		t.Errorf("the operations view does not name the console gateway:\n%s", page)
	}
	_, box, _ := strings.Cut(page, `id="gateway"`)
	box, _, _ = strings.Cut(box, "</table>")
	got := map[string]int64{}
	for _, m := range regexp.MustCompile(`<tr><td>(\w+)</td><td>(-?\d+)</td></tr>`).FindAllStringSubmatch(box, -1) {
		got[m[1]], _ = strconv.ParseInt(m[2], 10, 64)
	}
	if !maps.Equal(got, want) {
		t.Errorf("operations view shows the outbox %v, the messages in Redis count %v", got, want)
	}

	metrics := httpGet(t, http.DefaultClient, s.base+"/metrics")
	for st, n := range want {
		line := `haochaping_sms_outbox_messages{state="` + st + `"} ` + strconv.FormatInt(n, 10) + "\n"
		if !strings.Contains(metrics, line) {
			t.Errorf("metrics lack %q", line)
		}
	}
}

// recountSMS counts the SMS outbox's message hashes by state, every state
// present.
func recountSMS(t *testing.T, rdb *redis.Client, ns string) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	out := map[string]int64{"queued": 0, "sending": 0, "sent": 0, "delivered": 0, "failed": 0, "expired": 0}
	keys, err := rdb.Keys(ctx, "{"+ns+"}:sms:msg:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if st, err := rdb.HGet(ctx, k, "state").Result(); err == nil {
			out[st]++
		}
	}
	return out
}

// dashClient logs in to the dashboard and returns a client with the session.
func dashClient(t *testing.T, base, name, pw string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	tok := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(httpGet(t, c, base+"/dash/login"))
	if tok == nil {
		t.Fatal("no csrf on the login page")
	}
	resp, err := c.PostForm(base+"/dash/login", url.Values{"csrf": {tok[1]}, "username": {name}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/dash/" {
		t.Fatalf("login ended at %s", resp.Request.URL)
	}
	return c
}

func httpGet(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	io.Copy(&b, resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b.String())
	}
	return b.String()
}
