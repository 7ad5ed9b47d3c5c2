package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/haochaping/haochaping/casecore"
)

func TestLoadUnitsEmbedded(t *testing.T) {
	c := mustLoadYAML(t, "", nil)
	d, err := c.LoadUnits()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Units) != 59 {
		t.Errorf("%d units, want the 59 of attachment 2", len(d.Units))
	}
	var groups []string
	for _, g := range d.Groups {
		groups = append(groups, g.ID)
	}
	if !slices.Equal(groups, []string{"party", "government", "town"}) {
		t.Errorf("groups %v", groups)
	}
	u, ok := d.Unit("fh-g08")
	if !ok || u.Name != "区司法局" || u.Group != "government" || u.Level != "district" {
		t.Errorf("Unit(fh-g08) = %+v, %t", u, ok)
	}
	if _, ok := d.Unit("nonexistent"); ok {
		t.Error("Unit(nonexistent) found")
	}
}

const smallUnits = `groups:
  - {id: g, name: Group}
units:
  - id: u1
    name: Unit one
    group: g
    level: town
    posts: [{id: p1, name: Window}]
    staff: [{id: s1, name: Staff one, posts: [p1]}]
  - {id: u2, name: Unit two, group: g, level: village}
`

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadUnitsFile(t *testing.T) {
	path := writeFile(t, "units.yaml", smallUnits)
	// units.file from the environment, as a deployment would set it.
	c := mustLoadYAML(t, "", map[string]string{"HAOCHAPING_UNITS_FILE": path})
	d, err := c.LoadUnits()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Units) != 2 {
		t.Fatalf("units %+v", d.Units)
	}
	u, ok := d.Unit("u1")
	if !ok || len(u.Staff) != 1 || u.Staff[0].Posts[0] != "p1" {
		t.Errorf("Unit(u1) = %+v, %t", u, ok)
	}
	if _, ok := d.Unit("fh-g08"); ok {
		t.Error("the file did not replace the embedded units")
	}

	c.Units.File = filepath.Join(t.TempDir(), "missing.yaml")
	_, err = c.LoadUnits()
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "units.file:") {
		t.Errorf("missing file: %v, want ErrNotExist naming units.file", err)
	}
}

func TestLoadUnitsRefusesBadFile(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string
	}{
		{"unknown key", strings.Replace(smallUnits, "level: town", "levle: town", 1), []string{"levle"}},
		{"syntax", "units: [\n", []string{"yaml"}},
		{"empty", "", []string{"EOF"}},
		{"repeated unit", smallUnits + "  - {id: u1, name: Again, group: g, level: town}\n", []string{"units[2] (Again).id:", "repeated"}},
		{"bad id", smallUnits + "  - {id: 'u 3', name: Three, group: g, level: town}\n", []string{"units[2] (Three).id:"}},
		{"no name", smallUnits + "  - {id: u3, group: g, level: town}\n", []string{"units[2] ().name:"}},
		{"unknown group", smallUnits + "  - {id: u3, name: Three, group: h, level: town}\n", []string{"units[2] (Three).group:", `"h"`}},
		{"bad level", smallUnits + "  - {id: u3, name: Three, group: g, level: city}\n", []string{"units[2] (Three).level:", `"city"`}},
		{"repeated group", strings.Replace(smallUnits, "units:", "  - {id: g, name: Again}\nunits:", 1), []string{"groups[1].id:"}},
		{"staff post", strings.Replace(smallUnits, "posts: [p1]", "posts: [p2]", 1), []string{"units[0] (Unit one).staff[0].posts:", `"p2"`}},
		{"repeated post", strings.Replace(smallUnits, "posts: [{id: p1, name: Window}]", "posts: [{id: p1, name: Window}, {id: p1, name: Again}]", 1), []string{"units[0] (Unit one).posts[1].id:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "units.yaml", tt.text)
			c := &Config{Units: Units{File: path}}
			d, err := c.LoadUnits()
			if err == nil {
				t.Fatalf("LoadUnits accepted %+v", d)
			}
			// The error says which file.
			for _, w := range append([]string{"units (" + path + ")"}, tt.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			// ParseUnits gives the same verdict.
			if _, err := ParseUnits([]byte(tt.text)); err == nil {
				t.Error("ParseUnits accepted it")
			}
		})
	}
}

func TestLoadCalendarEmbedded(t *testing.T) {
	c := mustLoadYAML(t, "", nil)
	cal, err := c.LoadCalendar()
	if err != nil {
		t.Fatal(err)
	}
	if y := cal.Years(); len(y) == 0 || y[0] != 2019 || !slices.Contains(y, 2026) {
		t.Errorf("years %v", y)
	}
	if !cal.Announced(2025) {
		t.Error("2025 not announced")
	}
	for day, want := range map[string]bool{
		"2025-10-01": false, // National Day, a Wednesday
		"2025-09-28": true,  // make-up working Sunday
		"2025-10-09": true,  // an ordinary Thursday
		"2025-10-12": false, // an ordinary Sunday
	} {
		d, err := casecore.ParseDate(day)
		if err != nil {
			t.Fatal(err)
		}
		if got := cal.IsWorkingDay(d); got != want {
			t.Errorf("IsWorkingDay(%s) = %t, want %t", day, got, want)
		}
	}
}

func TestLoadCalendarDir(t *testing.T) {
	dir := t.TempDir()
	const year = `{"year": 2030, "days": [
		{"name": "New Year", "date": "2030-01-01", "isOffDay": true},
		{"name": "Make-up", "date": "2030-01-05", "isOffDay": false}
	]}`
	if err := os.WriteFile(filepath.Join(dir, "2030.json"), []byte(year), 0o600); err != nil {
		t.Fatal(err)
	}
	c := mustLoadYAML(t, "", map[string]string{"HAOCHAPING_CALENDAR_DIR": dir})
	cal, err := c.LoadCalendar()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cal.Years(), []int{2030}) {
		t.Errorf("years %v, want only the directory's 2030", cal.Years())
	}
	for day, want := range map[string]bool{"2030-01-01": false, "2030-01-05": true, "2030-01-02": true} {
		d, _ := casecore.ParseDate(day)
		if got := cal.IsWorkingDay(d); got != want {
			t.Errorf("IsWorkingDay(%s) = %t, want %t", day, got, want)
		}
	}

	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no files", nil, "no YEAR.json"},
		{"year mismatch", map[string]string{"2030.json": `{"year": 2031, "days": []}`}, "2030.json"},
		{"bad name", map[string]string{"holidays.json": `{"year": 2030, "days": []}`}, "holidays.json"},
		{"bad json", map[string]string{"2030.json": `{"year": `}, "2030.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, text := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c := &Config{Calendar: Calendar{Dir: dir}}
			_, err := c.LoadCalendar()
			if err == nil {
				t.Fatal("LoadCalendar accepted")
			}
			for _, w := range []string{"calendar.dir:", tt.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	c = &Config{Calendar: Calendar{Dir: filepath.Join(dir, "missing")}}
	if _, err := c.LoadCalendar(); err == nil || !strings.Contains(err.Error(), "calendar.dir:") {
		t.Errorf("missing dir: %v, want an error naming calendar.dir", err)
	}
}
