package dashboard

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"github.com/haochaping/haochaping/internal/phone"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/internal/realip"
)

const loginCSRFCookie = "hcp_login_csrf"

// loginPage shows the login form with a fresh double-submit CSRF token.
func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	if rc, err := d.session(r); err == nil && rc != nil {
		http.Redirect(w, r, "/dash/", http.StatusSeeOther)
		return
	}
	d.renderLogin(w, r, "", http.StatusOK)
}

func (d *Dashboard) renderLogin(w http.ResponseWriter, r *http.Request, msg string, status int) {
	tok := randomToken(18)
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: tok, Path: "/dash/login", HttpOnly: true,
		Secure: d.cfg.CookieSecure, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	w.Header().Set("Cache-Control", "no-store")
	next := r.FormValue("next")
	if !localNext(next) {
		next = ""
	}
	w.WriteHeader(status)
	d.render(w, r, nil, "login", "登录", map[string]any{"Error": msg, "LoginCSRF": tok, "Next": next,
		"Name": r.PostFormValue("username")})
}

// localNext accepts only a path inside the dashboard as a redirect target.
func localNext(n string) bool {
	return strings.HasPrefix(n, "/dash/") && !strings.HasPrefix(n, "//") && !strings.ContainsAny(n, "\\\r\n")
}

func (d *Dashboard) loginPost(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		d.renderLogin(w, r, "登录表单已失效，请重试。", http.StatusForbidden)
		return
	}
	name := strings.ToLower(strings.TrimSpace(r.PostFormValue("username")))
	pw := r.PostFormValue("password")
	ip := realip.ClientIP(r)
	if len(name) > 64 {
		name = name[:64]
	}
	verdict, wait, err := d.Limiter.Attempt(ctx, ip, name)
	if err != nil {
		d.log.Error("login limiter", "err", err)
		d.renderLogin(w, r, "系统暂不可用，请稍后重试。", http.StatusServiceUnavailable)
		return
	}
	mins := int((wait + time.Minute - 1) / time.Minute)
	switch verdict {
	case Locked:
		d.metrics.login("locked")
		_ = d.Audit.Add(ctx, AuditEntry{Kind: AuditLoginFailed, Actor: name, IP: ip, Detail: "locked"})
		d.renderLogin(w, r, fmt.Sprintf("登录失败次数过多，账号已锁定，请 %d 分钟后再试或联系管理员。", mins), http.StatusTooManyRequests)
		return
	case RateLimited:
		d.metrics.login("rate_limited")
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		d.renderLogin(w, r, "尝试过于频繁，请稍后再试。", http.StatusTooManyRequests)
		return
	}
	u, ok, err := d.Accounts.Verify(ctx, name, pw)
	if err != nil {
		d.log.Error("login", "err", err)
		d.renderLogin(w, r, "系统暂不可用，请稍后重试。", http.StatusServiceUnavailable)
		return
	}
	if !ok {
		d.metrics.login("failed")
		detail := ""
		if u == nil {
			detail = "unknown account"
		} else if u.Disabled {
			detail = "disabled"
		}
		_ = d.Audit.Add(ctx, AuditEntry{Kind: AuditLoginFailed, Actor: name, IP: ip, Detail: detail})
		if u != nil {
			if locked, err := d.Limiter.Failed(ctx, name); err == nil && locked {
				_ = d.Audit.Add(ctx, AuditEntry{Kind: AuditLocked, Actor: name, IP: ip,
					Detail: fmt.Sprintf("%d failures, locked %s", d.cfg.LockoutFailures, d.cfg.LockoutDuration)})
			}
		}
		d.renderLogin(w, r, "用户名或密码错误。", http.StatusUnauthorized)
		return
	}
	_ = d.Limiter.Succeeded(ctx, name)
	tok, sess, err := d.Sessions.Create(ctx, u.Name)
	if err != nil {
		d.log.Error("login", "err", err)
		d.renderLogin(w, r, "系统暂不可用，请稍后重试。", http.StatusServiceUnavailable)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: d.cookie, Value: tok, Path: "/", HttpOnly: true, Secure: d.cfg.CookieSecure,
		SameSite: http.SameSiteLaxMode, Expires: sess.ExpiresAt, MaxAge: int(d.cfg.SessionLifetime.Seconds())})
	http.SetCookie(w, &http.Cookie{Name: loginCSRFCookie, Value: "", Path: "/dash/login", MaxAge: -1})
	d.metrics.login("ok")
	_ = d.Audit.Add(ctx, AuditEntry{Kind: AuditLogin, Actor: u.Name, IP: ip})
	d.log.Info("dashboard login", "user", u.Name, "role", u.Role)
	next := r.PostFormValue("next")
	if !localNext(next) {
		next = "/dash/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	_ = d.Sessions.Delete(r.Context(), rc.sess)
	_ = d.Audit.Add(r.Context(), AuditEntry{Kind: AuditLogout, Actor: rc.user.Name, IP: realip.ClientIP(r)})
	http.SetCookie(w, &http.Cookie{Name: d.cookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: d.cfg.CookieSecure})
	http.Redirect(w, r, "/dash/login", http.StatusSeeOther)
}

