// Package sms is responsible for everything the rating system says and
// hears by text message, independent of any gateway: the five rating levels
// as they are spelled in messages (level.go), the parser of citizens'
// replies (reply.go), the message templates and their layout into 70/67
// character UCS-2 segments (template.go), the signed tokens and typed
// codes of the rating link (token.go), and the module built on them:
// invitations (invitation.go), the durable outbox in Redis with its send
// window, daily cap, suppression list, retries and receipts (outbox.go,
// outbox_lua.go, keys.go), the handling of replies (inbound.go), the
// rating page (page.go, csrf.go), the invitation API (api.go), the
// consumer of the case core's event stream (events.go), the development
// console provider (console.go) and the metrics (metrics.go).
//
// Gateways live in sub-packages (sms/smpp, sms/kannel) and may import this
// package; this package imports the standard library, go-redis, the
// Prometheus client and the leaves internal/phone and internal/realip. It never imports casecore, sip or ivr: it declares the
// Recorder it needs, and cmd/haochaping adapts the case core to it and maps
// sms.Level to the case core's level by name, never by position.
//
// Comments that arrive after an invitation was rated are kept in this
// module's store (late comments, listed per invitation and counted), since
// the case core has no operation to append to a rating's comment; texts
// received before the rating (ambiguous replies, free text) become part of
// the rating's comment. Texts with no open invitation are kept as
// unsolicited.
package sms
