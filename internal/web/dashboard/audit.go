package dashboard

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Audit kinds.
const (
	AuditLogin       = "login"
	AuditLoginFailed = "login_failed"
	AuditLocked      = "locked"
	AuditLogout      = "logout"
	AuditAction      = "action"
	AuditTextReview  = "text_review"
	AuditReveal      = "reveal"
	AuditUser        = "user"
	AuditExport      = "export"
)

// AuditEntry is one audited event. It never holds a phone number or name of
// a rater: a reveal records which case and rating, and why.
type AuditEntry struct {
	ID     string
	At     time.Time
	Kind   string
	Actor  string
	IP     string
	Case   string
	Rating string
	Detail string // action name, account changed, ...
	Reason string
}

// AuditLog is an append-only Redis stream, capped at about MaxLen entries.
type AuditLog struct {
	rdb    redis.UniversalClient
	k      keys
	maxLen int64
	now    func() time.Time
}

// NewAuditLog returns the audit log of a namespace.
func NewAuditLog(rdb redis.UniversalClient, namespace string, maxLen int64) *AuditLog {
	return &AuditLog{rdb: rdb, k: newKeys(namespace), maxLen: maxLen, now: time.Now}
}

// Add appends an entry.
func (l *AuditLog) Add(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = l.now()
	}
	vals := []any{"kind", e.Kind, "actor", e.Actor, "at", strconv.FormatInt(e.At.UnixMilli(), 10)}
	for _, f := range []struct{ k, v string }{{"ip", e.IP}, {"case", e.Case}, {"rating", e.Rating}, {"detail", e.Detail}, {"reason", e.Reason}} {
		if f.v != "" {
			vals = append(vals, f.k, f.v)
		}
	}
	return l.rdb.XAdd(ctx, &redis.XAddArgs{Stream: l.k.audit(), MaxLen: l.maxLen, Approx: true, Values: vals}).Err()
}

// List returns the newest entries first, up to limit, of a kind (all if empty).
func (l *AuditLog) List(ctx context.Context, kind string, limit int) ([]AuditEntry, error) {
	var out []AuditEntry
	end := "+"
	for len(out) < limit {
		xs, err := l.rdb.XRevRangeN(ctx, l.k.audit(), end, "-", 500).Result()
		if err != nil {
			return nil, err
		}
		for _, x := range xs {
			e := AuditEntry{ID: x.ID, Kind: str(x.Values["kind"]), Actor: str(x.Values["actor"]), IP: str(x.Values["ip"]),
				Case: str(x.Values["case"]), Rating: str(x.Values["rating"]), Detail: str(x.Values["detail"]), Reason: str(x.Values["reason"]),
				At: msTime(str(x.Values["at"]))}
			if kind == "" || e.Kind == kind {
				out = append(out, e)
				if len(out) == limit {
					break
				}
			}
		}
		if len(xs) < 500 {
			break
		}
		end = "(" + xs[len(xs)-1].ID
	}
	return out, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
