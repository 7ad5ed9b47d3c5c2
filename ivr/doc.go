// Package ivr is the rating call flow: the state machine that, once a caller
// has been transferred to us, plays the menu, collects one keypad digit,
// announces the chosen level, thanks the caller, records the result and hangs
// up; or, after the last attempt or when the caller hangs up first, records
// that there was no rating so that an SMS invitation can follow.
//
// The flow drives a small Call interface that it declares (play a prompt,
// receive digits, hang up, notice the end of the call) and hands its Result to
// a Recorder that it also declares. It knows nothing of SIP, RTP, SMS or
// Redis: the sip package implements Call, the case core implements Recorder,
// and cmd/haochaping joins them with small adapters.
//
// The package names its prompts (PromptID) and the files that hold them; it
// never reads audio. The default catalogue and its texts match
// configs/prompts/zh-CN/prompts.tsv, from which scripts/gen-prompts.sh
// generates the WAV files.
//
// Imports: the standard library, prometheus/client_golang and, from this
// project, only the leaves internal/clock and internal/phone.
package ivr
