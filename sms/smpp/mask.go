package smpp

// MaskPhone hides the middle of a phone number for logs: 13812341234
// becomes 138****1234. Short numbers keep only their last two digits.
func MaskPhone(s string) string {
	r := []rune(s)
	switch {
	case len(r) >= 8:
		return string(r[:3]) + "****" + string(r[len(r)-4:])
	case len(r) > 2:
		return "****" + string(r[len(r)-2:])
	default:
		return "****"
	}
}
