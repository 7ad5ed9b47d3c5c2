package redisstore

import (
	"encoding/json"
	"time"

	"github.com/haochaping/haochaping/casecore"
)

// The stored forms of ratings and cases: JSON with short keys, instants as
// Unix milliseconds and dates as YYYYMMDD numbers. A million open cases make
// every byte count (bench/casecore.md); the API's long names live in casecore.

func msOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func timeOf(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).In(casecore.Shanghai)
}

func msPtr(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return msOf(*t)
}

func timePtr(ms int64) *time.Time {
	if ms == 0 {
		return nil
	}
	t := timeOf(ms)
	return &t
}

func dateNum(d casecore.Date) int {
	if d.IsZero() {
		return 0
	}
	return d.Year*10000 + int(d.Month)*100 + d.Day
}

func dateOf(n int) casecore.Date {
	if n == 0 {
		return casecore.Date{}
	}
	return casecore.Date{Year: n / 10000, Month: time.Month(n / 100 % 100), Day: n % 100}
}

type sClock struct {
	Start int64  `json:"s"`
	Days  int    `json:"n"`
	Kind  string `json:"k,omitempty"` // "n" natural; working when empty
	Due   int    `json:"d"`
	Warn  int64  `json:"w,omitempty"`
	Flags int    `json:"f,omitempty"` // 1 provisional, 2 warned, 4 overdue
}

func encClock(c *casecore.Clock) *sClock {
	if c == nil {
		return nil
	}
	s := &sClock{Start: msOf(c.StartedAt), Days: c.Period.Days, Due: dateNum(c.DueDate), Warn: msOf(c.WarnAt)}
	if c.Period.Kind == casecore.NaturalDays {
		s.Kind = "n"
	}
	if c.Provisional {
		s.Flags |= 1
	}
	if c.Warned {
		s.Flags |= 2
	}
	if c.Overdue {
		s.Flags |= 4
	}
	return s
}

func decClock(k casecore.ClockKind, s *sClock) *casecore.Clock {
	if s == nil {
		return nil
	}
	c := &casecore.Clock{Kind: k, StartedAt: timeOf(s.Start), Period: casecore.Period{Days: s.Days, Kind: casecore.WorkingDays},
		DueDate: dateOf(s.Due), WarnAt: timeOf(s.Warn), Provisional: s.Flags&1 != 0, Warned: s.Flags&2 != 0, Overdue: s.Flags&4 != 0}
	if s.Kind == "n" {
		c.Period.Kind = casecore.NaturalDays
	}
	c.DueAt = c.DueDate.End()
	return c
}

type sRating struct {
	ID       string `json:"i"`
	Key      string `json:"ik"`
	Channel  string `json:"ch"`
	Level    string `json:"l"`
	WO       string `json:"wo,omitempty"`
	Unit     string `json:"u"`
	Staff    string `json:"sf,omitempty"`
	Post     string `json:"po,omitempty"`
	Phone    string `json:"ph,omitempty"`
	Name     string `json:"nm,omitempty"`
	Comment  string `json:"cm,omitempty"`
	Rated    int64  `json:"ra"`
	Received int64  `json:"re"`
	Followup string `json:"fu,omitempty"`
	Case     string `json:"c,omitempty"`
	Seq      int    `json:"sq,omitempty"` // 1 when empty
	TR       *sTR   `json:"tr,omitempty"`
	Version  int    `json:"v"`
}

type sTR struct {
	Status string  `json:"st"`
	Clock  *sClock `json:"ck,omitempty"`
	By     string  `json:"by,omitempty"`
	At     int64   `json:"at,omitempty"`
	Note   string  `json:"nt,omitempty"`
}

