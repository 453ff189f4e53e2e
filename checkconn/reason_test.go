package checkconn

import (
	"strings"
	"testing"
)

// TestReason: a server's reason comes out as one printable line of at
// most MaxReason bytes and valid UTF-8.
func TestReason(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "",
		"  No active listener \n":      "No active listener",
		"a\tb\x00c\x1bd":               "a b c d",
		"bad \xff byte":                "bad ? byte",
		strings.Repeat("x", 201):       strings.Repeat("x", 200) + "...",
		strings.Repeat("é", 101):       strings.Repeat("é", 100) + "...",
		"x" + strings.Repeat("é", 100): "x" + strings.Repeat("é", 99) + "...",
	} {
		if got := Reason(in); got != want {
			t.Errorf("Reason(%q) = %q, want %q", in, got, want)
		}
	}
}
