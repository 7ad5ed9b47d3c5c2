// Package smpp is an SMPP 3.4 client (ESME) written for the 好差评 SMS
// channel, plus a simulator SMSC used by tests, benchmarks and the load tool.
//
// It is responsible for the wire protocol and nothing above it: PDU encoding
// and decoding (pdu.go, pdu_body.go), text codings (ucs2.go), concatenation
// and reassembly (concat.go), delivery receipts and message id normalisation
// (receipt.go), the client with its bind, window, keep-alive and reconnection
// logic (client.go, session.go) and the simulator (sim.go). It knows nothing
// of ratings, invitations or the outbox: the sms package adapts it.
//
// Imports: the standard library, prometheus client_golang and the leaf
// internal/phone; never the parent sms package or any other project package.
//
// # Delivery guarantees
//
// Every outgoing segment is in one of three states when a connection is lost:
//
//   - NOT SENT: its submit_sm was never completely written to the socket
//     (it waited for a window slot, for a bind, or the write was short).
//     The SMSC cannot have it. Submit returns a *SubmitError with
//     Outcome == NotSent; errors.Is(err, ErrNotSent) holds. Retry freely.
//   - UNKNOWN: the whole PDU was written but no submit_sm_resp came back
//     (connection lost, response timeout, caller's context ended). The SMSC
//     may or may not have accepted it. Outcome == Unknown; errors.Is(err,
//     ErrResultUnknown) holds.
//   - Acknowledged: a submit_sm_resp arrived (accepted with an id, or
//     rejected with a status).
//
// Policy for UNKNOWN, which the outbox must follow: retry (at least once
// delivery), with the same Message.UserRef. A lost rating invitation costs a
// rating; a duplicate costs one SMS and is harmless because the reply parser
// lets the first valid rating win. The duplicate can only happen when the SMSC
// accepted the PDU and the connection died before its response reached us, a
// window of one round trip. The UserRef travels in user_message_reference
// (0x0204) and, for long messages, is the concatenation reference, so a
// retried multi-part message carries the same reference and handsets that
// already hold some parts combine rather than duplicate them. Receipts are
// matched by message id, and the outbox keeps every id it ever received for a
// message (Result.MessageIDs of each attempt), so a receipt for either copy
// updates the same message. A multi-part message whose segments were only
// partly acknowledged is reported as UNKNOWN with the ids that did arrive.
//
// Throttling (ESME_RTHROTTLED 0x58, ESME_RMSGQFUL 0x14) means the SMSC
// refused the segment: it is retried inside Submit up to
// Config.ThrottleRetries times after a pause, while the client halves its
// window and recovers it one slot per success; if it still fails, Submit
// returns an error matching ErrThrottled that is temporary and NOT SENT for
// that segment.
//
// Incoming deliver_sm (replies and receipts) is acknowledged with
// deliver_sm_resp only after the Handler returned nil; a handler error is
// answered with ESME_RX_T_APPN (0x64) so the SMSC delivers it again. The
// parts of a concatenated reply are acknowledged together, after the whole
// reply was handled, so a crash while parts wait in memory loses nothing:
// the SMSC delivers the unacknowledged parts again.
package smpp
