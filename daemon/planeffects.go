package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/control"
)

// liveFacts is what a plan's description needs to know of what runs now.
// The zero value is a daemon with nothing running.
type liveFacts struct {
	// levelSettable tells whether the log level can be changed live.
	levelSettable bool
	// listeners holds the running listeners' active sessions by name;
	// a listener that does not run is absent.
	listeners map[string]int64
	// units holds the running VRRP instances, each with whether it is
	// MASTER now; released those released by the operator (rmqlb vrrp
	// release).
	units    map[string]bool
	released map[string]bool
	// applies holds, for each running listener the new file keeps,
	// what applying its new version would do to its sessions and
	// clients.
	applies map[string]balancer.ApplyEffects
	// binds holds, by name, the error a listener added or moved would
	// meet binding its address (see probeBinds); nil, or a listener
	// absent: none known.
	binds map[string]error
	// metricsBind is the error the metrics endpoint moved would meet
	// binding its new address (see probeMetricsBind); nil: none known.
	metricsBind error
	// controlLock is the error the control socket moved would meet
	// taking the lock at its new path, which another daemon holds (see
	// foreseeLock); nil: none known.
	controlLock error
}

// describePlan returns the changes a reload applying p would list as
// applied, in the order it applies them, each with what it does to what
// runs now (f), and the changes it would refuse that can be known before
// it tries (a VIP that would be on two instances, an instance that does
// not run, a listener's address that another socket holds now, a control
// socket's new path where another daemon holds the lock); it
// cannot know those that fail only as they are made. old is the running
// model, nc the file's. It is a pure function of its arguments (f holds
// what it knows of the addresses); Daemon.apply is what it describes, and
// the listener and VRRP changes are walked by the reload's own
// walkListeners and walkVRRP.
func describePlan(p Plan, old, nc *config.Config, f liveFacts) (out []control.PlannedChange, refused []string) {
	add := func(effects []string, format string, args ...any) {
		out = append(out, control.PlannedChange{Change: fmt.Sprintf(format, args...), Effects: effects})
	}
	refuse := func(what string, err error) { refused = append(refused, fmt.Sprintf("%s: %v", what, err)) }
	failed := newLeftovers()
	if p.LogLevel && f.levelSettable {
		add(nil, "log_level %s", nc.LogLevel)
	}
	switch {
	case p.ControlSocket && f.controlLock != nil:
		refuse("control_socket", f.controlLock)
	case p.ControlSocket:
		add([]string{fmt.Sprintf("the socket and its lock move from %s; commands must name the new path", old.ControlSocket)}, "control_socket %s", nc.ControlSocket)
	}
	if p.ControlGroup {
		add(nil, "control_group %q", nc.ControlGroup)
	}
	walkListeners(p, nc, f.binds, plannedListeners{metrics: f.metricsBind}, &failed, func(s listenerStep, line string) {
		var effects []string
		switch s.part {
		case partRemoved:
			effects = leavingSessions(old, s.listener.Old, f)
		case partBound:
			if c := s.listener; c.Op == OpReplace {
				effects = append([]string{fmt.Sprintf("stops accepting on %s", c.Old.Bind)}, leavingSessions(old, c.Old, f)...)
			}
		case partCheckRemoved:
			if _, stays := nc.Backend(s.check.Backend); stays {
				effects = []string{"the backend is set UP and in service at its full weight, as no check watches it"}
			}
		case partUpdated:
			effects = listenerEffects(s.listener.Old, s.listener.New, f)
		case partCheckSet:
			switch {
			case s.check.Op == OpAdd && s.check.Serving:
				effects = []string{"the backend stays in service until its checks fail"}
			case s.check.Op == OpUpdate:
				effects = []string{"the backend keeps its state; the new check decides from its next result"}
			}
		}
		add(effects, "%s", line)
	}, refuse)
	restart := p.RealTimePriority || p.Sender
	instances := 0
	if restart {
		instances = len(restarted(p, f.units))
	}
	for _, c := range p.VRRP {
		if c.Op == OpRemove {
			add(removedInstanceEffects(old, c.Old, f), "vrrp instance %s removed", c.Name)
		}
	}
	walkVRRP(old, nc, p, plannedVRRP(f), failed, func(c VRRPChange, part vrrpPart, line string) {
		var effects []string
		switch part {
		case partStarted:
			effects = []string{fmt.Sprintf("it starts on %s (VRID %d) and adds %s to the interface only once MASTER", c.New.Interface, c.New.VRID, joinPrefixes(c.New.VIPs))}
			if restart {
				instances++
			}
		case partSettings:
			effects = updatedInstanceEffects(c, nc, f)
		}
		add(effects, "%s", line)
	}, refuse)
	if p.StateFile {
		if nc.StateFile == "" {
			add(nil, "state_file: none")
		} else {
			add(nil, "state_file %s", nc.StateFile)
		}
	}
	if p.RealTimePriority {
		add(nil, "%s", restartApplied(fmt.Sprintf("vrrp_rt_priority %d", nc.VRRPRealTimePriority), instances))
	}
	if p.Sender {
		add(nil, "%s", restartApplied("vrrp_sender "+nc.VRRPSender.String(), instances))
	}
	// The listeners learn whether their bind is a VIP of this daemon as
	// the running model has it after the reload (see syncListenerVIPs):
	// those the reload starts or changes were built against the model it
	// leads to when nothing is refused, the others as the running model
	// had it.
	built, after := p.next(old, nc), running(old, nc, p, failed)
	for i := range after.Listeners {
		l := &after.Listeners[i]
		was := old.VIPOwned(l.Bind.Addr())
		if slices.ContainsFunc(p.Listeners, func(c ListenerChange) bool { return c.Name == l.Name }) {
			was = built.VIPOwned(l.Bind.Addr())
		} else if _, runs := f.listeners[l.Name]; !runs {
			continue
		}
		switch bound := after.VIPOwned(l.Bind.Addr()); {
		case bound && !was:
			add([]string{"its sessions are closed at once when it stops, as the address may leave this host"}, "%s", vipBindingApplied(l, bound))
		case was && !bound:
			add([]string{"its sessions may finish within graceful_timeout when it stops"}, "%s", vipBindingApplied(l, bound))
		}
	}
	return out, refused
}

