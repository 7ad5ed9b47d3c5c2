package sip

import (
	"math"
	"time"
)

// Defaults of InbandConfig. The levels follow ITU-T Q.24 practice: each tone
// of a valid digit is at least about -25 dBm0 and the two tones differ by at
// most a few dB, the low (row) tone usually the louder after a long line.
const (
	// DefaultInbandMinLevel is the weakest tone accepted, in dBm0 per tone.
	DefaultInbandMinLevel = -30.0
	// DefaultInbandNormalTwist is how much louder (dB) the row tone may be
	// than the column tone.
	DefaultInbandNormalTwist = 8.0
	// DefaultInbandReverseTwist is how much louder (dB) the column tone may
	// be than the row tone.
	DefaultInbandReverseTwist = 4.0
	// DefaultInbandRelativePeak is how far (dB) the chosen row and column
	// must stand above every other frequency of their group.
	DefaultInbandRelativePeak = 8.0
	// DefaultInbandToneRatio is the share of a frame's energy that must lie
	// in the two tones. It rejects speech and music, whose energy is spread
	// over many frequencies, and, being above one half, also a tone so short
	// that it only partly fills two frames.
	DefaultInbandToneRatio = 0.6
)

// InbandConfig tunes an InbandDetector; zero fields take the defaults above.
type InbandConfig struct {
	MinLevel     float64 // dBm0 per tone
	NormalTwist  float64 // dB
	ReverseTwist float64 // dB
	RelativePeak float64 // dB
	ToneRatio    float64 // 0..1
}

// inbandBlock is the analysis block: 20 ms, whose 50 Hz resolution separates
// the row frequencies (73 Hz apart and more) well enough.
const inbandBlock = FrameSamples

// inbandRelease is how many blocks (40 ms) without the digit end it, so that
// the same key pressed again counts again; a one-block drop-out does not.
const inbandRelease = 2

// dBm0Amplitude is the peak of a 0 dBm0 sine in 16-bit linear PCM: G.711
// reaches +3.14 dBm0 (A-law) and +3.17 dBm0 (µ-law) at full scale.
const dBm0Amplitude = 32768 / 1.4355 // 32768 / 10^(3.14/20)

var (
	dtmfRowFreqs = [4]float64{697, 770, 852, 941}
	dtmfColFreqs = [4]float64{1209, 1336, 1477, 1633}
	// Goertzel coefficients 2cos(2πf/fs), computed once.
	dtmfRowCoef, dtmfColCoef = goertzelCoefs(dtmfRowFreqs), goertzelCoefs(dtmfColFreqs)
)

func goertzelCoefs(f [4]float64) (c [4]float32) {
	for i := range f {
		c[i] = float32(2 * math.Cos(2*math.Pi*f[i]/SampleRate))
	}
	return c
}

// InbandDetector finds DTMF tones in the decoded audio of one call, for
// gateways that send the keys only as sound. It runs eight Goertzel filters
// over 20 ms blocks and accepts a block when one row and one column tone are
// both loud enough, each stands out in its group, their twist is within
// limits and together they hold most of the block's energy. A digit is
// reported when two consecutive blocks agree (at least 40 ms of tone) and
// reported again only after a 40 ms pause.
//
// Audio may be passed in frames of any length; it is cut into 20 ms blocks
// internally. Processing does not allocate; a silent block costs one pass to
// measure its energy. A detector is not safe for concurrent use.
type InbandDetector struct {
	// Thresholds on the Goertzel power of a block, derived from the config.
	minPower     float32 // per tone
	normalTwist  float32 // power ratio row/col allowed
	reverseTwist float32 // power ratio col/row allowed
	relPeak      float32
	toneRatio    float32 // applied as (Prow+Pcol)*2/N >= toneRatio*energy
	minEnergy    float32

	buf [inbandBlock]float32
	n   int // samples in buf

	last    rune // candidate of the previous block
	cur     rune // digit being held (reported), 0 if none
	miss    int  // blocks since cur was last seen
	pending [4]Digit
	npend   int
}

// NewInbandDetector returns a detector for one call.
func NewInbandDetector(cfg InbandConfig) *InbandDetector {
	if cfg.MinLevel == 0 {
		cfg.MinLevel = DefaultInbandMinLevel
	}
	if cfg.NormalTwist == 0 {
		cfg.NormalTwist = DefaultInbandNormalTwist
	}
	if cfg.ReverseTwist == 0 {
		cfg.ReverseTwist = DefaultInbandReverseTwist
	}
	if cfg.RelativePeak == 0 {
		cfg.RelativePeak = DefaultInbandRelativePeak
	}
	if cfg.ToneRatio == 0 {
		cfg.ToneRatio = DefaultInbandToneRatio
	}
	// A sine of amplitude A at a filter's frequency gives a Goertzel power
	// of (A*N/2)^2 and an energy of A^2*N/2 over N samples.
	a := dBm0Amplitude * math.Pow(10, cfg.MinLevel/20)
	n := float64(inbandBlock)
	return &InbandDetector{
		minPower:     float32(a * a * n * n / 4),
		minEnergy:    float32(a * a * n / 2),
		normalTwist:  float32(math.Pow(10, cfg.NormalTwist/10)),
		reverseTwist: float32(math.Pow(10, cfg.ReverseTwist/10)),
		relPeak:      float32(math.Pow(10, cfg.RelativePeak/10)),
		toneRatio:    float32(cfg.ToneRatio),
	}
}

