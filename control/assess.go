package control

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/vrrp"
)

// Exit codes of `rmqlb status`.
const (
	// ExitHealthy: the daemon answered and Assess found nothing wrong.
	ExitHealthy = 0
	// ExitDegraded: the daemon answered and Assess found a reason.
	ExitDegraded = 1
	// ExitUnreachable: the daemon did not answer, or the command line was
	// wrong.
	ExitUnreachable = 2
)

// Verdict is what Assess makes of a Status: healthy or degraded, why, and
// the state in one line.
type Verdict struct {
	// Degraded is set when Reasons is not empty.
	Degraded bool `json:"degraded"`
	// Summary tells the state in one line, degraded or not: "starting"
	// while the daemon starts or "stopping" once it stops, each VRRP
	// instance ("MASTER of 10.77.0.100 (rabbitmq)", "BACKUP (rabbitmq),
	// master 10.77.0.1 priority 150"), then the listeners ("3/3 backends
	// up"; "amqp 3/3 backends up, mgmt 1/1 backends up" when there are
	// several), all separated by "; ".
	Summary string `json:"summary"`
	// Reasons lists what makes the daemon degraded, one line each, in the
	// order of Status: the start or the stop, while the daemon starts or
	// stops (a listener not listening is no reason then); the last
	// reload, the VRRP instances and their VIPs, the listeners, their
	// backends, the checks. Never nil.
	Reasons []string `json:"reasons"`
}

// maxLineReasons is how many reasons Line names before "and N more".
const maxLineReasons = 3

// Line returns the verdict in one line: the Summary when healthy,
// "DEGRADED: " and the first reasons otherwise.
func (v Verdict) Line() string {
	if !v.Degraded {
		return v.Summary
	}
	rs := v.Reasons
	more := ""
	if len(rs) > maxLineReasons {
		more = fmt.Sprintf("; and %d more", len(rs)-maxLineReasons)
		rs = rs[:maxLineReasons]
	}
	return "DEGRADED: " + strings.Join(rs, "; ") + more
}

// ExitCode returns ExitDegraded for a degraded verdict, else ExitHealthy.
func (v Verdict) ExitCode() int {
	if v.Degraded {
		return ExitDegraded
	}
	return ExitHealthy
}

// vipLeftGrace is how long after leaving MASTER a VIP still on the
// interface is not yet a fault: the release takes milliseconds, a failed
// one is tried again after a second.
const vipLeftGrace = 5 * time.Second

// releaseUnanswered is how long a released instance (rmqlb vrrp
// release) may stay MASTER before its release counts as unanswered: five
// seconds, or four advert intervals if longer. A backup takes over within
// its Skew_Time of the first advert of priority 0, and a released router
// that no advert reaches takes the VIPs only after its own, longer,
// Master_Down_Interval.
func releaseUnanswered(in VRRP) time.Duration {
	return max(5*time.Second, 4*in.AdvertInterval)
}

// refusedRecent is how long after the last refused advertisement r of an
// instance (see Assess) the instance still counts as degraded: ten
// seconds, or three advertisement intervals if longer (the instance's or
// the one r carried, whichever is longer). A MASTER sends one every
// interval, so a router whose adverts are refused keeps it degraded for
// as long as it is MASTER.
func refusedRecent(in VRRP, r *vrrp.RefusedAdvert) time.Duration {
	return max(10*time.Second, 3*max(in.AdvertInterval, r.AdvertInterval))
}

// differingRecent is how long after the last advertisement accepted with
// differing addresses (see Assess) the instance still counts as degraded:
// ten seconds, or three of its advertisement intervals if longer. A
// MASTER sends one every interval, so a group whose lists differ stays
// degraded for as long as they do.
func differingRecent(in VRRP) time.Duration {
	return max(10*time.Second, 3*in.AdvertInterval)
}

// lowerMasterKept reports whether a router of lower priority keeps
// advertising as MASTER beside in at now: its run of them
// (vrrp.LowerMasterHeard) has lasted lowerMasterWindow and goes on (the
// last within lowerMasterWindow). A partition that heals, or an advert
// sender process that stops, makes one or two, which this router's answer
// settles; a router that keeps on does not hear the answers (a firewall
// that drops VRRP on input there, a link that carries one way).
func lowerMasterKept(in VRRP, now time.Time) bool {
	lm := in.LowerMaster
	w := lowerMasterWindow(in)
	return lm != nil && lm.At.Sub(lm.Since) >= w && now.Sub(lm.At) < w
}

