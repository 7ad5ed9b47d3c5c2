package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"testing"

	"github.com/haochaping/haochaping/internal/redistest"
	"github.com/haochaping/haochaping/internal/web/dashboard"
)

// realIPYAML makes the per-address login limit small (three attempts a
// minute) and keeps the per-account lock-out out of the way.
const realIPYAML = "dashboard: {login_rate: 3, lockout_failures: 100}\n"

// proxiedLogin logs in as a proxy in front of the server would forward it,
// with hdr naming the client (X-Forwarded-For, X-Real-IP). It returns the
// status of the POST without following its redirect: 303 logged in, 401
// wrong password, 429 limited.
func proxiedLogin(t *testing.T, base string, hdr http.Header, name, pw string) int {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(req *http.Request) (int, string) {
		t.Helper()
		for k, vs := range hdr {
			req.Header[k] = vs
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := new(bytes.Buffer)
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	req, _ := http.NewRequest("GET", base+"/dash/login", nil)
	_, page := do(req)
	tok := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if tok == nil {
		t.Fatal("no csrf on the login page")
	}
	form := url.Values{"csrf": {tok[1]}, "username": {name}, "password": {pw}}
	req, _ = http.NewRequest("POST", base+"/dash/login", bytes.NewBufferString(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	code, _ := do(req)
	return code
}

// forwardedFor is the X-Forwarded-For header with the values v.
func forwardedFor(v ...string) http.Header { return http.Header{"X-Forwarded-For": v} }

// auditIPs lists the addresses of the audited entries of a kind, oldest first.
func auditIPs(t *testing.T, rs *redistest.Server, kind string) []string {
	t.Helper()
	es, err := dashboard.NewAuditLog(rs.Client(t), "e2e", 1000).List(context.Background(), kind, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for i := len(es) - 1; i >= 0; i-- {
		ips = append(ips, es[i].IP)
	}
	return ips
}

// TestRealIPTrustedProxy runs serve behind a "proxy" on 127.0.0.1
// (HAOCHAPING_TRUSTED_PROXIES): the login limit counts each client named in
// X-Forwarded-For apart, a client cannot escape it by prepending addresses,
// and the audit log records the clients.
func TestRealIPTrustedProxy(t *testing.T) {
	rs := redistest.Start(t)
	s := startServe(t, rs.URL, realIPYAML, map[string]string{"HAOCHAPING_TRUSTED_PROXIES": "127.0.0.1",
		"HAOCHAPING_ADMIN_USER": "root", "HAOCHAPING_ADMIN_PASSWORD": "root-password-1"})
	const a, b, c = "203.0.113.7", "198.51.100.9", "192.0.2.55"

	for i, name := range []string{"nobody-0", "nobody-1", "nobody-2"} {
		if code := proxiedLogin(t, s.base, forwardedFor(a), name, "wrong-password"); code != http.StatusUnauthorized {
			t.Fatalf("failed login %d from %s: %d, want 401", i, a, code)
		}
	}
	if code := proxiedLogin(t, s.base, forwardedFor(a), "nobody-3", "wrong-password"); code != http.StatusTooManyRequests {
		t.Fatalf("fourth login from %s in a minute: %d, want 429", a, code)
	}
	// Addresses the client writes itself are to the left of the one the
	// proxy appends: they change nothing.
	if code := proxiedLogin(t, s.base, forwardedFor("10.0.0.1, "+b, a), "nobody-4", "wrong-password"); code != http.StatusTooManyRequests {
		t.Errorf("login from %s with spoofed entries: %d, want 429", a, code)
	}
	if code := proxiedLogin(t, s.base, http.Header{"X-Forwarded-For": {"10.0.0.1"}, "X-Real-Ip": {b}}, "nobody-5", "wrong-password"); code != http.StatusUnauthorized {
		// 10.0.0.1 is not a trusted proxy: the client, and a fresh one.
		t.Errorf("login from 10.0.0.1: %d, want 401", code)
	}
	// Another client behind the same proxy is not limited.
	if code := proxiedLogin(t, s.base, forwardedFor(b), "root", "root-password-1"); code != http.StatusSeeOther {
		t.Errorf("login from %s: %d, want 303 (logged in)", b, code)
	}
	if code := proxiedLogin(t, s.base, http.Header{"X-Real-Ip": {c}}, "nobody-6", "wrong-password"); code != http.StatusUnauthorized {
		t.Errorf("login from %s (X-Real-IP): %d, want 401", c, code)
	}

	if got, want := auditIPs(t, rs, dashboard.AuditLoginFailed), []string{a, a, a, "10.0.0.1", c}; !slices.Equal(got, want) {
		t.Errorf("audited failed logins from %v, want %v", got, want)
	}
	if got, want := auditIPs(t, rs, dashboard.AuditLogin), []string{b}; !slices.Equal(got, want) {
		t.Errorf("audited logins from %v, want %v", got, want)
	}
}

// TestRealIPUntrustedPeer runs serve without trusted proxies: the headers
// are ignored, every login counts against the peer (loopback), and the
// audit log records it.
func TestRealIPUntrustedPeer(t *testing.T) {
	rs := redistest.Start(t)
	s := startServe(t, rs.URL, realIPYAML, map[string]string{
		"HAOCHAPING_ADMIN_USER": "root", "HAOCHAPING_ADMIN_PASSWORD": "root-password-1"})
	for i, ip := range []string{"203.0.113.7", "198.51.100.9", "192.0.2.55"} {
		if code := proxiedLogin(t, s.base, forwardedFor(ip), "nobody", "wrong-password-"+ip); code != http.StatusUnauthorized {
			t.Fatalf("failed login %d: %d, want 401", i, code)
		}
	}
	if code := proxiedLogin(t, s.base, http.Header{"X-Forwarded-For": {"192.0.2.99"}, "X-Real-Ip": {"192.0.2.99"}}, "root", "root-password-1"); code != http.StatusTooManyRequests {
		t.Errorf("fourth login from loopback naming a fresh client: %d, want 429", code)
	}
	if got, want := auditIPs(t, rs, dashboard.AuditLoginFailed), []string{"127.0.0.1", "127.0.0.1", "127.0.0.1"}; !slices.Equal(got, want) {
		t.Errorf("audited failed logins from %v, want %v", got, want)
	}
}
