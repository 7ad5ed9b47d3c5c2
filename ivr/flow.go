package ivr

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/haochaping/haochaping/internal/clock"
)

// Params are the dependencies of a Flow. Recorder is required.
type Params struct {
	Recorder Recorder
	Config   Config      // defaults applied by New
	Clock    clock.Clock // stamps results; clock.Real{} if nil
	Timers   Timers      // RealTimers{} if nil
	Logger   *slog.Logger
	Metrics  *Metrics // nil: no metrics
}

// Flow runs rating calls. One Flow serves every call; it is safe for
// concurrent use.
type Flow struct {
	cfg     Config
	rec     Recorder
	clock   clock.Clock
	timers  Timers
	log     *slog.Logger
	metrics *Metrics

	mu     sync.Mutex
	seq    uint64
	active map[uint64]*ActiveCall
}

// New returns a Flow with p.Config completed by its defaults, or an error if
// the configuration is invalid.
func New(p Params) (*Flow, error) {
	if p.Recorder == nil {
		return nil, errors.New("ivr: new flow: nil Recorder")
	}
	cfg := p.Config.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &Flow{
		cfg:     cfg,
		rec:     p.Recorder,
		clock:   p.Clock,
		timers:  p.Timers,
		log:     p.Logger,
		metrics: p.Metrics,
		active:  make(map[uint64]*ActiveCall),
	}
	if f.clock == nil {
		f.clock = clock.Real{}
	}
	if f.timers == nil {
		f.timers = RealTimers{}
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f, nil
}

// Config returns the configuration in use, defaults applied.
func (f *Flow) Config() Config { return f.cfg }

// ActiveCall is a call in progress, as Snapshot shows it: no phone numbers.
type ActiveCall struct {
	CallID      string
	Kind        Kind
	WorkOrderID string
	UnitID      string
	State       State
	Attempts    int
	StartedAt   time.Time
	StateSince  time.Time
}

// Snapshot returns the calls in progress and their current step, oldest
// first, for an operations view.
func (f *Flow) Snapshot() []ActiveCall {
	f.mu.Lock()
	out := make([]ActiveCall, 0, len(f.active))
	for _, a := range f.active {
		out = append(out, *a)
	}
	f.mu.Unlock()
	slices.SortFunc(out, func(a, b ActiveCall) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), cmp.Compare(a.CallID, b.CallID))
	})
	return out
}

// Run runs the flow of info.Kind on call until the call is over and its
// result recorded, and returns the result. It hangs up unless the caller did.
//
// A cancelled ctx ends the call early (we hang up; the result is NoRating
// with ReasonAborted unless a level was already chosen); the result is still
// recorded, bounded by Config.RecordTimeout.
//
// The error is ErrInvalidCallInfo (wrapped) when info is unusable, in which
// case Run returns at once without touching the call, or ErrNotRecorded
// (wrapped) when the Recorder failed on every attempt, which Run has already
// logged.
func (f *Flow) Run(ctx context.Context, call Call, info CallInfo) (Result, error) {
	if err := info.Validate(); err != nil {
		return Result{Call: info, Channel: Channel}, err
	}
	r := &run{
		f:      f,
		call:   call,
		digits: call.Digits(),
		log:    f.log.With("call_id", info.CallID, "flow", string(info.Kind)),
		res: Result{
			Call:      info,
			Channel:   Channel,
			Attempts:  1,
			StartedAt: f.clock.Now(),
		},
		menu: PromptWelcomeMenu,
	}
	if info.Kind == KindFollowup {
		r.menu = PromptFollowupMenu
	}
	r.log.Info("ivr: call started", "call", info)

	f.mu.Lock()
	f.seq++
	key := f.seq
	r.active = &ActiveCall{
		CallID: info.CallID, Kind: info.Kind, WorkOrderID: info.WorkOrderID, UnitID: info.UnitID,
		State: StateLeadIn, Attempts: 1, StartedAt: r.res.StartedAt, StateSince: r.res.StartedAt,
	}
	f.active[key] = r.active
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.active, key)
		f.mu.Unlock()
	}()

	st := StateLeadIn
	f.metrics.enter(info.Kind, st)
	for st != StateDone {
		ev := r.step(ctx, st)
		next, ok := transitions[st][ev]
		if !ok {
			// The handlers only return events of their state's row; a test
			// checks it. Fail safe rather than loop.
			r.log.Error("ivr: no transition", "state", st, "event", ev)
			next = StateDone
		}
		r.log.Info("ivr: step", "state", st, "event", ev, "next", next, "attempt", r.res.Attempts)
		f.metrics.leave(info.Kind, st)
		f.metrics.enter(info.Kind, next)
		f.mu.Lock()
		r.active.State, r.active.StateSince, r.active.Attempts = next, f.clock.Now(), r.res.Attempts
		f.mu.Unlock()
		st = next
	}

	f.metrics.finished(r.res)
	r.log.Info("ivr: call finished", "outcome", r.res.Outcome, "level", r.res.Level,
		"reason", r.res.Reason, "attempts", r.res.Attempts, "elapsed", r.res.Elapsed(),
		"recorded", r.recordErr == nil)
	return r.res, r.recordErr
}

