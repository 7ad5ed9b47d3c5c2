package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/casecore/redisstore"
	"github.com/haochaping/haochaping/internal/clock"
	"github.com/haochaping/haochaping/internal/config"
	"github.com/haochaping/haochaping/internal/realip"
	"github.com/haochaping/haochaping/internal/web"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs, env)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: haochaping serve [-config FILE]\n\nflags:")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "\nenvironment (overrides the file):")
		for _, e := range append(append([]struct{ Name, Key string }{}, config.Env...), config.SMSEnv...) {
			fmt.Fprintf(stderr, "  %-36s %s\n", e.Name, e.Key)
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("serve: unexpected argument %q", fs.Arg(0))}
	}
	cfg, err := config.Load(*cfgPath, env)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	a, err := newApp(ctx, cfg, log, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	fmt.Fprintf(stdout, "haochaping %s serving http on %s\n", version, a.httpLn.Addr())
	return a.run(ctx)
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel()}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// app is the running server: every part, built from the configuration.
type app struct {
	cfg    *config.Config
	log    *slog.Logger
	mini   *miniredis.Miniredis
	rdb    redis.UniversalClient
	store  *redisstore.Store
	svc    *casecore.Service
	web    *web.Server
	reg    *prometheus.Registry
	httpLn net.Listener
	// debugLn serves the profiler (http.debug_addr), nil when off.
	debugLn net.Listener
	units   *casecore.Directory
	// proxies are http.trusted_proxies: requests from them are taken to come
	// from the client they name (internal/realip).
	proxies []netip.Prefix

	// front are the parts that take work from outside besides HTTP (SIP
	// calls, SMS gateways): on shutdown they stop taking new work and drain,
	// before the deadline worker stops and Redis closes.
	front []part
	// closers run last, in reverse order.
	closers []func()
}

// part is a long-running module. Run returns when ctx ends, after draining
// its work (bounded by shutdown.timeout).
type part struct {
	name string
	run  func(ctx context.Context) error
}

