package checkconn

import (
	"strings"
	"unicode"
)

// MaxReason is the most bytes of a reason that Reason keeps.
const MaxReason = 200

// Reason returns s, a reason a server gave (a failing answer's, a
// refusal's), fit for a check's result and a log line: valid UTF-8,
// control characters as spaces, trimmed, and cut to MaxReason bytes
// with "..." after it.
func Reason(s string) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, "?"))
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > MaxReason {
		s = strings.ToValidUTF8(s[:MaxReason], "") + "..."
	}
	return s
}
