package smpp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// CommandID is the command_id of an SMPP 3.4 PDU.
type CommandID uint32

// Command ids used here (SMPP 3.4, section 5.1.2.1).
const (
	GenericNack         CommandID = 0x80000000
	BindReceiver        CommandID = 0x00000001
	BindReceiverResp    CommandID = 0x80000001
	BindTransmitter     CommandID = 0x00000002
	BindTransmitterResp CommandID = 0x80000002
	QuerySM             CommandID = 0x00000003
	QuerySMResp         CommandID = 0x80000003
	SubmitSM            CommandID = 0x00000004
	SubmitSMResp        CommandID = 0x80000004
	DeliverSM           CommandID = 0x00000005
	DeliverSMResp       CommandID = 0x80000005
	Unbind              CommandID = 0x00000006
	UnbindResp          CommandID = 0x80000006
	ReplaceSM           CommandID = 0x00000007
	ReplaceSMResp       CommandID = 0x80000007
	CancelSM            CommandID = 0x00000008
	CancelSMResp        CommandID = 0x80000008
	BindTransceiver     CommandID = 0x00000009
	BindTransceiverResp CommandID = 0x80000009
	Outbind             CommandID = 0x0000000B
	EnquireLink         CommandID = 0x00000015
	EnquireLinkResp     CommandID = 0x80000015
	SubmitMulti         CommandID = 0x00000021
	SubmitMultiResp     CommandID = 0x80000021
	AlertNotification   CommandID = 0x00000102
	DataSM              CommandID = 0x00000103
	DataSMResp          CommandID = 0x80000103
)

var commandNames = map[CommandID]string{
	GenericNack: "generic_nack", BindReceiver: "bind_receiver", BindReceiverResp: "bind_receiver_resp",
	BindTransmitter: "bind_transmitter", BindTransmitterResp: "bind_transmitter_resp",
	QuerySM: "query_sm", QuerySMResp: "query_sm_resp", SubmitSM: "submit_sm", SubmitSMResp: "submit_sm_resp",
	DeliverSM: "deliver_sm", DeliverSMResp: "deliver_sm_resp", Unbind: "unbind", UnbindResp: "unbind_resp",
	ReplaceSM: "replace_sm", ReplaceSMResp: "replace_sm_resp", CancelSM: "cancel_sm", CancelSMResp: "cancel_sm_resp",
	BindTransceiver: "bind_transceiver", BindTransceiverResp: "bind_transceiver_resp", Outbind: "outbind",
	EnquireLink: "enquire_link", EnquireLinkResp: "enquire_link_resp", SubmitMulti: "submit_multi",
	SubmitMultiResp: "submit_multi_resp", AlertNotification: "alert_notification", DataSM: "data_sm", DataSMResp: "data_sm_resp",
}

func (c CommandID) String() string {
	if n, ok := commandNames[c]; ok {
		return n
	}
	return fmt.Sprintf("command(0x%08X)", uint32(c))
}

// IsResponse reports whether c is a response (bit 31 set).
func (c CommandID) IsResponse() bool { return c&0x80000000 != 0 }

// Resp returns the response command id of request c.
func (c CommandID) Resp() CommandID { return c | 0x80000000 }

// Status is the command_status of a PDU.
type Status uint32

// Status codes (SMPP 3.4, section 5.1.3), the ones this package uses.
const (
	StatusOK         Status = 0x00000000
	ESME_RINVMSGLEN  Status = 0x00000001
	ESME_RINVCMDLEN  Status = 0x00000002
	ESME_RINVCMDID   Status = 0x00000003
	ESME_RINVBNDSTS  Status = 0x00000004
	ESME_RALYBND     Status = 0x00000005
	ESME_RSYSERR     Status = 0x00000008
	ESME_RINVSRCADR  Status = 0x0000000A
	ESME_RINVDSTADR  Status = 0x0000000B
	ESME_RINVMSGID   Status = 0x0000000C
	ESME_RBINDFAIL   Status = 0x0000000D
	ESME_RINVPASWD   Status = 0x0000000E
	ESME_RINVSYSID   Status = 0x0000000F
	ESME_RMSGQFUL    Status = 0x00000014
	ESME_RSUBMITFAIL Status = 0x00000045
	ESME_RTHROTTLED  Status = 0x00000058
	ESME_RX_T_APPN   Status = 0x00000064
	ESME_RX_P_APPN   Status = 0x00000065
	ESME_RX_R_APPN   Status = 0x00000066
	ESME_RUNKNOWNERR Status = 0x000000FF
)

var statusNames = map[Status]string{
	StatusOK: "ESME_ROK", ESME_RINVMSGLEN: "ESME_RINVMSGLEN", ESME_RINVCMDLEN: "ESME_RINVCMDLEN",
	ESME_RINVCMDID: "ESME_RINVCMDID", ESME_RINVBNDSTS: "ESME_RINVBNDSTS", ESME_RALYBND: "ESME_RALYBND",
	ESME_RSYSERR: "ESME_RSYSERR", ESME_RINVSRCADR: "ESME_RINVSRCADR", ESME_RINVDSTADR: "ESME_RINVDSTADR",
	ESME_RINVMSGID: "ESME_RINVMSGID", ESME_RBINDFAIL: "ESME_RBINDFAIL", ESME_RINVPASWD: "ESME_RINVPASWD",
	ESME_RINVSYSID: "ESME_RINVSYSID", ESME_RMSGQFUL: "ESME_RMSGQFUL", ESME_RSUBMITFAIL: "ESME_RSUBMITFAIL",
	ESME_RTHROTTLED: "ESME_RTHROTTLED", ESME_RX_T_APPN: "ESME_RX_T_APPN", ESME_RX_P_APPN: "ESME_RX_P_APPN",
	ESME_RX_R_APPN: "ESME_RX_R_APPN", ESME_RUNKNOWNERR: "ESME_RUNKNOWNERR",
}

