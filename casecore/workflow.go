package casecore

import "slices"

// Role is what an actor may do.
type Role string

// The roles.
const (
	// RoleAdmin is the district administrator (区政务办): all units, decides
	// appeals, reviews texts and re-reviews.
	RoleAdmin Role = "admin"
	// RoleHandler is a unit's handler (处置员): only the assigned units; logs
	// callbacks, files appeals, reports rectifications.
	RoleHandler Role = "handler"
	// RoleSupervisor reads everything and changes nothing.
	RoleSupervisor Role = "supervisor"
	// RoleIntake is a machine client that submits ratings and reads them.
	RoleIntake Role = "intake"
	// RoleSystem is the server itself: deadline worker, follow-up intake.
	RoleSystem Role = "system"
)

// Valid reports whether r is a known role other than system.
func (r Role) Valid() bool {
	return r == RoleAdmin || r == RoleHandler || r == RoleSupervisor || r == RoleIntake
}

// Actor is who asks for something: a staff account, a machine token or the system.
type Actor struct {
	ID    string
	Role  Role
	Units []string // for handlers: the units they may see and act for
}

// SystemActor is the actor of automatic transitions.
var SystemActor = Actor{ID: "system", Role: RoleSystem}

// CanSeeUnit reports whether the actor may see the cases and ratings of unit.
func (a Actor) CanSeeUnit(unit string) bool {
	switch a.Role {
	case RoleAdmin, RoleSupervisor, RoleSystem, RoleIntake:
		return true
	case RoleHandler:
		return slices.Contains(a.Units, unit)
	}
	return false
}

// Action names a transition a person (or the system) can ask for.
type Action string

// The actions. Automatic ones are taken by RoleSystem only.
const (
	ActionCallback     Action = "callback"      // unit: the rater was called back (差评回访)
	ActionAppeal       Action = "appeal"        // unit: appeal as mistaken or malicious (申诉)
	ActionAccept       Action = "accept"        // unit: agree the rating is a bad one; rectification starts now
	ActionUphold       Action = "uphold"        // admin: appeal upheld, rating not adopted
	ActionReject       Action = "reject"        // admin: appeal rejected, confirmed bad rating
	ActionRectify      Action = "rectify"       // unit: rectification reported; the rater is invited to 追评
	ActionRereviewPass Action = "rereview_pass" // admin: re-review passed, case closed
	ActionRereviewFail Action = "rereview_fail" // admin: re-review failed, rectify again
	ActionNote         Action = "note"          // anyone who may act on the case: a note, no change

	ActionAppealExpired   Action = "appeal_expired"   // system: no appeal in time, confirmed
	ActionFollowupGood    Action = "followup_good"    // system: a good follow-up rating arrived
	ActionFollowupBad     Action = "followup_bad"     // system: a bad follow-up rating arrived
	ActionFollowupExpired Action = "followup_expired" // system: no follow-up within the period
)

// transition is one row of the workflow table.
type transition struct {
	From  []State
	To    State // "" keeps the state (notes)
	Roles []Role
	// Stop lists the clocks the transition ends; Start those it starts.
	Stop  []ClockKind
	Start []ClockKind
}

// Transitions is the workflow: for every action, the states it leaves, the
// state it enters, the roles that may take it and the clocks it stops and
// starts. Nothing else changes a case's state.
var transitions = map[Action]transition{
	ActionCallback: {From: []State{StateOpen}, To: StateCalledBack, Roles: []Role{RoleHandler, RoleAdmin},
		Stop: []ClockKind{ClockCallback}},
	ActionAppeal: {From: []State{StateOpen, StateCalledBack}, To: StateAppealed, Roles: []Role{RoleHandler},
		Stop: []ClockKind{ClockCallback, ClockAppeal}, Start: []ClockKind{ClockAppealReview}},
	ActionAccept: {From: []State{StateOpen, StateCalledBack}, To: StateRectifying, Roles: []Role{RoleHandler},
		Stop: []ClockKind{ClockCallback, ClockAppeal}, Start: []ClockKind{ClockRectification}},
	ActionUphold: {From: []State{StateAppealed}, To: StateNotAdopted, Roles: []Role{RoleAdmin},
		Stop: []ClockKind{ClockAppealReview}},
	ActionReject: {From: []State{StateAppealed}, To: StateRectifying, Roles: []Role{RoleAdmin},
		Stop: []ClockKind{ClockAppealReview}, Start: []ClockKind{ClockRectification}},
	ActionAppealExpired: {From: []State{StateOpen, StateCalledBack}, To: StateRectifying, Roles: []Role{RoleSystem},
		Stop: []ClockKind{ClockCallback, ClockAppeal}, Start: []ClockKind{ClockRectification}},
	ActionRectify: {From: []State{StateRectifying}, To: StateFollowupPending, Roles: []Role{RoleHandler},
		Stop: []ClockKind{ClockRectification}, Start: []ClockKind{ClockFollowup}},
	ActionFollowupGood: {From: []State{StateFollowupPending}, To: StateClosed, Roles: []Role{RoleSystem},
		Stop: []ClockKind{ClockFollowup}},
	ActionFollowupBad: {From: []State{StateFollowupPending}, To: StateRereview, Roles: []Role{RoleSystem},
		Stop: []ClockKind{ClockFollowup}, Start: []ClockKind{ClockRereview}},
	ActionFollowupExpired: {From: []State{StateFollowupPending}, To: StateRereview, Roles: []Role{RoleSystem},
		Stop: []ClockKind{ClockFollowup}, Start: []ClockKind{ClockRereview}},
	ActionRereviewPass: {From: []State{StateRereview}, To: StateClosed, Roles: []Role{RoleAdmin},
		Stop: []ClockKind{ClockRereview}},
	ActionRereviewFail: {From: []State{StateRereview}, To: StateRectifying, Roles: []Role{RoleAdmin},
		Stop: []ClockKind{ClockRereview}, Start: []ClockKind{ClockRectification}},
	ActionNote: {From: States, Roles: []Role{RoleHandler, RoleAdmin}},
}

// UserActions lists the actions people can take through the API, in the
// order a dashboard shows them.
var UserActions = []Action{ActionCallback, ActionAppeal, ActionAccept, ActionUphold, ActionReject,
	ActionRectify, ActionRereviewPass, ActionRereviewFail, ActionNote}

// Allowed reports whether role may take action a on a case in state s.
func Allowed(a Action, role Role, s State) bool {
	t, ok := transitions[a]
	return ok && slices.Contains(t.Roles, role) && slices.Contains(t.From, s)
}

// AvailableActions lists the user actions the actor may take on c now.
func AvailableActions(actor Actor, c *Case) []Action {
	if !actor.CanSeeUnit(c.UnitID) {
		return nil
	}
	var out []Action
	for _, a := range UserActions {
		if Allowed(a, actor.Role, c.State) {
			out = append(out, a)
		}
	}
	return out
}

// Appeal reasons.
const (
	AppealMistaken  = "mistaken"  // 误评
	AppealMalicious = "malicious" // 恶意差评
)

// Appeal decisions.
const (
	DecisionUpheld   = "upheld"
	DecisionRejected = "rejected"
)