// hangupTimeout bounds Call.Hangup, which may have to wait for the answer to
// a BYE.
const hangupTimeout = 5 * time.Second

// run is the state of one call.
type run struct {
	f      *Flow
	call   Call
	digits <-chan rune
	log    *slog.Logger
	menu   PromptID
	active *ActiveCall // guarded by f.mu

	res       Result
	decided   bool
	recorded  bool // the Recorder has been called (successfully or not)
	recordErr error
}

// step runs state st and returns the event that ended it.
func (r *run) step(ctx context.Context, st State) event {
	cfg := r.f.cfg
	switch st {
	case StateLeadIn:
		if cfg.LeadIn <= 0 {
			return evLeadInDone
		}
		return r.wait(ctx, cfg.LeadIn, evLeadInDone)
	case StateMenu:
		return r.play(ctx, r.menu, true)
	case StateWaitKey:
		ev := r.wait(ctx, cfg.DigitTimeout, evTimeout)
		if ev == evTimeout && r.lastAttempt() {
			r.decide(ReasonTimeout)
			return evTimeoutLast
		}
		return ev
	case StateInvalid:
		r.res.Attempts++
		return r.play(ctx, PromptInvalid, true)
	case StateNoInput:
		r.res.Attempts++
		return r.play(ctx, PromptNoInput, true)
	case StateRecordRating, StateRecordNoRating:
		r.record(ctx)
		return evRecorded
	case StateAnnounce:
		return r.play(ctx, ChosenPrompt(r.res.Level), false)
	case StateThanks:
		return r.play(ctx, PromptThanks, false)
	case StateGoodbye:
		return r.play(ctx, PromptGoodbyeNoRating, false)
	case StateHangup:
		select {
		case <-r.call.Done():
		default:
			// Hang up even when ctx is cancelled: that is how a drain ends calls.
			hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hangupTimeout)
			if err := r.call.Hangup(hctx); err != nil {
				r.log.Warn("ivr: hang up failed", "err", err)
			}
			cancel()
		}
		if r.res.Outcome == Rated {
			return evHungUpRated
		}
		return evHungUpNoRating
	}
	r.log.Error("ivr: unknown state", "state", st)
	return evAborted
}

func (r *run) lastAttempt() bool { return r.res.Attempts >= r.f.cfg.MaxAttempts }

// decide ends the choice without a rating, once.
func (r *run) decide(reason Reason) {
	if r.decided {
		return
	}
	r.decided = true
	r.res.Outcome = NoRating
	r.res.Reason = reason
	r.res.DecidedAt = r.f.clock.Now()
}

// key classifies key k pressed while the caller is choosing.
func (r *run) key(k rune) event {
	s := string(k)
	if l, ok := r.f.cfg.KeyMap[s]; ok {
		r.decided = true
		r.res.Outcome = Rated
		r.res.Level = l
		r.res.Key = s
		r.res.DecidedAt = r.f.clock.Now()
		r.f.metrics.rated(r.res)
		return evValidKey
	}
	r.res.Key = s
	r.log.Info("ivr: invalid key", "key", s, "attempt", r.res.Attempts)
	if r.lastAttempt() {
		r.decide(ReasonInvalid)
		return evInvalidKeyLast
	}
	return evInvalidKey
}

