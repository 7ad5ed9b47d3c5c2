package dashboard

import (
	"encoding/csv"
	"errors"
	"fmt"
	"github.com/haochaping/haochaping/internal/phone"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/internal/realip"
)

// reportQuery reads from, to (default: this month so far) and unit.
func (d *Dashboard) reportQuery(r *http.Request) (casecore.StatsQuery, error) {
	q := r.URL.Query()
	today := casecore.DateOf(d.svc.Now())
	sq := casecore.StatsQuery{From: casecore.Date{Year: today.Year, Month: today.Month, Day: 1}, To: today}
	var err error
	if v := q.Get("from"); v != "" {
		if sq.From, err = casecore.ParseDate(v); err != nil {
			return sq, &casecore.ValidationError{Field: "from", Message: "want YYYY-MM-DD"}
		}
	}
	if v := q.Get("to"); v != "" {
		if sq.To, err = casecore.ParseDate(v); err != nil {
			return sq, &casecore.ValidationError{Field: "to", Message: "want YYYY-MM-DD"}
		}
	}
	if u := q.Get("unit"); u != "" {
		sq.Units = []string{u}
	}
	return sq, nil
}

func (d *Dashboard) stats(r *http.Request, rc *reqCtx) (casecore.StatsQuery, *casecore.Stats, error) {
	sq, err := d.reportQuery(r)
	if err != nil {
		return sq, nil, err
	}
	st, err := d.svc.Stats(r.Context(), rc.actor, sq)
	if errors.Is(err, casecore.ErrForbidden) {
		err = casecore.ErrNotFound
	}
	return sq, st, err
}

func (d *Dashboard) reports(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	sq, st, err := d.stats(r, rc)
	if err != nil {
		d.fail(w, r, rc, err)
		return
	}
	unit := ""
	if len(sq.Units) == 1 {
		unit = sq.Units[0]
	}
	d.render(w, r, rc, "reports", "统计报表", map[string]any{"Stats": st, "From": sq.From.String(), "To": sq.To.String(),
		"Unit": unit, "Query": r.URL.RawQuery, "UnitChoices": d.visibleUnits(rc)})
}

func (d *Dashboard) visibleUnits(rc *reqCtx) []casecore.Unit {
	var out []casecore.Unit
	for _, u := range d.units.Units {
		if rc.actor.CanSeeUnit(u.ID) {
			out = append(out, u)
		}
	}
	return out
}

// csvWriter writes UTF-8 CSV with a byte order mark, so Excel opens the
// Chinese text correctly, and defuses cells that a spreadsheet would take
// for a formula (citizens write the comments).
type csvWriter struct{ w *csv.Writer }

func newCSV(w http.ResponseWriter, filename string) (*csvWriter, error) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	w.Header().Set("Cache-Control", "no-store")
	if _, err := io.WriteString(w, "\uFEFF"); err != nil {
		return nil, err
	}
	return &csvWriter{csv.NewWriter(w)}, nil
}

func (c *csvWriter) row(cells ...string) error {
	for i, s := range cells {
		if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
			if _, err := strconv.ParseFloat(s, 64); err != nil {
				cells[i] = "'" + s
			}
		}
	}
	return c.w.Write(cells)
}

func (c *csvWriter) flush() error {
	c.w.Flush()
	return c.w.Error()
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }
func rate(f float64) string {
	return strconv.FormatFloat(f*100, 'f', 1, 64) + "%"
}

