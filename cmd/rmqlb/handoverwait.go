package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/control"
	"github.com/rmqlb/rmqlb/vrrp"
)

// defaultReleaseWait is how long `rmqlb vrrp release --wait` waits for
// the handover by default (a backup takes over within an advert
// interval, and the VIPs leave once it has announced them), and `rmqlb
// vrrp ready --wait` for the return (a master down interval, or a
// preemption, and a preempt_delay).
const defaultReleaseWait = 30 * time.Second

// handoverPoll is how often `rmqlb vrrp release --wait` asks the daemon:
// a handover takes about a tenth of a second at 100 ms adverts.
const handoverPoll = 100 * time.Millisecond

// waitHandover follows, in the daemon's status at socket, the handover of
// each instance of released (the daemon's answer to a release) until
// each holds no VIP, having handed them to another router, or until
// timeout: exit 0 when every one has, 1 otherwise (also when one is no
// longer released: readied, or its --for ran out).
func waitHandover(socket string, released []vrrp.Snapshot, timeout time.Duration, stdout, stderr io.Writer) int {
	return followInstances(socket, "the handover of ", released, timeout, func(s control.Status, in control.VRRP) handover {
		return handoverOf(in, s.Now)
	}, stdout, stderr)
}

// followInstances follows, in the daemon's status at socket, instances
// (the daemon's answer to a release or a ready) until judge says each is
// done, or one abandoned, or until timeout: exit 0 when every one is
// done, 1 otherwise. what, followed by their names, names the work.
func followInstances(socket, what string, instances []vrrp.Snapshot, timeout time.Duration, judge func(control.Status, control.VRRP) handover, stdout, stderr io.Writer) int {
	var names []string
	for _, s := range instances {
		names = append(names, s.Name)
	}
	spec := followSpec{what: what + strings.Join(names, ", "), timeout: timeout, poll: handoverPoll}
	return follow(socket, spec, func(s control.Status) followed {
		var done, waiting, stuck []string
		for _, name := range names {
			i := slices.IndexFunc(s.VRRP, func(in control.VRRP) bool { return in.Name == name })
			if i < 0 {
				return followed{}
			}
			p := judge(s, s.VRRP[i])
			switch {
			case p.abandoned:
				return followed{found: true, result: p.line}
			case p.done:
				done = append(done, p.line)
			default:
				waiting = append(waiting, p.line)
				stuck = append(stuck, cmp.Or(p.stuck, p.line))
			}
		}
		if len(waiting) > 0 {
			return followed{found: true, running: true, progress: strings.Join(waiting, "; "), stuck: strings.Join(stuck, "; ")}
		}
		return followed{found: true, ok: true, result: strings.Join(done, "\n")}
	}, stdout, stderr)
}

// handover is where the handover of a released instance stands: done
// (it holds no VIP) or abandoned (no longer released), and the line that
// says so; stuck, when set, is what to say of it instead when the wait
// ends there. It serves the return of a readied instance too (readyOf).
type handover struct {
	done, abandoned bool
	line, stuck     string
}

// handoverOf tells where the handover of released instance in stands at
// now, its status's time.
func handoverOf(in control.VRRP, now time.Time) handover {
	if !in.Released {
		return handover{abandoned: true, line: fmt.Sprintf("%s is no longer released (rmqlb vrrp ready, or the end of its --for): %s with priority %d", in.Name, in.State, in.EffectivePriority)}
	}
	if since, master := in.ReleasedMaster(); master {
		line := fmt.Sprintf("%s: MASTER for %s, advertising priority 0: no other router has taken over", in.Name, now.Sub(since).Round(100*time.Millisecond))
		return handover{line: line + " yet",
			stuck: line + " " + in.WhyNoTakeover() + "; the release stays, and this host keeps the VIPs and serves their clients until one does"}
	}
	// The handover of this release, not an earlier one's.
	h := in.Handover
	ours := h != nil && h.Planned && !h.Requested.Before(in.ReleasedSince)
	switch {
	case ours && h.Done.IsZero():
		return handover{line: fmt.Sprintf("%s: BACKUP, %s (priority %d) has taken over; this host keeps the VIPs until it has announced them", in.Name, h.Peer, h.PeerPriority)}
	case ours:
		return handover{done: true, line: fmt.Sprintf("%s: handed over to %s (priority %d) in %s; the VIPs left this host %s after its advert: %s",
			in.Name, h.Peer, h.PeerPriority, h.Done.Sub(h.Requested).Round(time.Millisecond), h.Done.Sub(h.PeerHeard).Round(time.Millisecond), h.Outcome)}
	}
	for _, a := range in.Addresses.VIPs {
		if a.Present && a.Owned {
			return handover{line: fmt.Sprintf("%s: %s, removing VIP %s from %s", in.Name, in.State, a.Prefix, in.Interface)}
		}
	}
	return handover{done: true, line: fmt.Sprintf("%s: %s, holding no VIP", in.Name, in.State)}
}
