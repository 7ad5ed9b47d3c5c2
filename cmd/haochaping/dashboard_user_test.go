package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/haochaping/haochaping/internal/redistest"
)

func TestUserCommand(t *testing.T) {
	rs := redistest.Start(t)
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("redis: {url: "+rs.URL+", namespace: ucli}\n"), 0o600)
	user := func(env map[string]string, stdin string, args ...string) (string, error) {
		t.Helper()
		userStdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{"user"}, append(args, "-config", cfg)...), &out, &errb,
			func(k string) string { return env[k] })
		return out.String() + errb.String(), err
	}
	if out, err := user(map[string]string{"HAOCHAPING_USER_PASSWORD": "handler-pass-1"}, "", "add", "-role", "handler", "-units", "fh-g08,fh-t01", "-name", "王五", "wang"); err != nil {
		t.Fatalf("add: %v %s", err, out)
	}
	out, err := user(nil, "", "add", "-role", "admin", "boss")
	if err != nil || !regexp.MustCompile(`password: \S{12,}`).MatchString(out) {
		t.Fatalf("add with a generated password: %v %s", err, out)
	}
	if out, err := user(nil, "supervisor-pass\n", "add", "-password-stdin", "-role", "supervisor", "sup"); err != nil || strings.Contains(out, "password:") {
		t.Fatalf("add from stdin: %v %s", err, out)
	}
	for _, bad := range [][]string{{"add", "-role", "handler", "nounits"}, {"add", "-role", "king", "x1"},
		{"add", "-role", "handler", "-units", "nope", "x2"}, {"add", "-role", "admin", "wang"}, {"disable", "ghost"}} {
		if out, err := user(map[string]string{"HAOCHAPING_USER_PASSWORD": "long-enough-pass"}, "", bad...); err == nil {
			t.Errorf("%v: no error: %s", bad, out)
		}
	}
	if out, err := user(nil, "short\n", "passwd", "-password-stdin", "wang"); err == nil {
		t.Errorf("short password accepted: %s", out)
	}
	if _, err := user(nil, "new-handler-pass\n", "passwd", "-password-stdin", "wang"); err != nil {
		t.Fatal(err)
	}
	if _, err := user(nil, "", "disable", "sup"); err != nil {
		t.Fatal(err)
	}
	out, err = user(nil, "", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"boss", "admin", "wang", "handler", "fh-g08,fh-t01", "王五", "sup", "disabled"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "argon2") || strings.Contains(out, "new-handler-pass") {
		t.Error("list shows password material")
	}
	if _, err := user(nil, "", "frobnicate"); exitCode(err) != 2 {
		t.Errorf("unknown subcommand: %v", err)
	}
	if _, err := user(nil, "", "add", "-role", "admin", "x"); err == nil {
		t.Error("one-letter name accepted")
	}
	// Embedded Redis cannot be managed from outside.
	emb := filepath.Join(t.TempDir(), "e.yaml")
	os.WriteFile(emb, []byte("redis: {url: embedded}\n"), 0o600)
	var eo bytes.Buffer
	if err := run(context.Background(), []string{"user", "list", "-config", emb}, &eo, &eo, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "embedded") {
		t.Errorf("embedded: %v", err)
	}
}

// TestServeDashboard checks the wiring: the first administrator from the
// environment, the root redirect and the dashboard's security headers.
func TestServeDashboard(t *testing.T) {
	rs := redistest.Start(t)
	s := startServe(t, rs.URL, "", map[string]string{"HAOCHAPING_ADMIN_USER": "root", "HAOCHAPING_ADMIN_PASSWORD": "root-password-1"})
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(s.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	b := new(bytes.Buffer)
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.Request.URL.Path != "/dash/login" || resp.Header.Get("X-Frame-Options") != "DENY" ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("root: %s %v", resp.Request.URL, resp.Header)
	}
	tok := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(b.String())
	if tok == nil {
		t.Fatal("no csrf on the login page")
	}
	resp, err = c.PostForm(s.base+"/dash/login", url.Values{"csrf": {tok[1]}, "username": {"root"}, "password": {"root-password-1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/dash/" {
		t.Fatalf("login: %d %s", resp.StatusCode, resp.Request.URL)
	}
	for _, ck := range jar.Cookies(resp.Request.URL) {
		if ck.Name == "hcp_session" {
			goto ok
		}
	}
	t.Fatal("no session cookie")
ok:
	resp, err = c.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"haochaping_redis_up", `haochaping_dashboard_logins_total{result="ok"} 1`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Existing accounts are never overwritten by the configuration.
	s.stop()
	s2 := startServe(t, rs.URL, "", map[string]string{"HAOCHAPING_ADMIN_USER": "root", "HAOCHAPING_ADMIN_PASSWORD": "other-password-2"})
	for pw, want := range map[string]string{"root-password-1": "/dash/", "other-password-2": "/dash/login"} {
		if got := dashHTTPLogin(t, s2.base, "root", pw); got != want {
			t.Errorf("login with %s after a restart: ended at %s, want %s", pw, got, want)
		}
	}
}

// dashHTTPLogin logs in with a plain HTTP client and returns the path it ends at.
func dashHTTPLogin(t *testing.T, base, name, pw string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(base + "/dash/login")
	if err != nil {
		t.Fatal(err)
	}
	b := new(bytes.Buffer)
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	tok := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(b.String())
	if tok == nil {
		t.Fatal("no csrf on the login page")
	}
	resp, err = c.PostForm(base+"/dash/login", url.Values{"csrf": {tok[1]}, "username": {name}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Request.URL.Path
}
