package ivr

// State is a step of the flow.
type State string

// The states. Before a decision: lead_in, menu, wait_key, invalid, no_input.
// After a valid key: record_rating, announce, thanks, hangup. After giving
// up: goodbye, hangup, record_no_rating.
const (
	StateLeadIn         State = "lead_in"          // silence before the first prompt
	StateMenu           State = "menu"             // playing the menu, interruptible
	StateWaitKey        State = "wait_key"         // menu played, waiting DigitTimeout
	StateInvalid        State = "invalid"          // playing "输入有误", interruptible
	StateNoInput        State = "no_input"         // playing "我们没有收到您的按键", interruptible
	StateRecordRating   State = "record_rating"    // recording the chosen level
	StateAnnounce       State = "announce"         // playing the chosen level, keys ignored
	StateThanks         State = "thanks"           // playing the thanks, keys ignored
	StateGoodbye        State = "goodbye"          // playing the no-rating goodbye, keys ignored
	StateHangup         State = "hangup"           // hanging up from our side
	StateRecordNoRating State = "record_no_rating" // recording that there was no rating
	StateDone           State = "done"             // final
)

// states lists every state, for metrics and tests.
var states = []State{
	StateLeadIn, StateMenu, StateWaitKey, StateInvalid, StateNoInput,
	StateRecordRating, StateAnnounce, StateThanks, StateGoodbye, StateHangup,
	StateRecordNoRating, StateDone,
}

// event is what ends a state.
type event string

const (
	evLeadInDone     event = "lead_in_done"     // the lead-in silence has passed
	evPlayed         event = "played"           // the prompt played to its end
	evValidKey       event = "valid_key"        // a key of the key map
	evInvalidKey     event = "invalid_key"      // another key, attempts remain
	evInvalidKeyLast event = "invalid_key_last" // another key at the last attempt
	evTimeout        event = "timeout"          // no key in time, attempts remain
	evTimeoutLast    event = "timeout_last"     // no key in time at the last attempt
	evCallerHangup   event = "caller_hangup"    // the call ended from the caller's side
	evAborted        event = "aborted"          // the server is stopping or a prompt failed
	evRecorded       event = "recorded"         // the Recorder succeeded or gave up (logged)
	evHungUpRated    event = "hung_up_rated"    // we hung up; the rating is already recorded
	evHungUpNoRating event = "hung_up_no_rating"
)

// choosing holds the transitions shared by the states in which the caller is
// choosing: any key answers the menu, and hanging up means no rating.
var choosing = map[event]State{
	evValidKey:       StateRecordRating,
	evInvalidKey:     StateInvalid,
	evInvalidKeyLast: StateGoodbye,
	evCallerHangup:   StateRecordNoRating,
	evAborted:        StateHangup,
}

// with returns choosing plus extra.
func with(extra map[event]State) map[event]State {
	m := make(map[event]State, len(choosing)+len(extra))
	for e, s := range choosing {
		m[e] = s
	}
	for e, s := range extra {
		m[e] = s
	}
	return m
}

// transitions is the state machine: for each state, the state each event
// leads to. The rating is recorded as soon as the key is valid, before it is
// announced, so that a caller who hangs up during the announcement still
// counts; keys pressed after that are ignored.
var transitions = map[State]map[event]State{
	StateLeadIn:  with(map[event]State{evLeadInDone: StateMenu}),
	StateMenu:    with(map[event]State{evPlayed: StateWaitKey}),
	StateWaitKey: with(map[event]State{evTimeout: StateNoInput, evTimeoutLast: StateGoodbye}),
	StateInvalid: with(map[event]State{evPlayed: StateMenu}),
	StateNoInput: with(map[event]State{evPlayed: StateMenu}),
	StateRecordRating: {
		evRecorded: StateAnnounce,
	},
	StateAnnounce: {
		evPlayed:       StateThanks,
		evCallerHangup: StateDone,
		evAborted:      StateHangup,
	},
	StateThanks: {
		evPlayed:       StateHangup,
		evCallerHangup: StateDone,
		evAborted:      StateHangup,
	},
	StateGoodbye: {
		evPlayed:       StateHangup,
		evCallerHangup: StateRecordNoRating,
		evAborted:      StateHangup,
	},
	StateHangup: {
		evHungUpRated:    StateDone,
		evHungUpNoRating: StateRecordNoRating,
	},
	StateRecordNoRating: {
		evRecorded: StateDone,
	},
	StateDone: {},
}
