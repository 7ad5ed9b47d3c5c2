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
	_ "embed"
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
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/casecore/redisstore"
	"github.com/haochaping/haochaping/internal/clock"
)

var (
	redisBin    = flag.String("redis-server", "redis-server", "redis-server binary")
	benchBin    = flag.String("redis-benchmark", "redis-benchmark", "redis-benchmark binary")
	hcpBin      = flag.String("haochaping", "bin/haochaping", "haochaping binary for the HTTP benchmark")
	nCases      = flag.Int("cases", 1_000_000, "open cases for the deadline benchmark")
	nDue        = flag.Int("due", 10_000, "deadlines falling due at once")
	rounds      = flag.Int("rounds", 3, "rounds per throughput figure (median reported)")
	perRound    = flag.Int("n", 30_000, "ratings per throughput round")
	clients     = flag.Int("c", 50, "concurrent clients (Go goroutines, redis-benchmark -c, HTTP clients)")
	memSample   = flag.Int("mem-cases", 100_000, "cases created to measure memory per case")
	outPath     = flag.String("o", "", "write the report here too")
	wrkDuration = flag.Duration("wrk-duration", 5*time.Second, "length of one wrk run")
	cpuProfile  = flag.String("cpuprofile", "", "write this process's CPU profile here")
	only        = flag.String("only", "", "run one part only: casecore, http, memory or deadlines")
	skipMillon  = flag.Bool("skip-deadlines", false, "skip the 1,000,000-case deadline benchmark")
)

