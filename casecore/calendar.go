package casecore

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/haochaping/haochaping/configs"
)

// Calendar is the Chinese working-day calendar: weekends, statutory holidays
// and make-up working days (调休), from the holiday-cn data (one YEAR.json per
// year, listing only the exception days).
//
// Counting follows 民法典 Art. 201–203: the day of the starting event does not
// count, and a deadline ends at 24:00 of its last day (Date.End).
//
// A year is announced when its file lists at least one day of that year. A
// year without a file, or whose file lists none (the State Council publishes
// the next year's holidays each November), is not announced: its days are
// taken as Mon–Fri working days, and a deadline counted through it is
// provisional, to be recomputed when the data arrives (compare Version).
//
// A Calendar is immutable after loading and safe for concurrent use.
type Calendar struct {
	// first is the day number (days since 1970-01-01) of work[0]. The table
	// spans whole years, from the first to the last year the data touches.
	first int
	// work[i] reports whether day first+i is a working day.
	work []bool
	// cum[i] is the number of working days in work[:i]; len(cum) = len(work)+1.
	cum []int32

	// firstYear is the year of announced[0]; announced[i] tells whether
	// year firstYear+i is announced.
	firstYear int
	announced []bool
	years     []int // years with a file, sorted

	version string
}

// calendarFile is one holiday-cn YEAR.json. Fields we do not use ($schema,
// papers) are ignored.
type calendarFile struct {
	Year *int `json:"year"`
	Days []struct {
		Name     string `json:"name"`
		Date     string `json:"date"`
		IsOffDay *bool  `json:"isOffDay"`
	} `json:"days"`
}

// calendarException is one listed day and the file that listed it.
type calendarException struct {
	off  bool
	file string
}

// DefaultCalendar returns the calendar embedded in the binary
// (configs/calendar). It is loaded once; the result is shared, which is safe
// because a Calendar is immutable.
func DefaultCalendar() (*Calendar, error) { return defaultCalendar() }

var defaultCalendar = sync.OnceValues(func() (*Calendar, error) {
	sub, err := fs.Sub(configs.Calendar, "calendar")
	if err != nil {
		return nil, fmt.Errorf("load embedded calendar: %w", err)
	}
	c, err := LoadCalendar(sub)
	if err != nil {
		return nil, fmt.Errorf("load embedded calendar: %w", err)
	}
	return c, nil
})

// LoadCalendarDir loads the YEAR.json files in dir, a deployment's override of
// the embedded calendar.
func LoadCalendarDir(dir string) (*Calendar, error) {
	c, err := LoadCalendar(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("calendar dir %s: %w", dir, err)
	}
	return c, nil
}

// LoadCalendar loads every *.json file at the root of fsys. Each must be named
// YEAR.json, hold that year in its "year" field, and list days dated within a
// year of it (holiday-cn files list the days of the neighbouring year that a
// holiday spills into; each day is attributed to the year of its own date).
// The same date listed twice with different isOffDay is an error.
func LoadCalendar(fsys fs.FS) (*Calendar, error) {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, fmt.Errorf("load calendar: %w", err)
	}
	if len(names) == 0 {
		return nil, errors.New("load calendar: no YEAR.json files")
	}
	slices.Sort(names)

	exceptions := make(map[Date]calendarException)
	announced := make(map[int]bool)
	var years []int
	for _, name := range names {
		year, err := strconv.Atoi(name[:len(name)-len(".json")])
		if err != nil || len(name) != len("2006.json") || name[0] < '0' || name[0] > '9' {
			return nil, fmt.Errorf("load calendar: %s: file name must be YEAR.json", name)
		}
		own, err := loadCalendarFile(fsys, name, year, exceptions)
		if err != nil {
			return nil, fmt.Errorf("load calendar: %w", err)
		}
		years = append(years, year)
		announced[year] = own
	}
	return newCalendar(years, announced, exceptions), nil
}

// loadCalendarFile adds the days listed in name to exceptions and reports
// whether the file lists any day of its own year.
func loadCalendarFile(fsys fs.FS, name string, year int, exceptions map[Date]calendarException) (own bool, err error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return false, err
	}
	var f calendarFile
	if err := json.Unmarshal(b, &f); err != nil {
		return false, fmt.Errorf("%s: %w", name, err)
	}
	if f.Year == nil {
		return false, fmt.Errorf("%s: missing \"year\"", name)
	}
	if *f.Year != year {
		return false, fmt.Errorf("%s: \"year\" is %d, want %d as in the file name", name, *f.Year, year)
	}
	for i, day := range f.Days {
		d, err := ParseDate(day.Date)
		if err != nil {
			return false, fmt.Errorf("%s: days[%d] (%s): %w", name, i, day.Name, err)
		}
		if d.Year < year-1 || d.Year > year+1 {
			return false, fmt.Errorf("%s: days[%d] (%s): date %s is not within a year of %d", name, i, day.Name, d, year)
		}
		if day.IsOffDay == nil {
			return false, fmt.Errorf("%s: days[%d] (%s %s): missing \"isOffDay\"", name, i, day.Name, d)
		}
		if prev, ok := exceptions[d]; ok && prev.off != *day.IsOffDay {
			return false, fmt.Errorf("%s: days[%d] (%s %s): isOffDay %t contradicts %s", name, i, day.Name, d, *day.IsOffDay, prev.file)
		}
		exceptions[d] = calendarException{off: *day.IsOffDay, file: name}
		if d.Year == year {
			own = true
		}
	}
	return own, nil
}

