package daemon

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// This file generates random configuration files for the reload property
// test (planprop_test.go): files an operator's configuration management
// could write one after the other, drawn from small pools of names,
// interfaces, VRIDs, VIPs, binds and addresses so that moves, swaps,
// clashes and reverts happen often. A genFile is rendered as YAML and read
// by the real loader, defaults and validation included.

// genFile is one configuration file; "" (or nil) leaves a key out.
type genFile struct {
	controlSocket, controlGroup, logLevel, metrics, rtPrio, sender string
	instances                                                      []genInstance
	listeners                                                      []genListener
}

type genInstance struct {
	name, iface                                   string
	vrid                                          int
	version                                       string // "", "2" or "3"
	priority, advert, preempt, preemptDelay       string
	authPass, checksum, unicast, maxAdopted, late string
	vips                                          []string
	garp, notify                                  string
	tracks                                        []genTrack
}

// genTrack tracks a backend (check, "L/B") or a listener.
type genTrack struct {
	check, listener string
	weight          int
}

type genListener struct {
	name, bind, policy, persistence, maxconn, connectTimeout, retries string
	onMarkedDown, proxyProtocol, idle, graceful, logSessions          string
	userTimeout, netmask6                                             string
	check                                                             *genCheck
	backends                                                          []genBackend
}

type genBackend struct {
	name, address, weight, maxconn, proxyProtocol string
	check                                         *genCheck
}

// genCheck is a check section: its type and its other keys, each a
// "key: value" item or "".
type genCheck struct {
	typ  string
	keys []string
}

var (
	genInstanceNames = []string{"v1", "v2", "v3", "v4"}
	genInterfaces    = []string{"eth0", "eth1"}
	genVIPs          = []string{"192.0.2.100", "192.0.2.101", "192.0.2.102", "192.0.2.103"}
	genListenerNames = []string{"amqp", "mgmt", "stream", "x"}
	genBinds         = []string{"127.0.0.1:5672", "127.0.0.1:5673", "127.0.0.2:5672", "0.0.0.0:5674", "192.0.2.100:5672", "192.0.2.101:5673", "127.0.0.1:9150"}
	genBackendNames  = []string{"a", "b", "c", "d"}
	genAddresses     = []string{"10.0.0.1:5672", "10.0.0.2:5672", "10.0.0.3:5672"}
)

// pick returns one of xs.
func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// genNew draws a file.
func genNew(r *rand.Rand, group string) genFile {
	var f genFile
	f.drawGlobals(r, group, -1)
	for range r.IntN(4) {
		f.addInstance(r)
	}
	for range r.IntN(4) {
		f.addListener(r)
	}
	f.repair(r)
	return f
}

// drawGlobals draws global key which (-1: all).
func (f *genFile) drawGlobals(r *rand.Rand, group string, which int) {
	draw := []func(){
		func() { f.controlSocket = pick(r, "", "/run/rmqlb/a.sock", "/run/rmqlb/b.sock") },
		func() { f.controlGroup = pick(r, "", "", group) },
		func() { f.logLevel = pick(r, "", "debug", "info", "warn", "error") },
		func() { f.metrics = pick(r, "", "", "127.0.0.1:9150", "127.0.0.1:9151") },
		func() { f.rtPrio = pick(r, "", "", "0", "10", "50") },
		func() { f.sender = pick(r, "", "inline", "process") },
	}
	if which >= 0 {
		draw[which%len(draw)]()
		return
	}
	for _, d := range draw {
		d()
	}
}

