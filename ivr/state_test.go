package ivr

import (
	"maps"
	"slices"
	"testing"
)

// TestTransitions pins the whole table: a change to the flow must change
// this test too.
func TestTransitions(t *testing.T) {
	choosingRow := func(extra map[event]State) map[event]State {
		m := map[event]State{
			evValidKey:       StateRecordRating,
			evInvalidKey:     StateInvalid,
			evInvalidKeyLast: StateGoodbye,
			evCallerHangup:   StateRecordNoRating,
			evAborted:        StateHangup,
		}
		maps.Copy(m, extra)
		return m
	}
	want := map[State]map[event]State{
		StateLeadIn:         choosingRow(map[event]State{evLeadInDone: StateMenu}),
		StateMenu:           choosingRow(map[event]State{evPlayed: StateWaitKey}),
		StateWaitKey:        choosingRow(map[event]State{evTimeout: StateNoInput, evTimeoutLast: StateGoodbye}),
		StateInvalid:        choosingRow(map[event]State{evPlayed: StateMenu}),
		StateNoInput:        choosingRow(map[event]State{evPlayed: StateMenu}),
		StateRecordRating:   {evRecorded: StateAnnounce},
		StateAnnounce:       {evPlayed: StateThanks, evCallerHangup: StateDone, evAborted: StateHangup},
		StateThanks:         {evPlayed: StateHangup, evCallerHangup: StateDone, evAborted: StateHangup},
		StateGoodbye:        {evPlayed: StateHangup, evCallerHangup: StateRecordNoRating, evAborted: StateHangup},
		StateHangup:         {evHungUpRated: StateDone, evHungUpNoRating: StateRecordNoRating},
		StateRecordNoRating: {evRecorded: StateDone},
		StateDone:           {},
	}
	for _, s := range states {
		got, ok := transitions[s]
		if !ok {
			t.Errorf("no row for state %s", s)
			continue
		}
		if !maps.Equal(got, want[s]) {
			t.Errorf("row %s\n got %v\nwant %v", s, got, want[s])
		}
	}
	if len(transitions) != len(states) {
		t.Errorf("%d rows for %d states", len(transitions), len(states))
	}
}

// TestTransitionsShape checks properties a table edit could break: every
// state is reachable and can finish, and a rating is recorded at most once.
func TestTransitionsShape(t *testing.T) {
	reach := func(from State, skip func(State, event) bool) map[State]bool {
		seen := map[State]bool{from: true}
		todo := []State{from}
		for len(todo) > 0 {
			s := todo[0]
			todo = todo[1:]
			for _, e := range slices.Sorted(maps.Keys(transitions[s])) {
				n := transitions[s][e]
				if skip != nil && skip(s, e) || seen[n] {
					continue
				}
				seen[n] = true
				todo = append(todo, n)
			}
		}
		return seen
	}
	all := reach(StateLeadIn, nil)
	for _, s := range states {
		if !all[s] {
			t.Errorf("state %s unreachable from %s", s, StateLeadIn)
		}
		if s != StateDone && !reach(s, nil)[StateDone] {
			t.Errorf("state %s cannot reach %s", s, StateDone)
		}
		for _, n := range transitions[s] {
			if !slices.Contains(states, n) {
				t.Errorf("state %s leads to unknown state %s", s, n)
			}
		}
	}
	if len(transitions[StateDone]) != 0 {
		t.Errorf("transitions out of %s", StateDone)
	}
	// After a rating, the hang-up state emits only evHungUpRated, so
	// record_no_rating must not be reachable otherwise.
	afterRating := reach(StateRecordRating, func(s State, e event) bool {
		return s == StateHangup && e == evHungUpNoRating
	})
	if afterRating[StateRecordNoRating] || reachesAgain(StateRecordRating) {
		t.Errorf("a rated call can be recorded twice: %v", afterRating)
	}
	// Every state where the caller is choosing accepts keys, a hang-up and
	// an abort.
	for _, s := range []State{StateLeadIn, StateMenu, StateWaitKey, StateInvalid, StateNoInput} {
		for _, e := range []event{evValidKey, evInvalidKey, evInvalidKeyLast, evCallerHangup, evAborted} {
			if _, ok := transitions[s][e]; !ok {
				t.Errorf("choosing state %s does not handle %s", s, e)
			}
		}
	}
}

// reachesAgain reports whether s can lead back to itself.
func reachesAgain(s State) bool {
	seen := map[State]bool{}
	todo := []State{s}
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		for _, n := range transitions[c] {
			if n == s {
				return true
			}
			if !seen[n] {
				seen[n] = true
				todo = append(todo, n)
			}
		}
	}
	return false
}