// dueInfo is the nearest running deadline of a case.
type dueInfo struct {
	Kind     casecore.ClockKind
	Deadline casecore.Deadline
	Has      bool
}

func (d *Dashboard) nearest(c *casecore.Case, now time.Time) dueInfo {
	var best dueInfo
	for k, dl := range d.svc.Deadlines(c, nil, now) {
		if !best.Has || dl.DueAt.Before(best.Deadline.DueAt) || dl.DueAt.Equal(best.Deadline.DueAt) && k < best.Kind {
			best = dueInfo{Kind: k, Deadline: dl, Has: true}
		}
	}
	return best
}

// caseRow is a case in a list.
type caseRow struct {
	*casecore.Case
	Due       dueInfo
	IsOverdue bool
}

func (d *Dashboard) rows(cs []*casecore.Case) []caseRow {
	now := d.svc.Now()
	out := make([]caseRow, len(cs))
	for i, c := range cs {
		out[i] = caseRow{Case: c, Due: d.nearest(c, now), IsOverdue: c.Overdue()}
	}
	// Sorted by due time; cases without a running clock last, newest first.
	slices.SortStableFunc(out, func(a, b caseRow) int {
		switch {
		case a.Due.Has && b.Due.Has:
			return a.Due.Deadline.DueAt.Compare(b.Due.Deadline.DueAt)
		case a.Due.Has:
			return -1
		case b.Due.Has:
			return 1
		}
		return b.UpdatedAt.Compare(a.UpdatedAt)
	})
	return out
}

// unitRow is a line of the overview's per-unit table.
type unitRow struct {
	Unit                            string
	Open, Overdue, DueToday, Due24h int
}

// overviewUrgent is how many of the nearest deadlines the overview lists.
const overviewUrgent = 10

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	// The counts come from the case core's summary (exact, whatever the
	// number of open cases); the list of the nearest deadlines from the
	// cases sorted by due time.
	sum, err := d.svc.Summary(ctx, rc.actor)
	if err != nil {
		d.fail(w, r, rc, err)
		return
	}
	cs, err := d.svc.ListCases(ctx, rc.actor, casecore.CaseQuery{Limit: overviewUrgent})
	if err != nil {
		d.fail(w, r, rc, err)
		return
	}
	byState := map[casecore.State]int{}
	var total, overdue, dueToday, due24h int
	var unitRows []*unitRow
	for _, u := range sum {
		unitRows = append(unitRows, &unitRow{Unit: u.Unit, Open: int(u.Open), Overdue: int(u.Overdue),
			DueToday: int(u.DueToday), Due24h: int(u.Due24h)})
		for st, n := range u.States {
			byState[st] += int(n)
		}
		total += int(u.Open)
		overdue += int(u.Overdue)
		dueToday += int(u.DueToday)
		due24h += int(u.Due24h)
	}
	slices.SortFunc(unitRows, func(a, b *unitRow) int {
		for _, x := range [][2]int{{a.Overdue, b.Overdue}, {a.DueToday, b.DueToday}, {a.Due24h, b.Due24h}, {a.Open, b.Open}} {
			if x[0] != x[1] {
				return x[1] - x[0]
			}
		}
		return strings.Compare(a.Unit, b.Unit)
	})
	var open []casecore.State
	for _, s := range casecore.States {
		if !s.Terminal() {
			open = append(open, s)
		}
	}
	urgent := d.rows(cs)
	data := map[string]any{"Live": true, "Total": total, "ByState": byState,
		"OpenStates": open, "Overdue": overdue, "DueToday": dueToday, "Due24h": due24h, "Units": unitRows, "Urgent": urgent}
	if rc.user.Role != casecore.RoleHandler {
		if n, err := d.svc.CountTextReviews(ctx); err == nil {
			data["Texts"] = n
		}
	}
	d.render(w, r, rc, "overview", "总览", data)
}

