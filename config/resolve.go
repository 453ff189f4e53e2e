package config

import (
	"fmt"
	"net/netip"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/rmqlb/rmqlb/amqpcheck"
	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/netsetup"
	"github.com/rmqlb/rmqlb/notify"
	"github.com/rmqlb/rmqlb/proxyproto"
	"github.com/rmqlb/rmqlb/vrrp"
)

// Limits and defaults of the file that belong to no package of their own.
// Every other limit and default is the owning package's (vrrp, netsetup,
// balancer, healthcheck), referred to here, never restated.
const (
	// DefaultPriority is a VRRP instance's priority when the file sets
	// none (keepalived's default).
	DefaultPriority = 100
	// DefaultVersion is the VRRP version when the file sets none:
	// keepalived's default, so a mixed group works out of the box.
	DefaultVersion = 2
	// DefaultAdvertInterval is keepalived's default advert_int.
	DefaultAdvertInterval = time.Second
	// MaxPreemptDelay is the longest preempt_delay accepted.
	MaxPreemptDelay = time.Hour
	// MaxGARPCount is the most gratuitous ARPs of one burst.
	MaxGARPCount = 100
	// DefaultRetries is how many further backends a listener tries after
	// a failed connect (HAProxy's retries with redispatch).
	DefaultRetries = 3
	// MaxRetries is the largest retries accepted.
	MaxRetries = 100
	// maxSocketPath is the longest unix socket path (sun_path holds 108
	// bytes with the terminating zero).
	maxSocketPath = 107
)

// resolver turns a file into a Config, collecting a FieldError (with its
// line) for every problem instead of stopping at the first.
type resolver struct {
	lines lineIndex
	errs  Errors
}

// errf records a problem once: a listener's shared check is resolved for
// every backend but reported a single time.
func (r *resolver) errf(p path, format string, args ...any) {
	fe := FieldError{Field: p.String(), Line: r.lines.line(p), Msg: fmt.Sprintf(format, args...)}
	for _, e := range r.errs {
		if e == fe {
			return
		}
	}
	r.errs = append(r.errs, fe)
}

// check records err, if any, as the problem of field p.
func (r *resolver) check(p path, err error) {
	if err != nil {
		r.errf(p, "%v", err)
	}
}

func (r *resolver) config(f *file) *Config {
	c := &Config{lines: r.lines}
	c.ControlSocket = f.ControlSocket
	if c.ControlSocket == "" {
		c.ControlSocket = DefaultControlSocket
	}
	switch {
	case !filepath.IsAbs(c.ControlSocket):
		r.errf(path{"control_socket"}, "must be an absolute path, not %q", c.ControlSocket)
	case len(c.ControlSocket) > maxSocketPath:
		r.errf(path{"control_socket"}, "is %d bytes, a unix socket path has at most %d", len(c.ControlSocket), maxSocketPath)
	}
	if f.ControlGroup != "" {
		if _, err := user.LookupGroup(f.ControlGroup); err != nil {
			r.errf(path{"control_group"}, "%v", err)
		}
		c.ControlGroup = f.ControlGroup
	}
	c.LogLevel = zapcore.InfoLevel
	switch f.LogLevel {
	case "", "info":
	case "debug":
		c.LogLevel = zapcore.DebugLevel
	case "warn":
		c.LogLevel = zapcore.WarnLevel
	case "error":
		c.LogLevel = zapcore.ErrorLevel
	default:
		r.errf(path{"log_level"}, "must be debug, info, warn or error, not %q", f.LogLevel)
	}
	if f.MetricsListen != "" {
		ap, err := netip.ParseAddrPort(f.MetricsListen)
		if err != nil {
			r.errf(path{"metrics_listen"}, "must be ip:port: %v", err)
		}
		c.MetricsListen = ap
	}
	c.Inert = f.Inert
	if err := vrrp.CheckRealTimePriority(f.VRRPRTPrio); err != nil {
		r.errf(path{"vrrp_rt_priority"}, "must be 0 (off) or 1..%d, not %d", vrrp.MaxRealTimePriority, f.VRRPRTPrio)
	}
	c.VRRPRealTimePriority = f.VRRPRTPrio
	if sender, err := ParseVRRPSender(f.VRRPSender); err != nil {
		r.errf(path{"vrrp_sender"}, "%v", err)
	} else {
		c.VRRPSender = sender
	}
	switch empty := len(f.VRRPInstances) == 0 && len(f.Listeners) == 0; {
	case empty && !f.Inert:
		r.errf(nil, "needs at least one of vrrp_instances and listeners (or inert: true for a daemon that does nothing)")
	case !empty && f.Inert:
		r.errf(path{"inert"}, "inert: true says the file has no VRRP instance and no listener: remove it to run them")
	case f.Inert:
		c.Warnings = append(c.Warnings, "the file is inert (inert: true): the daemon holds no address, sends no VRRP or ARP and proxies nothing")
	}

	for i := range f.Listeners {
		c.Listeners = append(c.Listeners, r.listener(path{"listeners"}.i(i), &f.Listeners[i]))
	}
	r.uniqueListeners(c.Listeners)
	for i := range f.VRRPInstances {
		c.VRRP = append(c.VRRP, r.instance(path{"vrrp_instances"}.i(i), &f.VRRPInstances[i], c))
	}
	r.uniqueInstances(c.VRRP)
	return c
}

