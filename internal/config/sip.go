package config

// SIP configures the SIP user agent, RTP media and the IVR flow (issue 3).
type SIP struct{}

func (c *SIP) applyEnv(env func(string) string) {}

func (c *SIP) applyDefaults() {}

func (c *SIP) validate() error { return nil }
