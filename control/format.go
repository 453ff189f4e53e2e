package control

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/notify"
	"github.com/rmqlb/rmqlb/vrrp"
)

// FormatOptions say how Format writes a Status. The zero value writes
// plain text without the persistence entries.
type FormatOptions struct {
	// Color paints states with ANSI colours: red for DOWN, FAULT, absent
	// VIPs and faults, yellow for DEGRADED, DRAIN, MAINT and failing
	// tracks, green for UP, MASTER and a healthy verdict. The caller
	// decides (a terminal, and NO_COLOR not set).
	Color bool
	// Verbose lists each VRRP instance's latest state changes
	// (vrrp.Snapshot.RecentTransitions) under the VRRP tables, each
	// listener's busiest client addresses, its backends' ended sessions
	// by reason (balancer.BackendSnapshot.Ended) and its persistence
	// entries (those in balancer.Snapshot.Sticky) under its backends, and
	// under the checks what each check's server answered of itself
	// (healthcheck.BackendStatus.LastInfo) and each checked backend's
	// latest state changes (healthcheck.BackendStatus.History).
	Verbose bool
}

// Format writes s for a human: the verdict of Assess in one line (and,
// when degraded, the state in a second one), then one table per part: the
// VRRP instances, their VIPs as they are on the interface now, each
// listener with its backends, the checks, with the reasons of the last
// changes.
func Format(w io.Writer, s Status, o FormatOptions) error {
	p := &page{color: o.Color}
	now := s.Now
	if now.IsZero() {
		now = time.Now()
	}
	v := VerdictOf(s)
	if v.Degraded {
		p.println(paint("DEGRADED", red), txt(strings.TrimPrefix(v.Line(), "DEGRADED")))
		p.printf(v.Summary)
	} else {
		p.println(paint(v.Line(), green))
	}
	p.printf("")
	head := fmt.Sprintf("rmqlb %s  pid %d  up %s  config %s", s.Version, s.PID, age(now, s.Started), s.Config)
	if o := s.OpenFiles; o != nil {
		head += fmt.Sprintf("  open files %d of %d", o.Open, o.Limit)
	}
	p.printf(head)
	if pp := s.Previous; pp != nil {
		formatPrevious(p, now, pp)
	}
	if c := s.ConfigChange; c != nil {
		formatConfigChange(p, now, s.Config, c)
	}
	if f := s.StateFile; f != nil {
		formatStateFile(p, now, f)
	}
	for _, w := range s.ConfigWarnings {
		p.println(paint("config warning", yellow), txt(": "+oneLine(w)))
	}
	if r := s.Reload; r != nil {
		formatReload(p, now, r)
	}
	if len(s.VRRP) > 0 {
		formatVRRP(p, now, s.VRRP)
		if o.Verbose {
			formatVRRPHistory(p, now, s.VRRP)
		}
	}
	for _, l := range s.Listeners {
		formatListener(p, now, s, l, o.Verbose)
	}
	if len(s.Checks) > 0 {
		p.printf("")
		tb := p.table("CHECK", "STATE", "FOR", "LAST", "LATENCY", "OK/FAIL", "DOWNS", "CLUSTER", "REASON")
		for _, c := range s.Checks {
			last := "never"
			if !c.LastCheck.IsZero() {
				last = age(now, c.LastCheck) + " ago"
			}
			reason := checkReason(c)
			if c.LastWarning != "" {
				reason += " [" + c.LastWarning + "]"
			}
			if !c.BusySince.IsZero() {
				reason += " [busy for " + age(now, c.BusySince) + ": checks time out while it sends to its clients]"
			}
			if !c.InconclusiveSince.IsZero() {
				reason += " [checks inconclusive for " + age(now, c.InconclusiveSince) + ": " + c.LastInconclusive + "; state kept]"
			}
			cluster := txt(orDash(c.Cluster))
			if agreed, _ := listenerCluster(s, c.Backend.Listener); agreed != "" && c.Cluster != "" && c.Cluster != agreed {
				cluster = paint(c.Cluster+" (others: "+agreed+")", red)
			}
			tb.row(txt(c.Backend.String()), backendState(c.State), txt(age(now, c.Since)), txt(last),
				txt(c.LastLatency.Round(time.Microsecond).String()),
				txt(fmt.Sprintf("%d/%d", c.ConsecutivePasses, c.ConsecutiveFailures)), checkDowns(c, now), cluster, txt(oneLine(reason)))
		}
	}
	formatCertificates(p, now, s.Checks, o.Verbose)
	if o.Verbose {
		formatCheckAnswers(p, s.Checks)
		formatCheckHistory(p, now, s.Checks)
	}
	return p.write(w)
}

