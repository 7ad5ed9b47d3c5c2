package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/haochaping/haochaping/sip"
)

// In-band DTMF through the real serve: SIPp offers G.711 without
// telephone-event, so the key can only travel as sound, and plays with
// play_pcap_audio a capture written by the test: low noise, the two tones of
// a key, more noise. The other ways of sending a key are in
// sip_e2e_test.go.

// The flow timing of the in-band serve (sip.ivr). The menu is the first
// inbandMenu of the real welcome menu, so that a call without a key ends,
// after two attempts and the real goodbye prompt, in about 17 s.
const (
	inbandLeadIn       = 300 * time.Millisecond
	inbandMenu         = 2500 * time.Millisecond
	inbandDigitTimeout = 1500 * time.Millisecond
	inbandAttempts     = 2
)

// startInbandServe runs serve with SIP on a free loopback port, in-band
// detection on calls that offer no telephone-event (sip.inband_dtmf auto, the
// default, written out) and the short flow above.
func startInbandServe(t *testing.T) *sipServe {
	t.Helper()
	prompts, err := filepath.Abs("../../configs/prompts/zh-CN")
	if err != nil {
		t.Fatal(err)
	}
	menu := readWAV(t, filepath.Join(prompts, "welcome_menu.wav"))
	short := filepath.Join(t.TempDir(), "welcome_menu_short.wav")
	writeWAV(t, short, menu[:int(inbandMenu.Seconds()*sip.SampleRate)])
	return startSIPServeYAML(t, fmt.Sprintf(`sip:
  enabled: true
  addr: "127.0.0.1:0"
  rtp_ports: 30000-39999
  allow: [127.0.0.0/8]
  inband_dtmf: auto
  ivr:
    prompt_dir: %q
    prompt_files: {welcome_menu: %q}
    lead_in: %s
    digit_timeout: %s
    max_attempts: %d
`, prompts, short, inbandLeadIn, inbandDigitTimeout, inbandAttempts), 5*time.Second)
}

