package config

// Dashboard configures the staff dashboard and accounts (issue 5).
type Dashboard struct{}

func (c *Dashboard) applyEnv(env func(string) string) {}

func (c *Dashboard) applyDefaults() {}

func (c *Dashboard) validate() error { return nil }