// vrrpTransitions is the TRANSITIONS cell of an instance: its state
// changes, with those of the last flapWindow beside ("7 (5 in 10m)"), red
// when it flaps.
func vrrpTransitions(in VRRP, now time.Time) text {
	n, flaps := vrrpFlapping(in, now)
	return flapCell(in.Counters.Transitions, n, vrrp.RecentTransitionsKept, flaps)
}

// flapCell is a table's cell of events that make something flap: all of
// them since the start, with the n of the last flapWindow beside ("4 (3 in
// 10m)"; "8+" when all kept are, since older ones were not kept), red when
// it flaps.
func flapCell(total uint64, n, kept int, flaps bool) text {
	v := fmt.Sprint(total)
	if n > 0 {
		recent := fmt.Sprint(n)
		if n >= kept {
			recent += "+"
		}
		v += fmt.Sprintf(" (%s in %s)", recent, strings.TrimSuffix(flapWindow.String(), "0s"))
	}
	if flaps {
		return paint(v, red)
	}
	return txt(v)
}

// formatVRRPHistory lists the latest state changes of each VRRP instance
// (vrrp.Snapshot.RecentTransitions), oldest first, with why each happened:
// an instance that flaps shows what moved its VIPs each time.
func formatVRRPHistory(p *page, now time.Time, ins []VRRP) {
	if !slices.ContainsFunc(ins, func(in VRRP) bool { return len(in.RecentTransitions) > 0 }) {
		return
	}
	p.printf("")
	tb := p.table("VRRP HISTORY", "AT", "FROM", "TO", "REASON")
	for _, in := range ins {
		for _, c := range in.RecentTransitions {
			tb.row(txt(in.Name), txt(age(now, c.At)+" ago"), txt(c.From.String()), vrrpState(c.To), txt(oneLine(c.Reason)))
		}
	}
}

// formatCheckAnswers lists what the server of each check answered of
// itself at its last check (healthcheck.BackendStatus.LastInfo): the
// broker's version and cluster, the protocol's answer ("STOMP CONNECTED
// 1.2 (RabbitMQ/3.10.8)"), which tells which check each backend gets and
// what it reached.
func formatCheckAnswers(p *page, checks []healthcheck.BackendStatus) {
	if !slices.ContainsFunc(checks, func(c healthcheck.BackendStatus) bool { return c.LastInfo != "" }) {
		return
	}
	p.printf("")
	tb := p.table("CHECK ANSWER", "SERVER")
	for _, c := range checks {
		if c.LastInfo != "" {
			tb.row(txt(c.Backend.String()), txt(oneLine(c.LastInfo)))
		}
	}
}

// formatCheckHistory lists the latest state changes of each checked
// backend (healthcheck.BackendStatus.History), oldest first, with why each
// happened: a backend that flaps shows the failures that took it DOWN.
func formatCheckHistory(p *page, now time.Time, checks []healthcheck.BackendStatus) {
	if !slices.ContainsFunc(checks, func(c healthcheck.BackendStatus) bool { return len(c.History) > 0 }) {
		return
	}
	p.printf("")
	tb := p.table("CHECK HISTORY", "AT", "FROM", "TO", "REASON")
	for _, c := range checks {
		for _, h := range c.History {
			tb.row(txt(c.Backend.String()), txt(age(now, h.Time)+" ago"), txt(h.From.String()), backendState(h.To), txt(oneLine(h.Reason)))
		}
	}
}

// checkDowns is the DOWNS cell of a check: how many times its checks took
// the backend DOWN, with those of the last flapWindow beside ("4 (3 in
// 10m)"), red when it flaps.
func checkDowns(c healthcheck.BackendStatus, now time.Time) text {
	n, _, flaps := flapping(c, now)
	return flapCell(c.Downs, n, healthcheck.RecentDownsKept, flaps)
}

