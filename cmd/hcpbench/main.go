// Command hcpbench measures the case core on a real redis-server, side by
// side in one run, and prints a Markdown report:
//
//   - bad ratings per second through casecore into Redis (each opens a case),
//     beside redis-benchmark driving the same apply script with the same
//     payload, with no Go in between (the ceiling);
//   - ratings per second through the HTTP API of a running `haochaping serve`;
//   - Redis memory per open case;
//   - the time to fire 10,000 deadlines that fall due at once among
//     1,000,000 open cases, and the idle cost of the deadline worker at
//     10,000 and at 1,000,000 open cases.
//
// Every figure is the median of several rounds. Usage (make bench runs it):
//
//	hcpbench -redis-server redis-server -haochaping bin/haochaping -cases 1000000
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/casecore/redisstore"
	"github.com/haochaping/haochaping/internal/clock"
)

var (
	redisBin   = flag.String("redis-server", "redis-server", "redis-server binary")
	benchBin   = flag.String("redis-benchmark", "redis-benchmark", "redis-benchmark binary")
	hcpBin     = flag.String("haochaping", "bin/haochaping", "haochaping binary for the HTTP benchmark")
	nCases     = flag.Int("cases", 1_000_000, "open cases for the deadline benchmark")
	nDue       = flag.Int("due", 10_000, "deadlines falling due at once")
	rounds     = flag.Int("rounds", 3, "rounds per throughput figure (median reported)")
	perRound   = flag.Int("n", 30_000, "ratings per throughput round")
	clients    = flag.Int("c", 50, "concurrent clients (Go goroutines, redis-benchmark -c, HTTP clients)")
	memSample  = flag.Int("mem-cases", 100_000, "cases created to measure memory per case")
	outPath    = flag.String("o", "", "write the report here too")
	skipMillon = flag.Bool("skip-deadlines", false, "skip the 1,000,000-case deadline benchmark")
)

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	ctx := context.Background()
	srv, err := startRedis()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.stop()
	rdb := redis.NewClient(&redis.Options{Addr: srv.addr, PoolSize: *clients + 10})
	defer rdb.Close()

	var rep report
	rep.line("# Case core benchmark\n")
	rep.line("%s, %d CPUs (%s), Go %s, %s. Medians of %d rounds.\n", time.Now().Format("2006-01-02 15:04 MST"),
		runtime.NumCPU(), cpuModel(), runtime.Version(), redisVersion(ctx, rdb), *rounds)

	// 1. casecore vs raw Lua.
	goRates, rawRates := []float64{}, []float64{}
	for r := range *rounds {
		goRates = append(goRates, benchCasecore(ctx, rdb, fmt.Sprintf("bc%d", r)))
		rawRates = append(rawRates, benchRawLua(ctx, rdb, srv, fmt.Sprintf("bl%d", r)))
		log.Printf("round %d: casecore %.0f/s, raw lua %.0f/s", r, goRates[r], rawRates[r])
	}
	g, l := median(goRates), median(rawRates)
	rep.line("## Bad ratings into Redis (each opens a case)\n")
	rep.line("| path | ratings/s (median) | rounds |\n|---|---|---|")
	rep.line("| casecore.Service.SubmitRating, %d goroutines | %.0f | %s |", *clients, g, fmtList(goRates))
	rep.line("| redis-benchmark -c %d, the same apply.lua and payload | %.0f | %s |", *clients, l, fmtList(rawRates))
	rep.line("\ncasecore reaches **%.0f%%** of the raw script (goal ≥ 70%%).\n", 100*g/l)
	flush(ctx, rdb)

	// 2. HTTP API.
	if _, err := os.Stat(*hcpBin); err == nil {
		bad, mixed := benchHTTP(ctx, srv)
		rep.line("## Ratings through the HTTP API\n")
		rep.line("`POST /api/v1/ratings` from %d keep-alive clients in this process, server `%s serve` on the same machine.\n", *clients, *hcpBin)
		rep.line("| mix | ratings/s (median) | rounds |\n|---|---|---|")
		rep.line("| all bad (each opens a case) | %.0f | %s |", median(bad), fmtList(bad))
		rep.line("| 90%% good, 10%% bad | %.0f | %s |", median(mixed), fmtList(mixed))
		rep.line("\nGoal ≥ 8,000/s.\n")
		flush(ctx, rdb)
	} else {
		rep.line("## Ratings through the HTTP API\n\nskipped: %s not built\n", *hcpBin)
	}

	// 3. Memory per open case.
	perCase, perEvent := benchMemory(ctx, rdb)
	rep.line("## Redis memory per open case\n")
	rep.line("%d bad ratings, each with its rating record, case record, two running clocks and every index "+
		"(idempotency, work order, phone, day, unit and state): **%.0f bytes** per open case (goal ≤ 1,536).\n",
		*memSample, perCase)
	rep.line("Not included: the event stream, a ring buffer of redis.events_max_len entries (default 1,000,000) "+
		"whatever the number of cases, at %.0f bytes per event (a bad rating appends two), so about %.0f MiB when full.\n",
		perEvent, perEvent*1e6/(1<<20))
	flush(ctx, rdb)

	// 4. Deadlines among a million open cases.
	if !*skipMillon {
		fire, idleSmall, idleLarge := benchDeadlines(ctx, rdb)
		rep.line("## Deadlines\n")
		rep.line("%d callback deadlines falling due at once among %d open cases: fired in **%.2f s** (median of %d; %s; goal ≤ 2 s).\n",
			*nDue, *nCases, median(fire), len(fire), fmtSecs(fire))
		rep.line("Idle cost of one worker poll (due check + next due time, median of 2,000 polls): %.0f µs with %d open cases, "+
			"%.0f µs with %d (ratio %.2f). A poll is two sorted-set reads of the earliest members, O(log n): "+
			"from %d to %d cases log₂ n grows %.2f×, while the number of cases grows %.0f×.\n",
			idleSmall, *nDue, idleLarge, *nCases+*nDue, idleLarge/idleSmall, *nDue, *nCases+*nDue,
			math.Log2(float64(*nCases+*nDue))/math.Log2(float64(*nDue)), float64(*nCases+*nDue)/float64(*nDue))
	}
	fmt.Print(rep.String())
	if *outPath != "" {
		if err := os.WriteFile(*outPath, []byte(rep.String()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

type report struct{ b strings.Builder }

func (r *report) line(f string, a ...any) { fmt.Fprintf(&r.b, f+"\n", a...) }
func (r *report) String() string          { return r.b.String() }

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtList(xs []float64) string {
	var p []string
	for _, x := range xs {
		p = append(p, strconv.FormatFloat(x, 'f', 0, 64))
	}
	return strings.Join(p, ", ")
}

func fmtSecs(xs []float64) string {
	var p []string
	for _, x := range xs {
		p = append(p, strconv.FormatFloat(x, 'f', 2, 64)+" s")
	}
	return strings.Join(p, ", ")
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	if m := regexp.MustCompile(`model name\s*:\s*(.*)`).FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return runtime.GOARCH
}

func redisVersion(ctx context.Context, rdb *redis.Client) string {
	info, _ := rdb.Info(ctx, "server").Result()
	if m := regexp.MustCompile(`redis_version:(\S+)`).FindStringSubmatch(info); m != nil {
		return "redis-server " + m[1]
	}
	return "redis"
}

// redisServer is the redis-server this run measures against.
type redisServer struct {
	addr, port string
	cmd        *exec.Cmd
	dir        string
}

func startRedis() (*redisServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	dir, _ := os.MkdirTemp("", "hcpbench")
	cmd := exec.Command(*redisBin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	s := &redisServer{addr: "127.0.0.1:" + port, port: port, cmd: cmd, dir: dir}
	for range 100 {
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("redis-server did not start on %s", s.addr)
}

func (s *redisServer) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	os.RemoveAll(s.dir)
}

func flush(ctx context.Context, rdb *redis.Client) {
	rdb.FlushAll(ctx)
	time.Sleep(200 * time.Millisecond) // let the allocator settle
}

func newService(ctx context.Context, rdb *redis.Client, ns string, clk clock.Clock) (*casecore.Service, *redisstore.Store) {
	cal, err := casecore.DefaultCalendar()
	if err != nil {
		log.Fatal(err)
	}
	st := redisstore.New(rdb, redisstore.Config{Namespace: ns})
	svc, err := casecore.NewService(ctx, casecore.Params{Store: st, Calendar: cal, Clock: clk}, casecore.Config{IDBlock: 1000})
	if err != nil {
		log.Fatal(err)
	}
	return svc, st
}

var intake = casecore.Actor{ID: "bench", Role: casecore.RoleIntake}

func ratingInput(i int, prefix string, level casecore.Level) casecore.RatingInput {
	return casecore.RatingInput{IdempotencyKey: fmt.Sprintf("%s-%d", prefix, i), Channel: casecore.ChannelHotlineIVR,
		Level: level, WorkOrderID: fmt.Sprintf("WO2026%08d", i), UnitID: fmt.Sprintf("fh-g%02d", i%40+1),
		StaffID: fmt.Sprintf("s-%05d", i%5000), Post: "窗口受理", RaterPhone: fmt.Sprintf("138%08d", i%100_000_000)}
}

// submitMany submits n ratings from c goroutines and returns ratings/s.
func submitMany(ctx context.Context, svc *casecore.Service, n, c int, prefix string, level func(int) casecore.Level) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				if _, _, err := svc.SubmitRating(ctx, intake, ratingInput(i, prefix, level(i))); err != nil {
					log.Fatalf("submit: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

func allBad(int) casecore.Level { return casecore.VeryDissatisfied }

func benchCasecore(ctx context.Context, rdb *redis.Client, ns string) float64 {
	svc, _ := newService(ctx, rdb, ns, clock.Real{})
	submitMany(ctx, svc, 2000, *clients, "warm-"+ns, allBad) // load the script, fill the pool
	return submitMany(ctx, svc, *perRound, *clients, ns, allBad)
}

// benchRawLua drives apply.lua with redis-benchmark: the payload of one real
// bad rating, with every ID replaced by __rand_int__ so each call writes new keys.
func benchRawLua(ctx context.Context, rdb *redis.Client, srv *redisServer, ns string) float64 {
	// Capture one real apply call by recording the command sent.
	svc, _ := newService(ctx, rdb, ns, clock.Real{})
	rec := &recorder{}
	rdb.AddHook(rec)
	if _, _, err := svc.SubmitRating(ctx, intake, ratingInput(1, "cap-"+ns, casecore.VeryDissatisfied)); err != nil {
		log.Fatal(err)
	}
	rec.off.Store(true)
	args := rec.evalArgs()
	if args == nil {
		log.Fatal("no apply call captured")
	}
	// args: EVALSHA sha numkeys keys... argv. Make the rating, case, idempotency key unique per call.
	r := ratingInput(1, "cap-"+ns, casecore.VeryDissatisfied)
	id := rec.ratingID
	var cmd []string
	for _, a := range args {
		a = strings.ReplaceAll(a, id[1:], "__rand_int__")
		a = strings.ReplaceAll(a, r.IdempotencyKey, "k__rand_int__")
		a = strings.ReplaceAll(a, r.WorkOrderID, "WO__rand_int__")
		a = strings.ReplaceAll(a, r.RaterPhone, "1__rand_int__")
		cmd = append(cmd, a)
	}
	out, err := exec.Command(*benchBin, append([]string{"-h", "127.0.0.1", "-p", srv.port, "-c", strconv.Itoa(*clients),
		"-n", strconv.Itoa(*perRound), "-r", "1000000000", "-q", "--csv"}, cmd...)...).CombinedOutput()
	if err != nil {
		log.Fatalf("redis-benchmark: %v\n%s", err, out)
	}
	// CSV: "test","rps","avg_latency_ms",... five more; the test name holds commas.
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, ",")
		if len(f) >= 8 {
			if v, err := strconv.ParseFloat(strings.Trim(f[len(f)-7], `"`), 64); err == nil {
				return v
			}
		}
	}
	log.Fatalf("redis-benchmark output not understood:\n%s", out)
	return 0
}

// recorder captures the first EVALSHA/EVAL of the apply script.
type recorder struct {
	mu       sync.Mutex
	args     []string
	ratingID string
	off      atomic.Bool
}

func (r *recorder) DialHook(next redis.DialHook) redis.DialHook { return next }
func (r *recorder) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			r.capture(c, c.Err())
		}
		return err
	}
}
func (r *recorder) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		r.capture(cmd, err)
		return err
	}
}