// lowerMasterWindow is ten seconds, or eight advert intervals if longer
// (at least two master down intervals: the machine reports a lower
// master once per master down interval).
func lowerMasterWindow(in VRRP) time.Duration {
	return max(10*time.Second, 8*in.AdvertInterval)
}

// sendFailRecent is how long after its last advert that could not be
// sent an instance that sent none since (a BACKUP now) still counts as
// degraded: the adverts of a MASTER, and the advert sender's reports of
// them, come at least every three intervals or every second.
func sendFailRecent(in VRRP) time.Duration {
	return max(10*time.Second, 3*in.AdvertInterval)
}

// conflictRecent is how long after another host last announced a VIP
// of a MASTER that stayed MASTER (vrrp.VIPConflict) the instance still
// counts as degraded: a host that holds the address answers the clients'
// ARP requests without announcing it again, so the conflict is heard
// seldom and lasts until someone removes the address there.
const conflictRecent = 10 * time.Minute

// A backend flaps when its checks took it DOWN (from UP or DEGRADED) at
// least flapDowns times within the last flapWindow: each DOWN closes its
// sessions (on_marked_down: shutdown-sessions, the default), so its
// clients reconnect again and again, while a status taken between the
// DOWNs shows it UP. A broker restarted once (a rolling upgrade) makes
// one.
const (
	flapDowns  = 3
	flapWindow = 10 * time.Minute
)

// A VRRP instance flaps when it changed state (between BACKUP, MASTER and
// FAULT) at least vrrpFlapChanges times within the last flapWindow (the
// threshold of the alert RmqlbVRRPFlapping, which counts the same changes
// in rmqlb_vrrp_role_changes_total): each change moves the VIPs, and
// their clients reconnect. A planned handover and its end make two.
const vrrpFlapChanges = 5

// vrrpFlapping reports whether instance in flaps at now, with how many
// changes it made within flapWindow.
func vrrpFlapping(in VRRP, now time.Time) (n int, ok bool) {
	n = in.TransitionsSince(now.Add(-flapWindow))
	return n, n >= vrrpFlapChanges
}

// times says how often something happened within flapWindow, of which n
// of the latest kept are known to be: "3 times", or "8 or more times" when
// all kept are, since older ones were not kept.
func times(n, kept int) string {
	if n >= kept {
		return fmt.Sprintf("%d or more times", n)
	}
	return fmt.Sprintf("%d times", n)
}

// flapping reports whether backend c flaps at now, with how many DOWNs the
// checks took it within flapWindow and when the last was.
func flapping(c healthcheck.BackendStatus, now time.Time) (n int, last time.Time, ok bool) {
	n, last = c.DownsSince(now.Add(-flapWindow))
	return n, last, n >= flapDowns
}

// conflictHost names the host of a conflict by its link-layer address,
// as the VIP set last heard it announce the address ("another host" when
// it did not say).
func conflictHost(in VRRP, c *vrrp.VIPConflict) string {
	for _, a := range in.Addresses.VIPs {
		if a.Prefix.Addr() == c.Addr && a.LastPeerMAC != "" {
			return "the host with MAC " + a.LastPeerMAC
		}
	}
	return "another host"
}

// refusedWhy tells which setting differs for a refused advertisement's
// drop reason.
func refusedWhy(reason string) string {
	switch reason {
	case vrrp.DropAuth:
		return "its authentication (auth_type, auth_pass) differs"
	case vrrp.DropIntervalMismatch:
		return "its advert_interval differs (VRRPv2 requires the same)"
	case vrrp.DropAddressMismatch:
		return "its virtual_ipaddress list shares no address with this host's (another virtual router with this VRID?)"
	case vrrp.DropVersion:
		return "its VRRP version differs"
	case vrrp.DropNotPeer:
		return "it is not among the allowed or unicast peers"
	default:
		return "reason " + reason
	}
}

// VerdictOf returns the verdict of s: the daemon's own (Status.Verdict),
// which it reached on its monotonic clock, or Assess(s) for a status
// without one. A client's Assess compares times that travelled as
// wall-clock readings, off by any step of the clock between them.
func VerdictOf(s Status) Verdict {
	if s.Verdict.Summary != "" {
		return s.Verdict
	}
	return Assess(s)
}

