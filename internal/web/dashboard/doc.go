// Package dashboard is the staff dashboard of the 好差评 system: accounts and
// sessions (in Redis), server-rendered pages in Chinese for handlers,
// administrators and supervisors, the audited reveal of a rater's number,
// reports and exports, the operations view of the hotline centre, and live
// updates over Server-Sent Events from the case core's event stream.
//
// Every page and action runs with the casecore.Actor of the logged-in
// account, so the case core's unit checks apply unchanged (a handler asking
// for another unit's case gets 404). Pages work without JavaScript; the
// embedded script only adds live updates.
//
// It imports casecore, internal leaves and golang.org/x/crypto; never sip,
// ivr or sms: the operations view reads them through the small interfaces
// CallsSource and OutboxSource, which cmd/haochaping adapts.
package dashboard
