package dashboard

import (
	"fmt"
	"github.com/haochaping/haochaping/internal/phone"
	"html/template"
	"strings"
	"time"

	"github.com/haochaping/haochaping/casecore"
)

func (d *Dashboard) funcs() template.FuncMap {
	return template.FuncMap{
		"stateZh":   func(s casecore.State) string { return zhOr(stateZh, s, string(s)) },
		"actionZh":  func(a casecore.Action) string { return zhOr(actionZh, a, string(a)) },
		"clockZh":   func(k casecore.ClockKind) string { return zhOr(clockZh, k, string(k)) },
		"channelZh": func(c casecore.Channel) string { return zhOr(channelZh, c, string(c)) },
		"levelZh":   func(l casecore.Level) string { return l.Chinese() },
		"levelBad":  func(l casecore.Level) bool { return l.Bad() },
		"roleZh":    func(r casecore.Role) string { return zhOr(roleZh, r, string(r)) },
		"auditZh":   func(k string) string { return zhOr(auditZh, k, k) },
		"appealZh":  func(k string) string { return zhOr(appealReasonZh, k, k) },
		"historyZh": func(a string) string {
			if z, ok := actionZh[casecore.Action(a)]; ok {
				return z
			}
			return zhOr(historyZh, a, a)
		},
		"unitName": d.unitName,
		"time": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(casecore.Shanghai).Format("2006-01-02 15:04")
		},
		"timeSec": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.In(casecore.Shanghai).Format("2006-01-02 15:04:05")
		},
		"ptime": func(t *time.Time) string {
			if t == nil {
				return ""
			}
			return t.In(casecore.Shanghai).Format("2006-01-02 15:04")
		},
		"pct": func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
		"daysLeft": func(n int, overdue bool) string {
			switch {
			case overdue:
				return "已超期"
			case n == 0:
				return "今天到期"
			case n < 0:
				return "已超期"
			}
			return fmt.Sprintf("剩 %d 个工作日", n)
		},
		"join":    strings.Join,
		"inUnits": func(units []string, u string) bool { return contains(units, u) },
		"bar": func(n, maxN int64) int {
			if maxN <= 0 {
				return 0
			}
			return int(n * 100 / maxN)
		},
		"seq": func(n int) []int {
			s := make([]int, n)
			for i := range s {
				s[i] = i
			}
			return s
		},
		"levels":        func() []casecore.Level { return casecore.Levels },
		"states":        func() []casecore.State { return casecore.States },
		"channels":      func() []casecore.Channel { return casecore.Channels },
		"units":         func() []casecore.Unit { return d.units.Units },
		"revealReasons": func() []string { return revealReasons },
		"maskPhone":     phone.Mask,
		"maskName":      casecore.MaskName,
	}
}

func (d *Dashboard) unitName(id string) string {
	if u, ok := d.units.Unit(id); ok {
		return u.Name
	}
	return id
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