// Assess decides whether the daemon whose status is s is healthy. It is
// degraded when:
//
//   - the last reload was refused, as a whole or in part (Reload.OK);
//   - a VRRP instance is in FAULT;
//   - a VRRP instance's owner reports a fault (the VIPs cannot be held);
//   - a VIP set reports a fault (a VIP could not be added or put back);
//   - a VIP is absent from its interface while its instance is MASTER;
//   - a VIP is on its interface while its instance is not MASTER and
//     not handing it over, 5 s after it left MASTER: added by this
//     daemon (a release that failed: it is being tried again), left by an
//     earlier run, or added by another program, it answers ARP beside the
//     master;
//   - a VIP set cannot read its interface's addresses (which VIPs are
//     there is unknown);
//   - a VRRP instance dropped an advertisement of its own VRID from
//     another router (a difference of configuration, see
//     vrrp.RefusedAdvert) within refusedRecent: that router is MASTER and
//     this one does not count it, a split brain if both hold the VIPs;
//   - a VRRP instance accepted an advertisement of its own VRID from
//     another router whose addresses differ from its own, sharing some
//     (vrrp.DifferingAddrs), within differingRecent: the hosts of the
//     group do not list the same VIPs;
//   - another host announced a VIP of a MASTER that stayed MASTER
//     (vrrp.VIPConflict) within conflictRecent: it holds the address
//     too;
//   - a router of lower priority keeps advertising as MASTER beside a
//     MASTER (lowerMasterKept): it does not hear this one's answers, and
//     both hold the VIPs;
//   - a VRRP instance's adverts could not be sent (vrrp.SendFailure),
//     none went to every destination since, and the last failure was
//     within sendFailRecent: the routers they were for do not hear it,
//     and a BACKUP among them takes over beside a MASTER;
//   - a VRRP instance released (rmqlb vrrp release) has been MASTER
//     since the release, or since it took the VIPs as the last resort,
//     for releaseUnanswered: no other router takes over, and this host
//     keeps the VIPs its operator means to hand over;
//   - a VRRP instance flaps (see vrrpFlapping);
//   - a listener is not listening;
//   - every backend of a listener is DRAIN or MAINT or has weight 0
//     (which drains it too): no client can be served (each is an
//     operator's choice, all of them together is an outage);
//   - a client address of a listener holds its maxconn_per_client
//     (clientsAtLimit): its new connections are refused;
//   - a backend flaps (see flapping), unless the operator put it in MAINT;
//   - a backend is DOWN or DEGRADED (DRAIN and MAINT are an operator's
//     choice, not a fault);
//   - a backend's checks cannot be made on this host (out of file
//     descriptors or socket memory): its state is kept, and
//     no longer known.
//
// Assess is a pure function of s.
func Assess(s Status) Verdict {
	v := Verdict{Reasons: []string{}}
	bad := func(format string, a ...any) { v.Reasons = append(v.Reasons, fmt.Sprintf(format, a...)) }
	var parts []string
	// step names the step (doing) of a start or a stop that began at
	// since, and how long it lasts at most (until; zero: not bounded).
	step := func(what string, since time.Time, doing string, until time.Time) {
		parts = append(parts, what)
		if until.IsZero() {
			bad("%s for %s: %s", what, age(s.Now, since), doing)
		} else {
			bad("%s for %s: %s, for at most %s more", what, age(s.Now, since), doing, age(s.Now.Add(max(until.Sub(s.Now), 0)), s.Now))
		}
	}
	if st := s.Starting; st != nil {
		step("starting", s.Started, st.Step, st.Until)
	}
	if st := s.Stopping; st != nil {
		step("stopping", st.Since, st.Step, st.Until)
	}
	if r := s.Reload; r != nil && !r.OK() {
		if r.Error != "" {
			bad("last reload refused as a whole: %s", oneLine(r.Error))
		} else {
			bad("last reload refused: %s", oneLine(strings.Join(r.Refused, ", ")))
		}
	}
	for _, in := range s.VRRP {
		parts = append(parts, instanceSummary(in))
		if in.State == vrrp.StateFault {
			bad("VRRP %s FAULT: %s", in.Name, oneLine(in.Reason))
		}
		if in.OwnerFault != "" {
			bad("VRRP %s owner fault: %s", in.Name, oneLine(in.OwnerFault))
		}
		// The owner of a daemon is its VIP set: its fault is usually the
		// one the instance reports; say it once.
		if f := in.Addresses.Fault; f != "" && f != in.OwnerFault {
			bad("VIPs of %s fault: %s", in.Name, oneLine(f))
		}
		if r := in.Refused; r != nil && s.Now.Sub(r.At) < refusedRecent(in, r) {
			bad("VRRP %s: adverts of VRID %d from %s (priority %d) dropped, %s, the last %s ago: that router is MASTER unheard by this one (split brain if both hold the VIPs)",
				in.Name, in.VRID, r.From, r.Priority, refusedWhy(r.Reason), age(s.Now, r.At))
		}
		if d := in.Differing; d != nil && s.Now.Sub(d.At) < differingRecent(in) {
			bad("VRRP %s: adverts of VRID %d from %s (priority %d) list the VIPs %s, this host's virtual_ipaddress %s, the last %s ago: accepted, as they share %s; make the lists agree on every host of the group (a reload that changes them not made everywhere yet?): a host that takes over holds only the VIPs of its own list",
				in.Name, in.VRID, d.From, d.Priority, addrList(d.Addrs), prefixAddrs(in.VIPs), age(s.Now, d.At), sharedAddrs(d.Addrs, in.VIPs))
		}
		if lm := in.LowerMaster; lowerMasterKept(in, s.Now) {
			bad("VRRP %s: %s (priority %d) has advertised as MASTER beside this MASTER for %s, the last %s ago, despite its answers: it does not hear this host (a firewall that drops VRRP on input there, a link that carries one way), and both hold the VIPs (split brain)",
				in.Name, lm.From, lm.Priority, age(lm.At, lm.Since), age(s.Now, lm.At))
		}
		if f := in.SendFailing; f != nil && s.Now.Sub(f.At) < sendFailRecent(in) {
			bad("VRRP %s: adverts to %s cannot be sent (%s), %d failed since %s ago, the last %s ago: the routers there do not hear this one, and a BACKUP among them takes over beside a MASTER here (split brain); check the route and the firewall (IP protocol 112) to them",
				in.Name, f.Dst, oneLine(f.Error), f.Failed, age(s.Now, f.Since), age(s.Now, f.At))
		}
		if c := in.Conflict; c != nil && s.Now.Sub(c.At) < conflictRecent {
			bad("VIP %s of %s announced by %s while this host is MASTER, the last %s ago (%d since start): it holds the address too, and the clients that hear it send their packets there; remove the address there",
				c.Addr, in.Name, conflictHost(in, c), age(s.Now, c.At), c.Count)
		}
		if since, ok := in.ReleasedMaster(); ok {
			if held := s.Now.Sub(since); held >= releaseUnanswered(in) {
				bad("VRRP %s released %s ago but MASTER for %s: no other router has taken over %s; this host keeps the VIPs and serves their clients until one does: do not stop this host's broker yet",
					in.Name, age(s.Now, in.ReleasedSince), age(s.Now, s.Now.Add(-held)), in.WhyNoTakeover())
			}
		}
		if n, ok := vrrpFlapping(in, s.Now); ok {
			last := in.RecentTransitions[len(in.RecentTransitions)-1]
			bad("VRRP %s flaps: it changed state %s in the last %s, the last %s ago (to %s: %s): each change moves the VIPs, and their clients reconnect; see why on each host of the group (rmqlb status --verbose lists each change with its reason)",
				in.Name, times(n, vrrp.RecentTransitionsKept), flapWindow, age(s.Now, last.At), last.To, oneLine(last.Reason))
		}
		switch {
		case in.Addresses.Error != "":
			// Which VIPs are on the interface is not known (in FAULT the
			// interface is usually gone, which the FAULT says).
			if in.State != vrrp.StateFault {
				bad("VIPs of %s unknown: %s", in.Name, oneLine(in.Addresses.Error))
			}
		case in.State == vrrp.StateMaster:
			for _, p := range absentVIPs(in) {
				bad("VIP %s absent from %s while MASTER (%s)", p, in.Interface, in.Name)
			}
		case (in.Handover == nil || !in.Handover.Done.IsZero()) && s.Now.Sub(in.Since) >= vipLeftGrace:
			for _, a := range in.Addresses.VIPs {
				switch {
				case !a.Present || in.State == vrrp.StateInit:
					// INIT: starting (adopting a predecessor's VIPs)
					// or stopping.
				case a.Owned:
					bad("VIP %s still on %s while %s (%s): releasing it again", a.Prefix, in.Interface, in.State, in.Name)
				case a.Marked:
					bad("VIP %s on %s while %s (%s), with rmqlb's marker but not added by this daemon (left by an earlier run?): it answers ARP beside the master; remove it", a.Prefix, in.Interface, in.State, in.Name)
				case a.Marker == netsetup.MarkerBookkeeping:
					bad("VIP %s on %s while %s (%s), which this kernel cannot mark (left by an earlier run of rmqlb, or added by another program): it answers ARP beside the master; remove it", a.Prefix, in.Interface, in.State, in.Name)
				default:
					bad("VIP %s on %s while %s (%s), added by another program: it answers ARP beside the master; remove it", a.Prefix, in.Interface, in.State, in.Name)
				}
			}
		}
	}
	var listeners []string
	for _, l := range s.Listeners {
		listeners = append(listeners, listenerSummary(l, len(s.Listeners) > 1))
		if !l.Listening && s.Stopping == nil {
			bad("listener %s not listening on %s", l.Name, l.Bind)
		}
		// No backend takes new clients: each drained (also by weight 0)
		// or in maintenance; or none serves while some are DOWN or loop
		// back (their own reasons follow, below).
		switch {
		case len(l.Backends) == 0:
		case !slices.ContainsFunc(l.Backends, func(b balancer.BackendSnapshot) bool {
			return (b.State == backend.Up || b.State == backend.Down || b.State == backend.Degraded) && b.Weight > 0
		}):
			bad("listener %s: every backend is DRAIN, MAINT or at weight 0, no client can be served", l.Name)
		case !slices.ContainsFunc(l.Backends, serves):
			// Some are DOWN or loop back, the others the operator's: the
			// backends' own reasons follow, this says what clients see.
			bad("listener %s: no backend serves (%s): new clients are closed at once", l.Name, strings.Join(notServing(l), ", "))
		}
		if b, full := servingBackups(l); len(b) > 0 && full != "" {
			bad("listener %s: every active backend that serves is %s: new clients go to backup %s", l.Name, full, strings.Join(b, ", "))
		} else if len(b) > 0 {
			bad("listener %s: no active backend serves: new clients go to backup %s", l.Name, strings.Join(b, ", "))
		}
		switch full := fullBackends(l); {
		case l.MaxConn > 0 && l.Active >= l.MaxConn:
			bad("listener %s holds %d clients, its maxconn: new clients are refused until one leaves; raise maxconn (and LimitNOFILE)", l.Name, l.Active)
		case len(full) > 0 && !slices.ContainsFunc(l.Backends, takesClients):
			bad("listener %s: every backend that serves is at its maxconn (%s): new clients are refused until a session ends; raise the backends' maxconn or add a broker",
				l.Name, strings.Join(full, ", "))
		case !slices.ContainsFunc(l.Backends, takesClients) && slices.ContainsFunc(l.Backends, func(b balancer.BackendSnapshot) bool { return b.BrokerFull }):
			bad("listener %s: the broker of every backend that serves is at its connection limit: new clients are sent to them anyway and refused by the brokers until connections end; find what holds them (rmqlb clients %s) or raise the brokers' connection_max",
				l.Name, l.Name)
		}
		if why := clientsAtLimit(l); why != "" {
			bad("%s", why)
		}
		cluster, agree := listenerCluster(s, l.Name)
		for _, b := range l.Backends {
			if b.LoopsBack {
				bad("backend %s: its address %s is this host's own, where listener %s listens (bind %s): not used, as the proxy would connect to itself; give it a broker's address and reload",
					backend.ID{Listener: l.Name, Name: b.Name}, b.Address, l.Name, l.Bind)
			}
			if c := clusterOf(s, l.Name, b.Name); agree > 0 && c != "" && c != cluster && b.State.Serving() {
				bad("backend %s in another cluster: its broker names cluster %q where %d other backends of listener %s name %q (reset, or never joined?): its clients find none of the cluster's queues and messages; set check: {cluster: %s} to take it out",
					backend.ID{Listener: l.Name, Name: b.Name}, c, agree, l.Name, cluster, cluster)
			}
			id := backend.ID{Listener: l.Name, Name: b.Name}
			c, checked := checkOf(s, id)
			n, last, flaps := flapping(c, s.Now)
			flaps = checked && flaps
			switch {
			case b.State == backend.Down || b.State == backend.Degraded:
				why := oneLine(backendReason(s, id, b))
				if peers := c.RefusedAlone; b.State == backend.Degraded && c.LastRefused && len(peers) > 0 {
					why += fmt.Sprintf("; refused by this node alone: the same login passed on %s since, so the fault is the node's own (an authentication backend or loopback_users of its own, a vhost down on it, its connection limit), and clients it takes may be refused too; on_login_refused: down-if-alone takes such a node out", strings.Join(peers, ", "))
				}
				if flaps {
					why += fmt.Sprintf("; its checks took it DOWN %s in the last %s: it flaps", times(n, healthcheck.RecentDownsKept), flapWindow)
				}
				bad("backend %s %s (%s)", id, b.State, why)
			case flaps && b.State != backend.Maint:
				bad("backend %s flaps: its checks took it DOWN %s in the last %s, the last %s ago (last failure: %s): each DOWN closes its sessions (unless on_marked_down keeps them) and its clients reconnect; find why its checks fail (rmqlb status --verbose lists its latest changes)",
					id, times(n, healthcheck.RecentDownsKept), flapWindow, age(s.Now, last), oneLine(c.LastError))
			}
		}
	}
	for _, c := range s.Checks {
		if !c.InconclusiveSince.IsZero() {
			bad("checks of %s cannot be made on this host for %s (%s): its state %s is kept, not known", c.Backend, age(s.Now, c.InconclusiveSince), oneLine(c.LastInconclusive), c.State)
		}
	}
	if o := s.OpenFiles; o.nearlyOut() {
		bad("%d open files of the limit %d: once they run out new clients are refused (fd_limit) and checks cannot be made; raise LimitNOFILE or lower maxconn", o.Open, o.Limit)
	}
	if len(listeners) > 0 {
		parts = append(parts, strings.Join(listeners, ", "))
	}
	if len(parts) == 0 {
		parts = append(parts, "no VRRP instance, no listener")
	}
	v.Summary = strings.Join(parts, "; ")
	v.Degraded = len(v.Reasons) > 0
	return v
}