// plannedVRRP is the VRRP changes of a plan made to nothing (walkVRRP):
// every part is taken as applied but an update of an instance that does
// not run now (f.units).
type plannedVRRP liveFacts

func (v plannedVRRP) runs(name string) bool {
	_, ok := v.units[name]
	return ok
}
func (plannedVRRP) start(VRRPChange) error                       { return nil }
func (plannedVRRP) setHooks(VRRPChange) error                    { return nil }
func (plannedVRRP) update(VRRPChange) error                      { return nil }
func (plannedVRRP) setTracks(string, *config.VRRPInstance) error { return nil }

// plannedListeners is the listener and check changes of a plan made to
// nothing (walkListeners): nothing fails as it is made, so the walk
// refuses only what it knows beforehand (an address another socket
// holds: a listener's in the walk's binds, the metrics endpoint's in
// metrics).
type plannedListeners struct{ metrics error }

func (plannedListeners) stopAccepting(string)                {}
func (v plannedListeners) moveMetrics() error                { return v.metrics }
func (plannedListeners) start(ListenerChange) (error, error) { return nil, nil }
func (plannedListeners) dropChecks(*config.Listener)         {}
func (plannedListeners) removeCheck(backend.ID) error        { return nil }
func (plannedListeners) update(ListenerChange) error         { return nil }
func (plannedListeners) serveUnchecked(backend.ID)           {}
func (plannedListeners) setCheck(CheckChange) error          { return nil }

// leavingSessions says what becomes of the sessions of listener l, which
// stops: a listener bound to a VIP of this daemon closes them at once,
// another lets them finish within its graceful_timeout.
func leavingSessions(old *config.Config, l *config.Listener, f liveFacts) []string {
	n, runs := f.listeners[l.Name]
	switch {
	case !runs:
		return []string{"it does not run"}
	case n == 0:
		return []string{"it has no session"}
	}
	grace := old.BalancerConfig(l).GracefulTimeout
	switch {
	case grace < 0:
		return []string{fmt.Sprintf("its %s closed at once", sessions(n))}
	case grace == 0:
		grace = balancer.DefaultGracefulTimeout
	}
	return []string{fmt.Sprintf("its %s may finish within %s (graceful_timeout); the rest are then closed", sessionsNoVerb(n), grace)}
}