// newApp builds the parts in dependency order. Listeners are opened here so
// a port in use is an error at start, not later.
func newApp(ctx context.Context, cfg *config.Config, log *slog.Logger, stderr io.Writer) (_ *app, err error) {
	a := &app{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			a.close() // a, not the nil result: whatever was opened before the error
		}
	}()
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if a.proxies, err = cfg.HTTP.TrustedProxies(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(a.proxies) > 0 {
		log.Info("client addresses taken from X-Forwarded-For and X-Real-IP of trusted proxies",
			"trusted_proxies", len(a.proxies), "networks", fmt.Sprint(a.proxies))
	}

	if cfg.Redis.Embedded() {
		a.mini = miniredis.NewMiniRedis()
		if err := a.mini.StartAddr(cfg.Redis.EmbeddedAddr); err != nil {
			return nil, fmt.Errorf("start embedded redis on %s: %w", cfg.Redis.EmbeddedAddr, err)
		}
		fmt.Fprintf(stderr, "\n"+
			"  *****************************************************************\n"+
			"  *  EMBEDDED REDIS on %-20s                      *\n"+
			"  *  All ratings and cases are kept IN MEMORY ONLY and are lost  *\n"+
			"  *  when this process stops. For production set redis.url (or   *\n"+
			"  *  HAOCHAPING_REDIS_URL) to redis://host:port/db.              *\n"+
			"  *****************************************************************\n\n", a.mini.Addr())
		log.Warn("embedded redis: data is in memory only and lost at exit", "addr", a.mini.Addr())
		a.rdb = redis.NewClient(&redis.Options{Addr: a.mini.Addr()})
	} else if a.rdb, err = newRedisClient(cfg); err != nil {
		return nil, err
	}
	if err := waitRedis(ctx, a.rdb, 30*time.Second, log); err != nil {
		return nil, fmt.Errorf("redis %s: %w", cfg.RedactedRedisURL(), err)
	}

	units, err := cfg.LoadUnits()
	if err != nil {
		return nil, err
	}
	a.units = units
	cal, err := cfg.LoadCalendar()
	if err != nil {
		return nil, err
	}
	a.store = redisstore.New(a.rdb, redisstore.Config{Namespace: cfg.Redis.Namespace, EventsMaxLen: cfg.Redis.EventsMaxLen,
		Pipelines: cfg.Redis.Pipelines, Batch: cfg.Redis.PipelineBatch})
	a.svc, err = casecore.NewService(ctx, casecore.Params{Store: a.store, Calendar: cal, Clock: clock.Real{},
		Logger: log.With("part", "casecore"), Metrics: casecore.NewMetrics(a.reg)},
		casecore.Config{Rules: cfg.Workflow.Rules, Units: units.IDs()})
	if err != nil {
		return nil, err
	}
	if n, err := a.svc.RecomputeProvisional(ctx); err != nil {
		log.Error("recompute provisional deadlines", "err", err)
	} else if n > 0 {
		log.Info("provisional deadlines recomputed on the calendar in use", "changed", n)
	}

	auth, err := buildAuth(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Auth.AdminToken == "" {
		log.Warn("no admin token configured (auth.admin_token / HAOCHAPING_ADMIN_TOKEN): the API accepts only the configured tokens")
	}
	a.web = web.New(web.Params{Service: a.svc, Units: units, Auth: auth, Logger: log.With("part", "web"),
		Gatherer: a.reg, Registry: a.reg, Readiness: a.readiness()})

	for _, build := range modules {
		if err := build(ctx, a); err != nil {
			return nil, err
		}
	}

	a.httpLn, err = net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return nil, fmt.Errorf("http.addr: %w", err)
	}
	if cfg.HTTP.DebugAddr != "" {
		a.debugLn, err = net.Listen("tcp", cfg.HTTP.DebugAddr)
		if err != nil {
			return nil, fmt.Errorf("http.debug_addr: %w", err)
		}
		log.Warn("profiler served", "addr", a.debugLn.Addr().String(), "path", "/debug/pprof/")
	}
	log.Info("haochaping started", "version", version, "http", a.httpLn.Addr().String(),
		"redis", cfg.RedactedRedisURL(), "redis_cluster", cfg.Redis.Cluster, "namespace", cfg.Redis.Namespace, "rules", cfg.Workflow.Rules.ID(),
		"calendar", cal.Version(), "units", len(units.Units))
	return a, nil
}

func buildAuth(cfg *config.Config) (*web.Auth, error) {
	auth := web.NewAuth()
	if cfg.Auth.AdminToken != "" {
		if err := auth.AddToken(config.HashToken(cfg.Auth.AdminToken), casecore.Actor{ID: "admin-token", Role: casecore.RoleAdmin}); err != nil {
			return nil, err
		}
	}
	for i, t := range cfg.Auth.Tokens {
		if err := auth.AddToken(t.Hash(), casecore.Actor{ID: "token:" + t.Name, Role: t.Role, Units: t.Units}); err != nil {
			return nil, fmt.Errorf("auth.tokens[%d]: %w", i, err)
		}
	}
	return auth, nil
}

// newRedisClient connects to redis.url: one server, or with redis.cluster a
// Redis Cluster found from the seed nodes of the URL. Every key of the
// namespace carries the hash tag {namespace}, so all of them live in one
// slot, on one master and its replicas: a cluster brings failover, not
// sharding, and every script, pipeline and MULTI of the app stays within
// that slot. The parts take the result as a redis.UniversalClient.
func newRedisClient(cfg *config.Config) (redis.UniversalClient, error) {
	if cfg.Redis.Cluster {
		opts, err := redis.ParseClusterURL(cfg.Redis.URL)
		if err != nil {
			return nil, fmt.Errorf("redis.url: %w", err)
		}
		// go-redis reloads the slot map on MOVED, which a dead master never
		// sends, and otherwise only every ClusterStateReloadInterval (60 s
		// by default since v9.22): after a failover it would keep dialling
		// the old master that long.
		opts.ClusterStateReloadInterval = 2 * time.Second
		return redis.NewClusterClient(opts), nil
	}
	opts, err := redis.ParseURL(cfg.Redis.URL)
	if err != nil {
		return nil, fmt.Errorf("redis.url: %w", err)
	}
	return redis.NewClient(opts), nil
}

