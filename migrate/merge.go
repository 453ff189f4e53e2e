package migrate

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	rbackend "github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/config"
	"github.com/rmqlb/rmqlb/healthcheck"
)

// merger reconciles what the inputs say: the VRRP instances come from
// keepalived; listeners from keepalived's virtual_servers, HAProxy and
// ipvsadm. When several describe the same VIP:port, one is kept (HAProxy's,
// which names its servers and has their check settings, then keepalived's,
// then ipvsadm's) and the others are reported. An LVS service whose real
// servers are HAProxy's bind is the tier in front of HAProxy: rmqlb
// replaces both with one listener on the service's VIP:port and HAProxy's
// servers.
type merger struct {
	ns *notes
	d  *draft
	ka *kaT // nil without a keepalived input
	ha *haT // nil without an haproxy input
}

// merge builds the draft from the translated inputs.
func merge(ka *kaT, ha *haT, ipvs []*listener, ns *notes) *draft {
	m := &merger{ns: ns, d: &draft{}, ka: ka, ha: ha}
	if ka != nil {
		m.d.instances = ka.instances
		m.d.rtPriority = ka.rtPriority
	}
	m.uniqueInstances()
	var lvs, haps []*listener
	if ka != nil {
		lvs = append(lvs, ka.servers...)
	}
	lvs = append(lvs, ipvs...)
	if ha != nil {
		haps = ha.listeners
		if ha.stateFile {
			m.d.stateFile = defaultStateFile
		}
	}
	lvs = m.fwmarks(lvs)
	for _, l := range lvs {
		m.inhibit(l)
	}
	lvs, haps = m.chains(lvs, haps)
	m.wildcards(haps)
	m.d.listeners = m.selfLoops(m.dedupe(append(haps, lvs...)))
	// In the file, listeners come in the order of the inputs.
	sort.SliceStable(m.d.listeners, func(i, j int) bool { return m.d.listeners[i].src < m.d.listeners[j].src })
	for _, l := range m.d.listeners {
		for _, n := range l.later {
			ns.add(n)
		}
	}
	m.names()
	m.sharedPorts()
	if ka != nil {
		m.scripts()
	}
	return m.d
}

// selfLoops leaves out the backends whose address, or whose check's, is
// where one of ls listens (config.ReachesBind, with the VIPs and
// unicast_src of the instances as this host's addresses, as config does),
// and a listener left without a backend: the proxy would connect to
// itself, and rmqlb refuses such a file.
func (m *merger) selfLoops(ls []*listener) []*listener {
	local := map[netip.Addr]bool{}
	for _, in := range m.d.instances {
		for _, p := range in.vips {
			local[p.Addr()] = true
		}
		if in.unicastSrc.IsValid() {
			local[in.unicastSrc] = true
		}
	}
	loopsAt := func(a netip.AddrPort) *listener {
		for _, l := range ls {
			if config.ReachesBind(l.bind, a, local) {
				return l
			}
		}
		return nil
	}
	var kept []*listener
	for _, l := range ls {
		var bs []*backend
		for _, b := range l.backends {
			at, what := loopsAt(b.addr), "its address"
			if at == nil {
				at, what = loopsAt(b.check.address), "its check's address "+b.check.address.String()
			}
			if at != nil {
				m.ns.skip(b.pos, fmt.Sprintf("%s (backend of %s)", b.addr, l.what), fmt.Sprintf("%s is where %s listens (%s): the proxy would connect to itself, not to a broker; left out", what, at.what, at.bind))
				continue
			}
			bs = append(bs, b)
		}
		if len(bs) == 0 {
			m.ns.skip(l.pos, l.what, "has no backend left that is not where a listener listens: left out")
			continue
		}
		l.backends = bs
		kept = append(kept, l)
	}
	return kept
}

// vips returns every VIP of the instances.
func (m *merger) vips() []netip.Addr {
	var out []netip.Addr
	for _, in := range m.d.instances {
		for _, p := range in.vips {
			out = append(out, p.Addr())
		}
	}
	return out
}