// listenerEffects describes the update of a listener from ol to nl: its
// backends added, removed and changed, and the settings that change for
// new connections.
func listenerEffects(ol, nl *config.Listener, f liveFacts) []string {
	var out []string
	for _, nb := range nl.Backends {
		if !slices.ContainsFunc(ol.Backends, func(b config.Backend) bool { return b.ID == nb.ID }) {
			how := "it takes new connections at once"
			if nb.Check.Type != config.CheckNone {
				how = "it takes new connections once its check passes"
			}
			out = append(out, fmt.Sprintf("backend %s added at %s: %s", nb.ID.Name, nb.Address, how))
		}
	}
	e := f.applies[nl.Name]
	for _, ob := range ol.Backends {
		i := slices.IndexFunc(nl.Backends, func(b config.Backend) bool { return b.ID == ob.ID })
		if i < 0 {
			var r balancer.RemovedEffect
			if j := slices.IndexFunc(e.Removed, func(r balancer.RemovedEffect) bool { return r.Name == ob.ID.Name }); j >= 0 {
				r = e.Removed[j]
			}
			switch {
			case r.Sessions == 0:
				out = append(out, fmt.Sprintf("backend %s removed: it has no session", ob.ID.Name))
			case r.Closed:
				out = append(out, fmt.Sprintf("backend %s removed: its %s closed at once (on_marked_down %s)", ob.ID.Name, sessions(r.Sessions), nl.OnMarkedDown))
			default:
				out = append(out, fmt.Sprintf("backend %s removed: its %s kept until %s (on_marked_down %s)", ob.ID.Name, sessions(r.Sessions), theyEnd(r.Sessions), nl.OnMarkedDown))
			}
			continue
		}
		nb := &nl.Backends[i]
		if keys := changedBackendKeys(&ob, nb); len(keys) > 0 {
			out = append(out, fmt.Sprintf("backend %s: %s changed, for new connections", ob.ID.Name, strings.Join(keys, ", ")))
		}
		switch was, is := ob.Check.Type != config.CheckNone, nb.Check.Type != config.CheckNone; {
		case was && !is:
			out = append(out, fmt.Sprintf("backend %s: no longer checked", ob.ID.Name))
		case !was && is:
			out = append(out, fmt.Sprintf("backend %s: checked from now on", ob.ID.Name))
		}
	}
	if e.KeptClosed > 0 {
		out = append(out, fmt.Sprintf("the %s kept of backends removed before %s closed at once (on_marked_down %s)",
			sessionsNoVerb(e.KeptClosed), map[bool]string{true: "is", false: "are"}[e.KeptClosed == 1], nl.OnMarkedDown))
	}
	if keys := changedListenerKeys(ol, nl); len(keys) > 0 {
		out = append(out, strings.Join(keys, ", ")+" changed, for new connections")
	}
	if !slices.Equal(ol.AllowedClients, nl.AllowedClients) || !slices.Equal(ol.DeniedClients, nl.DeniedClients) {
		switch {
		case e.OutsideClients == 0:
			out = append(out, "client lists changed: no client with a session now is outside them")
		default:
			out = append(out, fmt.Sprintf("client lists changed: %d client %s with %s now outside them: kept until %s (rmqlb status lists them)",
				e.OutsideClients, map[bool]string{true: "address", false: "addresses"}[e.OutsideClients == 1], sessionsNoVerb(e.OutsideSessions), theyEnd(e.OutsideSessions)))
		}
	}
	if e.PersistenceRestarts {
		switch n := e.PersistenceEntries; n {
		case 0:
			out = append(out, "the persistence table starts afresh: it holds no client now")
		case 1:
			out = append(out, "the persistence table starts afresh: 1 client loses the backend it stuck to")
		default:
			out = append(out, fmt.Sprintf("the persistence table starts afresh: %d clients lose the backend they stuck to", n))
		}
	}
	return out
}

