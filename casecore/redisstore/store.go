package redisstore

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haochaping/haochaping/casecore"
)

//go:embed apply.lua
var applySrc string

var applyScript = redis.NewScript(applySrc)

// Defaults of Config.
const (
	DefaultNamespace    = "hcp"
	DefaultEventsMaxLen = 1_000_000
	maxListLimit        = 1000
	// maxIndexed is how many ratings the work order and phone indexes keep
	// per key (the newest): a number that rates thousands of times must not
	// make every later rating slower.
	maxIndexed       = 200
	defaultListLimit = 100
)

// Config holds the store's optional settings.
type Config struct {
	// Namespace prefixes every key (as a hash tag), so several deployments
	// or tests can share one Redis.
	Namespace string
	// EventsMaxLen caps the event stream (approximately).
	EventsMaxLen int64
	// Pipelines is how many pipelines of concurrent changes may be in flight
	// at once (see combiner); 0 means the default (4), a negative number
	// sends each change alone.
	Pipelines int
	// Batch is the most changes one pipeline carries; 0 means 64.
	Batch int
}

// Store is casecore.Store on Redis.
type Store struct {
	rdb          redis.UniversalClient
	k            keys
	eventsMaxLen int64
	comb         *combiner // nil: each change alone
}

var _ casecore.Store = (*Store)(nil)

// New returns a store on rdb.
func New(rdb redis.UniversalClient, cfg Config) *Store {
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.EventsMaxLen <= 0 {
		cfg.EventsMaxLen = DefaultEventsMaxLen
	}
	st := &Store{rdb: rdb, k: newKeys(cfg.Namespace), eventsMaxLen: cfg.EventsMaxLen}
	if cfg.Pipelines >= 0 {
		st.comb = newCombiner(rdb, cfg.Pipelines, cfg.Batch)
	}
	return st
}

// EventsKey returns the name of the event stream.
func (s *Store) EventsKey() string { return s.k.events() }

// Client returns the Redis client.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

// builder collects one change as the arguments of apply.lua: KEYS, and
// ARGV as flat sections read in order (see apply.lua), so neither side
// encodes or parses a JSON payload. Keys are referred to by 1-based index.
type builder struct {
	keys []string

	now       int64
	idem      []any // 0 or 3 entries: key index, field, value
	conds     []any // pairs: key index, expected version
	nConds    int
	sets      []any // pairs: key index, record
	nSets     int
	ops       []any // op name, key index, then the op's arguments
	nOps      int
	referral  []any // nil, or the referral section without its leading 1
	eventsKey int
	maxLen    int64
	events    [][]string
}

// set writes record rec to key k.
func (b *builder) set(k, rec string) {
	b.sets = append(b.sets, b.key(k), rec)
	b.nSets++
}

// cond requires key k to hold a record of version v (0: no record).
func (b *builder) cond(k string, v int) {
	b.conds = append(b.conds, b.key(k), v)
	b.nConds++
}

// command returns the whole EVALSHA command of the change: built once, in
// its final order, so the client sends it without copying (at ten thousand
// ratings a second, every slice counts for the garbage collector).
func (b *builder) command() []any {
	n := 3 + len(b.keys) + 8 + len(b.idem) + len(b.conds) + len(b.sets) + len(b.ops) + len(b.referral)
	for _, e := range b.events {
		n += 1 + len(e)
	}
	out := make([]any, 0, n)
	out = append(out, "evalsha", applyScript.Hash(), len(b.keys))
	for _, k := range b.keys {
		out = append(out, k)
	}
	out = append(out, b.now, len(b.idem)/3)
	out = append(out, b.idem...)
	out = append(out, b.nConds)
	out = append(out, b.conds...)
	out = append(out, b.nSets)
	out = append(out, b.sets...)
	out = append(out, b.nOps)
	out = append(out, b.ops...)
	if b.referral == nil {
		out = append(out, 0)
	} else {
		out = append(out, 1)
		out = append(out, b.referral...)
	}
	out = append(out, b.eventsKey, b.maxLen, len(b.events))
	for _, e := range b.events {
		out = append(out, len(e))
		for _, f := range e {
			out = append(out, f)
		}
	}
	return out
}