// checkReason is why a check's backend is in its state: the reason of its
// last change and, while it keeps failing for another reason than the one
// that made it change (a frozen broker thawed that now refuses the
// check's user), the error of its last failure.
func checkReason(c healthcheck.BackendStatus) string {
	if c.ConsecutiveFailures > 0 && c.LastError != "" && !strings.Contains(c.Reason, c.LastError) {
		return c.Reason + " [last failure: " + c.LastError + "]"
	}
	return c.Reason
}

// formatConfigChange says that the file at path, or a file it names, is
// not what the daemon runs on.
func formatConfigChange(p *page, now time.Time, path string, c *ConfigChange) {
	if c.File != "" {
		if c.Error != "" {
			p.println(paint("file of the config unreadable", yellow), txt(fmt.Sprintf(": %s (%s): %s (the daemon runs on what it read)", c.File, c.Field, oneLine(c.Error))))
			return
		}
		p.println(paint("file of the config changed", yellow), txt(fmt.Sprintf(": %s (%s) %s ago and not loaded: check it (rmqlb check-config --config %s), see what a reload would do (rmqlb reload --dry-run) and apply it (rmqlb reload)",
			c.File, c.Field, age(now, c.Modified), path)))
		return
	}
	if c.Error != "" {
		p.println(paint("config file unreadable", yellow), txt(": "+oneLine(c.Error)+" (the daemon runs on the configuration it loaded)"))
		return
	}
	p.println(paint("config file changed", yellow), txt(fmt.Sprintf(" %s ago and not loaded: check it (rmqlb check-config --config %s), see what a reload would do (rmqlb reload --dry-run) and apply it (rmqlb reload)",
		age(now, c.Modified), path)))
}

// formatStateFile says that the daemon cannot write its state file, or
// could not read it at start.
func formatStateFile(p *page, now time.Time, f *StateFileError) {
	if f.Op == StateFileRead {
		p.println(paint("state file not restored", yellow), txt(fmt.Sprintf(" at start, %s ago (%s: %s): the operator's states of the last run (drain, maint, weights, VRRP releases) were not applied; set them again, and the next operator command or reload writes the file anew",
			age(now, f.Since), f.Path, oneLine(f.Error))))
		return
	}
	p.println(paint("state file not written", yellow), txt(fmt.Sprintf(" for %s (%s: %s): a restart would bring back the operator's states of before then; once it can be written, the next operator command or reload writes it",
		age(now, f.Since), f.Path, oneLine(f.Error))))
}

func formatReload(p *page, now time.Time, r *Reload) {
	ago := age(now, r.At)
	switch {
	case r.Error != "":
		p.println(txt("last reload "+ago+" ago "), paint("REFUSED", red), txt(": "+oneLine(r.Error)))
	default:
		l := line{txt("last reload " + ago + " ago: nothing changed")}
		if len(r.Applied) > 0 {
			l = line{txt("last reload " + ago + " ago: applied " + strings.Join(r.Applied, ", "))}
		}
		if len(r.Refused) > 0 {
			l = append(l, txt("; "), paint("refused", red), txt(": "+strings.Join(r.Refused, ", ")))
		}
		if len(r.Pending) > 0 {
			l = append(l, txt("; needs restart: "+strings.Join(r.Pending, ", ")))
		}
		p.println(l...)
	}
}

