package main

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/haochaping/haochaping/internal/redistest"
)

const kannelHint = "install Kannel: apt-get install -y kannel kannel-extras (bearerbox, smsbox in /usr/sbin; fakesmsc in /usr/lib/kannel/test)"

// kannelBin finds a Kannel program; a missing one fails the test (CI installs them).
func kannelBin(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/lib/kannel/test", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	t.Fatalf("%s not found: %s", name, kannelHint)
	return ""
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lineLog collects the lines a process writes.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) add(s string) {
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
}

func (l *lineLog) match(sub ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.lines {
		ok := true
		for _, x := range sub {
			ok = ok && strings.Contains(s, x)
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// startProc runs a program until the test ends (SIGTERM, then SIGKILL).
func startProc(t *testing.T, dir string, log *lineLog, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if log != nil {
				log.add(sc.Text())
			}
		}
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = cmd.Wait()
	}
	t.Cleanup(stop)
	procStops.Store(cmd, stop)
	return cmd
}

var procStops sync.Map

func stopProc(cmd *exec.Cmd) {
	if f, ok := procStops.Load(cmd); ok {
		f.(func())()
	}
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ucs2Hex writes text as fakesmsc's "ucs2" message data: %-escaped UTF-16BE bytes.
func ucs2Hex(s string) string {
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(s)) {
		fmt.Fprintf(&b, "%%%02X%%%02X", u>>8, u&0xff)
	}
	return b.String()
}

// decodeFakeUCS2 reads the text fakesmsc prints for a UCS-2 message (URL-encoded UTF-16BE).
func decodeFakeUCS2(s string) string {
	raw, err := url.QueryUnescape(s)
	if err != nil {
		return ""
	}
	b := []byte(raw)
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u = append(u, uint16(b[i])<<8|uint16(b[i+1]))
	}
	return string(utf16.Decode(u))
}