// ended is the event for the end of the call from outside (caller hang-up or
// ctx cancelled), recording the reason if no choice was made yet.
func (r *run) ended(ctx context.Context) event {
	if ctx.Err() != nil {
		r.decide(ReasonAborted)
		return evAborted
	}
	r.decide(ReasonHangup)
	return evCallerHangup
}

// pendingKey returns a key already delivered, if any: a key pressed just
// before the caller hung up still counts.
func (r *run) pendingKey() (rune, bool) {
	select {
	case k, ok := <-r.digits:
		return k, ok
	default:
		return 0, false
	}
}

// wait waits d for a key; elapsed is the event when the time is up.
func (r *run) wait(ctx context.Context, d time.Duration, elapsed event) event {
	timer := r.f.timers.After(d)
	for {
		select {
		case k, ok := <-r.digits:
			if !ok {
				r.digits = nil
				continue
			}
			return r.key(k)
		case <-timer:
			return elapsed
		case <-r.call.Done():
			if k, ok := r.pendingKey(); ok {
				return r.key(k)
			}
			return r.ended(ctx)
		case <-ctx.Done():
			return r.ended(ctx)
		}
	}
}

// play plays p. An interruptible prompt stops at the first key, which then
// answers the menu; otherwise keys are read and ignored.
func (r *run) play(ctx context.Context, p PromptID, interruptible bool) event {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- r.call.Play(pctx, p) }()
	stop := func() {
		cancel()
		<-errc
	}
	for {
		select {
		case err := <-errc:
			if err == nil {
				return evPlayed
			}
			select {
			case <-r.call.Done():
				return r.endedWhilePlaying(ctx, interruptible)
			default:
			}
			if ctx.Err() == nil {
				r.log.Warn("ivr: play failed", "prompt", p, "err", err)
			}
			r.decide(ReasonAborted)
			return evAborted
		case k, ok := <-r.digits:
			if !ok {
				r.digits = nil
				continue
			}
			if !interruptible {
				r.log.Info("ivr: key ignored", "key", string(k), "prompt", p)
				continue
			}
			stop()
			return r.key(k)
		case <-r.call.Done():
			stop()
			return r.endedWhilePlaying(ctx, interruptible)
		case <-ctx.Done():
			stop()
			return r.ended(ctx)
		}
	}
}

func (r *run) endedWhilePlaying(ctx context.Context, interruptible bool) event {
	if interruptible {
		if k, ok := r.pendingKey(); ok {
			return r.key(k)
		}
	}
	return r.ended(ctx)
}

// record hands the result to the Recorder, once per call, retrying with a
// doubling backoff up to Config.RecordAttempts times within
// Config.RecordTimeout. The deadline does not follow ctx: a rating chosen
// just before shutdown is still worth storing.
func (r *run) record(ctx context.Context) {
	if r.recorded {
		r.log.Error("ivr: result already recorded")
		return
	}
	r.recorded = true
	cfg := r.f.cfg
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.RecordTimeout)
	defer cancel()
	backoff := cfg.RecordBackoff
	var err error
	attempt := 1
	for ; ; attempt++ {
		if err = r.f.rec.RecordRating(rctx, r.res); err == nil {
			r.log.Debug("ivr: result recorded", "attempt", attempt)
			return
		}
		r.f.metrics.recordError(r.res.Call.Kind)
		if attempt >= cfg.RecordAttempts || rctx.Err() != nil {
			break
		}
		r.log.Debug("ivr: record failed, retrying", "attempt", attempt, "backoff", backoff, "err", err)
		select {
		case <-r.f.timers.After(backoff):
		case <-rctx.Done():
		}
		if rctx.Err() != nil {
			break
		}
		backoff *= 2
	}
	r.recordErr = fmt.Errorf("%w: %s after %d attempts: %w", ErrNotRecorded, r.res.Outcome, attempt, err)
	r.log.Error("ivr: result not recorded", "outcome", r.res.Outcome, "level", r.res.Level,
		"reason", r.res.Reason, "attempts", attempt, "err", err)
}