// uniqueInstances renames instances that share a name, and leaves out
// the second instance of a VRID on an interface and a second owner of a
// VIP.
func (m *merger) uniqueInstances() {
	names := map[string]bool{}
	vrids := map[string]*instance{}
	owners := map[netip.Addr]*instance{}
	var kept []*instance
	for _, in := range m.d.instances {
		key := in.iface + "/" + strconv.Itoa(in.vrid)
		if o := vrids[key]; o != nil {
			m.ns.skip(in.pos, in.what, fmt.Sprintf("VRID %d on %s is also %s's (%s): left out", in.vrid, in.iface, o.what, o.pos))
			continue
		}
		var vips []netip.Prefix
		for _, p := range in.vips {
			if o := owners[p.Addr()]; o != nil {
				m.ns.skip(in.pos, in.what, fmt.Sprintf("VIP %s is also %s's (%s): left out of this instance", p.Addr(), o.what, o.pos))
				continue
			}
			owners[p.Addr()] = in
			vips = append(vips, p)
		}
		if len(vips) == 0 {
			m.ns.skip(in.pos, in.what, "has no VIP of its own: left out")
			continue
		}
		in.vips = vips
		vrids[key] = in
		in.name = unique(in.name, names)
		kept = append(kept, in)
	}
	m.d.instances = kept
}

// fwmarks gives LVS fwmark services their VIP:port: the VIP when the
// instances have exactly one, the port when the real servers share one.
// The marks themselves are set by firewall rules that rmqlb import does
// not read.
func (m *merger) fwmarks(ls []*listener) []*listener {
	var out []*listener
	vips := m.vips()
	for _, l := range ls {
		if l.fwmark == 0 {
			out = append(out, l)
			continue
		}
		port := l.backends[0].addr.Port()
		for _, b := range l.backends {
			if b.addr.Port() != port {
				port = 0
			}
		}
		if len(vips) != 1 || port == 0 {
			m.ns.skip(l.pos, l.what, "the packets it takes are marked by firewall rules outside this file, so rmqlb import cannot tell which VIP:port clients use (it needs exactly one VIP and real servers on one port): write the listener by hand")
			continue
		}
		l.bind = netip.AddrPortFrom(vips[0], port)
		m.ns.change(l.pos, l.what, fmt.Sprintf("firewall rules outside this file mark the packets it takes: rmqlb binds %s (the only VIP, the real servers' port); check that this is what the rules mark", l.bind))
		out = append(out, l)
	}
	return out
}

// inhibit turns LVS's inhibit_on_failure of the real servers (the
// sorry_server, a backup, aside) into the listener's on_marked_down.
func (m *merger) inhibit(l *listener) {
	n, real := 0, 0
	for _, b := range l.backends {
		if b.backup {
			continue
		}
		real++
		if b.inhibit {
			n++
		}
	}
	switch {
	case n == 0:
	case n == real:
		l.onMarkedDown = "keep-sessions"
		m.ns.change(l.pos, l.what, "inhibit_on_failure: on_marked_down keep-sessions, so a failed broker keeps its sessions and takes no new ones; rmqlb's default, shutdown-sessions, closes them so that AMQP clients reconnect at once")
	default:
		m.ns.change(l.pos, l.what, "inhibit_on_failure on some real servers only: on_marked_down is the listener's in rmqlb, left at shutdown-sessions")
	}
}

// chains finds LVS services whose real servers are an HAProxy's bind:
// rmqlb replaces both, with the service's VIP:port and HAProxy's servers.
func (m *merger) chains(lvs, haps []*listener) ([]*listener, []*listener) {
	var keptLVS []*listener
	claimed := map[*listener]bool{}
	for _, l := range lvs {
		var h *listener
		for _, c := range haps {
			if c.bind.Addr().IsUnspecified() && allPort(l.backends, c.bind.Port()) {
				h = c
				break
			}
		}
		if h == nil {
			keptLVS = append(keptLVS, l)
			continue
		}
		if claimed[h] {
			c := h.clone()
			haps = append(haps, c)
			h = c
		}
		claimed[h] = true
		h.bind = l.bind
		m.dropBackends(l, "replaced by HAProxy's servers (line "+strconv.Itoa(l.pos.Line)+")")
		m.ns.change(l.pos, l.what, fmt.Sprintf("its real servers are the HAProxy of %s (%s): rmqlb replaces both with one listener on %s with HAProxy's servers and checks; the scheduler, persistence, real servers and checks of this virtual_server chose an HAProxy, not a broker, and are left out", h.what, h.pos, l.bind))
	}
	return keptLVS, haps
}

