package smpp

import (
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"time"
)

// UDH information element ids for concatenation.
const (
	ieConcat8  = 0x00
	ieConcat16 = 0x08
)

// ConcatMode selects how a long message is split.
type ConcatMode int

const (
	// ConcatUDH8 puts an 8-bit reference concatenation IE (0x00) in a UDH.
	ConcatUDH8 ConcatMode = iota
	// ConcatUDH16 uses the 16-bit reference IE (0x08).
	ConcatUDH16
	// ConcatSAR sends the sar_* TLVs and lets the SMSC build the UDH.
	ConcatSAR
	// ConcatPayload sends one submit_sm with the whole text in message_payload.
	ConcatPayload
)

// Encoding selects the data coding of an outgoing message.
type Encoding int

const (
	// EncUCS2 is data_coding 8, UTF-16BE: what Chinese text needs.
	EncUCS2 Encoding = iota
	// EncGSM is data_coding 0 with unpacked GSM 03.38 septets.
	EncGSM
	// EncLatin1 is data_coding 3.
	EncLatin1
	// EncAuto is EncGSM when the text fits the GSM alphabet, else EncUCS2.
	EncAuto
)

// Concat is a parsed concatenation header (from a UDH IE or the sar TLVs).
type Concat struct {
	Ref   uint16
	Total uint8
	Seq   uint8
}

// ParseUDH splits b, which starts with a user data header, into the
// concatenation information (if any) and the remaining payload.
func ParseUDH(b []byte) (c Concat, ok bool, payload []byte, err error) {
	if len(b) < 1 {
		return c, false, nil, fmt.Errorf("%w: empty UDH", ErrMalformed)
	}
	n := int(b[0])
	if 1+n > len(b) {
		return c, false, nil, fmt.Errorf("%w: UDH length %d > %d", ErrMalformed, n, len(b)-1)
	}
	ies := b[1 : 1+n]
	payload = b[1+n:]
	for len(ies) >= 2 {
		id, l := ies[0], int(ies[1])
		if 2+l > len(ies) {
			return c, false, payload, fmt.Errorf("%w: UDH IE 0x%02X truncated", ErrMalformed, id)
		}
		v := ies[2 : 2+l]
		switch {
		case id == ieConcat8 && l == 3:
			c, ok = Concat{Ref: uint16(v[0]), Total: v[1], Seq: v[2]}, true
		case id == ieConcat16 && l == 4:
			c, ok = Concat{Ref: binary.BigEndian.Uint16(v), Total: v[2], Seq: v[3]}, true
		}
		ies = ies[2+l:]
	}
	if ok && (c.Total == 0 || c.Seq == 0 || c.Seq > c.Total) {
		ok = false // the specification says to ignore such an IE
	}
	return c, ok, payload, nil
}

// BuildUDH returns a UDH with one concatenation IE, 8-bit or 16-bit reference.
func BuildUDH(c Concat, ref16 bool) []byte {
	if ref16 {
		return []byte{6, ieConcat16, 4, byte(c.Ref >> 8), byte(c.Ref), c.Total, c.Seq}
	}
	return []byte{5, ieConcat8, 3, byte(c.Ref), c.Total, c.Seq}
}

// Segment is one submit_sm worth of a message.
type Segment struct {
	DataCoding   byte
	ESMClass     byte
	ShortMessage []byte
	TLVs         TLVs
}

// encodeText picks the data coding and encodes text.
func encodeText(text string, enc Encoding) (byte, alphabet, []byte, error) {
	switch enc {
	case EncGSM, EncAuto:
		b, err := EncodeGSM(text)
		if err == nil {
			return CodingDefault, alphaGSM, b, nil
		}
		if enc == EncGSM {
			return 0, 0, nil, err
		}
	case EncLatin1:
		b, err := EncodeLatin1(text)
		return CodingLatin1, alphaLatin1, b, err
	}
	return CodingUCS2, alphaUCS2, EncodeUCS2(text), nil
}

