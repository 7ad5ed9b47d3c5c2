package smpp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Golden vectors written by hand from the SMPP 3.4 specification.
var goldenPDUs = []struct {
	name string
	pdu  *PDU
	wire string
}{
	{"enquire_link", &PDU{Command: EnquireLink, Seq: 1},
		"00000010 00000015 00000000 00000001"},
	{"enquire_link_resp", &PDU{Command: EnquireLinkResp, Seq: 1},
		"00000010 80000015 00000000 00000001"},
	{"unbind", &PDU{Command: Unbind, Seq: 2},
		"00000010 00000006 00000000 00000002"},
	{"unbind_resp", &PDU{Command: UnbindResp, Seq: 2},
		"00000010 80000006 00000000 00000002"},
	{"generic_nack", &PDU{Command: GenericNack, Status: ESME_RINVCMDID, Seq: 9},
		"00000010 80000000 00000003 00000009"},
	{"bind_transceiver", &PDU{Command: BindTransceiver, Seq: 1, Body: &Bind{
		SystemID: "test", Password: "pw", InterfaceVersion: 0x34}},
		"0000001D 00000009 00000000 00000001 7465737400 707700 00 34 00 00 00"},
	{"bind_transmitter", &PDU{Command: BindTransmitter, Seq: 3, Body: &Bind{
		SystemID: "a", Password: "", SystemType: "SMS", InterfaceVersion: 0x34, AddrTON: 1, AddrNPI: 1}},
		"0000001B 00000002 00000000 00000003 6100 00 534D5300 34 01 01 00"},
	{"bind_receiver_resp", &PDU{Command: BindReceiverResp, Seq: 4, Body: &BindResp{SystemID: "SMSC"}},
		"00000015 80000001 00000000 00000004 534D534300"},
	{"bind_transceiver_resp", &PDU{Command: BindTransceiverResp, Seq: 1, Body: &BindResp{SystemID: "SMSC"}},
		"00000015 80000009 00000000 00000001 534D534300"},
	{"submit_sm", &PDU{Command: SubmitSM, Seq: 7, Body: &SM{
		SourceAddr: "12345", DestAddrTON: 1, DestAddrNPI: 1, DestAddr: "13800138000",
		RegisteredDelivery: 1, DataCoding: 8, ShortMessage: []byte{0x4F, 0x60, 0x59, 0x7D},
		TLVs: TLVs{{Tag: TagUserMessageReference, Value: []byte{0, 7}}}}},
		"0000003B 00000004 00000000 00000007" +
			"00 0000 313233343500 0101 313338303031333830303000 000000 00 00 01000800 04 4F60597D 0204 0002 0007"},
	{"submit_sm_resp", &PDU{Command: SubmitSMResp, Seq: 7, Body: &SMResp{MessageID: "1A2B"}},
		"00000015 80000004 00000000 00000007 3141324200"},
	{"deliver_sm receipt", &PDU{Command: DeliverSM, Seq: 5, Body: &SM{
		SourceAddr: "138", DestAddr: "1", ESMClass: ESMClassReceipt,
		ShortMessage: []byte("id:6699 stat:DELIVRD"),
		TLVs:         TLVs{{Tag: TagReceiptedMessageID, Value: []byte("1A2B\x00")}, {Tag: TagMessageState, Value: []byte{2}}}}},
		"00000047 00000005 00000000 00000005" +
			"00 0000 31333800 0000 3100 040000 00 00 00000000 14 69643A36363939207374" + "61743A44454C49565244" +
			"001E 0005 3141324200 0427 0001 02"},
	{"deliver_sm_resp", &PDU{Command: DeliverSMResp, Seq: 5, Body: &SMResp{}},
		"00000011 80000005 00000000 00000005 00"},
	{"deliver_sm_resp error", &PDU{Command: DeliverSMResp, Status: ESME_RX_T_APPN, Seq: 6, Body: &SMResp{}},
		"00000011 80000005 00000064 00000006 00"},
	{"submit_sm_resp throttled", &PDU{Command: SubmitSMResp, Status: ESME_RTHROTTLED, Seq: 8, Body: &SMResp{}},
		"00000011 80000004 00000058 00000008 00"},
}

