package control

import (
	"fmt"
	"time"
)

// PreviousProcess is the daemon process that the one answering took over
// from by an upgrade in place (`rmqlb upgrade`), while it still runs: it
// no longer accepts, and finishes the sessions it held at the hand-over,
// which the answering process's listeners do not count.
type PreviousProcess struct {
	PID int `json:"pid"`
	// Sessions is how many sessions it held at the hand-over.
	Sessions int `json:"sessions"`
	// SessionsLeft is how many it still holds, as it last reported (it
	// reports every second); nil from a process that does not report
	// them.
	SessionsLeft *int `json:"sessions_left,omitempty"`
	// Until is when the longest graceful_timeout of its listeners ends:
	// it closes the sessions left then, and exits.
	Until time.Time `json:"until"`
	// CloseSpread is the longest close_spread of its listeners: over that
	// last part before Until it closes the sessions left evenly; 0: all
	// at Until.
	CloseSpread time.Duration `json:"close_spread_ns"`
}

// formatPrevious says what the process taken over from still does.
func formatPrevious(p *page, now time.Time, pp *PreviousProcess) {
	left := ""
	if pp.SessionsLeft != nil {
		left = fmt.Sprintf("%d left, ", *pp.SessionsLeft)
	}
	line := fmt.Sprintf("previous process: pid %d, replaced by an upgrade, finishes the %d sessions it held then (%snot counted below)", pp.PID, pp.Sessions, left)
	switch {
	case !pp.Until.After(now):
		line += fmt.Sprintf("; its grace period ended %s ago", age(now, pp.Until))
	case pp.CloseSpread >= pp.Until.Sub(now):
		line += fmt.Sprintf(" for at most %s more, closing those left evenly meanwhile", age(pp.Until, now))
	case pp.CloseSpread > 0:
		line += fmt.Sprintf(" for at most %s more, the last %s of it closing those left evenly", age(pp.Until, now), pp.CloseSpread)
	default:
		line += fmt.Sprintf(" for at most %s more, then closes those left", age(pp.Until, now))
	}
	p.printf(line)
}
