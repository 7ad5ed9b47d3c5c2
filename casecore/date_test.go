package casecore

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestDateParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Date
		wantErr string // substring of the error; "" for success
	}{
		{in: "2026-02-14", want: Date{2026, time.February, 14}},
		{in: "2024-02-29", want: Date{2024, time.February, 29}},
		{in: "2000-02-29", want: Date{2000, time.February, 29}},
		{in: "2026-12-31", want: Date{2026, time.December, 31}},
		{in: "2025-02-29", wantErr: "day 29 out of range for 2025-02"},
		{in: "1900-02-29", wantErr: "day 29 out of range"},
		{in: "2026-04-31", wantErr: "day 31 out of range"},
		{in: "2026-00-10", wantErr: "month 0 out of range"},
		{in: "2026-13-01", wantErr: "month 13 out of range"},
		{in: "2026-01-00", wantErr: "day 0 out of range"},
		{in: "2026-2-14", wantErr: "want YYYY-MM-DD"},
		{in: "2026/02/14", wantErr: "want YYYY-MM-DD"},
		{in: " 2026-02-14", wantErr: "want YYYY-MM-DD"},
		{in: "2026-02-14T00:00:00Z", wantErr: "want YYYY-MM-DD"},
		{in: "+026-02-14", wantErr: "want YYYY-MM-DD"},
		{in: "2026-0x-14", wantErr: "want YYYY-MM-DD"},
		{in: "", wantErr: "want YYYY-MM-DD"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDate(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseDate(%q) = %v, want error", tt.in, got)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `"`+tt.in+`"`) {
					t.Fatalf("ParseDate(%q) error %q, want it to name the input and say %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if got.String() != tt.in {
				t.Fatalf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

// TestDateDaysAgainstTime checks the integer day arithmetic against the time
// package for every day of 1600–2400.
func TestDateDaysAgainstTime(t *testing.T) {
	start := time.Date(1600, time.January, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2400, time.December, 31, 0, 0, 0, 0, time.UTC)
	for tm := start; !tm.After(end); tm = tm.AddDate(0, 0, 1) {
		d := Date{tm.Year(), tm.Month(), tm.Day()}
		z := int(tm.Unix() / 86400)
		if got := d.days(); got != z {
			t.Fatalf("%v.days() = %d, want %d", d, got, z)
		}
		if got := dateOfDays(z); got != d {
			t.Fatalf("dateOfDays(%d) = %v, want %v", z, got, d)
		}
		if got := d.Weekday(); got != tm.Weekday() {
			t.Fatalf("%v.Weekday() = %v, want %v", d, got, tm.Weekday())
		}
	}
}

func TestDateAddDays(t *testing.T) {
	tests := []struct {
		from string
		n    int
		want string
	}{
		{"2026-02-13", 0, "2026-02-13"},
		{"2026-02-13", 1, "2026-02-14"},
		{"2026-01-28", 5, "2026-02-02"},
		{"2026-12-29", 5, "2027-01-03"},
		{"2024-02-27", 5, "2024-03-03"},
		{"2025-02-27", 5, "2025-03-04"},
		{"2026-03-01", -1, "2026-02-28"},
		{"2026-01-01", -1, "2025-12-31"},
		{"2026-01-01", 365, "2027-01-01"},
		{"2024-01-01", 366, "2025-01-01"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s%+d", tt.from, tt.n), func(t *testing.T) {
			d := mustDate(t, tt.from)
			if got := d.AddDays(tt.n).String(); got != tt.want {
				t.Fatalf("%s.AddDays(%d) = %s, want %s", tt.from, tt.n, got, tt.want)
			}
			if got := mustDate(t, tt.want).Sub(d); got != tt.n {
				t.Fatalf("%s.Sub(%s) = %d, want %d", tt.want, tt.from, got, tt.n)
			}
		})
	}
	// Out-of-range fields normalize like time.Date.
	if got := (Date{2026, time.February, 30}).AddDays(0); got != (Date{2026, time.March, 2}) {
		t.Errorf("2026-02-30 normalizes to %v, want 2026-03-02", got)
	}
	if got := (Date{2026, time.Month(13), 1}).AddDays(0); got != (Date{2027, time.January, 1}) {
		t.Errorf("2026-13-01 normalizes to %v, want 2027-01-01", got)
	}
}

func TestDateCompare(t *testing.T) {
	a, b := mustDate(t, "2025-12-31"), mustDate(t, "2026-01-01")
	if !a.Before(b) || a.After(b) || !b.After(a) || b.Before(a) || a.Before(a) || a.After(a) {
		t.Errorf("Before/After wrong for %v, %v", a, b)
	}
	for _, p := range [][2]string{{"2026-01-31", "2026-02-01"}, {"2026-02-01", "2026-02-02"}, {"2025-12-31", "2026-01-01"}} {
		x, y := mustDate(t, p[0]), mustDate(t, p[1])
		if x.Compare(y) != -1 || y.Compare(x) != 1 || x.Compare(x) != 0 {
			t.Errorf("Compare(%v, %v) wrong", x, y)
		}
	}
}

func TestDateZone(t *testing.T) {
	if Shanghai.String() != "Asia/Shanghai" {
		t.Errorf("Shanghai = %v, want Asia/Shanghai (time/tzdata is imported)", Shanghai)
	}
	tests := []struct {
		instant string // RFC 3339
		want    string
	}{
		{"2026-02-13T15:59:59Z", "2026-02-13"},
		{"2026-02-13T16:00:00Z", "2026-02-14"}, // 00:00 in Shanghai
		{"2026-02-14T00:30:00+08:00", "2026-02-14"},
		{"2025-12-31T16:00:00Z", "2026-01-01"},
		{"2026-06-01T23:59:59-05:00", "2026-06-02"},
	}
	for _, tt := range tests {
		t.Run(tt.instant, func(t *testing.T) {
			tm, err := time.Parse(time.RFC3339, tt.instant)
			if err != nil {
				t.Fatal(err)
			}
			if got := DateOf(tm).String(); got != tt.want {
				t.Fatalf("DateOf(%s) = %s, want %s", tt.instant, got, tt.want)
			}
		})
	}

	d := mustDate(t, "2026-02-14")
	if got, want := d.Start(), time.Date(2026, 2, 13, 16, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Start() = %v, want %v", got, want)
	}
	if got, want := d.End(), time.Date(2026, 2, 14, 16, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("End() = %v, want %v", got, want)
	}
	// The end of the last day of a month or year is the start of the next.
	if got, want := mustDate(t, "2026-12-31").End(), mustDate(t, "2027-01-01").Start(); !got.Equal(want) {
		t.Errorf("2026-12-31 End() = %v, want %v", got, want)
	}
	// An instant one nanosecond before End is still on the date; End is not.
	if DateOf(d.End().Add(-time.Nanosecond)) != d || DateOf(d.End()) == d || DateOf(d.Start()) != d {
		t.Errorf("Start/End and DateOf disagree for %v", d)
	}
}

func TestDateText(t *testing.T) {
	type doc struct {
		Due  Date `json:"due"`
		None Date `json:"none"`
	}
	b, err := json.Marshal(doc{Due: mustDate(t, "2026-02-27")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"due":"2026-02-27","none":""}`; got != want {
		t.Fatalf("json = %s, want %s", got, want)
	}
	var back doc
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Due != mustDate(t, "2026-02-27") || !back.None.IsZero() {
		t.Fatalf("round trip = %+v", back)
	}
	err = json.Unmarshal([]byte(`{"due":"2026-02-30"}`), &back)
	if err == nil || !strings.Contains(err.Error(), "2026-02-30") {
		t.Fatalf("bad date error = %v, want one naming 2026-02-30", err)
	}
	if (Date{}).IsZero() != true || mustDate(t, "2026-01-01").IsZero() {
		t.Errorf("IsZero wrong")
	}
}

// FuzzParseDate checks ParseDate against time.Parse and that what it accepts
// round-trips through String.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2026-02-14", "2024-02-29", "2025-02-29", "2026-13-01", "0000-00-00", "9999-12-31", "2026-2-14", "２０２６-02-14"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDate(s)
		tm, terr := time.Parse("2006-01-02", s)
		if (err == nil) != (terr == nil) {
			t.Fatalf("ParseDate(%q) err = %v, time.Parse err = %v", s, err, terr)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "parse date") {
				t.Fatalf("error %q does not say what failed", err)
			}
			return
		}
		if d.String() != s {
			t.Fatalf("ParseDate(%q).String() = %q", s, d.String())
		}
		if d != (Date{tm.Year(), tm.Month(), tm.Day()}) {
			t.Fatalf("ParseDate(%q) = %v, time.Parse says %v", s, d, tm)
		}
	})
}

func mustDate(t testing.TB, s string) Date {
	t.Helper()
	d, err := ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDateAppendDigits(t *testing.T) {
	for _, d := range []Date{{2026, 2, 13}, {2019, 1, 1}, {2027, 12, 31}, {999, 10, 5}, {12345, 1, 2}} {
		if got, want := d.String(), fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day); got != want {
			t.Errorf("String %s, want %s", got, want)
		}
		if got, want := string(d.AppendDigits([]byte("x:"), 0)), fmt.Sprintf("x:%04d%02d%02d", d.Year, int(d.Month), d.Day); got != want {
			t.Errorf("AppendDigits %s, want %s", got, want)
		}
	}
	for _, n := range []int{0, 7, 42, 999999, 1234567} {
		if got, want := string(appendPadded(nil, n, 6)), fmt.Sprintf("%06d", n); got != want {
			t.Errorf("appendPadded(%d) %s, want %s", n, got, want)
		}
	}
}
