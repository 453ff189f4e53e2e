package control

import (
	"strings"
	"testing"
	"time"
)

// TestFormatPrevious: the line on the process taken over from, before its
// close_spread, within it, without one, and past its grace period.
func TestFormatPrevious(t *testing.T) {
	now := fixtureNow
	pp := func(until, spread time.Duration) *PreviousProcess {
		return &PreviousProcess{PID: 7, Sessions: 120, Until: now.Add(until), CloseSpread: spread}
	}
	const head = "previous process: pid 7, replaced by an upgrade, finishes the 120 sessions it held then (not counted below)"
	for _, c := range []struct {
		p    *PreviousProcess
		want string
	}{
		{pp(time.Minute, 50*time.Second), head + " for at most 1m0s more, the last 50s of it closing those left evenly"},
		{pp(38*time.Second, 50*time.Second), head + " for at most 38s more, closing those left evenly meanwhile"},
		{pp(9*time.Second, 0), head + " for at most 9s more, then closes those left"},
		{pp(-2*time.Second, 0), head + "; its grace period ended 2s ago"},
		{withLeft(pp(38*time.Second, 50*time.Second), 31), "previous process: pid 7, replaced by an upgrade, finishes the 120 sessions it held then " +
			"(31 left, not counted below) for at most 38s more, closing those left evenly meanwhile"},
		{withLeft(pp(9*time.Second, 0), 0), "previous process: pid 7, replaced by an upgrade, finishes the 120 sessions it held then " +
			"(0 left, not counted below) for at most 9s more, then closes those left"},
	} {
		p := &page{}
		formatPrevious(p, now, c.p)
		var b strings.Builder
		if err := p.write(&b); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(b.String()); got != c.want {
			t.Errorf("until %v, spread %v:\n got %s\nwant %s", c.p.Until.Sub(now), c.p.CloseSpread, got, c.want)
		}
	}
}

// withLeft is p reporting n sessions left.
func withLeft(p *PreviousProcess, n int) *PreviousProcess {
	p.SessionsLeft = &n
	return p
}
