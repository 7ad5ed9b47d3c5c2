package ivr

import (
	"context"
	"time"
)

// Call is one answered call, as the flow sees it. The sip package implements
// it over a SIP dialog and its media; tests implement it with channels.
type Call interface {
	// Play plays prompt p to the caller and returns nil once it has been
	// played to the end. It must return promptly, with an error, when ctx is
	// cancelled (the flow cancels it to interrupt a prompt on a key press) or
	// when the call ends. Plays never overlap: the flow waits for one Play to
	// return before starting the next.
	Play(ctx context.Context, p PromptID) error
	// Digits delivers each key press once, whichever way it arrived (RFC 4733,
	// SIP INFO, in-band); de-duplication is the implementation's job. The
	// channel should be buffered and its sender must not block on it: the
	// flow stops reading once it has decided. It may be closed when the call
	// ends.
	Digits() <-chan rune
	// Hangup ends the call from our side.
	Hangup(ctx context.Context) error
	// Done is closed when the call has ended, whoever ended it.
	Done() <-chan struct{}
}

// Timers makes the timers the flow waits on: the lead-in, the digit timeout
// and the backoff between attempts to record. Tests inject timers they fire
// themselves.
type Timers interface {
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// RealTimers are timers on the wall clock.
type RealTimers struct{}

// After returns time.After(d).
func (RealTimers) After(d time.Duration) <-chan time.Time { return time.After(d) }
