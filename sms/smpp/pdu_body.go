package smpp

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// TLV tags (SMPP 3.4, section 5.3.2) used here.
const (
	TagReceiptedMessageID   uint16 = 0x001E
	TagUserMessageReference uint16 = 0x0204
	TagSourcePort           uint16 = 0x020A
	TagDestinationPort      uint16 = 0x020B
	TagSarMsgRefNum         uint16 = 0x020C
	TagSarTotalSegments     uint16 = 0x020E
	TagSarSegmentSeqnum     uint16 = 0x020F
	TagMessagePayload       uint16 = 0x0424
	TagMessageState         uint16 = 0x0427
	TagNetworkErrorCode     uint16 = 0x0423
)

// Field limits from the specification, terminating NUL included.
const (
	maxSystemID    = 16
	maxPassword    = 9
	maxSystemType  = 13
	maxAddrRange   = 41
	maxServiceType = 6
	maxAddr        = 21
	maxTime        = 17
	maxMessageID   = 65
	maxShortMsg    = 254
)

// TLV is an optional parameter.
type TLV struct {
	Tag   uint16
	Value []byte
}

// TLVs is the list of optional parameters of a PDU, in wire order.
type TLVs []TLV

// Get returns the value of the first TLV with tag t.
func (ts TLVs) Get(t uint16) ([]byte, bool) {
	for _, v := range ts {
		if v.Tag == t {
			return v.Value, true
		}
	}
	return nil, false
}

// Uint returns the big-endian integer value (1, 2 or 4 bytes) of tag t.
func (ts TLVs) Uint(t uint16) (uint32, bool) {
	v, ok := ts.Get(t)
	if !ok {
		return 0, false
	}
	switch len(v) {
	case 1:
		return uint32(v[0]), true
	case 2:
		return uint32(binary.BigEndian.Uint16(v)), true
	case 4:
		return binary.BigEndian.Uint32(v), true
	}
	return 0, false
}

// String returns the value of tag t as a C-octet string (NUL stripped).
func (ts TLVs) String(t uint16) (string, bool) {
	v, ok := ts.Get(t)
	if !ok {
		return "", false
	}
	for i, c := range v {
		if c == 0 {
			v = v[:i]
			break
		}
	}
	return string(v), true
}

// Uint8TLV, Uint16TLV and CStringTLV build common TLVs.
func Uint8TLV(t uint16, v uint8) TLV   { return TLV{t, []byte{v}} }
func Uint16TLV(t uint16, v uint16) TLV { return TLV{t, binary.BigEndian.AppendUint16(nil, v)} }
func CStringTLV(t uint16, s string) TLV {
	return TLV{t, append([]byte(s), 0)}
}

func (ts TLVs) appendTo(b []byte) ([]byte, error) {
	for _, t := range ts {
		if len(t.Value) > 0xFFFF {
			return nil, fmt.Errorf("tlv 0x%04X: value too long", t.Tag)
		}
		b = binary.BigEndian.AppendUint16(b, t.Tag)
		b = binary.BigEndian.AppendUint16(b, uint16(len(t.Value)))
		b = append(b, t.Value...)
	}
	return b, nil
}

// Bind is the body of bind_transmitter, bind_receiver and bind_transceiver.
type Bind struct {
	SystemID         string
	Password         string
	SystemType       string
	InterfaceVersion byte
	AddrTON          byte
	AddrNPI          byte
	AddressRange     string
}

// BindResp is the body of the bind responses.
type BindResp struct {
	SystemID string
	TLVs     TLVs
}

// SM is the body of submit_sm and deliver_sm, which share one layout.
type SM struct {
	ServiceType          string
	SourceAddrTON        byte
	SourceAddrNPI        byte
	SourceAddr           string
	DestAddrTON          byte
	DestAddrNPI          byte
	DestAddr             string
	ESMClass             byte
	ProtocolID           byte
	PriorityFlag         byte
	ScheduleDeliveryTime string
	ValidityPeriod       string
	RegisteredDelivery   byte
	ReplaceIfPresent     byte
	DataCoding           byte
	SMDefaultMsgID       byte
	ShortMessage         []byte
	TLVs                 TLVs
}

// ESM class bits.
const (
	ESMClassUDHI         = 0x40 // short_message starts with a user data header
	ESMClassTypeMask     = 0x3C
	ESMClassReceipt      = 0x04 // SMSC delivery receipt
	ESMClassIntermediate = 0x20 // intermediate delivery notification
)

// SMResp is the body of submit_sm_resp, deliver_sm_resp and data_sm_resp.
type SMResp struct {
	MessageID string
	TLVs      TLVs
}

type writer struct {
	b   []byte
	err error
}

func (w *writer) cstr(field, s string, max int) {
	if w.err != nil {
		return
	}
	if len(s)+1 > max {
		w.err = fmt.Errorf("%s: %d bytes, at most %d", field, len(s), max-1)
		return
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			w.err = fmt.Errorf("%s: contains NUL", field)
			return
		}
	}
	w.b = append(w.b, s...)
	w.b = append(w.b, 0)
}

func (w *writer) byte1(v byte) { w.b = append(w.b, v) }

func (v *Bind) appendTo(b []byte) ([]byte, error) {
	w := writer{b: b}
	w.cstr("system_id", v.SystemID, maxSystemID)
	w.cstr("password", v.Password, maxPassword)
	w.cstr("system_type", v.SystemType, maxSystemType)
	w.byte1(v.InterfaceVersion)
	w.byte1(v.AddrTON)
	w.byte1(v.AddrNPI)
	w.cstr("address_range", v.AddressRange, maxAddrRange)
	return w.b, w.err
}

