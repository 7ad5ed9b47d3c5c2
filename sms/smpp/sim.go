package smpp

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"
)

// SimConfig configures a Simulator. The zero value accepts any bind and
// acknowledges every submit with decimal ids.
type SimConfig struct {
	SystemID string
	// Password, when set, is checked on bind (ESME_RINVPASWD otherwise).
	Password string
	// IDFormat is the format of submit_sm_resp ids (IDHex or decimal).
	IDFormat IDFormat
	// FirstID is the first message id handed out (default 0x1A2B = 6699).
	FirstID uint64

	// Receipts enables delivery receipts for submits that ask for them,
	// ReceiptDelay after the submit_sm_resp. ReceiptIDFormat is the format
	// of the id: in the text; ReceiptTLV adds receipted_message_id (in
	// IDFormat, as the specification says) and message_state;
	// NoReceiptText leaves the text empty (TLV-only receipts).
	Receipts        bool
	ReceiptDelay    time.Duration
	ReceiptIDFormat IDFormat
	ReceiptTLV      bool
	NoReceiptText   bool
	ReceiptState    string // StateDelivered if empty

	// ThrottleEvery answers every Nth submit_sm with ESME_RTHROTTLED.
	ThrottleEvery int
	// DropAfter closes the connection right after acknowledging that many
	// submits (counted over the simulator's life, done once); PDUs already
	// sent by the client behind them are never read, as when an SMSC
	// crashes. DropUnacked more submits are accepted (recorded) but never
	// answered before the close: the truly unknown case.
	DropAfter   int
	DropUnacked int
	// DropLost more submits are read and thrown away before the close:
	// PDUs that reached the SMSC's buffers but were never processed.
	DropLost int
	// ResponseDelay delays every submit_sm_resp.
	ResponseDelay time.Duration
	// MaxPDULength bounds incoming PDUs (DefaultMaxPDULength if 0).
	MaxPDULength int
	Logger       *slog.Logger
}

// SimSubmit is one submit_sm the simulator accepted.
type SimSubmit struct {
	MessageID string // as sent in submit_sm_resp
	SM        *SM
	// Text is the decoded text without the UDH.
	Text     string
	Concat   Concat
	IsConcat bool
	UserRef  int
	Conn     int
	// Acked is false for submits accepted but never answered (DropUnacked).
	Acked bool
}

// SimStats counts what the simulator saw.
type SimStats struct {
	Binds, BindFailures, Unbinds, EnquireLinks int
	Submits, Throttled, Drops                  int
	GenericNacks                               int
	// DeliverStatuses counts the deliver_sm_resp statuses received.
	DeliverStatuses map[Status]int
	ReceiptsSent    int
}

// Simulator is a small SMSC for tests and benchmarks, listening on
// 127.0.0.1 on a free port.
type Simulator struct {
	cfg SimConfig
	ln  net.Listener
	log *slog.Logger

	mu            sync.Mutex
	conns         map[int]*simConn
	nextConn      int
	nextID        uint64
	submits       []SimSubmit
	stats         SimStats
	throttleUntil time.Time
	nSubmitSeen   int
	dropped       bool
	unackedLeft   int
	lostLeft      int
	closed        bool
	wg            sync.WaitGroup
}

type simConn struct {
	id   int
	sim  *Simulator
	conn net.Conn
	br   *bufio.Reader

	wmu sync.Mutex
	bw  *bufio.Writer

	mu      sync.Mutex
	kind    CommandID // the bind, 0 before
	seq     uint32
	pending map[uint32]chan Status
	closed  bool
}

// NewSimulator starts a simulator.
func NewSimulator(cfg SimConfig) (*Simulator, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if cfg.FirstID == 0 {
		cfg.FirstID = 0x1A2B
	}
	if cfg.ReceiptState == "" {
		cfg.ReceiptState = StateDelivered
	}
	if cfg.MaxPDULength <= 0 {
		cfg.MaxPDULength = DefaultMaxPDULength
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Simulator{cfg: cfg, ln: ln, log: cfg.Logger.With("component", "smpp-sim"),
		conns: make(map[int]*simConn), nextID: cfg.FirstID,
		stats: SimStats{DeliverStatuses: make(map[Status]int)}}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr is the host:port to dial.
func (s *Simulator) Addr() string { return s.ln.Addr().String() }

// Close stops listening and closes every connection.
func (s *Simulator) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	err := s.ln.Close()
	s.DropConnections()
	s.wg.Wait()
	return err
}

// Submits returns a copy of the accepted submits, in arrival order.
func (s *Simulator) Submits() []SimSubmit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SimSubmit(nil), s.submits...)
}

