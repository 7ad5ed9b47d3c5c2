package sip

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// lateThreshold is how far behind its slot a packet counts as sent late.
const lateThreshold = FrameDuration / 2

// maxCatchUp is how many missed slots a shard sends at once after a stall;
// beyond that it skips ahead, so a long stall never becomes a burst.
const maxCatchUp = 3

// scheduler paces the RTP of every call. A few shards (one per CPU by
// default) each tick on an absolute 20 ms grid and send the next packet of
// each of their streams; no call has a goroutine or ticker of its own for
// sending. A stream joins the least loaded shard.
type scheduler struct {
	shards  []*shard
	metrics *Metrics
}

type shard struct {
	mu      sync.Mutex
	streams []*stream
	load    int
}

func newScheduler(n int, m *Metrics) *scheduler {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	s := &scheduler{metrics: m}
	for range n {
		s.shards = append(s.shards, &shard{})
	}
	return s
}

// add schedules st until it is closed.
func (s *scheduler) add(st *stream) {
	best := s.shards[0]
	for _, sh := range s.shards[1:] {
		sh.mu.Lock()
		l := sh.load
		sh.mu.Unlock()
		best.mu.Lock()
		bl := best.load
		best.mu.Unlock()
		if l < bl {
			best = sh
		}
	}
	best.mu.Lock()
	best.streams = append(best.streams, st)
	best.load++
	best.mu.Unlock()
}

// run runs every shard until ctx ends.
func (s *scheduler) run(ctx context.Context) {
	var wg sync.WaitGroup
	for i, sh := range s.shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the shards over the frame so their sends do not collide.
			sh.run(ctx, time.Duration(i)*FrameDuration/time.Duration(len(s.shards)), s.metrics)
		}()
	}
	wg.Wait()
}

func (sh *shard) run(ctx context.Context, offset time.Duration, m *Metrics) {
	// Keep the monotonic reading (Truncate would strip it): pacing must not
	// follow steps of the wall clock.
	slot := time.Now().Add(offset + FrameDuration)
	timer := time.NewTimer(time.Until(slot))
	defer timer.Stop()
	var batch []*stream
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		batch = sh.snapshot(batch[:0])
		// Send every slot that is due, at most maxCatchUp of them; a shard
		// further behind (a stall, or more streams than it can send in a
		// frame) skips slots rather than bursting.
		for pass := 0; pass < maxCatchUp && !slot.After(time.Now()); pass++ {
			sent, late := 0, 0
			for _, st := range batch {
				n, dst := st.next()
				if n == 0 {
					continue
				}
				if _, err := st.conn.WriteToUDPAddrPort(st.buf[:n], dst); err == nil {
					sent++
				}
			}
			worst := time.Since(slot)
			if worst > lateThreshold {
				late = sent
			}
			m.tick(sent, late, worst.Seconds())
			slot = slot.Add(FrameDuration)
		}
		if behind := time.Since(slot); behind > 0 {
			slot = slot.Add((behind/FrameDuration + 1) * FrameDuration)
		}
		timer.Reset(time.Until(slot))
	}
}

// snapshot copies the live streams into buf and drops the closed ones.
func (sh *shard) snapshot(buf []*stream) []*stream {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	live := sh.streams[:0]
	for _, st := range sh.streams {
		if !st.isClosed() {
			live = append(live, st)
		}
	}
	for i := len(live); i < len(sh.streams); i++ {
		sh.streams[i] = nil
	}
	sh.streams = live
	sh.load = len(live)
	return append(buf, live...)
}