// capture keeps the first successful run of the apply script.
func (r *recorder) capture(cmd redis.Cmder, err error) {
	{
		name := strings.ToLower(cmd.Name())
		if !r.off.Load() && (name == "evalsha" || name == "eval") && err == nil {
			r.mu.Lock()
			if r.args == nil {
				for _, a := range cmd.Args() {
					if b, ok := a.([]byte); ok {
						r.args = append(r.args, string(b))
					} else {
						r.args = append(r.args, fmt.Sprint(a))
					}
				}
				if m := regexp.MustCompile(`:r:(R\d+)`).FindStringSubmatch(strings.Join(r.args, " ")); m != nil {
					r.ratingID = m[1]
				}
			}
			r.mu.Unlock()
		}
	}
}

func (r *recorder) evalArgs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.args == nil || r.ratingID == "" {
		return nil
	}
	out := append([]string(nil), r.args...)
	if strings.ToLower(out[0]) == "eval" {
		return out
	}
	out[0] = "EVALSHA"
	return out
}

// benchHTTP starts `haochaping serve` on this Redis and posts ratings.
func benchHTTP(ctx context.Context, srv *redisServer) (bad, mixed []float64) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	const token = "bench-admin-token-0000"
	cmd := exec.Command(*hcpBin, "serve")
	cmd.Env = append(os.Environ(), "HAOCHAPING_REDIS_URL=redis://"+srv.addr+"/0", "HAOCHAPING_HTTP_ADDR="+addr,
		"HAOCHAPING_ADMIN_TOKEN="+token, "HAOCHAPING_LOG_LEVEL=warn", "HAOCHAPING_REDIS_NAMESPACE=http")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
		log.Fatalf("serve did not start: %v", err)
	}
	go io.Copy(io.Discard, stdout)
	tr := &http.Transport{MaxIdleConnsPerHost: *clients, MaxConnsPerHost: *clients}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	post := func(n int, prefix string, level func(int) casecore.Level) float64 {
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range *clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1))
					if i > n {
						return
					}
					b, _ := json.Marshal(ratingInputJSON(ratingInput(i, prefix, level(i))))
					req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/api/v1/ratings", bytes.NewReader(b))
					req.Header.Set("Authorization", "Bearer "+token)
					req.Header.Set("Content-Type", "application/json")
					resp, err := hc.Do(req)
					if err != nil {
						log.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 201 {
						log.Fatalf("POST rating: %d", resp.StatusCode)
					}
				}
			}()
		}
		wg.Wait()
		return float64(n) / time.Since(start).Seconds()
	}
	post(3000, "hwarm", allBad)
	for r := range *rounds {
		bad = append(bad, post(*perRound, fmt.Sprint("hb", r), allBad))
		mixed = append(mixed, post(*perRound, fmt.Sprint("hm", r), func(i int) casecore.Level {
			if i%10 == 0 {
				return casecore.Dissatisfied
			}
			return casecore.Satisfied
		}))
		log.Printf("http round %d: bad %.0f/s, mixed %.0f/s", r, bad[r], mixed[r])
	}
	return bad, mixed
}