// readiness is the check of /readyz: Redis answers. A cluster client sends
// PING to a random node, which may answer while the master of the
// namespace's slot is down; on a cluster the check asks that master.
func (a *app) readiness() func(ctx context.Context) error {
	cc, ok := a.rdb.(*redis.ClusterClient)
	if !ok {
		return a.store.Ping
	}
	key := redisstore.Events(a.cfg.Redis.Namespace)
	return func(ctx context.Context) error {
		m, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return err
		}
		return m.Ping(ctx).Err()
	}
}

// waitRedis pings until Redis answers or the time is up, so a server that
// starts together with Redis does not fail for being a second early.
func waitRedis(ctx context.Context, rdb redis.UniversalClient, limit time.Duration, log *slog.Logger) error {
	deadline := time.Now().Add(limit)
	for i := 0; ; i++ {
		err := rdb.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		if i == 0 {
			log.Warn("waiting for redis", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// modules build the optional parts (SIP and IVR, SMS, dashboard) onto the
// app: each mounts its HTTP handlers on a.web and adds its parts to a.front.
// They are listed in the files that wire them (sip.go, sms.go, ...).
// The order matters: the dashboard shows the state of the parts built before it.
var modules = []func(ctx context.Context, a *app) error{buildSMS, buildSIP, buildDashboard}

// run serves until ctx ends, then shuts down in order: stop taking HTTP
// requests and new calls and messages (finishing those in flight, bounded),
// then stop the deadline worker, then close Redis.
func (a *app) run(ctx context.Context) error {
	srv := &http.Server{Handler: realip.New(a.proxies).Handler(a.web),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	workerCtx, stopWorker := context.WithCancel(context.Background())
	defer stopWorker()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(a.httpLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		return a.svc.RunDeadlines(workerCtx, casecore.WorkerConfig{Batch: a.cfg.Deadlines.Batch, Poll: a.cfg.Deadlines.Poll})
	})
	g.Go(func() error { return a.reloadOnHUP(gctx) })
	if a.debugLn != nil {
		dbg := &http.Server{Handler: debugMux(), ReadHeaderTimeout: 10 * time.Second}
		g.Go(func() error {
			if err := dbg.Serve(a.debugLn); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http.debug_addr: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			return dbg.Close()
		})
	}
	frontDone := make(chan struct{})
	var fg errgroup.Group
	for _, p := range a.front {
		fg.Go(func() error {
			if err := p.run(gctx); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(frontDone)
		return fg.Wait()
	})
	g.Go(func() error {
		<-gctx.Done()
		a.log.Info("shutting down: http and front parts")
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.Shutdown.Timeout)
		defer cancel()
		err := srv.Shutdown(sctx)
		select {
		case <-frontDone:
		case <-sctx.Done():
			a.log.Warn("shutdown timeout: front parts still draining")
		}
		a.log.Info("shutting down: deadline worker")
		stopWorker()
		return err
	})
	err := g.Wait()
	a.log.Info("stopped")
	return err
}

// reloadOnHUP reloads the calendar (calendar.dir) on SIGHUP and recomputes
// the provisional deadlines.
func (a *app) reloadOnHUP(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			cal, err := a.cfg.LoadCalendar()
			if err != nil {
				a.log.Error("calendar reload failed; keeping the calendar in use", "err", err)
				continue
			}
			n, err := a.svc.SetCalendar(ctx, cal)
			a.log.Info("calendar reloaded", "version", cal.Version(), "recomputed", n, "err", err)
		}
	}
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
	if a.httpLn != nil {
		a.httpLn.Close()
	}
	if a.debugLn != nil {
		a.debugLn.Close()
	}
	if a.rdb != nil {
		a.rdb.Close()
	}
	if a.mini != nil {
		a.mini.Close()
	}
}

// debugMux serves Go's profiler, without registering it on
// http.DefaultServeMux.
func debugMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
