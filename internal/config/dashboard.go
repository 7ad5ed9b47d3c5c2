package config

import (
	"fmt"
	"regexp"
	"time"
)

// Defaults of Dashboard, applied by (*Dashboard).applyDefaults.
const (
	DefaultSessionLifetime = 12 * time.Hour
	DefaultCookieSecure    = "auto"
	DefaultLoginRate       = 10 // attempts per minute, per IP and per account
	DefaultLockoutFailures = 5
	DefaultLockoutDuration = 15 * time.Minute
	DefaultAuditMaxLen     = 100_000
	DefaultAreaCode        = "330213" // 宁波市奉化区
	MinPasswordLength      = 10
)

// Dashboard configures the staff dashboard and its accounts (issue 5).
type Dashboard struct {
	// AdminUser and AdminPassword create the first administrator at start
	// when no account of that name exists (HAOCHAPING_ADMIN_USER,
	// HAOCHAPING_ADMIN_PASSWORD). An existing account is never changed.
	AdminUser     string `yaml:"admin_user"`
	AdminPassword string `yaml:"admin_password"`
	// SessionLifetime is how long a login lasts.
	SessionLifetime time.Duration `yaml:"session_lifetime"`
	// CookieSecure is auto (Secure when http.public_url is https), true or false.
	CookieSecure string `yaml:"cookie_secure"`
	// LoginRate bounds login attempts per minute from one IP and for one account.
	LoginRate int `yaml:"login_rate"`
	// LockoutFailures failed logins in a row lock the account for LockoutDuration.
	LockoutFailures int           `yaml:"lockout_failures"`
	LockoutDuration time.Duration `yaml:"lockout_duration"`
	// AuditMaxLen caps the audit log (logins, actions, reveals).
	AuditMaxLen int64 `yaml:"audit_max_len"`
	// AreaCode is the 行政区划 code in the GB/T 39046 ratings export.
	AreaCode string `yaml:"area_code"`
	// Demo accounts (development only): created at start when missing.
	DemoUsers []DemoUser `yaml:"demo_users"`
}

// DemoUser is an account created at start when missing (development).
type DemoUser struct {
	Name     string   `yaml:"name"`
	Password string   `yaml:"password"`
	Role     string   `yaml:"role"`
	Units    []string `yaml:"units"`
}

var userNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,31}$`)

// ValidUserName reports whether n is an acceptable account name.
func ValidUserName(n string) bool { return userNamePattern.MatchString(n) && n != "system" }

func (c *Dashboard) applyEnv(env func(string) string) {
	if v := env("HAOCHAPING_ADMIN_USER"); v != "" {
		c.AdminUser = v
	}
	if v := env("HAOCHAPING_ADMIN_PASSWORD"); v != "" {
		c.AdminPassword = v
	}
}

func (c *Dashboard) applyDefaults() {
	if c.SessionLifetime == 0 {
		c.SessionLifetime = DefaultSessionLifetime
	}
	if c.CookieSecure == "" {
		c.CookieSecure = DefaultCookieSecure
	}
	if c.LoginRate == 0 {
		c.LoginRate = DefaultLoginRate
	}
	if c.LockoutFailures == 0 {
		c.LockoutFailures = DefaultLockoutFailures
	}
	if c.LockoutDuration == 0 {
		c.LockoutDuration = DefaultLockoutDuration
	}
	if c.AuditMaxLen == 0 {
		c.AuditMaxLen = DefaultAuditMaxLen
	}
	if c.AreaCode == "" {
		c.AreaCode = DefaultAreaCode
	}
}

func (c *Dashboard) validate() error {
	if (c.AdminUser == "") != (c.AdminPassword == "") {
		return fmt.Errorf("dashboard.admin_user, dashboard.admin_password: give both or neither (HAOCHAPING_ADMIN_USER, HAOCHAPING_ADMIN_PASSWORD)")
	}
	if c.AdminUser != "" && !ValidUserName(c.AdminUser) {
		return fmt.Errorf("dashboard.admin_user: %q, want 2-32 of a-z 0-9 . _ - (not \"system\")", c.AdminUser)
	}
	if c.AdminPassword != "" && len([]rune(c.AdminPassword)) < MinPasswordLength {
		return fmt.Errorf("dashboard.admin_password: shorter than %d characters", MinPasswordLength)
	}
	if c.SessionLifetime < 5*time.Minute || c.SessionLifetime > 30*24*time.Hour {
		return fmt.Errorf("dashboard.session_lifetime: %s out of range 5m..720h", c.SessionLifetime)
	}
	switch c.CookieSecure {
	case "auto", "true", "false":
	default:
		return fmt.Errorf("dashboard.cookie_secure: %q, want auto, true or false", c.CookieSecure)
	}
	if c.LoginRate < 1 || c.LoginRate > 1000 {
		return fmt.Errorf("dashboard.login_rate: %d out of range 1..1000", c.LoginRate)
	}
	if c.LockoutFailures < 1 || c.LockoutFailures > 100 {
		return fmt.Errorf("dashboard.lockout_failures: %d out of range 1..100", c.LockoutFailures)
	}
	if c.LockoutDuration < time.Second || c.LockoutDuration > 24*time.Hour {
		return fmt.Errorf("dashboard.lockout_duration: %s out of range 1s..24h", c.LockoutDuration)
	}
	if c.AuditMaxLen < 1000 {
		return fmt.Errorf("dashboard.audit_max_len: %d, want at least 1000", c.AuditMaxLen)
	}
	if !regexp.MustCompile(`^[0-9]{6,12}$`).MatchString(c.AreaCode) {
		return fmt.Errorf("dashboard.area_code: %q, want the 6-12 digit 行政区划 code", c.AreaCode)
	}
	for i, u := range c.DemoUsers {
		where := fmt.Sprintf("dashboard.demo_users[%d]", i)
		if !ValidUserName(u.Name) {
			return fmt.Errorf("%s.name: %q is not a valid account name", where, u.Name)
		}
		if len([]rune(u.Password)) < MinPasswordLength {
			return fmt.Errorf("%s.password: shorter than %d characters", where, MinPasswordLength)
		}
		switch u.Role {
		case "admin", "supervisor":
		case "handler":
			if len(u.Units) == 0 {
				return fmt.Errorf("%s.units: a handler needs at least one unit", where)
			}
		default:
			return fmt.Errorf("%s.role: %q, want admin, handler or supervisor", where, u.Role)
		}
	}
	return nil
}