// caseFilter is the case list's query.
type caseFilter struct {
	State    string
	Unit     string
	Staff    string
	Channel  string
	Overdue  bool
	From, To string
}

func (d *Dashboard) caseList(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	q := r.URL.Query()
	f := caseFilter{State: q.Get("state"), Unit: q.Get("unit"), Staff: strings.TrimSpace(q.Get("staff")),
		Channel: q.Get("channel"), Overdue: q.Get("overdue") == "1", From: q.Get("from"), To: q.Get("to")}
	cq := casecore.CaseQuery{State: casecore.State(f.State), Overdue: f.Overdue, Limit: 1000}
	if f.State != "" && !cq.State.Valid() {
		d.fail(w, r, rc, &casecore.ValidationError{Field: "state", Message: "not a state"})
		return
	}
	if f.Channel != "" && !casecore.Channel(f.Channel).Valid() {
		d.fail(w, r, rc, &casecore.ValidationError{Field: "channel", Message: "not a channel"})
		return
	}
	if f.Unit != "" {
		cq.Units = []string{f.Unit}
	}
	var from, to casecore.Date
	var err error
	if f.From != "" {
		if from, err = casecore.ParseDate(f.From); err != nil {
			d.fail(w, r, rc, &casecore.ValidationError{Field: "from", Message: "want YYYY-MM-DD"})
			return
		}
	}
	if f.To != "" {
		if to, err = casecore.ParseDate(f.To); err != nil {
			d.fail(w, r, rc, &casecore.ValidationError{Field: "to", Message: "want YYYY-MM-DD"})
			return
		}
	}
	cs, err := d.svc.ListCases(r.Context(), rc.actor, cq)
	if errors.Is(err, casecore.ErrForbidden) {
		err = casecore.ErrNotFound // another unit: as if it did not exist
	}
	if err != nil {
		d.fail(w, r, rc, err)
		return
	}
	out := cs[:0]
	for _, c := range cs {
		day := casecore.DateOf(c.RatedAt)
		if f.Staff != "" && c.StaffID != f.Staff || f.Channel != "" && string(c.Channel) != f.Channel ||
			!from.IsZero() && day.Before(from) || !to.IsZero() && to.Before(day) {
			continue
		}
		out = append(out, c)
	}
	unitChoices := d.units.Units
	if rc.user.Role == casecore.RoleHandler {
		unitChoices = nil
		for _, u := range d.units.Units {
			if rc.actor.CanSeeUnit(u.ID) {
				unitChoices = append(unitChoices, u)
			}
		}
	}
	d.render(w, r, rc, "cases", "案件列表", map[string]any{"Live": true, "Rows": d.rows(out), "F": f, "UnitChoices": unitChoices})
}