func TestPDUGolden(t *testing.T) {
	for _, tc := range goldenPDUs {
		t.Run(tc.name, func(t *testing.T) {
			want := unhex(t, tc.wire)
			got, err := tc.pdu.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encode:\n got %X\nwant %X", got, want)
			}
			back, err := DecodePDU(want)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.pdu) {
				t.Errorf("decode:\n got %#v\nwant %#v", back, tc.pdu)
			}
			r, err := ReadPDU(bytes.NewReader(want), 0, nil)
			if err != nil || !reflect.DeepEqual(r, tc.pdu) {
				t.Errorf("ReadPDU: %v %#v", err, r)
			}
		})
	}
}

func TestReadPDUFraming(t *testing.T) {
	tests := []struct {
		name string
		wire string
		want error
	}{
		{"too long", "7FFFFFFF 00000004 00000000 00000001", ErrPDUTooLong},
		{"too short", "0000000F 00000015 00000000 00000001", ErrPDUTooShort},
		{"truncated body", "00000020 00000004 00000000 00000001 0000", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadPDU(bytes.NewReader(unhex(t, tc.wire)), 1024, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDecodeMalformedBody(t *testing.T) {
	// submit_sm whose sm_length says 200 but only 2 bytes follow.
	b := unhex(t, "00000020 00000004 00000000 0000000A 00 0000 3100 0000 3200 000000 00 00 00000800 C8 4F60")
	b[3] = byte(len(b))
	p, err := DecodePDU(b)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	if p == nil || p.Seq != 10 || p.Command != SubmitSM {
		t.Fatalf("header not kept: %#v", p)
	}
}

func TestSMRespWithoutNUL(t *testing.T) {
	p, err := DecodePDU(unhex(t, "00000014 80000004 00000000 00000001 41424344"))
	if err != nil {
		t.Fatal(err)
	}
	if id := p.Body.(*SMResp).MessageID; id != "ABCD" {
		t.Errorf("id = %q", id)
	}
}

func TestEncodeRejectsOversizedFields(t *testing.T) {
	p := &PDU{Command: BindTransceiver, Body: &Bind{SystemID: strings.Repeat("x", 16)}}
	if _, err := p.Marshal(); err == nil {
		t.Error("16-byte system_id accepted")
	}
	p = &PDU{Command: SubmitSM, Body: &SM{DestAddr: "1", ShortMessage: make([]byte, 255)}}
	if _, err := p.Marshal(); err == nil {
		t.Error("255-byte short_message accepted")
	}
}

func TestStatusErrors(t *testing.T) {
	err := &SubmitError{Outcome: NotSent, Status: ESME_RTHROTTLED}
	if !errors.Is(err, ErrThrottled) || !errors.Is(err, ErrNotSent) || !IsTemporary(err) {
		t.Errorf("throttled: %v", err)
	}
	var st Status
	if !errors.As(err, &st) || st != ESME_RTHROTTLED {
		t.Errorf("As status: %v", st)
	}
	rej := &SubmitError{Outcome: Rejected, Status: ESME_RINVDSTADR}
	if IsTemporary(rej) || !errors.Is(rej, ErrRejected) {
		t.Errorf("rejected: %v", rej)
	}
	unk := &SubmitError{Outcome: Unknown, Err: ErrConnectionLost}
	if !IsTemporary(unk) || !errors.Is(unk, ErrResultUnknown) || !errors.Is(unk, ErrConnectionLost) {
		t.Errorf("unknown: %v", unk)
	}
	if IsTemporary(errors.New("x")) {
		t.Error("plain error temporary")
	}
}
