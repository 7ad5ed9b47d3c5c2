package kannel

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/haochaping/haochaping/sms"
)

type recorder struct {
	mos      []sms.MO
	receipts []sms.Receipt
}

func (r *recorder) HandleMO(ctx context.Context, p string, m sms.MO) error {
	r.mos = append(r.mos, m)
	return nil
}

func (r *recorder) HandleReceipt(ctx context.Context, p string, rc sms.Receipt) error {
	r.receipts = append(r.receipts, rc)
	return nil
}

func TestMOCharsets(t *testing.T) {
	cases := []struct{ name, query, want string }{
		{"utf-8 (mo-recode)", "text=%EF%BC%94+%E7%AD%89&charset=UTF-8&coding=2", "４ 等"},
		{"raw UTF-16BE", "text=%FF%14%00%20%7B%49&charset=UTF-16BE&coding=2", "４ 等"},
		{"gsm as utf-8", "text=4+slow&charset=UTF-8&coding=0", "4 slow"},
		{"latin-1", "text=caf%E9&charset=ISO-8859-1&coding=0", "café"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			w := httptest.NewRecorder()
			MOHandler(rec).ServeHTTP(w, httptest.NewRequest("GET", "/sms/kannel/mo?from=%2B8613800138000&to=12345&id=abc&"+tc.query, nil))
			if w.Code != 200 || w.Body.Len() != 0 {
				t.Fatalf("answer %d %q: Kannel must get an empty 200", w.Code, w.Body.String())
			}
			if len(rec.mos) != 1 || rec.mos[0].Text != tc.want || rec.mos[0].From != "+8613800138000" || rec.mos[0].ID != "abc" {
				t.Fatalf("mo %+v", rec.mos)
			}
		})
	}
}

func TestMOByPost(t *testing.T) {
	rec := &recorder{}
	req := httptest.NewRequest("POST", "/sms/kannel/mo", strings.NewReader("from=1380013800&text=%E4%BA%94&charset=UTF-8"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	MOHandler(rec).ServeHTTP(w, req)
	if w.Code != 200 || len(rec.mos) != 1 || rec.mos[0].Text != "五" {
		t.Fatalf("%d %+v", w.Code, rec.mos)
	}
}

func TestDLR(t *testing.T) {
	rec := &recorder{}
	for _, q := range []string{"id=M7&status=8&fid=", "id=M7&status=1&fid=a1", "id=M7&status=16"} {
		w := httptest.NewRecorder()
		DLRHandler(rec).ServeHTTP(w, httptest.NewRequest("GET", "/sms/kannel/dlr?"+q, nil))
		if w.Code != 200 || w.Body.Len() != 0 {
			t.Fatalf("%s: %d", q, w.Code)
		}
	}
	want := []string{sms.ReceiptPending, sms.ReceiptDelivered, sms.ReceiptFailed}
	for i, r := range rec.receipts {
		if r.MessageID != "M7" || r.Status != want[i] {
			t.Errorf("receipt %d: %+v", i, r)
		}
	}
}

func TestSend(t *testing.T) {
	var got url.Values
	status, body := http.StatusAccepted, "0: Accepted for delivery"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query()
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	defer srv.Close()
	p, err := New(Config{SendSMSURL: srv.URL + "/cgi-bin/sendsms?username=u&password=secret", DLRURL: "http://us/sms/kannel/dlr"})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := p.Send(context.Background(), sms.OutMessage{ID: "M9", To: "13800138000", Text: "【奉化12345】请评价"})
	if err != nil || len(ids) != 1 || ids[0] != "M9" {
		t.Fatalf("%v %v", ids, err)
	}
	if got.Get("text") != "【奉化12345】请评价" || got.Get("coding") != "2" || got.Get("charset") != "UTF-8" ||
		got.Get("dlr-mask") != "31" || got.Get("dlr-url") != "http://us/sms/kannel/dlr?id=M9&status=%d&fid=%F&ts=%T" ||
		got.Get("username") != "u" {
		t.Errorf("request %v", got)
	}
	status, body = http.StatusServiceUnavailable, "Sendsms queue full"
	if _, err := p.Send(context.Background(), sms.OutMessage{ID: "M10", To: "1", Text: "x"}); !sms.IsTemporary(err) {
		t.Errorf("503 not temporary: %v", err)
	}
	status, body = http.StatusForbidden, "Authorization failed for sendsms"
	if _, err := p.Send(context.Background(), sms.OutMessage{ID: "M11", To: "1", Text: "x"}); err == nil || sms.IsTemporary(err) {
		t.Errorf("403: %v", err)
	}
	srv.Close()
	_, err = p.Send(context.Background(), sms.OutMessage{ID: "M12", To: "1", Text: "x"})
	if !sms.IsTemporary(err) || strings.Contains(err.Error(), "secret") {
		t.Errorf("connection refused: %v", err)
	}
}
