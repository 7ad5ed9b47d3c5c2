package sms

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

type testModule struct {
	svc  *Service
	out  *Outbox
	prov *fakeProvider
	rec  *fakeRecorder
	clk  *fakeClock
	rdb  redis.UniversalClient
}

func newTestModule(t *testing.T, rdb redis.UniversalClient, link LinkMode) *testModule {
	t.Helper()
	clk := newClock(at(2026, 3, 2, 10, 0))
	prov := &fakeProvider{}
	out := newTestOutbox(rdb, prov, clk, OutboxConfig{DailyCap: 50})
	tpl, err := NewTemplates(TemplateConfig{Link: link, FixedURL: "https://x.cn/r"})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := NewTokenSigner([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := &fakeRecorder{}
	svc := NewService(ServiceParams{Redis: rdb, Namespace: "t", Outbox: out, Templates: tpl, Signer: sig, Recorder: rec, Now: clk.Now},
		ServiceConfig{PublicURL: "https://x.cn", Ack: true})
	return &testModule{svc: svc, out: out, prov: prov, rec: rec, clk: clk, rdb: rdb}
}

// invite creates an invitation and sends what is due.
func (m *testModule) invite(t *testing.T, wo, phone string) string {
	t.Helper()
	res, err := m.svc.Invite(context.Background(), InviteRequest{WorkOrderID: wo, UnitID: "fh-g08", Phone: phone})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.out.SendDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	return res.ID
}

func (m *testModule) reply(t *testing.T, phone, text string) {
	t.Helper()
	if err := m.svc.HandleMO(context.Background(), "fake", MO{From: phone, Text: text}); err != nil {
		t.Fatal(err)
	}
	m.out.SendDue(context.Background())
}

func kinds(ms []OutMessage) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Kind)
	}
	return out
}

func TestReplies(t *testing.T) {
	const phone = "13800138000"
	type step struct{ wo, text string }
	cases := []struct {
		name string
		// steps: wo != "" creates an invitation for that work order first.
		steps     []step
		advance   time.Duration // before the replies
		wantLevel []Level
		wantNote  string // the recorded comment of the last rating
		wantKinds []string
		late      int
		unsol     int
	}{
		{name: "digit with comment", steps: []step{{"W1", ""}, {"", "４ 等了两个小时"}},
			wantLevel: []Level{Dissatisfied}, wantNote: "等了两个小时", wantKinds: []string{"invitation", "ack"}},
		{name: "word", steps: []step{{"W1", ""}, {"", "非常满意"}}, wantLevel: []Level{VerySatisfied},
			wantKinds: []string{"invitation", "ack"}},
		{name: "ambiguous then rating keeps the text, clarifies once", steps: []step{{"W1", ""}, {"", "5星"}, {"", "五星好评"}, {"", "1"}},
			wantLevel: []Level{VerySatisfied}, wantNote: "5星；五星好评", wantKinds: []string{"invitation", "clarification", "ack"}},
		{name: "free text before the rating", steps: []step{{"W1", ""}, {"", "我想补充一下情况"}, {"", "2"}},
			wantLevel: []Level{Satisfied}, wantNote: "我想补充一下情况", wantKinds: []string{"invitation", "ack"}},
		{name: "first rating wins, later texts are late", steps: []step{{"W1", ""}, {"", "3"}, {"", "改成5"}, {"", "1"}},
			wantLevel: []Level{BasicallySatisfied}, wantKinds: []string{"invitation", "ack"}, late: 2},
		{name: "the same reply again is a duplicate", steps: []step{{"W1", ""}, {"", "3"}, {"", "3"}},
			wantLevel: []Level{BasicallySatisfied}, wantKinds: []string{"invitation", "ack"}},
		{name: "no invitation", steps: []step{{"", "1"}}, unsol: 1},
		{name: "expired invitation", steps: []step{{"W1", ""}}, advance: 8 * 24 * time.Hour, wantKinds: []string{"invitation"}, unsol: 1},
		{name: "newest invitation wins", steps: []step{{"W1", ""}, {"W2", ""}, {"", "5"}},
			wantLevel: []Level{VeryDissatisfied}, wantKinds: []string{"invitation", "invitation", "ack"}},
		{name: "opt-out first", steps: []step{{"W1", ""}, {"", "ＴＤ"}, {"", "1"}},
			wantLevel: []Level{VerySatisfied}, wantKinds: []string{"invitation"}},
		{name: "a rating with TD is a rating", steps: []step{{"W1", ""}, {"", "5 TD"}},
			wantLevel: []Level{VeryDissatisfied}, wantNote: "TD", wantKinds: []string{"invitation", "ack"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, rdb := miniClient(t)
			m := newTestModule(t, rdb, LinkNone)
			var last string
			for i, s := range tc.steps {
				if s.wo != "" {
					last = m.invite(t, s.wo, phone)
					m.clk.Add(time.Minute)
					continue
				}
				if i > 0 && tc.steps[i-1].wo != "" {
					m.clk.Add(tc.advance)
				}
				m.reply(t, phone, s.text)
			}
			if tc.advance > 0 {
				m.clk.Add(tc.advance)
				m.reply(t, phone, "1")
			}
			recs := m.rec.Records()
			if len(recs) != len(tc.wantLevel) {
				t.Fatalf("recorded %d ratings %+v, want %v", len(recs), recs, tc.wantLevel)
			}
			for i, r := range recs {
				if r.Level != tc.wantLevel[i] || r.Via != ViaReply {
					t.Errorf("rating %d: %+v", i, r)
				}
			}
			if len(recs) > 0 {
				if r := recs[len(recs)-1]; r.Comment != tc.wantNote || r.IdempotencyKey != "sms-invitation:"+last {
					t.Errorf("comment %q key %q, want %q for %s", r.Comment, r.IdempotencyKey, tc.wantNote, last)
				}
			}
			if got := strings.Join(kinds(m.prov.Sent()), ","); got != strings.Join(tc.wantKinds, ",") {
				t.Errorf("sent %s, want %s", got, strings.Join(tc.wantKinds, ","))
			}
			if last != "" {
				if late, _ := m.svc.LateComments(context.Background(), last); len(late) != tc.late {
					t.Errorf("late comments %v, want %d", late, tc.late)
				}
			}
			if u, _ := m.svc.Unsolicited(context.Background()); len(u) != tc.unsol {
				t.Errorf("unsolicited %v, want %d", u, tc.unsol)
			}
		})
	}
}