func (r *resolver) instance(p path, f *fileInstance, c *Config) VRRPInstance {
	in := VRRPInstance{Field: p.String(), Name: f.Name, Interface: f.Interface, AuthPass: f.AuthPass}
	r.check(p.k("name"), backend.CheckName(f.Name))
	r.check(p.k("interface"), netsetup.CheckInterfaceName(f.Interface))
	if f.VirtualRouterID < 1 || f.VirtualRouterID > 255 {
		r.errf(p.k("virtual_router_id"), "must be 1..255, not %d", f.VirtualRouterID)
	}
	in.VRID = uint8(f.VirtualRouterID)
	prio := f.Priority
	if prio == 0 {
		prio = DefaultPriority
	}
	if prio < 1 || prio > 255 {
		r.errf(p.k("priority"), "must be 1..255, not %d", prio)
	}
	in.Priority = uint8(prio)
	in.Version = f.Version
	if in.Version == 0 {
		in.Version = DefaultVersion
	}
	in.AdvertInterval = f.AdvertInterval
	if in.AdvertInterval == 0 {
		in.AdvertInterval = DefaultAdvertInterval
	}
	switch in.Version {
	case 2, 3:
		r.check(p.k("advert_interval"), vrrp.CheckAdvertInterval(in.Version, in.AdvertInterval))
	default:
		r.errf(p.k("version"), "must be 2 or 3, not %d", in.Version)
	}
	switch {
	case in.Version == 2 && len(f.AuthPass) > vrrp.MaxAuthPassLen:
		r.errf(p.k("auth_pass"), "must be at most %d bytes, not %d", vrrp.MaxAuthPassLen, len(f.AuthPass))
	case in.Version == 3 && f.AuthPass != "":
		r.errf(p.k("auth_pass"), "is not allowed with version 3 (RFC 5798 removed authentication)")
	}
	in.Preempt = f.Preempt == nil || *f.Preempt
	in.PreemptDelay = f.PreemptDelay
	if f.PreemptDelay < 0 || f.PreemptDelay > MaxPreemptDelay {
		r.errf(p.k("preempt_delay"), "must be 0s..%v, not %v", MaxPreemptDelay, f.PreemptDelay)
	}
	switch f.V3Checksum {
	case "":
		in.Checksum = vrrp.ChecksumPseudoHeader
	default:
		cs, err := vrrp.ParseChecksumMode(f.V3Checksum)
		if err != nil {
			r.errf(p.k("v3_checksum"), "must be pseudo-header or rfc9568, not %q", f.V3Checksum)
		}
		in.Checksum = cs
	}
	if f.UnicastSrc != "" {
		a, err := netip.ParseAddr(f.UnicastSrc)
		if err != nil || !a.Is4() {
			r.errf(p.k("unicast_src"), "must be an IPv4 address, not %q", f.UnicastSrc)
		}
		in.UnicastSrc = a
	}
	peers := map[netip.Addr]int{}
	for j, s := range f.UnicastPeers {
		pp := p.k("unicast_peers").i(j)
		a, err := netip.ParseAddr(s)
		switch {
		case err != nil || !a.Is4():
			r.errf(pp, "must be an IPv4 address, not %q", s)
			continue
		case a == in.UnicastSrc:
			r.errf(pp, "%s is also unicast_src: a host is not its own peer", a)
		}
		if k, dup := peers[a]; dup {
			r.errf(pp, "%s is also unicast_peers[%d]", a, k)
		}
		peers[a] = j
		in.UnicastPeers = append(in.UnicastPeers, a)
	}
	allowed := map[netip.Addr]int{}
	for j, s := range f.AllowedPeers {
		ap := p.k("allowed_peers").i(j)
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			r.errf(ap, "must be an IPv4 address, not %q", s)
			continue
		}
		if k, dup := allowed[a]; dup {
			r.errf(ap, "%s is also allowed_peers[%d]", a, k)
		}
		allowed[a] = j
		in.AllowedPeers = append(in.AllowedPeers, a)
	}
	if len(allowed) > 0 {
		for j, a := range in.UnicastPeers {
			if _, ok := allowed[a]; !ok {
				r.errf(p.k("unicast_peers").i(j), "%s is not in allowed_peers: its adverts would be dropped", a)
			}
		}
	}
	in.MaxAdoptedInterval = f.MaxAdopted
	if m := f.MaxAdopted; m != 0 {
		if err := vrrp.CheckAdvertInterval(3, m); err != nil || m < in.AdvertInterval {
			r.errf(p.k("max_adopted_advert_interval"), "must be whole centiseconds from advert_interval (%v) to 40.95s, not %v", in.AdvertInterval, m)
		}
		if in.Version != 3 {
			r.errf(p.k("max_adopted_advert_interval"), "applies to version 3 only (a version 2 backup never adopts the master's interval)")
		}
	}
	in.LateAdvertsTolerated = f.LateAdverts
	if n := f.LateAdverts; n < 0 || n > vrrp.MaxLateAdvertsTolerated {
		r.errf(p.k("late_adverts_tolerated"), "must be 0 (the RFC's three advert intervals) to %d, not %d", vrrp.MaxLateAdvertsTolerated, n)
	}
	if len(f.VirtualIPAddress) == 0 {
		r.errf(p.k("virtual_ipaddress"), "needs at least one address")
	}
	if len(f.VirtualIPAddress) > vrrp.MaxVIPs {
		r.errf(p.k("virtual_ipaddress"), "has %d addresses, at most %d", len(f.VirtualIPAddress), vrrp.MaxVIPs)
	}
	vips := map[netip.Addr]int{}
	for j, s := range f.VirtualIPAddress {
		vp := p.k("virtual_ipaddress").i(j)
		pfx, err := parseVIP(s)
		if err != nil {
			r.errf(vp, "%v", err)
			continue
		}
		if err := netsetup.CheckVIP(pfx); err != nil {
			r.errf(vp, "%v", err)
			continue
		}
		if !pfx.Addr().Is4() {
			r.errf(vp, "%s: IPv6 VIPs are not supported (VRRP runs over IPv4 only)", pfx)
			continue
		}
		if k, dup := vips[pfx.Addr()]; dup {
			r.errf(vp, "%s is also virtual_ipaddress[%d]", pfx.Addr(), k)
			continue
		}
		vips[pfx.Addr()] = j
		in.VIPs = append(in.VIPs, pfx)
	}
	in.GARP = r.garp(p.k("garp"), f.GARP)
	for j, t := range f.Track {
		in.Track = append(in.Track, r.track(p.k("track").i(j), t, c))
	}
	in.Notify = r.notify(p.k("notify"), f.Notify)
	return in
}