func main() {
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
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
	part := func(name string) bool { return *only == "" || *only == name }
	if part("casecore") {
		casecoreVsLua(ctx, &rep, rdb, srv)
	}
	flush(ctx, rdb)

	// 2. HTTP API.
	if _, err := os.Stat(*hcpBin); err == nil && part("http") {
		h := benchHTTP(ctx, srv, rdb)
		rep.line("## Ratings through the HTTP API\n")
		rep.line("`POST /api/v1/ratings` over %d keep-alive connections to `%s serve` on the same machine: the server, "+
			"redis-server and the load generator share the %d CPUs. Load generators, alternating round by round: "+
			"[wrk](https://github.com/wg/wrk) with one thread (%s runs; cmd/hcpbench/post.lua makes each request a new rating) "+
			"and Go's net/http client, %d goroutines in hcpbench (%d ratings a run), which takes more of the CPU the server needs. "+
			"CPU per rating is the server's and Redis's CPU time over the run divided by the ratings.\n",
			*clients, *hcpBin, runtime.NumCPU(), wrkDuration, *clients, *perRound)
		rep.line("| load generator, mix | ratings/s (median) | rounds | server CPU per rating | Redis CPU per rating |\n|---|---|---|---|---|")
		if h.wrk {
			httpLine(&rep, "wrk, 90% good / 10% bad", h.wrkMixed)
			httpLine(&rep, "wrk, all bad (each opens a case)", h.wrkBad)
		}
		httpLine(&rep, "Go client, 90% good / 10% bad", h.goMixed)
		httpLine(&rep, "Go client, all bad", h.goBad)
		if !h.wrk {
			rep.line("\nwrk was not installed (apt-get install wrk): Go client only.")
		}
		rep.line("\nGoal ≥ 8,000/s.\n")
		flush(ctx, rdb)
	} else if part("http") {
		rep.line("## Ratings through the HTTP API\n\nskipped: %s not built\n", *hcpBin)
	}

	// 3. Memory per open case.
	if part("memory") {
		memoryReport(ctx, &rep, rdb)
	}
	// 4. Deadlines among a million open cases.
	if part("deadlines") && !*skipMillon {
		deadlineReport(ctx, &rep, rdb)
	}
	fmt.Print(rep.String())
	if *outPath != "" {
		if err := os.WriteFile(*outPath, []byte(rep.String()), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

func memoryReport(ctx context.Context, rep *report, rdb *redis.Client) {
	perCase, perEvent := benchMemory(ctx, rdb)
	rep.line("## Redis memory per open case\n")
	rep.line("%d bad ratings, each with its rating record, case record, two running clocks and every index "+
		"(idempotency, work order, phone, day, unit and state): **%.0f bytes** per open case (goal ≤ 1,536).\n",
		*memSample, perCase)
	rep.line("Not included: the event stream, a ring buffer of redis.events_max_len entries (default 1,000,000) "+
		"whatever the number of cases, at %.0f bytes per event (a bad rating appends two), so about %.0f MiB when full.\n",
		perEvent, perEvent*1e6/(1<<20))
	flush(ctx, rdb)
}

func deadlineReport(ctx context.Context, rep *report, rdb *redis.Client) {
	{
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
}

// casecoreVsLua compares bad ratings through casecore with redis-benchmark
// driving the same script, round by round.
func casecoreVsLua(ctx context.Context, rep *report, rdb *redis.Client, srv *redisServer) {
	goRates, aloneRates, rawRates := []float64{}, []float64{}, []float64{}
	for r := range *rounds {
		goRates = append(goRates, benchCasecore(ctx, rdb, fmt.Sprintf("bc%d", r), 0))
		aloneRates = append(aloneRates, benchCasecore(ctx, rdb, fmt.Sprintf("ba%d", r), -1))
		rawRates = append(rawRates, benchRawLua(ctx, rdb, srv, fmt.Sprintf("bl%d", r)))
		log.Printf("round %d: casecore %.0f/s (each change alone %.0f/s), raw lua %.0f/s", r, goRates[r], aloneRates[r], rawRates[r])
		flush(ctx, rdb)
	}
	g, a, l := median(goRates), median(aloneRates), median(rawRates)
	rep.line("## Bad ratings into Redis (each opens a case)\n")
	rep.line("| path | ratings/s (median) | rounds |\n|---|---|---|")
	rep.line("| casecore.Service.SubmitRating, %d goroutines (default: concurrent changes combined into pipelines) | %.0f | %s |", *clients, g, fmtList(goRates))
	rep.line("| the same, each change sent alone (redis.pipelines: -1) | %.0f | %s |", a, fmtList(aloneRates))
	rep.line("| redis-benchmark -c %d, the same apply.lua and payload | %.0f | %s |", *clients, l, fmtList(rawRates))
	rep.line("\ncasecore reaches **%.0f%%** of the raw script (goal ≥ 70%%); %.0f%% with each change sent alone.\n", 100*g/l, 100*a/l)
	flush(ctx, rdb)
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
	return newServiceWith(ctx, rdb, redisstore.Config{Namespace: ns}, clk)
}

func newServiceWith(ctx context.Context, rdb *redis.Client, cfg redisstore.Config, clk clock.Clock) (*casecore.Service, *redisstore.Store) {
	cal, err := casecore.DefaultCalendar()
	if err != nil {
		log.Fatal(err)
	}
	st := redisstore.New(rdb, cfg)
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
	secs := fanOut(n, c, func(i int) {
		if _, _, err := svc.SubmitRating(ctx, intake, ratingInput(i, prefix, level(i))); err != nil {
			log.Fatalf("submit: %v", err)
		}
	})
	return float64(n) / secs
}

// fanOut calls do(1) … do(n) from c goroutines and returns the seconds taken.
func fanOut(n, c int, do func(i int)) float64 {
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
				do(i)
			}
		}()
	}
	wg.Wait()
	return time.Since(start).Seconds()
}

// cpuSelf is this process's CPU time so far.
func cpuSelf() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is the CPU seconds Redis has used so far.
func redisCPU(ctx context.Context, rdb *redis.Client) float64 {
	info, _ := rdb.Info(ctx, "cpu").Result()
	var sum float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			sum += f
		}
	}
	return sum
}

func allBad(int) casecore.Level { return casecore.VeryDissatisfied }