// ratingInputJSON is the API body of a rating (unit IDs must exist: map to real ones).
func ratingInputJSON(in casecore.RatingInput) map[string]any {
	return map[string]any{"idempotency_key": in.IdempotencyKey, "channel": in.Channel, "level": in.Level,
		"work_order_id": in.WorkOrderID, "unit_id": in.UnitID, "staff_id": in.StaffID, "post": in.Post,
		"rater_phone": in.RaterPhone}
}

func usedMemory(ctx context.Context, rdb *redis.Client) float64 {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		log.Fatal(err)
	}
	m := regexp.MustCompile(`used_memory:(\d+)`).FindStringSubmatch(info)
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// benchMemory creates memSample bad ratings and measures the memory per
// open case. The event stream is counted apart: it is a ring buffer capped
// at redis.events_max_len entries whatever the number of cases.
func benchMemory(ctx context.Context, rdb *redis.Client) (perCase, streamPerEvent float64) {
	svc, st := newService(ctx, rdb, "mem", clock.Real{})
	submitMany(ctx, svc, 1000, *clients, "memwarm", allBad)
	streamBefore, _ := rdb.MemoryUsage(ctx, st.EventsKey(), 0).Result()
	eventsBefore, _ := rdb.XLen(ctx, st.EventsKey()).Result()
	before := usedMemory(ctx, rdb)
	submitMany(ctx, svc, *memSample, *clients, "mem", allBad)
	time.Sleep(200 * time.Millisecond)
	after := usedMemory(ctx, rdb)
	streamAfter, _ := rdb.MemoryUsage(ctx, st.EventsKey(), 0).Result()
	eventsAfter, _ := rdb.XLen(ctx, st.EventsKey()).Result()
	stream := float64(streamAfter - streamBefore)
	perCase = (after - before - stream) / float64(*memSample)
	streamPerEvent = stream / float64(eventsAfter-eventsBefore)
	return perCase, streamPerEvent
}

