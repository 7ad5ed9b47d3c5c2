package redisstore

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// combiner sends the script runs of concurrent Apply calls to Redis in
// pipelines, without a goroutine of its own (flat combining):
//
//   - A caller that finds fewer than maxInFlight pipelines running becomes a
//     leader: it takes its own run and the queued ones (up to maxBatch), sends
//     them in one pipeline and hands every caller its reply.
//   - Otherwise the caller queues its run and waits. When a leader finishes
//     and runs are still queued, it passes its place to the oldest of them,
//     which leads the next pipeline; so no caller sends more than one.
//
// At low load each run goes alone, at once, as a plain EVALSHA would. At the
// hotline's peak, one write and one read carry many runs instead of one
// each: on a small machine the system calls of one request per round trip
// cost as much CPU as Redis spends running the script. Several pipelines in
// flight keep Redis busy while replies travel back. Each script run is still
// atomic on its own, and its reply goes to its caller only: batching changes
// neither what is written nor what a caller sees.
type combiner struct {
	rdb         redis.UniversalClient
	maxInFlight int
	maxBatch    int

	mu       sync.Mutex
	inFlight int
	queue    []*scriptRun
}

// scriptRun is one run of the apply script and, once done, its reply.
type scriptRun struct {
	ctx  context.Context
	args []any // made by builder.command

	res []string
	err error
	// lead receives false when the run is done, or true when the caller is
	// to lead the next pipeline (its run is not done yet).
	lead chan bool
}

// Defaults of the combiner.
const (
	defaultPipelines = 4
	defaultBatch     = 64
	// pipelineTimeout bounds one pipeline when the leader's own context is
	// cancelled: the other runs in it belong to other callers.
	pipelineTimeout = 30 * time.Second
)

func newCombiner(rdb redis.UniversalClient, pipelines, batch int) *combiner {
	if pipelines <= 0 {
		pipelines = defaultPipelines
	}
	if batch <= 0 {
		batch = defaultBatch
	}
	return &combiner{rdb: rdb, maxInFlight: pipelines, maxBatch: batch}
}

var leadPool = sync.Pool{New: func() any { return make(chan bool, 1) }}

// run runs the apply command args (builder.command) and returns its reply.
func (c *combiner) run(ctx context.Context, args []any) ([]string, error) {
	r := &scriptRun{ctx: ctx, args: args}
	c.mu.Lock()
	if c.inFlight < c.maxInFlight {
		c.inFlight++
		c.mu.Unlock()
	} else {
		r.lead = leadPool.Get().(chan bool)
		c.queue = append(c.queue, r)
		c.mu.Unlock()
		lead := <-r.lead
		leadPool.Put(r.lead)
		r.lead = nil
		if !lead {
			return r.res, r.err
		}
	}
	c.leadOnce(r)
	return r.res, r.err
}

// leadOnce sends own and the queued runs in one pipeline, then passes the
// place on to the oldest queued run, if any.
func (c *combiner) leadOnce(own *scriptRun) {
	c.mu.Lock()
	n := min(len(c.queue), c.maxBatch-1)
	batch := make([]*scriptRun, 0, n+1)
	batch = append(batch, own)
	batch = append(batch, c.queue[:n]...)
	c.queue = c.queue[n:]
	if len(c.queue) == 0 {
		c.queue = nil // let the backing array go
	}
	c.mu.Unlock()
	// Deferred, so that even a panic in the client neither strands the
	// waiting callers nor keeps the place (a run without a reply then
	// reports an empty reply).
	defer c.handOff(batch)
	c.send(own.ctx, batch)
}

// handOff wakes the callers of batch (but its leader, batch[0]) and passes
// the leader's place to the oldest queued run, or gives it up.
func (c *combiner) handOff(batch []*scriptRun) {
	for _, r := range batch[1:] {
		r.lead <- false
	}
	c.mu.Lock()
	if len(c.queue) == 0 {
		c.inFlight--
		c.mu.Unlock()
		return
	}
	next := c.queue[0]
	c.queue = c.queue[1:]
	c.mu.Unlock()
	next.lead <- true
}

// send runs the batch in one pipeline and records each run's reply. A run
// whose caller has given up before it was sent is not sent.
func (c *combiner) send(ctx context.Context, batch []*scriptRun) {
	if len(batch) == 1 {
		r := batch[0]
		r.res, r.err = runApply(r.ctx, c.rdb, r.args)
		return
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pipelineTimeout)
	defer cancel()
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(batch))
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		cmds[i] = redis.NewCmd(pctx, r.args...)
		_ = pipe.Process(pctx, cmds[i])
	}
	_, _ = pipe.Exec(pctx)
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		r := batch[i]
		r.res, r.err = cmd.StringSlice()
		if isNoScript(r.err) {
			// Redis restarted or its script cache was flushed: nothing ran;
			// runApply sends the script itself.
			r.res, r.err = runApply(pctx, c.rdb, r.args)
		}
	}
}