// changedListenerKeys names the keys of a listener that differ, other
// than its name, bind, client lists and backends (described apart).
func changedListenerKeys(ol, nl *config.Listener) []string {
	return differingKeys([]keyComparison{
		{"policy", ol.Policy == nl.Policy},
		{"all_backups", ol.AllBackups == nl.AllBackups},
		{"persistence_timeout", ol.PersistenceTimeout == nl.PersistenceTimeout},
		{"persistence_netmask", ol.PersistenceNetmask == nl.PersistenceNetmask},
		{"persistence_netmask6", ol.PersistenceNetmask6 == nl.PersistenceNetmask6},
		{"persistence_max_clients", ol.PersistenceMaxClients == nl.PersistenceMaxClients},
		{"maxconn", ol.MaxConn == nl.MaxConn},
		{"maxconn_per_client", ol.MaxConnPerClient == nl.MaxConnPerClient},
		{"connect_timeout", ol.ConnectTimeout == nl.ConnectTimeout},
		{"retries", ol.Retries == nl.Retries},
		{"on_marked_down", ol.OnMarkedDown == nl.OnMarkedDown},
		{"on_marked_up", ol.OnMarkedUp == nl.OnMarkedUp},
		{"idle_timeout", ol.IdleTimeout == nl.IdleTimeout},
		{"handshake_timeout", ol.HandshakeTimeout == nl.HandshakeTimeout},
		{"fin_timeout", ol.FinTimeout == nl.FinTimeout},
		{"keepalive", ol.KeepAlive == nl.KeepAlive},
		{"tcp_user_timeout", ol.TCPUserTimeout == nl.TCPUserTimeout},
		{"graceful_timeout", ol.GracefulTimeout == nl.GracefulTimeout},
		{"close_spread", ol.CloseSpread == nl.CloseSpread},
		{"log_sessions", ol.LogSessions == nl.LogSessions},
	})
}

// changedBackendKeys names the keys of a backend that differ, other than
// its check (a check change is a change of its own).
func changedBackendKeys(ob, nb *config.Backend) []string {
	return differingKeys([]keyComparison{
		{"address", ob.Address == nb.Address},
		{"weight", ob.Weight == nb.Weight},
		{"maxconn", ob.MaxConn == nb.MaxConn},
		{"backup", ob.Backup == nb.Backup},
		{"proxy_protocol", ob.ProxyProtocol == nb.ProxyProtocol},
	})
}

// removedInstanceEffects says what removing VRRP instance in does: a
// MASTER advertises priority 0, so that a backup takes over at once, and
// its VIPs leave this host with their sessions.
func removedInstanceEffects(old *config.Config, in *config.VRRPInstance, f liveFacts) []string {
	master, runs := f.units[in.Name]
	switch {
	case !runs:
		return []string{"it does not run"}
	case !master:
		return []string{"it is not MASTER here: no VIP leaves this host"}
	}
	verb := "leave"
	if len(in.VIPs) == 1 {
		verb = "leaves"
	}
	return append([]string{fmt.Sprintf("it is MASTER here: it advertises priority 0 so that a backup takes over at once, and %s %s this host", joinPrefixes(in.VIPs), verb)},
		vipSessions(old, addrsOf(in.VIPs), f)...)
}

