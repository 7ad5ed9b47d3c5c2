package smpp

import (
	"errors"
	"fmt"
)

// Outcome says what the SMSC may have done with a submit that failed.
type Outcome int

const (
	// NotSent: no part of the message reached the SMSC. Safe to retry.
	NotSent Outcome = iota + 1
	// Unknown: the SMSC may have accepted some or all of it (see the
	// package documentation for the retry policy).
	Unknown
	// Rejected: the SMSC answered with an error status (see Status).
	Rejected
)

func (o Outcome) String() string {
	switch o {
	case NotSent:
		return "NOT SENT"
	case Unknown:
		return "UNKNOWN"
	case Rejected:
		return "REJECTED"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Sentinels for errors.Is.
var (
	ErrNotSent       = errors.New("smpp: not sent")
	ErrResultUnknown = errors.New("smpp: result unknown")
	ErrRejected      = errors.New("smpp: rejected by SMSC")
	// ErrThrottled matches ESME_RTHROTTLED and ESME_RMSGQFUL answers.
	ErrThrottled = errors.New("smpp: throttled by SMSC")

	ErrClosed          = errors.New("smpp: client closed")
	ErrConnectionLost  = errors.New("smpp: connection lost")
	ErrResponseTimeout = errors.New("smpp: response timeout")
	ErrDeadPeer        = errors.New("smpp: peer silent too long")
	ErrInvalidMessage  = errors.New("smpp: invalid message")
)

// SubmitError is the error returned by Client.Submit for anything but an
// invalid message. errors.Is matches ErrNotSent, ErrResultUnknown or
// ErrRejected by Outcome, ErrThrottled for throttling statuses, and the
// cause; errors.As finds the Status.
type SubmitError struct {
	Outcome Outcome
	// Status is the SMSC's command_status when it answered with an error.
	Status Status
	// Segment is the 1-based segment that failed, Segments the total.
	Segment, Segments int
	Err               error
}

func (e *SubmitError) Error() string {
	s := "smpp: submit " + e.Outcome.String()
	if e.Segments > 1 {
		s += fmt.Sprintf(" (segment %d of %d)", e.Segment, e.Segments)
	}
	if e.Status != StatusOK {
		s += ": " + e.Status.String()
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap lets errors.Is and errors.As see the outcome, status and cause.
func (e *SubmitError) Unwrap() []error {
	errs := make([]error, 0, 4)
	switch e.Outcome {
	case NotSent:
		errs = append(errs, ErrNotSent)
	case Unknown:
		errs = append(errs, ErrResultUnknown)
	case Rejected:
		errs = append(errs, ErrRejected)
	}
	if e.Status != StatusOK {
		errs = append(errs, e.Status)
		if e.Status == ESME_RTHROTTLED || e.Status == ESME_RMSGQFUL {
			errs = append(errs, ErrThrottled)
		}
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Temporary reports whether retrying later may succeed: always for NOT
// SENT and UNKNOWN, and for rejections with a temporary status.
func (e *SubmitError) Temporary() bool {
	if e.Outcome == Rejected {
		return e.Status.Temporary()
	}
	return true
}

// IsTemporary reports whether err is a temporary failure worth retrying.
func IsTemporary(err error) bool {
	var t interface{ Temporary() bool }
	if errors.As(err, &t) {
		return t.Temporary()
	}
	return false
}