func formatVRRP(p *page, now time.Time, ins []VRRP) {
	p.printf("")
	p.printf("VRRP")
	tb := p.table("INSTANCE", "IF", "VRID", "VER", "STATE", "FOR", "PRIO (CONF/EFF)", "MASTER HEARD", "VIPS", "REASON")
	for _, v := range ins {
		master := "-"
		if m := v.Master; m != nil {
			master = fmt.Sprintf("%s prio %d, %s ago", m.Addr, m.Priority, age(now, m.Heard))
		}
		vipsCell := txt(vips(v))
		if v.State == vrrp.StateMaster && len(absentVIPs(v)) > 0 {
			vipsCell.c = red
		}
		tb.row(txt(v.Name), txt(v.Interface), txt(fmt.Sprint(v.VRID)), txt(fmt.Sprintf("v%d", v.Version)),
			vrrpState(v.State), txt(age(now, v.Since)),
			txt(fmt.Sprintf("%d/%d", v.ConfiguredPriority, v.EffectivePriority)), txt(master), vipsCell, txt(v.Reason))
	}
	p.printf("")
	tb = p.table("ADVERTS", "SENT", "RECEIVED", "DROPPED", "SEND ERRORS", "OWNER ERRORS", "OWNER FAULTS", "TRANSITIONS", "SENT BY")
	for _, v := range ins {
		c := v.Counters
		tb.row(txt(v.Name), txt(fmt.Sprint(c.AdvertsSent)), txt(fmt.Sprint(c.AdvertsReceived)), txt(drops(c.Dropped)),
			txt(fmt.Sprint(c.SendErrors)), txt(fmt.Sprint(c.OwnerErrors)), txt(fmt.Sprint(c.OwnerFaults)),
			vrrpTransitions(v, now), sentBy(v))
	}
	p.printf("")
	tb = p.table("VIP", "INSTANCE", "IF", "PRESENT", "MARKER", "READDED", "GARP SENT", "LAST GARP", "LAST ERROR")
	for _, v := range ins {
		for _, a := range v.Addresses.VIPs {
			present := txt("yes")
			switch {
			case !a.Present && v.State == vrrp.StateMaster:
				present = paint("ABSENT", red)
			case !a.Present:
				present = txt("no")
			case !a.Marked:
				present = paint("yes, unmarked", yellow)
			}
			last := "-"
			if !a.LastGARP.IsZero() {
				last = age(now, a.LastGARP) + " ago"
			}
			lastErr := txt(orDash(oneLine(a.LastError)))
			if a.LastError != "" {
				lastErr.c = red
			}
			tb.row(txt(a.Prefix.String()), txt(v.Name), txt(v.Addresses.Interface), present, txt(orDash(string(a.Marker))),
				txt(fmt.Sprint(a.Readded)), txt(fmt.Sprint(a.GARPSent)), txt(last), lastErr)
		}
	}
	for _, v := range ins {
		if v.OwnerFault != "" {
			p.println(paint("owner fault", red), txt(fmt.Sprintf(" %s: %s", v.Name, oneLine(v.OwnerFault))))
		}
		if r := v.Refused; r != nil {
			what := txt("refused adverts")
			if now.Sub(r.At) < refusedRecent(v, r) {
				what = paint("refused adverts", red)
			}
			p.println(what, txt(fmt.Sprintf(" %s: VRID %d from %s priority %d (%s), last %s ago, %d since start",
				v.Name, v.VRID, r.From, r.Priority, r.Reason, age(now, r.At), r.Count)))
		}
		if d := v.Differing; d != nil {
			what := txt("differing VIPs")
			if now.Sub(d.At) < differingRecent(v) {
				what = paint("differing VIPs", yellow)
			}
			p.println(what, txt(fmt.Sprintf(" %s: adverts of VRID %d from %s priority %d list %s (here %s), accepted, since %s ago, last %s ago, %d since start",
				v.Name, v.VRID, d.From, d.Priority, addrList(d.Addrs), prefixAddrs(v.VIPs), age(now, d.Since), age(now, d.At), d.Count)))
		}
		if c := v.Conflict; c != nil {
			what := txt("VIP conflict")
			if now.Sub(c.At) < conflictRecent {
				what = paint("VIP conflict", red)
			}
			p.println(what, txt(fmt.Sprintf(" %s: %s announced by %s while MASTER, last %s ago, %d since start",
				v.Name, c.Addr, conflictHost(v, c), age(now, c.At), c.Count)))
		}
		if lm := v.LowerMaster; lm != nil {
			what := txt("lower-priority master")
			if now.Sub(lm.At) < lowerMasterRecent {
				what = paint("lower-priority master", yellow)
			}
			settled := "this host answered and kept the VIPs"
			switch f := v.SendFailing; {
			case f != nil && !f.At.Before(lm.At):
				settled = "this host kept the VIPs, and its answers could not be sent (adverts failing, below): both hold them"
			case lowerMasterKept(v, now):
				what = paint("lower-priority master", red)
				settled = fmt.Sprintf("it has kept on for %s, not hearing this host's answers either: both hold the VIPs", age(lm.At, lm.Since))
			}
			p.println(what, txt(fmt.Sprintf(" %s: %s priority %d advertised as MASTER while this host was MASTER, last %s ago, %d since start: it did not hear this host's adverts; %s",
				v.Name, lm.From, lm.Priority, age(now, lm.At), lm.Count, settled)))
		}
		if f := v.SendFailing; f != nil {
			what := txt("adverts failing")
			if now.Sub(f.At) < sendFailRecent(v) {
				what = paint("adverts failing", red)
			}
			p.println(what, txt(fmt.Sprintf(" %s: to %s: %s, %d since %s ago, the last %s ago: the routers there do not hear this host",
				v.Name, f.Dst, oneLine(f.Error), f.Failed, age(now, f.Since), age(now, f.At))))
		}
		if f := v.Addresses.Fault; f != "" {
			p.println(paint("VIP fault", red), txt(fmt.Sprintf(" %s: %s (%d since start)", v.Name, oneLine(f), v.Addresses.Faults)))
		}
		if e := v.Addresses.Error; e != "" {
			p.println(paint("VIP read error", red), txt(fmt.Sprintf(" %s: %s", v.Name, oneLine(e))))
		}
		for _, tr := range v.Tracks {
			state := txt("ok")
			if tr.Failing {
				state = paint("FAILING", yellow)
			}
			p.println(txt(fmt.Sprintf("track %s: %s weight %+d ", v.Name, tr.Rule, tr.Weight)), state)
		}
		if v.Notify != nil {
			p.println(txt(fmt.Sprintf("notify %s: %s", v.Name, hooks(now, v.Notify))))
		}
		formatRelease(p, now, v)
	}
}