// TestSIPInbandDTMF places five SIPp calls side by side: digit 4 as tones
// during the menu (barge-in) and after it, each rated 不满意 exactly once,
// and three calls whose audio holds no key (a lone 1209 Hz tone, Mandarin
// speech, our own menu echoed back), each ending without a rating after
// the attempts run out.
func TestSIPInbandDTMF(t *testing.T) {
	s := startInbandServe(t)
	menuEnd := inbandLeadIn + inbandMenu
	const callEnd = 18 * time.Second // past our BYE to a call without a key
	noInput := time.Duration(len(readWAV(t, "../../configs/prompts/zh-CN/no_input.wav"))) * time.Second / sip.SampleRate
	speech := readWAV(t, "../../sip/testdata/speech_zh_8k.wav")
	echo := readWAV(t, "../../configs/prompts/zh-CN/welcome_menu.wav")

	// A call without a key still carries digit 4 as a control, 2 s into the
	// goodbye prompt (or at the end of a longer recording, still within it),
	// where keys are ignored: it shows that the call's audio reached the
	// detector, and it must not rate.
	giveUp := inbandLeadIn + inbandAttempts*(inbandMenu+inbandDigitTimeout) + noInput
	control := func(a *toneAudio) []int16 {
		return a.noise(giveUp+2*time.Second).tones(180*time.Millisecond, -10, 770, 1209).noise(callEnd).pcm
	}
	// The tones start off the 20 ms frame grid, as a phone's would.
	cases := []struct {
		name  string
		pt    uint8
		audio []int16
		state string // the flow state the key answers; "" for none
	}{
		{"digit 4 during the menu PCMA", sip.PayloadTypePCMA,
			newToneAudio(1).noise(inbandLeadIn+time.Second+7*time.Millisecond).tones(180*time.Millisecond, -10, 770, 1209).noise(9 * time.Second).pcm,
			"menu"},
		{"digit 4 after the menu PCMU", sip.PayloadTypePCMU,
			newToneAudio(2).noise(menuEnd+513*time.Millisecond).tones(160*time.Millisecond, -10, 770, 1209).noise(9 * time.Second).pcm,
			"wait_key"},
		{"1209 Hz alone PCMA", sip.PayloadTypePCMA,
			control(newToneAudio(3).noise(menuEnd+500*time.Millisecond).tones(time.Second, -10, 1209)), ""},
		{"Mandarin speech PCMU", sip.PayloadTypePCMU,
			control(newToneAudio(4).noise(200 * time.Millisecond).add(speech)), ""},
		{"our menu echoed back PCMA", sip.PayloadTypePCMA,
			control(newToneAudio(5).noise(inbandLeadIn).add(echo)), ""},
	}
	type call struct {
		wo   string
		done <-chan error
	}
	calls := make([]call, len(cases))
	for i, tc := range cases {
		dir := t.TempDir()
		pcap := filepath.Join(dir, "inband.pcap")
		writeRTPPcap(t, pcap, tc.pt, tc.audio)
		wo := fmt.Sprint("WO-INBAND-", i+1)
		c := newSIPpXML(t, s.sipAddr, "inband", inbandScenario(tc.pt, pcap), "-s", "rate", "-key", "wo", wo)
		calls[i] = call{wo: wo, done: c.start()}
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wo := calls[i].wo
			if err := <-calls[i].done; err != nil {
				t.Fatalf("%v\nserve log:\n%s", err, tail(s.stderr.String(), 4000))
			}
			lines := s.callLog(t, wo)
			if ans := findLine(lines, `msg="sip: answered"`); !strings.Contains(ans, fmt.Sprintf(" codec=%d ", tc.pt)) ||
				!strings.Contains(ans, " events_pt=none ") {
				t.Errorf("answer %q, want codec=%d and no telephone-event", ans, tc.pt)
			}
			keys := findLines(lines, `msg="sip: key"`)
			if tc.state == "" {
				ign := findLines(lines, `msg="ivr: key ignored"`)
				if len(keys) != 1 || len(ign) != 1 || !strings.Contains(ign[0], " prompt=goodbye_no_rating") {
					t.Errorf("keys %q, ignored %q; want only the control 4, ignored during the goodbye", keys, ign)
				}
				s.waitNoRating(t, wo, "timeout")
				if code, b := s.do("GET", "/api/v1/ratings?work_order_id="+wo, adminToken, nil); code != 200 || len(b["ratings"].([]any)) != 0 {
					t.Errorf("a call without a key left a rating: %d %v", code, b)
				}
				if fin := findLine(lines, `msg="ivr: call finished"`); !strings.Contains(fin, fmt.Sprintf(" attempts=%d ", inbandAttempts)) {
					t.Errorf("flow finished with %q, want %d attempts", fin, inbandAttempts)
				}
				return
			}
			if len(keys) != 1 || !strings.Contains(keys[0], " key=4 ") || !strings.Contains(keys[0], " method=inband") {
				t.Errorf("keys %q, want one 4 by method inband", keys)
			}
			if step := findLine(lines, "event=valid_key"); !strings.Contains(step, " state="+tc.state+" ") {
				t.Errorf("the key answered %q, want state=%s (timing off?)", step, tc.state)
			}
			if ign := findLines(lines, `msg="ivr: key ignored"`); len(ign) != 0 {
				t.Errorf("the tone counted more than once:\n%s", strings.Join(ign, "\n"))
			}
			s.waitRating(t, wo, "dissatisfied")
			if _, ok := s.noRatings(t)[wo]; ok {
				t.Errorf("a rated call also recorded a no-rating outcome")
			}
		})
	}
}

// callLog returns the serve log lines of the call of work order wo, found
// by the Call-ID of its "ivr: call started" line.
func (s *sipServe) callLog(t *testing.T, wo string) []string {
	t.Helper()
	log := s.stderr.String()
	re := regexp.MustCompile(`msg="ivr: call started".* call_id=(\S+) .*work_order=` + regexp.QuoteMeta(wo) + ` `)
	m := re.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no call of %s in the serve log:\n%s", wo, tail(log, 4000))
	}
	return findLines(strings.Split(log, "\n"), "call_id="+m[1]+" ")
}

