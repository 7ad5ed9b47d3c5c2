package casecore

import (
	"cmp"
	"fmt"
	"strconv"
	"time"

	// The binary carries its own zone database so that deadlines do not depend
	// on the host having tzdata installed (scratch and distroless images do not).
	_ "time/tzdata"
)

// Shanghai is the zone every deadline is counted in (民法典 Art. 203: a
// deadline ends at 24:00 of its last day, local time). China has had no
// daylight saving time since 1991, so the fixed +08:00 fallback is exact for
// every date the system handles.
var Shanghai = loadShanghai()

func loadShanghai() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}

// Date is a civil date in Asia/Shanghai, with no time of day and no zone.
// The zero Date means "no date". Compare Dates with Before, After or ==
// (Dates built by ParseDate, DateOf and AddDays are normalized).
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate parses s as "YYYY-MM-DD" and rejects dates that do not exist
// (2026-02-30).
func ParseDate(s string) (Date, error) {
	bad := func(why string) (Date, error) {
		return Date{}, fmt.Errorf("parse date %q: %s", s, why)
	}
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return bad("want YYYY-MM-DD")
	}
	num := func(p string) (int, bool) {
		n := 0
		for i := 0; i < len(p); i++ {
			c := p[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok1 := num(s[0:4])
	m, ok2 := num(s[5:7])
	d, ok3 := num(s[8:10])
	if !ok1 || !ok2 || !ok3 {
		return bad("want YYYY-MM-DD")
	}
	if m < 1 || m > 12 {
		return bad(fmt.Sprintf("month %d out of range", m))
	}
	if d < 1 || d > daysInMonth(y, time.Month(m)) {
		return bad(fmt.Sprintf("day %d out of range for %04d-%02d", d, y, m))
	}
	return Date{Year: y, Month: time.Month(m), Day: d}, nil
}

// DateOf returns the date of the instant t in Asia/Shanghai.
func DateOf(t time.Time) Date {
	y, m, d := t.In(Shanghai).Date()
	return Date{Year: y, Month: m, Day: d}
}

// String formats d as "YYYY-MM-DD".
func (d Date) String() string {
	return string(d.AppendDigits(nil, '-'))
}

// AppendDigits appends d as YYYY<sep>MM<sep>DD (sep 0: YYYYMMDD) to b,
// without fmt: dates are in every key and ID on the busiest path.
func (d Date) AppendDigits(b []byte, sep byte) []byte {
	b = appendPadded(b, d.Year, 4)
	if sep != 0 {
		b = append(b, sep)
	}
	b = appendPadded(b, int(d.Month), 2)
	if sep != 0 {
		b = append(b, sep)
	}
	return appendPadded(b, d.Day, 2)
}

// appendPadded appends n (not negative) in decimal, zero-padded to width digits.
func appendPadded(b []byte, n, width int) []byte {
	var buf [20]byte
	d := strconv.AppendInt(buf[:0], int64(n), 10)
	for i := len(d); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, d...)
}

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// AddDays returns the date n calendar days after d (before it if n < 0).
func (d Date) AddDays(n int) Date { return dateOfDays(d.days() + n) }

// Sub returns the number of calendar days from o to d (d - o).
func (d Date) Sub(o Date) int { return d.days() - o.days() }

// Compare returns -1, 0 or +1 as d is before, equal to or after o.
func (d Date) Compare(o Date) int {
	switch {
	case d.Year != o.Year:
		return cmp.Compare(d.Year, o.Year)
	case d.Month != o.Month:
		return cmp.Compare(int(d.Month), int(o.Month))
	default:
		return cmp.Compare(d.Day, o.Day)
	}
}

// Before reports whether d is before o.
func (d Date) Before(o Date) bool { return d.Compare(o) < 0 }

// After reports whether d is after o.
func (d Date) After(o Date) bool { return d.Compare(o) > 0 }

// Weekday returns the day of the week of d.
func (d Date) Weekday() time.Weekday { return weekdayOfDays(d.days()) }

// Start returns 00:00 of d in Asia/Shanghai.
func (d Date) Start() time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, Shanghai)
}

// End returns 24:00 of d in Asia/Shanghai, that is 00:00 of the next day: the
// instant a deadline whose last day is d expires (民法典 Art. 203). A due_at
// stored as End() is exclusive: an act at any instant before it is on time.
func (d Date) End() time.Time { return d.AddDays(1).Start() }

// MarshalText formats d as "YYYY-MM-DD", and the zero Date as "".
func (d Date) MarshalText() ([]byte, error) {
	if d.IsZero() {
		return []byte{}, nil
	}
	return []byte(d.String()), nil
}

// UnmarshalText parses "YYYY-MM-DD"; "" gives the zero Date.
func (d *Date) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// days returns the number of days from 1970-01-01 to d. Out-of-range months
// and days are normalized the way time.Date does (2026-02-30 is 2026-03-02).
// It is plain integer arithmetic (H. Hinnant's days_from_civil) because it
// sits on the hot path of every deadline computation.
func (d Date) days() int {
	y := d.Year
	m0 := int(d.Month) - 1
	y += dateFloorDiv(m0, 12)
	m := dateFloorMod(m0, 12) + 1 // 1..12
	if m <= 2 {
		y--
	}
	era := dateFloorDiv(y, 400)
	yoe := y - era*400                     // [0, 399]
	mp := (m + 9) % 12                     // March = 0
	doy := (153*mp+2)/5 + d.Day - 1        // day of the year starting in March
	doe := yoe*365 + yoe/4 - yoe/100 + doy // day of the 400-year era
	return era*146097 + doe - 719468
}

// dateOfDays is the inverse of Date.days (H. Hinnant's civil_from_days).
func dateOfDays(z int) Date {
	z += 719468
	era := dateFloorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return Date{Year: y, Month: time.Month(m), Day: day}
}

// weekdayOfDays returns the weekday of the day z days after 1970-01-01, a Thursday.
func weekdayOfDays(z int) time.Weekday {
	return time.Weekday(dateFloorMod(z+4, 7))
}

func daysInMonth(y int, m time.Month) int {
	switch m {
	case time.February:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	default:
		return 31
	}
}

// dateFloorDiv divides rounding toward minus infinity, for day numbers
// before 1970.
func dateFloorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// dateFloorMod is the remainder matching dateFloorDiv, in [0, b) for b > 0.
func dateFloorMod(a, b int) int { return a - dateFloorDiv(a, b)*b }