// benchCasecore submits bad ratings through the Service; pipelines < 0 sends
// each change alone (one EVALSHA per round trip).
func benchCasecore(ctx context.Context, rdb *redis.Client, ns string, pipelines int) float64 {
	svc, _ := newServiceWith(ctx, rdb, redisstore.Config{Namespace: ns, Pipelines: pipelines}, clock.Real{})
	submitMany(ctx, svc, 2000, *clients, "warm-"+ns, allBad) // load the script, fill the pool
	c0, r0 := cpuSelf(), redisCPU(ctx, rdb)
	rate := submitMany(ctx, svc, *perRound, *clients, ns, allBad)
	log.Printf("  %s: %.0f/s, CPU per rating: Go %.1f µs, Redis %.1f µs", ns, rate,
		(cpuSelf()-c0).Seconds()*1e6/float64(*perRound), (redisCPU(ctx, rdb)-r0)*1e6/float64(*perRound))
	return rate
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

// httpRun is one measured run of the HTTP benchmark.
type httpRun struct {
	rate      float64 // ratings/s
	serverCPU float64 // µs of serve's CPU per rating
	redisCPU  float64 // µs of Redis's CPU per rating
}

// httpResults holds the runs of each load generator and mix.
type httpResults struct {
	wrkBad, wrkMixed, goBad, goMixed []httpRun
	wrk                              bool // wrk was found
}

//go:embed post.lua
var wrkScript []byte

// benchHTTP starts `haochaping serve` on this Redis and posts ratings, with
// wrk (a C load generator, one thread: the least CPU taken from the server
// on a shared machine) when installed, and with Go's net/http client, round
// by round side by side.
func benchHTTP(ctx context.Context, srv *redisServer, rdb *redis.Client) httpResults {
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
	pid := cmd.Process.Pid

	var res httpResults
	wrkBin, err := exec.LookPath("wrk")
	res.wrk = err == nil
	script := ""
	if res.wrk {
		f, err := os.CreateTemp("", "hcpbench-*.lua")
		if err != nil {
			log.Fatal(err)
		}
		defer os.Remove(f.Name())
		if _, err := f.Write(wrkScript); err != nil {
			log.Fatal(err)
		}
		f.Close()
		script = f.Name()
	} else {
		log.Printf("wrk not found (apt-get install wrk): HTTP measured with the Go client only")
	}

	// measure runs load and returns the rate and the CPU per rating.
	measure := func(load func() (n int, secs float64)) httpRun {
		s0, r0 := procCPU(pid), redisCPU(ctx, rdb)
		n, secs := load()
		return httpRun{rate: float64(n) / secs, serverCPU: (procCPU(pid) - s0) * 1e6 / float64(n),
			redisCPU: (redisCPU(ctx, rdb) - r0) * 1e6 / float64(n)}
	}
	wrkLoad := func(prefix string, badEvery int) func() (int, float64) {
		return func() (int, float64) {
			c := exec.Command(wrkBin, "-t1", "-c"+strconv.Itoa(*clients), "-d"+wrkDuration.String(), "-s", script, "http://"+addr)
			c.Env = append(os.Environ(), "HCP_TOKEN="+token, "HCP_PREFIX="+prefix, "HCP_BAD_EVERY="+strconv.Itoa(badEvery))
			out, err := c.CombinedOutput()
			if err != nil {
				log.Fatalf("wrk: %v\n%s", err, out)
			}
			var n, us, non2xx, errs int
			for _, line := range strings.Split(string(out), "\n") {
				if _, err := fmt.Sscanf(line, "RESULT requests=%d duration_us=%d non2xx=%d errors=%d", &n, &us, &non2xx, &errs); err == nil {
					break
				}
			}
			if n == 0 || non2xx != 0 || errs != 0 {
				log.Fatalf("wrk: %d requests, %d not 2xx, %d socket errors\n%s", n, non2xx, errs, out)
			}
			return n, float64(us) / 1e6
		}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *clients, MaxConnsPerHost: *clients}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	goLoad := func(n int, prefix string, level func(int) casecore.Level) func() (int, float64) {
		return func() (int, float64) {
			return n, fanOut(n, *clients, func(i int) {
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
			})
		}
	}
	oneInTen := func(i int) casecore.Level {
		if i%10 == 0 {
			return casecore.Dissatisfied
		}
		return casecore.Satisfied
	}
	goLoad(3000, "hwarm", allBad)()
	for r := range *rounds {
		if res.wrk {
			res.wrkBad = append(res.wrkBad, measure(wrkLoad(fmt.Sprint("wb", r), 1)))
			res.wrkMixed = append(res.wrkMixed, measure(wrkLoad(fmt.Sprint("wm", r), 10)))
			log.Printf("http round %d, wrk: bad %.0f/s, mixed %.0f/s", r, res.wrkBad[r].rate, res.wrkMixed[r].rate)
		}
		res.goBad = append(res.goBad, measure(goLoad(*perRound, fmt.Sprint("hb", r), allBad)))
		res.goMixed = append(res.goMixed, measure(goLoad(*perRound, fmt.Sprint("hm", r), oneInTen)))
		log.Printf("http round %d, Go client: bad %.0f/s, mixed %.0f/s", r, res.goBad[r].rate, res.goMixed[r].rate)
	}
	return res
}

// procCPU is the CPU seconds process pid has used so far (Linux /proc).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// httpLine is one row of the HTTP table.
func httpLine(rep *report, what string, runs []httpRun) {
	rates, srv, rds := []float64{}, []float64{}, []float64{}
	for _, r := range runs {
		rates, srv, rds = append(rates, r.rate), append(srv, r.serverCPU), append(rds, r.redisCPU)
	}
	rep.line("| %s | %.0f | %s | %.0f µs | %.0f µs |", what, median(rates), fmtList(rates), median(srv), median(rds))
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
