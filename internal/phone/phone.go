// Package phone normalises and masks phone numbers, the same way in every
// module: numbers are stored and matched normalised, and shown or logged
// only masked (138****1234) outside an audited reveal. It imports nothing
// from the project.
package phone

import "strings"

// Normalize keeps the digits of a number (full-width digits too) and drops
// a +86 / 0086 country prefix, so the same number is always stored and
// matched the same way: "+86 138-0013-8001" → "13800138001".
func Normalize(p string) string {
	var b strings.Builder
	for _, r := range p {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= '０' && r <= '９':
			b.WriteRune('0' + (r - '０'))
		}
	}
	d := b.String()
	switch {
	case strings.HasPrefix(d, "0086") && len(d) > 11:
		d = d[4:]
	case strings.HasPrefix(d, "86") && len(d) == 13:
		d = d[2:]
	}
	return d
}

// Mask hides the middle of a number for staff views, logs and metrics:
// 13812341234 → 138****1234. Numbers of 3 to 7 characters keep only their
// last two; shorter ones nothing. The empty string stays empty.
func Mask(n string) string {
	r := []rune(n)
	switch {
	case len(r) == 0:
		return ""
	case len(r) >= 8:
		return string(r[:3]) + "****" + string(r[len(r)-4:])
	case len(r) > 2:
		return "****" + string(r[len(r)-2:])
	default:
		return "****"
	}
}
