package casecore

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/haochaping/haochaping/configs"
)

func defaultCalendarT(t testing.TB) *Calendar {
	t.Helper()
	c, err := DefaultCalendar()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCalendarDeadlines holds the worked examples of DOMAIN.md "Counting days"
// and more from the 2018–2027 data.
func TestCalendarDeadlines(t *testing.T) {
	c := defaultCalendarT(t)
	const working, natural = "working", "natural"
	tests := []struct {
		name        string
		from        string
		n           int
		unit        string
		want        string
		provisional bool
	}{
		// DOMAIN.md worked examples.
		{"callback from Friday is due on make-up Saturday", "2026-02-13", 1, working, "2026-02-14", false},
		{"appeal across Spring Festival 2026", "2026-02-13", 5, working, "2026-02-27", false},
		{"callback across National Day 2026", "2026-09-30", 1, working, "2026-10-08", false},
		{"5 working days across New Year 2026 with make-up Sunday", "2025-12-31", 5, working, "2026-01-08", false},

		// Spring Festival 2025: off 01-28..02-04, make-up Sun 01-26 and Sat 02-08.
		{"Friday before make-up Sunday 2025-01-26", "2025-01-24", 1, working, "2025-01-26", false},
		{"Monday before Spring Festival 2025", "2025-01-27", 1, working, "2025-02-05", false},
		{"5 days across Spring Festival 2025 and make-up Saturday", "2025-01-27", 5, working, "2025-02-10", false},
		{"Friday before make-up Saturday 2025-02-08", "2025-02-07", 1, working, "2025-02-08", false},
		{"rating on a holiday 2025-01-30", "2025-01-30", 1, working, "2025-02-05", false},

		// National Day 2025: off 10-01..10-08, make-up Sun 09-28 and Sat 10-11.
		{"Friday before make-up Sunday 2025-09-28", "2025-09-26", 1, working, "2025-09-28", false},
		{"callback across National Day 2025", "2025-09-30", 1, working, "2025-10-09", false},
		{"5 days across National Day 2025 and make-up Saturday", "2025-09-30", 5, working, "2025-10-14", false},
		{"Friday before make-up Saturday 2025-10-11", "2025-10-10", 1, working, "2025-10-11", false},
		{"5 days across National Day 2026 and make-up Saturday", "2026-09-30", 5, working, "2026-10-13", false},

		// Rectification, 15 working days, across Spring Festival 2026.
		{"rectification across Spring Festival 2026", "2026-02-13", 15, working, "2026-03-12", false},
		// Plain weeks.
		{"Monday plus 5", "2026-03-02", 5, working, "2026-03-09", false},
		{"Friday plus 1 is Monday", "2026-03-06", 1, working, "2026-03-09", false},
		{"Saturday plus 1 is Monday", "2026-03-07", 1, working, "2026-03-09", false},
		// New Year 2023: off Sat 2022-12-31 (listed in 2023.json) to Mon 2023-01-02.
		{"across New Year 2023", "2022-12-30", 1, working, "2023-01-03", false},

		// Provisional: 2027 is not announced, 2018 has no file.
		{"ends in 2026, not provisional", "2026-12-24", 5, working, "2026-12-31", false},
		{"counted into 2027", "2026-12-25", 5, working, "2027-01-01", true},
		{"from New Year's Eve 2026 into 2027", "2026-12-31", 1, working, "2027-01-01", true},
		{"inside 2027", "2027-03-01", 1, working, "2027-03-02", true},
		{"far future, outside the data", "2030-06-03", 5, working, "2030-06-10", true},
		{"2018 make-up Saturday listed in 2019.json", "2018-12-28", 1, working, "2018-12-29", true},
		{"counted through unannounced 2018 into 2019", "2018-12-28", 2, working, "2019-01-02", true},
		{"from 2018-12-31 counts only 2019", "2018-12-31", 1, working, "2019-01-02", false},

		// Zero days: the day itself, never provisional.
		{"0 working days", "2026-02-13", 0, working, "2026-02-13", false},
		{"0 working days on a holiday", "2026-02-16", 0, working, "2026-02-16", false},
		{"0 working days in 2027", "2027-03-01", 0, working, "2027-03-01", false},

		// Natural days (追评, 5 natural days) ignore holidays and never are provisional.
		{"natural days across Spring Festival", "2026-02-13", 5, natural, "2026-02-18", false},
		{"natural days across month end", "2026-01-28", 5, natural, "2026-02-02", false},
		{"natural days across leap February", "2024-02-27", 5, natural, "2024-03-03", false},
		{"natural days across February", "2025-02-27", 5, natural, "2025-03-04", false},
		{"natural days into 2027", "2026-12-29", 5, natural, "2027-01-03", false},
		{"0 natural days", "2026-02-13", 0, natural, "2026-02-13", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := mustDate(t, tt.from)
			add := c.AddWorkingDays
			if tt.unit == natural {
				add = c.AddNaturalDays
			}
			due, prov := add(from, tt.n)
			if due.String() != tt.want || prov != tt.provisional {
				t.Fatalf("%s + %d %s days = %s provisional %t; want %s provisional %t",
					tt.from, tt.n, tt.unit, due, prov, tt.want, tt.provisional)
			}
			if tt.unit == working {
				if got := c.WorkingDaysBetween(from, due); got != tt.n {
					t.Errorf("WorkingDaysBetween(%s, %s) = %d, want %d", from, due, got, tt.n)
				}
			}
		})
	}
}