// caseData gathers what the case page shows.
func (d *Dashboard) caseData(r *http.Request, rc *reqCtx, id string) (map[string]any, error) {
	ctx := r.Context()
	c, err := d.svc.GetCase(ctx, rc.actor, id)
	if err != nil {
		return nil, err
	}
	rating, err := d.svc.GetRating(ctx, rc.actor, c.RatingID)
	if err != nil && !errors.Is(err, casecore.ErrNotFound) {
		return nil, err
	}
	now := d.svc.Now()
	dls := d.svc.Deadlines(c, rating, now)
	type dlRow struct {
		Kind casecore.ClockKind
		casecore.Deadline
	}
	var rows []dlRow
	for _, k := range casecore.ClockKinds {
		if dl, ok := dls[k]; ok {
			rows = append(rows, dlRow{k, dl})
		}
	}
	hist := slices.Clone(c.History)
	slices.Reverse(hist)
	data := map[string]any{"Case": c, "Rating": rating, "Deadlines": rows, "Actions": casecore.AvailableActions(rc.actor, c),
		"History": hist, "CanReveal": rating != nil && rating.RaterPhone != "" && rc.user.Role != casecore.RoleSupervisor,
		"Live": true, "LiveCase": c.ID}
	if rating != nil {
		data["Phone"] = phone.Mask(rating.RaterPhone)
		data["Name"] = casecore.MaskName(rating.RaterName)
		data["Comment"] = rating.VisibleComment()
		data["CommentHidden"] = rating.Comment != "" && rating.VisibleComment() == ""
	}
	return data, nil
}

func (d *Dashboard) caseDetail(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	data, err := d.caseData(r, rc, r.PathValue("id"))
	if err != nil {
		d.fail(w, r, rc, err)
		return
	}
	d.render(w, r, rc, "case", "案件 "+r.PathValue("id"), data)
}

func (d *Dashboard) caseAct(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	id := r.PathValue("id")
	a := casecore.Action(r.PostFormValue("action"))
	if !contains(casecore.UserActions, a) {
		d.fail(w, r, rc, &casecore.ValidationError{Field: "action", Message: fmt.Sprintf("%q is not an action", a)})
		return
	}
	// Another unit's case is not found, whatever the action (casecore checks
	// the role first and would say forbidden).
	if _, err := d.svc.GetCase(r.Context(), rc.actor, id); err != nil {
		d.fail(w, r, rc, err)
		return
	}
	version, _ := strconv.Atoi(r.PostFormValue("version"))
	in := casecore.ActionInput{Note: r.PostFormValue("note"), Reason: r.PostFormValue("reason"), Version: version}
	c, err := d.svc.Act(r.Context(), rc.actor, id, a, in)
	if err != nil {
		var ve *casecore.ValidationError
		if errors.As(err, &ve) || errors.Is(err, casecore.ErrState) || errors.Is(err, casecore.ErrConflict) {
			// Show the case again with the message, so the note typed is not lost.
			if data, derr := d.caseData(r, rc, id); derr == nil {
				status, msg := errorStatus(err)
				data["Error"], data["Note"], data["ErrAction"] = msg, in.Note, string(a)
				w.WriteHeader(status)
				d.render(w, r, rc, "case", "案件 "+id, data)
				return
			}
		}
		d.fail(w, r, rc, err)
		return
	}
	_ = d.Audit.Add(r.Context(), AuditEntry{Kind: AuditAction, Actor: rc.user.Name, IP: realip.ClientIP(r), Case: c.ID,
		Rating: c.RatingID, Detail: string(a) + " → " + string(c.State)})
	http.Redirect(w, r, "/dash/cases/"+c.ID+"?done="+string(a), http.StatusSeeOther)
}

// caseReveal shows the rater's number once, in this response only, after
// recording who asked, when, for which case and why.
func (d *Dashboard) caseReveal(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	id := r.PathValue("id")
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if extra := strings.TrimSpace(r.PostFormValue("detail")); extra != "" {
		reason = strings.TrimSpace(reason + "：" + extra)
	}
	data, err := d.caseData(r, rc, id)
	if err != nil {
		d.fail(w, r, rc, err)
		return
	}
	if utf8.RuneCountInString(reason) < 2 || utf8.RuneCountInString(reason) > 200 {
		data["RevealError"] = "请选择或填写查看号码的理由。"
		w.WriteHeader(http.StatusBadRequest)
		d.render(w, r, rc, "case", "案件 "+id, data)
		return
	}
	rating, _ := data["Rating"].(*casecore.Rating)
	if rating == nil || rating.RaterPhone == "" {
		d.fail(w, r, rc, casecore.ErrNotFound)
		return
	}
	if err := d.Audit.Add(r.Context(), AuditEntry{Kind: AuditReveal, Actor: rc.user.Name, IP: realip.ClientIP(r), Case: id,
		Rating: rating.ID, Reason: reason}); err != nil {
		d.fail(w, r, rc, fmt.Errorf("audit reveal: %w", err)) // no audit, no number
		return
	}
	d.metrics.reveal()
	d.log.Info("rater number revealed", "case_id", id, "rating_id", rating.ID, "user", rc.user.Name)
	data["Revealed"] = rating.RaterPhone
	data["RevealedName"] = rating.RaterName
	data["Live"] = false // the page must not reload itself with the number on it
	w.Header().Set("Cache-Control", "no-store")
	d.render(w, r, rc, "case", "案件 "+id, data)
}

