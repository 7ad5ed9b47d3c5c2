package sms

// Level is a rating level as named in DOMAIN.md. Its value is the stable
// name used in code, APIs and storage; the digits and words of SMS are
// a mapping of this package (keypad and SMS digit 1 is the best level).
type Level string

// The five rating levels, best first.
const (
	VerySatisfied      Level = "very_satisfied"
	Satisfied          Level = "satisfied"
	BasicallySatisfied Level = "basically_satisfied"
	Dissatisfied       Level = "dissatisfied"
	VeryDissatisfied   Level = "very_dissatisfied"
)

// levels lists the levels in digit order: levels[d-1] is the level of digit d.
var levels = [5]Level{VerySatisfied, Satisfied, BasicallySatisfied, Dissatisfied, VeryDissatisfied}

// levelWords are the Chinese words, in the same order.
var levelWords = [5]string{"非常满意", "满意", "基本满意", "不满意", "非常不满意"}

// Levels returns the five levels in digit order, best first.
func Levels() []Level { l := levels; return l[:] }

// LevelFromDigit returns the level that the SMS and keypad digit d (1–5)
// stands for. The mapping is the hotline's: 1 = 非常满意 … 5 = 非常不满意,
// the reverse of star ratings.
func LevelFromDigit(d int) (Level, bool) {
	if d < 1 || d > 5 {
		return "", false
	}
	return levels[d-1], true
}

// Digit returns the SMS and keypad digit of l, or 0 if l is not a level.
func (l Level) Digit() int {
	for i, x := range levels {
		if x == l {
			return i + 1
		}
	}
	return 0
}

// Valid reports whether l is one of the five levels.
func (l Level) Valid() bool { return l.Digit() != 0 }

// Chinese returns the Chinese word of l (非常满意 …), or "" if l is not a level.
func (l Level) Chinese() string {
	if d := l.Digit(); d != 0 {
		return levelWords[d-1]
	}
	return ""
}

// Bad reports whether l is a 差评 (dissatisfied or very dissatisfied).
func (l Level) Bad() bool { return l == Dissatisfied || l == VeryDissatisfied }

// String returns the name of l.
func (l Level) String() string { return string(l) }

// polarity is +1 for the satisfied side of the scale (1–3: 基本满意 is not
// a bad rating) and -1 for the dissatisfied side (4–5); 0 if l is invalid.
func (l Level) polarity() int {
	switch {
	case !l.Valid():
		return 0
	case l.Bad():
		return -1
	default:
		return 1
	}
}