// TestCalendarListedDays checks every day listed in the embedded data: each
// make-up working day counts as a working day and each off day does not.
func TestCalendarListedDays(t *testing.T) {
	c := defaultCalendarT(t)
	names, err := fs.Glob(configs.Calendar, "calendar/*.json")
	if err != nil || len(names) == 0 {
		t.Fatalf("glob: %v %v", names, err)
	}
	var makeup, off int
	for _, name := range names {
		b, err := fs.ReadFile(configs.Calendar, name)
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Days []struct {
				Name     string
				Date     string
				IsOffDay bool
			}
		}
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, day := range f.Days {
			d := mustDate(t, day.Date)
			prev := d.AddDays(-1)
			if day.IsOffDay {
				off++
				if c.IsWorkingDay(d) || c.WorkingDaysBetween(prev, d) != 0 {
					t.Errorf("%s: off day %s %s counts as a working day", name, d, day.Name)
				}
				continue
			}
			makeup++
			if wd := d.Weekday(); wd >= 1 && wd <= 5 {
				t.Logf("%s: make-up day %s %s is a %v", name, d, day.Name, wd)
			}
			if !c.IsWorkingDay(d) || c.WorkingDaysBetween(prev, d) != 1 {
				t.Errorf("%s: make-up working day %s %s does not count", name, d, day.Name)
			}
			// Counting one working day from the working day before it lands on it.
			p := prev
			for !c.IsWorkingDay(p) {
				p = p.AddDays(-1)
			}
			if due, _ := c.AddWorkingDays(p, 1); due != d {
				t.Errorf("%s: %s + 1 working day = %s, want make-up day %s", name, p, due, d)
			}
		}
	}
	if makeup < 40 || off < 200 {
		t.Errorf("only %d make-up and %d off days checked", makeup, off)
	}
}

func TestCalendarAnnounced(t *testing.T) {
	c := defaultCalendarT(t)
	want := []int{2019, 2020, 2021, 2022, 2023, 2024, 2025, 2026, 2027}
	if got := c.Years(); !slices.Equal(got, want) {
		t.Fatalf("Years() = %v, want %v", got, want)
	}
	c.Years()[0] = 1 // callers get a copy
	if c.Years()[0] != 2019 {
		t.Fatal("Years() exposes internal state")
	}
	for y := 2015; y <= 2030; y++ {
		if got, want := c.Announced(y), y >= 2019 && y <= 2026; got != want {
			t.Errorf("Announced(%d) = %t, want %t", y, got, want)
		}
	}
	// Unannounced and uncovered years follow Mon–Fri.
	for _, tt := range []struct {
		date string
		want bool
	}{
		{"2027-01-01", true}, // Friday; its real status is unknown until the notice
		{"2027-01-02", false},
		{"2030-10-01", true},
		{"2010-01-04", true},
		{"2010-01-03", false},
		{"2018-12-29", true},  // make-up Saturday listed in 2019.json
		{"2018-12-31", false}, // Monday off, listed in 2019.json
	} {
		if got := c.IsWorkingDay(mustDate(t, tt.date)); got != tt.want {
			t.Errorf("IsWorkingDay(%s) = %t, want %t", tt.date, got, tt.want)
		}
	}
}

