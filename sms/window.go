package sms

import (
	"fmt"
	"time"
)

// Window is the part of each local day in which invitations may be sent
// (DOMAIN.md: not at night, default 08:00–21:00 Asia/Shanghai). From and To
// are minutes after midnight; To < From is a window across midnight.
type Window struct {
	From, To int
	Loc      *time.Location
}

// DefaultWindow returns 08:00–21:00 in Asia/Shanghai (UTC+8 if the zone
// database is missing; China has no daylight saving time).
func DefaultWindow() Window {
	return Window{From: 8 * 60, To: 21 * 60, Loc: Shanghai()}
}

// Shanghai returns the hotline's time zone.
func Shanghai() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}

func (w Window) loc() *time.Location {
	if w.Loc == nil {
		return Shanghai()
	}
	return w.Loc
}

func (w Window) minute(t time.Time) int {
	t = t.In(w.loc())
	return t.Hour()*60 + t.Minute()
}

// Open reports whether t lies inside the window.
func (w Window) Open(t time.Time) bool {
	if w.From == w.To {
		return true
	}
	m := w.minute(t)
	if w.From < w.To {
		return w.From <= m && m < w.To
	}
	return m >= w.From || m < w.To
}

// Next returns t if the window is open at t, else the next opening.
func (w Window) Next(t time.Time) time.Time {
	if w.Open(t) {
		return t
	}
	lt := t.In(w.loc())
	start := time.Date(lt.Year(), lt.Month(), lt.Day(), w.From/60, w.From%60, 0, 0, w.loc())
	if !start.After(t) {
		start = start.AddDate(0, 0, 1)
	}
	return start
}

// NextDay returns the opening of the window on the day after t's local day.
func (w Window) NextDay(t time.Time) time.Time {
	lt := t.In(w.loc())
	return time.Date(lt.Year(), lt.Month(), lt.Day()+1, w.From/60, w.From%60, 0, 0, w.loc())
}

// Day returns t's local day as YYYYMMDD, the unit of the daily cap.
func (w Window) Day(t time.Time) string {
	lt := t.In(w.loc())
	return fmt.Sprintf("%04d%02d%02d", lt.Year(), lt.Month(), lt.Day())
}

// String writes the window as HH:MM-HH:MM.
func (w Window) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", w.From/60, w.From%60, w.To/60, w.To%60)
}
