package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/haochaping/haochaping/internal/redistest"
)

// TestServeOnRedisCluster runs serve on a Redis Cluster of three masters
// with the default modules (dashboard, SMS by the console provider): the
// API, the deadline worker, the SMS outbox and reply path, the dashboard
// login and `haochaping user` work, also after every node's script cache
// is flushed; every key of the namespace sits in the one slot of its hash
// tag; and no Cluster error (CROSSSLOT, MOVED, NOSCRIPT) reaches the log.
func TestServeOnRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	env := map[string]string{"HAOCHAPING_REDIS_CLUSTER": "true", "HAOCHAPING_SMS_SEND_WINDOW": "00:00-24:00",
		"HAOCHAPING_ADMIN_USER": "root", "HAOCHAPING_ADMIN_PASSWORD": "root-password-1"}
	s := startServe(t, cl.URL(), "", env)
	defer func() {
		if t.Failed() {
			t.Logf("serve:\n%s", tail(s.stderr.String(), 6000))
		}
	}()
	ctx := context.Background()
	rdb := cl.Client(t)

	if code, _ := s.do("GET", "/readyz", "", nil); code != 200 {
		t.Errorf("readyz %d", code)
	}
	// Ratings: a bad one opens a case, its retry gives the same answer, a
	// good one opens none.
	bad := map[string]any{"idempotency_key": "cl-1", "channel": "hotline_ivr", "level": "very_dissatisfied",
		"work_order_id": "WO-CL-1", "unit_id": "fh-g08", "staff_id": "s-1", "rater_phone": "13800138001",
		"comment": "等了两个小时"}
	code, body := s.do("POST", "/api/v1/ratings", intakeToken, bad)
	if code != 201 || body["case_id"] == nil {
		t.Fatalf("post bad rating: %d %v", code, body)
	}
	id, caseID := body["id"].(string), body["case_id"].(string)
	if code, again := s.do("POST", "/api/v1/ratings", intakeToken, bad); code != 200 || again["id"] != id || again["case_id"] != caseID {
		t.Errorf("retry: %d %v, want 200 with id %s and case %s", code, again, id, caseID)
	}
	good := map[string]any{"idempotency_key": "cl-2", "channel": "hotline_ivr", "level": "satisfied",
		"unit_id": "fh-g08", "comment": "态度很好"}
	if code, b := s.do("POST", "/api/v1/ratings", intakeToken, good); code != 201 || b["case_id"] != nil {
		t.Errorf("good rating: %d %v, want 201 with case_id null", code, b)
	}
	if code, r := s.do("GET", "/api/v1/ratings/"+id, adminToken, nil); code != 200 || r["level"] != "very_dissatisfied" ||
		r["comment"] != "等了两个小时" || r["rater_phone"] != "138****8001" {
		t.Errorf("get rating: %d %v", code, r)
	}
	code, c := s.do("GET", "/api/v1/cases/"+caseID, handlerToken, nil)
	if code != 200 || c["state"] != "open" {
		t.Fatalf("get case: %d %v", code, c)
	}
	// The case's clocks are in the deadline set.
	members, err := rdb.ZRange(ctx, "{e2e}:dl", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	clocks := 0
	for _, m := range members {
		if strings.HasPrefix(m, caseID+"|") {
			clocks++
		}
	}
	if clocks == 0 {
		t.Errorf("no clock of case %s in the deadline set: %v", caseID, members)
	}

	// Redis forgets its scripts (a restart, a failover to a replica that
	// never ran them): the store and the SMS and dashboard scripts send them
	// again (EVAL after EVALSHA's NOSCRIPT), node by node.
	home := cl.NodeOf(t, "{e2e}")
	evalsBefore := evalCalls(t, home)
	for _, n := range cl.Nodes {
		if err := n.Client(t).ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}

	if code, c := s.do("POST", "/api/v1/cases/"+caseID+"/callback", handlerToken, map[string]any{"note": "called back"}); code != 200 || c["state"] != "called_back" {
		t.Fatalf("callback: %d %v", code, c)
	}
	if n := evalCalls(t, home); n <= evalsBefore {
		t.Errorf("EVAL calls on %s: %d before the script flush, %d after the callback; want the script sent again", home.Addr, evalsBefore, n)
	}
	code, list := s.do("GET", "/api/v1/cases?state=called_back&unit_id=fh-g08", handlerToken, nil)
	if cs, _ := list["cases"].([]any); code != 200 || len(cs) != 1 {
		t.Errorf("cases of fh-g08 called back: %d %v", code, list)
	}
	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02")
	code, st := s.do("GET", "/api/v1/stats?from="+today+"&to="+today, adminToken, nil)
	if total, _ := st["total"].(map[string]any); code != 200 || total["total"] != 2.0 || total["bad"] != 1.0 {
		t.Errorf("stats: %d %v", code, st)
	}

	// The deadline worker: ratings twelve days old have their callback
	// overdue and are confirmed automatically (as in TestTwoServesFireDeadlinesOnce).
	const old = 5
	ratedAt := time.Now().AddDate(0, 0, -12).Format(time.RFC3339)
	for i := range old {
		if code, b := s.do("POST", "/api/v1/ratings", intakeToken, map[string]any{"idempotency_key": fmt.Sprint("cl-old-", i),
			"channel": "pc", "level": "dissatisfied", "unit_id": "fh-t01", "rated_at": ratedAt}); code != 201 {
			t.Fatalf("old rating: %d %v", code, b)
		}
	}
	waitFor(t, "the old cases confirmed by the deadline worker", 10*time.Second, func() bool {
		_, l := s.do("GET", "/api/v1/cases?state=rectifying&unit_id=fh-t01", adminToken, nil)
		cs, _ := l["cases"].([]any)
		return len(cs) == old
	})
	xs, err := rdb.XRange(ctx, "{e2e}:events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	overdue := 0
	for _, x := range xs {
		if x.Values["type"] == "deadline_overdue" {
			overdue++
		}
	}
	if overdue != old {
		t.Errorf("%d deadline_overdue events, want %d", overdue, old)
	}

	// SMS: an invitation goes out by the console provider and the reply
	// becomes a rating.
	const phone, wo = "13800138009", "WO-CL-SMS"
	if code, b := s.do("POST", "/api/v1/sms/invitations", intakeToken, map[string]any{"work_order_id": wo, "phone": phone,
		"unit_id": "fh-g08", "staff_id": "s-2", "idempotency_key": "cl-sms-1"}); code != 201 {
		t.Fatalf("create invitation: %d %v", code, b)
	}
	waitFor(t, "the invitation in the console inbox", 10*time.Second, func() bool {
		_, out := s.do("GET", "/dev/sms", "", nil)
		raw, _ := out["_raw"].(string)
		return strings.Contains(raw, phone)
	})
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(s.base+"/dev/sms/reply", url.Values{"from": {phone}, "text": {"2 办得挺快"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reply: %d", resp.StatusCode)
	}
	waitFor(t, "the rating from the SMS reply", 10*time.Second, func() bool {
		_, out := s.do("GET", "/api/v1/ratings?work_order_id="+wo, adminToken, nil)
		rs, _ := out["ratings"].([]any)
		return len(rs) == 1 && rs[0].(map[string]any)["channel"] == "hotline_sms"
	})

	// The dashboard: the administrator from the environment logs in
	// (session, login limiter and audit log in Redis) and sees the cases.
	dash := dashClient(t, s.base, "root", "root-password-1")
	if page := httpGet(t, dash, s.base+"/dash/"); !strings.Contains(page, caseID) {
		t.Errorf("the dashboard does not list case %s", caseID)
	}
	// `haochaping user` reaches the same accounts through the cluster.
	var out, errb bytes.Buffer
	if err := run(ctx, []string{"user", "list"}, &out, &errb, func(k string) string {
		return map[string]string{"HAOCHAPING_REDIS_URL": cl.URL(), "HAOCHAPING_REDIS_CLUSTER": "true",
			"HAOCHAPING_REDIS_NAMESPACE": "e2e"}[k]
	}); err != nil || !strings.Contains(out.String(), "root") {
		t.Errorf("user list on the cluster: %v\n%s%s", err, out.String(), errb.String())
	}

	// Every key sits in the slot of {e2e}, on the node that serves it.
	slot := cl.KeySlot(t, "{e2e}")
	for _, n := range cl.Nodes {
		nc := n.Client(t)
		size, err := nc.DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n != home {
			if size != 0 {
				keys, _ := nc.Keys(ctx, "*").Result()
				t.Errorf("node %s, which does not serve slot %d, holds %d keys: %v", n.Addr, slot, size, keys)
			}
			continue
		}
		inSlot, err := nc.ClusterCountKeysInSlot(ctx, int(slot)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if size < 20 || inSlot != size {
			t.Errorf("node %s holds %d keys, %d of them in slot %d; want them all there", n.Addr, size, inSlot, slot)
		}
		keys, _ := nc.Keys(ctx, "*").Result()
		for _, k := range keys {
			if !strings.HasPrefix(k, "{e2e}:") {
				t.Errorf("key %q lacks the namespace's hash tag", k)
			}
		}
	}

	s.stop()
	log := s.stderr.String()
	for _, bad := range []string{"level=ERROR", "CROSSSLOT", "MOVED", "ASK ", "NOSCRIPT", "TRYAGAIN", "CLUSTERDOWN"} {
		if strings.Contains(log, bad) {
			t.Errorf("serve's log has %q", bad)
		}
	}
	if !strings.Contains(log, "redis_cluster=true") {
		t.Error("the start line does not say the cluster is used")
	}
}

// evalCalls returns how many EVAL commands node has run (INFO commandstats).
func evalCalls(t *testing.T, node *redistest.Server) int64 {
	t.Helper()
	info, err := node.Client(t).Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(info, "cmdstat_eval:calls=")
	if !ok {
		return 0
	}
	n, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
	return n
}
