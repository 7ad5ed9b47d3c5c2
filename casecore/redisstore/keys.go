package redisstore

import (
	"fmt"
	"strconv"

	"github.com/haochaping/haochaping/casecore"
)

// keys builds every key name of one namespace. The namespace is wrapped in
// braces, the Redis Cluster hash tag, so all keys land in one slot.
type keys struct{ p string }

func newKeys(namespace string) keys { return keys{p: "{" + namespace + "}:"} }

func (k keys) rating(id string) string  { return k.p + "r:" + id }
func (k keys) caseKey(id string) string { return k.p + "c:" + id }

// noRating holds a contact without a rating (N…), kept for SMS invitations.
func (k keys) noRating(id string) string { return k.p + "n:" + id }

// The lookup indexes below are split into hashBuckets small hashes by a
// hash of the field, so each stays a compact listpack (Redis keeps hashes
// of up to 128 short fields that way, at a third of the memory of a big
// hash table). 16,384 buckets hold about two million entries each before
// the buckets grow into ordinary hash tables, which still works, only larger.
const hashBuckets = 1 << 14

// bucket is the FNV-1a hash of field modulo hashBuckets, in hex (FNV-1a
// written out: hash/fnv would allocate on every rating).
func bucket(field string) string {
	h := uint32(2166136261)
	for i := 0; i < len(field); i++ {
		h ^= uint32(field[i])
		h *= 16777619
	}
	return strconv.FormatUint(uint64(h%hashBuckets), 16)
}

// idem maps idempotency key → "ratingID|fingerprint".
func (k keys) idem(key string) string { return k.p + "idem:" + bucket(key) }

// workOrders maps work order ID → comma-separated rating IDs.
func (k keys) workOrders(wo string) string { return k.p + "wo:" + bucket(wo) }

// phones maps normalised phone number → comma-separated rating IDs.
func (k keys) phones(phone string) string { return k.p + "ph:" + bucket(phone) }

// ratingDay lists the IDs of the ratings made on a day, in arrival order.
func (k keys) ratingDay(d casecore.Date) string {
	return string(d.AppendDigits(append([]byte(k.p), "rd:"...), 0))
}

// byUnitState is a sorted set of a unit's cases in a state, scored by their
// sort key (the earliest running due time; the last update when none runs).
// One entry per case keeps the indexes small; lists by state or by unit
// merge a few of these sets.
func (k keys) byUnitState(unit string, s casecore.State) string {
	return k.p + "cs:" + unit + ":" + string(s)
}

// textQueue is a sorted set of the ratings whose comment waits for text
// review (文本审核), scored by the review's due time (else the receipt time).
func (k keys) textQueue() string { return k.p + "tq" }

// caseUnits is the set of units that have cases.
func (k keys) caseUnits() string { return k.p + "cun" }

// overdue is a sorted set of open cases with a clock past due, same score.
func (k keys) overdue() string { return k.p + "co" }

// deadlines is the sorted set of running clocks ("entity|kind"), scored by
// their next fire time in Unix milliseconds.
func (k keys) deadlines() string { return k.p + "dl" }

// provisional is the set of deadline members whose due date is provisional.
func (k keys) provisional() string { return k.p + "prov" }

// stats is a hash of counters of a unit's ratings made on a day.
func (k keys) stats(unit string, d casecore.Date) string {
	b := append(append(append([]byte(k.p), "st:"...), unit...), ':')
	return string(d.AppendDigits(b, 0))
}

// statUnits is the set of units that have counters.
func (k keys) statUnits() string { return k.p + "stu" }

// seq is the rating number counter of a day.
func (k keys) seq(d casecore.Date) string {
	return fmt.Sprintf("%sseq:%04d%02d%02d", k.p, d.Year, d.Month, d.Day)
}

// rules maps rule set ID → JSON.
func (k keys) rules() string { return k.p + "rules" }

// events is the stream every change is appended to.
func (k keys) events() string { return k.p + "events" }

// staffBad is a sorted set of a staff member's confirmed bad ratings, scored by rating time.
func (k keys) staffBad(staff string) string { return k.p + "sb:" + staff }

// referrals is a sorted set of referral IDs by time; referralData maps ID → JSON.
func (k keys) referrals() string    { return k.p + "ref" }
func (k keys) referralData() string { return k.p + "refd" }

// Events returns the name of the event stream of a namespace, for consumers.
func Events(namespace string) string { return newKeys(namespace).events() }
