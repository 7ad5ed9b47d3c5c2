package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haochaping/haochaping/internal/redistest"
)

// The call paths of issue 3 beyond the ways of sending a digit
// (sip_e2e_test.go): the follow-up flow, TCP, hold and resume, a source not
// allowed, calls above max_calls and the drain on shutdown. Each places
// real SIPp calls against serve with scenarios from testdata/sipp.

// startSIPServeWith runs serve with SIP on a free loopback port, the given
// lines added to its sip section and its own shutdown.timeout.
func startSIPServeWith(t *testing.T, sipYAML string, shutdown time.Duration) *sipServe {
	t.Helper()
	prompts, err := filepath.Abs("../../configs/prompts/zh-CN")
	if err != nil {
		t.Fatal(err)
	}
	return startSIPServeYAML(t, fmt.Sprintf(`sip:
  enabled: true
  addr: "127.0.0.1:0"
  rtp_ports: 30000-39999
  ivr: {prompt_dir: %q, digit_timeout: 10s}
%s`, prompts, sipYAML), shutdown)
}

// startSIPServeYAML starts serve on a fresh redis-server with the whole
// given configuration and waits for its SIP listener.
func startSIPServeYAML(t *testing.T, yaml string, shutdown time.Duration) *sipServe {
	t.Helper()
	rs := redistest.Start(t)
	s := startServeWith(t, rs.URL, yaml, nil, shutdown)
	re := regexp.MustCompile(`msg="sip: listening".* udp=(\S+)`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := re.FindStringSubmatch(s.stderr.String()); m != nil {
			return &sipServe{server: s, sipAddr: m[1], rs: rs}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sip listening line:\n%s", s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopAsync begins the shutdown of serve without waiting for it; the
// channel gets serve's result. The cleanup's stop then has nothing to do.
func (s *server) stopAsync() <-chan error {
	s.cancel()
	s.cancel = nil
	return s.done
}

// sippCall is one SIPp call prepared on the test goroutine. start and run
// return its failure instead of failing the test, so that calls can run
// side by side.
type sippCall struct {
	scenario string
	dir      string
	argv     []string // without the ports

	mu     sync.Mutex
	proc   *os.Process
	closed bool
}

// newSIPp prepares scenario (DIGIT replaced by digit) against addr, one call
// (-m 1) from 127.0.0.1; args add -s, -key, -t and the like. SIPp is killed
// at the end of the test if it is still running.
func newSIPp(t *testing.T, addr, scenario, digit string, args ...string) *sippCall {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "sipp", scenario+".xml"))
	if err != nil {
		t.Fatal(err)
	}
	return newSIPpXML(t, addr, scenario, strings.ReplaceAll(string(b), "DIGIT", digit), args...)
}

// newSIPpXML prepares a SIPp call running the scenario xml, named name.
func newSIPpXML(t *testing.T, addr, name, xml string, args ...string) *sippCall {
	t.Helper()
	bin := needTool(t, "sipp", "sip-tester")
	dir := t.TempDir()
	sf := filepath.Join(dir, name+".xml")
	if err := os.WriteFile(sf, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &sippCall{scenario: name, dir: dir, argv: append([]string{bin, "-sf", sf, addr, "-m", "1", "-l", "1",
		"-i", "127.0.0.1", "-mi", "127.0.0.1", "-timeout", "40s", "-timeout_error", "-trace_err", "-nostdin"}, args...)}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.closed = true
		if c.proc != nil {
			_ = c.proc.Kill() // ErrProcessDone when it has ended
		}
	})
	return c
}

// start starts SIPp; the channel gets the result of the call, with SIPp's
// output and error log when it failed. The ports are picked free just
// before, and picked again when SIPp finds one taken by then (other
// programs on a busy test machine take ports too): SIPp binds them before
// it sends anything.
func (c *sippCall) start() <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- c.call() }()
	return ch
}

func (c *sippCall) call() error {
	for attempt := 1; ; attempt++ {
		sip, err1 := pickUDPPort()
		media, err2 := pickUDPPort()
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		var out bytes.Buffer
		cmd := exec.Command(c.argv[0], append(c.argv[1:], "-p", fmt.Sprint(sip), "-mp", fmt.Sprint(media&^1))...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = c.dir, &out, &out
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return fmt.Errorf("sipp %s: the test has ended", c.scenario)
		}
		err := cmd.Start()
		c.proc = cmd.Process
		c.mu.Unlock()
		if err != nil {
			return fmt.Errorf("sipp %s: %w", c.scenario, err)
		}
		kill := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
		err = cmd.Wait()
		kill.Stop()
		if err == nil {
			return nil
		}
		if strings.Contains(out.String(), "Unable to bind") && attempt < 5 {
			continue
		}
		var el []byte
		if errs, _ := filepath.Glob(filepath.Join(c.dir, "*_errors.log")); len(errs) > 0 {
			el, _ = os.ReadFile(errs[0])
		}
		return fmt.Errorf("sipp %s: %w\n%s\n%s", c.scenario, err, tail(out.String(), 2500), tail(string(el), 1500))
	}
}

