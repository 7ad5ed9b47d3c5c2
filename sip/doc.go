// Package sip is the SIP user agent and media engine of haochaping: it answers
// calls transferred from the 12345 hotline, plays pre-encoded prompts over RTP
// and reports the keys the caller presses.
//
// The package is responsible for SIP dialogs (on sipgo), SDP negotiation, RTP
// pacing (on pion/rtp), the G.711 codecs, loading prompts from WAV files and
// DTMF detection in its three forms: RFC 4733 telephone events
// (dtmf_rfc4733.go), SIP INFO bodies (dtmf_info.go) and in-band tones found
// by a Goertzel detector on the decoded audio (dtmf_inband.go). A
// DigitMerger (dtmf.go) folds the same key press seen by several methods into
// one.
//
// It knows nothing of ratings, cases or SMS: it exposes calls, prompts and
// digits, and the caller (the ivr package, joined in cmd/haochaping) decides
// what they mean. It may import the standard library, sipgo, pion and the
// Prometheus client, and of this module only small internal leaves such as
// internal/clock and internal/phone; never casecore, ivr or sms.
//
// Audio throughout is 8 kHz, 16-bit linear PCM in 20 ms frames of 160
// samples (FrameSamples), the only format the G.711 codecs need.
package sip
