package dashboard

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haochaping/haochaping/internal/redistest"
)

const hubTestStream = "{t}:events"

// readCounter is a go-redis hook on the hub's client that counts its stream
// reads: XREAD started and in flight, and XREVRANGE.
type readCounter struct {
	xread, inflight, xrevrange atomic.Int64
}

func (c *readCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *readCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		switch cmd.Name() {
		case "xread":
			c.xread.Add(1)
			c.inflight.Add(1)
			defer c.inflight.Add(-1)
		case "xrevrange":
			c.xrevrange.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (c *readCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// hubEnv is a running hub on a real redis-server.
type hubEnv struct {
	h     *Hub
	rdb   *redis.Client // the test's own client, for XADD and INFO
	reads *readCounter
	stop  func() // cancels Run and fails the test unless it returns
}

// startHub runs a hub; tune, if set, changes its settings before it runs.
func startHub(t *testing.T, tune func(h *Hub)) *hubEnv {
	t.Helper()
	srv := redistest.Start(t)
	hubRDB := srv.Client(t)
	reads := &readCounter{}
	hubRDB.AddHook(reads)
	h := NewHub(hubRDB, hubTestStream, nil)
	if tune != nil {
		tune(h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	stopped := false
	stop := func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return &hubEnv{h: h, rdb: srv.Client(t), reads: reads, stop: stop}
}

// add appends one entry per case ID to the stream, in one round trip.
func (e *hubEnv) add(t *testing.T, caseIDs ...string) {
	t.Helper()
	_, err := e.rdb.Pipelined(context.Background(), func(p redis.Pipeliner) error {
		for _, id := range caseIDs {
			p.XAdd(context.Background(), &redis.XAddArgs{Stream: hubTestStream,
				Values: []string{"type", "case_opened", "case_id", id, "unit_id", "u1"}})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// addFor appends an entry every 10 ms for d.
func (e *hubEnv) addFor(t *testing.T, d time.Duration) {
	t.Helper()
	for i, end := 0, time.Now().Add(d); time.Now().Before(end); i++ {
		e.add(t, fmt.Sprintf("idle-%d", i))
		time.Sleep(10 * time.Millisecond)
	}
}

// waitReading waits until the hub has a read of the stream in flight: its
// start position is then fixed, so every entry added later reaches the
// subscribers.
func (e *hubEnv) waitReading(t *testing.T) {
	t.Helper()
	waitFor(t, "hub reading", func() bool { return e.reads.inflight.Load() > 0 })
}

// serverCalls returns how often the server ran the command, by INFO
// commandstats.
func (e *hubEnv) serverCalls(t *testing.T, cmd string) int64 {
	t.Helper()
	info, err := e.rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		stat, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "cmdstat_"+cmd+":calls=")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.Split(stat, ",")[0], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return 0
}

// recv returns the case IDs of the next n events.
func recv(t *testing.T, ch <-chan LiveEvent, n int) []string {
	t.Helper()
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case e := <-ch:
			got = append(got, e.CaseID)
		case <-timeout:
			t.Fatalf("got %v, want %d events", got, n)
		}
	}
	return got
}

func caseIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return ids
}

func TestHubIdleReadsNothing(t *testing.T) {
	e := startHub(t, nil)
	e.addFor(t, 300*time.Millisecond)
	if n, m := e.reads.xread.Load(), e.reads.xrevrange.Load(); n != 0 || m != 0 {
		t.Errorf("idle hub sent %d XREAD, %d XREVRANGE", n, m)
	}
	for _, cmd := range []string{"xread", "xrevrange"} {
		if n := e.serverCalls(t, cmd); n != 0 {
			t.Errorf("server ran %s %d times for an idle hub", cmd, n)
		}
	}
}

func TestHubSubscriberGetsEventsAddedAfterSubscribing(t *testing.T) {
	e := startHub(t, nil)
	e.add(t, "before-run")
	e.addFor(t, 50*time.Millisecond) // while the hub idles
	ch, unsub := e.h.Subscribe()
	defer unsub()
	e.waitReading(t)
	want := caseIDs("e", 60)
	// One entry alone (a blocked read returns it), then the rest in bursts
	// (reads after a linger).
	e.add(t, want[0])
	for i := 1; i < len(want); i += 20 {
		e.add(t, want[i:min(i+20, len(want))]...)
		time.Sleep(30 * time.Millisecond)
	}
	if got := recv(t, ch, len(want)); !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

func TestHubLingersAfterShortRead(t *testing.T) {
	e := startHub(t, func(h *Hub) { h.linger = 500 * time.Millisecond })
	ch, unsub := e.h.Subscribe()
	defer unsub()
	e.waitReading(t)
	e.add(t, "first")
	recv(t, ch, 1)
	// The read that returned "first" was short: the hub lingers, and what
	// arrives meanwhile comes in its next read, not in one read per burst.
	before := e.reads.xread.Load()
	want := caseIDs("b", 50)
	for i := 0; i < len(want); i += 10 {
		e.add(t, want[i:i+10]...)
		time.Sleep(10 * time.Millisecond)
	}
	if got := recv(t, ch, len(want)); !slices.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if n := e.reads.xread.Load() - before; n != 1 {
		t.Errorf("5 bursts during the linger took %d reads, want 1", n)
	}
}

func TestHubSubscriberGetsWholeBurst(t *testing.T) {
	// What gathers during a linger at the peak rate arrives at once: a
	// subscriber reading as fast as it can loses none of it.
	e := startHub(t, func(h *Hub) { h.linger = 500 * time.Millisecond })
	ch, unsub := e.h.Subscribe()
	defer unsub()
	e.waitReading(t)
	e.add(t, "first")
	recv(t, ch, 1)
	want := caseIDs("p", 1000) // 10,000 events/s during hubLinger
	for i := 0; i < len(want); i += 100 {
		e.add(t, want[i:i+100]...)
	}
	if got := recv(t, ch, len(want)); !slices.Equal(got, want) {
		t.Errorf("got %d events, want %d in order", len(got), len(want))
	}
}

func TestHubIdlesAgainAfterLastUnsubscribe(t *testing.T) {
	e := startHub(t, func(h *Hub) { h.block = 100 * time.Millisecond })
	ch1, unsub1 := e.h.Subscribe()
	ch2, unsub2 := e.h.Subscribe()
	e.waitReading(t)
	e.add(t, "a")
	recv(t, ch1, 1)
	recv(t, ch2, 1)
	unsub1()
	e.add(t, "b")
	if got := recv(t, ch2, 1); got[0] != "b" {
		t.Fatalf("remaining subscriber got %v", got)
	}
	unsub2()
	// A read begun before the unsubscription ends within block.
	waitFor(t, "no read in flight", func() bool { return e.reads.inflight.Load() == 0 })
	time.Sleep(e.h.block + e.h.linger)
	reads, revs := e.reads.xread.Load(), e.reads.xrevrange.Load()
	e.addFor(t, 300*time.Millisecond)
	if n, m := e.reads.xread.Load()-reads, e.reads.xrevrange.Load()-revs; n != 0 || m != 0 {
		t.Errorf("hub without subscribers sent %d XREAD, %d XREVRANGE", n, m)
	}
	// A new subscriber starts from the newest entry again.
	ch3, unsub3 := e.h.Subscribe()
	defer unsub3()
	e.waitReading(t)
	e.add(t, "c")
	if got := recv(t, ch3, 1); got[0] != "c" {
		t.Errorf("new subscriber got %v, want c", got)
	}
}

func TestHubRunReturnsOnCancel(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		e := startHub(t, nil)
		e.add(t, "x")
		e.stop()
	})
	t.Run("blocked in a read", func(t *testing.T) {
		// The read would block for an hour: Run must not wait for it.
		e := startHub(t, func(h *Hub) { h.block = time.Hour })
		_, unsub := e.h.Subscribe()
		defer unsub()
		e.waitReading(t)
		e.stop()
	})
	t.Run("lingering", func(t *testing.T) {
		e := startHub(t, func(h *Hub) { h.linger = time.Hour })
		ch, unsub := e.h.Subscribe()
		defer unsub()
		e.waitReading(t)
		e.add(t, "x")
		recv(t, ch, 1)
		e.stop()
	})
}
