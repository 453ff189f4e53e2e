package vrrp

import (
	"fmt"
	"net/netip"
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

// String returns the reason as the state change reports it.
func (r downReason) String() string {
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
