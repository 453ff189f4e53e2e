package control

import (
	"fmt"
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
