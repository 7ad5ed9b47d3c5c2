package config

// SMS configures the SMS invitations, replies, rating page and gateways (issue 4).
type SMS struct{}

func (c *SMS) applyEnv(env func(string) string) {}

func (c *SMS) applyDefaults() {}

func (c *SMS) validate() error { return nil }