func findLines(lines []string, sub string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}

func findLine(lines []string, sub string) string {
	if l := findLines(lines, sub); len(l) > 0 {
		return l[0]
	}
	return ""
}

// waitNoRating waits for the no-rating outcome of work order wo, recorded
// once the flow has hung up.
func (s *sipServe) waitNoRating(t *testing.T, wo, reason string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if r, ok := s.noRatings(t)[wo]; ok {
			if r != reason {
				t.Errorf("no-rating reason of %s %q, want %q", wo, r, reason)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no no_rating outcome for %s\nserve log:\n%s", wo, tail(s.stderr.String(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// inbandScenario is a rating call offering only codec pt, without
// telephone-event, that plays pcap after the ACK and waits for our BYE.
func inbandScenario(pt uint8, pcap string) string {
	name := "PCMU"
	if pt == sip.PayloadTypePCMA {
		name = "PCMA"
	}
	return strings.NewReplacer("CODEC_PT", fmt.Sprint(pt), "CODEC_NAME", name, "PCAP_FILE", pcap).Replace(`<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="rate with in-band DTMF">
  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      P-Asserted-Identity: <sip:13800138001@[local_ip]>
      X-Work-Order-Id: [wo]
      X-Unit-Id: fh-g08
      X-Staff-Id: s-17
      X-Post: window-3
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[local_ip_type] [local_ip]
      t=0 0
      m=audio [auto_media_port] RTP/AVP CODEC_PT
      a=rtpmap:CODEC_PT CODEC_NAME/8000
      a=ptime:20
      a=sendrecv

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[

      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop><action><exec play_pcap_audio="PCAP_FILE"/></action></nop>
  <recv request="BYE" timeout="30000"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: sip:sipp@[local_ip]:[local_port]
      Content-Length: 0

    ]]>
  </send>
</scenario>
`)
}

// newInbandSIPp is newSIPp for a scenario written by the test rather than
// read from testdata/sipp.

// toneAudio is 8 kHz linear PCM built piece by piece over low white noise
// (-60 dBm0), so that no frame is digital silence.
type toneAudio struct {
	pcm []int16
	rng *rand.Rand
}

func newToneAudio(seed uint64) *toneAudio {
	return &toneAudio{rng: rand.New(rand.NewPCG(seed, 0x1209))}
}

// dBm0Peak is the peak of a sine of level dBm0 in 16-bit PCM: G.711 full
// scale is +3.14 dBm0 (A-law), as in package sip.
func dBm0Peak(level float64) float64 { return 32768 / 1.4355 * math.Pow(10, level/20) }

func (a *toneAudio) sample(v float64) int16 {
	v += a.rng.NormFloat64() * dBm0Peak(-60) / math.Sqrt2
	return int16(max(-32768, min(32767, math.Round(v))))
}

// noise extends the audio with noise alone up to time end.
func (a *toneAudio) noise(end time.Duration) *toneAudio {
	for n := int(end.Seconds() * sip.SampleRate); len(a.pcm) < n; {
		a.pcm = append(a.pcm, a.sample(0))
	}
	return a
}

// tones adds d of sines at freqs, each at level dBm0.
func (a *toneAudio) tones(d time.Duration, level float64, freqs ...float64) *toneAudio {
	amp := dBm0Peak(level)
	for i := range int(d.Seconds() * sip.SampleRate) {
		v := 0.0
		for _, f := range freqs {
			v += amp * math.Sin(2*math.Pi*f*float64(i)/sip.SampleRate)
		}
		a.pcm = append(a.pcm, a.sample(v))
	}
	return a
}

// add adds recorded audio.
func (a *toneAudio) add(pcm []int16) *toneAudio {
	for _, s := range pcm {
		a.pcm = append(a.pcm, a.sample(float64(s)))
	}
	return a
}

// writeRTPPcap writes pcm as a libpcap capture (Ethernet, IPv4, UDP) of one
// RTP stream of payload type pt (PCMA or PCMU), a packet per 20 ms, encoded
// by package sip. SIPp's play_pcap_audio keeps the RTP header and payload
// and the timing; it rewrites the ports and the UDP checksum (left zero
// here) and takes the length from the UDP header.
func writeRTPPcap(t *testing.T, path string, pt uint8, pcm []int16) {
	t.Helper()
	frames := (len(pcm) + sip.FrameSamples - 1) / sip.FrameSamples
	lin := make([]int16, frames*sip.FrameSamples)
	copy(lin, pcm)
	payload := make([]byte, len(lin))
	if pt == sip.PayloadTypePCMA {
		sip.EncodeALaw(payload, lin)
	} else {
		sip.EncodeULaw(payload, lin)
	}
	var b bytes.Buffer
	le := binary.LittleEndian
	// Global header: magic, version 2.4, zone, accuracy, snaplen, DLT_EN10MB.
	b.Write(le.AppendUint32(nil, 0xa1b2c3d4))
	b.Write(le.AppendUint16(nil, 2))
	b.Write(le.AppendUint16(nil, 4))
	b.Write(make([]byte, 8))
	b.Write(le.AppendUint32(nil, 65535))
	b.Write(le.AppendUint32(nil, 1))
	start := time.Date(2025, 11, 27, 9, 0, 0, 0, time.UTC)
	for i := range frames {
		p := rtp.Packet{Header: rtp.Header{Version: 2, Marker: i == 0, PayloadType: pt,
			SequenceNumber: uint16(4711 + i), Timestamp: uint32(160000 + i*sip.FrameSamples), SSRC: 0x1209770},
			Payload: payload[i*sip.FrameSamples : (i+1)*sip.FrameSamples]}
		body, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		udpLen := 8 + len(body)
		ipLen := 20 + udpLen
		at := start.Add(time.Duration(i) * sip.FrameDuration)
		b.Write(le.AppendUint32(nil, uint32(at.Unix())))
		b.Write(le.AppendUint32(nil, uint32(at.Nanosecond()/1000)))
		b.Write(le.AppendUint32(nil, uint32(14+ipLen)))
		b.Write(le.AppendUint32(nil, uint32(14+ipLen)))
		b.Write([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}) // dst, src MAC, IPv4
		ip := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1}
		binary.BigEndian.PutUint16(ip[2:], uint16(ipLen))
		binary.BigEndian.PutUint16(ip[4:], uint16(i))
		binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
		b.Write(ip)
		udp := make([]byte, 8)
		binary.BigEndian.PutUint16(udp[0:], 16000)
		binary.BigEndian.PutUint16(udp[2:], 16002)
		binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
		b.Write(udp)
		b.Write(body)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func readWAV(t *testing.T, path string) []int16 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pcm, err := sip.LoadWAV(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pcm
}

// writeWAV writes pcm as an 8 kHz 16-bit mono WAV file.
func writeWAV(t *testing.T, path string, pcm []int16) {
	t.Helper()
	le := binary.LittleEndian
	n := uint32(2 * len(pcm))
	var b bytes.Buffer
	b.WriteString("RIFF")
	b.Write(le.AppendUint32(nil, 36+n))
	b.WriteString("WAVEfmt ")
	b.Write(le.AppendUint32(nil, 16))
	b.Write(le.AppendUint16(nil, 1)) // PCM
	b.Write(le.AppendUint16(nil, 1)) // mono
	b.Write(le.AppendUint32(nil, sip.SampleRate))
	b.Write(le.AppendUint32(nil, 2*sip.SampleRate))
	b.Write(le.AppendUint16(nil, 2))
	b.Write(le.AppendUint16(nil, 16))
	b.WriteString("data")
	b.Write(le.AppendUint32(nil, n))
	for _, s := range pcm {
		b.Write(le.AppendUint16(nil, uint16(s)))
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