// processor sends one command: a client.
type processor interface {
	Process(ctx context.Context, cmd redis.Cmder) error
}

// isNoScript reports whether err says Redis does not have the script
// (after a restart or SCRIPT FLUSH): nothing was run.
func isNoScript(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") }

// runApply runs a command made by builder.command; when Redis lacks the
// script, it sends the script itself (EVAL), which also loads it.
func runApply(ctx context.Context, rdb processor, args []any) ([]string, error) {
	cmd := redis.NewCmd(ctx, args...)
	_ = rdb.Process(ctx, cmd)
	res, err := cmd.StringSlice()
	if isNoScript(err) {
		args[0], args[1] = "eval", applySrc
		cmd = redis.NewCmd(ctx, args...)
		_ = rdb.Process(ctx, cmd)
		res, err = cmd.StringSlice()
	}
	return res, err
}

// key returns the index of k in KEYS, adding it if new. A change touches
// a dozen keys or so: a linear search beats a map.
func (b *builder) key(k string) int {
	for i, have := range b.keys {
		if have == k {
			return i + 1
		}
	}
	b.keys = append(b.keys, k)
	return len(b.keys)
}

// op appends an index or counter write; args must match the op's arity in
// apply.lua.
func (b *builder) op(name, key string, args ...any) {
	b.ops = append(b.ops, name, b.key(key))
	b.ops = append(b.ops, args...)
	b.nOps++
}

func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// record encodes a stored record: "<version>\n<body>".
func record(version int, body []byte, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return strconv.Itoa(version) + "\n" + string(body), nil
}

// recordBody returns the body of a stored record.
func recordBody(s string) ([]byte, error) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return nil, errors.New("corrupt record: no version line")
	}
	return []byte(s[i+1:]), nil
}

