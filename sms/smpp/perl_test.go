package smpp

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// perlSMSC runs testdata/smsc.pl, an SMSC written with Net::SMPP, and
// collects the lines it prints.
type perlSMSC struct {
	addr  string
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	exit  chan error
}

func startPerlSMSC(t *testing.T) *perlSMSC {
	t.Helper()
	if _, err := exec.LookPath("perl"); err != nil {
		t.Fatal("perl not found: apt-get install perl libnet-smpp-perl (CI installs it)")
	}
	if out, err := exec.Command("perl", "-MNet::SMPP", "-e", "1").CombinedOutput(); err != nil {
		t.Fatalf("Net::SMPP missing: apt-get install libnet-smpp-perl (CI installs it)\n%s", out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := &perlSMSC{addr: "127.0.0.1:" + strconv.Itoa(port), exit: make(chan error, 1)}
	p.cmd = exec.Command("perl", "testdata/smsc.pl", "--port", strconv.Itoa(port))
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	p.cmd.Stderr = &stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.lines = append(p.lines, line)
			p.mu.Unlock()
			if strings.HasPrefix(line, "LISTENING") {
				close(listening)
			}
		}
		p.exit <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("smsc.pl output:\n%s\nstderr:\n%s", strings.Join(p.output(), "\n"), stderr.String())
		}
	})
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatalf("smsc.pl did not start: %s", stderr.String())
	}
	return p
}

func (p *perlSMSC) output() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

func (p *perlSMSC) count(prefix string) int {
	n := 0
	for _, l := range p.output() {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

func TestPerlSMSC(t *testing.T) {
	smsc := startPerlSMSC(t)
	rec := newRecorder()
	c, stop := startClient(t, smsc.addr, Config{SystemID: "hcp", Password: "pw", SourceAddr: "12345",
		AckIDFormat: IDHex, ReceiptIDFormat: IDDecimal, ThrottlePause: 10 * time.Millisecond}, rec)
	ctx := context.Background()

	// 1: accepted with a hex id; two receipts (decimal text id, hex TLV id)
	// and two replies follow.
	res, err := c.Submit(ctx, Message{To: "13800138000", Text: "【奉化12345】请评价", UserRef: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.RawIDs[0] != "1A2B" || res.MessageIDs[0] != "6699" {
		t.Fatalf("ids %v %v", res.RawIDs, res.MessageIDs)
	}
	waitFor(t, "receipts and replies", func() bool { m, r := rec.snapshot(); return len(m) == 2 && len(r) == 2 })
	mos, rcs := rec.snapshot()
	if mos[0].Parts > mos[1].Parts { // handlers run concurrently
		mos[0], mos[1] = mos[1], mos[0]
	}
	for _, r := range rcs {
		if r.MessageID != res.MessageIDs[0] || r.State != StateDelivered || r.Source != "13800138000" {
			t.Errorf("receipt %+v does not match %s", r, res.MessageIDs[0])
		}
	}
	if mos[0].Text != "４ 等了两个小时" || mos[0].From != "13800138000" {
		t.Errorf("UCS-2 reply %+v", mos[0])
	}
	if want := "5 " + strings.Repeat("非常满意", 16) + "，谢谢"; mos[1].Text != want || mos[1].Parts != 2 {
		t.Errorf("concatenated reply %q (%d parts), want %q", mos[1].Text, mos[1].Parts, want)
	}
	waitFor(t, "deliver_sm_resp x5", func() bool { return smsc.count("DELIVER_RESP") == 5 })
	for _, l := range smsc.output() {
		if strings.HasPrefix(l, "DELIVER_RESP") && !strings.HasSuffix(l, " 0x00") {
			t.Errorf("deliver_sm answered %q", l)
		}
	}

	// 2: throttled once, retried inside Submit, accepted.
	res, err = c.Submit(ctx, Message{To: "13800138000", Text: "second", UserRef: 2})
	if err != nil {
		t.Fatalf("after throttling: %v", err)
	}
	if res.MessageIDs[0] != "6700" || smsc.count("THROTTLE") != 1 {
		t.Errorf("ids %v, throttles %d", res.MessageIDs, smsc.count("THROTTLE"))
	}

	// 3: the SMSC drops the connection without answering: UNKNOWN; the
	// outbox retries with the same UserRef after the reconnection.
	_, err = c.Submit(ctx, Message{To: "13800138000", Text: "third", UserRef: 3})
	var se *SubmitError
	if !errors.As(err, &se) || se.Outcome != Unknown || !IsTemporary(err) {
		t.Fatalf("dropped submit: %v", err)
	}
	res, err = c.Submit(ctx, Message{To: "13800138000", Text: "third", UserRef: 3})
	if err != nil || res.MessageIDs[0] != "6701" {
		t.Fatalf("retry after reconnection: %v %v", res, err)
	}
	if n := smsc.count("ACCEPT"); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}

	// Shutdown unbinds; the script exits 0 on unbind.
	stop()
	select {
	case err := <-smsc.exit:
		if err != nil {
			t.Errorf("smsc.pl: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("smsc.pl did not see the unbind")
	}
	var subs []string
	for _, l := range smsc.output() {
		if strings.HasPrefix(l, "SUBMIT") {
			subs = append(subs, l)
		}
	}
	want := []string{
		"SUBMIT 1 13800138000 ref=1 dc=8 【奉化12345】请评价",
		"SUBMIT 2 13800138000 ref=2 dc=8 second",
		"SUBMIT 3 13800138000 ref=2 dc=8 second",
		"SUBMIT 4 13800138000 ref=3 dc=8 third",
		"SUBMIT 5 13800138000 ref=3 dc=8 third",
	}
	if strings.Join(subs, "\n") != strings.Join(want, "\n") {
		t.Errorf("SMSC saw:\n%s\nwant:\n%s", strings.Join(subs, "\n"), strings.Join(want, "\n"))
	}
	if smsc.count("BIND hcp pw") != 2 {
		t.Errorf("binds: %v", smsc.output())
	}
}
