package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidateDashboard(t *testing.T) {
	const user = "  admin_user: root\n  admin_password: long-enough-pass\n"
	runBad(t, []badCase{
		{"admin_user alone", "dashboard: {admin_user: root}\n", nil, []string{"dashboard.admin_user, dashboard.admin_password: give both or neither"}},
		{"admin_password alone", "dashboard: {admin_password: long-enough-pass}\n", nil, []string{"dashboard.admin_user, dashboard.admin_password: give both or neither"}},
		{"admin_user upper case", "dashboard: {admin_user: Admin, admin_password: long-enough-pass}\n", nil, []string{"dashboard.admin_user:", `"Admin"`}},
		{"admin_user system", "dashboard: {admin_user: system, admin_password: long-enough-pass}\n", nil, []string{"dashboard.admin_user:"}},
		{"admin_user one letter", "dashboard: {admin_user: a, admin_password: long-enough-pass}\n", nil, []string{"dashboard.admin_user:"}},
		{"admin_password short", "dashboard: {admin_user: root, admin_password: '123456789'}\n", nil, []string{"dashboard.admin_password:", "10"}},
		{"admin_password short in runes", "dashboard: {admin_user: root, admin_password: 密码密码密码密码密}\n", nil, []string{"dashboard.admin_password:"}},
		{"session_lifetime short", "dashboard:\n" + user + "  session_lifetime: 4m\n", nil, []string{"dashboard.session_lifetime:"}},
		{"session_lifetime long", "dashboard: {session_lifetime: 721h}\n", nil, []string{"dashboard.session_lifetime:"}},
		{"cookie_secure", "dashboard: {cookie_secure: 'yes'}\n", nil, []string{"dashboard.cookie_secure:", `"yes"`}},
		{"login_rate negative", "dashboard: {login_rate: -1}\n", nil, []string{"dashboard.login_rate:"}},
		{"login_rate large", "dashboard: {login_rate: 1001}\n", nil, []string{"dashboard.login_rate:"}},
		{"lockout_failures negative", "dashboard: {lockout_failures: -1}\n", nil, []string{"dashboard.lockout_failures:"}},
		{"lockout_failures large", "dashboard: {lockout_failures: 101}\n", nil, []string{"dashboard.lockout_failures:"}},
		{"lockout_duration short", "dashboard: {lockout_duration: 999ms}\n", nil, []string{"dashboard.lockout_duration:"}},
		{"lockout_duration long", "dashboard: {lockout_duration: 25h}\n", nil, []string{"dashboard.lockout_duration:"}},
		{"audit_max_len", "dashboard: {audit_max_len: 999}\n", nil, []string{"dashboard.audit_max_len:", "999"}},
		{"area_code short", "dashboard: {area_code: '33021'}\n", nil, []string{"dashboard.area_code:"}},
		{"area_code letters", "dashboard: {area_code: '33021x'}\n", nil, []string{"dashboard.area_code:"}},
		{"area_code long", "dashboard: {area_code: '1234567890123'}\n", nil, []string{"dashboard.area_code:"}},
		{"demo_users name", "dashboard:\n  demo_users:\n    - {name: Bad Name, password: long-enough-pass, role: admin}\n", nil, []string{"dashboard.demo_users[0].name:"}},
		{"demo_users second", "dashboard:\n  demo_users:\n    - {name: ok-user, password: long-enough-pass, role: admin}\n    - {name: system, password: long-enough-pass, role: admin}\n", nil, []string{"dashboard.demo_users[1].name:"}},
		{"demo_users password", "dashboard:\n  demo_users:\n    - {name: u1, password: short, role: admin}\n", nil, []string{"dashboard.demo_users[0].password:"}},
		{"demo_users role", "dashboard:\n  demo_users:\n    - {name: u1, password: long-enough-pass, role: intake}\n", nil, []string{"dashboard.demo_users[0].role:", `"intake"`}},
		{"demo_users handler units", "dashboard:\n  demo_users:\n    - {name: u1, password: long-enough-pass, role: handler}\n", nil, []string{"dashboard.demo_users[0].units:"}},
	})
}

func TestValidateDashboardAccepts(t *testing.T) {
	runGood(t, []goodCase{
		{"admin both", "dashboard: {admin_user: ops.admin_1, admin_password: 密码密码密码密码密码}\n", nil, func(t *testing.T, c *Config) {
			if c.Dashboard.AdminUser != "ops.admin_1" {
				t.Errorf("admin_user = %q", c.Dashboard.AdminUser)
			}
		}},
		{"bounds", "dashboard: {session_lifetime: 5m, cookie_secure: 'true', login_rate: 1, lockout_failures: 1, lockout_duration: 1s, audit_max_len: 1000, area_code: '330213'}\n", nil, nil},
		{"other bounds", "dashboard: {session_lifetime: 720h, cookie_secure: 'false', login_rate: 1000, lockout_failures: 100, lockout_duration: 24h, area_code: '330213001001'}\n", nil,
			func(t *testing.T, c *Config) {
				d := c.Dashboard
				if d.SessionLifetime != 720*time.Hour || d.CookieSecure != "false" || d.LoginRate != 1000 || d.AreaCode != "330213001001" {
					t.Errorf("dashboard = %+v", d)
				}
			}},
		{"demo users", "dashboard:\n  demo_users:\n    - {name: h1, password: long-enough-pass, role: handler, units: [fh-g08]}\n    - {name: s1, password: long-enough-pass, role: supervisor}\n    - {name: a1, password: long-enough-pass, role: admin}\n", nil, nil},
	})
}

func TestValidUserName(t *testing.T) {
	for name, want := range map[string]bool{
		"ab":                          true,
		"admin":                       true,
		"ops.admin_1":                 true,
		"0day":                        true,
		"a" + strings.Repeat("b", 31): true,
		"a" + strings.Repeat("b", 32): false,
		"a":                           false,
		"":                            false,
		"system":                      false,
		"Admin":                       false,
		"-admin":                      false,
		".admin":                      false,
		"ad min":                      false,
		"用户":                          false,
	} {
		if got := ValidUserName(name); got != want {
			t.Errorf("ValidUserName(%q) = %t, want %t", name, got, want)
		}
	}
}