// servingBackups names the backup backends of l that take its new clients
// because none of its active backends can (none serves: UP or DEGRADED at
// a weight above 0, not looping back; or each that serves is at its
// maxconn or its broker at its connection limit, which full then says:
// "at its maxconn", "at its broker's connection limit" or both): the first
// one that takes clients, or every one with all_backups. None while an
// active backend takes clients.
func servingBackups(l balancer.Snapshot) (names []string, full string) {
	if slices.ContainsFunc(l.Backends, func(b balancer.BackendSnapshot) bool { return !b.Backup && takesClients(b) }) {
		return nil, ""
	}
	maxconn := slices.ContainsFunc(l.Backends, func(b balancer.BackendSnapshot) bool { return !b.Backup && b.Full })
	brokerFull := slices.ContainsFunc(l.Backends, func(b balancer.BackendSnapshot) bool { return !b.Backup && b.BrokerFull })
	switch {
	case maxconn && brokerFull:
		full = "at its maxconn or its broker's connection limit"
	case maxconn:
		full = "at its maxconn"
	case brokerFull:
		full = "at its broker's connection limit"
	}
	for _, b := range l.Backends {
		if b.Backup && takesClients(b) {
			names = append(names, b.Name)
			if !l.AllBackups {
				break
			}
		}
	}
	return names, full
}

