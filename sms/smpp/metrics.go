package smpp

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Connection states reported by the connection state gauge.
const (
	stateDisconnected = 0
	stateConnecting   = 1
	stateBound        = 2
)

// Metrics are the SMPP client's Prometheus metrics. A nil *Metrics is valid
// and records nothing.
type Metrics struct {
	submits    *prometheus.CounterVec
	latency    prometheus.Histogram
	state      *prometheus.GaugeVec
	window     prometheus.Gauge
	reconnects prometheus.Counter
	delivers   *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg when reg is
// not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		submits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haochaping_smpp_submits_total",
			Help: "submit_sm segments by result: an SMPP status name, not_sent or unknown.",
		}, []string{"status"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "haochaping_smpp_submit_latency_seconds",
			Help:    "Time from writing a submit_sm to its submit_sm_resp.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "haochaping_smpp_connection_state",
			Help: "0 disconnected, 1 connecting, 2 bound; by bind type.",
		}, []string{"bind"}),
		window: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "haochaping_smpp_window_in_use",
			Help: "Outstanding submit_sm awaiting a response.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "haochaping_smpp_reconnects_total",
			Help: "Connections lost after a successful bind.",
		}),
		delivers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haochaping_smpp_delivers_total",
			Help: "Incoming deliver_sm by kind (mo, receipt) and the status answered.",
		}, []string{"kind", "status"}),
	}
	if reg != nil {
		reg.MustRegister(m.submits, m.latency, m.state, m.window, m.reconnects, m.delivers)
	}
	return m
}

func (m *Metrics) submit(status string) {
	if m != nil {
		m.submits.WithLabelValues(status).Inc()
	}
}

func (m *Metrics) observeLatency(d time.Duration) {
	if m != nil {
		m.latency.Observe(d.Seconds())
	}
}

func (m *Metrics) setState(bind string, st int) {
	if m != nil {
		m.state.WithLabelValues(bind).Set(float64(st))
	}
}

func (m *Metrics) setWindow(n int) {
	if m != nil {
		m.window.Set(float64(n))
	}
}

func (m *Metrics) reconnect() {
	if m != nil {
		m.reconnects.Inc()
	}
}

func (m *Metrics) deliver(kind string, st Status) {
	if m != nil {
		m.delivers.WithLabelValues(kind, st.String()).Inc()
	}
}
