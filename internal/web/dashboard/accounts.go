package dashboard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/haochaping/haochaping/casecore"
	"github.com/haochaping/haochaping/internal/config"
)

// Account errors callers branch on.
var (
	ErrUserExists   = errors.New("account already exists")
	ErrUserNotFound = errors.New("no such account")
)

// User is a staff account.
type User struct {
	Name        string
	DisplayName string
	Role        casecore.Role
	Units       []string
	Disabled    bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
	hash        string
}

// Actor is the casecore actor of the account.
func (u *User) Actor() casecore.Actor {
	return casecore.Actor{ID: u.Name, Role: u.Role, Units: slices.Clone(u.Units)}
}

// Accounts keeps the staff accounts in Redis.
type Accounts struct {
	rdb   redis.UniversalClient
	k     keys
	units map[string]bool // known unit IDs; nil accepts any
	now   func() time.Time
}

// NewAccounts returns the account store of a namespace. units, when not nil,
// are the unit IDs a handler may be assigned.
func NewAccounts(rdb redis.UniversalClient, namespace string, units map[string]bool) *Accounts {
	return &Accounts{rdb: rdb, k: newKeys(namespace), units: units, now: time.Now}
}

// NewUser is what creating an account needs.
type NewUser struct {
	Name        string
	DisplayName string
	Role        casecore.Role
	Units       []string
	Password    string
}

func (a *Accounts) check(role casecore.Role, units []string) error {
	switch role {
	case casecore.RoleAdmin, casecore.RoleSupervisor:
		if len(units) > 0 {
			return &casecore.ValidationError{Field: "units", Message: "only handlers are assigned units"}
		}
	case casecore.RoleHandler:
		if len(units) == 0 {
			return &casecore.ValidationError{Field: "units", Message: "a handler needs at least one unit"}
		}
	default:
		return &casecore.ValidationError{Field: "role", Message: fmt.Sprintf("%q, want admin, handler or supervisor", role)}
	}
	for _, u := range units {
		if a.units != nil && !a.units[u] {
			return &casecore.ValidationError{Field: "units", Message: fmt.Sprintf("%q is not a known unit", u)}
		}
	}
	return nil
}

func checkPassword(pw string) error {
	if len([]rune(pw)) < config.MinPasswordLength {
		return &casecore.ValidationError{Field: "password", Message: fmt.Sprintf("at least %d characters", config.MinPasswordLength)}
	}
	if len(pw) > 256 {
		return &casecore.ValidationError{Field: "password", Message: "at most 256 bytes"}
	}
	return nil
}

// Create adds an account; ErrUserExists if the name is taken.
func (a *Accounts) Create(ctx context.Context, n NewUser) (*User, error) {
	n.Name = strings.TrimSpace(n.Name)
	if !config.ValidUserName(n.Name) {
		return nil, &casecore.ValidationError{Field: "name", Message: "2-32 of a-z 0-9 . _ - (starting with a letter or digit)"}
	}
	n.Units = cleanUnits(n.Units)
	if err := a.check(n.Role, n.Units); err != nil {
		return nil, err
	}
	if err := checkPassword(n.Password); err != nil {
		return nil, err
	}
	if len(n.DisplayName) > 64 {
		return nil, &casecore.ValidationError{Field: "display_name", Message: "at most 64 bytes"}
	}
	h, err := HashPassword(n.Password)
	if err != nil {
		return nil, err
	}
	now := a.now()
	u := &User{Name: n.Name, DisplayName: n.DisplayName, Role: n.Role, Units: n.Units, CreatedAt: now, UpdatedAt: now, hash: h}
	created, err := createScript.Run(ctx, a.rdb, []string{a.k.user(n.Name), a.k.users()}, n.Name, n.DisplayName,
		string(n.Role), strings.Join(n.Units, ","), h, now.UnixMilli()).Int()
	if err != nil {
		return nil, fmt.Errorf("create account: %w", err)
	}
	if created == 0 {
		return nil, ErrUserExists
	}
	return u, nil
}