// serves reports whether b is in rotation: UP or DEGRADED at a weight
// above 0, and not looping back.
func serves(b balancer.BackendSnapshot) bool {
	return b.State.Serving() && b.Weight > 0 && !b.LoopsBack
}

// takesClients reports whether b takes a new client now: it serves, is
// not at its maxconn and its broker not at its connection limit.
func takesClients(b balancer.BackendSnapshot) bool { return serves(b) && !b.Full && !b.BrokerFull }

// notServing names each backend of l with why it is out of rotation:
// "rmq1 DOWN", "rmq2 DRAIN", "rmq3 at weight 0", "rmq4 LOOP".
func notServing(l balancer.Snapshot) []string {
	var out []string
	for _, b := range l.Backends {
		switch {
		case b.LoopsBack:
			out = append(out, b.Name+" LOOP")
		case !b.State.Serving():
			out = append(out, fmt.Sprintf("%s %s", b.Name, b.State))
		case b.Weight == 0:
			out = append(out, b.Name+" at weight 0")
		}
	}
	return out
}

// listenerCluster returns the RabbitMQ cluster that most backends of
// listener name name in their last checks, and how many do, when at least
// two do and no other cluster is named as often; else "" and 0. Left
// unnamed by `rabbitmqctl set_cluster_name`, each node names a cluster of
// its own, and none is returned.
func listenerCluster(s Status, name string) (string, int) {
	n := map[string]int{}
	for _, c := range s.Checks {
		if c.Backend.Listener == name && c.Cluster != "" {
			n[c.Cluster]++
		}
	}
	best, count, tie := "", 0, false
	for c, k := range n {
		switch {
		case k > count:
			best, count, tie = c, k, false
		case k == count:
			tie = true
		}
	}
	if count < 2 || tie {
		return "", 0
	}
	return best, count
}

