package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/casecore/redisstore"
	"github.com/haochaping/haochaping/internal/web/dashboard"
)

// Sources of the dashboard's operations view, set by the SIP and SMS wiring
// (buildSIP, buildSMS run before buildDashboard). Either may stay nil: the
// view then says "not configured".
var (
	dashboardCalls  func(a *app) dashboard.CallsSource
	dashboardOutbox func(a *app) dashboard.OutboxSource
)

// buildDashboard wires the staff dashboard and accounts (issue 5) into the app.
func buildDashboard(ctx context.Context, a *app) error {
	p := dashboard.Params{Service: a.svc, Units: a.units, Redis: a.rdb, Namespace: a.cfg.Redis.Namespace,
		Stream: redisstore.Events(a.cfg.Redis.Namespace), Logger: a.log.With("part", "dashboard"),
		Registry: a.reg, Gatherer: a.reg}
	if dashboardCalls != nil {
		p.Calls = dashboardCalls(a)
	}
	if dashboardOutbox != nil {
		p.Outbox = dashboardOutbox(a)
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
