package control

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// formatMoves shows the moves of the sessions of the listener's backends
// (Status.Moves): under way, with how far they got and why one is
// paused, and those that ended of late, with how.
func formatMoves(p *page, now time.Time, s Status, listener string) {
	for _, m := range s.Moves {
		if m.Backend.Listener != listener {
			continue
		}
		if m.Running() {
			line := []text{txt(fmt.Sprintf("moving the sessions of %s at %d/s: %d of %d moved, %d left, for %s",
				m.Backend.Name, m.Rate, m.Moved, m.Sessions, m.Left, age(now, m.Since)))}
			if m.Paused != "" {
				line = append(line, txt(" "), paint("(paused: "+m.Paused+")", yellow))
			}
			p.println(line...)
			continue
		}
		if m.Outcome == OutcomeMoved {
			p.printf(fmt.Sprintf("moved the sessions of %s: %d of %d in %s, %s ago",
				m.Backend.Name, m.Moved, m.Sessions, age(m.Ended, m.Since), age(now, m.Ended)))
			continue
		}
		p.println(paint(fmt.Sprintf("move of the sessions of %s ended %s ago: %s; %d moved, %d left",
			m.Backend.Name, age(now, m.Ended), oneLine(m.Outcome), m.Moved, m.Left), yellow))
	}
}

// formatRebalances shows the rebalances of the listener's sessions
// (Status.Rebalances): under way, with each serving backend's sessions
// against its share, and those that ended of late, with how.
func formatRebalances(p *page, now time.Time, s Status, listener string) {
	for _, r := range s.Rebalances {
		if r.Listener != listener {
			continue
		}
		shares := ShareList(r.Shares)
		switch {
		case r.Running():
			line := []text{txt(fmt.Sprintf("rebalancing at %d/s for %s: %d moved; %s", r.Rate, age(now, r.Since), r.Moved, shares))}
			if r.Paused != "" {
				line = append(line, txt(" "), paint("(paused: "+r.Paused+")", yellow))
			}
			p.println(line...)
		case r.Outcome == OutcomeBalanced:
			p.printf(fmt.Sprintf("rebalanced: %d moved in %s, %s ago; %s", r.Moved, age(r.Ended, r.Since), age(now, r.Ended), shares))
		default:
			p.println(paint(fmt.Sprintf("rebalance ended %s ago: %s; %d moved", age(now, r.Ended), oneLine(r.Outcome), r.Moved), yellow))
		}
	}
}

// ShareList describes the backends' sessions against their shares:
// "rmq1 80 (share 66.7), rmq2 40 (share 66.7)".
func ShareList(shares []BackendShare) string {
	parts := make([]string, len(shares))
	for i, b := range shares {
		parts[i] = fmt.Sprintf("%s %d (share %s)", b.Backend, b.Sessions, strconv.FormatFloat(b.Share, 'f', -1, 64))
	}
	return strings.Join(parts, ", ")
}