func TestCalendarWorkingDaysBetween(t *testing.T) {
	c := defaultCalendarT(t)
	tests := []struct {
		from, to string
		want     int
	}{
		{"2026-02-13", "2026-02-27", 5},
		{"2026-02-27", "2026-02-13", -5},
		{"2026-02-14", "2026-02-14", 0},
		{"2026-02-14", "2026-02-23", 0}, // the whole Spring Festival holiday
		{"2026-02-13", "2026-02-23", 1},
		{"2026-02-16", "2026-02-13", -1}, // overdue by the make-up Saturday
		{"2025-12-31", "2026-01-08", 5},
		{"2018-12-28", "2019-01-02", 2},  // across the start of the table
		{"2026-12-25", "2027-01-08", 10}, // across its end
		{"2030-06-03", "2030-06-10", 5},
		{"2010-01-01", "2010-01-08", 5},
	}
	for _, tt := range tests {
		t.Run(tt.from+".."+tt.to, func(t *testing.T) {
			from, to := mustDate(t, tt.from), mustDate(t, tt.to)
			if got := c.WorkingDaysBetween(from, to); got != tt.want {
				t.Fatalf("WorkingDaysBetween(%s, %s) = %d, want %d", from, to, got, tt.want)
			}
			if got := naiveWorkingDaysBetween(c, from, to); got != tt.want {
				t.Fatalf("day-by-day count = %d, want %d", got, tt.want)
			}
		})
	}
}

func naiveWorkingDaysBetween(c *Calendar, from, to Date) int {
	sign := 1
	if to.Before(from) {
		from, to, sign = to, from, -1
	}
	n := 0
	for d := from.AddDays(1); !d.After(to); d = d.AddDays(1) {
		if c.IsWorkingDay(d) {
			n++
		}
	}
	return sign * n
}

// TestCalendarProperties checks, for every day of 2017–2029 and n up to 20,
// that AddWorkingDays lands on a working day n working days later, and
// WorkingDaysBetween against a day-by-day count on random pairs.
func TestCalendarProperties(t *testing.T) {
	c := defaultCalendarT(t)
	start, end := mustDate(t, "2017-01-01"), mustDate(t, "2029-12-31")
	for d := start; !d.After(end); d = d.AddDays(1) {
		for n := 0; n <= 20; n++ {
			due, prov := c.AddWorkingDays(d, n)
			if n == 0 {
				if due != d || prov {
					t.Fatalf("AddWorkingDays(%s, 0) = %s, %t", d, due, prov)
				}
				continue
			}
			if !due.After(d) || !c.IsWorkingDay(due) {
				t.Fatalf("AddWorkingDays(%s, %d) = %s: not a later working day", d, n, due)
			}
			if got := c.WorkingDaysBetween(d, due); got != n {
				t.Fatalf("WorkingDaysBetween(%s, AddWorkingDays(%s, %d) = %s) = %d", d, d, n, due, got)
			}
			if got := c.WorkingDaysBetween(d, due.AddDays(-1)); got != n-1 {
				t.Fatalf("WorkingDaysBetween(%s, %s - 1) = %d, want %d: %s is not the first", d, due, got, n-1, due)
			}
			wantProv := false
			for y := d.AddDays(1).Year; y <= due.Year; y++ {
				wantProv = wantProv || !c.Announced(y)
			}
			if prov != wantProv {
				t.Fatalf("AddWorkingDays(%s, %d) provisional %t, want %t", d, n, prov, wantProv)
			}
		}
	}

	rng := rand.New(rand.NewPCG(1, 2))
	lo, hi := mustDate(t, "2012-01-01"), mustDate(t, "2034-12-31")
	span := hi.Sub(lo)
	for i := 0; i < 300; i++ {
		from := lo.AddDays(rng.IntN(span))
		to := from.AddDays(rng.IntN(1500) - 750)
		if got, want := c.WorkingDaysBetween(from, to), naiveWorkingDaysBetween(c, from, to); got != want {
			t.Fatalf("WorkingDaysBetween(%s, %s) = %d, day-by-day count %d", from, to, got, want)
		}
	}
}

func TestCalendarNegativeDaysPanics(t *testing.T) {
	c := defaultCalendarT(t)
	defer func() {
		if recover() == nil {
			t.Fatal("AddWorkingDays with n < 0 did not panic")
		}
	}()
	c.AddWorkingDays(mustDate(t, "2026-01-05"), -1)
}