// lowerMasterRecent is how long after the last lower-priority master
// heard its line is marked: a split brain that ended, shown for on-call
// who look after the alert of the backup's transitions.
const lowerMasterRecent = 10 * time.Minute

func formatListener(p *page, now time.Time, s Status, l balancer.Snapshot, verbose bool) {
	listening := txt("listening")
	switch {
	case !l.Listening && s.Stopping != nil:
		listening = paint("stopped accepting", yellow)
	case !l.Listening:
		listening = paint("NOT LISTENING", red)
	}
	p.printf("")
	p.println(txt(fmt.Sprintf("LISTENER %s on %s (%s), ", l.Name, l.Bind, l.Policy)), listening,
		txt(fmt.Sprintf(": %s active, %d total, %d refused (maxconn)%s%s, %d refused (fd limit), %d failed (no backend)%s",
			ofMax(l.Active, l.MaxConn), l.Total, l.Refused, refusedPerClient(l), refusedByLists(l), l.RefusedFdLimit, l.NoBackend, refusedLocal(l.RefusedLocal))))
	p.printf(fmt.Sprintf("timeouts: %d handshake, %d FIN, %d idle; sticky entries: %d%s",
		l.HandshakeTimeouts, l.FinTimeouts, l.IdleTimeouts, l.StickyEntries, stickyRoom(l)))
	if verbose && len(l.AllowedClients) > 0 {
		p.printf("allowed clients: " + clientList(l.AllowedClients, s.clientListFile(l.Name, "allowed_clients_file")))
	}
	if verbose && len(l.DeniedClients) > 0 {
		p.printf("denied clients: " + clientList(l.DeniedClients, s.clientListFile(l.Name, "denied_clients_file")))
	}
	formatNotAllowed(p, l)
	formatClients(p, l, verbose)
	formatMoves(p, now, s, l.Name)
	formatRebalances(p, now, s, l.Name)
	tb := p.table("BACKEND", "ADDRESS", "STATE", "CHECK", "WEIGHT", "ACTIVE", "TOTAL", "CONN FAIL", "IN", "OUT", "LAST CHANGE")
	for _, b := range l.Backends {
		check := txt("-")
		if c, ok := checkOf(s, backend.ID{Listener: l.Name, Name: b.Name}); ok {
			check = backendState(c.Health)
		}
		change := "-"
		if !b.LastChange.IsZero() {
			change = fmt.Sprintf("%s ago: %s", age(now, b.LastChange), b.LastChangeReason)
		}
		state := backendState(b.State)
		if b.LoopsBack {
			state = paint("LOOP", red)
			change = "its address is this listener's own: not used until a reload"
		}
		name := b.Name
		if b.Backup {
			name += " (backup)"
		}
		active := txt(ofMax(int64(b.Active), int64(b.MaxConn)))
		switch {
		case b.Full:
			active = paint(active.s+" FULL", yellow)
		case b.BrokerFull:
			active = paint(active.s+" BROKER FULL", yellow)
		}
		tb.row(txt(name), txt(b.Address.String()), state, check, weight(b),
			active, txt(fmt.Sprint(b.Total)), txt(fmt.Sprint(b.ConnectFailures)),
			txt(size(b.BytesIn)), txt(size(b.BytesOut)), txt(oneLine(change)))
	}
	if len(l.Removed) > 0 {
		tb = p.table("REMOVED BACKEND", "ADDRESS", "ACTIVE", "IN", "OUT", "REMOVED")
		for _, b := range l.Removed {
			tb.row(txt(b.Name), txt(b.Address.String()), txt(fmt.Sprint(b.Active)), txt(size(b.BytesIn)), txt(size(b.BytesOut)),
				txt(age(now, b.RemovedAt)+" ago by a reload, sessions kept"))
		}
	}
	if verbose {
		formatEnded(p, l)
	}
	if !verbose || l.StickyEntries == 0 {
		return
	}
	tb = p.table("STICKY CLIENT", "BACKEND", "SESSIONS", "EXPIRES")
	for _, e := range l.Sticky {
		expires := "-"
		switch {
		case e.Expires.IsZero():
		case e.Expires.After(now):
			expires = "in " + age(e.Expires, now)
		default:
			expires = age(now, e.Expires) + " ago"
		}
		tb.row(txt(e.Client.String()), txt(orDash(e.Backend)), txt(fmt.Sprint(e.Sessions)), txt(expires))
	}
	if len(l.Sticky) < l.StickyEntries {
		p.printf(fmt.Sprintf("(%d of %d sticky entries listed)", len(l.Sticky), l.StickyEntries))
	}
}

