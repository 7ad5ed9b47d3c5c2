package sms

import (
	"context"
	"errors"
)

// Provider is a gateway that sends messages: console, kannel or smpp.
// Receipts and replies come back through the Inbound interface the module
// implements (HandleReceipt, HandleMO).
type Provider interface {
	// Name is the provider's label in metrics and receipt ids.
	Name() string
	// Send submits one message. It returns the gateway's ids, one per
	// segment where the gateway reports per segment (even with an error,
	// the ids of segments that were accepted). An error that has a
	// Temporary() bool method returning true (throttling, lost connection,
	// an unknown outcome) is retried with backoff and the same
	// OutMessage.UserRef; any other error fails the message.
	Send(ctx context.Context, m OutMessage) ([]string, error)
}

// OutMessage is one message handed to a provider.
type OutMessage struct {
	// ID is the outbox message ID (M…): Kannel puts it in the dlr-url.
	ID   string
	To   string
	Text string
	// Segments is how many SMS the text takes (1 if it fits in 70).
	Segments int
	// UserRef is stable across retries of the message (1..65535).
	UserRef int
	Kind    string
}

// MO is a citizen's incoming message as a gateway reports it.
type MO struct {
	From, To string
	Text     string
	// ID is the gateway's id of the message, used to drop duplicates; may be empty.
	ID string
}

// Receipt is a delivery report.
type Receipt struct {
	// MessageID is the provider's id of the message or segment (Send's
	// ids); for Kannel our own message ID, which rides in the dlr-url.
	MessageID string
	// Part distinguishes the receipts of the segments of one message when
	// they share MessageID (Kannel: the SMSC's id, %F); may be empty.
	Part string
	// Status is delivered, failed, expired or pending (intermediate).
	Status string
	// OwnID says MessageID is our outbox message ID (Kannel's dlr-url
	// carries it), so the receipt finds its message even when it arrives
	// before the send has returned and mapped the gateway's ids.
	OwnID bool
}

// Receipt statuses.
const (
	ReceiptDelivered = "delivered"
	ReceiptFailed    = "failed"
	ReceiptExpired   = "expired"
	ReceiptPending   = "pending"
)

// Inbound receives what gateways deliver. The module implements it; the
// gateways' HTTP handlers and the SMPP handler call it.
type Inbound interface {
	HandleMO(ctx context.Context, provider string, m MO) error
	HandleReceipt(ctx context.Context, provider string, r Receipt) error
}

// TemporaryError marks an error as worth retrying.
type TemporaryError struct{ Err error }

func (e *TemporaryError) Error() string   { return e.Err.Error() }
func (e *TemporaryError) Unwrap() error   { return e.Err }
func (e *TemporaryError) Temporary() bool { return true }

// Temporary wraps err so the outbox retries it.
func Temporary(err error) error { return &TemporaryError{Err: err} }

// IsTemporary reports whether err says retrying may succeed.
func IsTemporary(err error) bool {
	var t interface{ Temporary() bool }
	if errors.As(err, &t) {
		return t.Temporary()
	}
	return errors.Is(err, context.DeadlineExceeded)
}