func newCalendar(years []int, announced map[int]bool, exceptions map[Date]calendarException) *Calendar {
	lo, hi := years[0], years[len(years)-1]
	for d := range exceptions {
		lo, hi = min(lo, d.Year), max(hi, d.Year)
	}
	c := &Calendar{
		first:     Date{Year: lo, Month: time.January, Day: 1}.days(),
		firstYear: years[0],
		announced: make([]bool, years[len(years)-1]-years[0]+1),
		years:     years,
	}
	for y, ok := range announced {
		c.announced[y-c.firstYear] = ok
	}
	n := Date{Year: hi + 1, Month: time.January, Day: 1}.days() - c.first
	c.work = make([]bool, n)
	c.cum = make([]int32, n+1)
	for i := range c.work {
		wd := weekdayOfDays(c.first + i)
		c.work[i] = wd != time.Saturday && wd != time.Sunday
	}
	dates := make([]Date, 0, len(exceptions))
	for d, e := range exceptions {
		c.work[d.days()-c.first] = !e.off
		dates = append(dates, d)
	}
	for i, w := range c.work {
		c.cum[i+1] = c.cum[i]
		if w {
			c.cum[i+1]++
		}
	}

	// The version hashes what the data means, not how the files are written,
	// so renaming a holiday or reformatting a file does not change it.
	slices.SortFunc(dates, Date.Compare)
	h := sha256.New()
	for _, y := range years {
		fmt.Fprintf(h, "year %d announced %t\n", y, announced[y])
	}
	for _, d := range dates {
		fmt.Fprintf(h, "%s off %t\n", d, exceptions[d].off)
	}
	c.version = hex.EncodeToString(h.Sum(nil))[:16]
	return c
}

// Version returns a short hash of the loaded data. It changes when a working
// day, an off day or an announced year changes, so a caller that stored the
// version with a provisional deadline can tell when to recompute it.
func (c *Calendar) Version() string { return c.version }

// Years returns the years that have a file, sorted. Use Announced to tell
// which of them are announced.
func (c *Calendar) Years() []int { return slices.Clone(c.years) }

// Announced reports whether the holidays of year are known.
func (c *Calendar) Announced(year int) bool {
	i := year - c.firstYear
	return i >= 0 && i < len(c.announced) && c.announced[i]
}

// IsWorkingDay reports whether d is a working day: Monday to Friday unless a
// holiday, or a make-up working day on a weekend. Days of unannounced years
// follow Mon–Fri, except days the neighbouring year's file lists.
func (c *Calendar) IsWorkingDay(d Date) bool { return c.isWorking(d.days()) }

func (c *Calendar) isWorking(z int) bool {
	if i := z - c.first; uint(i) < uint(len(c.work)) {
		return c.work[i]
	}
	wd := weekdayOfDays(z)
	return wd != time.Saturday && wd != time.Sunday
}

// AddWorkingDays returns the n-th working day after from: the last day of a
// deadline of n working days starting with an event on from (the day of the
// event does not count). n == 0 gives from. The deadline is provisional when a
// day it counts through, from the day after from to due, lies in a year that
// is not announced. AddWorkingDays panics if n < 0.
func (c *Calendar) AddWorkingDays(from Date, n int) (due Date, provisional bool) {
	if n < 0 {
		panic(fmt.Sprintf("casecore: AddWorkingDays with negative n %d", n))
	}
	start := from.days()
	z := start
	for k := n; k > 0; {
		z++
		if c.isWorking(z) {
			k--
		}
	}
	if n == 0 {
		return dateOfDays(z), false
	}
	due = dateOfDays(z)
	for y := dateOfDays(start + 1).Year; y <= due.Year; y++ {
		if !c.Announced(y) {
			return due, true
		}
	}
	return due, false
}

// AddNaturalDays returns from plus n calendar days: the last day of a deadline
// of n natural days. Natural days do not depend on holidays, so provisional is
// always false; the signature matches AddWorkingDays so callers can pick
// either by the rule's unit.
func (c *Calendar) AddNaturalDays(from Date, n int) (due Date, provisional bool) {
	return from.AddDays(n), false
}

// WorkingDaysBetween returns the number of working days d with from < d <= to,
// or minus the number with to < d <= from when to is before from. It is the
// countdown to a deadline in working days: WorkingDaysBetween(today, due).
func (c *Calendar) WorkingDaysBetween(from, to Date) int {
	return c.workingBefore(to.days()+1) - c.workingBefore(from.days()+1)
}

// workingBefore returns the number of working days before day z, counted from
// a fixed origin (so only differences mean anything).
func (c *Calendar) workingBefore(z int) int {
	lo, hi := c.first, c.first+len(c.work)
	switch {
	case z <= lo:
		return weekdaysBefore(z)
	case z <= hi:
		return weekdaysBefore(lo) + int(c.cum[z-lo])
	default:
		return weekdaysBefore(lo) + int(c.cum[len(c.work)]) + weekdaysBefore(z) - weekdaysBefore(hi)
	}
}

// weekdaysBefore returns the number of Mondays to Fridays from 1970-01-05 (a
// Monday) up to but excluding day z; negative before it.
func weekdaysBefore(z int) int {
	const monday = 4 // 1970-01-05
	return 5*dateFloorDiv(z-monday, 7) + min(dateFloorMod(z-monday, 7), 5)
}