// clusterOf returns the cluster the last check of backend listener/name
// heard its broker name; "" when unknown.
func clusterOf(s Status, listener, name string) string {
	c, _ := checkOf(s, backend.ID{Listener: listener, Name: name})
	return c.Cluster
}

// checkOf returns the status of the checks of backend id; false when it
// has none.
func checkOf(s Status, id backend.ID) (healthcheck.BackendStatus, bool) {
	for _, c := range s.Checks {
		if c.Backend == id {
			return c, true
		}
	}
	return healthcheck.BackendStatus{}, false
}

// fullBackends names the backends of l that serve but are at their
// maxconn, with their session counts: "rmq1 (100)".
func fullBackends(l balancer.Snapshot) []string {
	var names []string
	for _, b := range l.Backends {
		if b.Full {
			names = append(names, fmt.Sprintf("%s (%d)", b.Name, b.Active))
		}
	}
	return names
}

// instanceSummary describes one VRRP instance in a few words, naming its
// release (rmqlb vrrp release) beside its name.
func instanceSummary(in VRRP) string {
	name := in.Name
	if in.Released {
		name += ", released"
	}
	switch in.State {
	case vrrp.StateMaster:
		return fmt.Sprintf("MASTER of %s (%s)", prefixAddrs(in.VIPs), name)
	case vrrp.StateBackup:
		if m := in.Master; m != nil {
			return fmt.Sprintf("BACKUP (%s), master %s priority %d", name, m.Addr, m.Priority)
		}
		return fmt.Sprintf("BACKUP (%s), no master heard", name)
	default:
		return fmt.Sprintf("%s (%s)", in.State, name)
	}
}

