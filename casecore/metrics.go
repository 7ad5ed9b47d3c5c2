package casecore

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the case core's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	ratings     *prometheus.CounterVec
	openCases   *prometheus.GaugeVec
	overdue     prometheus.Gauge
	lagSeconds  prometheus.Gauge
	firedVec    *prometheus.CounterVec
	transitions *prometheus.CounterVec
	conflicts   prometheus.Counter
}

// NewMetrics registers the case core's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		ratings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haochaping_ratings_total", Help: "Ratings recorded, by channel and level.",
		}, []string{"channel", "level"}),
		openCases: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "haochaping_cases_open", Help: "Cases by state (terminal states count all cases ever closed that way).",
		}, []string{"state"}),
		overdue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "haochaping_cases_overdue", Help: "Open cases with at least one deadline past due.",
		}),
		lagSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "haochaping_deadline_worker_lag_seconds", Help: "How late the oldest due deadline is being fired.",
		}),
		firedVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haochaping_deadlines_fired_total", Help: "Deadline warnings, breaches and automatic expiries fired by this process.",
		}, []string{"clock", "kind"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "haochaping_case_transitions_total", Help: "Case actions taken through this process.",
		}, []string{"action"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "haochaping_store_conflicts_total", Help: "Compare-and-set conflicts retried (concurrent changes to one case).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.ratings, m.openCases, m.overdue, m.lagSeconds, m.firedVec, m.transitions, m.conflicts)
	}
	for _, c := range Channels {
		for _, l := range Levels {
			m.ratings.WithLabelValues(string(c), string(l))
		}
	}
	return m
}

func (m *Metrics) rating(r *Rating) {
	if m != nil {
		m.ratings.WithLabelValues(string(r.Channel), string(r.Level)).Inc()
	}
}

func (m *Metrics) conflict() {
	if m != nil {
		m.conflicts.Inc()
	}
}

func (m *Metrics) transition(a Action) {
	if m != nil {
		m.transitions.WithLabelValues(string(a)).Inc()
	}
}

func (m *Metrics) fired(clock ClockKind, kind string) {
	if m != nil {
		m.firedVec.WithLabelValues(string(clock), kind).Inc()
	}
}

func (m *Metrics) lag(d time.Duration) {
	if m != nil {
		m.lagSeconds.Set(max(d, 0).Seconds())
	}
}

func (m *Metrics) setOpen(byState map[State]int64, overdue int64) {
	if m == nil {
		return
	}
	for _, s := range States {
		m.openCases.WithLabelValues(string(s)).Set(float64(byState[s]))
	}
	m.overdue.Set(float64(overdue))
}
