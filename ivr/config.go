package ivr

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Defaults of Config, applied by Config.WithDefaults.
const (
	// DefaultDigitTimeout is how long the flow waits for a key after the menu
	// has finished playing.
	DefaultDigitTimeout = 8 * time.Second
	// DefaultMaxAttempts is how many times the menu is offered in all.
	DefaultMaxAttempts = 3
	// DefaultLeadIn is the silence between the start of the flow and the
	// first prompt, so that the caller's side has switched its audio path.
	DefaultLeadIn = 300 * time.Millisecond
	// DefaultPromptDir is the directory of the generated Mandarin prompts,
	// relative to the working directory.
	DefaultPromptDir = "configs/prompts/zh-CN"
	// DefaultRecordAttempts is how many times the Recorder is tried.
	DefaultRecordAttempts = 4
	// DefaultRecordBackoff is the wait after the first failed attempt; it
	// doubles after each further failure.
	DefaultRecordBackoff = 200 * time.Millisecond
	// DefaultRecordTimeout bounds recording a result, retries included.
	DefaultRecordTimeout = 10 * time.Second
)

// DefaultKeyMap returns the hotline keypad mapping of DOMAIN.md: 1 very
// satisfied … 5 very dissatisfied.
func DefaultKeyMap() map[string]Level {
	return map[string]Level{
		"1": VerySatisfied,
		"2": Satisfied,
		"3": BasicallySatisfied,
		"4": Dissatisfied,
		"5": VeryDissatisfied,
	}
}

// Config holds the optional settings of a Flow. The zero value of each field
// means its default.
type Config struct {
	// DigitTimeout is how long to wait for a key once the menu has ended.
	DigitTimeout time.Duration `yaml:"digit_timeout"`
	// MaxAttempts is how many times the menu is offered in all, the first
	// time included, before the caller is told they will get an SMS.
	MaxAttempts int `yaml:"max_attempts"`
	// LeadIn is the silence before the first prompt; a negative value means
	// none. A key pressed during it counts as an answer to the menu.
	LeadIn time.Duration `yaml:"lead_in"`
	// KeyMap maps a key ("0"-"9", "*", "#", "A"-"D") to the level it rates.
	// Keys not in the map are invalid input. If it differs from the default,
	// the menu prompts must be recorded to match.
	KeyMap map[string]Level `yaml:"key_map"`
	// PromptDir is the directory of the prompt files.
	PromptDir string `yaml:"prompt_dir"`
	// PromptFiles overrides the file of some prompts: a name relative to
	// PromptDir, or an absolute path.
	PromptFiles map[PromptID]string `yaml:"prompt_files"`
	// RecordAttempts is how many times the Recorder is tried for one result.
	RecordAttempts int `yaml:"record_attempts"`
	// RecordBackoff is the wait after the first failed attempt to record;
	// it doubles after each further failure.
	RecordBackoff time.Duration `yaml:"record_backoff"`
	// RecordTimeout bounds recording one result, retries included.
	RecordTimeout time.Duration `yaml:"record_timeout"`
}

// WithDefaults returns c with every zero field set to its default. The maps
// are copied, so the result does not share them with c.
func (c Config) WithDefaults() Config {
	if c.DigitTimeout == 0 {
		c.DigitTimeout = DefaultDigitTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.LeadIn == 0 {
		c.LeadIn = DefaultLeadIn
	}
	if len(c.KeyMap) == 0 {
		c.KeyMap = DefaultKeyMap()
	} else {
		c.KeyMap = maps.Clone(c.KeyMap)
	}
	if c.PromptDir == "" {
		c.PromptDir = DefaultPromptDir
	}
	c.PromptFiles = maps.Clone(c.PromptFiles)
	if c.RecordAttempts == 0 {
		c.RecordAttempts = DefaultRecordAttempts
	}
	if c.RecordBackoff == 0 {
		c.RecordBackoff = DefaultRecordBackoff
	}
	if c.RecordTimeout == 0 {
		c.RecordTimeout = DefaultRecordTimeout
	}
	return c
}

// dtmfKeys are the keys a telephone keypad can send (RFC 4733 events 0-15).
const dtmfKeys = "0123456789*#ABCD"

// Validate reports every invalid setting of c, each error naming its key.
// Call it on the result of WithDefaults.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("ivr config: %s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.DigitTimeout <= 0 {
		bad("digit_timeout", "must be positive, got %s", c.DigitTimeout)
	}
	if c.MaxAttempts < 1 {
		bad("max_attempts", "must be at least 1, got %d", c.MaxAttempts)
	}
	if len(c.KeyMap) == 0 {
		bad("key_map", "must map at least one key")
	}
	for _, k := range slices.Sorted(maps.Keys(c.KeyMap)) {
		if len(k) != 1 || !strings.Contains(dtmfKeys, k) {
			bad(fmt.Sprintf("key_map[%q]", k), "not a keypad key (one of %s)", dtmfKeys)
		}
		if l := c.KeyMap[k]; !l.Valid() {
			bad(fmt.Sprintf("key_map[%q]", k), "unknown level %q", l)
		}
	}
	if c.PromptDir == "" {
		bad("prompt_dir", "must not be empty")
	}
	for _, id := range slices.Sorted(maps.Keys(c.PromptFiles)) {
		if defaultPromptFile(id) == "" {
			bad(fmt.Sprintf("prompt_files[%q]", id), "unknown prompt")
		}
		if c.PromptFiles[id] == "" {
			bad(fmt.Sprintf("prompt_files[%q]", id), "empty file name")
		}
	}
	if c.RecordAttempts < 1 {
		bad("record_attempts", "must be at least 1, got %d", c.RecordAttempts)
	}
	if c.RecordBackoff < 0 {
		bad("record_backoff", "must not be negative, got %s", c.RecordBackoff)
	}
	if c.RecordTimeout <= 0 {
		bad("record_timeout", "must be positive, got %s", c.RecordTimeout)
	}
	return errors.Join(errs...)
}