// dropBackends reports the backends of a listener left out, except
// those of an HAProxy section (reported with the section).
func (m *merger) dropBackends(l *listener, why string) {
	if l.src == fromHAProxy {
		return
	}
	for _, b := range l.backends {
		m.ns.skip(b.pos, "real server "+b.addr.String(), why)
	}
}

// allPort reports whether every backend is on port p.
func allPort(bs []*backend, p uint16) bool {
	for _, b := range bs {
		if b.addr.Port() != p {
			return false
		}
	}
	return len(bs) > 0
}

// wildcards binds HAProxy listeners that bind every address to the VIP
// clients use, when there is exactly one, and notes those bound to an
// address that is no VIP.
func (m *merger) wildcards(haps []*listener) {
	vips := m.vips()
	for _, l := range haps {
		if !l.bind.Addr().IsUnspecified() {
			if len(vips) > 0 && !slices.Contains(vips, l.bind.Addr()) {
				m.ns.change(l.pos, l.what, fmt.Sprintf("binds %s, which is no VIP of the VRRP instances: its clients do not follow a failover", l.bind))
			}
			continue
		}
		switch len(vips) {
		case 0:
		case 1:
			was := l.bind
			l.bind = netip.AddrPortFrom(vips[0], l.bind.Port())
			m.ns.change(l.pos, l.what, fmt.Sprintf("binds %s, every address: rmqlb binds %s, the VIP clients use", was, l.bind))
		default:
			m.ns.change(l.pos, l.what, fmt.Sprintf("binds %s, every address: with several VIPs rmqlb import keeps it; bind the VIP clients use", l.bind))
		}
	}
}

// dedupe keeps one listener per VIP:port (ls in order of preference) and
// reports the others.
func (m *merger) dedupe(ls []*listener) []*listener {
	var kept []*listener
	for _, l := range ls {
		var same *listener
		for _, k := range kept {
			if k.bind.Port() == l.bind.Port() && (k.bind.Addr() == l.bind.Addr() || k.bind.Addr().IsUnspecified() || l.bind.Addr().IsUnspecified()) {
				same = k
				break
			}
		}
		if same != nil {
			m.ns.skip(l.pos, l.what, fmt.Sprintf("describes %s, as %s (%s) does, which is kept", l.bind, same.what, same.pos))
			m.dropBackends(l, "left out with its listener (line "+strconv.Itoa(l.pos.Line)+")")
			continue
		}
		kept = append(kept, l)
	}
	return kept
}

// names gives LVS listeners and real servers their names and makes every
// name unique.
func (m *merger) names() {
	taken := map[string]bool{}
	for _, l := range m.d.listeners {
		orig, made := l.name, false
		if orig == "" {
			orig, made = m.lvsName(l), true
		}
		n := sanitizeName(orig)
		if n == "" {
			n = "listener"
		}
		l.name = unique(n, taken)
		if !made && l.name != orig {
			m.ns.change(l.pos, l.what, fmt.Sprintf("named %q: rmqlb names are unique and have only letters, digits and _ - . : @", l.name))
		}
		bnames := map[string]bool{}
		byIP := map[netip.Addr]int{}
		for _, b := range l.backends {
			byIP[b.addr.Addr()]++
		}
		for _, b := range l.backends {
			if b.name == "" && m.ha != nil {
				b.name = m.ha.names[b.addr]
			}
			if b.name == "" {
				b.name = b.addr.Addr().String()
				if byIP[b.addr.Addr()] > 1 {
					b.name = b.addr.String()
				}
			}
			n := sanitizeName(b.name)
			if n == "" {
				n = "backend"
			}
			b.name = unique(n, bnames)
		}
	}
}

// lvsName names an LVS listener after the instance that holds its VIP
// and its port, else after its address.
func (m *merger) lvsName(l *listener) string {
	for _, in := range m.d.instances {
		for _, p := range in.vips {
			if p.Addr() == l.bind.Addr() {
				return in.name + "_" + strconv.Itoa(int(l.bind.Port()))
			}
		}
	}
	return "vs_" + l.bind.Addr().String() + "_" + strconv.Itoa(int(l.bind.Port()))
}

