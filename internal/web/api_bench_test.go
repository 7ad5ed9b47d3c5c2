package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/casecore/redisstore"
	"github.com/haochaping/haochaping/internal/clock"
	"github.com/haochaping/haochaping/internal/redistest"
)

// BenchmarkPostRating measures POST /api/v1/ratings through the handler
// (no sockets) into a real redis-server: 10% bad ratings opening cases.
func BenchmarkPostRating(b *testing.B) {
	srv := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 64})
	defer rdb.Close()
	ctx := context.Background()
	cal, _ := casecore.DefaultCalendar()
	svc, err := casecore.NewService(ctx, casecore.Params{Store: redisstore.New(rdb, redisstore.Config{Namespace: "b"}),
		Calendar: cal, Clock: clock.Real{}}, casecore.Config{IDBlock: 1000})
	if err != nil {
		b.Fatal(err)
	}
	auth := NewAuth()
	_ = auth.AddToken("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", casecore.Actor{ID: "t", Role: casecore.RoleIntake}) // "test"
	h := New(Params{Service: svc, Units: &casecore.Directory{}, Auth: auth})
	var n atomic.Int64
	b.SetParallelism(25)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			level := "satisfied"
			if i%10 == 0 {
				level = "dissatisfied"
			}
			body := fmt.Sprintf(`{"idempotency_key":"k-%d","channel":"hotline_ivr","level":%q,"work_order_id":"WO-%d","unit_id":"fh-g%02d","staff_id":"s-%d","rater_phone":"138%08d"}`,
				i, level, i, i%40+1, i%5000, i)
			req := httptest.NewRequest("POST", "/api/v1/ratings", bytes.NewReader([]byte(body)))
			req.Header.Set("Authorization", "Bearer test")
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusCreated {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ratings/s")
}
