package smpp

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/haochaping/haochaping/internal/clock"
)

func TestUCS2RoundTrip(t *testing.T) {
	for _, s := range []string{"", "4", "４ 等了两个小时", "【奉化12345】感谢您的评价！", "emoji 😀 𠀀 end"} {
		b := EncodeUCS2(s)
		if got := DecodeUCS2(b); got != s {
			t.Errorf("%q -> %X -> %q", s, b, got)
		}
	}
	if got := EncodeUCS2("😀"); !bytes.Equal(got, []byte{0xD8, 0x3D, 0xDE, 0x00}) {
		t.Errorf("surrogates: %X", got)
	}
	if got := DecodeUCS2([]byte{0xD8, 0x3D, 0x00}); !utf8.ValidString(got) {
		t.Errorf("broken input gave invalid UTF-8 %q", got)
	}
}

func TestDecodeText(t *testing.T) {
	tests := []struct {
		dc   byte
		in   []byte
		want string
	}{
		{CodingDefault, []byte("Hello 5"), "Hello 5"},
		{CodingDefault, []byte{0x00, 0x02, 0x11, 0x1B, 0x65, 0x1B, 0x28}, "@$_€{"},
		{CodingIA5, []byte("TD"), "TD"},
		{CodingLatin1, []byte{'c', 0xE9}, "cé"},
		{CodingUCS2, EncodeUCS2("非常满意"), "非常满意"},
		{0x18, EncodeUCS2("满意"), "满意"},          // UCS-2, class 0
		{0xF0, []byte("5"), "5"},                // GSM, class 0
		{CodingBinary4, []byte{0xFF}, "\u00ff"}, // binary kept as Latin-1
	}
	for _, tc := range tests {
		if got := DecodeText(tc.dc, tc.in); got != tc.want {
			t.Errorf("DecodeText(0x%02X, %X) = %q, want %q", tc.dc, tc.in, got, tc.want)
		}
	}
	b, err := EncodeGSM("a{€}")
	if err != nil || DecodeGSM(b) != "a{€}" {
		t.Errorf("GSM round trip: %X %v", b, err)
	}
	if _, err := EncodeGSM("满"); err == nil {
		t.Error("GSM encoded Chinese")
	}
}

func TestSplitMessage(t *testing.T) {
	inv := "【奉化12345】请评价您11月27日来电的办理服务：回复1非常满意，2满意，3基本满意，4不满意，5非常不满意。回TD退订"
	segs, err := SplitMessage(inv, EncUCS2, ConcatUDH8, 7)
	if err != nil || len(segs) != 1 || segs[0].ESMClass != 0 || segs[0].DataCoding != CodingUCS2 {
		t.Fatalf("62-char invitation: %v %+v", err, segs)
	}
	long := strings.Repeat("一二三四五六七八九十", 14) // 140 characters
	segs, _ = SplitMessage(long, EncUCS2, ConcatUDH8, 0x1234)
	if len(segs) != 3 {
		t.Fatalf("140 chars in %d segments, want 3", len(segs))
	}
	var joined []byte
	for i, s := range segs {
		c, ok, payload, err := ParseUDH(s.ShortMessage)
		if err != nil || !ok || c.Ref != 0x34 || c.Total != 3 || int(c.Seq) != i+1 || s.ESMClass != ESMClassUDHI {
			t.Fatalf("segment %d: %+v %v %v", i, c, ok, err)
		}
		if len(s.ShortMessage) > 140 {
			t.Errorf("segment %d is %d bytes", i, len(s.ShortMessage))
		}
		if i < 2 && len(payload) != 134 {
			t.Errorf("segment %d payload %d bytes, want 134 (67 chars)", i, len(payload))
		}
		joined = append(joined, payload...)
	}
	if DecodeUCS2(joined) != long {
		t.Error("segments do not join back")
	}

	// A surrogate pair across the 67th character moves whole to the next segment.
	emoji := strings.Repeat("好", 66) + "😀" + strings.Repeat("好", 10)
	segs, _ = SplitMessage(emoji, EncUCS2, ConcatUDH8, 1)
	_, _, p1, _ := ParseUDH(segs[0].ShortMessage)
	_, _, p2, _ := ParseUDH(segs[1].ShortMessage)
	if len(p1) != 132 || DecodeUCS2(p1) != strings.Repeat("好", 66) || !strings.HasPrefix(DecodeUCS2(p2), "😀") {
		t.Errorf("surrogate split: %d bytes, %q / %q", len(p1), DecodeUCS2(p1), DecodeUCS2(p2))
	}

	segs, _ = SplitMessage(long, EncUCS2, ConcatUDH16, 0x1234)
	c, _, p, _ := ParseUDH(segs[0].ShortMessage)
	if c.Ref != 0x1234 || len(p) != 132 {
		t.Errorf("16-bit ref: %+v, %d bytes", c, len(p))
	}
	segs, _ = SplitMessage(long, EncUCS2, ConcatSAR, 0x1234)
	if r, _ := segs[1].TLVs.Uint(TagSarMsgRefNum); r != 0x1234 || segs[1].ESMClass != 0 {
		t.Errorf("SAR: %+v", segs[1])
	}
	if n, _ := segs[1].TLVs.Uint(TagSarSegmentSeqnum); n != 2 {
		t.Errorf("SAR seqnum %d", n)
	}
	segs, _ = SplitMessage(long, EncUCS2, ConcatPayload, 0)
	if v, ok := segs[0].TLVs.Get(TagMessagePayload); len(segs) != 1 || !ok || DecodeUCS2(v) != long {
		t.Errorf("payload: %+v", segs)
	}
	// GSM: 153 septets per segment, never cutting an escape.
	gsm := strings.Repeat("a", 152) + "€" + strings.Repeat("b", 20)
	segs, _ = SplitMessage(gsm, EncAuto, ConcatUDH8, 1)
	_, _, g1, _ := ParseUDH(segs[0].ShortMessage)
	if segs[0].DataCoding != CodingDefault || len(g1) != 152 {
		t.Errorf("GSM split: dc %d, %d septets", segs[0].DataCoding, len(g1))
	}
}