func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("status(0x%08X)", uint32(s))
}

// Error makes a non-zero Status usable as an error.
func (s Status) Error() string { return "smpp: " + s.String() }

// Temporary reports whether an SMSC answering s means "try again later".
func (s Status) Temporary() bool {
	switch s {
	case ESME_RTHROTTLED, ESME_RMSGQFUL, ESME_RX_T_APPN, ESME_RSYSERR:
		return true
	}
	return false
}

// HeaderLen is the length of the PDU header.
const HeaderLen = 16

// DefaultMaxPDULength bounds the command_length accepted from a peer.
const DefaultMaxPDULength = 64 * 1024

// Framing errors: after one of these the stream cannot be trusted and the
// connection must be closed.
var (
	ErrPDUTooLong  = errors.New("smpp: command_length too large")
	ErrPDUTooShort = errors.New("smpp: command_length too small")
)

// ErrMalformed is wrapped by every body decoding error. The framing is
// intact when it is returned, so the connection may continue.
var ErrMalformed = errors.New("smpp: malformed PDU body")

// PDU is one decoded protocol data unit.
type PDU struct {
	Command CommandID
	Status  Status
	Seq     uint32
	// Body is *Bind, *BindResp, *SM, *SMResp, *Raw or nil for PDUs without
	// a body (enquire_link, unbind, generic_nack and their responses).
	Body Body
}

// Body is the part of a PDU after the header.
type Body interface {
	appendTo(b []byte) ([]byte, error)
}

// Raw is the body of a PDU this package does not decode.
type Raw []byte

func (r *Raw) appendTo(b []byte) ([]byte, error) { return append(b, *r...), nil }

// Marshal encodes p into a fresh byte slice.
func (p *PDU) Marshal() ([]byte, error) { return p.AppendTo(make([]byte, 0, 64)) }

// AppendTo appends the wire form of p to b.
func (p *PDU) AppendTo(b []byte) ([]byte, error) {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(p.Command))
	b = binary.BigEndian.AppendUint32(b, uint32(p.Status))
	b = binary.BigEndian.AppendUint32(b, p.Seq)
	if p.Body != nil {
		var err error
		if b, err = p.Body.appendTo(b); err != nil {
			return nil, fmt.Errorf("encode %s: %w", p.Command, err)
		}
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b, nil
}

// ReadPDU reads one PDU from r. buf, if large enough, is reused for the
// body; decoded strings and byte slices never alias it. A framing error
// (ErrPDUTooLong, ErrPDUTooShort, I/O) means the stream is unusable; an
// error wrapping ErrMalformed comes with a PDU whose header is valid.
func ReadPDU(r io.Reader, maxLen int, buf []byte) (*PDU, error) {
	var h [HeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[0:])
	if maxLen <= 0 {
		maxLen = DefaultMaxPDULength
	}
	if n < HeaderLen {
		return nil, fmt.Errorf("%w: %d", ErrPDUTooShort, n)
	}
	if n > uint32(maxLen) {
		return nil, fmt.Errorf("%w: %d > %d", ErrPDUTooLong, n, maxLen)
	}
	bodyLen := int(n) - HeaderLen
	if cap(buf) < bodyLen {
		buf = make([]byte, bodyLen)
	}
	body := buf[:bodyLen]
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return decodeParts(h[:], body)
}

// DecodePDU decodes one complete PDU held in b (header included).
func DecodePDU(b []byte) (*PDU, error) {
	if len(b) < HeaderLen {
		return nil, fmt.Errorf("%w: %d", ErrPDUTooShort, len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if n < HeaderLen {
		return nil, fmt.Errorf("%w: %d", ErrPDUTooShort, n)
	}
	if n > DefaultMaxPDULength {
		return nil, fmt.Errorf("%w: %d", ErrPDUTooLong, n)
	}
	if int(n) != len(b) {
		return nil, fmt.Errorf("%w: command_length %d, have %d bytes", ErrPDUTooShort, n, len(b))
	}
	return decodeParts(b[:HeaderLen], b[HeaderLen:])
}

func decodeParts(h, body []byte) (*PDU, error) {
	p := &PDU{
		Command: CommandID(binary.BigEndian.Uint32(h[4:])),
		Status:  Status(binary.BigEndian.Uint32(h[8:])),
		Seq:     binary.BigEndian.Uint32(h[12:]),
	}
	var err error
	switch p.Command {
	case BindReceiver, BindTransmitter, BindTransceiver:
		v := new(Bind)
		err = v.decode(body)
		p.Body = v
	case BindReceiverResp, BindTransmitterResp, BindTransceiverResp:
		v := new(BindResp)
		err = v.decode(body)
		p.Body = v
	case SubmitSM, DeliverSM:
		v := new(SM)
		err = v.decode(body)
		p.Body = v
	case SubmitSMResp, DeliverSMResp, DataSMResp:
		v := new(SMResp)
		err = v.decode(body)
		p.Body = v
	case GenericNack, EnquireLink, EnquireLinkResp, Unbind, UnbindResp:
		// No body; anything after the header is ignored.
	default:
		if len(body) > 0 {
			r := Raw(append([]byte(nil), body...))
			p.Body = &r
		}
	}
	if err != nil {
		return p, fmt.Errorf("decode %s seq %d: %w", p.Command, p.Seq, err)
	}
	return p, nil
}
