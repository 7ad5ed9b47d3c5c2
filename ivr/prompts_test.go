package ivr

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// promptsDir is the committed prompt directory, seen from this package.
var promptsDir = filepath.Join("..", filepath.FromSlash(DefaultPromptDir))

// readPromptsTSV reads the id, file and text columns of prompts.tsv, after
// its header line.
func readPromptsTSV(r io.Reader) ([]Prompt, error) {
	var out []Prompt
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		if line == 1 {
			if sc.Text() != "id\tfile\ttext" {
				return nil, fmt.Errorf("line 1: header %q, want id, file, text", sc.Text())
			}
			continue
		}
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: %d fields, want 3", line, len(f))
		}
		out = append(out, Prompt{ID: PromptID(f[0]), File: f[1], Text: f[2]})
	}
	return out, sc.Err()
}

// TestPromptsTSVMatchesCatalogue keeps the generator's source and the Go
// catalogue identical, in the same order.
func TestPromptsTSVMatchesCatalogue(t *testing.T) {
	f, err := os.Open(filepath.Join(promptsDir, "prompts.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tsv, err := readPromptsTSV(f)
	if err != nil {
		t.Fatalf("prompts.tsv: %v", err)
	}
	cat := DefaultPrompts()
	if len(tsv) != len(cat) {
		t.Errorf("prompts.tsv has %d prompts, the catalogue %d", len(tsv), len(cat))
	}
	for i := range min(len(tsv), len(cat)) {
		if tsv[i] != cat[i] {
			t.Errorf("prompt %d:\n tsv %+v\n  go %+v", i+1, tsv[i], cat[i])
		}
	}
}

// TestCatalogueCoversFlows checks that every prompt the flows can play is in
// the catalogue and named after its ID.
func TestCatalogueCoversFlows(t *testing.T) {
	ids := []PromptID{PromptWelcomeMenu, PromptInvalid, PromptNoInput, PromptThanks, PromptGoodbyeNoRating, PromptFollowupMenu}
	for _, l := range Levels {
		ids = append(ids, ChosenPrompt(l))
	}
	seen := map[PromptID]bool{}
	for _, p := range DefaultPrompts() {
		if seen[p.ID] {
			t.Errorf("prompt %s listed twice", p.ID)
		}
		seen[p.ID] = true
		if p.File != string(p.ID)+".wav" {
			t.Errorf("prompt %s in file %s, want %s.wav", p.ID, p.File, p.ID)
		}
		if p.Text == "" {
			t.Errorf("prompt %s has no text", p.ID)
		}
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("prompt %s missing from the catalogue", id)
		}
	}
	if len(seen) != len(ids) {
		t.Errorf("catalogue has %d prompts, flows use %d", len(seen), len(ids))
	}
	// The menus spell out every key with its word (the scale trap).
	for _, id := range []PromptID{PromptWelcomeMenu, PromptFollowupMenu} {
		text := promptText(id)
		for k, l := range DefaultKeyMap() {
			if want := levelWords[l] + "请按" + k; !strings.Contains(text, want) {
				t.Errorf("%s lacks %q", id, want)
			}
		}
	}
}

var levelWords = map[Level]string{
	VerySatisfied: "非常满意", Satisfied: "，满意", BasicallySatisfied: "基本满意",
	Dissatisfied: "，不满意", VeryDissatisfied: "非常不满意",
}

func promptText(id PromptID) string {
	for _, p := range DefaultPrompts() {
		if p.ID == id {
			return p.Text
		}
	}
	return ""
}

// TestPromptWAVs checks that every prompt file exists in the format the SIP
// layer loads: RIFF WAVE, PCM, 8000 Hz, 16-bit, mono.
func TestPromptWAVs(t *testing.T) {
	for _, p := range DefaultPrompts() {
		t.Run(string(p.ID), func(t *testing.T) {
			f, err := os.Open(filepath.Join(promptsDir, p.File))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			w, err := readWAVHeader(f)
			if err != nil {
				t.Fatalf("%s: %v", p.File, err)
			}
			if w.format != 1 || w.channels != 1 || w.rate != 8000 || w.bits != 16 {
				t.Errorf("%s: format %d, %d channels, %d Hz, %d bits; want PCM (1), 1, 8000, 16",
					p.File, w.format, w.channels, w.rate, w.bits)
			}
			d := time.Duration(w.dataLen/2) * time.Second / 8000
			if d < 500*time.Millisecond || d > 20*time.Second {
				t.Errorf("%s: %s of audio, want 0.5 s to 20 s", p.File, d)
			}
		})
	}
}

type wavHeader struct {
	format, channels, bits uint16
	rate, dataLen          uint32
}

// readWAVHeader reads the RIFF chunks up to the start of the data.
func readWAVHeader(r io.Reader) (wavHeader, error) {
	var w wavHeader
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return w, err
	}
	if string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return w, errors.New("not a RIFF WAVE file")
	}
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return w, fmt.Errorf("no data chunk: %w", err)
		}
		id, size := string(ch[0:4]), binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			b := make([]byte, size)
			if _, err := io.ReadFull(r, b); err != nil || size < 16 {
				return w, fmt.Errorf("short fmt chunk (%d bytes): %v", size, err)
			}
			w.format = binary.LittleEndian.Uint16(b[0:2])
			w.channels = binary.LittleEndian.Uint16(b[2:4])
			w.rate = binary.LittleEndian.Uint32(b[4:8])
			w.bits = binary.LittleEndian.Uint16(b[14:16])
			if w.format == 0xFFFE && size >= 26 { // WAVE_FORMAT_EXTENSIBLE: the subformat says PCM
				w.format = binary.LittleEndian.Uint16(b[24:26])
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return w, errors.New("data chunk before fmt chunk")
			}
			w.dataLen = size
			return w, nil
		default:
			if _, err := io.CopyN(io.Discard, r, int64(size+size%2)); err != nil {
				return w, fmt.Errorf("chunk %q: %w", id, err)
			}
		}
		if size%2 == 1 && id == "fmt " {
			if _, err := io.CopyN(io.Discard, r, 1); err != nil {
				return w, err
			}
		}
	}
}