func (d *Dashboard) reportsCSV(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	sq, st, err := d.stats(r, rc)
	if err != nil {
		d.fail(w, r, rc, err)
		return
	}
	cw, err := newCSV(w, fmt.Sprintf("haochaping-report-%s-%s.csv", sq.From, sq.To))
	if err != nil {
		return
	}
	head := []string{"单位编号", "单位名称", "评价总数"}
	for _, l := range casecore.Levels {
		head = append(head, l.Chinese())
	}
	head = append(head, "差评（采纳）", "不予采纳", "满意率", "差评率", "申诉数", "申诉成立", "申诉驳回", "申诉待审", "申诉率",
		"确认差评", "已整改", "按期整改", "按期整改率", "追评数", "未追评", "已办结", "文字评价", "文字驳回", "超期次数")
	_ = cw.row(head...)
	line := func(id, name string, u casecore.UnitStats) {
		row := []string{id, name, i64(u.Total)}
		for _, l := range casecore.Levels {
			row = append(row, i64(u.Levels[l]))
		}
		var overdue int64
		for _, n := range u.Overdue {
			overdue += n
		}
		row = append(row, i64(u.Bad), i64(u.NotAdopted), rate(u.SatisfactionRate), rate(u.BadRate), i64(u.Appeals.Filed),
			i64(u.Appeals.Upheld), i64(u.Appeals.Rejected), i64(u.Appeals.Pending), rate(u.Appeals.Rate),
			i64(u.Rectification.Confirmed), i64(u.Rectification.Rectified), i64(u.Rectification.OnTime),
			rate(u.Rectification.OnTimeRate), i64(u.Followups.Total), i64(u.Followups.None), i64(u.Closed),
			i64(u.Comments), i64(u.TextRejected), i64(overdue))
		_ = cw.row(row...)
	}
	for _, u := range st.Units {
		line(u.UnitID, d.unitName(u.UnitID), u)
	}
	line("", "合计", st.Total)
	_ = cw.flush()
}

// gbTime formats 评价时间 as GB/T 39046 wants it: YYYYMMDDThhmmss, Beijing time.
func gbTime(t time.Time) string { return t.In(casecore.Shanghai).Format("20060102T150405") }

// rater is 评价人 masked: the name if given, else the number.
func rater(r *casecore.Rating) string {
	if r.RaterName != "" {
		return casecore.MaskName(r.RaterName)
	}
	return phone.Mask(r.RaterPhone)
}

// maxExportDays bounds the export's date range.
const maxExportDays = 366

// exportRatings writes the ratings of a date range in the GB/T 39046-2020
// table 9 fields. It reads day by day (the store lists at most 1000 ratings
// per query), so a day with more ratings is cut at 1000 and the export says so.
func (d *Dashboard) exportRatings(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	sq, err := d.reportQuery(r)
	if err != nil {
		d.fail(w, r, rc, err)
		return
	}
	if sq.To.Before(sq.From) || sq.To.Sub(sq.From) >= maxExportDays {
		d.fail(w, r, rc, &casecore.ValidationError{Field: "to", Message: fmt.Sprintf("the range must be 1..%d days", maxExportDays)})
		return
	}
	unit := ""
	if len(sq.Units) == 1 {
		unit = sq.Units[0]
		if !rc.actor.CanSeeUnit(unit) {
			d.fail(w, r, rc, casecore.ErrNotFound)
			return
		}
	}
	_ = d.Audit.Add(r.Context(), AuditEntry{Kind: AuditExport, Actor: rc.user.Name, IP: realip.ClientIP(r),
		Detail: fmt.Sprintf("ratings %s..%s %s", sq.From, sq.To, unit)})
	cw, err := newCSV(w, fmt.Sprintf("haochaping-ratings-%s-%s.csv", sq.From, sq.To))
	if err != nil {
		return
	}
	_ = cw.row("办件编号", "评价渠道", "评价人", "评价时间", "评价次数", "满意度代码", "文字评价", "行政区划")
	for day := sq.From; !sq.To.Before(day); day = day.AddDays(1) {
		err := d.svc.EachRatingOfDay(r.Context(), rc.actor, day, func(x *casecore.Rating) error {
			if unit != "" && x.UnitID != unit {
				return nil
			}
			return cw.row(x.WorkOrderID, zhOr(gbChannel, x.Channel, "其他终端"), rater(x), gbTime(x.RatedAt),
				strconv.Itoa(x.Seq), strconv.Itoa(x.Level.GBCode()), x.VisibleComment(), d.cfg.AreaCode)
		})
		if err != nil {
			d.log.Error("export ratings", "day", day, "err", err)
			_ = cw.row("# 导出中断：" + day.String() + " 读取失败")
			break
		}
	}
	_ = cw.flush()
}