// sharedPorts notes listeners bound to the port their brokers listen on:
// on a host that runs a broker, the broker must not hold that port on
// every address.
func (m *merger) sharedPorts() {
	noted := map[uint16]bool{}
	for _, l := range m.d.listeners {
		for _, b := range l.backends {
			if b.addr.Port() == l.bind.Port() && !noted[b.addr.Port()] {
				noted[b.addr.Port()] = true
				tls := b.check.tls != (checkTLS{}) && b.check.typ == "" && checkPort(b) == b.addr.Port()
				m.ns.change(l.pos, l.what, fmt.Sprintf("rmqlb binds %s, and its brokers listen on port %d too: on a host that also runs a broker, the broker must listen on the host's own address only, not on every address (%s), or rmqlb cannot bind", l.bind, l.bind.Port(), bindSetting(l.bind.Port(), tls)))
				break
			}
		}
	}
}

// scripts turns the vrrp_scripts and vrrp_track_processes the instances
// track into track rules on what they check: the proxy (a listener) or a
// broker (a backend).
func (m *merger) scripts() {
	type key struct {
		process bool
		name    string
	}
	tracked, translated := map[key]bool{}, map[key]bool{}
	blocks := map[bool]map[string]*kaScript{false: m.ka.scripts, true: m.ka.processes}
	for _, in := range m.d.instances {
		for _, ref := range in.scripts {
			s := blocks[ref.process][ref.name]
			if s == nil {
				m.ns.skip(ref.pos, ref.name, "no "+blockName(ref.process)+" has this name")
				continue
			}
			k := key{ref.process, ref.name}
			tracked[k] = true
			if m.track(in, ref, s) {
				translated[k] = true
			}
		}
	}
	for process, b := range blocks {
		for name, s := range b {
			k := key{process, name}
			if !tracked[k] {
				m.ka.skip(s.node, "no vrrp_instance tracks it")
				continue
			}
			// Its schedule is reported once, however many instances
			// track it, and as part of the script when the script is
			// not translated (not as a statement rmqlb import does not
			// know).
			why := "the check of what it tracks has its own interval, timeout, rise and fall"
			if process {
				why = "rmqlb tracks a check of what the process serves, with its own interval, timeout, rise and fall, not the process"
			}
			if !translated[k] {
				why = "goes with " + s.block() + " " + name + ", which is not translated"
			}
			for _, c := range s.rest {
				m.ka.skip(c, why)
			}
		}
	}
}

// track resolves one track_script (or track_process) entry of in, and
// reports whether it became track rules.
func (m *merger) track(in *instance, ref scriptRef, s *kaScript) bool {
	if s.cmd == nil {
		m.ns.skip(ref.pos, ref.name, "its "+s.block()+" has no "+map[bool]string{false: "command", true: "process"}[s.process])
		return false
	}
	if s.reverse && !ref.noreverse || ref.reverse {
		// keepalived then changes the priority while the script
		// succeeds (or raises it while it fails): rmqlb's track rules
		// lower it while what they track fails, and no other way.
		m.ns.skip(ref.pos, ref.name, "no equivalent: its weight is reversed (reverse), which rmqlb's track rules cannot do; not tracked")
		if s.reverse && !ref.noreverse {
			m.ka.skip(s.cmd, "its weight is reversed (reverse): not translated")
		}
		return false
	}
	w := s.weight
	if ref.weight != nil {
		w = *ref.weight
	}
	weightNote := ""
	if w == 0 {
		w = -healthcheck.MaxTrackWeight
		weightNote = fmt.Sprintf("; without a weight keepalived goes to FAULT when the %s: rmqlb lowers the priority by %d instead, so that any peer takes over", map[bool]string{false: "script fails", true: "process is not running"}[s.process], healthcheck.MaxTrackWeight)
	}
	rules, what := m.resolve(s.target(), in)
	if len(rules) == 0 {
		if s.process && s.target().kind == targetUnknown {
			what = "tracks a process rmqlb import does not know: add a track rule for what it serves ({check: LISTENER/BACKEND} for a broker, {listener: NAME} for the proxy)"
		}
		m.ka.skip(s.cmd, what)
		m.ns.skip(ref.pos, ref.name, "its "+s.block()+" is not translated")
		return false
	}
	for _, r := range rules {
		r.weight = w
		in.track = append(in.track, r)
	}
	m.ns.change(ref.pos, ref.name, "tracked as "+what+weightNote)
	instead := "instead, without running the command"
	if s.process {
		instead = "instead of the process"
	}
	m.ka.change(s.cmd, "rmqlb tracks "+what+" "+instead)
	return true
}