// free returns the items of pool that used does not hold, or pool when it
// holds them all.
func free(pool []string, used func(string) bool) []string {
	var out []string
	for _, x := range pool {
		if !used(x) {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return pool
	}
	return out
}

func (f *genFile) addInstance(r *rand.Rand) {
	name := pick(r, free(genInstanceNames, func(n string) bool {
		return slices.ContainsFunc(f.instances, func(in genInstance) bool { return in.name == n })
	})...)
	in := genInstance{name: name}
	f.drawIdentity(r, &in, -1)
	in.drawSettings(r, -1)
	in.vips = f.drawVIPs(r, name)
	f.instances = append(f.instances, in)
}

// drawIdentity draws the interface, VRID or version (which: 0, 1, 2; -1:
// all), mostly one that no other instance uses.
func (f *genFile) drawIdentity(r *rand.Rand, in *genInstance, which int) {
	if which < 0 || which == 0 {
		in.iface = pick(r, genInterfaces...)
	}
	if which < 0 || which == 1 {
		in.vrid = 1 + r.IntN(3)
		if r.Float64() < 0.9 {
			var vrids []int
			for v := 1; v <= 3; v++ {
				if !slices.ContainsFunc(f.instances, func(o genInstance) bool {
					return o.name != in.name && o.iface == in.iface && o.vrid == v
				}) {
					vrids = append(vrids, v)
				}
			}
			if len(vrids) > 0 {
				in.vrid = pick(r, vrids...)
			}
		}
	}
	if which < 0 || which == 2 {
		in.version = pick(r, "", "2", "3")
		in.fitVersion(r)
	}
}

// fitVersion redraws the keys whose values depend on the version.
func (in *genInstance) fitVersion(r *rand.Rand) {
	v3 := in.version == "3"
	if v3 {
		in.advert = pick(r, "", "100ms", "1s", "250ms")
		in.authPass = ""
		in.checksum = pick(r, "", "", "rfc9568", "pseudo-header")
		in.maxAdopted = pick(r, "", "", "1s", "2s")
	} else {
		in.advert = pick(r, "", "1s", "2s")
		in.authPass = pick(r, "", "", "secret", "other")
		in.checksum = ""
		in.maxAdopted = ""
	}
}

// drawSettings draws the instance's live settings (which: one of them;
// -1: all).
func (in *genInstance) drawSettings(r *rand.Rand, which int) {
	draw := []func(){
		func() { in.priority = pick(r, "", "100", "120", "150", "254") },
		func() { in.preempt = pick(r, "", "", "true", "false") },
		func() { in.preemptDelay = pick(r, "", "", "5s") },
		func() { in.unicast = pick(r, "", "", "src", "peers", "allowed") },
		func() { in.late = pick(r, "", "", "1", "3") },
		func() { in.garp = pick(r, "", "", "{count: 2}", "{count: 3, interval: 200ms}") },
		func() {
			in.notify = pick(r, "", "", "{master: [/bin/true]}", "{master: [/bin/true, up], backup: [/bin/true]}")
		},
		func() { in.fitVersion(r) },
	}
	if which >= 0 {
		draw[which%len(draw)]()
		return
	}
	for _, d := range draw {
		d()
	}
}

// drawVIPs draws one or two VIPs, mostly ones no other instance has.
func (f *genFile) drawVIPs(r *rand.Rand, name string) []string {
	taken := func(v string) bool {
		return slices.ContainsFunc(f.instances, func(o genInstance) bool {
			return o.name != name && slices.ContainsFunc(o.vips, func(w string) bool { return strings.Split(w, "/")[0] == v })
		})
	}
	pool := genVIPs
	if r.Float64() < 0.9 {
		pool = free(genVIPs, taken)
	}
	var vips []string
	for range 1 + r.IntN(2) {
		v := pick(r, pool...)
		if slices.ContainsFunc(vips, func(w string) bool { return strings.Split(w, "/")[0] == v }) {
			continue
		}
		vips = append(vips, v+pick(r, "", "/24", "/32"))
	}
	return vips
}

func (f *genFile) addListener(r *rand.Rand) {
	name := pick(r, free(genListenerNames, func(n string) bool {
		return slices.ContainsFunc(f.listeners, func(l genListener) bool { return l.name == n })
	})...)
	l := genListener{name: name}
	l.bind = f.drawBind(r, name)
	l.drawSettings(r, -1)
	for range 1 + r.IntN(3) {
		l.addBackend(r)
	}
	f.listeners = append(f.listeners, l)
}

// drawBind draws a bind, mostly one that no other listener's overlaps.
func (f *genFile) drawBind(r *rand.Rand, name string) string {
	if r.Float64() < 0.1 {
		return pick(r, genBinds...)
	}
	return pick(r, free(genBinds, func(b string) bool {
		return slices.ContainsFunc(f.listeners, func(l genListener) bool { return l.name != name && l.bind == b })
	})...)
}

func (l *genListener) drawSettings(r *rand.Rand, which int) {
	draw := []func(){
		func() { l.policy = pick(r, "", "roundrobin", "wrr", "leastconn") },
		func() { l.persistence = pick(r, "", "", "30s", "1m") },
		func() { l.maxconn = pick(r, "", "", "100", "1000") },
		func() { l.connectTimeout = pick(r, "", "", "2s", "5s") },
		func() { l.retries = pick(r, "", "", "0", "2") },
		func() { l.onMarkedDown = pick(r, "", "", "keep-sessions", "shutdown-sessions") },
		func() { l.proxyProtocol = pick(r, "", "", "", "v1", "v2") },
		func() { l.idle = pick(r, "", "", "1h") },
		func() { l.graceful = pick(r, "", "", "1m", "10s") },
		func() { l.logSessions = pick(r, "", "", "true", "false") },
		func() { l.userTimeout = pick(r, "", "", "300s", "1s") },
		func() { l.netmask6 = pick(r, "", "", "64", "128") },
		func() {
			l.check = nil
			if r.Float64() < 0.4 {
				l.check = drawCheck(r)
			}
		},
	}
	if which >= 0 {
		draw[which%len(draw)]()
		return
	}
	for _, d := range draw {
		d()
	}
}

func (l *genListener) addBackend(r *rand.Rand) {
	name := pick(r, free(genBackendNames, func(n string) bool {
		return slices.ContainsFunc(l.backends, func(b genBackend) bool { return b.name == n })
	})...)
	b := genBackend{name: name}
	for i := range 5 {
		b.draw(r, i)
	}
	l.backends = append(l.backends, b)
}

func (b *genBackend) draw(r *rand.Rand, which int) {
	switch which % 5 {
	case 0:
		b.address = pick(r, genAddresses...)
	case 1:
		b.weight = pick(r, "", "", "0", "3", "10")
	case 2:
		b.maxconn = pick(r, "", "", "50")
	case 3:
		b.proxyProtocol = pick(r, "", "", "", "none", "v2")
	case 4:
		b.check = nil
		if r.Float64() < 0.6 {
			b.check = drawCheck(r)
		}
	}
}

// drawCheck draws a check section of any type with random settings.
func drawCheck(r *rand.Rand) *genCheck {
	c := &genCheck{typ: pick(r, "", "amqp", "tcp", "none")}
	for range r.IntN(4) {
		c.tweak(r)
	}
	if c.typ == "" || c.typ == "amqp" {
		switch r.IntN(4) {
		case 0:
			c.keys = append(c.keys, "mode: login", "user: "+pick(r, "guest", "probe"), "password: "+pick(r, "guest", "secret"))
		case 1:
			c.keys = append(c.keys, "mode: handshake", "vhost: "+pick(r, "/", "/prod"))
		}
	}
	return c
}

// tweak sets one schedule or address key of c to a random value.
func (c *genCheck) tweak(r *rand.Rand) {
	k := pick(r,
		"interval: "+pick(r, "2s", "5s"),
		"fastinterval: 500ms",
		"downinterval: "+pick(r, "3s", "10s"),
		"timeout: "+pick(r, "1s", "900ms"),
		"rise: "+pick(r, "1", "3"),
		"fall: "+pick(r, "2", "4"),
		"slowstart: "+pick(r, "10s", "1m"),
		"on_alarm: "+pick(r, "degraded", "down"),
		"address: "+pick(r, "10.0.0.9:5672", "10.0.0.9:15672"),
	)
	key := func(o string) bool { return strings.SplitN(o, ":", 2)[0] == strings.SplitN(k, ":", 2)[0] }
	if i := slices.IndexFunc(c.keys, key); i >= 0 {
		c.keys[i] = k
		return
	}
	c.keys = append(c.keys, k)
}

// repair drops the track rules that name no checked backend or listener
// and draws new ones now and then, so that most files are valid; an
// instance that lacks VIPs gets one.
func (f *genFile) repair(r *rand.Rand) {
	var checkedBackends, checkedListeners []string
	for _, l := range f.listeners {
		n := 0
		for _, b := range l.backends {
			c := b.check
			if c == nil {
				c = l.check
			}
			if c == nil || c.typ != "none" {
				checkedBackends = append(checkedBackends, l.name+"/"+b.name)
				n++
			}
		}
		if n > 0 {
			checkedListeners = append(checkedListeners, l.name)
		}
	}
	for i := range f.instances {
		in := &f.instances[i]
		in.tracks = slices.DeleteFunc(in.tracks, func(t genTrack) bool {
			return (t.check != "" && !slices.Contains(checkedBackends, t.check)) ||
				(t.listener != "" && !slices.Contains(checkedListeners, t.listener))
		})
		if len(in.tracks) < 2 && r.Float64() < 0.3 {
			t := genTrack{weight: pick(r, -60, -20, 10, 50)}
			switch {
			case len(checkedBackends) > 0 && r.IntN(2) == 0:
				t.check = pick(r, checkedBackends...)
			case len(checkedListeners) > 0:
				t.listener = pick(r, checkedListeners...)
			}
			if (t.check != "" || t.listener != "") && !slices.Contains(in.tracks, t) {
				in.tracks = append(in.tracks, t)
			}
		}
		if len(in.vips) == 0 {
			in.vips = f.drawVIPs(r, in.name)
		}
	}
}

// mutate returns a copy of f with one to three random changes: one of the
// operator's edits (a key changed, a part added, removed, renamed or
// moved, VIPs moved or swapped between instances).
func (f genFile) mutate(r *rand.Rand, group string) genFile {
	g := f.clone()
	for range 1 + r.IntN(3) {
		g.edit(r, group)
	}
	g.repair(r)
	return g
}

func (f *genFile) edit(r *rand.Rand, group string) {
	switch r.IntN(16) {
	case 0:
		f.drawGlobals(r, group, r.IntN(6))
	case 1:
		if len(f.instances) < 3 {
			f.addInstance(r)
		}
	case 2:
		if len(f.instances) > 0 {
			i := r.IntN(len(f.instances))
			f.instances = slices.Delete(f.instances, i, i+1)
		}
	case 3, 4:
		if len(f.instances) > 0 {
			f.drawIdentity(r, &f.instances[r.IntN(len(f.instances))], r.IntN(3))
		}
	case 5, 6:
		if len(f.instances) > 0 {
			f.instances[r.IntN(len(f.instances))].drawSettings(r, r.IntN(8))
		}
	case 7:
		// VIPs: redrawn, or moved or swapped between two instances.
		if len(f.instances) == 0 {
			break
		}
		i, j := r.IntN(len(f.instances)), r.IntN(len(f.instances))
		switch a, b := &f.instances[i], &f.instances[j]; {
		case i == j || len(a.vips) == 0:
			a.vips = f.drawVIPs(r, a.name)
		case r.IntN(2) == 0:
			a.vips, b.vips = b.vips, a.vips
		default:
			b.vips = append(b.vips, a.vips[0])
			a.vips = a.vips[1:]
		}
	case 8:
		if len(f.instances) > 0 {
			in := &f.instances[r.IntN(len(f.instances))]
			in.tracks = nil
		}
	case 9:
		// A part renamed (removed and added under another name), or two
		// swapped in the file.
		switch {
		case len(f.instances) > 0 && r.IntN(2) == 0:
			f.instances[r.IntN(len(f.instances))].name = pick(r, genInstanceNames...)
		case len(f.listeners) > 1:
			f.listeners[0], f.listeners[1] = f.listeners[1], f.listeners[0]
		case len(f.instances) > 1:
			f.instances[0], f.instances[1] = f.instances[1], f.instances[0]
		}
	case 10:
		if len(f.listeners) < 3 {
			f.addListener(r)
		} else {
			i := r.IntN(len(f.listeners))
			f.listeners = slices.Delete(f.listeners, i, i+1)
		}
	case 11:
		if len(f.listeners) > 0 {
			l := &f.listeners[r.IntN(len(f.listeners))]
			if r.IntN(3) == 0 {
				l.bind = f.drawBind(r, l.name)
			} else {
				l.drawSettings(r, r.IntN(11))
			}
		}
	case 12:
		if len(f.listeners) > 0 {
			l := &f.listeners[r.IntN(len(f.listeners))]
			switch {
			case r.IntN(3) == 0 && len(l.backends) < 3:
				l.addBackend(r)
			case r.IntN(3) == 0 && len(l.backends) > 1:
				i := r.IntN(len(l.backends))
				l.backends = slices.Delete(l.backends, i, i+1)
			case r.IntN(2) == 0:
				// One key of a check changed.
				b := &l.backends[r.IntN(len(l.backends))]
				switch {
				case b.check != nil:
					b.check.tweak(r)
				case l.check != nil:
					l.check.tweak(r)
				}
			default:
				l.backends[r.IntN(len(l.backends))].draw(r, r.IntN(5))
			}
		}
	case 14, 15:
		// One key of a check changed.
		if len(f.listeners) > 0 {
			l := &f.listeners[r.IntN(len(f.listeners))]
			b := &l.backends[r.IntN(len(l.backends))]
			switch {
			case b.check != nil:
				b.check.tweak(r)
			case l.check != nil:
				l.check.tweak(r)
			default:
				b.check = &genCheck{}
				b.check.tweak(r)
			}
		}
	case 13:
		if len(f.listeners) > 0 {
			i := r.IntN(len(f.listeners))
			if r.IntN(2) == 0 {
				f.listeners = slices.Delete(f.listeners, i, i+1)
			} else {
				f.listeners[i].name = pick(r, genListenerNames...)
			}
		}
	}
}

func (f genFile) clone() genFile {
	g := f
	g.instances = slices.Clone(f.instances)
	for i := range g.instances {
		in := &g.instances[i]
		in.vips = slices.Clone(in.vips)
		in.tracks = slices.Clone(in.tracks)
	}
	g.listeners = slices.Clone(f.listeners)
	for i := range g.listeners {
		l := &g.listeners[i]
		l.check = l.check.clone()
		l.backends = slices.Clone(l.backends)
		for j := range l.backends {
			l.backends[j].check = l.backends[j].check.clone()
		}
	}
	return g
}

func (c *genCheck) clone() *genCheck {
	if c == nil {
		return nil
	}
	d := *c
	d.keys = slices.Clone(c.keys)
	return &d
}

// yaml renders f as a configuration file.
func (f genFile) yaml() string {
	var b strings.Builder
	kv := func(indent, key, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%s%s: %s\n", indent, key, value)
		}
	}
	kv("", "control_socket", f.controlSocket)
	kv("", "control_group", f.controlGroup)
	kv("", "log_level", f.logLevel)
	kv("", "metrics_listen", f.metrics)
	kv("", "vrrp_rt_priority", f.rtPrio)
	kv("", "vrrp_sender", f.sender)
	if len(f.instances) == 0 && len(f.listeners) == 0 {
		b.WriteString("inert: true\n")
	}
	if len(f.instances) > 0 {
		b.WriteString("vrrp_instances:\n")
	}
	for _, in := range f.instances {
		fmt.Fprintf(&b, "  - name: %s\n", in.name)
		const ind = "    "
		kv(ind, "interface", in.iface)
		kv(ind, "virtual_router_id", fmt.Sprint(in.vrid))
		kv(ind, "version", in.version)
		kv(ind, "priority", in.priority)
		kv(ind, "advert_interval", in.advert)
		kv(ind, "preempt", in.preempt)
		kv(ind, "preempt_delay", in.preemptDelay)
		kv(ind, "auth_pass", in.authPass)
		kv(ind, "v3_checksum", in.checksum)
		switch in.unicast {
		case "src":
			kv(ind, "unicast_src", "192.0.2.1")
		case "peers":
			kv(ind, "unicast_src", "192.0.2.1")
			kv(ind, "unicast_peers", "[192.0.2.2, 192.0.2.3]")
		case "allowed":
			kv(ind, "allowed_peers", "[192.0.2.2]")
		}
		kv(ind, "max_adopted_advert_interval", in.maxAdopted)
		kv(ind, "late_adverts_tolerated", in.late)
		kv(ind, "virtual_ipaddress", "["+strings.Join(in.vips, ", ")+"]")
		kv(ind, "garp", in.garp)
		kv(ind, "notify", in.notify)
		if len(in.tracks) > 0 {
			b.WriteString(ind + "track:\n")
		}
		for _, t := range in.tracks {
			if t.check != "" {
				fmt.Fprintf(&b, "%s  - {check: %s, weight: %d}\n", ind, t.check, t.weight)
			} else {
				fmt.Fprintf(&b, "%s  - {listener: %s, weight: %d}\n", ind, t.listener, t.weight)
			}
		}
	}
	if len(f.listeners) > 0 {
		b.WriteString("listeners:\n")
	}
	for _, l := range f.listeners {
		fmt.Fprintf(&b, "  - name: %s\n", l.name)
		const ind = "    "
		kv(ind, "bind", l.bind)
		kv(ind, "policy", l.policy)
		kv(ind, "persistence_timeout", l.persistence)
		kv(ind, "maxconn", l.maxconn)
		kv(ind, "connect_timeout", l.connectTimeout)
		kv(ind, "retries", l.retries)
		kv(ind, "on_marked_down", l.onMarkedDown)
		kv(ind, "proxy_protocol", l.proxyProtocol)
		kv(ind, "idle_timeout", l.idle)
		kv(ind, "graceful_timeout", l.graceful)
		kv(ind, "log_sessions", l.logSessions)
		kv(ind, "tcp_user_timeout", l.userTimeout)
		kv(ind, "persistence_netmask6", l.netmask6)
		kv(ind, "check", l.check.yaml())
		b.WriteString(ind + "backends:\n")
		for _, be := range l.backends {
			items := []string{"name: " + be.name, "address: " + be.address}
			for _, it := range []struct{ k, v string }{{"weight", be.weight}, {"maxconn", be.maxconn}, {"proxy_protocol", be.proxyProtocol}, {"check", be.check.yaml()}} {
				if it.v != "" {
					items = append(items, it.k+": "+it.v)
				}
			}
			fmt.Fprintf(&b, "%s  - {%s}\n", ind, strings.Join(items, ", "))
		}
	}
	return b.String()
}

// yaml renders a check section as a flow mapping ("" for none).
func (c *genCheck) yaml() string {
	if c == nil {
		return ""
	}
	items := slices.Clone(c.keys)
	if c.typ != "" {
		items = append([]string{"type: " + c.typ}, items...)
	}
	return "{" + strings.Join(items, ", ") + "}"
}
