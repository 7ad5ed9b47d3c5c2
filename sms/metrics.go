package sms

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the SMS module's Prometheus metrics (haochaping_sms_*). A nil
// *Metrics records nothing. No label ever holds a phone number.
type Metrics struct {
	messages    *prometheus.CounterVec
	replies     *prometheus.CounterVec
	invitations *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	connected   *prometheus.GaugeVec
	page        *prometheus.CounterVec
	outbox      *outboxCollector
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "haochaping_sms_messages_total",
			Help: "Outbox messages entering a state (queued, sending, sent, delivered, failed, expired, retry, suppressed, capped, deferred), by provider."},
			[]string{"state", "provider"}),
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "haochaping_sms_replies_total",
			Help: "Incoming SMS replies by outcome (rating, ambiguous, opt_out, late, unsolicited, comment, empty, duplicate)."},
			[]string{"outcome"}),
		invitations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "haochaping_sms_invitations_total",
			Help: "Invitations by trigger and result (created, exists, suppressed)."},
			[]string{"trigger", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "haochaping_sms_gateway_latency_seconds",
			Help: "Time a provider took to accept (or refuse) a message.", Buckets: prometheus.ExponentialBuckets(0.001, 3, 10)},
			[]string{"provider"}),
		connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "haochaping_sms_gateway_connected",
			Help: "1 when the provider's connection is up (always 1 for HTTP providers)."},
			[]string{"provider"}),
		page: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "haochaping_sms_page_requests_total",
			Help: "Rating page requests by result (form, rated, used, expired, invalid, limited, csrf)."},
			[]string{"result"}),
		outbox: newOutboxCollector(prometheus.GaugeOpts{Name: "haochaping_sms_outbox_messages",
			Help: "Outbox messages in each state (queued, sending, sent, delivered, failed, expired), read from Redis at each scrape."}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.replies, m.invitations, m.latency, m.connected, m.page, m.outbox)
	}
	return m
}

func (m *Metrics) message(state, provider string) {
	if m != nil {
		m.messages.WithLabelValues(state, provider).Inc()
	}
}

func (m *Metrics) reply(outcome string) {
	if m != nil {
		m.replies.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) invitation(trigger, result string) {
	if m != nil {
		m.invitations.WithLabelValues(trigger, result).Inc()
	}
}

func (m *Metrics) gateway(provider string, d time.Duration) {
	if m != nil {
		m.latency.WithLabelValues(provider).Observe(d.Seconds())
	}
}

func (m *Metrics) pageResult(result string) {
	if m != nil {
		m.page.WithLabelValues(result).Inc()
	}
}

// SetConnected records whether a provider's connection is up.
func (m *Metrics) SetConnected(provider string, up bool) {
	if m != nil {
		v := 0.0
		if up {
			v = 1
		}
		m.connected.WithLabelValues(provider).Set(v)
	}
}

// outboxScrapeTimeout bounds the Redis read of one scrape of the outbox gauge.
const outboxScrapeTimeout = 2 * time.Second

// outboxCollector reports the outbox's counts by state. It reads them on
// each scrape rather than keeping a copy, so the gauge is as exact as the
// counts; it reports nothing before an outbox is built or when Redis does
// not answer (the series go absent instead of stale).
type outboxCollector struct {
	desc *prometheus.Desc
	src  atomic.Pointer[Outbox]
}

func newOutboxCollector(opts prometheus.GaugeOpts) *outboxCollector {
	return &outboxCollector{desc: prometheus.NewDesc(opts.Name, opts.Help, []string{"state"}, nil)}
}

// observe makes o the outbox the gauge reports (the last built with m).
func (m *Metrics) observe(o *Outbox) {
	if m != nil {
		m.outbox.src.Store(o)
	}
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	o := c.src.Load()
	if o == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), outboxScrapeTimeout)
	defer cancel()
	counts, err := o.Counts(ctx)
	if err != nil {
		return
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), st)
	}
}