func encodeRating(r *casecore.Rating) ([]byte, error) {
	s := sRating{ID: r.ID, Key: r.IdempotencyKey, Channel: string(r.Channel), Level: string(r.Level), WO: r.WorkOrderID,
		Unit: r.UnitID, Staff: r.StaffID, Post: r.Post, Phone: r.RaterPhone, Name: r.RaterName, Comment: r.Comment,
		Rated: msOf(r.RatedAt), Received: msOf(r.ReceivedAt), Followup: r.FollowupOf, Case: r.CaseID, Version: r.Version}
	if r.Seq != 1 {
		s.Seq = r.Seq
	}
	if t := r.TextReview; t != nil {
		s.TR = &sTR{Status: t.Status, Clock: encClock(t.Clock), By: t.DecidedBy, At: msPtr(t.DecidedAt), Note: t.Note}
	}
	return json.Marshal(s)
}

func decodeRating(b []byte) (*casecore.Rating, error) {
	var s sRating
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	r := &casecore.Rating{ID: s.ID, IdempotencyKey: s.Key, Channel: casecore.Channel(s.Channel), Level: casecore.Level(s.Level),
		WorkOrderID: s.WO, UnitID: s.Unit, StaffID: s.Staff, Post: s.Post, RaterPhone: s.Phone, RaterName: s.Name,
		Comment: s.Comment, RatedAt: timeOf(s.Rated), ReceivedAt: timeOf(s.Received), FollowupOf: s.Followup,
		CaseID: s.Case, Seq: s.Seq, Version: s.Version}
	if r.Seq == 0 {
		r.Seq = 1
	}
	if t := s.TR; t != nil {
		r.TextReview = &casecore.TextReview{Status: t.Status, Clock: decClock(casecore.ClockTextReview, t.Clock),
			DecidedBy: t.By, DecidedAt: timePtr(t.At), Note: t.Note}
	}
	return r, nil
}

type sHist struct {
	At     int64  `json:"t"`
	Actor  string `json:"a"`
	Role   string `json:"r"`
	Action string `json:"x"`
	From   string `json:"f,omitempty"`
	To     string `json:"o,omitempty"`
	Note   string `json:"n,omitempty"`
}

type sAppeal struct {
	Reason   string `json:"r"`
	Filed    int64  `json:"f"`
	Decision string `json:"d,omitempty"`
	Decided  int64  `json:"t,omitempty"`
}

type sRect struct {
	At     int64 `json:"t"`
	Due    int64 `json:"d"`
	OnTime bool  `json:"o,omitempty"`
}

type sEsc struct {
	Clock string `json:"c"`
	Kind  string `json:"k"`
	At    int64  `json:"t"`
	Due   int64  `json:"d"`
}

type sCase struct {
	ID        string             `json:"i"`
	Rating    string             `json:"rt,omitempty"` // empty: "R" + the digits of the case ID
	WO        string             `json:"wo,omitempty"`
	Unit      string             `json:"u"`
	Staff     string             `json:"sf,omitempty"`
	Post      string             `json:"po,omitempty"`
	Level     string             `json:"l"`
	Channel   string             `json:"ch"`
	Rated     int64              `json:"ra"`
	State     string             `json:"s"`
	Version   int                `json:"v"`
	Rules     string             `json:"ru"`
	Opened    int64              `json:"op"`
	Updated   int64              `json:"up,omitempty"` // empty: the opening time
	Closed    int64              `json:"cl,omitempty"`
	Clocks    map[string]*sClock `json:"k,omitempty"`
	Appeal    *sAppeal           `json:"ap,omitempty"`
	Confirmed int64              `json:"cf,omitempty"`
	Rect      []sRect            `json:"rc,omitempty"`
	Followups []string           `json:"fu,omitempty"`
	Esc       []sEsc             `json:"e,omitempty"`
	History   []sHist            `json:"h"`
}

