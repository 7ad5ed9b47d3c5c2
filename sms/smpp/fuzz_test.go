package smpp

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecodePDU checks that no input makes the decoder panic and that
// whatever decodes cleanly encodes back to a PDU that decodes the same.
func FuzzDecodePDU(f *testing.F) {
	for _, g := range goldenPDUs {
		f.Add(unhex(f, g.wire))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePDU(b)
		if _, rerr := ReadPDU(bytes.NewReader(b), DefaultMaxPDULength, nil); (rerr == nil) != (err == nil) && len(b) >= HeaderLen && int(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3])) == len(b) {
			t.Fatalf("ReadPDU and DecodePDU disagree: %v / %v", rerr, err)
		}
		if err != nil {
			return
		}
		if sm, ok := p.Body.(*SM); ok {
			if sm.ESMClass&ESMClassUDHI != 0 {
				ParseUDH(sm.ShortMessage)
			}
			_ = DecodeText(sm.DataCoding, sm.ShortMessage)
			ReceiptFromSM(sm, IDHex, IDDecimal, time.UTC)
		}
		enc, err := p.Marshal()
		if err != nil {
			return // decoding is lenient, encoding enforces the field limits
		}
		p2, err := DecodePDU(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		enc2, _ := p2.Marshal()
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable encoding:\n%X\n%X", enc, enc2)
		}
	})
}

// FuzzReassembly feeds arbitrary short messages with a UDH through the
// reassembler and checks its bounds.
func FuzzReassembly(f *testing.F) {
	f.Add([]byte{5, 0, 3, 0x42, 2, 1, 0x4F, 0x60}, []byte{5, 0, 3, 0x42, 2, 2, 0x59, 0x7D}, uint8(8))
	f.Add([]byte{6, 8, 4, 0x12, 0x34, 3, 3, 0xD8}, []byte{6, 8, 4, 0x12, 0x34, 3, 1, 0x3D}, uint8(8))
	f.Add([]byte{5, 0, 3, 1, 1, 1}, []byte{0xFF}, uint8(0))
	f.Fuzz(func(t *testing.T, a, b []byte, dc uint8) {
		r := NewReassembler(ReassemblerConfig{MaxMessages: 4, MaxBytes: 512, Timeout: time.Nanosecond})
		for i, sm := range [][]byte{a, b, a} {
			c, ok, payload, err := ParseUDH(sm)
			if err != nil || !ok {
				continue
			}
			if c.Total == 0 || c.Seq == 0 || c.Seq > c.Total {
				t.Fatalf("ParseUDH accepted %+v", c)
			}
			done, _, err := r.Add(&Fragment{Source: "A", Concat: c, DataCoding: dc, Data: payload, Token: i})
			if err != nil {
				continue
			}
			if done != nil {
				_ = done.Text()
				if len(done.Tokens)+len(done.Missing) != done.Total {
					t.Fatalf("tokens %d + missing %d != total %d", len(done.Tokens), len(done.Missing), done.Total)
				}
			}
			if m, n := r.Pending(); m > 4 || n > 512 {
				t.Fatalf("bounds exceeded: %d messages, %d bytes", m, n)
			}
		}
		for _, e := range r.Expire() {
			_ = e.Text()
		}
		if m, n := r.Pending(); m != 0 || n != 0 {
			t.Fatalf("left after expiry: %d/%d", m, n)
		}
	})
}
