package dashboard

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Metrics are the dashboard's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	requests *prometheus.CounterVec
	logins   *prometheus.CounterVec
	reveals  prometheus.Counter
	sse      prometheus.Gauge
	redisUp  prometheus.Gauge
}

// NewMetrics registers the dashboard's metrics with reg (none if reg is nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haochaping_dashboard_requests_total", Help: "Dashboard requests by page and status code.",
		}, []string{"page", "code"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haochaping_dashboard_logins_total", Help: "Dashboard logins by result (ok, failed, locked, rate_limited).",
		}, []string{"result"}),
		reveals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "haochaping_dashboard_reveals_total", Help: "Audited reveals of a rater's number.",
		}),
		sse: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "haochaping_dashboard_live_connections", Help: "Open live-update (SSE) connections.",
		}),
		redisUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "haochaping_redis_up", Help: "1 if the last ping of Redis succeeded, else 0.",
		}),
	}
	for _, r := range []string{"ok", "failed", "locked", "rate_limited"} {
		m.logins.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.logins, m.reveals, m.sse, m.redisUp)
	}
	return m
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (m *Metrics) wrap(page string, h http.HandlerFunc) http.HandlerFunc {
	if m == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		m.requests.WithLabelValues(page, strconv.Itoa(sw.code)).Inc()
	}
}

func (m *Metrics) login(result string) {
	if m != nil {
		m.logins.WithLabelValues(result).Inc()
	}
}

func (m *Metrics) reveal() {
	if m != nil {
		m.reveals.Inc()
	}
}

func (m *Metrics) sseDelta(d float64) {
	if m != nil {
		m.sse.Add(d)
	}
}

// RedisPinger pings Redis every Interval, sets haochaping_redis_up and keeps
// the last result for the operations view.
type RedisPinger struct {
	rdb      redis.UniversalClient
	m        *Metrics
	Interval time.Duration
	state    chan pingState
}

type pingState struct {
	ok  bool
	err string
	at  time.Time
	rtt time.Duration
}

func newPinger(rdb redis.UniversalClient, m *Metrics) *RedisPinger {
	p := &RedisPinger{rdb: rdb, m: m, Interval: 5 * time.Second, state: make(chan pingState, 1)}
	p.state <- pingState{}
	return p
}

func (p *RedisPinger) ping(ctx context.Context) pingState {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	start := time.Now()
	err := p.rdb.Ping(ctx).Err()
	st := pingState{ok: err == nil, at: time.Now(), rtt: time.Since(start)}
	if err != nil {
		st.err = err.Error()
	}
	<-p.state
	p.state <- st
	if p.m != nil {
		v := 0.0
		if st.ok {
			v = 1
		}
		p.m.redisUp.Set(v)
	}
	return st
}

// Last returns the last ping result.
func (p *RedisPinger) Last() pingState {
	st := <-p.state
	p.state <- st
	return st
}

// Run pings until ctx ends.
func (p *RedisPinger) Run(ctx context.Context) error {
	for {
		p.ping(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(p.Interval):
		}
	}
}