// pickUDPPort is freeUDPPort for goroutines other than the test's.
func pickUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// run runs the call to its end.
func (c *sippCall) run() error { return <-c.start() }

// mustRun runs the call and fails the test with the serve log when SIPp
// fails.
func (c *sippCall) mustRun(t *testing.T, s *sipServe) {
	t.Helper()
	if err := c.run(); err != nil {
		t.Fatalf("%v\nserve log:\n%s", err, tail(s.stderr.String(), 4000))
	}
}

// waitLog waits until a line of the serve log contains every one of parts.
func (s *sipServe) waitLog(t *testing.T, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		log := s.stderr.String()
		for _, line := range strings.Split(log, "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q\nserve log:\n%s", parts, tail(log, 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitStarted waits until the flow runs on the call of work order wo,
// whose SIPp is running in the background: done gets SIPp's result.
func (s *sipServe) waitStarted(t *testing.T, wo string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, line := range strings.Split(s.stderr.String(), "\n") {
			if strings.Contains(line, "ivr: call started") && strings.Contains(line, "work_order="+wo+" ") {
				return
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the call of %s ended before it was answered: %v\nserve log:\n%s", wo, err, tail(s.stderr.String(), 4000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the call of %s not answered\nserve log:\n%s", wo, tail(s.stderr.String(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metrics returns the /metrics text.
func (s *sipServe) metrics(t *testing.T) string {
	t.Helper()
	code, m := s.do("GET", "/metrics", "", nil)
	raw, _ := m["_raw"].(string)
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	return raw
}

// TestSIPFollowupTCPHold places, on one serve, a follow-up (追评) call that
// closes its case, a rating call over TCP and a call that holds and resumes
// before its key.
func TestSIPFollowupTCPHold(t *testing.T) {
	s := startSIPServe(t)

	t.Run("followup flow closes the case", func(t *testing.T) {
		code, b := s.do("POST", "/api/v1/ratings", intakeToken, map[string]any{"idempotency_key": "sip-fu-1",
			"channel": "hotline_ivr", "level": "very_dissatisfied", "work_order_id": "WO-SIP-FU", "unit_id": "fh-g08",
			"staff_id": "s-17", "rater_phone": "13800138001"})
		if code != 201 || b["case_id"] == nil {
			t.Fatalf("bad rating: %d %v", code, b)
		}
		caseID := b["case_id"].(string)
		var c map[string]any
		for _, step := range []string{"callback", "accept", "rectify"} {
			if code, c = s.do("POST", "/api/v1/cases/"+caseID+"/"+step, handlerToken, map[string]any{"note": step + " done"}); code != 200 {
				t.Fatalf("%s: %d %v", step, code, c)
			}
		}
		if c["state"] != "followup_pending" {
			t.Fatalf("case after rectify: %v, want followup_pending", c["state"])
		}
		newSIPp(t, s.sipAddr, "followup_info", "1", "-s", "followup", "-key", "wo", "WO-SIP-FU", "-key", "case", caseID).mustRun(t, s)
		for deadline := time.Now().Add(20 * time.Second); ; {
			code, c = s.do("GET", "/api/v1/cases/"+caseID, adminToken, nil)
			if code == 200 && c["state"] == "closed" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("case not closed by the follow-up call: %d %v\nserve log:\n%s", code, c, tail(s.stderr.String(), 4000))
			}
			time.Sleep(100 * time.Millisecond)
		}
		fus, _ := c["followups"].([]any)
		if len(fus) != 1 {
			t.Fatalf("case followups %v, want one", c["followups"])
		}
		code, r := s.do("GET", "/api/v1/ratings/"+fus[0].(string), adminToken, nil)
		if code != 200 || r["followup_of"] != caseID || r["level"] != "very_satisfied" || r["channel"] != "hotline_ivr" ||
			r["unit_id"] != "fh-g08" {
			t.Errorf("follow-up rating: %d %v", code, r)
		}
	})

	t.Run("tcp", func(t *testing.T) {
		newSIPp(t, s.sipAddr, "rate_tcp", "3", "-t", "t1", "-s", "rate", "-key", "wo", "WO-TCP").mustRun(t, s)
		s.waitRating(t, "WO-TCP", "basically_satisfied")
		s.waitLog(t, "sip: answered", "transport=TCP")
	})

	t.Run("hold and resume", func(t *testing.T) {
		// The scenario checks the direction in our answers itself.
		newSIPp(t, s.sipAddr, "hold_resume", "2", "-s", "rate", "-key", "wo", "WO-HOLD").mustRun(t, s)
		s.waitRating(t, "WO-HOLD", "satisfied")
	})
}

// TestSIPForbiddenNetwork calls from 127.0.0.1 a serve that allows only
// 127.0.0.2: 403, nothing recorded.
func TestSIPForbiddenNetwork(t *testing.T) {
	s := startSIPServeWith(t, "  allow: [127.0.0.2/32]\n", 5*time.Second)
	newSIPp(t, s.sipAddr, "refused_403", "", "-s", "rate", "-key", "wo", "WO-403").mustRun(t, s)
	s.waitLog(t, "sip: INVITE from a network not allowed", "source=127.0.0.1")
	if raw := s.metrics(t); !strings.Contains(raw, `haochaping_sip_calls_total{outcome="forbidden"} 1`) {
		t.Errorf("metrics lack the forbidden call:\n%s", grepLines(raw, "haochaping_sip_calls_total"))
	}
	if code, b := s.do("GET", "/api/v1/ratings?work_order_id=WO-403", adminToken, nil); code != 200 || len(b["ratings"].([]any)) != 0 {
		t.Errorf("a refused call left a rating: %d %v", code, b)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestSIPOverCapacity fills max_calls 1 with a call that stays up about 3 s
// and places a second: 503 with Retry-After, or 486, by sip.busy_status.
func TestSIPOverCapacity(t *testing.T) {
	for _, status := range []int{503, 486} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			s := startSIPServeWith(t, fmt.Sprintf("  allow: [127.0.0.0/8]\n  max_calls: 1\n  busy_status: %d\n", status), 5*time.Second)
			wo := fmt.Sprint("WO-HOLD-", status)
			first := newSIPp(t, s.sipAddr, "hold_then_bye", "", "-s", "rate", "-key", "wo", wo)
			second := newSIPp(t, s.sipAddr, fmt.Sprint("refused_", status), "", "-s", "rate", "-key", "wo", wo+"-2")
			firstDone := first.start()
			s.waitStarted(t, wo, firstDone)
			err := second.run()
			if ferr := <-firstDone; ferr != nil {
				t.Fatalf("the call holding the slot: %v\nserve log:\n%s", ferr, tail(s.stderr.String(), 4000))
			}
			if err != nil {
				t.Fatalf("the call above max_calls: %v\nserve log:\n%s", err, tail(s.stderr.String(), 4000))
			}
			s.waitLog(t, "sip: max calls reached", "max_calls=1")
			// The slot is free again once the first call has ended.
			for deadline := time.Now().Add(15 * time.Second); ; {
				raw := s.metrics(t)
				if strings.Contains(raw, "haochaping_sip_calls_active 0") {
					if !strings.Contains(raw, `haochaping_sip_calls_total{outcome="busy"} 1`) {
						t.Errorf("metrics lack the busy call:\n%s", grepLines(raw, "haochaping_sip_calls_total"))
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("calls still active:\n%s", grepLines(raw, "haochaping_sip_calls"))
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// TestSIPDrainOnShutdown stops serve during a call whose key comes after
// the stop began: the key still counts, a new INVITE meanwhile gets 503
// (or finds the port closed if the drain is already over), and serve
// returns within shutdown.timeout.
func TestSIPDrainOnShutdown(t *testing.T) {
	const shutdown = 15 * time.Second // drain 9 s, then 4.5 s for aborted calls
	s := startSIPServeWith(t, "  allow: [127.0.0.0/8]\n", shutdown)
	first := newSIPp(t, s.sipAddr, "late_info", "4", "-s", "rate", "-key", "wo", "WO-DRAIN")
	second := newSIPp(t, s.sipAddr, "refused_503", "", "-s", "rate", "-key", "wo", "WO-DRAIN-2", "-timeout", "10s")
	firstDone := first.start()
	// The key comes 2 s after the ACK; stop as soon as the call is answered.
	s.waitStarted(t, "WO-DRAIN", firstDone)
	stopped := time.Now()
	serveDone := s.stopAsync()
	s.waitLog(t, "sip: draining")
	secondErr := second.run()
	logThen := s.stderr.String() // the log when the second call ended

	var serveErr error
	select {
	case serveErr = <-serveDone:
	case <-time.After(shutdown + 10*time.Second):
		t.Fatalf("serve did not return within shutdown.timeout %s (+10 s)\nserve log:\n%s", shutdown, tail(s.stderr.String(), 4000))
	}
	took := time.Since(stopped)
	if serveErr != nil {
		t.Errorf("serve: %v", serveErr)
	}
	if err := <-firstDone; err != nil {
		t.Fatalf("the call in progress: %v\nserve log:\n%s", err, tail(s.stderr.String(), 4000))
	}
	log := s.stderr.String()
	if secondErr != nil {
		// Acceptable only if serve had closed the port by then.
		if !strings.Contains(logThen, "sip: stopped") {
			t.Fatalf("a new INVITE during the drain: %v\nserve log:\n%s", secondErr, tail(log, 4000))
		}
		t.Logf("the second INVITE found the server stopped: %v", secondErr)
	}
	drain, key := strings.Index(log, "sip: draining"), strings.Index(log, "event=valid_key")
	if drain < 0 || key < 0 || key < drain {
		t.Errorf("the key was not pressed during the drain (draining at %d, key at %d)\nserve log:\n%s", drain, key, tail(log, 4000))
	}
	t.Logf("serve stopped %s after the stop began", took.Round(time.Millisecond))

	// The rating pressed during the drain is in the case core: read it
	// through a new serve on the same Redis.
	again := &sipServe{server: startServe(t, s.rs.URL, "", nil), rs: s.rs}
	again.waitRating(t, "WO-DRAIN", "dissatisfied")
}
