package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haochaping/haochaping/internal/redistest"
)

// Bounds of TestServeSurvivesClusterFailover. The failover itself takes a
// few seconds (redistest.FailoverNodeTimeout to detect the dead master, a
// second or so to elect its replica); serve must take ratings again soon
// after the cluster has a master for the namespace's slot again.
const (
	// failoverBound is the most the cluster may take to promote the replica.
	failoverBound = 15 * time.Second
	// recoveryBound is the most serve may take, counted from the kill, to
	// take ratings again. go-redis's ClusterClient learns of the new master
	// from a MOVED, which a dead master never sends, or when it reloads the
	// slot map every ClusterStateReloadInterval (60 s by default since
	// v9.22; redis/go-redis#3979): serve has to shorten that or reload on
	// dial errors to meet this bound.
	recoveryBound = 20 * time.Second
)

// TestServeSurvivesClusterFailover runs serve on a Redis Cluster of three
// masters with a replica each and kills the master of the namespace's
// slot. Ratings and cases written before (and replicated: the test waits
// for the replica to catch up, since replication is asynchronous and the
// last writes before a failover may otherwise be lost) are still there
// afterwards; ratings posted during the failover by a client that retries
// with its idempotency key on 5xx end up stored once each; /readyz says 503
// while the slot has no master and 200 again after; actions on cases and
// the deadline worker work after the failover, every deadline firing once.
func TestServeSurvivesClusterFailover(t *testing.T) {
	cl := redistest.StartClusterWithReplicas(t, 3, 1)
	s := startServe(t, cl.URL(), "", map[string]string{"HAOCHAPING_REDIS_CLUSTER": "true"})
	defer func() {
		if t.Failed() {
			t.Logf("serve:\n%s", tail(s.stderr.String(), 8000))
		}
	}()
	ctx := context.Background()

	// Before the failover: ratings, the bad ones opening cases, and a
	// callback on the first case so that it has a history of two.
	var before []failoverPost
	for i := range 6 {
		p := failoverPost{key: fmt.Sprint("fo-pre-", i), wo: fmt.Sprint("WO-FO-PRE-", i)}
		code, b := s.do("POST", "/api/v1/ratings", intakeToken, failoverRating(p.key, p.wo, i%2 == 0, ""))
		if code != 201 {
			t.Fatalf("rating %s before the failover: %d %v", p.key, code, b)
		}
		p.id, _ = b["id"].(string)
		p.caseID, _ = b["case_id"].(string)
		if (i%2 == 0) != (p.caseID != "") {
			t.Fatalf("rating %s: case %q; want a case for the bad ones only", p.key, p.caseID)
		}
		before = append(before, p)
	}
	if code, c := s.do("POST", "/api/v1/cases/"+before[0].caseID+"/callback", handlerToken, map[string]any{"note": "called back"}); code != 200 || c["state"] != "called_back" {
		t.Fatalf("callback before the failover: %d %v", code, c)
	}

	home := cl.NodeOf(t, "{e2e}")
	replicas := cl.ReplicasOf(t, home)
	if len(replicas) != 1 {
		t.Fatalf("the master %s of {e2e} has %d replicas, want 1:\n%s", home.Addr, len(replicas), cl.ClusterNodes(t))
	}
	cl.WaitReplicated(t, home, 5*time.Second)
	// The replica has them (READONLY: a replica serves reads of its
	// master's slots to a connection that asks).
	conn := replicas[0].Client(t).Conn()
	defer conn.Close()
	if err := conn.ReadOnly(ctx).Err(); err != nil {
		t.Fatalf("READONLY on the replica %s: %v", replicas[0].Addr, err)
	}
	for _, p := range before {
		keys := []string{"{e2e}:r:" + p.id}
		if p.caseID != "" {
			keys = append(keys, "{e2e}:c:"+p.caseID)
		}
		if n, err := conn.Exists(ctx, keys...).Result(); err != nil || n != int64(len(keys)) {
			t.Fatalf("replica %s has %d of %v (%v) after WaitReplicated", replicas[0].Addr, n, keys, err)
		}
	}

	// /readyz is polled throughout, as a load balancer would.
	probe := &readyProbe{base: s.base, client: &http.Client{Timeout: 5 * time.Second}}
	probeCtx, stopProbe := context.WithCancel(ctx)
	probeDone := make(chan struct{})
	go func() { defer close(probeDone); probe.run(probeCtx) }()
	defer func() { stopProbe(); <-probeDone }()

	cl.Kill(t, home)
	killed := time.Now()

	// During the failover clients (several lines of the hotline) post
	// ratings one after another, each retried with its idempotency key on
	// 5xx or a broken connection, until serve has taken three of theirs on
	// the first attempt since the cluster failed over. They start after
	// the kill, so nothing they are told was stored can be lost with the
	// old master.
	const posters = 3
	failedOver := make(chan struct{})
	type result struct {
		during []failoverPost
		err    error
	}
	postCtx, stopPosting := context.WithDeadline(ctx, killed.Add(recoveryBound))
	defer stopPosting()
	client := &http.Client{Timeout: 10 * time.Second}
	results := make(chan result, posters)
	for g := range posters {
		go func() {
			var r result
			r.during, r.err = postThroughFailover(postCtx, client, s.base, failedOver, func(i int) (string, string, bool) {
				return fmt.Sprintf("fo-during-%d-%d", g, i), fmt.Sprintf("WO-FO-DURING-%d-%d", g, i), i%3 == g%3
			})
			results <- r
		}()
	}
	newMaster, took := cl.WaitFailover(t, "{e2e}", home, failoverBound)
	close(failedOver)
	t.Logf("slot of {e2e} failed over from %s to %s %s after the kill", home.Addr, newMaster.Addr, took.Round(time.Millisecond))
	if newMaster != replicas[0] {
		t.Errorf("new master %s, want the replica %s", newMaster.Addr, replicas[0].Addr)
	}
	var during []failoverPost
	for range posters {
		r := <-results
		if r.err != nil {
			t.Fatalf("posting through the failover (the cluster had failed over %s after the kill): %v\n%s/readyz: %s",
				took.Round(time.Millisecond), r.err, cl.ClusterNodes(t), probe)
		}
		during = append(during, r.during...)
	}
	var retried, attempts int
	var back time.Duration
	for _, p := range during {
		attempts += p.attempts
		if p.attempts > 1 {
			retried++
			back = max(back, p.at.Sub(killed))
		}
	}
	if retried == 0 {
		t.Errorf("no rating needed a retry: the failover went unseen (/readyz: %s)", probe)
	}
	waitFor(t, "/readyz 200 after the failover", 5*time.Second, func() bool {
		code, _ := s.do("GET", "/readyz", "", nil)
		return code == 200 && probe.firstOKAfter(killed) > 0
	})
	stopProbe()
	<-probeDone
	if !probe.saw(503, killed) {
		t.Errorf("/readyz never said 503 after the kill: %s", probe)
	}
	t.Logf("%d ratings posted from the kill on by %d clients, %d of them retried, %d attempts in all; "+
		"serve took ratings again %s after the kill, /readyz said 200 again %s after it",
		len(during), posters, retried, attempts, back.Round(time.Millisecond), probe.firstOKAfter(killed).Round(time.Millisecond))

	// Every rating is stored once, under the id serve answered with; a
	// retry of its idempotency key gives that id again.
	for _, p := range append(append([]failoverPost(nil), before...), during...) {
		code, b := s.do("GET", "/api/v1/ratings?work_order_id="+p.wo, adminToken, nil)
		rs, _ := b["ratings"].([]any)
		if code != 200 || len(rs) != 1 || rs[0].(map[string]any)["id"] != p.id {
			t.Errorf("ratings of %s: %d %v; want exactly rating %s", p.wo, code, b, p.id)
		}
		code, again := s.do("POST", "/api/v1/ratings", intakeToken, failoverRating(p.key, p.wo, p.caseID != "", ""))
		if cid, _ := again["case_id"].(string); code != 200 || again["id"] != p.id || cid != p.caseID {
			t.Errorf("rating %s posted again: %d %v; want 200 with id %s and case %q", p.key, code, again, p.id, p.caseID)
		}
	}
	// The cases from before are there with their history, and take actions.
	for i, p := range before {
		if p.caseID == "" {
			continue
		}
		code, c := s.do("GET", "/api/v1/cases/"+p.caseID, handlerToken, nil)
		h, _ := c["history"].([]any)
		wantState, wantHistory := "open", 1
		if i == 0 {
			wantState, wantHistory = "called_back", 2
		}
		if code != 200 || c["state"] != wantState || len(h) != wantHistory {
			t.Errorf("case %s after the failover: %d, state %v, %d history entries; want %s with %d", p.caseID, code, c["state"], len(h), wantState, wantHistory)
		}
	}
	if code, c := s.do("POST", "/api/v1/cases/"+before[2].caseID+"/callback", handlerToken, map[string]any{"note": "after failover"}); code != 200 || c["state"] != "called_back" {
		t.Errorf("callback after the failover: %d %v", code, c)
	}
	if code, c := s.do("POST", "/api/v1/cases/"+before[0].caseID+"/appeal", handlerToken, map[string]any{"reason": "mistaken", "note": "wrong key"}); code != 200 || c["state"] != "appealed" {
		t.Errorf("appeal after the failover: %d %v", code, c)
	}

	// The deadline worker, on the new master: ratings twelve days old have
	// their callback overdue and are confirmed automatically, each once.
	const old = 5
	ratedAt := time.Now().AddDate(0, 0, -12).Format(time.RFC3339)
	oldCases := map[string]bool{}
	for i := range old {
		code, b := s.do("POST", "/api/v1/ratings", intakeToken, failoverRating(fmt.Sprint("fo-old-", i), fmt.Sprint("WO-FO-OLD-", i), true, ratedAt))
		if code != 201 || b["case_id"] == nil {
			t.Fatalf("old rating after the failover: %d %v", code, b)
		}
		oldCases[b["case_id"].(string)] = true
	}
	waitFor(t, "the old cases confirmed by the deadline worker", 10*time.Second, func() bool {
		_, l := s.do("GET", "/api/v1/cases?state=rectifying&unit_id=fh-t01", adminToken, nil)
		cs, _ := l["cases"].([]any)
		return len(cs) == old
	})
	time.Sleep(300 * time.Millisecond) // let a double firing show
	rdb := cl.Client(t)
	xs, err := rdb.XRange(ctx, "{e2e}:events", "-", "+").Result()
	if err != nil {
		t.Fatalf("XRANGE on the cluster after the failover: %v", err)
	}
	fired := map[string]int{}
	for _, x := range xs {
		if x.Values["type"] == "deadline_overdue" {
			fired[fmt.Sprint(x.Values["case_id"])]++
		}
	}
	for id := range oldCases {
		if fired[id] != 1 {
			t.Errorf("case %s: %d deadline_overdue events, want 1", id, fired[id])
		}
	}
	if len(fired) != old {
		t.Errorf("deadline_overdue events for %d cases, want only the %d old ones: %v", len(fired), old, fired)
	}

	// Connections a client dialled but never used would hold serve's
	// shutdown for 5 s (net/http counts them active until then).
	for _, c := range []*http.Client{client, probe.client, http.DefaultClient} {
		c.CloseIdleConnections()
	}
	s.stop()
	log := s.stderr.String()
	for _, bad := range []string{"panic", "fatal error", "DATA RACE"} {
		if strings.Contains(log, bad) {
			t.Errorf("serve's log has %q", bad)
		}
	}
	if !strings.Contains(log, "deadline worker recovered") {
		t.Error("the log does not say the deadline worker recovered from the outage")
	}
}