func miniClient(t *testing.T) (any, redis.UniversalClient) {
	var out redis.UniversalClient
	backendsOnce(t, &out)
	return nil, out
}

func TestOptOutSuppressesEverything(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		m := newTestModule(t, rdb, LinkNone)
		m.invite(t, "W1", "13800138000")
		m.clk.Set(at(2026, 3, 2, 22, 0)) // the next invitation waits for the morning
		if res, err := m.svc.Invite(ctx, InviteRequest{WorkOrderID: "W2", UnitID: "u", Phone: "13800138000"}); err != nil || !res.Waiting {
			t.Fatalf("second invitation: %+v %v", res, err)
		}
		m.reply(t, "+86 138 0013 8000", "退订")
		if _, err := m.svc.Invite(ctx, InviteRequest{WorkOrderID: "W3", UnitID: "u", Phone: "13800138000"}); !errors.Is(err, ErrSuppressed) {
			t.Fatalf("invite after opt-out: %v", err)
		}
		m.clk.Set(at(2026, 3, 3, 8, 0))
		m.out.SendDue(ctx)
		if n := len(m.prov.Sent()); n != 1 {
			t.Fatalf("sent %d messages, want only the first invitation", n)
		}
	})
}

func TestDuplicateMODropped(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		m := newTestModule(t, rdb, LinkNone)
		m.invite(t, "W1", "13800138000")
		for range 2 {
			if err := m.svc.HandleMO(context.Background(), "fake", MO{From: "13800138000", Text: "5星", ID: "mo-1"}); err != nil {
				t.Fatal(err)
			}
		}
		inv, _ := m.svc.Get(context.Background(), "I1")
		if len(inv.Comments) != 1 {
			t.Errorf("comments %v", inv.Comments)
		}
	})
}

