package vrrp

import (
	"fmt"
	"net/netip"
	"time"
)

// downReason is why the Master_Down_Timer, when it fires, makes a BACKUP
// the MASTER. A backup re-arms the timer on every advertisement it
// hears, 100 times a second at 10 ms: the reason is kept as its parts and
// formatted only when the timer fires, so that hearing an advertisement
// allocates nothing.
type downReason struct {
	kind downKind
	peer netip.Addr // the master heard, for the kinds that name it
	prio uint8      // its priority, for the preemptions
	why  string     // what made the machine ready, for downReadyPrio0
	// For the preemptions: when the master was last heard, and the
	// interval it advertised, to tell at the timer whether it still
	// advertises.
	heard time.Time
	iv    time.Duration
}

// downKind selects the text of a downReason.
type downKind uint8

const (
	downNoAdvert     downKind = iota // no advertisement since the start
	downLastResort                   // released, nobody else advertises
	downPrio0                        // the master sent priority 0
	downSilent                       // the master went silent
	downPreemptDelay                 // preempting after preempt_delay
	downPreempt                      // preempting a lower priority master
	downReadyPrio0                   // ready again, and the master is leaving
)

// preemptReason is the downReason of a preemption of kind (downPreempt,
// downPreemptDelay) of the master last heard, at heard.
func (m *Machine) preemptReason(kind downKind, heard time.Time) downReason {
	return downReason{kind: kind, peer: m.master.Addr, prio: m.master.Priority, heard: heard,
		iv: m.master.AdvertInterval}
}

// silentAfter is how many of its advertisement intervals a master of
// lower priority must have missed for a backup that takes over to report
// that it went silent rather than that it was preempted: one advert lost
// or late is not silence.
const silentAfter = 2

// String returns the reason as the state change reports it when the
// timer fires at now. A preemption whose master has not been heard for
// more than silentAfter of its intervals is reported as what it is: the
// Master_Down_Timer expired, the master gone silent; "preempting" names
// a master that still advertises.
func (r downReason) String(now time.Time) string {
	switch r.kind {
	case downPreemptDelay, downPreempt:
		if silent := now.Sub(r.heard); silent > silentAfter*r.iv {
			return fmt.Sprintf("master down timer expired (last master %v, priority %d, silent for %v)", r.peer, r.prio, silent)
		}
	}
	switch r.kind {
	case downLastResort:
		return "released, but no router advertised within master down interval: taking over as the last resort"
	case downPrio0:
		return fmt.Sprintf("master %v sent priority 0", r.peer)
	case downSilent:
		return fmt.Sprintf("master %v silent for master down interval", r.peer)
	case downPreemptDelay:
		return fmt.Sprintf("preempting lower priority master %v (priority %d) after preempt_delay", r.peer, r.prio)
	case downPreempt:
		return fmt.Sprintf("preempting lower priority master %v (priority %d)", r.peer, r.prio)
	case downReadyPrio0:
		return fmt.Sprintf("ready (%s), and master %v sent priority 0", r.why, r.peer)
	default:
		return "no advertisement heard within master down interval"
	}
}
