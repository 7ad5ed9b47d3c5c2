package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/casecore/redisstore"
	"github.com/haochaping/haochaping/internal/web/dashboard"
	"github.com/haochaping/haochaping/ivr"
)

// dashSources holds, per app, the sources of the dashboard's operations
// view that the SIP and SMS wiring set (buildSIP and buildSMS run before
// buildDashboard). Either may stay unset: the view then says "not configured".
var dashSources sync.Map // *app → *dashSourceSet

type dashSourceSet struct {
	calls  dashboard.CallsSource
	outbox dashboard.OutboxSource
}

func dashSourcesOf(a *app) *dashSourceSet {
	v, _ := dashSources.LoadOrStore(a, &dashSourceSet{})
	return v.(*dashSourceSet)
}

// setDashboardCalls gives the operations view the rating calls in progress;
// buildSIP calls it with ivrCalls{flow}.
func setDashboardCalls(a *app, c dashboard.CallsSource) { dashSourcesOf(a).calls = c }

// setDashboardOutbox gives the operations view the SMS outbox; buildSMS
// calls it with a value that counts the outbox by state and names the
// gateway's state.
func setDashboardOutbox(a *app, o dashboard.OutboxSource) { dashSourcesOf(a).outbox = o }

// ivrCalls adapts the IVR flow's snapshot to the operations view.
type ivrCalls struct{ flow *ivr.Flow }

func (c ivrCalls) Snapshot() []dashboard.CallStatus {
	calls := c.flow.Snapshot()
	out := make([]dashboard.CallStatus, len(calls))
	for i, x := range calls {
		out[i] = dashboard.CallStatus{ID: x.CallID, Flow: string(x.Kind), Step: string(x.State), Since: x.StartedAt}
	}
	return out
}

// buildDashboard wires the staff dashboard and accounts (issue 5) into the app.
func buildDashboard(ctx context.Context, a *app) error {
	p := dashboard.Params{Service: a.svc, Units: a.units, Redis: a.rdb, Namespace: a.cfg.Redis.Namespace,
		Stream: redisstore.Events(a.cfg.Redis.Namespace), Logger: a.log.With("part", "dashboard"),
		Registry: a.reg, Gatherer: a.reg}
	if v, ok := dashSources.LoadAndDelete(a); ok {
		src := v.(*dashSourceSet)
		p.Calls, p.Outbox = src.calls, src.outbox
	}
	d, err := dashboard.New(p, dashboard.ConfigFrom(a.cfg))
	if err != nil {
		return err
	}
	if err := ensureAccounts(ctx, a, d.Accounts); err != nil {
		return err
	}
	a.web.Handle("/dash/", d)
	a.web.Handle("/dash", d)
	a.web.Handle("GET /{$}", http.RedirectHandler("/dash/", http.StatusFound))
	a.front = append(a.front, part{name: "dashboard", run: d.Run})
	return nil
}

// ensureAccounts creates the first administrator (dashboard.admin_user /
// HAOCHAPING_ADMIN_USER) and the demo accounts when missing; it never
// changes an existing account.
func ensureAccounts(ctx context.Context, a *app, acc *dashboard.Accounts) error {
	dc := a.cfg.Dashboard
	if dc.AdminUser != "" {
		created, err := acc.Ensure(ctx, dashboard.NewUser{Name: dc.AdminUser, DisplayName: "管理员", Role: casecore.RoleAdmin,
			Password: dc.AdminPassword})
		if err != nil {
			return fmt.Errorf("dashboard.admin_user: %w", err)
		}
		if created {
			a.log.Info("dashboard: first administrator created", "user", dc.AdminUser)
		}
	}
	for i, u := range dc.DemoUsers {
		created, err := acc.Ensure(ctx, dashboard.NewUser{Name: u.Name, Role: casecore.Role(u.Role), Units: u.Units, Password: u.Password})
		if err != nil {
			return fmt.Errorf("dashboard.demo_users[%d]: %w", i, err)
		}
		if created {
			a.log.Warn("dashboard: demo account created (development only)", "user", u.Name, "role", u.Role)
		}
	}
	if n, err := acc.Count(ctx); err == nil && n == 0 {
		a.log.Warn("dashboard: no accounts; set HAOCHAPING_ADMIN_USER and HAOCHAPING_ADMIN_PASSWORD or run `haochaping user add -role admin NAME`")
	}
	return nil
}