// Stats returns a copy of the counters.
func (s *Simulator) Stats() SimStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.DeliverStatuses = make(map[Status]int, len(s.stats.DeliverStatuses))
	for k, v := range s.stats.DeliverStatuses {
		st.DeliverStatuses[k] = v
	}
	return st
}

// BoundConns returns the number of bound connections.
func (s *Simulator) BoundConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.conns {
		c.mu.Lock()
		if c.kind != 0 && !c.closed {
			n++
		}
		c.mu.Unlock()
	}
	return n
}

// ThrottleFor answers every submit_sm with ESME_RTHROTTLED for d.
func (s *Simulator) ThrottleFor(d time.Duration) {
	s.mu.Lock()
	s.throttleUntil = time.Now().Add(d)
	s.mu.Unlock()
}

// DropConnections closes every connection abruptly.
func (s *Simulator) DropConnections() {
	s.mu.Lock()
	conns := make([]*simConn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

func (s *Simulator) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.nextConn++
		c := &simConn{id: s.nextConn, sim: s, conn: conn, br: bufio.NewReaderSize(conn, 32<<10),
			bw: bufio.NewWriterSize(conn, 32<<10), pending: make(map[uint32]chan Status)}
		s.conns[c.id] = c
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
		}()
	}
}

func (c *simConn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	for seq, ch := range c.pending {
		close(ch)
		delete(c.pending, seq)
	}
	c.mu.Unlock()
	c.conn.Close()
	c.sim.mu.Lock()
	delete(c.sim.conns, c.id)
	c.sim.mu.Unlock()
}

func (c *simConn) write(p *PDU, flush bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b, err := p.Marshal()
	if err != nil {
		return err
	}
	if _, err := c.bw.Write(b); err != nil {
		return err
	}
	if flush {
		return c.bw.Flush()
	}
	return nil
}

func (c *simConn) flush() {
	c.wmu.Lock()
	c.bw.Flush()
	c.wmu.Unlock()
}

func (c *simConn) serve() {
	defer c.close()
	s := c.sim
	var buf []byte
	for {
		p, err := ReadPDU(c.br, s.cfg.MaxPDULength, buf)
		if err != nil {
			if p != nil && errors.Is(err, ErrMalformed) {
				c.write(&PDU{Command: GenericNack, Status: ESME_RINVCMDLEN, Seq: p.Seq}, true)
				continue
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("sim read", "err", err)
			}
			return
		}
		// Flush answers only when no more input is waiting: one write for a
		// burst of requests.
		flush := !nextPDUBuffered(c.br)
		switch p.Command {
		case BindTransceiver, BindTransmitter, BindReceiver:
			b := p.Body.(*Bind)
			st := StatusOK
			s.mu.Lock()
			switch {
			case s.cfg.SystemID != "" && b.SystemID != s.cfg.SystemID:
				st = ESME_RINVSYSID
			case s.cfg.Password != "" && b.Password != s.cfg.Password:
				st = ESME_RINVPASWD
			}
			if st == StatusOK {
				s.stats.Binds++
			} else {
				s.stats.BindFailures++
			}
			s.mu.Unlock()
			if st == StatusOK {
				c.mu.Lock()
				c.kind = p.Command
				c.mu.Unlock()
			}
			c.write(&PDU{Command: p.Command.Resp(), Status: st, Seq: p.Seq, Body: &BindResp{SystemID: "SIM"}}, true)
			if st != StatusOK {
				return
			}
		case EnquireLink:
			s.mu.Lock()
			s.stats.EnquireLinks++
			s.mu.Unlock()
			c.write(&PDU{Command: EnquireLinkResp, Seq: p.Seq}, flush)
		case Unbind:
			s.mu.Lock()
			s.stats.Unbinds++
			s.mu.Unlock()
			c.write(&PDU{Command: UnbindResp, Seq: p.Seq}, true)
			return
		case SubmitSM:
			if !c.onSubmit(p, flush) {
				return
			}
		case DeliverSMResp, EnquireLinkResp, UnbindResp, GenericNack:
			if p.Command == GenericNack {
				s.mu.Lock()
				s.stats.GenericNacks++
				s.mu.Unlock()
			}
			c.mu.Lock()
			ch := c.pending[p.Seq]
			delete(c.pending, p.Seq)
			c.mu.Unlock()
			if ch != nil {
				ch <- p.Status
			}
			if flush {
				c.flush()
			}
		default:
			c.write(&PDU{Command: GenericNack, Status: ESME_RINVCMDID, Seq: p.Seq}, flush)
		}
	}
}