// queue renders the work queues.
func (d *Dashboard) queue(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	name := r.PathValue("name")
	data := map[string]any{"Live": true, "Queue": name}
	var q casecore.CaseQuery
	var title string
	switch name {
	case "appeals":
		q, title = casecore.CaseQuery{State: casecore.StateAppealed, Limit: 1000}, "申诉审核"
	case "rereview":
		q, title = casecore.CaseQuery{State: casecore.StateRereview, Limit: 1000}, "整改复核"
	case "overdue":
		q, title = casecore.CaseQuery{Overdue: true, Limit: 1000}, "超期督办"
	case "texts":
		if rc.user.Role == casecore.RoleHandler {
			d.fail(w, r, rc, casecore.ErrForbidden)
			return
		}
		rs, _, err := d.svc.PendingTextReviews(ctx, rc.actor, 500)
		if err != nil {
			d.fail(w, r, rc, err)
			return
		}
		now := d.svc.Now()
		type textRow struct {
			*casecore.Rating
			Deadline casecore.Deadline
			HasDue   bool
		}
		var rows []textRow
		for _, x := range rs {
			tr := textRow{Rating: x}
			if dl, ok := d.svc.Deadlines(&casecore.Case{}, x, now)[casecore.ClockTextReview]; ok {
				tr.Deadline, tr.HasDue = dl, true
			}
			rows = append(rows, tr)
		}
		data["Texts"] = rows
		d.render(w, r, rc, "queue", "文本审核", data)
		return
	default:
		d.fail(w, r, rc, casecore.ErrNotFound)
		return
	}
	cs, err := d.svc.ListCases(ctx, rc.actor, q)
	if err != nil {
		d.fail(w, r, rc, err)
		return
	}
	data["Rows"] = d.rows(cs)
	d.render(w, r, rc, "queue", title, data)
}

func (d *Dashboard) textReview(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	id := r.PathValue("id")
	dec := r.PostFormValue("decision")
	if dec != "approve" && dec != "reject" {
		d.fail(w, r, rc, &casecore.ValidationError{Field: "decision", Message: "approve or reject"})
		return
	}
	rating, err := d.svc.ReviewText(r.Context(), rc.actor, id, dec == "approve", strings.TrimSpace(r.PostFormValue("note")))
	if err != nil {
		d.fail(w, r, rc, err)
		return
	}
	_ = d.Audit.Add(r.Context(), AuditEntry{Kind: AuditTextReview, Actor: rc.user.Name, IP: realip.ClientIP(r), Rating: id,
		Case: rating.CaseID, Detail: dec})
	http.Redirect(w, r, "/dash/queues/texts?done="+dec, http.StatusSeeOther)
}

func (d *Dashboard) referrals(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	refs, err := d.svc.Store().Referrals(r.Context(), 500)
	if err != nil {
		d.fail(w, r, rc, err)
		return
	}
	d.render(w, r, rc, "referrals", "作风转办", map[string]any{"Referrals": refs, "StaffName": d.staffName})
}

// staffName is a staff member's name from the unit directory (staff, not raters).
func (d *Dashboard) staffName(unit, staff string) string {
	if u, ok := d.units.Unit(unit); ok {
		for _, s := range u.Staff {
			if s.ID == staff {
				return s.Name
			}
		}
	}
	return ""
}