// TestSMSKannelEndToEnd drives serve with the kannel provider against real
// Kannel (bearerbox + smsbox + fakesmsc): an invitation goes out through
// sendsms to the fake SMSC, and a Chinese reply injected there comes back
// through smsbox's get-url and becomes the right rating in the case core.
func TestSMSKannelEndToEnd(t *testing.T) {
	bearerbox, smsbox, fakesmsc := kannelBin(t, "bearerbox"), kannelBin(t, "smsbox"), kannelBin(t, "fakesmsc")
	rs := redistest.Start(t)
	dir := t.TempDir()
	httpPort, admin, boxPort, smscPort, sendPort := freeTCPPort(t), freeTCPPort(t), freeTCPPort(t), freeTCPPort(t), freeTCPPort(t)
	conf := fmt.Sprintf(`group = core
admin-port = %d
admin-password = bar
smsbox-port = %d
box-allow-ip = "127.0.0.1"
dlr-storage = internal
log-level = 1

group = smsc
smsc = fake
smsc-id = FAKE
port = %d
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-port = %d
global-sender = 12345
mo-recode = true
log-level = 1

group = sendsms-user
username = tester
password = foobar
max-messages = 5
concatenation = true

group = sms-service
keyword = default
catch-all = true
max-messages = 0
get-url = "http://127.0.0.1:%d/sms/kannel/mo?from=%%p&to=%%P&text=%%a&coding=%%c&charset=%%C&id=%%I"
`, admin, boxPort, smscPort, sendPort, httpPort)
	confPath := filepath.Join(dir, "kannel.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, rs.URL, "", map[string]string{
		"HAOCHAPING_HTTP_ADDR":              fmt.Sprintf("127.0.0.1:%d", httpPort),
		"HAOCHAPING_SMS_PROVIDER":           "kannel",
		"HAOCHAPING_SMS_KANNEL_SENDSMS_URL": fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/sendsms?username=tester&password=foobar", sendPort),
		"HAOCHAPING_SMS_TOKEN_KEY":          "e2e-token-key-0123456789abcdefghijkl",
		"HAOCHAPING_SMS_SEND_WINDOW":        "00:00-24:00",
	})

	bbLog, sbLog, fakeA := &lineLog{}, &lineLog{}, &lineLog{}
	startProc(t, dir, bbLog, bearerbox, confPath)
	waitFor(t, "bearerbox's fake SMSC port", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", boxPort))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	// The first fake SMSC connection only receives (its one MO comes an hour later).
	a := startProc(t, dir, fakeA, fakesmsc, "-H", "127.0.0.1", "-r", fmt.Sprint(smscPort), "-i", "3600", "-m", "1",
		"13900000000 12345 text unused")
	startProc(t, dir, sbLog, smsbox, confPath)
	waitFor(t, "smsbox's sendsms port", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", sendPort))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	defer func() {
		if t.Failed() {
			t.Logf("bearerbox:\n%s\nsmsbox:\n%s\nfakesmsc:\n%s\nserve:\n%s", bbLog, sbLog, fakeA, s.stderr.String())
		}
	}()

	const phone, wo = "13800138001", "WO-E2E-SMS-1"
	code, body := s.do("POST", "/api/v1/sms/invitations", intakeToken, map[string]any{
		"work_order_id": wo, "phone": phone, "unit_id": "fh-g08", "staff_id": "s-001", "idempotency_key": "e2e-1"})
	if code != 201 {
		t.Fatalf("create invitation: %d %v", code, body)
	}
	id, _ := body["id"].(string)
	// Idempotent: the same request gives the same invitation.
	if code, again := s.do("POST", "/api/v1/sms/invitations", intakeToken, map[string]any{
		"work_order_id": wo, "phone": phone, "unit_id": "fh-g08", "staff_id": "s-001", "idempotency_key": "e2e-1"}); code != 201 || again["id"] != id {
		t.Fatalf("repeated request: %d %v", code, again)
	}
	// One invitation per work order.
	if code, other := s.do("POST", "/api/v1/sms/invitations", intakeToken, map[string]any{
		"work_order_id": wo, "phone": phone, "unit_id": "fh-g08", "idempotency_key": "e2e-2"}); code != 409 {
		t.Fatalf("second invitation for the work order: %d %v", code, other)
	}

	var mt string
	waitFor(t, "the invitation at the fake SMSC", 20*time.Second, func() bool {
		for _, l := range fakeA.match("Got message", phone) {
			if i := strings.Index(l, "ucs-2 "); i >= 0 {
				mt = decodeFakeUCS2(strings.TrimSuffix(strings.TrimSpace(l[i+len("ucs-2 "):]), ">"))
				return true
			}
		}
		return false
	})
	if !strings.Contains(mt, "【奉化12345】请评价您") || !strings.Contains(mt, "1非常满意") || !strings.Contains(mt, "回TD退订") {
		t.Fatalf("invitation as the SMSC got it: %q", mt)
	}
	waitFor(t, "the invitation to be recorded as sent and delivered", 20*time.Second, func() bool {
		_, inv := s.do("GET", "/api/v1/sms/invitations/"+id, adminToken, nil)
		msgs, _ := inv["messages"].([]any)
		if inv["sent"] != true || len(msgs) == 0 {
			return false
		}
		st, _ := msgs[0].(map[string]any)["state"].(string)
		return st == "delivered"
	})

	// The citizen answers in full-width, with a comment, in UCS-2.
	stopProc(a)
	fakeB := &lineLog{}
	startProc(t, dir, fakeB, fakesmsc, "-H", "127.0.0.1", "-r", fmt.Sprint(smscPort), "-i", "3600", "-m", "2",
		phone+" 12345 ucs2 "+ucs2Hex("４ 等了两个小时"))
	var rating map[string]any
	waitFor(t, "the rating from the reply", 20*time.Second, func() bool {
		code, out := s.do("GET", "/api/v1/ratings?work_order_id="+wo, adminToken, nil)
		rs, _ := out["ratings"].([]any)
		if code != 200 || len(rs) == 0 {
			return false
		}
		rating = rs[0].(map[string]any)
		return true
	})
	if rating["level"] != "dissatisfied" || rating["channel"] != "hotline_sms" || rating["comment"] != "等了两个小时" ||
		rating["unit_id"] != "fh-g08" {
		t.Fatalf("rating %v", rating)
	}
	if _, inv := s.do("GET", "/api/v1/sms/invitations/"+id, adminToken, nil); inv["rating_id"] != rating["id"] {
		t.Errorf("invitation %v does not name rating %v", inv, rating["id"])
	}
	// Kannel sent nothing back to the citizen for our empty MO answer.
	time.Sleep(300 * time.Millisecond)
	if got := fakeB.match("Got message"); len(got) != 0 {
		t.Errorf("the fake SMSC received %v after the reply", got)
	}
	if s.stderr.String() != "" && strings.Contains(s.stderr.String(), phone) {
		t.Errorf("a phone number in clear in the log")
	}
}