func TestReassembler(t *testing.T) {
	clk := clock.NewFake(time.Date(2025, 11, 27, 10, 0, 0, 0, time.UTC))
	r := NewReassembler(ReassemblerConfig{Timeout: time.Minute, MaxMessages: 2, MaxBytes: 1000, Now: clk.Now})
	frag := func(src string, ref uint16, total, seq uint8, s string) *Fragment {
		return &Fragment{Source: src, Dest: "12345", Concat: Concat{ref, total, seq}, DataCoding: CodingUCS2,
			Data: EncodeUCS2(s), Token: int(seq)}
	}
	// Out of order, with a duplicate.
	for _, f := range []*Fragment{frag("A", 1, 3, 3, "丙"), frag("A", 1, 3, 1, "甲")} {
		if done, _, err := r.Add(f); done != nil || err != nil {
			t.Fatal("completed early", err)
		}
	}
	if _, old, _ := r.Add(frag("A", 1, 3, 1, "甲")); old != 1 {
		t.Errorf("duplicate did not supersede: %v", old)
	}
	done, _, _ := r.Add(frag("A", 1, 3, 2, "乙"))
	if done == nil || !done.Complete() || done.Text() != "甲乙丙" || len(done.Tokens) != 3 {
		t.Fatalf("assembled %+v", done)
	}
	// Same reference from another number is another message.
	r.Add(frag("B", 1, 2, 1, "x"))
	r.Add(frag("C", 1, 2, 1, "y"))
	if _, _, err := r.Add(frag("D", 1, 2, 1, "z")); err != ErrReassemblyFull {
		t.Errorf("third message: %v, want ErrReassemblyFull", err)
	}
	if exp := r.Expire(); len(exp) != 0 {
		t.Fatalf("expired early: %d", len(exp))
	}
	clk.Advance(time.Minute)
	exp := r.Expire()
	if len(exp) != 2 || exp[0].Complete() || exp[0].Missing[0] != 2 {
		t.Fatalf("expired: %+v", exp)
	}
	if m, b := r.Pending(); m != 0 || b != 0 {
		t.Errorf("pending %d/%d after expiry", m, b)
	}
	// A surrogate pair cut between two parts decodes whole.
	pair := EncodeUCS2("😀")
	r.Add(&Fragment{Source: "E", Concat: Concat{9, 2, 1}, DataCoding: CodingUCS2, Data: pair[:2]})
	done, _, _ = r.Add(&Fragment{Source: "E", Concat: Concat{9, 2, 2}, DataCoding: CodingUCS2, Data: pair[2:]})
	if done.Text() != "😀" {
		t.Errorf("split surrogate: %q", done.Text())
	}
	// Byte bound.
	r2 := NewReassembler(ReassemblerConfig{MaxBytes: 10})
	if _, _, err := r2.Add(&Fragment{Concat: Concat{1, 2, 1}, Data: make([]byte, 11)}); err != ErrReassemblyFull {
		t.Errorf("byte bound: %v", err)
	}
}