// listenerSummary counts a listener's backends that are UP at a weight
// above 0 (those that take new connections without a warning), and names
// the operator's states and the UP ones at weight 0, which take none, and
// those at their maxconn or whose broker is at its connection limit: "2/3
// backends up (1 DRAIN)", "1/3 backends up (2 at weight 0)", "3/3 backends
// up (1 at maxconn)", "2/3 backends up (1 broker at its connection
// limit)"; named says whose.
func listenerSummary(l balancer.Snapshot, named bool) string {
	up, zero := 0, 0
	var others []string
	for _, st := range []backend.State{backend.Drain, backend.Maint} {
		n := 0
		for _, b := range l.Backends {
			if b.State == st {
				n++
			}
		}
		if n > 0 {
			others = append(others, fmt.Sprintf("%d %s", n, st))
		}
	}
	loops, full, brokerFull := 0, 0, 0
	for _, b := range l.Backends {
		if b.Full {
			full++
		}
		if b.BrokerFull {
			brokerFull++
		}
		switch {
		case b.LoopsBack:
			loops++
		case b.State != backend.Up:
		case b.Weight > 0:
			up++
		default:
			zero++
		}
	}
	if zero > 0 {
		others = append(others, fmt.Sprintf("%d at weight 0", zero))
	}
	if loops > 0 {
		others = append(others, fmt.Sprintf("%d looping back", loops))
	}
	if full > 0 {
		others = append(others, fmt.Sprintf("%d at maxconn", full))
	}
	switch {
	case brokerFull == 1:
		others = append(others, "1 broker at its connection limit")
	case brokerFull > 1:
		others = append(others, fmt.Sprintf("%d brokers at their connection limit", brokerFull))
	}
	out := fmt.Sprintf("%d/%d backends up", up, len(l.Backends))
	if len(others) > 0 {
		out += " (" + strings.Join(others, ", ") + ")"
	}
	if named {
		out = l.Name + " " + out
	}
	return out
}