// failoverRating is a rating of work order wo, bad (opening a case) or
// good, for unit fh-t01 when it is rated at ratedAt, else fh-g08.
func failoverRating(key, wo string, bad bool, ratedAt string) map[string]any {
	r := map[string]any{"idempotency_key": key, "channel": "api", "level": "satisfied", "work_order_id": wo, "unit_id": "fh-g08"}
	if bad {
		r["level"] = "very_dissatisfied"
	}
	if ratedAt != "" {
		r["unit_id"], r["rated_at"] = "fh-t01", ratedAt
	}
	return r
}

// failoverPost is a rating posted by TestServeSurvivesClusterFailover:
// its idempotency key and work order, the rating and case serve answered
// with, how many attempts it took and when it was taken.
type failoverPost struct {
	key, wo, id, caseID string
	attempts            int
	at                  time.Time
}

// postThroughFailover posts rating after rating, as a client of the API
// does: each until it is taken, retrying on 5xx or a broken connection with
// the same idempotency key. It stops once failedOver is closed and three
// ratings in a row have been taken on their first attempt, and fails when
// ctx ends or on any other answer. rating names the i-th rating.
func postThroughFailover(ctx context.Context, client *http.Client, base string, failedOver <-chan struct{},
	rating func(i int) (key, wo string, bad bool)) ([]failoverPost, error) {
	var out []failoverPost
	firstTry := 0
	for i := 0; ; i++ {
		key, wo, bad := rating(i)
		p := failoverPost{key: key, wo: wo}
		body, _ := json.Marshal(failoverRating(key, wo, bad, ""))
		for {
			p.attempts++
			code, b, err := postJSON(ctx, client, base+"/api/v1/ratings", intakeToken, body)
			if err == nil && (code == 201 || code == 200) {
				p.id, _ = b["id"].(string)
				p.caseID, _ = b["case_id"].(string)
				p.at = time.Now()
				if p.id == "" || bad != (p.caseID != "") {
					return out, fmt.Errorf("rating %s: %d %v", key, code, b)
				}
				break
			}
			if err == nil && code < 500 {
				return out, fmt.Errorf("rating %s, attempt %d: %d %v", key, p.attempts, code, b)
			}
			select {
			case <-ctx.Done():
				return out, fmt.Errorf("serve did not take rating %s within %s of the kill: %d attempts, the last %d %v %v",
					key, recoveryBound, p.attempts, code, b, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
		out = append(out, p)
		select {
		case <-failedOver:
			if p.attempts == 1 {
				firstTry++
			} else {
				firstTry = 0
			}
			if firstTry == 3 {
				return out, nil
			}
		default:
		}
	}
}

func postJSON(ctx context.Context, c *http.Client, url, token string, body []byte) (int, map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out, nil
}

// readyProbe polls /readyz and keeps each change of answer.
type readyProbe struct {
	base   string
	client *http.Client
	mu     sync.Mutex
	seen   []readyAnswer
}

type readyAnswer struct {
	at   time.Time
	code int // 0: no answer
}

func (p *readyProbe) run(ctx context.Context) {
	for ctx.Err() == nil {
		code := 0
		req, _ := http.NewRequestWithContext(ctx, "GET", p.base+"/readyz", nil)
		if resp, err := p.client.Do(req); err == nil {
			resp.Body.Close()
			code = resp.StatusCode
		}
		if ctx.Err() != nil {
			return // a request cut short says nothing of serve
		}
		p.mu.Lock()
		if n := len(p.seen); n == 0 || p.seen[n-1].code != code {
			p.seen = append(p.seen, readyAnswer{time.Now(), code})
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// saw says whether /readyz answered code at or after since.
func (p *readyProbe) saw(code int, since time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, a := range p.seen {
		// An answer counts from its first poll until the next change.
		if a.code == code && (!a.at.Before(since) || i+1 == len(p.seen) || !p.seen[i+1].at.Before(since)) {
			return true
		}
	}
	return false
}

// firstOKAfter returns how long after since /readyz first said 200 again
// following a failure; 0 if it did not.
func (p *readyProbe) firstOKAfter(since time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, a := range p.seen {
		if a.code == 200 && a.at.After(since) && i > 0 {
			return a.at.Sub(since)
		}
	}
	return 0
}

func (p *readyProbe) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	for _, a := range p.seen {
		fmt.Fprintf(&b, "%s %d; ", a.at.Format("15:04:05.000"), a.code)
	}
	return b.String()
}
