package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haochaping/haochaping/casecore"
)

// hourRow is one hour of today in the operations view.
type hourRow struct {
	Hour                      int
	Calls, IVR, SMS, Other    int64
	NoRating, Bad, TotalRated int64
}

// hourly counts today's rating calls and ratings per hour from the event
// stream: a rating call ends either in rating_received (channel
// hotline_ivr) or in no_rating (channel hotline_ivr).
func (d *Dashboard) hourly(ctx context.Context, now time.Time) ([]hourRow, error) {
	start := casecore.DateOf(now).Start()
	rows := make([]hourRow, 24)
	for i := range rows {
		rows[i].Hour = i
	}
	from := strconv.FormatInt(start.UnixMilli(), 10)
	for n := 0; n < 200; n++ { // at most 200 pages of 1000 events
		xs, err := d.rdb.XRangeN(ctx, d.stream, from, "+", 1000).Result()
		if err != nil {
			return nil, err
		}
		for _, x := range xs {
			ms, _ := strconv.ParseInt(x.ID[:max(0, indexByte(x.ID, '-'))], 10, 64)
			h := time.UnixMilli(ms).In(casecore.Shanghai).Hour()
			ch := casecore.Channel(str(x.Values["channel"]))
			switch str(x.Values["type"]) {
			case "rating_received":
				rows[h].TotalRated++
				switch ch {
				case casecore.ChannelHotlineIVR:
					rows[h].IVR++
					rows[h].Calls++
				case casecore.ChannelHotlineSMS, casecore.ChannelSMSLink:
					rows[h].SMS++
				default:
					rows[h].Other++
				}
				if casecore.Level(str(x.Values["level"])).Bad() {
					rows[h].Bad++
				}
			case "no_rating":
				if ch == casecore.ChannelHotlineIVR {
					rows[h].Calls++
					rows[h].NoRating++
				}
			}
		}
		if len(xs) < 1000 {
			break
		}
		from = "(" + xs[len(xs)-1].ID
	}
	return rows[:now.In(casecore.Shanghai).Hour()+1], nil
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return len(s)
}

// metricValues returns the samples of a gauge or counter family by label
// string, from the process's registry.
func (d *Dashboard) metricValues(name string) (map[string]float64, bool) {
	if d.gatherer == nil {
		return nil, false
	}
	mfs, err := d.gatherer.Gather()
	if err != nil {
		return nil, false
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		out := map[string]float64{}
		for _, m := range mf.GetMetric() {
			var lbl string
			for i, l := range m.GetLabel() {
				if i > 0 {
					lbl += " "
				}
				lbl += l.GetValue()
			}
			switch {
			case m.Gauge != nil:
				out[lbl] = m.Gauge.GetValue()
			case m.Counter != nil:
				out[lbl] = m.Counter.GetValue()
			}
		}
		return out, true
	}
	return nil, false
}

func (d *Dashboard) ops(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	now := d.svc.Now()
	data := map[string]any{"Live": true}

	// Redis: a ping now, and the pinger's last result.
	st := d.pinger.ping(ctx)
	data["RedisOK"], data["RedisErr"], data["RedisRTT"] = st.ok, st.err, st.rtt.Round(10*time.Microsecond).String()

	// Deadline worker: the oldest clock due and not yet fired (from the
	// store, so any process's worker counts), and this process's gauge.
	if next, err := d.svc.Store().NextDue(ctx); err == nil {
		if !next.IsZero() && next.Before(now) {
			data["Behind"] = now.Sub(next).Round(time.Second).String()
		}
		if !next.IsZero() {
			data["NextDue"] = next
		}
	}
	if v, ok := d.metricValues("haochaping_deadline_worker_lag_seconds"); ok {
		data["Lag"] = fmt.Sprintf("%.1f 秒", v[""])
	}
	if byState, overdue, err := d.svc.Store().CountOpen(ctx); err == nil {
		data["ByState"], data["OverdueAll"] = byState, overdue
	}
	if n, err := d.svc.CountTextReviews(ctx); err == nil {
		data["Texts"] = n
	}
	data["LiveConns"] = d.hub.Subscribers()

	// Calls in progress.
	if d.calls != nil {
		calls := d.calls.Snapshot()
		slices.SortFunc(calls, func(a, b CallStatus) int { return a.Since.Compare(b.Since) })
		data["Calls"], data["CallsConfigured"] = calls, true
		steps := map[string]int{}
		for _, c := range calls {
			steps[c.Step]++
		}
		data["Steps"] = steps
	}
	if v, ok := d.metricValues("haochaping_ivr_calls_in_state"); ok {
		data["IVRStates"] = v
	}
	// SMS outbox.
	if d.outbox != nil {
		data["OutboxConfigured"] = true
		data["Gateway"] = d.outbox.GatewayState()
		counts, err := d.outbox.Counts(ctx)
		if err != nil {
			data["OutboxErr"] = err.Error()
		} else {
			data["Outbox"] = counts
		}
	}
	if v, ok := d.metricValues("haochaping_sms_gateway_connected"); ok {
		data["SMSGateways"] = v
	}
	if v, ok := d.metricValues("haochaping_smpp_connection_state"); ok {
		data["SMPP"] = v
	}
	// Today per hour.
	hours, err := d.hourly(ctx, now)
	if err != nil && err != redis.Nil {
		data["HourlyErr"] = err.Error()
	}
	var maxCalls int64 = 1
	var sum hourRow
	for _, h := range hours {
		maxCalls = max(maxCalls, h.Calls, h.TotalRated)
		sum.Calls += h.Calls
		sum.IVR += h.IVR
		sum.SMS += h.SMS
		sum.Other += h.Other
		sum.NoRating += h.NoRating
		sum.Bad += h.Bad
		sum.TotalRated += h.TotalRated
	}
	data["Hours"], data["MaxCalls"], data["Sum"] = hours, maxCalls, sum
	d.render(w, r, rc, "ops", "运行监控", data)
}