func TestInviteOncePerWorkOrderAndResend(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		ctx := context.Background()
		m := newTestModule(t, rdb, LinkPerRecipient)
		req := InviteRequest{WorkOrderID: "W1", UnitID: "u", Phone: "13800138000", IdempotencyKey: "k1"}
		a, err := m.svc.Invite(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := m.svc.Invite(ctx, req); err != nil || b.ID != a.ID || !b.Duplicate {
			t.Fatalf("same key: %+v %v", b, err)
		}
		req.IdempotencyKey = "k2"
		if b, err := m.svc.Invite(ctx, req); !errors.Is(err, ErrExists) || b.ID != a.ID {
			t.Fatalf("same work order: %+v %v", b, err)
		}
		m.out.SendDue(ctx)
		if _, err := m.svc.Resend(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		m.out.SendDue(ctx)
		sent := m.prov.Sent()
		if len(sent) != 4 { // invitation + link message, twice
			t.Fatalf("sent %d: %v", len(sent), kinds(sent))
		}
		for _, s := range sent {
			if s.Segments != 1 || CountUCS2(s.Text) > SingleLimit {
				t.Errorf("message of %d characters: %q", CountUCS2(s.Text), s.Text)
			}
		}
		// Both links lead to the invitation.
		for _, s := range []OutMessage{sent[1], sent[3]} {
			tok := linkToken(t, s.Text)
			if inv, err := m.svc.lookupToken(ctx, tok); err != nil || inv.ID != a.ID {
				t.Errorf("link %q: %v", tok, err)
			}
		}
		m.reply(t, "13800138000", "1")
		if _, err := m.svc.Resend(ctx, a.ID); !errors.Is(err, ErrAlreadyRated) {
			t.Errorf("resend of a rated invitation: %v", err)
		}
	})
}

var tokenRE = regexp.MustCompile(`/r/([A-Za-z0-9_-]{32})`)

func linkToken(t *testing.T, text string) string {
	t.Helper()
	m := tokenRE.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no link in %q", text)
	}
	return m[1]
}

// pageClient drives the page handlers.
type pageClient struct {
	t   *testing.T
	mux *http.ServeMux
}

func newPageClient(t *testing.T, s *Service) *pageClient {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /r/{token}", s.ServePage)
	mux.HandleFunc("POST /r/{token}", s.ServePage)
	mux.HandleFunc("GET /r", s.ServeCode)
	mux.HandleFunc("POST /r", s.ServeCode)
	return &pageClient{t: t, mux: mux}
}

func (c *pageClient) do(method, path string, form url.Values, ip string) (*http.Response, string) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, path, body)
	req.RemoteAddr = ip + ":1234"
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	w := httptest.NewRecorder()
	c.mux.ServeHTTP(w, req)
	return w.Result(), w.Body.String()
}

var nonceRE = regexp.MustCompile(`name="nonce" value="([^"]+)"`)

func TestRatingPage(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		m := newTestModule(t, rdb, LinkPerRecipient)
		id := m.invite(t, "W1", "13800138000")
		tok := linkToken(t, m.prov.Sent()[1].Text)
		c := newPageClient(t, m.svc)

		resp, body := c.do("GET", "/r/"+tok, nil, "10.0.0.1")
		if resp.StatusCode != 200 || !strings.Contains(body, "非常不满意") || !strings.Contains(body, "基本满意") {
			t.Fatalf("GET: %d %s", resp.StatusCode, body)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("headers %v", resp.Header)
		}
		for range 3 {
			c.do("GET", "/r/"+tok, nil, "10.0.0.1")
		}
		if len(m.rec.Records()) != 0 {
			t.Fatal("a GET recorded a rating")
		}
		nonce := nonceRE.FindStringSubmatch(body)[1]

		// A form without the page's nonce (cross-site) is refused.
		if resp, _ := c.do("POST", "/r/"+tok, url.Values{"level": {"1"}, "nonce": {"1." + strings.Repeat("A", 16)}}, "10.0.0.1"); resp.StatusCode != 403 {
			t.Errorf("forged nonce: %d", resp.StatusCode)
		}
		// A nonce of another token neither.
		first := "x"
		if tok[0] == 'x' {
			first = "y" // never the token itself
		}
		other := m.svc.sig.PageNonce(first+tok[1:], m.clk.Now())
		if resp, _ := c.do("POST", "/r/"+tok, url.Values{"level": {"1"}, "nonce": {other}}, "10.0.0.1"); resp.StatusCode != 403 {
			t.Errorf("nonce of another token: %d", resp.StatusCode)
		}
		if resp, _ := c.do("POST", "/r/"+tok, url.Values{"level": {"7"}, "nonce": {nonce}}, "10.0.0.1"); resp.StatusCode != 400 {
			t.Errorf("level 7: %d", resp.StatusCode)
		}
		resp, body = c.do("POST", "/r/"+tok, url.Values{"level": {"2"}, "comment": {"  很快 "}, "nonce": {nonce}}, "10.0.0.2")
		if resp.StatusCode != 200 || !strings.Contains(body, "感谢您的评价") {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
		recs := m.rec.Records()
		if len(recs) != 1 || recs[0].Level != Satisfied || recs[0].Via != ViaLink || recs[0].Comment != "很快" ||
			recs[0].IdempotencyKey != "sms-invitation:"+id {
			t.Fatalf("recorded %+v", recs)
		}
		resp, body = c.do("POST", "/r/"+tok, url.Values{"level": {"5"}, "nonce": {nonce}}, "10.0.0.3")
		if !strings.Contains(body, "您已评价过，感谢") || len(m.rec.Records()) != 1 {
			t.Errorf("second POST: %d %s", resp.StatusCode, body)
		}
		if _, body = c.do("GET", "/r/"+tok, nil, "10.0.0.3"); !strings.Contains(body, "您已评价过，感谢") {
			t.Errorf("GET after rating: %s", body)
		}
		// A reply after the page rating is a late comment.
		m.reply(t, "13800138000", "4")
		if late, _ := m.svc.LateComments(context.Background(), id); len(late) != 1 || len(m.rec.Records()) != 1 {
			t.Errorf("late %v records %v", late, m.rec.Records())
		}

		// Forged and altered tokens.
		altered := tok[:31] + "x"
		if altered == tok { // one token in 64 ends with x
			altered = tok[:31] + "y"
		}
		for _, bad := range []string{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", altered, "short"} {
			if resp, body := c.do("GET", "/r/"+bad, nil, "10.0.0.4"); resp.StatusCode != 404 || !strings.Contains(body, "链接无效") {
				t.Errorf("token %q: %d", bad, resp.StatusCode)
			}
		}
	})
}

