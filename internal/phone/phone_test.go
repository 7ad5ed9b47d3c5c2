package phone

import "testing"

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"13800138001":       "13800138001",
		"+86 138-0013-8001": "13800138001",
		"0086 13800138001":  "13800138001",
		"8613800138001":     "13800138001",
		"１３８００１３８００１":       "13800138001",
		"0574-88888888":     "057488888888",
		"86":                "86",
		"abc":               "",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"13812341234":  "138****1234",
		"057488888888": "057****8888",
		"12345":        "****45",
		"110":          "****10",
		"12":           "****",
		"":             "",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}
