package casecore

import (
	"fmt"
	"regexp"
)

// UnitGroup is one of the three groups of attachment 2 of the plan.
type UnitGroup struct {
	ID   string `json:"id" yaml:"id"`
	Name string `json:"name" yaml:"name"`
}

// Post is a 岗位 of a unit.
type Post struct {
	ID   string `json:"id" yaml:"id"`
	Name string `json:"name" yaml:"name"`
}

// Staff is a 人员 of a unit, holding posts.
type Staff struct {
	ID    string   `json:"id" yaml:"id"`
	Name  string   `json:"name" yaml:"name"`
	Posts []string `json:"posts,omitempty" yaml:"posts"`
}

// Unit is a 政务服务单位, the root of the 单位 + 人员 + 岗位 tree.
type Unit struct {
	ID    string  `json:"id" yaml:"id"`
	Name  string  `json:"name" yaml:"name"`
	Group string  `json:"group" yaml:"group"`
	Level string  `json:"level" yaml:"level"` // district, town or village
	Posts []Post  `json:"posts,omitempty" yaml:"posts"`
	Staff []Staff `json:"staff,omitempty" yaml:"staff"`
}

// Directory is the set of units, their groups, staff and posts.
type Directory struct {
	Groups []UnitGroup `json:"groups" yaml:"groups"`
	Units  []Unit      `json:"units" yaml:"units"`
	byID   map[string]*Unit
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate checks the directory and indexes it; errors name the entry.
func (d *Directory) Validate() error {
	groups := map[string]bool{}
	for i, g := range d.Groups {
		if !idPattern.MatchString(g.ID) || groups[g.ID] {
			return fmt.Errorf("groups[%d].id: %q is empty, malformed or repeated", i, g.ID)
		}
		groups[g.ID] = true
	}
	d.byID = map[string]*Unit{}
	for i := range d.Units {
		u := &d.Units[i]
		where := fmt.Sprintf("units[%d] (%s)", i, u.Name)
		if !idPattern.MatchString(u.ID) {
			return fmt.Errorf("%s.id: %q is not a valid ID", where, u.ID)
		}
		if d.byID[u.ID] != nil {
			return fmt.Errorf("%s.id: %q repeated", where, u.ID)
		}
		if u.Name == "" {
			return fmt.Errorf("%s.name: empty", where)
		}
		if !groups[u.Group] {
			return fmt.Errorf("%s.group: %q is not a group", where, u.Group)
		}
		switch u.Level {
		case "district", "town", "village":
		default:
			return fmt.Errorf("%s.level: %q, want district, town or village", where, u.Level)
		}
		posts := map[string]bool{}
		for j, p := range u.Posts {
			if !idPattern.MatchString(p.ID) || posts[p.ID] {
				return fmt.Errorf("%s.posts[%d].id: %q is malformed or repeated", where, j, p.ID)
			}
			posts[p.ID] = true
		}
		staff := map[string]bool{}
		for j, s := range u.Staff {
			if !idPattern.MatchString(s.ID) || staff[s.ID] {
				return fmt.Errorf("%s.staff[%d].id: %q is malformed or repeated", where, j, s.ID)
			}
			staff[s.ID] = true
			for _, p := range s.Posts {
				if !posts[p] {
					return fmt.Errorf("%s.staff[%d].posts: %q is not a post of the unit", where, j, p)
				}
			}
		}
		d.byID[u.ID] = u
	}
	return nil
}

// Unit returns a unit by ID.
func (d *Directory) Unit(id string) (*Unit, bool) {
	u, ok := d.byID[id]
	return u, ok
}

// IDs returns the set of unit IDs.
func (d *Directory) IDs() map[string]bool {
	m := make(map[string]bool, len(d.Units))
	for _, u := range d.Units {
		m[u.ID] = true
	}
	return m
}