// formatEnded lists, for each backend with some, the established sessions
// that ended by why they ended, most first: broker resets stand out from
// the clients' own closes.
func formatEnded(p *page, l balancer.Snapshot) {
	var tb *table
	for _, b := range l.Backends {
		if len(b.Ended) == 0 {
			continue
		}
		reasons := slices.SortedFunc(maps.Keys(b.Ended), func(x, y string) int {
			return cmp.Or(cmp.Compare(b.Ended[y], b.Ended[x]), strings.Compare(x, y))
		})
		counts := make([]string, len(reasons))
		for i, r := range reasons {
			counts[i] = fmt.Sprintf("%d %s", b.Ended[r], r)
		}
		if tb == nil {
			tb = p.table("BACKEND", "SESSIONS ENDED, BY REASON")
		}
		tb.row(txt(b.Name), txt(strings.Join(counts, ", ")))
	}
}

// weight describes a backend's weight: the one in effect, with the share
// of it in effect during slow start and the configured one when an
// operator's weight replaces it.
func weight(b balancer.BackendSnapshot) text {
	s := fmt.Sprint(b.Weight)
	var notes []string
	if b.WeightPercent > 0 && b.WeightPercent < 100 {
		notes = append(notes, fmt.Sprintf("%d%% slow start", b.WeightPercent))
	}
	if b.WeightOverride {
		notes = append(notes, fmt.Sprintf("operator, file %d", b.ConfiguredWeight))
	}
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, "; ") + ")"
	}
	if b.WeightOverride {
		return paint(s, yellow)
	}
	return txt(s)
}

// backendState paints a backend state.
func backendState(st backend.State) text {
	switch st {
	case backend.Up:
		return paint(st.String(), green)
	case backend.Down:
		return paint(st.String(), red)
	default:
		return paint(st.String(), yellow)
	}
}

// sentBy says who sends the periodic adverts (vrrp.Snapshot.Sender):
// "daemon" without a sender process; a master that sends them itself
// although it has one is painted yellow (the process is not running, or
// stopped them).
func sentBy(v VRRP) text {
	switch {
	case v.Sender == "":
		return txt("daemon")
	case v.State == vrrp.StateMaster && !strings.HasPrefix(v.Sender, "process ("):
		return paint(oneLine(v.Sender), yellow)
	}
	return txt(oneLine(v.Sender))
}