// nextPDUBuffered reports whether a whole PDU is already buffered, so
// answers may wait for it instead of being flushed now.
func nextPDUBuffered(br *bufio.Reader) bool {
	if br.Buffered() < HeaderLen {
		return false
	}
	h, err := br.Peek(4)
	if err != nil {
		return false
	}
	return br.Buffered() >= int(binary.BigEndian.Uint32(h))
}

func formatID(n uint64, f IDFormat) string {
	if f == IDHex {
		return fmt.Sprintf("%X", n)
	}
	return strconv.FormatUint(n, 10)
}

// onSubmit answers one submit_sm; false means: drop the connection now.
func (c *simConn) onSubmit(p *PDU, flush bool) bool {
	s := c.sim
	c.mu.Lock()
	kind := c.kind
	c.mu.Unlock()
	if kind != BindTransceiver && kind != BindTransmitter {
		c.write(&PDU{Command: SubmitSMResp, Status: ESME_RINVBNDSTS, Seq: p.Seq}, flush)
		return true
	}
	sm := p.Body.(*SM)
	s.mu.Lock()
	s.nSubmitSeen++
	throttled := time.Now().Before(s.throttleUntil) ||
		(s.cfg.ThrottleEvery > 0 && s.nSubmitSeen%s.cfg.ThrottleEvery == 0)
	if throttled {
		s.stats.Throttled++
		s.mu.Unlock()
		c.write(&PDU{Command: SubmitSMResp, Status: ESME_RTHROTTLED, Seq: p.Seq}, flush)
		return true
	}
	id := formatID(s.nextID, s.cfg.IDFormat)
	n := s.nextID
	s.nextID++
	rec := SimSubmit{MessageID: id, SM: sm, Conn: c.id, Acked: true}
	data := sm.ShortMessage
	if v, ok := sm.TLVs.Get(TagMessagePayload); ok && len(data) == 0 {
		data = v
	}
	if sm.ESMClass&ESMClassUDHI != 0 {
		if cc, ok, payload, err := ParseUDH(data); err == nil {
			data, rec.Concat, rec.IsConcat = payload, cc, ok
		}
	}
	if ref, ok := sm.TLVs.Uint(TagSarMsgRefNum); ok {
		tot, _ := sm.TLVs.Uint(TagSarTotalSegments)
		sq, _ := sm.TLVs.Uint(TagSarSegmentSeqnum)
		rec.Concat, rec.IsConcat = Concat{Ref: uint16(ref), Total: uint8(tot), Seq: uint8(sq)}, true
	}
	if u, ok := sm.TLVs.Uint(TagUserMessageReference); ok {
		rec.UserRef = int(u)
	}
	rec.Text = DecodeText(sm.DataCoding, data)
	// The drop: after DropAfter acknowledged submits, swallow DropUnacked
	// more, throw away DropLost more, then close.
	if s.dropped && s.unackedLeft+s.lostLeft > 0 {
		if s.unackedLeft > 0 {
			rec.Acked = false
			s.unackedLeft--
			s.stats.Submits++
			s.submits = append(s.submits, rec)
		} else {
			s.lostLeft--
		}
		last := s.unackedLeft+s.lostLeft == 0
		s.mu.Unlock()
		if last || flush {
			c.flush()
		}
		if last {
			s.noteDrop()
			return false
		}
		return true
	}
	s.stats.Submits++
	s.submits = append(s.submits, rec)
	drop := false
	if s.cfg.DropAfter > 0 && !s.dropped && s.stats.Submits >= s.cfg.DropAfter {
		s.dropped = true
		s.unackedLeft, s.lostLeft = s.cfg.DropUnacked, s.cfg.DropLost
		drop = s.unackedLeft+s.lostLeft == 0
	}
	receipt := s.cfg.Receipts && sm.RegisteredDelivery&0x03 != 0
	s.mu.Unlock()
	if s.cfg.ResponseDelay > 0 {
		time.Sleep(s.cfg.ResponseDelay)
	}
	c.write(&PDU{Command: SubmitSMResp, Seq: p.Seq, Body: &SMResp{MessageID: id}}, flush || drop)
	if receipt {
		s.scheduleReceipt(c, n, rec)
	}
	if drop {
		s.noteDrop()
		return false
	}
	return true
}

func (s *Simulator) noteDrop() {
	s.mu.Lock()
	s.stats.Drops++
	s.mu.Unlock()
	s.log.Info("sim dropping connection")
}

