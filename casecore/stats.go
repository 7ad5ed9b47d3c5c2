package casecore

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// StatsQuery selects the ratings whose rating date lies in [From, To] of the
// units (all the actor may see when empty).
type StatsQuery struct {
	Units    []string
	From, To Date
}

// UnitStats are the published figures of one unit (or the total) for the
// ratings made in a period, including what became of them since.
type UnitStats struct {
	UnitID string          `json:"unit_id"`
	Total  int64           `json:"total"`
	Levels map[Level]int64 `json:"levels"`
	// Bad counts adopted bad ratings: bad ratings less those not adopted on appeal.
	Bad        int64 `json:"bad"`
	NotAdopted int64 `json:"not_adopted"`
	// SatisfactionRate is (very satisfied + satisfied + basically satisfied)
	// over adopted ratings; BadRate is Bad over adopted ratings.
	SatisfactionRate float64 `json:"satisfaction_rate"`
	BadRate          float64 `json:"bad_rate"`
	Appeals          struct {
		Filed    int64   `json:"filed"`
		Upheld   int64   `json:"upheld"`
		Rejected int64   `json:"rejected"`
		Pending  int64   `json:"pending"`
		Rate     float64 `json:"rate"` // filed over bad ratings received
	} `json:"appeals"`
	Rectification struct {
		Confirmed  int64   `json:"confirmed"`
		Rectified  int64   `json:"rectified"`
		OnTime     int64   `json:"on_time"`
		OnTimeRate float64 `json:"on_time_rate"` // on time over confirmed
	} `json:"rectification"`
	Followups struct {
		Total  int64           `json:"total"`
		Levels map[Level]int64 `json:"levels"`
		None   int64           `json:"none"`
	} `json:"followups"`
	Closed       int64            `json:"closed"`
	Comments     int64            `json:"comments"`
	TextRejected int64            `json:"text_rejected"`
	Overdue      map[string]int64 `json:"overdue"`
}

// Stats are the figures per unit and in total.
type Stats struct {
	From  Date        `json:"from"`
	To    Date        `json:"to"`
	Units []UnitStats `json:"units"`
	Total UnitStats   `json:"total"`
}

// Stats computes the statistics of the units the actor may see.
func (s *Service) Stats(ctx context.Context, actor Actor, q StatsQuery) (*Stats, error) {
	if q.From.IsZero() || q.To.IsZero() {
		return nil, &ValidationError{"from", "from and to are required (YYYY-MM-DD)"}
	}
	if q.To.Before(q.From) {
		return nil, &ValidationError{"to", "before from"}
	}
	if q.To.Sub(q.From) > 3660 {
		return nil, &ValidationError{"to", "range longer than ten years"}
	}
	if actor.Role == RoleHandler {
		if len(q.Units) == 0 {
			q.Units = actor.Units
		}
		for _, u := range q.Units {
			if !actor.CanSeeUnit(u) {
				return nil, ErrForbidden
			}
		}
		if len(q.Units) == 0 {
			return &Stats{From: q.From, To: q.To, Units: []UnitStats{}}, nil
		}
	}
	raw, err := s.store.Stats(ctx, q.Units, q.From, q.To)
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	out := &Stats{From: q.From, To: q.To, Units: []UnitStats{}} // [] not null when empty
	sum := map[string]int64{}
	ids := make([]string, 0, len(raw))
	for u := range raw {
		ids = append(ids, u)
	}
	sort.Strings(ids)
	for _, u := range ids {
		for f, v := range raw[u] {
			sum[f] += v
		}
		out.Units = append(out.Units, unitStats(u, raw[u]))
	}
	out.Total = unitStats("", sum)
	return out, nil
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func unitStats(unit string, c map[string]int64) UnitStats {
	u := UnitStats{UnitID: unit, Levels: map[Level]int64{}, Overdue: map[string]int64{}}
	u.Followups.Levels = map[Level]int64{}
	var satisfied int64
	for _, l := range Levels {
		u.Levels[l] = c["lvl:"+string(l)]
		u.Followups.Levels[l] = c["fu:"+string(l)]
		if l.Satisfied() {
			satisfied += u.Levels[l]
		}
	}
	u.Total = c["total"]
	u.NotAdopted = c["not_adopted"]
	u.Bad = c["bad"] - u.NotAdopted
	adopted := u.Total - u.NotAdopted
	u.SatisfactionRate = ratio(satisfied, adopted)
	u.BadRate = ratio(u.Bad, adopted)
	u.Appeals.Filed = c["appealed"]
	u.Appeals.Upheld = c["upheld"]
	u.Appeals.Rejected = c["rejected"]
	u.Appeals.Pending = u.Appeals.Filed - u.Appeals.Upheld - u.Appeals.Rejected
	u.Appeals.Rate = ratio(u.Appeals.Filed, c["bad"])
	u.Rectification.Confirmed = c["confirmed"]
	u.Rectification.Rectified = c["rectified"]
	u.Rectification.OnTime = c["rectified_on_time"]
	u.Rectification.OnTimeRate = ratio(u.Rectification.OnTime, u.Rectification.Confirmed)
	u.Followups.Total = c["fu_total"]
	u.Followups.None = c["fu_none"]
	u.Closed = c["closed"]
	u.Comments = c["comments"]
	u.TextRejected = c["text_rejected"]
	for f, v := range c {
		if k, ok := strings.CutPrefix(f, "overdue:"); ok {
			u.Overdue[k] = v
		}
	}
	return u
}

// Summary counts the open cases of the units the actor may see, by state
// and by how near their earliest deadline is (overdue, due today, due
// within 24 hours), for the overview. Unlike ListCases it has no limit.
func (s *Service) Summary(ctx context.Context, actor Actor) ([]UnitSummary, error) {
	now := s.clock.Now()
	all, err := s.store.Summary(ctx, now, DateOf(now).End())
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	out := all[:0]
	for _, u := range all {
		if actor.CanSeeUnit(u.Unit) {
			out = append(out, u)
		}
	}
	return out, nil
}