// copyEmbeddedCalendar writes the embedded YEAR.json files to a new temp dir.
func copyEmbeddedCalendar(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	sub, err := fs.Sub(configs.Calendar, "calendar")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dir, sub); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writeCalendarFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadCalendarDirErrors(t *testing.T) {
	good2026 := `{"year": 2026, "days": [{"name": "元旦", "date": "2026-01-01", "isOffDay": true}]}`
	tests := []struct {
		name    string
		files   map[string]string
		wantErr []string // substrings of the error
	}{
		{"impossible date", map[string]string{
			"2025.json": `{"year": 2025, "days": [{"name": "春节", "date": "2025-02-30", "isOffDay": true}]}`,
		}, []string{"2025.json", "days[0]", "春节", `"2025-02-30"`, "day 30 out of range"}},
		{"date not a date", map[string]string{
			"2025.json": `{"year": 2025, "days": [{"name": "春节", "date": "2025/01/28", "isOffDay": true}]}`,
		}, []string{"2025.json", `"2025/01/28"`}},
		{"year does not match name", map[string]string{
			"2025.json": `{"year": 2024, "days": []}`,
		}, []string{"2025.json", `"year" is 2024`}},
		{"missing year", map[string]string{
			"2025.json": `{"days": []}`,
		}, []string{"2025.json", `missing "year"`}},
		{"broken JSON", map[string]string{
			"2025.json": `{"year": 2025, "days": [`,
		}, []string{"2025.json"}},
		{"missing isOffDay", map[string]string{
			"2025.json": `{"year": 2025, "days": [{"name": "春节", "date": "2025-01-28"}]}`,
		}, []string{"2025.json", "2025-01-28", `missing "isOffDay"`}},
		{"date far from the file's year", map[string]string{
			"2025.json": `{"year": 2025, "days": [{"name": "春节", "date": "2035-01-28", "isOffDay": true}]}`,
		}, []string{"2025.json", "2035-01-28", "not within a year of 2025"}},
		{"file name not a year", map[string]string{
			"holidays.json": `{"year": 2025, "days": []}`,
		}, []string{"holidays.json", "YEAR.json"}},
		{"file name with sign", map[string]string{
			"+202.json": `{"year": 202, "days": []}`,
		}, []string{"+202.json", "YEAR.json"}},
		{"files disagree on a day", map[string]string{
			"2025.json": `{"year": 2025, "days": [{"name": "元旦", "date": "2026-01-01", "isOffDay": false}]}`,
		}, []string{"2026.json", "2025.json", "2026-01-01", "contradicts"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeCalendarFile(t, dir, "2026.json", good2026)
			for name, content := range tt.files {
				writeCalendarFile(t, dir, name, content)
			}
			c, err := LoadCalendarDir(dir)
			if err == nil {
				t.Fatalf("LoadCalendarDir = %v, want error", c)
			}
			for _, s := range append(tt.wantErr, dir) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}

	t.Run("empty dir", func(t *testing.T) {
		if _, err := LoadCalendarDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no YEAR.json") {
			t.Fatalf("error = %v, want no YEAR.json files", err)
		}
	})
	t.Run("missing dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nope")
		if _, err := LoadCalendarDir(dir); err == nil || !strings.Contains(err.Error(), dir) {
			t.Fatalf("error = %v, want one naming %s", err, dir)
		}
	})
	t.Run("other files are ignored", func(t *testing.T) {
		dir := t.TempDir()
		writeCalendarFile(t, dir, "2026.json", good2026)
		writeCalendarFile(t, dir, "LICENSE", "MIT")
		if err := os.Mkdir(filepath.Join(dir, "old"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeCalendarFile(t, filepath.Join(dir, "old"), "2025.json", "not json")
		c, err := LoadCalendarDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Years(), []int{2026}) || !c.Announced(2026) {
			t.Fatalf("Years() = %v", c.Years())
		}
	})
}

