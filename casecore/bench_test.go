package casecore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/casecore/redisstore"
	"github.com/haochaping/haochaping/internal/clock"
	"github.com/haochaping/haochaping/internal/redistest"
)

// BenchmarkSubmitBadRating measures bad ratings (each opening a case)
// through the Service into a real redis-server, 50 in flight.
func BenchmarkSubmitBadRating(b *testing.B) {
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
	var n atomic.Int64
	b.SetParallelism(25)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			_, _, err := svc.SubmitRating(ctx, intake, casecore.RatingInput{IdempotencyKey: fmt.Sprint("b-", i),
				Channel: casecore.ChannelHotlineIVR, Level: casecore.VeryDissatisfied, WorkOrderID: fmt.Sprint("WO", i),
				UnitID: fmt.Sprintf("fh-g%02d", i%40+1), StaffID: fmt.Sprint("s-", i%5000), RaterPhone: fmt.Sprintf("138%08d", i)})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ratings/s")
}