func encodeCase(c *casecore.Case) ([]byte, error) {
	s := sCase{ID: c.ID, Rating: c.RatingID, WO: c.WorkOrderID, Unit: c.UnitID, Staff: c.StaffID, Post: c.Post,
		Level: string(c.Level), Channel: string(c.Channel), Rated: msOf(c.RatedAt), State: string(c.State), Version: c.Version,
		Rules: c.Rules, Opened: msOf(c.OpenedAt), Updated: msOf(c.UpdatedAt), Closed: msPtr(c.ClosedAt),
		Confirmed: msPtr(c.ConfirmedAt), Followups: c.Followups}
	if len(c.ID) > 1 && s.Rating == "R"+c.ID[1:] {
		s.Rating = ""
	}
	if s.Updated == s.Opened {
		s.Updated = 0
	}
	if len(c.Clocks) > 0 {
		s.Clocks = make(map[string]*sClock, len(c.Clocks))
		for k, v := range c.Clocks {
			s.Clocks[string(k)] = encClock(v)
		}
	}
	if a := c.Appeal; a != nil {
		s.Appeal = &sAppeal{Reason: a.Reason, Filed: msOf(a.FiledAt), Decision: a.Decision, Decided: msPtr(a.DecidedAt)}
	}
	for _, r := range c.Rectified {
		s.Rect = append(s.Rect, sRect{msOf(r.ReportedAt), msOf(r.DueAt), r.OnTime})
	}
	for _, e := range c.Escalations {
		s.Esc = append(s.Esc, sEsc{string(e.Clock), e.Kind, msOf(e.At), msOf(e.DueAt)})
	}
	s.History = make([]sHist, len(c.History))
	for i, h := range c.History {
		s.History[i] = sHist{msOf(h.At), h.Actor, string(h.Role), h.Action, string(h.From), string(h.To), h.Note}
	}
	return json.Marshal(s)
}

func decodeCase(b []byte) (*casecore.Case, error) {
	var s sCase
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	c := &casecore.Case{ID: s.ID, RatingID: s.Rating, WorkOrderID: s.WO, UnitID: s.Unit, StaffID: s.Staff, Post: s.Post,
		Level: casecore.Level(s.Level), Channel: casecore.Channel(s.Channel), RatedAt: timeOf(s.Rated),
		State: casecore.State(s.State), Version: s.Version, Rules: s.Rules, OpenedAt: timeOf(s.Opened),
		UpdatedAt: timeOf(s.Updated), ClosedAt: timePtr(s.Closed), ConfirmedAt: timePtr(s.Confirmed),
		Followups: s.Followups, Clocks: make(map[casecore.ClockKind]*casecore.Clock, len(s.Clocks))}
	if c.RatingID == "" && len(s.ID) > 1 {
		c.RatingID = "R" + s.ID[1:]
	}
	if s.Updated == 0 {
		c.UpdatedAt = c.OpenedAt
	}
	for k, v := range s.Clocks {
		c.Clocks[casecore.ClockKind(k)] = decClock(casecore.ClockKind(k), v)
	}
	if a := s.Appeal; a != nil {
		c.Appeal = &casecore.Appeal{Reason: a.Reason, FiledAt: timeOf(a.Filed), Decision: a.Decision, DecidedAt: timePtr(a.Decided)}
	}
	for _, r := range s.Rect {
		c.Rectified = append(c.Rectified, casecore.Rectification{ReportedAt: timeOf(r.At), DueAt: timeOf(r.Due), OnTime: r.OnTime})
	}
	for _, e := range s.Esc {
		c.Escalations = append(c.Escalations, casecore.Escalation{Clock: casecore.ClockKind(e.Clock), Kind: e.Kind, At: timeOf(e.At), DueAt: timeOf(e.Due)})
	}
	c.History = make([]casecore.HistoryEntry, len(s.History))
	for i, h := range s.History {
		c.History[i] = casecore.HistoryEntry{At: timeOf(h.At), Actor: h.Actor, Role: casecore.Role(h.Role), Action: h.Action,
			From: casecore.State(h.From), To: casecore.State(h.To), Note: h.Note}
	}
	return c, nil
}
