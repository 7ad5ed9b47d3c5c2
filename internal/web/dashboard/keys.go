package dashboard

// keys builds every Redis key name of the dashboard. They share the case
// core's hash tag ("{ns}:"), so they live in the same Cluster slot.
type keys struct{ p string }

func newKeys(namespace string) keys { return keys{p: "{" + namespace + "}:dash:"} }

// user is a hash of one account; users is the set of account names.
func (k keys) user(name string) string { return k.p + "user:" + name }
func (k keys) users() string           { return k.p + "users" }

// session is a hash of one session, keyed by the SHA-256 of its cookie
// value; userSessions is the set of an account's session keys, so disabling
// the account or resetting its password ends them all.
func (k keys) session(hash string) string      { return k.p + "sess:" + hash }
func (k keys) userSessions(name string) string { return k.p + "usess:" + name }

// rateIP and rateUser count login attempts in the current minute; fails
// counts consecutive failures of an account; lock marks a locked account.
func (k keys) rateIP(ip string) string     { return k.p + "rl:ip:" + ip }
func (k keys) rateUser(name string) string { return k.p + "rl:user:" + name }
func (k keys) fails(name string) string    { return k.p + "fail:" + name }
func (k keys) lock(name string) string     { return k.p + "lock:" + name }

// audit is the stream of audited events (logins, actions, reveals, accounts).
func (k keys) audit() string { return k.p + "audit" }
