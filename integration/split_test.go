package integration

import (
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/integration/netlab"
)

// TestSplitHandshakes checks the classifier of the handover tests on
// made-up probe results: only a reset between answers from two different
// hosts is a split handshake, and one owner change splits at most one.
func TestSplitHandshakes(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * 10 * time.Millisecond) }
	ok := func(i int, b string) netlab.Attempt { return netlab.Attempt{Start: at(i), OK: true, Banner: b} }
	bad := func(i int, err string) netlab.Attempt { return netlab.Attempt{Start: at(i), Err: err} }
	const reset = "connect: connection reset by peer"
	for _, tc := range []struct {
		name     string
		attempts []netlab.Attempt
		split    int
		problems int
	}{
		{"reset at an owner change", []netlab.Attempt{ok(0, "h1"), bad(1, reset), ok(2, "h2")}, 1, 0},
		{"reset without an owner change", []netlab.Attempt{ok(0, "h1"), bad(1, reset), ok(2, "h1")}, 0, 0},
		{"timeout at an owner change", []netlab.Attempt{ok(0, "h1"), bad(1, "connect: i/o timeout"), ok(2, "h2")}, 0, 0},
		{"reset before any answer", []netlab.Attempt{bad(0, reset), ok(1, "h2")}, 0, 0},
		{"unanswered attempts between", []netlab.Attempt{ok(0, "h1"), bad(1, reset), ok(2, ""), ok(3, "h2")}, 1, 0},
		{"two resets at one owner change", []netlab.Attempt{ok(0, "h1"), bad(1, reset), bad(2, reset), ok(3, "h2")}, 2, 1},
		{"one reset at each of two changes", []netlab.Attempt{ok(0, "h1"), bad(1, reset), ok(2, "h2"), bad(3, reset), ok(4, "h1")}, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			split, problems := splitHandshakes(netlab.ProbeResult{Attempts: tc.attempts})
			if len(split) != tc.split || len(problems) != tc.problems {
				t.Errorf("split %d, problems %q; want %d split, %d problems", len(split), problems, tc.split, tc.problems)
			}
		})
	}
}
