package main

import (
	"fmt"
	"io"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/vrrp"
)

// waitReady follows, in the daemon's status at socket, each instance of
// readied (the daemon's answer to a ready) until it is back in the
// election, or until timeout: exit 0 when every one is, 1 otherwise
// (also when one is released again meanwhile).
//
// An instance is back when it is MASTER holding its VIPs, or BACKUP of a
// master heard after the wait began that it does not preempt (preemption
// off, or a priority at least its own): it then takes over only if that
// master fails. One that is to preempt is waited for until it has taken
// the VIPs. The first status asked after the ready marks when the wait
// began, so that a master heard before it, judged against the priority
// of the release, is not taken for one heard since.
func waitReady(socket string, readied []vrrp.Snapshot, timeout time.Duration, stdout, stderr io.Writer) int {
	var began time.Time
	return followInstances(socket, "the return of ", readied, timeout, func(s control.Status, in control.VRRP) handover {
		if began.IsZero() {
			began = s.Now
		}
		return readyOf(in, began)
	}, stdout, stderr)
}

// readyOf tells where the return of readied instance in stands, for a
// wait that began at began (the daemon's time): done when it is back in
// the election (see waitReady), abandoned when it is released again.
func readyOf(in control.VRRP, began time.Time) handover {
	if in.Released {
		return handover{abandoned: true, line: fmt.Sprintf("%s is released again (rmqlb vrrp release): %s", in.Name, in.State)}
	}
	prio := fmt.Sprintf("priority %d", in.EffectivePriority)
	if in.EffectivePriority < in.ConfiguredPriority {
		prio += fmt.Sprintf(" (its tracks lower it from %d)", in.ConfiguredPriority)
	}
	switch in.State {
	case vrrp.StateMaster:
		for _, a := range in.Addresses.VIPs {
			if !a.Present {
				return handover{line: fmt.Sprintf("%s: MASTER with %s, adding VIP %s to %s", in.Name, prio, a.Prefix, in.Interface)}
			}
		}
		return handover{done: true, line: fmt.Sprintf("%s: MASTER with %s, holding the VIPs", in.Name, prio)}
	case vrrp.StateBackup:
	default:
		return handover{line: fmt.Sprintf("%s: %s: %s", in.Name, in.State, in.Reason)}
	}
	m := in.Master
	if m == nil || m.Heard.Before(began) {
		return handover{line: fmt.Sprintf("%s: BACKUP with %s, no master heard yet: it takes the VIPs if none is heard within its master down interval", in.Name, prio)}
	}
	preempts := in.Preempt || in.EffectivePriority == 255
	switch {
	case m.Priority == 0:
		return handover{line: fmt.Sprintf("%s: BACKUP with %s, taking the VIPs over from %s, which is releasing them", in.Name, prio, m.Addr)}
	case preempts && m.Priority < in.EffectivePriority:
		delay := ""
		if in.PreemptDelay > 0 {
			delay = fmt.Sprintf(" once its preempt_delay (%s) has passed", in.PreemptDelay)
		}
		return handover{line: fmt.Sprintf("%s: BACKUP with %s, to take the VIPs over from %s (priority %d)%s", in.Name, prio, m.Addr, m.Priority, delay)}
	case !preempts && m.Priority < in.EffectivePriority:
		return handover{done: true, line: fmt.Sprintf("%s: BACKUP with %s, ready to take over: %s (priority %d) keeps the VIPs, since preemption is off", in.Name, prio, m.Addr, m.Priority)}
	}
	return handover{done: true, line: fmt.Sprintf("%s: BACKUP with %s, ready to take over should %s (priority %d) fail", in.Name, prio, m.Addr, m.Priority)}
}