// vrrpState paints a VRRP state.
func vrrpState(st vrrp.State) text {
	switch st {
	case vrrp.StateMaster:
		return paint(st.String(), green)
	case vrrp.StateFault:
		return paint(st.String(), red)
	default:
		return txt(st.String())
	}
}

func vips(v VRRP) string {
	absent := absentVIPs(v)
	var out []string
	for _, p := range v.VIPs {
		mark := " (on " + v.Interface + ")"
		if slices.Contains(absent, p.String()) {
			mark = " (absent)"
		}
		out = append(out, p.String()+mark)
	}
	return strings.Join(out, ", ")
}

func drops(m map[string]uint64) string {
	var total uint64
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] == 0 {
			continue
		}
		total += m[k]
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	if total == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, " "))
}

func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	default:
		return d.Round(time.Minute).String()
	}
}

func size(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// hooks describes the state of an instance's notify hooks.
func hooks(now time.Time, n *notify.Snapshot) string {
	configured := "no hooks"
	if len(n.Configured) > 0 {
		configured = strings.Join(n.Configured, " ")
	}
	out := fmt.Sprintf("%s; runs %d, failures %d, dropped %d, queued %d", configured, n.Runs, n.Failures, n.Dropped, n.Queued)
	if n.LastError != "" {
		out += fmt.Sprintf("; last failure %s ago: %s", age(now, n.LastErrorAt), oneLine(n.LastError))
	}
	return out
}

// refusedLocal is the listener line's note of clients refused for want of
// a local port or socket memory: shown only when there were any.
// stickyRoom describes the room of a listener's persistence table: its
// bound, and the clients it had no room for.
func stickyRoom(l balancer.Snapshot) string {
	var s string
	if l.StickyMax > 0 {
		s = fmt.Sprintf(" of %d", l.StickyMax)
	}
	if l.StickyFull > 0 {
		s += fmt.Sprintf(" (%d clients not pinned: table full)", l.StickyFull)
	}
	return s
}

// refusedPerClient shows the clients refused for maxconn_per_client
// where a limit is set or some were refused: ", 3 refused (per client)".
func refusedPerClient(l balancer.Snapshot) string {
	if l.MaxConnPerClient <= 0 && l.RefusedPerClient == 0 {
		return ""
	}
	return fmt.Sprintf(", %d refused (per client)", l.RefusedPerClient)
}

// refusedByLists shows the clients refused for allowed_clients and for
// denied_clients, each where the listener has the list or some were
// refused: ", 3 refused (not in allowed_clients), 1 refused (in
// denied_clients)".
func refusedByLists(l balancer.Snapshot) string {
	s := ""
	if len(l.AllowedClients) > 0 || l.RefusedNotAllowed > 0 {
		s += fmt.Sprintf(", %d refused (not in allowed_clients)", l.RefusedNotAllowed)
	}
	if len(l.DeniedClients) > 0 || l.RefusedDenied > 0 {
		s += fmt.Sprintf(", %d refused (in denied_clients)", l.RefusedDenied)
	}
	return s
}

// formatNotAllowed shows the client addresses with sessions that
// allowed_clients leaves out or denied_clients holds (kept by a reload
// that changed the lists), and how to close them.
func formatNotAllowed(p *page, l balancer.Snapshot) {
	if l.ClientsNotAllowed == 0 || len(l.NotAllowedClients) == 0 {
		return
	}
	addrs, hold := "addresses", "hold"
	if l.ClientsNotAllowed == 1 {
		addrs, hold = "address", "holds"
	}
	top := l.NotAllowedClients[0]
	lists, what := "list", "outside allowed_clients"
	switch {
	case len(l.DeniedClients) > 0 && len(l.AllowedClients) > 0:
		lists, what = "lists", "refused by allowed_clients or denied_clients"
	case len(l.DeniedClients) > 0:
		what = "in denied_clients"
	}
	p.println(paint(fmt.Sprintf("%d client %s %s", l.ClientsNotAllowed, addrs, what), yellow),
		txt(fmt.Sprintf(" %s sessions kept from before the %s changed, the busiest %s with %d: rmqlb sessions %s --not-allowed lists them, with --shutdown closes them",
			hold, lists, top.Address, top.Sessions, l.Name)))
}

// listedPrefixes is the most prefixes of a client list the status shows;
// a longer list (one copied from a list file holds thousands) is cut,
// with how many more there are.
const listedPrefixes = 16

// joinPrefixes lists prefixes as the file writes them: "10.0.0.0/8,
// 192.0.2.7/32", the first listedPrefixes of a longer list with how many
// more it has.
func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, min(len(ps), listedPrefixes))
	for i := range s {
		s[i] = ps[i].String()
	}
	if more := len(ps) - len(s); more > 0 {
		return strings.Join(s, ", ") + fmt.Sprintf(" (and %d more: rmqlb status --json lists them all)", more)
	}
	return strings.Join(s, ", ")
}

