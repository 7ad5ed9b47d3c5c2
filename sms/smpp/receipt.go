package smpp

import (
	"math/big"
	"strconv"
	"strings"
	"time"
)

// IDFormat says how an SMSC writes message ids, like Kannel's msg-id-type.
type IDFormat int

const (
	// IDAsIs compares ids as opaque strings (spaces trimmed).
	IDAsIs IDFormat = iota
	// IDHex means the id is a hexadecimal number.
	IDHex
	// IDDecimal means the id is a decimal number.
	IDDecimal
)

// NormalizeID turns id, written in format f, into the canonical form used
// to match submit_sm_resp ids with receipts: numbers become decimal without
// leading zeros, so "1A2B" (hex) and "6699" (decimal) are equal. An id that
// does not parse in its declared format is kept as it is.
func NormalizeID(id string, f IDFormat) string {
	id = strings.TrimSpace(id)
	base := 0
	switch f {
	case IDHex:
		base = 16
	case IDDecimal:
		base = 10
	default:
		return id
	}
	if id == "" || len(id) > 64 {
		return id
	}
	var n big.Int
	if _, ok := n.SetString(id, base); !ok || n.Sign() < 0 {
		return id
	}
	return n.String()
}

// Receipt states (the stat: field of the receipt text).
const (
	StateEnroute       = "ENROUTE"
	StateDelivered     = "DELIVRD"
	StateExpired       = "EXPIRED"
	StateDeleted       = "DELETED"
	StateUndeliverable = "UNDELIV"
	StateAccepted      = "ACCEPTD"
	StateUnknown       = "UNKNOWN"
	StateRejected      = "REJECTD"
)

// messageStates maps the message_state TLV to the receipt text states.
var messageStates = [...]string{1: StateEnroute, 2: StateDelivered, 3: StateExpired, 4: StateDeleted,
	5: StateUndeliverable, 6: StateAccepted, 7: StateUnknown, 8: StateRejected}

// MessageStateCode returns the message_state TLV value of a stat: string.
func MessageStateCode(stat string) uint8 {
	for i, s := range messageStates {
		if s != "" && strings.EqualFold(s, stat) {
			return uint8(i)
		}
	}
	return 7
}

// Receipt is a delivery receipt.
type Receipt struct {
	// MessageID is normalised (see NormalizeID) and equals one of the
	// Result.MessageIDs of the submit it reports on.
	MessageID string
	// RawID is the id as the SMSC wrote it.
	RawID string
	// State is DELIVRD, UNDELIV, EXPIRED, REJECTD, ... (StateDelivered ...).
	State      string
	Err        string
	Submitted  int
	Delivered  int
	SubmitDate time.Time
	DoneDate   time.Time
	// Text is the start of the original message, if the SMSC included it.
	Text string
	// Source is the handset that the message went to; Dest our address.
	Source, Dest string
	// UserRef is the user_message_reference echoed by the SMSC, 0 if none.
	UserRef int
	// Intermediate is set for intermediate notifications (not final).
	Intermediate bool
}

// Final reports whether the state is final (not ENROUTE/ACCEPTD).
func (r *Receipt) Final() bool {
	return !r.Intermediate && r.State != StateEnroute && r.State != StateAccepted
}

// Success reports whether the message reached the handset.
func (r *Receipt) Success() bool { return r.State == StateDelivered }

// receiptKeys are the labels of the receipt text (SMPP 3.4 Appendix B).
var receiptKeys = []string{"id:", "sub:", "dlvrd:", "submit date:", "done date:", "stat:", "err:", "text:"}

// ParseReceiptText parses the conventional receipt text
// "id:IIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
// stat:DDDDDDD err:E text:...". Labels are matched without regard to case
// and may be missing; text runs to the end. ok is false when there is no id.
// Dates are read in loc (time.Local if nil).
func ParseReceiptText(s string, loc *time.Location) (r Receipt, ok bool) {
	if loc == nil {
		loc = time.Local
	}
	lower := asciiLower(s)
	vals := make(map[string]string, len(receiptKeys))
	for _, k := range receiptKeys {
		i := findLabel(lower, k)
		if i < 0 {
			continue
		}
		v := s[i+len(k):]
		if k != "text:" {
			if j := strings.IndexAny(v, " \t\r\n"); j >= 0 {
				v = v[:j]
			}
		}
		vals[k] = v
	}
	r.RawID, ok = vals["id:"]
	if r.RawID == "" {
		ok = false
	}
	r.Submitted, _ = strconv.Atoi(vals["sub:"])
	r.Delivered, _ = strconv.Atoi(vals["dlvrd:"])
	r.SubmitDate = parseReceiptDate(vals["submit date:"], loc)
	r.DoneDate = parseReceiptDate(vals["done date:"], loc)
	r.State = strings.ToUpper(vals["stat:"])
	r.Err = vals["err:"]
	r.Text = vals["text:"]
	return r, ok
}

// findLabel finds label k at the start of s or after a space.
func findLabel(s, k string) int {
	from := 0
	for {
		i := strings.Index(s[from:], k)
		if i < 0 {
			return -1
		}
		i += from
		if i == 0 || s[i-1] == ' ' || s[i-1] == '\t' {
			return i
		}
		from = i + 1
	}
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func parseReceiptDate(v string, loc *time.Location) time.Time {
	var layout string
	switch len(v) {
	case 10:
		layout = "0601021504"
	case 12:
		layout = "060102150405"
	default:
		return time.Time{}
	}
	t, err := time.ParseInLocation(layout, v, loc)
	if err != nil {
		return time.Time{}
	}
	return t
}

// ReceiptFromSM builds a Receipt from a deliver_sm carrying one. The TLVs
// (receipted_message_id, message_state) take precedence over the text. The
// TLV id has the submit_sm_resp format (ackFmt) per the specification; the
// text id has the receipt format (textFmt).
func ReceiptFromSM(sm *SM, ackFmt, textFmt IDFormat, loc *time.Location) (Receipt, bool) {
	text := sm.ShortMessage
	if p, ok := sm.TLVs.Get(TagMessagePayload); ok && len(text) == 0 {
		text = p
	}
	r, ok := ParseReceiptText(DecodeText(sm.DataCoding, text), loc)
	if ok {
		r.MessageID = NormalizeID(r.RawID, textFmt)
	}
	if id, has := sm.TLVs.String(TagReceiptedMessageID); has && strings.TrimSpace(id) != "" {
		r.RawID = id
		r.MessageID = NormalizeID(id, ackFmt)
		ok = true
	}
	if st, has := sm.TLVs.Uint(TagMessageState); has && int(st) < len(messageStates) && messageStates[st] != "" {
		r.State = messageStates[st]
	}
	if u, has := sm.TLVs.Uint(TagUserMessageReference); has {
		r.UserRef = int(u)
	}
	r.Source, r.Dest = sm.SourceAddr, sm.DestAddr
	r.Intermediate = sm.ESMClass&ESMClassTypeMask == ESMClassIntermediate
	return r, ok
}

// FormatReceiptText writes the conventional receipt text, used by the
// simulator.
func FormatReceiptText(id, stat string, submit, done time.Time, text string) string {
	if r := []rune(text); len(r) > 20 {
		text = string(r[:20])
	}
	dlvrd := "000"
	if stat == StateDelivered {
		dlvrd = "001"
	}
	return "id:" + id + " sub:001 dlvrd:" + dlvrd + " submit date:" + submit.Format("0601021504") +
		" done date:" + done.Format("0601021504") + " stat:" + stat + " err:000 text:" + text
}