func (r *resolver) garp(p path, f fileGARP) netsetup.GARPConfig {
	g := netsetup.GARPConfig{Count: f.Count, Interval: f.Interval, Refresh: f.Refresh}
	if g.Count == 0 {
		g.Count = netsetup.DefaultGARPCount
	}
	if g.Count < 1 || g.Count > MaxGARPCount {
		r.errf(p.k("count"), "must be 1..%d, not %d", MaxGARPCount, g.Count)
	}
	if g.Interval == 0 {
		g.Interval = netsetup.DefaultGARPInterval
	}
	if g.Interval < 0 {
		r.errf(p.k("interval"), "must be positive, not %v", g.Interval)
	}
	if g.Refresh == 0 {
		g.Refresh = netsetup.DefaultGARPRefresh
	}
	if g.Refresh > 0 && g.Refresh < netsetup.MinGARPRefresh {
		r.errf(p.k("refresh"), "must be at least %v (or negative: off), not %v", netsetup.MinGARPRefresh, g.Refresh)
	}
	return g
}

// parseVIP accepts "a.b.c.d" (a /32) or "a.b.c.d/len" (IPv6 likewise).
func parseVIP(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("must be an address or address/prefix-length, not %q", s)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("must be an address or address/prefix-length, not %q", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// track resolves a track rule against the listeners resolved before it.
func (r *resolver) track(p path, f fileTrack, c *Config) Track {
	t := Track{Listener: f.Listener, Weight: f.Weight}
	r.check(p.k("weight"), healthcheck.CheckTrackWeight(f.Weight))
	switch {
	case (f.Check == "") == (f.Listener == ""):
		r.errf(p, "needs exactly one of check and listener")
	case f.Listener != "":
		l, ok := c.Listener(f.Listener)
		if !ok {
			r.errf(p.k("listener"), "no listener is named %q", f.Listener)
			break
		}
		if checkedBackends(l) == 0 {
			r.errf(p.k("listener"), "listener %q has no checked backend (every check is type none): nothing to track", f.Listener)
		}
	default:
		b, err := findBackend(c, f.Check)
		if err != nil {
			r.errf(p.k("check"), "%v", err)
			break
		}
		if b.Check.Type == CheckNone {
			r.errf(p.k("check"), "backend %s has check type none: nothing to track", b.ID)
		}
		t.Backend = b.ID
	}
	return t
}

// checkedBackends counts the backends of l with a check.
func checkedBackends(l *Listener) int {
	n := 0
	for _, b := range l.Backends {
		if b.Check.Type != CheckNone {
			n++
		}
	}
	return n
}

// findBackend resolves a track reference, "backend" (unique across the
// listeners) or "listener/backend".
func findBackend(c *Config, ref string) (*Backend, error) {
	if strings.Contains(ref, "/") {
		id, err := backend.ParseID(ref)
		if err != nil {
			return nil, err
		}
		if b, ok := c.Backend(id); ok {
			return b, nil
		}
		return nil, fmt.Errorf("no backend is named %q", ref)
	}
	var found *Backend
	n := 0
	for i := range c.Listeners {
		for j := range c.Listeners[i].Backends {
			if b := &c.Listeners[i].Backends[j]; b.ID.Name == ref {
				found = b
				n++
			}
		}
	}
	switch n {
	case 0:
		return nil, fmt.Errorf("no backend is named %q", ref)
	case 1:
		return found, nil
	default:
		return nil, fmt.Errorf("%q names a backend of several listeners; write listener/backend", ref)
	}
}

func (r *resolver) uniqueInstances(ins []VRRPInstance) {
	names := map[string]int{}
	vrids := map[string]int{}
	vipOwner := map[netip.Addr]int{}
	for i, in := range ins {
		p := path{"vrrp_instances"}.i(i)
		if j, dup := names[in.Name]; dup && in.Name != "" {
			r.errf(p.k("name"), "%q is also the name of vrrp_instances[%d]", in.Name, j)
		}
		names[in.Name] = i
		key := in.Interface + "/" + strconv.Itoa(int(in.VRID))
		if j, dup := vrids[key]; dup {
			r.errf(p.k("virtual_router_id"), "%d on %s is also used by vrrp_instances[%d]", in.VRID, in.Interface, j)
		}
		vrids[key] = i
		for j, v := range in.VIPs {
			if k, dup := vipOwner[v.Addr()]; dup && k != i {
				r.errf(p.k("virtual_ipaddress").i(j), "%s is also a VIP of vrrp_instances[%d]", v.Addr(), k)
			}
			vipOwner[v.Addr()] = i
		}
	}
}

func (r *resolver) uniqueListeners(ls []Listener) {
	names := map[string]int{}
	for i, l := range ls {
		p := path{"listeners"}.i(i)
		if j, dup := names[l.Name]; dup && l.Name != "" {
			r.errf(p.k("name"), "%q is also the name of listeners[%d]", l.Name, j)
		}
		names[l.Name] = i
		if !l.Bind.IsValid() {
			continue
		}
		for j, o := range ls[:i] {
			if o.Bind.IsValid() && o.Bind.Port() == l.Bind.Port() &&
				(o.Bind.Addr() == l.Bind.Addr() || o.Bind.Addr().IsUnspecified() || l.Bind.Addr().IsUnspecified()) {
				r.errf(p.k("bind"), "%s overlaps bind %s of listeners[%d]", l.Bind, o.Bind, j)
				break
			}
		}
	}
}

func (r *resolver) listener(p path, f *fileListener) Listener {
	l := Listener{
		Field:              p.String(),
		Name:               f.Name,
		PersistenceTimeout: f.PersistenceTimeout,
		PersistenceNetmask: f.PersistenceNetmask,
		MaxConn:            f.MaxConn,
		ConnectTimeout:     f.ConnectTimeout,
		IdleTimeout:        f.IdleTimeout,
		HandshakeTimeout:   f.HandshakeTimeout,
		FinTimeout:         f.FinTimeout,
		KeepAlive:          f.KeepAlive,
		GracefulTimeout:    f.GracefulTimeout,
		LogSessions:        f.LogSessions,
	}
	r.check(p.k("name"), backend.CheckName(f.Name))
	ap, err := netip.ParseAddrPort(f.Bind)
	switch {
	case err != nil || ap.Port() == 0:
		r.errf(p.k("bind"), "must be ip:port, not %q", f.Bind)
	case ap.Addr().Zone() != "":
		r.errf(p.k("bind"), "%s: zoned addresses are not supported", ap)
	default:
		l.Bind = ap
	}
	l.Policy = balancer.PolicyRoundRobin
	if f.Policy != "" {
		pol, err := balancer.ParsePolicy(f.Policy)
		if err != nil {
			r.errf(p.k("policy"), "must be roundrobin, wrr or leastconn, not %q", f.Policy)
		}
		l.Policy = pol
	}
	if l.PersistenceTimeout < 0 {
		r.errf(p.k("persistence_timeout"), "must not be negative")
	}
	if l.PersistenceNetmask == 0 {
		l.PersistenceNetmask = 32
	}
	if l.PersistenceNetmask < 1 || l.PersistenceNetmask > 32 {
		r.errf(p.k("persistence_netmask"), "must be 1..32, not %d", l.PersistenceNetmask)
	}
	if l.MaxConn < 0 {
		r.errf(p.k("maxconn"), "must not be negative")
	}
	if l.ConnectTimeout == 0 {
		l.ConnectTimeout = balancer.DefaultConnectTimeout
	}
	if l.ConnectTimeout < 0 {
		r.errf(p.k("connect_timeout"), "must be positive")
	}
	l.Retries = DefaultRetries
	if f.Retries != nil {
		l.Retries = *f.Retries
	}
	if l.Retries < 0 || l.Retries > MaxRetries {
		r.errf(p.k("retries"), "must be 0..%d, not %d", MaxRetries, l.Retries)
	}
	if f.OnMarkedDown != "" {
		o, err := ParseOnMarkedDown(f.OnMarkedDown)
		r.check(p.k("on_marked_down"), err)
		l.OnMarkedDown = o
	}
	var pp proxyproto.Version
	switch f.ProxyProtocol {
	case "", "none", "v1", "v2":
		pp, _ = proxyproto.ParseVersion(f.ProxyProtocol)
	default:
		r.errf(p.k("proxy_protocol"), "must be v1, v2 or none, not %q", f.ProxyProtocol)
	}
	if l.IdleTimeout < 0 {
		r.errf(p.k("idle_timeout"), "must not be negative")
	}
	if l.HandshakeTimeout == 0 {
		l.HandshakeTimeout = balancer.DefaultHandshakeTimeout
	}
	if l.FinTimeout == 0 {
		l.FinTimeout = balancer.DefaultFinTimeout
	}
	if l.KeepAlive == 0 {
		l.KeepAlive = balancer.DefaultKeepAlive
	}
	if l.KeepAlive > balancer.MaxKeepAlive {
		r.errf(p.k("keepalive"), "must be at most %v (the kernel's limit), not %v", balancer.MaxKeepAlive, l.KeepAlive)
	}
	if l.GracefulTimeout == 0 {
		l.GracefulTimeout = balancer.DefaultGracefulTimeout
	}
	if l.GracefulTimeout < 0 {
		r.errf(p.k("graceful_timeout"), "must be positive")
	}
	if len(f.Backends) == 0 {
		r.errf(p.k("backends"), "needs at least one backend")
	}
	names := map[string]int{}
	for j := range f.Backends {
		bp := p.k("backends").i(j)
		fb := &f.Backends[j]
		if k, dup := names[fb.Name]; dup && fb.Name != "" {
			r.errf(bp.k("name"), "%q is also the name of backends[%d]", fb.Name, k)
		}
		names[fb.Name] = j
		l.Backends = append(l.Backends, r.backend(bp, fb, p, f, pp))
	}
	return l
}

// backend resolves backend f at p of listener fl at lp.
func (r *resolver) backend(p path, f *fileBackend, lp path, fl *fileListener, listenerPP proxyproto.Version) Backend {
	b := Backend{Field: p.String(), ID: backend.ID{Listener: fl.Name, Name: f.Name}, MaxConn: f.MaxConn}
	r.check(p.k("name"), backend.CheckName(f.Name))
	ba, err := netip.ParseAddrPort(f.Address)
	switch {
	case err != nil || ba.Port() == 0:
		r.errf(p.k("address"), "must be ip:port, not %q", f.Address)
	case ba.Addr().IsUnspecified():
		r.errf(p.k("address"), "must not be the unspecified address %s", ba.Addr())
	default:
		b.Address = ba
	}
	b.Weight = 1
	if f.Weight != nil {
		b.Weight = *f.Weight
	}
	if b.Weight < 0 || b.Weight > balancer.MaxWeight {
		r.errf(p.k("weight"), "must be 0..%d, not %d", balancer.MaxWeight, b.Weight)
	}
	if b.MaxConn < 0 {
		r.errf(p.k("maxconn"), "must not be negative")
	}
	b.ProxyProtocol = listenerPP
	if f.ProxyProtocol != "" {
		v, err := proxyproto.ParseVersion(f.ProxyProtocol)
		if err != nil {
			r.errf(p.k("proxy_protocol"), "must be v1, v2 or none, not %q", f.ProxyProtocol)
		}
		b.ProxyProtocol = v
	}
	var fc fileCheck
	var cp path // nil: no check section, every default
	switch {
	case f.Check != nil:
		fc, cp = *f.Check, p.k("check")
	case fl.Check != nil:
		fc, cp = *fl.Check, lp.k("check")
	}
	b.Check = r.checkOf(cp, fc, b.Address)
	b.Check.ProxyProtocol = b.ProxyProtocol != proxyproto.None
	return b
}

// checkOf resolves a check section at p (nil: none written, all defaults)
// for a backend at addr.
func (r *resolver) checkOf(p path, f fileCheck, addr netip.AddrPort) Check {
	c := Check{Field: p.String(), User: f.User, Password: f.Password, VHost: f.VHost, Address: addr}
	if f.Type != "" {
		t, err := ParseCheckType(f.Type)
		r.check(p.k("type"), err)
		c.Type = t
	}
	c.Mode = amqpcheck.ModeHandshake
	if f.Mode != "" {
		m, err := amqpcheck.ParseMode(f.Mode)
		if err != nil {
			r.errf(p.k("mode"), "must be handshake or login, not %q", f.Mode)
		}
		c.Mode = m
	}
	if c.Type == CheckAMQP && c.Mode == amqpcheck.ModeLogin && c.User == "" {
		r.errf(p.k("user"), "is required with mode login")
	}
	if c.VHost == "" {
		c.VHost = "/"
	}
	if f.Address != "" {
		a, err := netip.ParseAddrPort(f.Address)
		if err != nil || a.Port() == 0 {
			r.errf(p.k("address"), "must be ip:port, not %q", f.Address)
		}
		c.Address = a
	}
	s := healthcheck.CheckConfig{
		Interval: f.Interval, FastInterval: f.FastInterval, DownInterval: f.DownInterval,
		Timeout: f.Timeout, Rise: f.Rise, Fall: f.Fall, SlowStart: f.SlowStart,
	}
	if f.OnAlarm != "" {
		a, err := healthcheck.ParseAlarmAction(f.OnAlarm)
		if err != nil {
			r.errf(p.k("on_alarm"), "must be degraded or down, not %q", f.OnAlarm)
		}
		s.OnAlarm = a
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"interval", f.Interval}, {"fastinterval", f.FastInterval}, {"downinterval", f.DownInterval}, {"timeout", f.Timeout}} {
		if d.v != 0 && d.v < healthcheck.MinInterval {
			r.errf(p.k(d.key), "must be at least %v, not %v", healthcheck.MinInterval, d.v)
		}
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"rise", f.Rise}, {"fall", f.Fall}} {
		if n.v < 0 || n.v > healthcheck.MaxRiseFall {
			r.errf(p.k(n.key), "must be 1..%d, not %d", healthcheck.MaxRiseFall, n.v)
		}
	}
	if f.SlowStart < 0 {
		r.errf(p.k("slowstart"), "must not be negative")
	}
	c.Schedule = s.WithDefaults()
	return c
}

// notify resolves an instance's notify hooks (nil: none). Whether each
// program exists is a property of the host, checked by Load as a warning.
func (r *resolver) notify(p path, f *fileNotify) notify.Config {
	if f == nil {
		return notify.Config{}
	}
	c := notify.Config{Master: f.Master, Backup: f.Backup, Fault: f.Fault, Stop: f.Stop, Timeout: f.Timeout}
	for _, k := range notify.Kinds {
		if argv := c.Argv(k); argv != nil {
			r.check(p.k(k.Key()), notify.CheckArgv(argv))
		}
	}
	r.check(p.k("timeout"), notify.CheckTimeout(f.Timeout))
	if c.Timeout == 0 {
		c.Timeout = notify.DefaultTimeout
	}
	return c
}
