package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/internal/redistest"
)

// gate holds the first single EVALSHA until released, and records the size
// of every pipeline.
type gate struct {
	once    sync.Once
	held    chan struct{} // closed when the first run is held
	release chan struct{}

	// beforePipeline, when set, runs before the first pipeline is sent.
	beforePipeline func(context.Context)
	// panicPipeline makes the first pipeline panic in the client.
	panicPipeline bool

	mu        sync.Mutex
	pipelines []int
	flushed   int
}

func newGate() *gate { return &gate{held: make(chan struct{}), release: make(chan struct{})} }

func (g *gate) DialHook(next redis.DialHook) redis.DialHook { return next }
func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if n := strings.ToLower(cmd.Name()); n == "evalsha" || n == "eval" {
			g.once.Do(func() {
				close(g.held)
				<-g.release
			})
		}
		return next(ctx, cmd)
	}
}
func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) == 0 || strings.ToLower(cmds[0].Name()) != "evalsha" {
			return next(ctx, cmds) // the client's own, setting up a connection
		}
		g.mu.Lock()
		g.pipelines = append(g.pipelines, len(cmds))
		first := len(g.pipelines) == 1 && g.beforePipeline != nil
		if first {
			g.flushed++
		}
		g.mu.Unlock()
		if first {
			g.beforePipeline(ctx)
		}
		if g.panicPipeline && len(g.pipelines) == 1 {
			panic("client bug")
		}
		return next(ctx, cmds)
	}
}

func goodRating(i int) *casecore.Change {
	r := &casecore.Rating{ID: fmt.Sprint("R", i), IdempotencyKey: fmt.Sprint("k", i), Channel: casecore.ChannelAPI,
		Level: casecore.Satisfied, UnitID: "u", RatedAt: time.Now(), Version: 1, Seq: 1}
	return &casecore.Change{NewRating: r, Fingerprint: "f"}
}