func TestRatingPageExpiredAndRateLimited(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		m := newTestModule(t, rdb, LinkPerRecipient)
		m.invite(t, "W1", "13800138000")
		tok := linkToken(t, m.prov.Sent()[1].Text)
		c := newPageClient(t, m.svc)
		for i := range DefaultPagePerToken {
			if resp, _ := c.do("GET", "/r/"+tok, nil, "10.0.1."+string(rune('0'+i%10))); resp.StatusCode != 200 {
				t.Fatalf("request %d: %d", i, resp.StatusCode)
			}
		}
		if resp, body := c.do("GET", "/r/"+tok, nil, "10.0.2.1"); resp.StatusCode != 429 || !strings.Contains(body, "请求过于频繁") {
			t.Fatalf("over the token limit: %d", resp.StatusCode)
		}
		for range DefaultPagePerIP {
			c.do("GET", "/r/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil, "10.0.3.1")
		}
		if resp, _ := c.do("GET", "/r/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", nil, "10.0.3.1"); resp.StatusCode != 429 {
			t.Fatalf("over the address limit: %d", resp.StatusCode)
		}
		m.clk.Add(8 * 24 * time.Hour)
		if resp, body := c.do("GET", "/r/"+tok, nil, "10.0.4.1"); resp.StatusCode != 410 || !strings.Contains(body, "已过期") {
			t.Fatalf("expired: %d %s", resp.StatusCode, body)
		}
	})
}

func TestRatingPageWithCode(t *testing.T) {
	backends(t, func(t *testing.T, rdb redis.UniversalClient) {
		m := newTestModule(t, rdb, LinkFixedCode)
		m.invite(t, "W1", "13800138000")
		inv, _ := m.svc.Get(context.Background(), "I1")
		var all string
		for _, s := range m.prov.Sent() {
			all += s.Text
		}
		if !strings.Contains(all, inv.Code) || !strings.Contains(all, "https://x.cn/r") {
			t.Fatalf("code %s not in %q", inv.Code, all)
		}
		c := newPageClient(t, m.svc)
		if resp, body := c.do("GET", "/r", nil, "10.0.0.1"); resp.StatusCode != 200 || !strings.Contains(body, "评价码") {
			t.Fatalf("code form: %d", resp.StatusCode)
		}
		typed := strings.ToLower(inv.Code[:4]) + " " + inv.Code[4:]
		resp, _ := c.do("POST", "/r", url.Values{"code": {typed}}, "10.0.0.1")
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/r/"+inv.Token {
			t.Fatalf("code: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, _ := c.do("POST", "/r", url.Values{"code": {"23456789A"}}, "10.0.0.1"); resp.StatusCode != 404 {
			t.Fatalf("wrong code: %d", resp.StatusCode)
		}
	})
}
