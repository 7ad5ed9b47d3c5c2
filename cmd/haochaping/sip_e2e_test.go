package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/haochaping/haochaping/casecore/redisstore"
	"github.com/haochaping/haochaping/internal/config"
	"github.com/haochaping/haochaping/internal/redistest"
	"github.com/haochaping/haochaping/internal/syncbuf"
)

// sipServe is a serve with SIP enabled on a free loopback port.
type sipServe struct {
	*server
	sipAddr string
	rs      *redistest.Server
}

func startSIPServe(t *testing.T) *sipServe {
	t.Helper()
	// answer_delay leaves time for a CANCEL after the 180.
	return startSIPServeWith(t, "  allow: [127.0.0.0/8]\n  answer_delay: 700ms", 5*time.Second)
}

// needTool fails (never skips) when a peer is missing: CI installs it.
func needTool(t *testing.T, bin, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("%s not found: apt-get install -y %s (%v)", bin, pkg, err)
	}
	return p
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// sipp runs one call of scenario (DIGIT replaced by digit) in a temp dir
// with SIPp's captures linked under pcap/ (see newSIPp).
func (s *sipServe) sipp(t *testing.T, scenario, digit, wo string) {
	t.Helper()
	c := newSIPp(t, s.sipAddr, scenario, digit, "-s", "rate", "-key", "wo", wo)
	if err := os.Mkdir(filepath.Join(c.dir, "pcap"), 0o755); err != nil {
		t.Fatal(err)
	}
	caps, _ := filepath.Glob("/usr/share/sip-tester/*.pcap")
	if len(caps) == 0 {
		t.Fatal("no SIPp captures in /usr/share/sip-tester: apt-get install -y sip-tester")
	}
	for _, p := range caps {
		if err := os.Symlink(p, filepath.Join(c.dir, "pcap", filepath.Base(p))); err != nil {
			t.Fatal(err)
		}
	}
	c.mustRun(t, s)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitRating polls the API for the rating of work order wo.
func (s *sipServe) waitRating(t *testing.T, wo, level string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := s.do("GET", "/api/v1/ratings?work_order_id="+wo, adminToken, nil)
		if rs, _ := body["ratings"].([]any); code == 200 && len(rs) > 0 {
			r := rs[0].(map[string]any)
			if len(rs) != 1 || r["level"] != level || r["channel"] != "hotline_ivr" {
				t.Fatalf("ratings of %s: %v, want one %s rating from hotline_ivr", wo, rs, level)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rating for %s: %d %v\nserve log:\n%s", wo, code, body, tail(s.stderr.String(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// noRatings returns the no-rating records in the event stream.
func (s *sipServe) noRatings(t *testing.T) map[string]string {
	t.Helper()
	rdb := s.rs.Client(t)
	st := redisstore.New(rdb, redisstore.Config{Namespace: "e2e"})
	xs, err := rdb.XRange(context.Background(), "{e2e}:events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{} // work order -> reason
	for _, x := range xs {
		if x.Values["type"] != "no_rating" {
			continue
		}
		nr, err := st.GetNoRating(context.Background(), x.Values["rating_id"].(string))
		if err != nil {
			t.Fatal(err)
		}
		out[nr.WorkOrderID] = nr.Reason
	}
	return out
}

// TestSIPCallsWithRealPeers places calls with SIPp and baresip against
// serve and checks what reaches the case core.
func TestSIPCallsWithRealPeers(t *testing.T) {
	s := startSIPServe(t)
	for _, tc := range []struct {
		name, scenario, digit, level string
	}{
		{"rfc4733 capture pt 101", "rate_pcap", "1", "very_satisfied"},
		{"play_dtmf pt 96", "rate_play_dtmf", "4", "dissatisfied"},
		{"sip info", "rate_info", "5", "very_dissatisfied"},
		{"late offer", "late_offer", "2", "satisfied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wo := "WO-" + strings.ReplaceAll(tc.name, " ", "-")
			s.sipp(t, tc.scenario, tc.digit, wo)
			s.waitRating(t, wo, tc.level)
		})
	}
	t.Run("cancel before answer", func(t *testing.T) {
		s.sipp(t, "cancel", "", "WO-cancel")
		time.Sleep(500 * time.Millisecond)
		if code, body := s.do("GET", "/api/v1/ratings?work_order_id=WO-cancel", adminToken, nil); code != 200 || len(body["ratings"].([]any)) != 0 {
			t.Errorf("a cancelled call left a rating: %d %v", code, body)
		}
	})
	t.Run("bye during the menu", func(t *testing.T) {
		s.sipp(t, "bye_mid_prompt", "", "WO-bye")
		deadline := time.Now().Add(20 * time.Second)
		for {
			if r, ok := s.noRatings(t)["WO-bye"]; ok {
				if r != "hangup" {
					t.Errorf("no-rating reason %q, want hangup", r)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no no_rating outcome for WO-bye\n%s", tail(s.stderr.String(), 4000))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if _, ok := s.noRatings(t)["WO-cancel"]; ok {
			t.Error("a call cancelled before the answer recorded a no-rating outcome")
		}
		// The no-rating outcome becomes an SMS invitation to the caller
		// (queued now or waiting for the send window, depending on the hour).
		rdb := s.rs.Client(t)
		for deadline := time.Now().Add(20 * time.Second); ; {
			inv, _ := rdb.HGet(context.Background(), "{e2e}:sms:wo", "wo:WO-bye").Result()
			if inv != "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no SMS invitation for the caller who hung up\n%s", tail(s.stderr.String(), 4000))
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("baresip sndcode", func(t *testing.T) {
		s.baresip(t, "3", "WO-baresip")
		s.waitRating(t, "WO-baresip", "basically_satisfied")
	})
	if strings.Contains(s.stderr.String(), "13800138001") {
		t.Error("a caller's number in clear in the log")
	}
	// The last call may still be hanging up.
	var code int
	var raw string
	for deadline := time.Now().Add(15 * time.Second); ; {
		var m map[string]any
		code, m = s.do("GET", "/metrics", "", nil)
		raw, _ = m["_raw"].(string)
		if strings.Contains(raw, "haochaping_sip_calls_active 0") || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range []string{`haochaping_sip_calls_total{outcome="answered"}`, `haochaping_sip_calls_total{outcome="cancelled"} 1`,
		`haochaping_sip_dtmf_total{method="info"} 1`, "haochaping_rtp_packets_sent_total", "haochaping_rtp_pacing_error_seconds_bucket",
		"haochaping_sip_answer_latency_seconds_bucket", "haochaping_sip_calls_active 0"} {
		if code != 200 || !strings.Contains(raw, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// baresip calls like a desk phone, presses digit with /sndcode and hangs up
// after our goodbye, driven over its cons UDP interface. It cannot add
// headers, so the call context rides in Request-URI parameters.
func (s *sipServe) baresip(t *testing.T, digit, wo string) {
	t.Helper()
	bin := needTool(t, "baresip", "baresip")
	dir := t.TempDir()
	cons := freeUDPPort(t)
	cfg := fmt.Sprintf(`sip_listen      127.0.0.1:%d
module_path     /usr/lib/baresip/modules
module          g711.so
module          ausine.so
module          cons.so
module_app      account.so
module_app      menu.so
audio_source    ausine,440
ausrc_srate     48000
auplay_srate    48000
ausrc_channels  2
cons_listen     127.0.0.1:%d
`, freeUDPPort(t), cons)
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte("<sip:tester@127.0.0.1>;regint=0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-f", dir, "-e", fmt.Sprintf("/dial sip:rate@%s;unit=fh-g08;wo=%s", s.sipAddr, wo), "-t", "40")
	out := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	send := func(line string) {
		c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", cons))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "%s\n", line)
	}
	// Press the key once the menu plays: the IVR logs the menu state.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.stderr.String(), "work_order="+wo) || !strings.Contains(s.stderr.String(), "next=menu") {
		if time.Now().After(deadline) {
			t.Fatalf("baresip call not answered:\n%s\nserve log:\n%s", tail(out.String(), 2000), tail(s.stderr.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	send("/sndcode " + digit)
	time.Sleep(2 * time.Second)
	send("/hangup")
}

func TestSIPConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ yaml, want string }{
		{"sip: {enabled: true, rtp_ports: 30000}", "sip.rtp_ports"},
		{"sip: {enabled: true, addr: nonsense}", "sip.addr"},
		{"sip: {enabled: true, allow: [10.0.0.0/33]}", "sip.allow[0]"},
		{"sip: {enabled: true, busy_status: 480}", "sip.busy_status"},
		{"sip: {enabled: true, min_se: 30s}", "sip.min_se"},
		{"sip: {enabled: true, inband_dtmf: maybe}", "sip.inband_dtmf"},
		{"sip: {enabled: true, flows: {rate: survey}}", `sip.flows["rate"]`},
		{"sip: {enabled: true, addr: '0.0.0.0:5060'}", "sip.external_ip"},
		{"sip: {enabled: true, ivr: {max_attempts: -1}}", "sip.ivr"},
	} {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		err := run(context.Background(), []string{"config", "check", "-config", p}, io.Discard, io.Discard, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to name %s", tc.yaml, err, tc.want)
		}
	}
	// The environment overrides the file.
	c, err := config.Load("", func(k string) string {
		return map[string]string{"HAOCHAPING_SIP_ENABLED": "true", "HAOCHAPING_RTP_PORTS": "40000-40999",
			"HAOCHAPING_SIP_ALLOW": "10.1.0.0/16, 192.0.2.7", "HAOCHAPING_SIP_ADDR": "127.0.0.1:5070"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	allow, _ := c.SIP.AllowPrefixes()
	if lo, hi, _ := c.SIP.RTPPortRange(); !c.SIP.Enabled || lo != 40000 || hi != 40999 || c.SIP.Addr != "127.0.0.1:5070" ||
		len(allow) != 2 || allow[1].String() != "192.0.2.7/32" {
		t.Errorf("env override: %+v", c.SIP)
	}
}