// queued waits until n runs wait in the combiner's queue.
func queued(t *testing.T, c *combiner, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		got := len(c.queue)
		c.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// holdThenQueue runs apply(0) and, while the gate holds it in flight,
// apply(1) … apply(n); once those n wait in the queue it runs
// beforeRelease (if any), releases the gate and waits for all n+1.
func holdThenQueue(t *testing.T, st *Store, g *gate, n int, beforeRelease func(), apply func(i int)) {
	t.Helper()
	var wg sync.WaitGroup
	run := func(i int) {
		wg.Add(1)
		go func() { defer wg.Done(); apply(i) }()
	}
	run(0)
	<-g.held
	for i := 1; i <= n; i++ {
		run(i)
	}
	queued(t, st.comb, n)
	if beforeRelease != nil {
		beforeRelease()
	}
	close(g.release)
	wg.Wait()
}

// While one pipeline is in flight (the limit here), later changes queue and
// go together in the next pipeline, each caller getting its own reply; a
// caller that gives up while queued gets its context's error and its change
// is not sent.
func TestCombinerQueuesIntoOnePipeline(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	g := newGate()
	rdb.AddHook(g)
	st := New(rdb, Config{Namespace: "comb", Pipelines: 1, Batch: 64})
	ctx := t.Context()

	const n = 40
	errs := make([]error, n)
	// The first change is in flight alone; the others queue, and the
	// caller of change 7 gives up while queued.
	gone, giveUp := context.WithCancel(ctx)
	holdThenQueue(t, st, g, n-1, giveUp, func(i int) {
		c := ctx
		if i == 7 {
			c = gone
		}
		errs[i] = st.Apply(c, goodRating(i))
	})

	for i, err := range errs {
		switch {
		case i == 7:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("change 7, caller gone: %v, want context.Canceled", err)
			}
		case err != nil:
			t.Errorf("change %d: %v", i, err)
		}
	}
	for i := range n {
		_, err := st.GetRating(ctx, fmt.Sprint("R", i))
		if want := i != 7; (err == nil) != want {
			t.Errorf("rating %d stored: %v, want %v", i, err == nil, want)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	// The leader of the queued changes sent them in one pipeline (the one
	// whose caller left is not sent).
	if len(g.pipelines) != 1 || g.pipelines[0] != n-2 {
		t.Errorf("pipelines sent: %v, want one of %d", g.pipelines, n-2)
	}
	if st.comb.inFlight != 0 || len(st.comb.queue) != 0 {
		t.Errorf("combiner left with %d in flight, %d queued", st.comb.inFlight, len(st.comb.queue))
	}
}

// A batch bigger than Batch goes in several pipelines, one leader each.
func TestCombinerSplitsLongQueues(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	g := newGate()
	rdb.AddHook(g)
	st := New(rdb, Config{Namespace: "split", Pipelines: 1, Batch: 8})
	ctx := t.Context()
	errs := make([]error, 21)
	holdThenQueue(t, st, g, 20, nil, func(i int) { errs[i] = st.Apply(ctx, goodRating(i)) })
	noErrors(t, errs)
	g.mu.Lock()
	defer g.mu.Unlock()
	// 20 queued, at most 8 a pipeline: 8 + 8 + 4.
	if fmt.Sprint(g.pipelines) != "[8 8 4]" {
		t.Errorf("pipelines: %v, want [8 8 4]", g.pipelines)
	}
}

// When Redis has lost its script cache (a restart, SCRIPT FLUSH), the runs
// of a pipeline fail with NOSCRIPT, so nothing of them was written; each is
// sent again with the script and applied once.
func TestCombinerReloadsScript(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	g := newGate()
	g.beforePipeline = func(ctx context.Context) {
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Error(err)
		}
	}
	rdb.AddHook(g)
	st := New(rdb, Config{Namespace: "noscript", Pipelines: 1})
	ctx := t.Context()
	errs := make([]error, 11)
	holdThenQueue(t, st, g, 10, nil, func(i int) { errs[i] = st.Apply(ctx, goodRating(i)) })
	noErrors(t, errs)
	g.mu.Lock()
	if fmt.Sprint(g.pipelines) != "[10]" || g.flushed != 1 {
		t.Errorf("pipelines %v, script flushed %d times: the test did not run a pipeline without the script", g.pipelines, g.flushed)
	}
	g.mu.Unlock()
	for i := range 11 {
		if r, err := st.GetRating(ctx, fmt.Sprint("R", i)); err != nil || r.Version != 1 {
			t.Errorf("rating %d: %v", i, err)
		}
	}
	// Applying one again is a duplicate, not a second write.
	var dup *casecore.DuplicateError
	if err := st.Apply(ctx, goodRating(3)); !errors.As(err, &dup) {
		t.Errorf("second apply of change 3: %v, want a duplicate", err)
	}
}

// ApplyMany (the deadline worker's batches) recovers from a lost script
// cache the same way.
func TestApplyManyReloadsScript(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	st := New(rdb, Config{Namespace: "many"})
	ctx := t.Context()
	if err := st.Apply(ctx, goodRating(0)); err != nil { // loads the script
		t.Fatal(err)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	chs := []*casecore.Change{goodRating(1), goodRating(2), goodRating(0)}
	errs := st.ApplyMany(ctx, chs)
	var dup *casecore.DuplicateError
	if errs[0] != nil || errs[1] != nil || !errors.As(errs[2], &dup) || dup.RatingID != "R0" {
		t.Fatalf("ApplyMany after SCRIPT FLUSH: %v", errs)
	}
	for _, id := range []string{"R1", "R2"} {
		if _, err := st.GetRating(ctx, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
}

// A change whose condition fails writes nothing, not even its idempotency
// key: the retry with a fresh ID is accepted, not called a duplicate.
func TestConflictReleasesIdempotencyKey(t *testing.T) {
	srv := redistest.Start(t)
	st := New(srv.Client(t), Config{Namespace: "conflict"})
	ctx := t.Context()
	if err := st.Apply(ctx, goodRating(5)); err != nil {
		t.Fatal(err)
	}
	clash := goodRating(5) // rating R5 exists: the condition "no record yet" fails
	clash.NewRating.IdempotencyKey = "k-new"
	if err := st.Apply(ctx, clash); !errors.Is(err, casecore.ErrConflict) {
		t.Fatalf("apply over an existing rating: %v, want ErrConflict", err)
	}
	retry := goodRating(6)
	retry.NewRating.IdempotencyKey = "k-new"
	if err := st.Apply(ctx, retry); err != nil {
		t.Fatalf("retry with a fresh ID: %v", err)
	}
	again := goodRating(7)
	again.NewRating.IdempotencyKey = "k-new"
	var dup *casecore.DuplicateError
	if err := st.Apply(ctx, again); !errors.As(err, &dup) || dup.RatingID != "R6" {
		t.Fatalf("third apply of k-new: %v, want a duplicate of R6", err)
	}
}

// A panic while a pipeline is sent leaves no caller waiting for ever and
// does not keep the pipeline's place: the callers get an error, later
// changes go through.
func TestCombinerSurvivesPanic(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	g := newGate()
	g.panicPipeline = true
	rdb.AddHook(g)
	st := New(rdb, Config{Namespace: "panic", Pipelines: 1})
	ctx := t.Context()
	errs := make([]error, 6)
	panics := make([]any, 6)
	done := make(chan struct{})
	go func() {
		defer close(done)
		holdThenQueue(t, st, g, 5, nil, func(i int) {
			defer func() { panics[i] = recover() }()
			errs[i] = st.Apply(ctx, goodRating(i))
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("callers still waiting after the pipeline's leader panicked")
	}
	if errs[0] != nil || panics[0] != nil {
		t.Errorf("change 0 (sent alone): %v, panic %v", errs[0], panics[0])
	}
	leaders := 0
	for i := 1; i <= 5; i++ {
		switch {
		case panics[i] != nil:
			leaders++
		case errs[i] == nil:
			t.Errorf("change %d reported applied, though its pipeline was never sent", i)
		}
	}
	if leaders != 1 {
		t.Errorf("%d callers saw the panic, want the pipeline's leader only", leaders)
	}
	if err := st.Apply(ctx, goodRating(10)); err != nil {
		t.Errorf("apply after the panic: %v", err)
	}
	if st.comb.inFlight != 0 {
		t.Errorf("%d pipelines still counted in flight", st.comb.inFlight)
	}
}

// noErrors fails the test for each change whose apply failed.
func noErrors(t *testing.T, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Errorf("change %d: %v", i, err)
		}
	}
}
