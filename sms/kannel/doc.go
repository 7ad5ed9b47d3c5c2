// Package kannel is the SMS provider over Kannel's HTTP interface: it sends
// with smsbox's sendsms (UTF-8 text, coding=2, delivery reports to our
// dlr-url) and serves the two URLs Kannel calls, the MO get-url
// (/sms/kannel/mo) and the dlr-url (/sms/kannel/dlr).
//
// It imports the parent sms package (the Provider and Inbound interfaces)
// and the standard library only.
package kannel
