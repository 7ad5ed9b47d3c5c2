package sip

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"strings"
)

// Errors of ParseDTMFInfo, for the caller to choose its answer: a 415 for an
// INFO of another package, a 400 for a DTMF body it cannot read.
var (
	ErrNotDTMFInfo  = errors.New("sip: INFO content type is not DTMF")
	ErrBadDTMFInfo  = errors.New("sip: malformed DTMF INFO body")
	errNoSignalLine = fmt.Errorf("%w: no Signal line", ErrBadDTMFInfo)
)

// maxDTMFInfoBody bounds the body we look at; real bodies are two short
// lines.
const maxDTMFInfoBody = 4096

// ParseDTMFInfo returns the key carried by a SIP INFO request body. It reads
// application/dtmf-relay ("Signal=4\r\nDuration=250\r\n"; keys are
// case-insensitive, lines end in LF or CRLF, spaces are allowed, and the
// signal may be a key or an RFC 4733 event number such as 10 for '*') and
// application/dtmf (a body that is just the key). Content-Type parameters
// are ignored.
func ParseDTMFInfo(contentType string, body []byte) (rune, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		// Be lenient with parameters we cannot parse: only the type matters.
		mt, _, _ = strings.Cut(contentType, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
	}
	if len(body) > maxDTMFInfoBody {
		return 0, fmt.Errorf("%w: body of %d bytes", ErrBadDTMFInfo, len(body))
	}
	switch mt {
	case "application/dtmf-relay":
		return parseDTMFRelay(body)
	case "application/dtmf":
		return parseDTMFSignal(bytes.TrimSpace(body))
	}
	return 0, fmt.Errorf("%w: %.64q", ErrNotDTMFInfo, mt)
}

func parseDTMFRelay(body []byte) (rune, error) {
	for len(body) > 0 {
		var line []byte
		line, body, _ = bytes.Cut(body, []byte{'\n'})
		k, v, ok := bytes.Cut(line, []byte{'='})
		if !ok {
			continue
		}
		if strings.EqualFold(string(bytes.TrimSpace(k)), "signal") {
			return parseDTMFSignal(bytes.TrimSpace(v))
		}
	}
	return 0, errNoSignalLine
}

// parseDTMFSignal reads a key ("5", "*", "a") or an RFC 4733 event number
// ("10" for '*', "11" for '#', up to "15" for 'D').
func parseDTMFSignal(v []byte) (rune, error) {
	switch {
	case len(v) == 1:
		r := rune(v[0])
		if r >= 'a' && r <= 'd' {
			r -= 'a' - 'A'
		}
		if IsDTMFKey(r) {
			return r, nil
		}
	case len(v) == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5':
		r, _ := eventKey(10 + v[1] - '0')
		return r, nil
	}
	return 0, fmt.Errorf("%w: signal %.16q", ErrBadDTMFInfo, v)
}
