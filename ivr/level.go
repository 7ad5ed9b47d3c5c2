package ivr

// Level is a rating level by name, as the case core and the APIs name it.
// Numeric codes (keypad digits, GB/T 39046 codes) are per-channel mappings;
// the keypad one is Config.KeyMap.
type Level string

// The five rating levels, best first.
const (
	VerySatisfied      Level = "very_satisfied"
	Satisfied          Level = "satisfied"
	BasicallySatisfied Level = "basically_satisfied"
	Dissatisfied       Level = "dissatisfied"
	VeryDissatisfied   Level = "very_dissatisfied"
)

// Levels lists the rating levels, best first.
var Levels = []Level{VerySatisfied, Satisfied, BasicallySatisfied, Dissatisfied, VeryDissatisfied}

// Valid reports whether l is one of the five levels.
func (l Level) Valid() bool {
	for _, k := range Levels {
		if l == k {
			return true
		}
	}
	return false
}