func TestParseUDH(t *testing.T) {
	tests := []struct {
		in      string
		ok      bool
		c       Concat
		payload string
		err     bool
	}{
		{"050003CC0201 0031", true, Concat{0xCC, 2, 1}, "0031", false},
		{"0608041234 0302 0032", true, Concat{0x1234, 3, 2}, "0032", false},
		{"0B 050415811581 0003AA0303 41", true, Concat{0xAA, 3, 3}, "41", false}, // port IE before
		{"050003CC0203 41", false, Concat{}, "41", false},                        // seq > total
		{"050003CC0000 41", false, Concat{}, "41", false},
		{"09 0003", false, Concat{}, "", true},
		{"04 0003CC02", false, Concat{}, "", true},
	}
	for _, tc := range tests {
		c, ok, p, err := ParseUDH(unhex(t, tc.in))
		if (err != nil) != tc.err || ok != tc.ok || (ok && c != tc.c) || (!tc.err && !bytes.Equal(p, unhex(t, tc.payload))) {
			t.Errorf("ParseUDH(%s) = %+v %v %X %v", tc.in, c, ok, p, err)
		}
	}
}

func TestNormalizeID(t *testing.T) {
	tests := []struct {
		id   string
		f    IDFormat
		want string
	}{
		{"1A2B", IDHex, "6699"},
		{"1a2b", IDHex, "6699"},
		{"6699", IDDecimal, "6699"},
		{"006699", IDDecimal, "6699"},
		{"00001A2B", IDHex, "6699"},
		{"FFFFFFFFFFFFFFFFFF", IDHex, "4722366482869645213695"},
		{"abc-123", IDHex, "abc-123"},
		{"1A2B", IDAsIs, "1A2B"},
		{" 42 ", IDDecimal, "42"},
	}
	for _, tc := range tests {
		if got := NormalizeID(tc.id, tc.f); got != tc.want {
			t.Errorf("NormalizeID(%q, %d) = %q, want %q", tc.id, tc.f, got, tc.want)
		}
	}
}

func TestParseReceiptText(t *testing.T) {
	loc := time.FixedZone("CST", 8*3600)
	tests := []struct {
		in    string
		ok    bool
		id    string
		state string
		err   string
		text  string
		done  time.Time
	}{
		{"id:6699 sub:001 dlvrd:001 submit date:2511271000 done date:2511271001 stat:DELIVRD err:000 text:【奉化12345】请评价",
			true, "6699", StateDelivered, "000", "【奉化12345】请评价", time.Date(2025, 11, 27, 10, 1, 0, 0, loc)},
		{"id:1A2B sub:001 dlvrd:000 submit date:251127100059 done date:251127100130 stat:UNDELIV err:001 Text:hello world",
			true, "1A2B", StateUndeliverable, "001", "hello world", time.Date(2025, 11, 27, 10, 1, 30, 0, loc)},
		{"ID:42 STAT:expired", true, "42", StateExpired, "", "", time.Time{}},
		{"stat:DELIVRD", false, "", StateDelivered, "", "", time.Time{}},
		{"", false, "", "", "", "", time.Time{}},
	}
	for _, tc := range tests {
		r, ok := ParseReceiptText(tc.in, loc)
		if ok != tc.ok || r.RawID != tc.id || r.State != tc.state || r.Err != tc.err || r.Text != tc.text || !r.DoneDate.Equal(tc.done) {
			t.Errorf("ParseReceiptText(%q) = %+v %v", tc.in, r, ok)
		}
	}
	// TLVs win over the text; their id is in the ack format.
	sm := &SM{SourceAddr: "13800138000", ESMClass: ESMClassReceipt, ShortMessage: []byte("id:6699 stat:DELIVRD"),
		TLVs: TLVs{CStringTLV(TagReceiptedMessageID, "1A2B"), Uint8TLV(TagMessageState, 5)}}
	r, ok := ReceiptFromSM(sm, IDHex, IDDecimal, loc)
	if !ok || r.MessageID != "6699" || r.RawID != "1A2B" || r.State != StateUndeliverable || !r.Final() || r.Success() {
		t.Errorf("ReceiptFromSM = %+v", r)
	}
}