// Reset forgets buffered audio and any tone in progress (after hold, say).
func (d *InbandDetector) Reset() {
	d.n, d.last, d.cur, d.miss, d.npend = 0, 0, 0, 0, 0
}

// Process takes the next samples of the call, the first of them heard at
// time at, and returns a digit whose tone was confirmed, if any. If a frame
// longer than 40 ms completes more than one digit, the others are returned
// by the following calls.
func (d *InbandDetector) Process(pcm []int16, at time.Time) (Digit, bool) {
	for off := 0; off < len(pcm); {
		k := min(len(pcm)-off, inbandBlock-d.n)
		dst := d.buf[d.n : d.n+k]
		for i, s := range pcm[off : off+k] {
			dst[i] = float32(s)
		}
		d.n += k
		off += k
		if d.n < inbandBlock {
			break
		}
		d.n = 0
		if key := d.decide(d.block()); key != 0 && d.npend < len(d.pending) {
			end := time.Duration(off) * time.Second / SampleRate
			d.pending[d.npend] = Digit{Key: key, Method: DTMFInband, At: at.Add(end)}
			d.npend++
		}
	}
	if d.npend == 0 {
		return Digit{}, false
	}
	dg := d.pending[0]
	copy(d.pending[:], d.pending[1:d.npend])
	d.npend--
	return dg, true
}

// decide runs the duration and release rules on the key found in a block
// (0 for none) and returns a key to report.
func (d *InbandDetector) decide(key rune) rune {
	if key == d.cur {
		d.miss = 0
	} else if d.miss++; d.miss >= inbandRelease {
		d.cur = 0
	}
	report := rune(0)
	if key != 0 && key == d.last && key != d.cur {
		d.cur, d.miss, report = key, 0, key
	}
	d.last = key
	return report
}

// block analyses d.buf and returns the key whose tones it holds, or 0.
func (d *InbandDetector) block() rune {
	x := &d.buf
	// Four sums, so that the additions do not wait on each other.
	var e0, e1, e2, e3 float32
	for i := 0; i+3 < len(x); i += 4 {
		e0 += x[i] * x[i]
		e1 += x[i+1] * x[i+1]
		e2 += x[i+2] * x[i+2]
		e3 += x[i+3] * x[i+3]
	}
	energy := e0 + e1 + e2 + e3
	if energy < d.minEnergy {
		return 0
	}
	rows := goertzel4(x, &dtmfRowCoef)
	cols := goertzel4(x, &dtmfColCoef)
	r, c := argmax4(&rows), argmax4(&cols)
	pr, pc := rows[r], cols[c]
	switch {
	case pr < d.minPower || pc < d.minPower:
		return 0
	case pr > pc*d.normalTwist || pc > pr*d.reverseTwist:
		return 0
	case (pr+pc)*(2/float32(inbandBlock)) < d.toneRatio*energy:
		return 0
	}
	for i := range 4 {
		if i != r && rows[i]*d.relPeak > pr || i != c && cols[i]*d.relPeak > pc {
			return 0
		}
	}
	return rune(dtmfKeypad[r][c])
}

// dtmfKeypad is the keypad by row and column frequency.
var dtmfKeypad = [4][4]byte{
	{'1', '2', '3', 'A'},
	{'4', '5', '6', 'B'},
	{'7', '8', '9', 'C'},
	{'*', '0', '#', 'D'},
}

// goertzel4 runs four Goertzel filters over one block and returns their
// powers. Four at a time keeps the eight state variables in registers.
func goertzel4(x *[inbandBlock]float32, c *[4]float32) (p [4]float32) {
	c0, c1, c2, c3 := c[0], c[1], c[2], c[3]
	var a1, a2, b1, b2, e1, e2, f1, f2 float32
	for _, v := range x {
		a1, a2 = v+c0*a1-a2, a1
		b1, b2 = v+c1*b1-b2, b1
		e1, e2 = v+c2*e1-e2, e1
		f1, f2 = v+c3*f1-f2, f1
	}
	p[0] = a1*a1 + a2*a2 - c0*a1*a2
	p[1] = b1*b1 + b2*b2 - c1*b1*b2
	p[2] = e1*e1 + e2*e2 - c2*e1*e2
	p[3] = f1*f1 + f2*f2 - c3*f1*f2
	return p
}

func argmax4(p *[4]float32) int {
	m := 0
	for i := 1; i < 4; i++ {
		if p[i] > p[m] {
			m = i
		}
	}
	return m
}
