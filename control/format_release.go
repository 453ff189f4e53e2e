package control

import (
	"fmt"
	"time"
)

// formatRelease writes, for a VRRP instance, one line about its release
// (`rmqlb vrrp release`) while it lasts and one about its last handover.
func formatRelease(p *page, now time.Time, v VRRP) {
	if v.Released {
		until := "until `rmqlb vrrp ready " + v.Name + "`"
		if !v.ReleasedUntil.IsZero() {
			until = "for another " + age(v.ReleasedUntil, now)
		}
		p.println(paint("released", yellow), txt(fmt.Sprintf(" %s: since %s ago, %s: %s", v.Name, age(now, v.ReleasedSince), until, v.ReleaseReason)))
	}
	if h := v.Handover; h != nil {
		kept := "still held"
		if !h.Done.IsZero() {
			kept = fmt.Sprintf("kept %s after its advert", h.Done.Sub(h.PeerHeard).Round(time.Millisecond))
		}
		p.printf(fmt.Sprintf("last handover %s: to %s (priority %d) %s ago, VIPs %s: %s", v.Name, h.Peer, h.PeerPriority, age(now, h.PeerHeard), kept, h.Outcome))
	}
}
