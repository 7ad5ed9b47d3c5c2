package sip

import (
	"errors"
	"testing"
)

func TestParseDTMFInfo(t *testing.T) {
	const relay = "application/dtmf-relay"
	tests := []struct {
		name, ctype, body string
		want              rune
		wantErr           error
	}{
		{"relay CRLF", relay, "Signal=4\r\nDuration=250\r\n", '4', nil},
		{"relay LF", relay, "Signal=4\nDuration=250\n", '4', nil},
		{"relay no final newline", relay, "Signal=9", '9', nil},
		{"relay duration first", relay, "Duration=160\r\nSignal=2\r\n", '2', nil},
		{"relay spaces", relay, "  Signal =  5 \r\n Duration= 100\r\n", '5', nil},
		{"relay lower-case key", relay, "signal=1\r\n", '1', nil},
		{"relay upper-case key", relay, "SIGNAL=3\r\n", '3', nil},
		{"relay star", relay, "Signal=*\r\nDuration=250\r\n", '*', nil},
		{"relay pound", relay, "Signal=#\r\n", '#', nil},
		{"relay 10 is star", relay, "Signal=10\r\n", '*', nil},
		{"relay 11 is pound", relay, "Signal=11\r\n", '#', nil},
		{"relay 12 is A", relay, "Signal=12\r\n", 'A', nil},
		{"relay lower-case d", relay, "Signal=d\r\n", 'D', nil},
		{"relay blank lines and junk", relay, "\r\n\r\nfoo\r\nSignal=7\r\n", '7', nil},
		{"relay tab", relay, "Signal=\t8\r\n", '8', nil},
		{"relay CR only lines end", relay, "Signal=6\r", '6', nil},
		{"content type with parameters", "application/dtmf-relay; charset=utf-8", "Signal=4\r\n", '4', nil},
		{"content type upper case", "Application/DTMF-Relay", "Signal=4\r\n", '4', nil},
		{"content type bad parameter", "application/dtmf-relay;;x", "Signal=4\r\n", '4', nil},
		{"dtmf", "application/dtmf", "4", '4', nil},
		{"dtmf newline", "application/dtmf", "#\r\n", '#', nil},
		{"dtmf 10", "application/dtmf", "10", '*', nil},
		{"relay no signal", relay, "Duration=250\r\n", 0, ErrBadDTMFInfo},
		{"relay empty", relay, "", 0, ErrBadDTMFInfo},
		{"relay empty signal", relay, "Signal=\r\n", 0, ErrBadDTMFInfo},
		{"relay flash 16", relay, "Signal=16\r\n", 0, ErrBadDTMFInfo},
		{"relay two keys", relay, "Signal=12 3\r\n", 0, ErrBadDTMFInfo},
		{"relay letter", relay, "Signal=x\r\n", 0, ErrBadDTMFInfo},
		{"relay multibyte", relay, "Signal=五\r\n", 0, ErrBadDTMFInfo},
		{"dtmf empty", "application/dtmf", "", 0, ErrBadDTMFInfo},
		{"other type", "application/media_control+xml", "<xml/>", 0, ErrNotDTMFInfo},
		{"no type", "", "Signal=4", 0, ErrNotDTMFInfo},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDTMFInfo(tc.ctype, []byte(tc.body))
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzParseDTMFInfo(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=4\r\nDuration=250\r\n"))
	f.Add("application/dtmf", []byte("#"))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		k, err := ParseDTMFInfo(ctype, body)
		if err == nil && !IsDTMFKey(k) {
			t.Fatalf("no error but key %q", k)
		}
		if err != nil && k != 0 {
			t.Fatalf("error %v with key %q", err, k)
		}
	})
}