// clientList shows a listener's client list ps with the addresses of its
// file f apart, the last f.Prefixes of ps: "192.0.2.7/32; from
// /etc/rmqlb/allowed.lst: 10.1.0.0/16". Without a file (f nil), or with
// one that does not fit the list (a reload between the two reads), the
// list as one.
func clientList(ps []netip.Prefix, f *ClientListFile) string {
	if f == nil || f.Prefixes <= 0 || f.Prefixes > len(ps) {
		return joinPrefixes(ps)
	}
	n := len(ps) - f.Prefixes
	fromFile := "from " + f.Path + ": " + joinPrefixes(ps[n:])
	if n == 0 {
		return fromFile
	}
	return joinPrefixes(ps[:n]) + "; " + fromFile
}

// clientListFile returns the file of client addresses that listener's
// key field names, or nil.
func (s Status) clientListFile(listener, field string) *ClientListFile {
	for i, f := range s.ClientListFiles {
		if f.Listener == listener && f.Field == field {
			return &s.ClientListFiles[i]
		}
	}
	return nil
}

// formatClients shows how many client addresses hold sessions, and the
// busiest of them against maxconn_per_client: the one on the listener's
// line, every one listed in a table when verbose.
func formatClients(p *page, l balancer.Snapshot, verbose bool) {
	if len(l.BusiestClients) == 0 {
		return
	}
	top, addrs := l.BusiestClients[0], "addresses"
	if l.Clients == 1 {
		addrs = "address"
	}
	line := []text{txt(fmt.Sprintf("clients: %d %s, the busiest %s with %s", l.Clients, addrs,
		top.Address, ofMax(top.Sessions, l.MaxConnPerClient)))}
	if l.ClientsAtLimit > 0 {
		line = append(line, txt(" "), paint(fmt.Sprintf("(%d AT maxconn_per_client)", l.ClientsAtLimit), red))
	}
	p.println(line...)
	if !verbose {
		return
	}
	tb := p.table("BUSIEST CLIENT", "SESSIONS")
	for _, c := range l.BusiestClients {
		tb.row(txt(c.Address.String()), clientSessions(c, l.MaxConnPerClient))
	}
}

// clientSessions shows a client address's sessions against
// maxconn_per_client (limit, 0: none): "12/200", "200/200 AT LIMIT" in
// red, or "12" without a limit; "NOT ALLOWED" (yellow) after them when
// allowed_clients leaves the address out or denied_clients holds it.
func clientSessions(c balancer.ClientSnapshot, limit int64) text {
	s := ofMax(c.Sessions, limit)
	switch {
	case limit > 0 && c.Sessions >= limit && c.NotAllowed:
		return paint(s+" AT LIMIT, NOT ALLOWED", red)
	case limit > 0 && c.Sessions >= limit:
		return paint(s+" AT LIMIT", red)
	case c.NotAllowed:
		return paint(s+" NOT ALLOWED", yellow)
	}
	return txt(s)
}

func refusedLocal(n uint64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d refused (no local port, socket memory or room in epoll)", n)
}

// ofMax shows a count of sessions and the maxconn it is held to: "5/100",
// or "5" without a limit (max 0).
func ofMax(n, max int64) string {
	if max <= 0 {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%d/%d", n, max)
}