// absentVIPs returns the VIPs of in that its VIP set does not report
// present on the interface.
func absentVIPs(in VRRP) []string {
	present := map[string]bool{}
	for _, a := range in.Addresses.VIPs {
		present[a.Prefix.String()] = a.Present
	}
	var out []string
	for _, p := range in.VIPs {
		if !present[p.String()] {
			out = append(out, p.String())
		}
	}
	return out
}

// backendReason is why backend id is in its state: its check's reason
// when it has a check, else the listener's last change.
func backendReason(s Status, id backend.ID, b balancer.BackendSnapshot) string {
	if c, ok := checkOf(s, id); ok && c.Reason != "" {
		return checkReason(c)
	}
	return b.LastChangeReason
}

// clientsAtLimit says which client addresses of l hold its
// maxconn_per_client now, so that their new connections are refused: ""
// when none does.
func clientsAtLimit(l balancer.Snapshot) string {
	if l.MaxConnPerClient <= 0 || l.ClientsAtLimit == 0 {
		return ""
	}
	var named []balancer.ClientSnapshot
	for _, c := range l.BusiestClients {
		if c.Sessions >= l.MaxConnPerClient {
			named = append(named, c)
		}
	}
	var who string
	switch {
	case len(named) == 1 && l.ClientsAtLimit == 1:
		who = fmt.Sprintf("client %s holds %d connections (maxconn_per_client: %d)", named[0].Address, named[0].Sessions, l.MaxConnPerClient)
	case len(named) == 0: // a status that lists none
		who = fmt.Sprintf("%d clients are at maxconn_per_client (%d)", l.ClientsAtLimit, l.MaxConnPerClient)
	default:
		var each []string
		for _, c := range named {
			each = append(each, fmt.Sprintf("%s (%d)", c.Address, c.Sessions))
		}
		who = "clients " + strings.Join(each, ", ")
		if more := l.ClientsAtLimit - len(named); more > 0 {
			who += fmt.Sprintf(" and %d more", more)
		}
		who += fmt.Sprintf(" are at maxconn_per_client (%d)", l.MaxConnPerClient)
	}
	return fmt.Sprintf("listener %s: %s: new connections from there are refused until one ends (%d refused so far); "+
		"find the application that opens them (a connection leak?) with rmqlb sessions --client ADDRESS %s (rmqlb clients lists every address), or raise maxconn_per_client",
		l.Name, who, l.RefusedPerClient, l.Name)
}

// addrList is addrs as "a, b" ("none" when empty).
func addrList(addrs []netip.Addr) string {
	if len(addrs) == 0 {
		return "none"
	}
	var parts []string
	for _, a := range addrs {
		parts = append(parts, a.String())
	}
	return strings.Join(parts, ", ")
}

// prefixAddrs is the addresses of vips as "a, b" ("" when empty).
func prefixAddrs(vips []netip.Prefix) string {
	addrs := make([]string, len(vips))
	for i, p := range vips {
		addrs[i] = p.Addr().String()
	}
	return strings.Join(addrs, ", ")
}

// sharedAddrs is the addresses of addrs among vips, as "a, b".
func sharedAddrs(addrs []netip.Addr, vips []netip.Prefix) string {
	var shared []netip.Addr
	for _, a := range addrs {
		if slices.ContainsFunc(vips, func(p netip.Prefix) bool { return p.Addr() == a.Unmap() }) {
			shared = append(shared, a)
		}
	}
	return addrList(shared)
}
