package ivr

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics are the flow's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	calls        *prometheus.CounterVec
	inState      *prometheus.GaugeVec
	timeToRate   *prometheus.HistogramVec
	recordErrors *prometheus.CounterVec
}

// NewMetrics creates the flow's metrics and registers them with reg (none if
// reg is nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		calls: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "haochaping", Subsystem: "ivr", Name: "calls_total",
			Help: "Finished rating calls by flow and outcome (rated, no_rating_timeout, no_rating_invalid, no_rating_hangup, no_rating_aborted).",
		}, []string{"flow", "outcome"}),
		inState: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "haochaping", Subsystem: "ivr", Name: "calls_in_state",
			Help: "Rating calls in progress by flow and current step.",
		}, []string{"flow", "state"}),
		timeToRate: f.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "haochaping", Subsystem: "ivr", Name: "time_to_rate_seconds",
			Help:    "Time from the start of the flow to a valid key.",
			Buckets: []float64{2, 4, 6, 8, 10, 12, 15, 20, 25, 30, 40, 60},
		}, []string{"flow"}),
		recordErrors: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "haochaping", Subsystem: "ivr", Name: "record_errors_total",
			Help: "Failed attempts to record a call result (retried up to record_attempts).",
		}, []string{"flow"}),
	}
	// Create every series up front so dashboards see zeros, not gaps.
	for _, k := range []Kind{KindRate, KindFollowup} {
		fl := string(k)
		m.calls.WithLabelValues(fl, string(Rated))
		for _, r := range []Reason{ReasonTimeout, ReasonInvalid, ReasonHangup, ReasonAborted} {
			m.calls.WithLabelValues(fl, string(NoRating)+"_"+string(r))
		}
		for _, s := range states {
			if s != StateDone {
				m.inState.WithLabelValues(fl, string(s))
			}
		}
		m.timeToRate.WithLabelValues(fl)
		m.recordErrors.WithLabelValues(fl)
	}
	return m
}

func (m *Metrics) enter(k Kind, s State) {
	if m != nil && s != StateDone {
		m.inState.WithLabelValues(string(k), string(s)).Inc()
	}
}

func (m *Metrics) leave(k Kind, s State) {
	if m != nil && s != StateDone {
		m.inState.WithLabelValues(string(k), string(s)).Dec()
	}
}

func (m *Metrics) finished(res Result) {
	if m != nil {
		m.calls.WithLabelValues(string(res.Call.Kind), res.metricOutcome()).Inc()
	}
}

func (m *Metrics) rated(res Result) {
	if m != nil {
		m.timeToRate.WithLabelValues(string(res.Call.Kind)).Observe(res.Elapsed().Seconds())
	}
}

func (m *Metrics) recordError(k Kind) {
	if m != nil {
		m.recordErrors.WithLabelValues(string(k)).Inc()
	}
}
