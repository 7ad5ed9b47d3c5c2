// Package sms is responsible for everything the rating system says and
// hears by text message, independent of any gateway: the five rating levels
// as they are spelled in messages (level.go), the parser of citizens'
// replies (reply.go), the message templates and their layout into 70/67
// character UCS-2 segments (template.go), and the signed tokens and typed
// codes of the rating link (token.go).
//
// Gateways live in sub-packages (sms/smpp, sms/kannel, ...) and may import
// this package; this package imports only the standard library. It never
// imports casecore, sip or ivr: cmd/haochaping maps sms.Level to the case
// core's level with a small adapter, by name, never by position.
package sms
