package smpp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// recorder is a Handler that keeps what it got; fail makes it refuse.
type recorder struct {
	mu       sync.Mutex
	mos      []MO
	receipts []Receipt
	fail     atomic.Int32 // refuse this many calls
	notify   chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1000)} }

func (r *recorder) OnMessage(_ context.Context, m MO) error {
	if r.fail.Add(-1) >= 0 {
		return errors.New("store down")
	}
	r.mu.Lock()
	r.mos = append(r.mos, m)
	r.mu.Unlock()
	r.notify <- struct{}{}
	return nil
}

func (r *recorder) OnReceipt(_ context.Context, rc Receipt) error {
	if r.fail.Add(-1) >= 0 {
		return errors.New("store down")
	}
	r.mu.Lock()
	r.receipts = append(r.receipts, rc)
	r.mu.Unlock()
	r.notify <- struct{}{}
	return nil
}

func (r *recorder) snapshot() ([]MO, []Receipt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]MO(nil), r.mos...), append([]Receipt(nil), r.receipts...)
}

// waitFor polls cond until it holds or the test times out (no speed assert).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SMPP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startClient runs a client against addr until the test ends; stop ends
// Run and waits for it.
func startClient(t testing.TB, addr string, cfg Config, h Handler) (c *Client, stop func()) {
	t.Helper()
	cfg.Addr = addr
	if cfg.ReconnectMin == 0 {
		cfg.ReconnectMin = 5 * time.Millisecond
		cfg.ReconnectMax = 50 * time.Millisecond
	}
	c, err := New(cfg, Params{Handler: h, Logger: testLogger(t), Metrics: NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := c.WaitBound(wctx); err != nil {
		t.Fatalf("not bound: %v", err)
	}
	return c, stop
}

func newSim(t testing.TB, cfg SimConfig) *Simulator {
	t.Helper()
	s, err := NewSimulator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSubmitWindow(t *testing.T) {
	sim := newSim(t, SimConfig{SystemID: "hcp", Password: "secret", IDFormat: IDHex})
	c, _ := startClient(t, sim.Addr(), Config{SystemID: "hcp", Password: "secret", Window: 10,
		SourceAddr: "12345", AckIDFormat: IDHex}, newRecorder())
	var wg sync.WaitGroup
	var maxInUse atomic.Int32
	ids := make([]string, 100)
	errs := make([]error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Submit(context.Background(), Message{To: fmt.Sprintf("138%08d", i), Text: "【奉化12345】感谢您的评价！"})
			if _, n := c.Window(); int32(n) > maxInUse.Load() {
				maxInUse.Store(int32(n))
			}
			errs[i] = err
			if err == nil {
				ids[i] = res.MessageIDs[0]
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range 100 {
		if errs[i] != nil {
			t.Fatalf("submit %d: %v", i, errs[i])
		}
		if seen[ids[i]] {
			t.Fatalf("duplicate id %s", ids[i])
		}
		seen[ids[i]] = true
	}
	if n := maxInUse.Load(); n > 10 {
		t.Errorf("window exceeded: %d", n)
	}
	subs := sim.Submits()
	if len(subs) != 100 {
		t.Fatalf("simulator got %d submits", len(subs))
	}
	if subs[0].Text != "【奉化12345】感谢您的评价！" || subs[0].SM.DataCoding != CodingUCS2 || subs[0].SM.SourceAddr != "12345" || subs[0].SM.RegisteredDelivery != 1 {
		t.Errorf("submit as received: %+v", subs[0])
	}
	// Normalised ids are decimal; the simulator acked in hex.
	if !seen[NormalizeID(subs[0].MessageID, IDHex)] {
		t.Errorf("id %s not among results", subs[0].MessageID)
	}
}

func TestBindRejected(t *testing.T) {
	sim := newSim(t, SimConfig{Password: "secret"})
	c, err := New(Config{Addr: sim.Addr(), Password: "wrong", ReconnectMin: time.Millisecond, ReconnectMax: 5 * time.Millisecond},
		Params{Handler: newRecorder(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	waitFor(t, "bind retries", func() bool { return sim.Stats().BindFailures >= 3 })
	sctx, scancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	_, err = c.Submit(sctx, Message{To: "13800138000", Text: "x"})
	scancel()
	if !errors.Is(err, ErrNotSent) || !IsTemporary(err) {
		t.Errorf("submit while unbound: %v", err)
	}
	cancel()
	<-done
	if _, err := c.Submit(context.Background(), Message{To: "13800138000", Text: "x"}); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrNotSent) {
		t.Errorf("submit after Run: %v", err)
	}
}

func TestMultiSegmentSubmit(t *testing.T) {
	sim := newSim(t, SimConfig{})
	c, _ := startClient(t, sim.Addr(), Config{}, newRecorder())
	text := strings.Repeat("请评价您的来电办理服务", 10) // 110 characters: 2 segments
	res, err := c.Submit(context.Background(), Message{To: "13800138000", Text: text, UserRef: 0x0102})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.MessageIDs) != 2 || res.MessageIDs[0] == res.MessageIDs[1] {
		t.Fatalf("ids %v", res.MessageIDs)
	}
	subs := sim.Submits()
	if len(subs) != 2 || !subs[0].IsConcat || subs[0].Concat.Ref != 0x02 || subs[1].Concat.Seq != 2 || subs[0].UserRef != 0x0102 {
		t.Fatalf("segments: %+v", subs)
	}
	if subs[0].Text+subs[1].Text != text {
		t.Error("text does not join")
	}
}

func TestReceipts(t *testing.T) {
	tests := []struct {
		name string
		sim  SimConfig
		cfg  Config
	}{
		{"hex ack, decimal text", SimConfig{IDFormat: IDHex, Receipts: true, ReceiptIDFormat: IDDecimal},
			Config{AckIDFormat: IDHex, ReceiptIDFormat: IDDecimal}},
		{"hex ack, hex text", SimConfig{IDFormat: IDHex, Receipts: true, ReceiptIDFormat: IDHex},
			Config{AckIDFormat: IDHex, ReceiptIDFormat: IDHex}},
		{"decimal both", SimConfig{Receipts: true}, Config{AckIDFormat: IDDecimal, ReceiptIDFormat: IDDecimal}},
		{"TLV only, hex", SimConfig{IDFormat: IDHex, Receipts: true, ReceiptTLV: true, NoReceiptText: true, ReceiptState: StateUndeliverable},
			Config{AckIDFormat: IDHex, ReceiptIDFormat: IDDecimal}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim := newSim(t, tc.sim)
			rec := newRecorder()
			rec.fail.Store(1) // the first receipt is refused and must come again
			c, _ := startClient(t, sim.Addr(), tc.cfg, rec)
			res, err := c.Submit(context.Background(), Message{To: "13800138000", Text: "4", UserRef: 77})
			if err != nil {
				t.Fatal(err)
			}
			if res.MessageIDs[0] != "6699" {
				t.Errorf("normalised id %q, want 6699", res.MessageIDs[0])
			}
			// The simulator does not redeliver: send the refused one again.
			waitFor(t, "refused receipt", func() bool { return sim.Stats().DeliverStatuses[ESME_RX_T_APPN] == 1 })
			sm := &SM{SourceAddr: "13800138000", DestAddr: "12345", ESMClass: ESMClassReceipt,
				ShortMessage: []byte(FormatReceiptText(formatID(0x1A2B, tc.sim.ReceiptIDFormat), StateDelivered, time.Now(), time.Now(), "4"))}
			if tc.sim.NoReceiptText {
				sm.ShortMessage = nil
				sm.TLVs = TLVs{CStringTLV(TagReceiptedMessageID, res.RawIDs[0]), Uint8TLV(TagMessageState, 2)}
			}
			if st, err := sim.Deliver(context.Background(), sm); err != nil || st != StatusOK {
				t.Fatalf("redelivery: %v %v", st, err)
			}
			_, rcs := rec.snapshot()
			if len(rcs) != 1 || rcs[0].MessageID != res.MessageIDs[0] || rcs[0].Source != "13800138000" {
				t.Fatalf("receipts %+v", rcs)
			}
			if tc.sim.ReceiptTLV && rcs[0].State != StateDelivered {
				t.Errorf("state %q", rcs[0].State)
			}
		})
	}
}

func TestMOUCS2(t *testing.T) {
	sim := newSim(t, SimConfig{})
	rec := newRecorder()
	startClient(t, sim.Addr(), Config{}, rec)
	sts, err := sim.InjectMO(context.Background(), "13800138000", "12345", "４ 等了两个小时", 0, nil)
	if err != nil || sts[0] != StatusOK {
		t.Fatal(sts, err)
	}
	mos, _ := rec.snapshot()
	if len(mos) != 1 || mos[0].Text != "４ 等了两个小时" || mos[0].From != "13800138000" || mos[0].Parts != 1 {
		t.Fatalf("MO %+v", mos)
	}
}

func TestMOConcatenated(t *testing.T) {
	sim := newSim(t, SimConfig{})
	rec := newRecorder()
	startClient(t, sim.Addr(), Config{}, rec)
	text := "4 " + strings.Repeat("等了两个小时才有人接电话，", 12) + "完" // > 134 characters: 3 parts
	for _, order := range [][]int{{1, 2, 3}, {3, 1, 2}} {
		sts, err := sim.InjectMO(context.Background(), "13800138000", "12345", text, 0xAB, order)
		if err != nil || len(sts) != 3 {
			t.Fatal(sts, err)
		}
		for _, st := range sts {
			if st != StatusOK {
				t.Fatalf("statuses %v", sts)
			}
		}
	}
	mos, _ := rec.snapshot()
	if len(mos) != 2 || mos[0].Text != text || mos[1].Text != text || mos[1].Parts != 3 {
		t.Fatalf("MOs %+v", mos)
	}
	// Handler failure: every part is refused, so the SMSC sends them again.
	rec.fail.Store(1)
	sts, _ := sim.InjectMO(context.Background(), "13800138000", "12345", text, 0xAC, []int{2, 3, 1})
	for _, st := range sts {
		if st != ESME_RX_T_APPN {
			t.Fatalf("statuses after handler error %v", sts)
		}
	}
}

func TestMOConcatTimeout(t *testing.T) {
	sim := newSim(t, SimConfig{})
	rec := newRecorder()
	startClient(t, sim.Addr(), Config{Reassembly: ReassemblerConfig{Timeout: 50 * time.Millisecond}}, rec)
	segs, _ := SplitMessage(strings.Repeat("五", 100), EncUCS2, ConcatUDH8, 5)
	ch, err := sim.DeliverAsync(&SM{SourceAddr: "13800138000", ESMClass: ESMClassUDHI, DataCoding: 8, ShortMessage: segs[0].ShortMessage})
	if err != nil {
		t.Fatal(err)
	}
	if st := <-ch; st != StatusOK {
		t.Fatalf("status %v", st)
	}
	mos, _ := rec.snapshot()
	if len(mos) != 1 || len(mos[0].Missing) != 1 || mos[0].Text != strings.Repeat("五", 67) {
		t.Fatalf("incomplete MO %+v", mos)
	}
}

func TestThrottling(t *testing.T) {
	sim := newSim(t, SimConfig{ThrottleEvery: 4})
	// Every 4th submit the SMSC sees is refused, whichever message it is: a
	// message retried 3 times (the default) is refused on all 4 attempts
	// about once in 256, so with 40 messages the default would fail one run
	// in seven. 20 retries make that 4⁻²¹; running out of retries has its
	// own test below.
	c, _ := startClient(t, sim.Addr(), Config{Window: 8, ThrottlePause: 5 * time.Millisecond, ThrottleRetries: 20}, newRecorder())
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Submit(context.Background(), Message{To: "13800138000", Text: fmt.Sprint(i)}); err != nil {
				t.Errorf("submit %d: %v", i, err)
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	st := sim.Stats()
	if st.Throttled == 0 || st.Submits != 40 {
		t.Fatalf("throttled %d, accepted %d", st.Throttled, st.Submits)
	}
	if limit, _ := c.Window(); limit >= 8 {
		// The window halves on each throttle and regrows slowly; after ten
		// throttles in forty submits it cannot be back to full.
		t.Errorf("window limit %d did not shrink", limit)
	}

	// Throttled for longer than the retries cover: a temporary NOT SENT error.
	sim.ThrottleFor(time.Hour)
	_, err := c.Submit(context.Background(), Message{To: "13800138000", Text: "x"})
	if !errors.Is(err, ErrThrottled) || !errors.Is(err, ErrNotSent) || !IsTemporary(err) {
		t.Fatalf("err = %v", err)
	}
	sim.ThrottleFor(0)
	if _, err := c.Submit(context.Background(), Message{To: "13800138000", Text: "y"}); err != nil {
		t.Fatal(err)
	}
}

// outboxSend is what the outbox does: retry NOT SENT and UNKNOWN (the
// documented policy) with the same UserRef until accepted.
func outboxSend(t *testing.T, c *Client, m Message, outcomes chan<- Outcome) {
	for attempt := 0; ; attempt++ {
		if attempt > 50 {
			t.Errorf("ref %d: gave up", m.UserRef)
			return
		}
		_, err := c.Submit(context.Background(), m)
		if err == nil {
			return
		}
		var se *SubmitError
		if !errors.As(err, &se) || !IsTemporary(err) {
			t.Errorf("ref %d: permanent error %v", m.UserRef, err)
			return
		}
		outcomes <- se.Outcome
		time.Sleep(time.Millisecond)
	}
}

func TestDropMidWindow(t *testing.T) {
	tests := []struct {
		name     string
		unacked  int
		maxDupes int
	}{
		// The SMSC dies after answering 30 submits; 5 more had reached its
		// buffers and died with it: retrying NOT SENT and UNKNOWN gives
		// each message exactly once.
		{"crash", 0, 0},
		// The SMSC accepted 3 more but died before answering: those are
		// the truly unknown ones and come twice, with the same UserRef.
		{"accepted unanswered", 3, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// ResponseDelay keeps the window full; DropLost makes the drop come
			// with at least 5 submits outstanding.
			sim := newSim(t, SimConfig{DropAfter: 30, DropUnacked: tc.unacked, DropLost: 5, ResponseDelay: time.Millisecond})
			c, _ := startClient(t, sim.Addr(), Config{Window: 10, ResponseTimeout: 5 * time.Second}, newRecorder())
			outcomes := make(chan Outcome, 1000)
			var wg sync.WaitGroup
			for i := 1; i <= 100; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					outboxSend(t, c, Message{To: "13800138000", Text: fmt.Sprintf("msg %d", i), UserRef: i}, outcomes)
				}()
			}
			wg.Wait()
			close(outcomes)
			count := map[Outcome]int{}
			for o := range outcomes {
				count[o]++
			}
			if sim.Stats().Drops != 1 || count[Unknown] == 0 {
				t.Fatalf("drop did not happen mid-window: drops %d outcomes %v", sim.Stats().Drops, count)
			}
			seen := map[int]int{}
			for _, s := range sim.Submits() {
				seen[s.UserRef]++
				if s.Text != fmt.Sprintf("msg %d", s.UserRef) {
					t.Errorf("ref %d carries %q", s.UserRef, s.Text)
				}
			}
			dupes := 0
			for i := 1; i <= 100; i++ {
				switch n := seen[i]; {
				case n == 0:
					t.Errorf("message %d lost", i)
				case n > 1:
					dupes += n - 1
				}
			}
			if dupes > tc.maxDupes {
				t.Errorf("%d duplicates, at most %d allowed", dupes, tc.maxDupes)
			}
			t.Logf("outcomes seen by the outbox: %v; duplicates %d", count, dupes)
		})
	}
}

func TestEnquireLinkAndUnbind(t *testing.T) {
	sim := newSim(t, SimConfig{})
	c, stop := startClient(t, sim.Addr(), Config{EnquireLinkInterval: 10 * time.Millisecond}, newRecorder())
	waitFor(t, "enquire_links", func() bool { return sim.Stats().EnquireLinks >= 3 })
	if !c.Bound() || sim.Stats().Binds != 1 {
		t.Fatalf("link did not stay up: binds %d", sim.Stats().Binds)
	}
	stop()
	if st := sim.Stats(); st.Unbinds != 1 {
		t.Errorf("unbinds %d", st.Unbinds)
	}
}

func TestTransmitterReceiver(t *testing.T) {
	sim := newSim(t, SimConfig{Receipts: true})
	rec := newRecorder()
	c, _ := startClient(t, sim.Addr(), Config{BindMode: ModeTransmitterReceiver}, rec)
	waitFor(t, "two binds", func() bool { return sim.BoundConns() == 2 })
	res, err := c.Submit(context.Background(), Message{To: "13800138000", Text: "5"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "receipt on the receiver", func() bool { _, r := rec.snapshot(); return len(r) == 1 })
	if _, r := rec.snapshot(); r[0].MessageID != res.MessageIDs[0] {
		t.Errorf("receipt %+v", r[0])
	}
	if _, err := sim.InjectMO(context.Background(), "13800138000", "12345", "五", 0, nil); err != nil {
		t.Fatal(err)
	}
}

// rawSMSC accepts connections, answers binds and hands each bound
// connection to serve.
func rawSMSC(t *testing.T, serve func(conn net.Conn)) (addr string, accepts *atomic.Int32) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepts = new(atomic.Int32)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			go func() {
				defer conn.Close()
				p, err := ReadPDU(conn, 0, nil)
				if err != nil {
					return
				}
				b, _ := (&PDU{Command: p.Command.Resp(), Seq: p.Seq, Body: &BindResp{SystemID: "RAW"}}).Marshal()
				conn.Write(b)
				serve(conn)
			}()
		}
	}()
	return ln.Addr().String(), accepts
}

func TestDeadPeerReconnects(t *testing.T) {
	addr, accepts := rawSMSC(t, func(conn net.Conn) {
		time.Sleep(5 * time.Second) // silent: never answers enquire_link
	})
	startClient(t, addr, Config{EnquireLinkInterval: 10 * time.Millisecond, DeadPeerTimeout: 40 * time.Millisecond,
		UnbindTimeout: 50 * time.Millisecond}, newRecorder())
	waitFor(t, "reconnect after a silent peer", func() bool { return accepts.Load() >= 2 })
}

func TestGarbageAndUnknownCommands(t *testing.T) {
	replies := make(chan *PDU, 10)
	var served atomic.Bool
	addr, accepts := rawSMSC(t, func(conn net.Conn) {
		if !served.CompareAndSwap(false, true) {
			time.Sleep(5 * time.Second)
			return
		}
		for _, p := range []*PDU{
			{Command: CommandID(0x00000999), Seq: 41},                                             // unknown
			{Command: DataSM, Seq: 42, Body: &Raw{0, 0}},                                          // unsupported
			{Command: EnquireLink, Seq: 43},                                                       // must be answered
			{Command: DeliverSM, Seq: 44, Body: &Raw{0, 1, 2}},                                    // malformed body
			{Command: DeliverSM, Seq: 45, Body: &SM{SourceAddr: "1", ShortMessage: []byte("ok")}}, // fine
		} {
			b, _ := p.Marshal()
			conn.Write(b)
		}
		for range 5 {
			p, err := ReadPDU(conn, 0, nil)
			if err != nil {
				return
			}
			replies <- p
		}
		conn.Write([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1}) // 4 GiB PDU
		time.Sleep(5 * time.Second)
	})
	rec := newRecorder()
	startClient(t, addr, Config{UnbindTimeout: 50 * time.Millisecond}, rec)
	got := map[uint32]*PDU{}
	for range 5 {
		select {
		case p := <-replies:
			got[p.Seq] = p
		case <-time.After(10 * time.Second):
			t.Fatalf("replies so far %v", got)
		}
	}
	want := map[uint32]struct {
		cmd CommandID
		st  Status
	}{41: {GenericNack, ESME_RINVCMDID}, 42: {GenericNack, ESME_RINVCMDID}, 43: {EnquireLinkResp, StatusOK},
		44: {GenericNack, ESME_RINVCMDLEN}, 45: {DeliverSMResp, StatusOK}}
	for seq, w := range want {
		if p := got[seq]; p == nil || p.Command != w.cmd || p.Status != w.st {
			t.Errorf("seq %d: got %+v, want %v %v", seq, p, w.cmd, w.st)
		}
	}
	waitFor(t, "reconnect after an oversized PDU", func() bool { return accepts.Load() >= 2 })
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	sim := newSim(t, SimConfig{})
	c, err := New(Config{Addr: sim.Addr()}, Params{Handler: HandlerFuncs{}, Logger: testLogger(t), Metrics: NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if _, err := c.Submit(ctx, Message{To: "13800138000", Text: "1"}); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"haochaping_smpp_submits_total", "haochaping_smpp_submit_latency_seconds",
		"haochaping_smpp_connection_state", "haochaping_smpp_window_in_use"} {
		if !names[n] {
			t.Errorf("metric %s missing (have %v)", n, names)
		}
	}
	var nilMetrics *Metrics
	nilMetrics.submit("ok") // nil-safe
	NewMetrics(nil).reconnect()
}