// SplitMessage encodes text and splits it into segments: one plain segment
// when it fits (70 UCS-2 characters, 160 GSM, 140 Latin-1), otherwise
// segments of 67 UCS-2 characters (66 with a 16-bit reference, one fewer
// where a surrogate pair would be cut), 153 GSM septets (never cutting an
// escape) or 134 Latin-1 bytes, each carrying ref.
func SplitMessage(text string, enc Encoding, mode ConcatMode, ref uint16) ([]Segment, error) {
	dc, alpha, b, err := encodeText(text, enc)
	if err != nil {
		return nil, err
	}
	single := 140
	if alpha == alphaGSM {
		single = 160
	}
	if len(b) <= single {
		return []Segment{{DataCoding: dc, ShortMessage: b}}, nil
	}
	if mode == ConcatPayload {
		if len(b) > 0xFFFF {
			return nil, fmt.Errorf("smpp: message of %d bytes is too long", len(b))
		}
		return []Segment{{DataCoding: dc, TLVs: TLVs{{Tag: TagMessagePayload, Value: b}}}}, nil
	}
	udhLen := 6
	if mode == ConcatUDH16 {
		udhLen = 7
	}
	max := 140 - udhLen
	if alpha == alphaGSM {
		max = (140 - udhLen) * 8 / 7
	}
	chunks := splitUnits(b, alpha, max)
	if len(chunks) > 255 {
		return nil, fmt.Errorf("smpp: message needs %d segments, at most 255", len(chunks))
	}
	if mode == ConcatUDH8 {
		ref &= 0xFF
	}
	segs := make([]Segment, len(chunks))
	for i, ch := range chunks {
		c := Concat{Ref: ref, Total: uint8(len(chunks)), Seq: uint8(i + 1)}
		s := Segment{DataCoding: dc}
		switch mode {
		case ConcatSAR:
			s.ShortMessage = ch
			s.TLVs = TLVs{Uint16TLV(TagSarMsgRefNum, c.Ref), Uint8TLV(TagSarTotalSegments, c.Total), Uint8TLV(TagSarSegmentSeqnum, c.Seq)}
		default:
			s.ESMClass = ESMClassUDHI
			s.ShortMessage = append(BuildUDH(c, mode == ConcatUDH16), ch...)
		}
		segs[i] = s
	}
	return segs, nil
}

// splitUnits cuts b into chunks of at most max bytes without cutting a
// UTF-16 surrogate pair or a GSM escape sequence.
func splitUnits(b []byte, alpha alphabet, max int) [][]byte {
	var out [][]byte
	for len(b) > max {
		cut := max
		switch alpha {
		case alphaUCS2:
			cut &^= 1
			if u := uint16(b[cut-2])<<8 | uint16(b[cut-1]); u >= 0xD800 && u < 0xDC00 {
				cut -= 2
			}
		case alphaGSM:
			// Find the last character boundary at or before max.
			last := 0
			for i := 0; i < max; {
				step := 1
				if b[i] == 0x1B {
					step = 2
				}
				if i+step > max {
					break
				}
				i += step
				last = i
			}
			cut = last
		}
		out = append(out, b[:cut:cut])
		b = b[cut:]
	}
	return append(out, b)
}

// Fragment is one part of a concatenated incoming message.
type Fragment struct {
	Source, Dest string
	Concat       Concat
	DataCoding   byte
	Data         []byte // the payload after the UDH, still encoded
	// Token identifies the PDU to acknowledge once the message is handled.
	Token any
}

// Assembled is a reassembled (or timed-out, incomplete) message.
type Assembled struct {
	Source, Dest string
	Ref          uint16
	Total        int
	DataCoding   byte
	// Data is the concatenation of the parts received, in order. Decoding
	// the concatenation (not each part) keeps a surrogate pair that a sender
	// cut between two segments intact.
	Data []byte
	// Missing lists the sequence numbers that never arrived.
	Missing []int
	// Tokens are the tokens of every part, to acknowledge together.
	Tokens []any
}

// Complete reports whether every part arrived.
func (a *Assembled) Complete() bool { return len(a.Missing) == 0 }

// Text decodes the assembled data.
func (a *Assembled) Text() string { return DecodeText(a.DataCoding, a.Data) }

type fragKey struct {
	source, dest string
	ref          uint16
	total        uint8
}

