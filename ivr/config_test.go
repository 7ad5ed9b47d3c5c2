package ivr

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{}.WithDefaults()
	if c.DigitTimeout != 8*time.Second || c.MaxAttempts != 3 || c.LeadIn != DefaultLeadIn ||
		c.PromptDir != "configs/prompts/zh-CN" || c.RecordAttempts != DefaultRecordAttempts ||
		c.RecordBackoff != DefaultRecordBackoff || c.RecordTimeout != DefaultRecordTimeout {
		t.Errorf("defaults: %+v", c)
	}
	want := map[string]Level{"1": VerySatisfied, "2": Satisfied, "3": BasicallySatisfied, "4": Dissatisfied, "5": VeryDissatisfied}
	if len(c.KeyMap) != len(want) {
		t.Fatalf("key map %v, want %v", c.KeyMap, want)
	}
	for k, l := range want {
		if c.KeyMap[k] != l {
			t.Errorf("key %s: %s, want %s", k, c.KeyMap[k], l)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
	// Settings given are kept.
	c = Config{DigitTimeout: time.Second, MaxAttempts: 1}.WithDefaults()
	if c.DigitTimeout != time.Second || c.MaxAttempts != 1 {
		t.Errorf("settings overwritten: %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error, naming the key
	}{
		{"bad key", Config{KeyMap: map[string]Level{"12": Satisfied, "x": Satisfied}},
			[]string{`key_map["12"]: not a keypad key`, `key_map["x"]: not a keypad key`}},
		{"bad level", Config{KeyMap: map[string]Level{"1": "great"}}, []string{`key_map["1"]: unknown level "great"`}},
		{"attempts", Config{MaxAttempts: -2}, []string{"max_attempts"}},
		{"timeout", Config{DigitTimeout: -time.Second}, []string{"digit_timeout"}},
		{"prompt", Config{PromptFiles: map[PromptID]string{"welcome": "w.wav", PromptThanks: ""}},
			[]string{`prompt_files["welcome"]: unknown prompt`, `prompt_files["thanks"]: empty file name`}},
		{"record", Config{RecordAttempts: -1, RecordBackoff: -1, RecordTimeout: -1},
			[]string{"record_attempts", "record_backoff", "record_timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.WithDefaults().Validate()
			if err == nil {
				t.Fatal("Validate succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestPromptPath(t *testing.T) {
	c := Config{
		PromptDir:   "/srv/prompts",
		PromptFiles: map[PromptID]string{PromptThanks: "studio/thanks.wav", PromptInvalid: "/abs/invalid.wav"},
	}.WithDefaults()
	for id, want := range map[PromptID]string{
		PromptWelcomeMenu:           filepath.Join("/srv/prompts", "welcome_menu.wav"),
		PromptThanks:                filepath.Join("/srv/prompts", "studio/thanks.wav"),
		PromptInvalid:               "/abs/invalid.wav",
		ChosenPrompt(VerySatisfied): filepath.Join("/srv/prompts", "chosen_very_satisfied.wav"),
		PromptID("nonexistent"):     "",
	} {
		if got := c.PromptPath(id); got != want {
			t.Errorf("PromptPath(%s) = %q, want %q", id, got, want)
		}
	}
	if n := len(c.PromptPaths()); n != len(DefaultPrompts()) {
		t.Errorf("PromptPaths has %d entries, want %d", n, len(DefaultPrompts()))
	}
}
