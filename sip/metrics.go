package sip

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Call outcomes, the label of haochaping_sip_calls_total.
const (
	OutcomeAnswered  = "answered"  // answered and ended normally
	OutcomeCancelled = "cancelled" // CANCEL before the answer (487)
	OutcomeForbidden = "forbidden" // source not allowed (403)
	OutcomeNotFound  = "not_found" // unknown Request-URI user (404)
	OutcomeRejected  = "rejected"  // refused by the handler for another reason
	OutcomeBusy      = "busy"      // above max_calls (486 or 503)
	OutcomeDraining  = "draining"  // shutting down (503)
	OutcomeNoCodec   = "no_codec"  // no common codec (488)
	OutcomeBadSDP    = "bad_sdp"   // unreadable offer (400)
	OutcomeTooSmall  = "interval_too_small"
	OutcomeFailed    = "failed" // our error (500), or no ACK
)

var outcomes = []string{OutcomeAnswered, OutcomeCancelled, OutcomeForbidden, OutcomeNotFound, OutcomeRejected,
	OutcomeBusy, OutcomeDraining, OutcomeNoCodec, OutcomeBadSDP, OutcomeTooSmall, OutcomeFailed}

// Metrics are the SIP and RTP metrics. A nil *Metrics records nothing.
type Metrics struct {
	active        prometheus.Gauge
	calls         *prometheus.CounterVec
	dtmf          *prometheus.CounterVec
	answerLatency prometheus.Histogram
	sent          prometheus.Counter
	sentLate      prometheus.Counter
	pacing        prometheus.Histogram
	received      prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg (none if nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		active: f.NewGauge(prometheus.GaugeOpts{Namespace: "haochaping", Subsystem: "sip", Name: "calls_active",
			Help: "Calls admitted and not yet ended (ringing or answered)."}),
		calls: f.NewCounterVec(prometheus.CounterOpts{Namespace: "haochaping", Subsystem: "sip", Name: "calls_total",
			Help: "INVITEs that started a call attempt, by outcome."}, []string{"outcome"}),
		dtmf: f.NewCounterVec(prometheus.CounterOpts{Namespace: "haochaping", Subsystem: "sip", Name: "dtmf_total",
			Help: "Key presses by the method that reported them first (rfc4733, info, inband)."}, []string{"method"}),
		answerLatency: f.NewHistogram(prometheus.HistogramOpts{Namespace: "haochaping", Subsystem: "sip", Name: "answer_latency_seconds",
			Help:    "Time from the INVITE to sending the 200 OK.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}),
		sent: f.NewCounter(prometheus.CounterOpts{Namespace: "haochaping", Subsystem: "rtp", Name: "packets_sent_total",
			Help: "RTP packets sent."}),
		sentLate: f.NewCounter(prometheus.CounterOpts{Namespace: "haochaping", Subsystem: "rtp", Name: "packets_sent_late_total",
			Help: "RTP packets sent more than half a frame (10 ms) after their slot."}),
		pacing: f.NewHistogram(prometheus.HistogramOpts{Namespace: "haochaping", Subsystem: "rtp", Name: "pacing_error_seconds",
			Help:    "Delay between a packet's slot and its send, per scheduler tick (the tick's last packet).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1}}),
		received: f.NewCounter(prometheus.CounterOpts{Namespace: "haochaping", Subsystem: "rtp", Name: "packets_received_total",
			Help: "RTP packets received."}),
	}
	for _, o := range outcomes {
		m.calls.WithLabelValues(o)
	}
	for _, d := range []DTMFMethod{DTMFRFC4733, DTMFInfo, DTMFInband} {
		m.dtmf.WithLabelValues(d.String())
	}
	return m
}

func (m *Metrics) call(outcome string) {
	if m != nil {
		m.calls.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) activeAdd(n float64) {
	if m != nil {
		m.active.Add(n)
	}
}

func (m *Metrics) digit(d DTMFMethod) {
	if m != nil {
		m.dtmf.WithLabelValues(d.String()).Inc()
	}
}

func (m *Metrics) answered(seconds float64) {
	if m != nil {
		m.answerLatency.Observe(seconds)
	}
}

func (m *Metrics) tick(packets, late int, worst float64) {
	if m == nil || packets == 0 {
		return
	}
	m.sent.Add(float64(packets))
	if late > 0 {
		m.sentLate.Add(float64(late))
	}
	m.pacing.Observe(worst)
}

func (m *Metrics) receivedN(n int) {
	if m != nil && n > 0 {
		m.received.Add(float64(n))
	}
}