// updatedInstanceEffects describes a live update of a VRRP instance: the
// VIPs that leave or join the interface while it is MASTER, and its new
// priority.
func updatedInstanceEffects(c VRRPChange, nc *config.Config, f liveFacts) []string {
	var out []string
	master := f.units[c.Name]
	if c.Old.Priority != c.New.Priority {
		line := fmt.Sprintf("priority %d -> %d (%s here)", c.Old.Priority, c.New.Priority, map[bool]string{true: "MASTER", false: "not MASTER"}[master])
		if f.released[c.Name] {
			line += "; released: it advertises priority 0 until rmqlb vrrp ready"
		}
		out = append(out, line)
	}
	if c.Old.AdvertInterval != c.New.AdvertInterval {
		out = append(out, fmt.Sprintf("advert_interval %s -> %s", c.Old.AdvertInterval, c.New.AdvertInterval))
	}
	gone, come := added(c.New.VIPs, c.Old.VIPs), added(c.Old.VIPs, c.New.VIPs)
	switch {
	case !master && (len(gone) > 0 || len(come) > 0):
		out = append(out, "not MASTER here: no VIP is on this host's interface to add or remove")
	case master:
		if len(come) > 0 {
			out = append(out, fmt.Sprintf("%s added to the interface now, with gratuitous ARP", joinAddrs(come)))
		}
		var leave []netip.Addr
		for _, a := range gone {
			if vipToMaster(nc, a, c.Name, func(n string) bool { return f.units[n] }) {
				out = append(out, fmt.Sprintf("%s moves to another instance of this daemon, MASTER here: its sessions stay", a))
				continue
			}
			leave = append(leave, a)
		}
		if len(leave) > 0 {
			out = append(out, fmt.Sprintf("%s removed from the interface now", joinAddrs(leave)))
			out = append(out, vipSessions(nc, leave, f)...)
		}
		if len(gone) > 0 || len(come) > 0 {
			out = append(out, peersOnPreviousList(c))
		}
	}
	return out
}

// peersOnPreviousList says what the other routers of the virtual router
// that still list the previous VIPs make of a MASTER's adverts with the
// new ones (see vrrp.DifferingAddrs).
func peersOnPreviousList(c VRRPChange) string {
	var kept []netip.Addr
	for _, p := range c.New.VIPs {
		if slices.ContainsFunc(c.Old.VIPs, func(q netip.Prefix) bool { return q.Addr() == p.Addr() }) {
			kept = append(kept, p.Addr())
		}
	}
	if len(kept) == 0 {
		return fmt.Sprintf("the new VIPs share none with the previous ones: routers of VRID %d still on the previous list drop this host's adverts (address_mismatch) and take over beside it until they are reloaded too: reload the backups first", c.New.VRID)
	}
	return fmt.Sprintf("routers of VRID %d still on the previous list accept this host's adverts (they share %s) and report the difference until they are reloaded too (keepalived 2.2.7 drops them)", c.New.VRID, joinAddrs(kept))
}

// vipSessions says what becomes of the sessions through VIPs that leave
// this host: closed at once (their clients' packets reach the new master
// or no one). It counts those of the listeners bound to one of them; a
// listener on a wildcard address closes those of its sessions whose
// client connected to one.
func vipSessions(c *config.Config, vips []netip.Addr, f liveFacts) []string {
	var out []string
	for i := range c.Listeners {
		l := &c.Listeners[i]
		n, runs := f.listeners[l.Name]
		switch {
		case !runs:
		case slices.Contains(vips, l.Bind.Addr()) && n == 0:
			out = append(out, fmt.Sprintf("listener %s on it has no session", l.Name))
		case slices.Contains(vips, l.Bind.Addr()):
			out = append(out, fmt.Sprintf("listener %s: its %s closed at once", l.Name, sessions(n)))
		case l.Bind.Addr().IsUnspecified() && n > 0:
			out = append(out, fmt.Sprintf("listener %s (on %s): those of its %s made to %s are closed at once", l.Name, l.Bind, sessionsNoVerb(n), joinAddrs(vips)))
		}
	}
	return out
}

// sessions formats a count of sessions with the verb that follows it:
// "1 session is", "3 sessions are".
func sessions(n int64) string {
	if n == 1 {
		return "1 session is"
	}
	return sessionsNoVerb(n) + " are"
}

// theyEnd is "it ends" for one session, "they end" for more.
func theyEnd(n int64) string {
	if n == 1 {
		return "it ends"
	}
	return "they end"
}

// sessionsNoVerb formats a count of sessions: "1 session", "3 sessions".
func sessionsNoVerb(n int64) string { return control.SessionCount(int(n)) }

func addrsOf(ps []netip.Prefix) []netip.Addr {
	as := make([]netip.Addr, len(ps))
	for i, p := range ps {
		as[i] = p.Addr()
	}
	return as
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func joinPrefixes(ps []netip.Prefix) string { return joinAddrs(addrsOf(ps)) }