// resolve returns the track rules that stand for a script's target in
// instance in, with a description; no rules and the reason when none do.
func (m *merger) resolve(tg scriptTarget, in *instance) ([]track, string) {
	switch tg.kind {
	case targetProxyProcess:
		var rules []track
		var names []string
		for _, l := range m.d.listeners {
			if l.src == fromHAProxy {
				rules = append(rules, track{listener: l.name})
				names = append(names, l.name)
			}
		}
		if len(rules) == 0 {
			return nil, "checks the HAProxy process, and no HAProxy listener was translated: rmqlb is the proxy, and when it stops its VIPs move (priority 0)"
		}
		return rules, "listener " + strings.Join(names, ", ") + " (no backend serving; rmqlb is the proxy itself, and when it stops its VIPs move)"
	case targetLocalBroker:
		if id, ok := m.localBroker(in); ok {
			return []track{{backend: id}}, "backend " + id.String() + "'s check (this host's broker)"
		}
		return nil, "checks this host's broker, and rmqlb import cannot tell which backend that is: add a track rule {check: LISTENER/BACKEND, weight: W} for it"
	case targetAddress:
		return m.resolveAddress(tg, in)
	}
	return nil, "runs a command rmqlb import cannot read: add a track rule for what it checks ({check: LISTENER/BACKEND} for a broker, {listener: NAME} for the proxy)"
}

// resolveAddress resolves a script that checks host:port.
func (m *merger) resolveAddress(tg scriptTarget, in *instance) ([]track, string) {
	a, err := netip.ParseAddr(tg.host)
	local := loopback(tg.host)
	for _, l := range m.d.listeners {
		for _, b := range []netip.AddrPort{l.bind, l.origBind} {
			if int(b.Port()) != tg.port || !b.IsValid() {
				continue
			}
			any := b.Addr().IsUnspecified()
			if local && (any || b.Addr().IsLoopback()) || err == nil && (a == b.Addr() || any) {
				return []track{{listener: l.name}}, "listener " + l.name + " (no backend serving)"
			}
		}
	}
	if err == nil {
		ap := netip.AddrPortFrom(a, uint16(tg.port))
		for _, l := range m.d.listeners {
			for _, b := range l.backends {
				if b.addr == ap || b.check.address == ap {
					id := rbackend.ID{Listener: l.name, Name: b.name}
					return []track{{backend: id}}, "backend " + id.String() + "'s check"
				}
			}
		}
		for _, l := range m.d.listeners {
			for _, b := range l.backends {
				if b.addr.Addr() == a {
					id := rbackend.ID{Listener: l.name, Name: b.name}
					return []track{{backend: id}}, "backend " + id.String() + "'s check (the same broker)"
				}
			}
		}
	}
	if local {
		for _, l := range m.d.listeners {
			for _, b := range l.backends {
				if int(b.addr.Port()) == tg.port {
					if id, ok := m.localBroker(in); ok {
						return []track{{backend: id}}, "backend " + id.String() + "'s check (this host's broker)"
					}
					return nil, "checks this host's broker, and rmqlb import cannot tell which backend that is: add a track rule {check: LISTENER/BACKEND, weight: W} for it"
				}
			}
		}
	}
	return nil, fmt.Sprintf("checks %s:%d, which is no listener or backend of this file: add a track rule for it by hand", tg.host, tg.port)
}

// localBroker returns the backend that is this host's broker: the one on
// the instance's advert source address, else the one named as
// global_defs' router_id (often the host name); false when none is.
func (m *merger) localBroker(in *instance) (rbackend.ID, bool) {
	match := func(ok func(b *backend) bool) (rbackend.ID, bool) {
		for _, l := range m.d.listeners {
			for _, b := range l.backends {
				if ok(b) {
					return rbackend.ID{Listener: l.name, Name: b.name}, true
				}
			}
		}
		return rbackend.ID{}, false
	}
	if in.unicastSrc.IsValid() {
		if id, ok := match(func(b *backend) bool { return b.addr.Addr() == in.unicastSrc }); ok {
			return id, true
		}
	}
	if r := m.ka.routerID; r != "" {
		short, _, _ := strings.Cut(r, ".")
		return match(func(b *backend) bool { return strings.EqualFold(b.name, r) || strings.EqualFold(b.name, short) })
	}
	return rbackend.ID{}, false
}