func TestCalendarVersion(t *testing.T) {
	def := defaultCalendarT(t)
	if len(def.Version()) != 16 {
		t.Fatalf("Version() = %q, want 16 hex digits", def.Version())
	}
	dir := copyEmbeddedCalendar(t)
	same, err := LoadCalendarDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if same.Version() != def.Version() {
		t.Fatalf("same data, versions %s and %s", same.Version(), def.Version())
	}

	// Rewriting a file without changing what it means keeps the version.
	b, err := os.ReadFile(filepath.Join(dir, "2026.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["papers"] = []string{"https://example.org/other"}
	doc["days"].([]any)[0].(map[string]any)["name"] = "New Year"
	compact, _ := json.Marshal(doc)
	writeCalendarFile(t, dir, "2026.json", string(compact))
	if c, err := LoadCalendarDir(dir); err != nil || c.Version() != def.Version() {
		t.Fatalf("reformatted data: version %v, %v; want %s", c, err, def.Version())
	}

	// The 2027 notice arrives: version changes, 2027 deadlines become final.
	writeCalendarFile(t, dir, "2027.json", `{"year": 2027, "days": [
		{"name": "元旦", "date": "2027-01-01", "isOffDay": true},
		{"name": "春节", "date": "2027-02-06", "isOffDay": false}
	]}`)
	announced, err := LoadCalendarDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if announced.Version() == def.Version() {
		t.Fatal("version unchanged after 2027 was announced")
	}
	if !announced.Announced(2027) {
		t.Fatal("2027 not announced")
	}
	from := mustDate(t, "2026-12-31")
	if due, prov := def.AddWorkingDays(from, 1); due.String() != "2027-01-01" || !prov {
		t.Fatalf("before the notice: %s %t", due, prov)
	}
	if due, prov := announced.AddWorkingDays(from, 1); due.String() != "2027-01-04" || prov {
		t.Fatalf("after the notice: %s %t, want 2027-01-04 final", due, prov)
	}
	if due, _ := announced.AddWorkingDays(mustDate(t, "2027-02-05"), 1); due.String() != "2027-02-06" {
		t.Fatalf("make-up Saturday 2027-02-06 not counted: %s", due)
	}

	// Flipping a single day changes the version too.
	writeCalendarFile(t, dir, "2027.json", `{"year": 2027, "days": [
		{"name": "元旦", "date": "2027-01-01", "isOffDay": true},
		{"name": "春节", "date": "2027-02-06", "isOffDay": true}
	]}`)
	flipped, err := LoadCalendarDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if flipped.Version() == announced.Version() || flipped.Version() == def.Version() {
		t.Fatalf("versions %s %s %s not all different", def.Version(), announced.Version(), flipped.Version())
	}
}

// TestCalendarConcurrent runs under go test -race: a Calendar is shared by
// every request without locking.
func TestCalendarConcurrent(t *testing.T) {
	c := defaultCalendarT(t)
	start := mustDate(t, "2025-01-01")
	want := make([]Date, 730)
	for i := range want {
		want[i], _ = c.AddWorkingDays(start.AddDays(i), 5)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			c2, err := DefaultCalendar()
			if err != nil || c2 != c {
				errs <- fmt.Errorf("DefaultCalendar() = %p, %v; want the shared %p", c2, err, c)
				return
			}
			for i := range want {
				d := start.AddDays((i + g*97) % len(want))
				due, _ := c2.AddWorkingDays(d, 5)
				if due != want[d.Sub(start)] || c2.WorkingDaysBetween(d, due) != 5 || !c2.IsWorkingDay(due) {
					errs <- fmt.Errorf("goroutine %d: %s + 5 = %s", g, d, due)
					return
				}
				_ = c2.Version()
				_ = c2.Years()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkAddWorkingDays measures the deadline computation done for every
// rating (1, 5 and 15 working days from dates across 2025–2026).
//
// Results (go test -run '^$' -bench . ./casecore/, go1.26.8, linux/amd64,
// AMD EPYC, 2 CPUs; the loop includes two Date.AddDays):
//
//	BenchmarkAddWorkingDays-2      16047436     74.07 ns/op   0 B/op   0 allocs/op
//	BenchmarkWorkingDaysBetween-2  14485152     82.11 ns/op   0 B/op   0 allocs/op
//	BenchmarkLoadCalendar-2            2058    607697 ns/op
func BenchmarkAddWorkingDays(b *testing.B) {
	c := defaultCalendarT(b)
	start := mustDate(b, "2025-01-01")
	ns := []int{1, 5, 15, 5}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.AddWorkingDays(start.AddDays(i%730), ns[i%len(ns)])
		i++
	}
}

// BenchmarkWorkingDaysBetween measures the working-day countdown shown on
// staff queues.
func BenchmarkWorkingDaysBetween(b *testing.B) {
	c := defaultCalendarT(b)
	start := mustDate(b, "2025-01-01")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d := start.AddDays(i % 730)
		c.WorkingDaysBetween(d, d.AddDays(21))
		i++
	}
}

// BenchmarkLoadCalendar measures loading the embedded data (done once).
func BenchmarkLoadCalendar(b *testing.B) {
	sub, err := fs.Sub(configs.Calendar, "calendar")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := LoadCalendar(sub); err != nil {
			b.Fatal(err)
		}
	}
}