type partial struct {
	first time.Time
	dc    byte
	parts map[uint8]*Fragment
	bytes int
}

// ReassemblerConfig bounds a Reassembler.
type ReassemblerConfig struct {
	Timeout     time.Duration // how long to wait for the missing parts; default 2 minutes
	MaxMessages int           // messages in progress; default 1024
	MaxBytes    int           // payload bytes held; default 1 MiB
	Now         func() time.Time
}

// Defaults of ReassemblerConfig.
const (
	DefaultReassemblyTimeout  = 2 * time.Minute
	DefaultReassemblyMessages = 1024
	DefaultReassemblyBytes    = 1 << 20
)

// Reassembler joins the parts of concatenated messages. It is safe for
// concurrent use and never holds more than its configured bounds.
type Reassembler struct {
	cfg     ReassemblerConfig
	mu      sync.Mutex
	pending map[fragKey]*partial
	bytes   int
}

// ErrReassemblyFull is returned by Add when holding the fragment would
// exceed the bounds; the caller should refuse it with a temporary error so
// the SMSC delivers it again later.
var ErrReassemblyFull = fmt.Errorf("smpp: reassembly buffer full")

// NewReassembler returns a Reassembler with cfg's zero fields defaulted.
func NewReassembler(cfg ReassemblerConfig) *Reassembler {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultReassemblyTimeout
	}
	if cfg.MaxMessages <= 0 {
		cfg.MaxMessages = DefaultReassemblyMessages
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultReassemblyBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Reassembler{cfg: cfg, pending: make(map[fragKey]*partial)}
}

// Add stores f. It returns the assembled message when f completed one, and
// the token of an older copy of the same part that f replaced (which the
// caller may acknowledge at once).
func (r *Reassembler) Add(f *Fragment) (done *Assembled, superseded any, err error) {
	k := fragKey{f.Source, f.Dest, f.Concat.Ref, f.Concat.Total}
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pending[k]
	delta := len(f.Data)
	var old *Fragment
	if p != nil {
		old = p.parts[f.Concat.Seq]
	}
	if old != nil {
		delta -= len(old.Data)
	}
	if r.bytes+delta > r.cfg.MaxBytes || (p == nil && len(r.pending) >= r.cfg.MaxMessages) {
		return nil, nil, ErrReassemblyFull
	}
	if p == nil {
		p = &partial{first: r.cfg.Now(), dc: f.DataCoding, parts: make(map[uint8]*Fragment, f.Concat.Total)}
		r.pending[k] = p
	}
	if old != nil {
		superseded = old.Token
	}
	p.bytes += delta
	r.bytes += delta
	p.parts[f.Concat.Seq] = f
	if len(p.parts) < int(f.Concat.Total) {
		return nil, superseded, nil
	}
	delete(r.pending, k)
	r.bytes -= p.bytes
	return p.assemble(k), superseded, nil
}

func (p *partial) assemble(k fragKey) *Assembled {
	a := &Assembled{Source: k.source, Dest: k.dest, Ref: k.ref, Total: int(k.total), DataCoding: p.dc}
	a.Data = make([]byte, 0, p.bytes)
	for i := 1; i <= int(k.total); i++ {
		f := p.parts[uint8(i)]
		if f == nil {
			a.Missing = append(a.Missing, i)
			continue
		}
		a.Data = append(a.Data, f.Data...)
		a.Tokens = append(a.Tokens, f.Token)
	}
	return a
}

// Expire removes and returns the messages that waited longer than the
// timeout, incomplete, oldest first.
func (r *Reassembler) Expire() []*Assembled {
	now := r.cfg.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	type aged struct {
		first time.Time
		a     *Assembled
	}
	var out []aged
	for k, p := range r.pending {
		if now.Sub(p.first) >= r.cfg.Timeout {
			delete(r.pending, k)
			r.bytes -= p.bytes
			out = append(out, aged{p.first, p.assemble(k)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].first.Before(out[j].first) })
	res := make([]*Assembled, len(out))
	for i := range out {
		res[i] = out[i].a
	}
	return res
}

// Pending returns the number of messages and bytes held.
func (r *Reassembler) Pending() (messages, bytes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending), r.bytes
}