func (s *Simulator) scheduleReceipt(from *simConn, n uint64, rec SimSubmit) {
	now := time.Now()
	send := func() {
		sm := &SM{SourceAddrTON: rec.SM.DestAddrTON, SourceAddrNPI: rec.SM.DestAddrNPI, SourceAddr: rec.SM.DestAddr,
			DestAddrTON: rec.SM.SourceAddrTON, DestAddrNPI: rec.SM.SourceAddrNPI, DestAddr: rec.SM.SourceAddr,
			ESMClass: ESMClassReceipt}
		if !s.cfg.NoReceiptText {
			sm.ShortMessage = []byte(FormatReceiptText(formatID(n, s.cfg.ReceiptIDFormat), s.cfg.ReceiptState,
				now, time.Now(), ""))
		}
		if s.cfg.ReceiptTLV {
			sm.TLVs = TLVs{CStringTLV(TagReceiptedMessageID, rec.MessageID),
				Uint8TLV(TagMessageState, MessageStateCode(s.cfg.ReceiptState))}
		}
		if rec.UserRef != 0 {
			sm.TLVs = append(sm.TLVs, Uint16TLV(TagUserMessageReference, uint16(rec.UserRef)))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := s.Deliver(ctx, sm); err == nil {
			s.mu.Lock()
			s.stats.ReceiptsSent++
			s.mu.Unlock()
		}
	}
	s.wg.Add(1)
	time.AfterFunc(s.cfg.ReceiptDelay, func() {
		defer s.wg.Done()
		send()
	})
}

// receiverConn picks the newest bound connection able to receive.
func (s *Simulator) receiverConn() *simConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *simConn
	for _, c := range s.conns {
		c.mu.Lock()
		ok := !c.closed && (c.kind == BindTransceiver || c.kind == BindReceiver)
		c.mu.Unlock()
		if ok && (best == nil || c.id > best.id) {
			best = c
		}
	}
	return best
}

// ErrNoReceiver is returned by Deliver when no ESME is bound to receive.
var ErrNoReceiver = errors.New("smpp sim: no receiver bound")

// DeliverAsync sends a deliver_sm and returns a channel that yields the
// status of its deliver_sm_resp (closed without a value if the connection
// closed first).
func (s *Simulator) DeliverAsync(sm *SM) (<-chan Status, error) {
	c := s.receiverConn()
	if c == nil {
		return nil, ErrNoReceiver
	}
	ch := make(chan Status, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrNoReceiver
	}
	c.seq++
	seq := c.seq
	c.pending[seq] = ch
	c.mu.Unlock()
	if err := c.write(&PDU{Command: DeliverSM, Seq: seq, Body: sm}, true); err != nil {
		return nil, err
	}
	out := make(chan Status, 1)
	go func() {
		defer close(out)
		if st, ok := <-ch; ok {
			s.mu.Lock()
			s.stats.DeliverStatuses[st]++
			s.mu.Unlock()
			out <- st
		}
	}()
	return out, nil
}

// Deliver sends a deliver_sm and waits for its response status.
func (s *Simulator) Deliver(ctx context.Context, sm *SM) (Status, error) {
	ch, err := s.DeliverAsync(sm)
	if err != nil {
		return 0, err
	}
	select {
	case st, ok := <-ch:
		if !ok {
			return 0, errors.New("smpp sim: connection closed before deliver_sm_resp")
		}
		return st, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// InjectMO sends an incoming message from a handset in UCS-2, split into
// UDH-concatenated parts when longer than 70 characters; order, if not
// nil, gives the order in which the parts are sent (1-based). It waits for
// every deliver_sm_resp and returns their statuses in part order.
func (s *Simulator) InjectMO(ctx context.Context, from, to, text string, ref uint16, order []int) ([]Status, error) {
	segs, err := SplitMessage(text, EncUCS2, ConcatUDH8, ref)
	if err != nil {
		return nil, err
	}
	if order == nil {
		for i := range segs {
			order = append(order, i+1)
		}
	}
	chans := make([]<-chan Status, len(segs))
	for _, i := range order {
		if i < 1 || i > len(segs) {
			return nil, fmt.Errorf("smpp sim: no part %d", i)
		}
		g := segs[i-1]
		sm := &SM{SourceAddrTON: 1, SourceAddrNPI: 1, SourceAddr: from, DestAddr: to,
			ESMClass: g.ESMClass, DataCoding: g.DataCoding, ShortMessage: g.ShortMessage, TLVs: g.TLVs}
		if chans[i-1], err = s.DeliverAsync(sm); err != nil {
			return nil, err
		}
	}
	sts := make([]Status, len(segs))
	for i, ch := range chans {
		if ch == nil {
			continue
		}
		select {
		case st, ok := <-ch:
			if !ok {
				return sts, errors.New("smpp sim: connection closed before deliver_sm_resp")
			}
			sts[i] = st
		case <-ctx.Done():
			return sts, ctx.Err()
		}
	}
	return sts, nil
}