func decodeRecord(s string, v any) error {
	b, err := recordBody(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func parseRating(s string) (*casecore.Rating, error) {
	b, err := recordBody(s)
	if err != nil {
		return nil, err
	}
	return decodeRating(b)
}

func parseCase(s string) (*casecore.Case, error) {
	b, err := recordBody(s)
	if err != nil {
		return nil, err
	}
	return decodeCase(b)
}

// sortScore orders a case in its index sets: the earliest due time of its
// running clocks, else the last update.
func sortScore(c *casecore.Case) string {
	var best time.Time
	for _, clk := range c.Clocks {
		if best.IsZero() || clk.DueAt.Before(best) {
			best = clk.DueAt
		}
	}
	if best.IsZero() {
		best = c.UpdatedAt
	}
	return ms(best)
}

func (s *Store) build(ch *casecore.Change, now time.Time) (*builder, error) {
	b := &builder{keys: make([]string, 0, 16), ops: make([]any, 0, 48), now: now.UnixMilli(), maxLen: s.eventsMaxLen}
	b.eventsKey = b.key(s.k.events())
	if r := ch.NewRating; r != nil {
		b.idem = []any{b.key(s.k.idem(r.IdempotencyKey)), r.IdempotencyKey, r.ID + "|" + ch.Fingerprint}
		body, err := encodeRating(r)
		rec, err := record(r.Version, body, err)
		if err != nil {
			return nil, err
		}
		rk := s.k.rating(r.ID)
		b.cond(rk, 0)
		b.set(rk, rec)
		if r.WorkOrderID != "" {
			b.op("happend", s.k.workOrders(r.WorkOrderID), r.WorkOrderID, r.ID, maxIndexed)
		}
		if r.RaterPhone != "" {
			b.op("happend", s.k.phones(r.RaterPhone), r.RaterPhone, r.ID, maxIndexed)
		}
		b.op("rpush", s.k.ratingDay(casecore.DateOf(r.RatedAt)), r.ID)
		s.textQueueOp(b, r)
	}
	if n := ch.NoRating; n != nil {
		b.idem = []any{b.key(s.k.idem("nr:" + n.IdempotencyKey)), "nr:" + n.IdempotencyKey, n.ID + "|"}
		body, err := json.Marshal(n)
		rec, err := record(1, body, err)
		if err != nil {
			return nil, err
		}
		nk := s.k.noRating(n.ID)
		b.cond(nk, 0)
		b.set(nk, rec)
	}
	if r := ch.Rating; r != nil {
		body, err := encodeRating(r)
		rec, err := record(r.Version, body, err)
		if err != nil {
			return nil, err
		}
		rk := s.k.rating(r.ID)
		b.cond(rk, ch.RatingExpect)
		b.set(rk, rec)
		s.textQueueOp(b, r)
	}
	if c := ch.Case; c != nil {
		body, err := encodeCase(c)
		rec, err := record(c.Version, body, err)
		if err != nil {
			return nil, err
		}
		ck := s.k.caseKey(c.ID)
		b.cond(ck, ch.CaseExpect)
		b.set(ck, rec)
		score := sortScore(c)
		if ch.PrevState == "" {
			b.op("sadd", s.k.caseUnits(), c.UnitID)
		} else if ch.PrevState != c.State {
			b.op("zrem", s.k.byUnitState(c.UnitID, ch.PrevState), c.ID)
		}
		b.op("zadd", s.k.byUnitState(c.UnitID, c.State), score, c.ID)
		overdue := c.Overdue() && !c.State.Terminal()
		if overdue {
			b.op("zadd", s.k.overdue(), score, c.ID)
		} else if ch.PrevOverdue {
			b.op("zrem", s.k.overdue(), c.ID)
		}
	}
	for _, d := range ch.Deadlines {
		m := d.Ref.Member()
		if d.At.IsZero() {
			b.op("zrem", s.k.deadlines(), m)
			b.op("srem", s.k.provisional(), m)
			continue
		}
		b.op("zadd", s.k.deadlines(), ms(d.At), m)
		if d.Provisional {
			b.op("sadd", s.k.provisional(), m)
		} else if d.WasProvisional {
			b.op("srem", s.k.provisional(), m)
		}
	}
	units := map[string]bool{}
	for _, st := range ch.Stats {
		b.op("hincrby", s.k.stats(st.Unit, st.Date), st.Field, st.Delta)
		if !units[st.Unit] {
			units[st.Unit] = true
			b.op("sadd", s.k.statUnits(), st.Unit)
		}
	}
	if rc := ch.Referral; rc != nil {
		ref := rc.Referral
		b.referral = []any{b.key(s.k.staffBad(rc.StaffID)), b.key(s.k.referrals()), b.key(s.k.referralData()),
			rc.RatingID, rc.RatedAt.UnixMilli(), rc.Window.Milliseconds(), rc.Threshold,
			5, "id", "F" + strings.TrimLeft(rc.RatingID, "RC"), "staff_id", ref.StaffID, "unit_id", ref.UnitID,
			"case_id", ref.CaseID, "at", ref.At.In(casecore.Shanghai).Format(time.RFC3339Nano)}
	}
	for _, e := range ch.Events {
		b.events = append(b.events, eventFields(e))
	}
	return b, nil
}

// textQueueOp keeps r's place in the text-review queue: in it, by due time,
// while its review is pending; out of it once reviewed.
func (s *Store) textQueueOp(b *builder, r *casecore.Rating) {
	switch tr := r.TextReview; {
	case tr == nil:
	case tr.Status == casecore.TextPending:
		at := r.ReceivedAt
		if tr.Clock != nil {
			at = tr.Clock.DueAt
		}
		b.op("zadd", s.k.textQueue(), ms(at), r.ID)
	default:
		b.op("zrem", s.k.textQueue(), r.ID)
	}
}

// TextReviews returns up to count IDs of the ratings whose text review is
// pending, earliest due first, from position offset; and how many there are.
func (s *Store) TextReviews(ctx context.Context, offset, count int) ([]string, int64, error) {
	if count <= 0 {
		n, err := s.rdb.ZCard(ctx, s.k.textQueue()).Result()
		if err != nil {
			return nil, 0, fmt.Errorf("text reviews: %w", err)
		}
		return nil, n, nil
	}
	pipe := s.rdb.Pipeline()
	ids := pipe.ZRange(ctx, s.k.textQueue(), int64(offset), int64(offset+count)-1)
	n := pipe.ZCard(ctx, s.k.textQueue())
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, fmt.Errorf("text reviews: %w", err)
	}
	return ids.Val(), n.Val(), nil
}

// eventFields flattens an event into stream fields; empty fields are left out.
func eventFields(e casecore.Event) []string {
	f := []string{"type", e.Type}
	add := func(k, v string) {
		if v != "" {
			f = append(f, k, v)
		}
	}
	add("case_id", e.CaseID)
	add("rating_id", e.Rating)
	add("unit_id", e.Unit)
	add("state", string(e.State))
	add("from", string(e.From))
	add("clock", string(e.Clock))
	add("actor", e.Actor)
	add("level", string(e.Level))
	add("channel", string(e.Chan))
	if e.Comment {
		add("comment", "1")
	}
	add("at", strconv.FormatInt(e.At.UnixMilli(), 10))
	return f
}

// Apply applies one change atomically.
func (s *Store) Apply(ctx context.Context, ch *casecore.Change) error {
	b, err := s.build(ch, time.Now())
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	var res []string
	if s.comb != nil {
		res, err = s.comb.run(ctx, b.command())
	} else {
		res, err = runApply(ctx, s.rdb, b.command())
	}
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	return applyResult(res, ch)
}

func applyResult(res []string, ch *casecore.Change) error {
	if len(res) == 0 {
		return errors.New("apply: empty reply")
	}
	switch res[0] {
	case "OK":
		if len(res) > 1 && ch.Referral != nil {
			ch.Referral.Referral.ID = res[1]
		}
		return nil
	case "DUP":
		id, fp, _ := strings.Cut(res[1], "|")
		return &casecore.DuplicateError{RatingID: id, Fingerprint: fp}
	case "CONFLICT":
		return fmt.Errorf("%s: %w", strings.Join(res[1:], " "), casecore.ErrConflict)
	}
	return fmt.Errorf("apply: unexpected reply %q", res)
}

// ApplyMany applies changes in one round trip (one script run each, pipelined);
// each change succeeds or fails on its own.
func (s *Store) ApplyMany(ctx context.Context, chs []*casecore.Change) []error {
	errs := make([]error, len(chs))
	if len(chs) == 0 {
		return errs
	}
	cmds := make([]*redis.Cmd, len(chs))
	args := make([][]any, len(chs))
	now := time.Now()
	pipe := s.rdb.Pipeline()
	for i, ch := range chs {
		b, err := s.build(ch, now)
		if err != nil {
			errs[i] = err
			continue
		}
		args[i] = b.command()
		cmds[i] = redis.NewCmd(ctx, args[i]...)
		_ = pipe.Process(ctx, cmds[i])
	}
	_, _ = pipe.Exec(ctx)
	for i, c := range cmds {
		if c == nil {
			continue
		}
		res, err := c.StringSlice()
		if isNoScript(err) {
			res, err = runApply(ctx, s.rdb, args[i])
		}
		if err != nil {
			errs[i] = fmt.Errorf("apply: %w", err)
			continue
		}
		errs[i] = applyResult(res, chs[i])
	}
	return errs
}

// GetRating reads one rating.
func (s *Store) GetRating(ctx context.Context, id string) (*casecore.Rating, error) {
	v, err := s.rdb.Get(ctx, s.k.rating(id)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("rating %s: %w", id, casecore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get rating: %w", err)
	}
	r, err := parseRating(v)
	if err != nil {
		return nil, fmt.Errorf("rating %s: %w", id, err)
	}
	return r, nil
}

// GetNoRating reads a no-rating outcome.
func (s *Store) GetNoRating(ctx context.Context, id string) (*casecore.NoRating, error) {
	v, err := s.rdb.Get(ctx, s.k.noRating(id)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("no-rating %s: %w", id, casecore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get no-rating: %w", err)
	}
	n := new(casecore.NoRating)
	if err := decodeRecord(v, n); err != nil {
		return nil, fmt.Errorf("no-rating %s: %w", id, err)
	}
	return n, nil
}

// GetRatings reads ratings by ID; a missing one is nil in the result.
func (s *Store) GetRatings(ctx context.Context, ids []string) ([]*casecore.Rating, error) {
	out := make([]*casecore.Rating, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ks := make([]string, len(ids))
	for i, id := range ids {
		ks[i] = s.k.rating(id)
	}
	vals, err := s.mget(ctx, ks)
	if err != nil {
		return nil, fmt.Errorf("get ratings: %w", err)
	}
	for i, v := range vals {
		if v == "" {
			continue
		}
		r, err := parseRating(v)
		if err != nil {
			return nil, fmt.Errorf("rating %s: %w", ids[i], err)
		}
		out[i] = r
	}
	return out, nil
}

// mget reads keys with GETs in one pipeline (MGET across keys of one hash
// tag would work too, but a pipeline keeps replies small and bounded).
func (s *Store) mget(ctx context.Context, ks []string) ([]string, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(ks))
	for i, k := range ks {
		cmds[i] = pipe.Get(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]string, len(ks))
	for i, c := range cmds {
		v, err := c.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// GetCase reads one case.
func (s *Store) GetCase(ctx context.Context, id string) (*casecore.Case, error) {
	v, err := s.rdb.Get(ctx, s.k.caseKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("case %s: %w", id, casecore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get case: %w", err)
	}
	c, err := parseCase(v)
	if err != nil {
		return nil, fmt.Errorf("case %s: %w", id, err)
	}
	return c, nil
}

// GetCases reads cases by ID; a missing one is nil in the result.
func (s *Store) GetCases(ctx context.Context, ids []string) ([]*casecore.Case, error) {
	out := make([]*casecore.Case, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ks := make([]string, len(ids))
	for i, id := range ids {
		ks[i] = s.k.caseKey(id)
	}
	vals, err := s.mget(ctx, ks)
	if err != nil {
		return nil, fmt.Errorf("get cases: %w", err)
	}
	for i, v := range vals {
		if v == "" {
			continue
		}
		c, err := parseCase(v)
		if err != nil {
			return nil, fmt.Errorf("case %s: %w", ids[i], err)
		}
		out[i] = c
	}
	return out, nil
}

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return defaultListLimit
	case n > maxListLimit:
		return maxListLimit
	}
	return n
}

// ListRatings lists ratings by work order, phone or date range, newest last.
func (s *Store) ListRatings(ctx context.Context, q casecore.RatingQuery) ([]*casecore.Rating, error) {
	limit := clampLimit(q.Limit)
	var ids []string
	switch {
	case q.WorkOrderID != "" || q.Phone != "":
		var sets [][]string
		if q.WorkOrderID != "" {
			v, err := s.rdb.HGet(ctx, s.k.workOrders(q.WorkOrderID), q.WorkOrderID).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return nil, err
			}
			sets = append(sets, splitIDs(v))
		}
		if q.Phone != "" {
			v, err := s.rdb.HGet(ctx, s.k.phones(q.Phone), q.Phone).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return nil, err
			}
			sets = append(sets, splitIDs(v))
		}
		ids = sets[0]
		if len(sets) == 2 {
			in := map[string]bool{}
			for _, id := range sets[1] {
				in[id] = true
			}
			ids = ids[:0:0]
			for _, id := range sets[0] {
				if in[id] {
					ids = append(ids, id)
				}
			}
		}
	case !q.From.IsZero():
		to := q.To
		if to.IsZero() {
			to = time.Now() // the Service gives its clock's now; other callers get the real one
		}
		for d := casecore.DateOf(q.From); !d.After(casecore.DateOf(to)) && len(ids) < 20*limit; d = d.AddDays(1) {
			v, err := s.rdb.LRange(ctx, s.k.ratingDay(d), 0, int64(20*limit)).Result()
			if err != nil {
				return nil, err
			}
			ids = append(ids, v...)
		}
	default:
		return nil, &casecore.ValidationError{Field: "query", Message: "give work_order_id, phone or from"}
	}
	var out []*casecore.Rating
	for start := 0; start < len(ids) && len(out) < limit; start += 200 {
		batch := ids[start:min(start+200, len(ids))]
		rs, err := s.GetRatings(ctx, batch)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if r == nil || (q.Channel != "" && r.Channel != q.Channel) ||
				(!q.From.IsZero() && r.RatedAt.Before(q.From)) || (!q.To.IsZero() && r.RatedAt.After(q.To)) {
				continue
			}
			out = append(out, r)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// RatingsOfDay pages through the ratings made on a day.
func (s *Store) RatingsOfDay(ctx context.Context, day casecore.Date, offset, count int) ([]*casecore.Rating, error) {
	ids, err := s.rdb.LRange(ctx, s.k.ratingDay(day), int64(offset), int64(offset+count-1)).Result()
	if err != nil {
		return nil, err
	}
	rs, err := s.GetRatings(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := rs[:0]
	for _, r := range rs {
		if r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

func splitIDs(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// ListCases lists cases by state, units and overdue, earliest due first.
// Each (unit, state) set is sorted by due time, so the first Limit of every
// set that matches, merged, are the first Limit of all.
func (s *Store) ListCases(ctx context.Context, q casecore.CaseQuery) ([]*casecore.Case, error) {
	limit := clampLimit(q.Limit)
	units := q.Units
	if len(units) == 0 {
		var err error
		if units, err = s.rdb.SMembers(ctx, s.k.caseUnits()).Result(); err != nil {
			return nil, err
		}
	}
	wantUnit := map[string]bool{}
	for _, u := range q.Units {
		wantUnit[u] = true
	}
	type scored struct {
		id    string
		score float64
	}
	var all []scored
	if q.Overdue {
		// One set of all overdue cases: page through it, keeping matches.
		const page, budget = 500, 50_000
		for off := int64(0); off < budget && len(all) < limit; off += page {
			zs, err := s.rdb.ZRangeWithScores(ctx, s.k.overdue(), off, off+page-1).Result()
			if err != nil {
				return nil, err
			}
			ids := make([]string, len(zs))
			for i, z := range zs {
				ids[i] = z.Member.(string)
			}
			cs, err := s.GetCases(ctx, ids)
			if err != nil {
				return nil, err
			}
			for i, c := range cs {
				if c != nil && (q.State == "" || c.State == q.State) && (len(wantUnit) == 0 || wantUnit[c.UnitID]) {
					all = append(all, scored{c.ID, zs[i].Score})
				}
			}
			if len(zs) < page {
				break
			}
		}
	} else {
		states := []casecore.State{q.State}
		if q.State == "" {
			states = nil
			for _, st := range casecore.States {
				if !st.Terminal() {
					states = append(states, st)
				}
			}
		}
		pipe := s.rdb.Pipeline()
		var cmds []*redis.ZSliceCmd
		for _, u := range units {
			for _, st := range states {
				cmds = append(cmds, pipe.ZRangeWithScores(ctx, s.k.byUnitState(u, st), 0, int64(limit)-1))
			}
		}
		if len(cmds) > 0 {
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return nil, err
			}
		}
		for _, c := range cmds {
			for _, z := range c.Val() {
				all = append(all, scored{z.Member.(string), z.Score})
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].score != all[j].score {
			return all[i].score < all[j].score
		}
		return all[i].id < all[j].id
	})
	if len(all) > limit {
		all = all[:limit]
	}
	ids := make([]string, len(all))
	for i, a := range all {
		ids[i] = a.id
	}
	cs, err := s.GetCases(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := cs[:0]
	for _, c := range cs {
		if c != nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// NextIDs reserves n rating numbers of a day.
func (s *Store) NextIDs(ctx context.Context, day casecore.Date, n int) (int64, error) {
	k := s.k.seq(day)
	pipe := s.rdb.TxPipeline()
	incr := pipe.IncrBy(ctx, k, int64(n))
	pipe.Expire(ctx, k, 72*time.Hour)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, err
	}
	return incr.Val() - int64(n) + 1, nil
}

// Due returns the deadline members due at now, earliest first.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]casecore.DueItem, error) {
	zs, err := s.rdb.ZRangeByScoreWithScores(ctx, s.k.deadlines(), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit)}).Result()
	if err != nil {
		return nil, err
	}
	out := make([]casecore.DueItem, 0, len(zs))
	for _, z := range zs {
		ref, ok := parseMember(z.Member.(string))
		if !ok {
			continue
		}
		out = append(out, casecore.DueItem{Ref: ref, Score: int64(z.Score)})
	}
	return out, nil
}

func parseMember(m string) (casecore.DeadlineRef, bool) {
	e, k, ok := strings.Cut(m, "|")
	return casecore.DeadlineRef{Entity: e, Kind: casecore.ClockKind(k)}, ok && e != ""
}

// NextDue returns the earliest fire time.
func (s *Store) NextDue(ctx context.Context) (time.Time, error) {
	zs, err := s.rdb.ZRangeWithScores(ctx, s.k.deadlines(), 0, 0).Result()
	if err != nil || len(zs) == 0 {
		return time.Time{}, err
	}
	return time.UnixMilli(int64(zs[0].Score)), nil
}

// Provisional lists the provisional deadline members.
func (s *Store) Provisional(ctx context.Context) ([]casecore.DeadlineRef, error) {
	ms, err := s.rdb.SMembers(ctx, s.k.provisional()).Result()
	if err != nil {
		return nil, err
	}
	sort.Strings(ms)
	var out []casecore.DeadlineRef
	for _, m := range ms {
		if ref, ok := parseMember(m); ok {
			out = append(out, ref)
		}
	}
	return out, nil
}

// SaveRules records a rule set under its ID.
func (s *Store) SaveRules(ctx context.Context, r casecore.Rules) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.rdb.HSetNX(ctx, s.k.rules(), r.ID(), b).Err()
}

// LoadRules reads a rule set.
func (s *Store) LoadRules(ctx context.Context, id string) (casecore.Rules, error) {
	var r casecore.Rules
	v, err := s.rdb.HGet(ctx, s.k.rules(), id).Bytes()
	if errors.Is(err, redis.Nil) {
		return r, fmt.Errorf("rules %s: %w", id, casecore.ErrNotFound)
	}
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(v, &r)
}

// Stats sums the counters of units (all with counters when empty) over the days from..to.
func (s *Store) Stats(ctx context.Context, units []string, from, to casecore.Date) (map[string]map[string]int64, error) {
	if len(units) == 0 {
		var err error
		if units, err = s.rdb.SMembers(ctx, s.k.statUnits()).Result(); err != nil {
			return nil, err
		}
	}
	if to.Sub(from) > 3660 {
		return nil, &casecore.ValidationError{Field: "to", Message: "range longer than ten years"}
	}
	pipe := s.rdb.Pipeline()
	type q struct {
		unit string
		cmd  *redis.MapStringStringCmd
	}
	var qs []q
	for _, u := range units {
		for d := from; !d.After(to); d = d.AddDays(1) {
			qs = append(qs, q{u, pipe.HGetAll(ctx, s.k.stats(u, d))})
		}
	}
	if len(qs) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
	}
	out := map[string]map[string]int64{}
	for _, u := range units {
		out[u] = map[string]int64{}
	}
	for _, x := range qs {
		for f, v := range x.cmd.Val() {
			n, _ := strconv.ParseInt(v, 10, 64)
			out[x.unit][f] += n
		}
	}
	return out, nil
}

// CountOpen counts cases per state and the overdue ones.
func (s *Store) CountOpen(ctx context.Context) (map[casecore.State]int64, int64, error) {
	units, err := s.rdb.SMembers(ctx, s.k.caseUnits()).Result()
	if err != nil {
		return nil, 0, err
	}
	pipe := s.rdb.Pipeline()
	type q struct {
		st  casecore.State
		cmd *redis.IntCmd
	}
	var qs []q
	for _, u := range units {
		for _, st := range casecore.States {
			qs = append(qs, q{st, pipe.ZCard(ctx, s.k.byUnitState(u, st))})
		}
	}
	od := pipe.ZCard(ctx, s.k.overdue())
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, err
	}
	out := map[casecore.State]int64{}
	for _, x := range qs {
		out[x.st] += x.cmd.Val()
	}
	return out, od.Val(), nil
}

// Summary counts every unit's open cases by state and by how near their
// earliest deadline is: each (unit, state) set is scored by that deadline,
// so the counts are ZCARD and ZCOUNT over score ranges. A deadline due
// today ends at endOfDay itself (24:00), so that bound is inclusive.
func (s *Store) Summary(ctx context.Context, now, endOfDay time.Time) ([]casecore.UnitSummary, error) {
	units, err := s.rdb.SMembers(ctx, s.k.caseUnits()).Result()
	if err != nil {
		return nil, err
	}
	sort.Strings(units)
	nowS, eodS, h24S := ms(now), ms(endOfDay), ms(now.Add(24*time.Hour))
	type q struct {
		unit                         int
		st                           casecore.State
		card, overdue, today, within *redis.IntCmd
	}
	pipe := s.rdb.Pipeline()
	var qs []q
	for i, u := range units {
		for _, st := range casecore.States {
			if st.Terminal() {
				continue
			}
			k := s.k.byUnitState(u, st)
			qs = append(qs, q{i, st, pipe.ZCard(ctx, k), pipe.ZCount(ctx, k, "-inf", "("+nowS),
				pipe.ZCount(ctx, k, nowS, eodS), pipe.ZCount(ctx, k, nowS, h24S)})
		}
	}
	if len(qs) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]casecore.UnitSummary, len(units))
	for i, u := range units {
		out[i] = casecore.UnitSummary{Unit: u, States: map[casecore.State]int64{}}
	}
	for _, x := range qs {
		u := &out[x.unit]
		if x.card.Val() > 0 {
			u.States[x.st] += x.card.Val()
		}
		u.Open += x.card.Val()
		u.Overdue += x.overdue.Val()
		u.DueToday += x.today.Val()
		u.Due24h += x.within.Val()
	}
	kept := out[:0]
	for _, u := range out {
		if u.Open > 0 {
			kept = append(kept, u)
		}
	}
	return kept, nil
}

// Referrals lists the newest referrals.
func (s *Store) Referrals(ctx context.Context, limit int) ([]*casecore.Referral, error) {
	ids, err := s.rdb.ZRevRange(ctx, s.k.referrals(), 0, int64(clampLimit(limit))-1).Result()
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	vals, err := s.rdb.HMGet(ctx, s.k.referralData(), ids...).Result()
	if err != nil {
		return nil, err
	}
	var out []*casecore.Referral
	for _, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue
		}
		r := new(casecore.Referral)
		d := json.NewDecoder(bytes.NewReader([]byte(str)))
		if err := d.Decode(r); err != nil {
			return nil, fmt.Errorf("referral: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}