func (v *BindResp) appendTo(b []byte) ([]byte, error) {
	w := writer{b: b}
	w.cstr("system_id", v.SystemID, maxSystemID)
	if w.err != nil {
		return nil, w.err
	}
	return v.TLVs.appendTo(w.b)
}

func (v *SM) appendTo(b []byte) ([]byte, error) {
	w := writer{b: b}
	w.cstr("service_type", v.ServiceType, maxServiceType)
	w.byte1(v.SourceAddrTON)
	w.byte1(v.SourceAddrNPI)
	w.cstr("source_addr", v.SourceAddr, maxAddr)
	w.byte1(v.DestAddrTON)
	w.byte1(v.DestAddrNPI)
	w.cstr("destination_addr", v.DestAddr, maxAddr)
	w.byte1(v.ESMClass)
	w.byte1(v.ProtocolID)
	w.byte1(v.PriorityFlag)
	w.cstr("schedule_delivery_time", v.ScheduleDeliveryTime, maxTime)
	w.cstr("validity_period", v.ValidityPeriod, maxTime)
	w.byte1(v.RegisteredDelivery)
	w.byte1(v.ReplaceIfPresent)
	w.byte1(v.DataCoding)
	w.byte1(v.SMDefaultMsgID)
	if w.err != nil {
		return nil, w.err
	}
	if len(v.ShortMessage) > maxShortMsg {
		return nil, fmt.Errorf("short_message: %d bytes, at most %d (use message_payload)", len(v.ShortMessage), maxShortMsg)
	}
	w.byte1(byte(len(v.ShortMessage)))
	w.b = append(w.b, v.ShortMessage...)
	return v.TLVs.appendTo(w.b)
}

func (v *SMResp) appendTo(b []byte) ([]byte, error) {
	w := writer{b: b}
	w.cstr("message_id", v.MessageID, maxMessageID)
	if w.err != nil {
		return nil, w.err
	}
	return v.TLVs.appendTo(w.b)
}

// reader decodes a body defensively: every read is bounds-checked and the
// first failure sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

// cstr reads a NUL-terminated string. Limits are not enforced on input:
// real SMSCs exceed them, and the PDU length bound already caps memory.
func (r *reader) cstr(field string) string {
	if r.err != nil {
		return ""
	}
	for i, c := range r.b {
		if c == 0 {
			s := string(r.b[:i])
			r.b = r.b[i+1:]
			return s
		}
	}
	r.fail("%s: missing NUL terminator", field)
	return ""
}

func (r *reader) byte1(field string) byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 1 {
		r.fail("%s: truncated", field)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bytes(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail("%s: need %d bytes, have %d", field, n, len(r.b))
		return nil
	}
	v := append([]byte(nil), r.b[:n]...)
	r.b = r.b[n:]
	return v
}

func (r *reader) tlvs() TLVs {
	var ts TLVs
	for r.err == nil && len(r.b) > 0 {
		if len(r.b) < 4 {
			r.fail("tlv header truncated")
			return ts
		}
		tag := binary.BigEndian.Uint16(r.b)
		n := int(binary.BigEndian.Uint16(r.b[2:]))
		r.b = r.b[4:]
		v := r.bytes(fmt.Sprintf("tlv 0x%04X", tag), n)
		if r.err == nil {
			ts = append(ts, TLV{Tag: tag, Value: v})
		}
	}
	return ts
}

func (v *Bind) decode(b []byte) error {
	r := reader{b: b}
	v.SystemID = r.cstr("system_id")
	v.Password = r.cstr("password")
	v.SystemType = r.cstr("system_type")
	v.InterfaceVersion = r.byte1("interface_version")
	v.AddrTON = r.byte1("addr_ton")
	v.AddrNPI = r.byte1("addr_npi")
	v.AddressRange = r.cstr("address_range")
	return r.err
}

func (v *BindResp) decode(b []byte) error {
	if len(b) == 0 { // error responses may come without a body
		return nil
	}
	r := reader{b: b}
	v.SystemID = r.cstr("system_id")
	v.TLVs = r.tlvs()
	return r.err
}

func (v *SM) decode(b []byte) error {
	r := reader{b: b}
	v.ServiceType = r.cstr("service_type")
	v.SourceAddrTON = r.byte1("source_addr_ton")
	v.SourceAddrNPI = r.byte1("source_addr_npi")
	v.SourceAddr = r.cstr("source_addr")
	v.DestAddrTON = r.byte1("dest_addr_ton")
	v.DestAddrNPI = r.byte1("dest_addr_npi")
	v.DestAddr = r.cstr("destination_addr")
	v.ESMClass = r.byte1("esm_class")
	v.ProtocolID = r.byte1("protocol_id")
	v.PriorityFlag = r.byte1("priority_flag")
	v.ScheduleDeliveryTime = r.cstr("schedule_delivery_time")
	v.ValidityPeriod = r.cstr("validity_period")
	v.RegisteredDelivery = r.byte1("registered_delivery")
	v.ReplaceIfPresent = r.byte1("replace_if_present_flag")
	v.DataCoding = r.byte1("data_coding")
	v.SMDefaultMsgID = r.byte1("sm_default_msg_id")
	n := r.byte1("sm_length")
	v.ShortMessage = r.bytes("short_message", int(n))
	v.TLVs = r.tlvs()
	return r.err
}

func (v *SMResp) decode(b []byte) error {
	if len(b) == 0 { // error responses and some deliver_sm_resp have no body
		return nil
	}
	if bytes.IndexByte(b, 0) < 0 {
		// Some SMSCs forget the terminating NUL; the id is then the body.
		v.MessageID = string(b)
		return nil
	}
	r := reader{b: b}
	v.MessageID = r.cstr("message_id")
	v.TLVs = r.tlvs()
	return r.err
}