// benchDeadlines fills Redis with nCases open cases whose deadlines lie in
// the future, then, in each round, nDue cases whose callback fell due, and
// times the firing. The idle cost is measured with only the first nDue
// cases, and again with the million, both at a time when nothing is due.
func benchDeadlines(ctx context.Context, rdb *redis.Client) (fire []float64, idleSmall, idleLarge float64) {
	t0 := time.Date(2026, 3, 9, 10, 0, 0, 0, casecore.Shanghai) // Monday
	friday, sunday, tuesday := t0.AddDate(0, 0, -3), t0.AddDate(0, 0, -1), t0.AddDate(0, 0, 1)
	clk := clock.NewFake(friday)
	svc, _ := newService(ctx, rdb, "dl", clk)
	// Friday's callbacks are due Monday 24:00 (warnings Monday early
	// morning); Monday's cases fall due from Tuesday afternoon on.
	submitMany(ctx, svc, *nDue, *clients, "due0", allBad)
	clk.Set(sunday)
	idleSmall = idlePoll(ctx, svc)
	clk.Set(t0)
	log.Printf("creating %d open cases", *nCases)
	start := time.Now()
	submitMany(ctx, svc, *nCases, *clients, "open", allBad)
	log.Printf("created in %s", time.Since(start).Round(time.Second))
	clk.Set(sunday)
	idleLarge = idlePoll(ctx, svc)
	for r := range *rounds {
		if r > 0 {
			clk.Set(friday)
			submitMany(ctx, svc, *nDue, *clients, fmt.Sprint("due", r), allBad)
		}
		clk.Set(tuesday)
		start := time.Now()
		fired := 0
		for {
			n, err := svc.FireDue(ctx, casecore.DefaultWorkerBatch)
			if err != nil {
				log.Fatal(err)
			}
			if n == 0 {
				break
			}
			fired += n
		}
		d := time.Since(start).Seconds()
		log.Printf("round %d: fired %d in %.2f s", r, fired, d)
		if fired != *nDue {
			log.Fatalf("fired %d, want %d", fired, *nDue)
		}
		fire = append(fire, d)
	}
	return fire, idleSmall, idleLarge
}

// idlePoll times the worker's idle round (nothing due): the median of 2,000.
func idlePoll(ctx context.Context, svc *casecore.Service) float64 {
	var ds []float64
	for range 2000 {
		start := time.Now()
		if n, err := svc.FireDue(ctx, casecore.DefaultWorkerBatch); err != nil || n != 0 {
			log.Fatalf("idle poll fired %d: %v", n, err)
		}
		if _, err := svc.Store().NextDue(ctx); err != nil {
			log.Fatal(err)
		}
		ds = append(ds, float64(time.Since(start).Microseconds()))
	}
	return median(ds)
}
