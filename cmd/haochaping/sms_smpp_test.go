package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/haochaping/haochaping/internal/redistest"
	"github.com/haochaping/haochaping/sms/smpp"
)

// TestSMSSMPPEndToEnd runs serve with the smpp provider against the smpp
// package's simulator SMSC: the invitation is submitted in UCS-2, its
// receipt marks it delivered, a reply comes back as deliver_sm and becomes
// the rating, and shutdown unbinds.
func TestSMSSMPPEndToEnd(t *testing.T) {
	sim, err := smpp.NewSimulator(smpp.SimConfig{SystemID: "hcp", Password: "secret", IDFormat: smpp.IDHex,
		Receipts: true, ReceiptDelay: 50 * time.Millisecond, ReceiptIDFormat: smpp.IDDecimal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	host, port, _ := net.SplitHostPort(sim.Addr())
	rs := redistest.Start(t)
	s := startServe(t, rs.URL, "sms: {smpp: {ack_id_format: hex, receipt_id_format: decimal}}\n", map[string]string{
		"HAOCHAPING_SMS_PROVIDER":         "smpp",
		"HAOCHAPING_SMS_SMPP_HOST":        host,
		"HAOCHAPING_SMS_SMPP_PORT":        port,
		"HAOCHAPING_SMS_SMPP_SYSTEM_ID":   "hcp",
		"HAOCHAPING_SMS_SMPP_PASSWORD":    "secret",
		"HAOCHAPING_SMS_SMPP_SOURCE_ADDR": "12345",
		"HAOCHAPING_SMS_TOKEN_KEY":        "smpp-token-key-0123456789abcdefghijk",
		"HAOCHAPING_SMS_SEND_WINDOW":      "00:00-24:00",
	})
	waitFor(t, "the bind", 10*time.Second, func() bool { return sim.BoundConns() > 0 })
	const phone, wo = "13800138003", "WO-SMPP-1"
	code, body := s.do("POST", "/api/v1/sms/invitations", intakeToken, map[string]any{
		"work_order_id": wo, "phone": phone, "unit_id": "fh-g08", "idempotency_key": "smpp-1"})
	if code != 201 {
		t.Fatalf("create invitation: %d %v", code, body)
	}
	id := body["id"].(string)
	waitFor(t, "the invitation delivered", 10*time.Second, func() bool {
		_, inv := s.do("GET", "/api/v1/sms/invitations/"+id, adminToken, nil)
		msgs, _ := inv["messages"].([]any)
		return len(msgs) == 1 && msgs[0].(map[string]any)["state"] == "delivered"
	})
	subs := sim.Submits()
	if len(subs) != 1 || !strings.Contains(subs[0].Text, "5非常不满意") || subs[0].SM.DestAddr != phone {
		t.Fatalf("submits %+v", subs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sim.InjectMO(ctx, phone, "12345", "1 非常满意，谢谢", 7, nil); err != nil {
		t.Fatal(err)
	}
	var rating map[string]any
	waitFor(t, "the rating", 10*time.Second, func() bool {
		_, out := s.do("GET", "/api/v1/ratings?work_order_id="+wo, adminToken, nil)
		rs, _ := out["ratings"].([]any)
		if len(rs) == 1 {
			rating = rs[0].(map[string]any)
		}
		return rating != nil
	})
	if rating["level"] != "very_satisfied" || rating["channel"] != "hotline_sms" || rating["comment"] != "谢谢" {
		t.Fatalf("rating %v", rating)
	}
	s.stop()
	if st := sim.Stats(); st.Unbinds < 1 {
		t.Errorf("no unbind at shutdown: %+v", st)
	}
}
