package smpp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/haochaping/haochaping/internal/phone"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// session is one bound connection.
type session struct {
	c    *Client
	kind CommandID
	log  *slog.Logger
	conn net.Conn
	br   *bufio.Reader

	wmu  sync.Mutex
	wbuf []byte

	seq      atomic.Uint32
	lastRecv atomic.Int64 // unix nanoseconds

	mu        sync.Mutex
	pending   map[uint32]chan *PDU
	closed    bool
	unbinding bool
	err       error
	done      chan struct{}
}

// callError reports whether the request was completely written before it
// failed: the difference between NOT SENT and UNKNOWN.
type callError struct {
	written bool
	err     error
}

func (e *callError) Error() string { return e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

var errUnbinding = errors.New("smpp: session is unbinding")

func (c *Client) connect(ctx context.Context, kind CommandID, log *slog.Logger) (*session, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.BindTimeout)
	defer cancel()
	conn, err := c.dial(dctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	s := &session{
		c: c, kind: kind, log: log, conn: conn,
		br:      bufio.NewReaderSize(conn, 16<<10),
		pending: make(map[uint32]chan *PDU),
		done:    make(chan struct{}),
	}
	s.lastRecv.Store(c.now().UnixNano())
	if err := s.bind(dctx); err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// bind sends the bind and reads its response before the reader starts.
func (s *session) bind(ctx context.Context) error {
	deadline, _ := ctx.Deadline()
	s.conn.SetDeadline(deadline)
	defer s.conn.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { s.conn.SetDeadline(time.Now()) })
	defer stop()
	cfg := &s.c.cfg
	p := &PDU{Command: s.kind, Seq: s.seq.Add(1), Body: &Bind{
		SystemID: cfg.SystemID, Password: cfg.Password, SystemType: cfg.SystemType,
		InterfaceVersion: 0x34, AddressRange: cfg.AddressRange,
	}}
	b, err := p.Marshal()
	if err != nil {
		return err
	}
	if _, err := s.conn.Write(b); err != nil {
		return fmt.Errorf("write %s: %w", s.kind, err)
	}
	for {
		r, err := ReadPDU(s.br, cfg.MaxPDULength, nil)
		if err != nil {
			return fmt.Errorf("read %s_resp: %w", s.kind, err)
		}
		switch {
		case r.Command == s.kind.Resp() && r.Seq == p.Seq:
			if r.Status != StatusOK {
				return fmt.Errorf("%s: %w", s.kind, r.Status)
			}
			return nil
		case r.Command == GenericNack:
			return fmt.Errorf("%s: generic_nack %w", s.kind, r.Status)
		case r.Command == EnquireLink:
			s.writePDU(&PDU{Command: EnquireLinkResp, Seq: r.Seq})
		}
	}
}

// serve runs the session until the connection fails or ctx ends, then
// unbinds. It returns why the session ended.
func (s *session) serve(ctx context.Context) error {
	go s.readLoop()
	go s.keepAlive()
	select {
	case <-s.done:
		return s.err
	case <-ctx.Done():
	}
	s.c.clearTx(s)
	s.shutdown()
	return s.err
}

// shutdown drains outstanding requests, unbinds and closes, each step
// bounded by UnbindTimeout.
func (s *session) shutdown() {
	deadline := time.Now().Add(s.c.cfg.UnbindTimeout)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		n, closed := len(s.pending), s.closed
		s.mu.Unlock()
		if n == 0 || closed {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.mu.Lock()
	s.unbinding = true
	s.mu.Unlock()
	_, err := s.call(context.Background(), &PDU{Command: Unbind}, s.c.cfg.UnbindTimeout, false)
	if err != nil {
		s.log.Warn("smpp unbind not answered", "err", err)
	}
	s.fail(ErrClosed)
}

// fail closes the session once; waiters see done.
func (s *session) fail(err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.err = err
	s.mu.Unlock()
	s.c.clearTx(s) // before done: a failed submit's retry waits for the next bind
	close(s.done)
	s.conn.Close()
}

// writePDU encodes and writes p. written is true when every byte reached
// the socket.
func (s *session) writePDU(p *PDU) (written bool, err error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	b, err := p.AppendTo(s.wbuf[:0])
	if err != nil {
		return false, err
	}
	s.wbuf = b
	s.conn.SetWriteDeadline(time.Now().Add(s.c.cfg.WriteTimeout))
	n, err := s.conn.Write(b)
	if err != nil {
		s.fail(fmt.Errorf("write: %w", err))
		return n == len(b), fmt.Errorf("%w: write: %w", ErrConnectionLost, err)
	}
	return true, nil
}

// call sends request p with a fresh sequence number and waits for its
// response.
func (s *session) call(ctx context.Context, p *PDU, timeout time.Duration, isSubmit bool) (*PDU, error) {
	ch := make(chan *PDU, 1)
	for p.Seq = 0; p.Seq == 0; { // 1..0x7FFFFFFF, wrapping
		p.Seq = s.seq.Add(1) & 0x7FFFFFFF
	}
	s.mu.Lock()
	switch {
	case s.closed:
		err := s.err
		s.mu.Unlock()
		return nil, &callError{err: fmt.Errorf("%w: %w", ErrConnectionLost, err)}
	case s.unbinding && isSubmit:
		s.mu.Unlock()
		return nil, &callError{err: errUnbinding}
	}
	s.pending[p.Seq] = ch
	s.mu.Unlock()
	written, err := s.writePDU(p)
	if err != nil {
		s.forget(p.Seq)
		return nil, &callError{written: written, err: err}
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r, nil
	case <-s.done:
		select {
		case r := <-ch:
			return r, nil
		default:
		}
		return nil, &callError{written: true, err: fmt.Errorf("%w: %w", ErrConnectionLost, s.err)}
	case <-t.C:
		s.forget(p.Seq)
		return nil, &callError{written: true, err: fmt.Errorf("%w after %s", ErrResponseTimeout, timeout)}
	case <-ctx.Done():
		s.forget(p.Seq)
		return nil, &callError{written: true, err: ctx.Err()}
	}
}

func (s *session) forget(seq uint32) {
	s.mu.Lock()
	delete(s.pending, seq)
	s.mu.Unlock()
}

func (s *session) readLoop() {
	var buf []byte
	for {
		p, err := ReadPDU(s.br, s.c.cfg.MaxPDULength, buf)
		if err != nil && (p == nil || !errors.Is(err, ErrMalformed)) {
			s.fail(fmt.Errorf("read: %w", err))
			return
		}
		s.lastRecv.Store(s.c.now().UnixNano())
		if err != nil {
			s.log.Warn("smpp malformed PDU", "command", p.Command.String(), "err", err)
			if !p.Command.IsResponse() {
				s.writePDU(&PDU{Command: GenericNack, Status: ESME_RINVCMDLEN, Seq: p.Seq})
				continue
			}
		}
		s.dispatch(p)
	}
}

func (s *session) dispatch(p *PDU) {
	switch {
	case p.Command.IsResponse():
		s.mu.Lock()
		ch := s.pending[p.Seq]
		delete(s.pending, p.Seq)
		s.mu.Unlock()
		if ch == nil {
			s.log.Debug("smpp response without request", "command", p.Command.String(), "seq", p.Seq)
			return
		}
		ch <- p
	case p.Command == EnquireLink:
		s.writePDU(&PDU{Command: EnquireLinkResp, Seq: p.Seq})
	case p.Command == Unbind:
		s.writePDU(&PDU{Command: UnbindResp, Seq: p.Seq})
		s.log.Info("smpp unbind from SMSC")
		s.fail(errors.New("smpp: SMSC unbound"))
	case p.Command == DeliverSM && s.kind != BindTransmitter:
		sm, _ := p.Body.(*SM)
		s.c.handlerSem <- struct{}{} // all busy: stop reading
		s.c.handlers.Add(1)
		go func() {
			defer func() { <-s.c.handlerSem; s.c.handlers.Done() }()
			s.c.onDeliver(s, p.Seq, sm)
		}()
	case p.Command == AlertNotification:
		// No response is defined.
	default:
		s.writePDU(&PDU{Command: GenericNack, Status: ESME_RINVCMDID, Seq: p.Seq})
	}
}

func (s *session) keepAlive() {
	iv := s.c.cfg.EnquireLinkInterval
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		idle := s.c.now().Sub(time.Unix(0, s.lastRecv.Load()))
		if idle >= s.c.cfg.DeadPeerTimeout {
			s.fail(fmt.Errorf("%w: nothing for %s", ErrDeadPeer, idle.Round(time.Millisecond)))
			return
		}
		if idle >= iv/2 {
			go s.call(context.Background(), &PDU{Command: EnquireLink}, s.c.cfg.DeadPeerTimeout, false)
		}
	}
}

// ack answers one deliver_sm.
type ack struct {
	s   *session
	seq uint32
}

func (a ack) send(st Status) {
	a.s.writePDU(&PDU{Command: DeliverSMResp, Status: st, Seq: a.seq, Body: &SMResp{}})
}

// onDeliver handles one deliver_sm: a receipt, a plain reply or a part of
// a concatenated reply.
func (c *Client) onDeliver(s *session, seq uint32, sm *SM) {
	a := ack{s, seq}
	if sm == nil {
		a.send(ESME_RSYSERR)
		return
	}
	if t := sm.ESMClass & ESMClassTypeMask; t == ESMClassReceipt || t == ESMClassIntermediate {
		r, ok := ReceiptFromSM(sm, c.cfg.AckIDFormat, c.cfg.ReceiptIDFormat, c.cfg.Location)
		if !ok {
			// Refusing would make the SMSC repeat it forever.
			c.log.Warn("smpp receipt without message id", "from", phone.Mask(sm.SourceAddr))
			c.m.deliver("receipt", StatusOK)
			a.send(StatusOK)
			return
		}
		st := c.callHandler(func(ctx context.Context) error { return c.h.OnReceipt(ctx, r) }, "receipt")
		a.send(st)
		return
	}
	data := sm.ShortMessage
	if p, ok := sm.TLVs.Get(TagMessagePayload); ok && len(data) == 0 {
		data = p
	}
	var cc Concat
	var isConcat bool
	if sm.ESMClass&ESMClassUDHI != 0 {
		var payload []byte
		var err error
		cc, isConcat, payload, err = ParseUDH(data)
		if err != nil {
			c.log.Warn("smpp bad UDH, delivering the raw text", "from", phone.Mask(sm.SourceAddr), "err", err)
		} else {
			data = payload
		}
	}
	if ref, ok := sm.TLVs.Uint(TagSarMsgRefNum); ok && !isConcat {
		tot, ok1 := sm.TLVs.Uint(TagSarTotalSegments)
		sq, ok2 := sm.TLVs.Uint(TagSarSegmentSeqnum)
		if ok1 && ok2 && tot > 0 && sq > 0 && sq <= tot && tot <= 255 {
			cc, isConcat = Concat{Ref: uint16(ref), Total: uint8(tot), Seq: uint8(sq)}, true
		}
	}
	if !isConcat || cc.Total == 1 {
		mo := MO{From: sm.SourceAddr, To: sm.DestAddr, Text: DecodeText(sm.DataCoding, data),
			DataCoding: sm.DataCoding, Parts: 1}
		a.send(c.callHandler(func(ctx context.Context) error { return c.h.OnMessage(ctx, mo) }, "mo"))
		return
	}
	done, old, err := c.reasm.Add(&Fragment{Source: sm.SourceAddr, Dest: sm.DestAddr, Concat: cc,
		DataCoding: sm.DataCoding, Data: data, Token: a})
	if err != nil {
		c.log.Warn("smpp reassembly full, refusing part", "from", phone.Mask(sm.SourceAddr))
		a.send(ESME_RX_T_APPN)
		return
	}
	if old != nil {
		old.(ack).send(StatusOK)
	}
	if done != nil {
		c.deliverAssembled(done)
	}
}

// deliverAssembled hands a reassembled reply to the handler and answers all
// its parts with the handler's verdict.
func (c *Client) deliverAssembled(a *Assembled) {
	mo := MO{From: a.Source, To: a.Dest, Text: a.Text(), DataCoding: a.DataCoding,
		Parts: a.Total, Missing: a.Missing}
	st := c.callHandler(func(ctx context.Context) error { return c.h.OnMessage(ctx, mo) }, "mo")
	for _, t := range a.Tokens {
		t.(ack).send(st)
	}
}

func (c *Client) callHandler(f func(ctx context.Context) error, kind string) (st Status) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.HandlerTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("smpp handler panicked", "kind", kind, "panic", r)
			st = ESME_RX_T_APPN
		}
		c.m.deliver(kind, st)
	}()
	if err := f(ctx); err != nil {
		c.log.Warn("smpp handler failed, SMSC will redeliver", "kind", kind, "err", err)
		return ESME_RX_T_APPN
	}
	return StatusOK
}
