package sip

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// lateThreshold is how far behind its slot a packet counts as sent late.
const lateThreshold = FrameDuration / 2

// recvEvery is how many ticks apart a shard reads each of its sockets: a
// read every third tick takes about three packets in one recvmmsg instead
// of one, which at thousands of calls saves two thirds of the receive
// syscalls. The streams are read in turn, a third at each tick, so every
// tick does the same work. A key press is then seen at most 60 ms late.
const recvEvery = 3

// maxCatchUp is how many missed slots a shard sends at once after a stall;
// beyond that it skips ahead, so a long stall never becomes a burst.
const maxCatchUp = 3

// scheduler paces the RTP of every call. A few shards (one per CPU by
// default) each tick on an absolute 20 ms grid, send the next packet of each
// of their streams and then read what their streams' sockets received
// (rtpReader); no call has a goroutine or ticker of its own, so the shards
// are nearly the only runnable goroutines at a tick and are not queued
// behind thousands of socket readers. A stream joins the least loaded shard.
type scheduler struct {
	shards  []*shard
	metrics *Metrics
	now     func() time.Time // the receive time given to onPacket
}

type shard struct {
	mu      sync.Mutex
	streams []*stream
	load    int
	added   int        // streams ever added, to spread their read phases
	reader  *rtpReader // owned by the shard goroutine
}

func newScheduler(n int, m *Metrics, now func() time.Time) *scheduler {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	s := &scheduler{metrics: m, now: now}
	for range n {
		s.shards = append(s.shards, &shard{reader: newRTPReader()})
	}
	return s
}

// add schedules st until it is closed; onPacket gets every RTP packet st
// receives, on the goroutine of st's shard (so it must not block).
func (s *scheduler) add(st *stream, onPacket func(p *rtp.Packet, at time.Time)) {
	st.onPacket = onPacket
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return // close has released the socket
	}
	st.scheduled = true
	st.mu.Unlock()
	if !shardReads || st.fd < 0 {
		go st.receive(s.now, s.metrics)
	}
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
	st.readPhase = uint8(best.added % recvEvery)
	best.added++
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
			sh.run(ctx, time.Duration(i)*FrameDuration/time.Duration(len(s.shards)), s.metrics, s.now)
		}()
	}
	wg.Wait()
}

func (sh *shard) run(ctx context.Context, offset time.Duration, m *Metrics, now func() time.Time) {
	// Keep the monotonic reading (Truncate would strip it): pacing must not
	// follow steps of the wall clock.
	slot := time.Now().Add(offset + FrameDuration)
	timer := time.NewTimer(time.Until(slot))
	defer timer.Stop()
	var batch []*stream
	var ticks uint
	defer sh.release()
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
				if err := st.send(st.buf[:n], dst); err == nil {
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
		// Then what arrived since the last tick, once the sends are out.
		if shardReads {
			ticks++
			phase := uint8(ticks % recvEvery)
			received := 0
			for _, st := range batch {
				if st.readPhase == phase {
					received += sh.reader.drain(st, now)
				}
			}
			m.receivedN(received)
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
		if st.isClosed() {
			if st.fd >= 0 {
				closeFD(st.fd) // the shard owns it (see stream.fd)
			}
		} else {
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

// release hands the sockets of the shard's streams back to them when the
// shard stops: it closes those already closed, and the others close theirs
// when they end.
func (sh *shard) release() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for _, st := range sh.streams {
		st.mu.Lock()
		st.scheduled = false
		closed := st.closed
		st.mu.Unlock()
		if closed && st.fd >= 0 {
			closeFD(st.fd)
		}
	}
	sh.streams = nil
}
