package smpp

import (
	"context"
	"sync"
	"testing"
	"time"
)

func benchmarkSubmitWindow(b *testing.B, window int) {
	sim := newSim(b, SimConfig{})
	c, _ := startClient(b, sim.Addr(), Config{Window: window}, HandlerFuncs{})
	msg := Message{To: "13800138000", Text: "【奉化12345】请评价您11月27日来电的办理服务：回复1非常满意，2满意，3基本满意，4不满意，5非常不满意。回TD退订", NoReceipt: true}
	ctx := context.Background()
	// Enough senders to keep the window full.
	senders := window * 2
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan struct{}, senders)
	go func() {
		for range b.N {
			work <- struct{}{}
		}
		close(work)
	}()
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				if _, err := c.Submit(ctx, msg); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "submits/s")
}

func BenchmarkSubmitWindow1(b *testing.B)  { benchmarkSubmitWindow(b, 1) }
func BenchmarkSubmitWindow10(b *testing.B) { benchmarkSubmitWindow(b, 10) }
func BenchmarkSubmitWindow50(b *testing.B) { benchmarkSubmitWindow(b, 50) }