func cleanUnits(us []string) []string {
	var out []string
	for _, u := range us {
		for _, p := range strings.Split(u, ",") {
			if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// createScript creates an account unless its key exists.
// KEYS: user hash, users set. ARGV: name, display, role, units, hash, now ms.
var createScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'display', ARGV[2], 'role', ARGV[3], 'units', ARGV[4],
  'hash', ARGV[5], 'disabled', '0', 'created', ARGV[6], 'updated', ARGV[6])
redis.call('SADD', KEYS[2], ARGV[1])
return 1`)

// Get returns an account; ErrUserNotFound if there is none.
func (a *Accounts) Get(ctx context.Context, name string) (*User, error) {
	if !config.ValidUserName(name) {
		return nil, ErrUserNotFound
	}
	m, err := a.rdb.HGetAll(ctx, a.k.user(name)).Result()
	if err != nil {
		return nil, fmt.Errorf("get account: %w", err)
	}
	if m["role"] == "" {
		return nil, ErrUserNotFound
	}
	u := &User{Name: name, DisplayName: m["display"], Role: casecore.Role(m["role"]), Disabled: m["disabled"] == "1", hash: m["hash"]}
	if m["units"] != "" {
		u.Units = strings.Split(m["units"], ",")
	}
	u.CreatedAt = msTime(m["created"])
	u.UpdatedAt = msTime(m["updated"])
	return u, nil
}

// List returns every account, sorted by name.
func (a *Accounts) List(ctx context.Context) ([]*User, error) {
	names, err := a.rdb.SMembers(ctx, a.k.users()).Result()
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var out []*User
	for _, n := range names {
		u, err := a.Get(ctx, n)
		if errors.Is(err, ErrUserNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// Count returns the number of accounts.
func (a *Accounts) Count(ctx context.Context) (int64, error) {
	return a.rdb.SCard(ctx, a.k.users()).Result()
}

// Verify checks a name and password; it returns the account when they match
// and the account is enabled. It takes the same time for unknown names.
func (a *Accounts) Verify(ctx context.Context, name, pw string) (*User, bool, error) {
	u, err := a.Get(ctx, name)
	if errors.Is(err, ErrUserNotFound) {
		_, _ = CheckPassword(dummyHash, pw)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	ok, err := CheckPassword(u.hash, pw)
	if err != nil {
		return nil, false, fmt.Errorf("account %s: %w", name, err)
	}
	if !ok || u.Disabled {
		return u, false, nil
	}
	return u, true, nil
}

func (a *Accounts) update(ctx context.Context, name string, fields ...any) error {
	n, err := a.rdb.Exists(ctx, a.k.user(name)).Result()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrUserNotFound
	}
	fields = append(fields, "updated", a.now().UnixMilli())
	return a.rdb.HSet(ctx, a.k.user(name), fields...).Err()
}

// SetPassword replaces an account's password and ends its sessions.
func (a *Accounts) SetPassword(ctx context.Context, name, pw string) error {
	if err := checkPassword(pw); err != nil {
		return err
	}
	h, err := HashPassword(pw)
	if err != nil {
		return err
	}
	if err := a.update(ctx, name, "hash", h); err != nil {
		return err
	}
	return a.endSessions(ctx, name)
}

// SetDisabled disables (ending its sessions) or enables an account.
func (a *Accounts) SetDisabled(ctx context.Context, name string, disabled bool) error {
	v := "0"
	if disabled {
		v = "1"
	}
	if err := a.update(ctx, name, "disabled", v); err != nil {
		return err
	}
	if disabled {
		return a.endSessions(ctx, name)
	}
	return nil
}

// SetRole changes an account's role and units.
func (a *Accounts) SetRole(ctx context.Context, name string, role casecore.Role, units []string) error {
	units = cleanUnits(units)
	if err := a.check(role, units); err != nil {
		return err
	}
	return a.update(ctx, name, "role", string(role), "units", strings.Join(units, ","))
}

func (a *Accounts) endSessions(ctx context.Context, name string) error {
	ks, err := a.rdb.SMembers(ctx, a.k.userSessions(name)).Result()
	if err != nil {
		return err
	}
	pipe := a.rdb.TxPipeline()
	for _, k := range ks {
		pipe.Del(ctx, k)
	}
	pipe.Del(ctx, a.k.userSessions(name))
	_, err = pipe.Exec(ctx)
	return err
}

// Ensure creates an account unless one of that name exists; it reports
// whether it created one. Used for the first administrator and demo accounts.
func (a *Accounts) Ensure(ctx context.Context, n NewUser) (bool, error) {
	_, err := a.Create(ctx, n)
	if errors.Is(err, ErrUserExists) {
		return false, nil
	}
	return err == nil, err
}

func msTime(s string) time.Time {
	var ms int64
	if _, err := fmt.Sscan(s, &ms); err != nil || ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
