package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// validator fills defaults, parses addresses and collects FieldErrors. It
// finds the line of a field by walking the parsed YAML node tree along the
// field's path.
type validator struct {
	root *yaml.Node
	errs Errors
}

// path is a field's location: map keys (string) and sequence indexes (int).
type path []any

func (p path) k(key string) path { return append(p[:len(p):len(p)], key) }
func (p path) i(idx int) path    { return append(p[:len(p):len(p)], idx) }

func (p path) String() string {
	var b strings.Builder
	for _, e := range p {
		switch e := e.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(e)
		case int:
			fmt.Fprintf(&b, "[%d]", e)
		}
	}
	return b.String()
}

// line returns the line of the deepest node of p present in the file.
func (v *validator) line(p path) int {
	n := v.root
	if n == nil {
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, e := range p {
		var next *yaml.Node
		switch e := e.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for j := 0; j+1 < len(n.Content); j += 2 {
					if n.Content[j].Value == e {
						next = n.Content[j+1]
						line = n.Content[j].Line
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && e < len(n.Content) {
				next = n.Content[e]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

// errf records a problem once: a listener's shared check is validated for
// every backend but reported a single time.
func (v *validator) errf(p path, format string, args ...any) {
	fe := FieldError{Field: p.String(), Line: v.line(p), Msg: fmt.Sprintf(format, args...)}
	for _, e := range v.errs {
		if e == fe {
			return
		}
	}
	v.errs = append(v.errs, fe)
}

func (v *validator) config(c *Config) {
	if c.ControlSocket == "" {
		c.ControlSocket = DefaultControlSocket
	}
	switch c.LogLevel {
	case "":
		c.LogLevel = "info"
	case "debug", "info", "warn", "error":
	default:
		v.errf(path{"log_level"}, "must be debug, info, warn or error, not %q", c.LogLevel)
	}
	if c.MetricsListen != "" {
		if _, err := netip.ParseAddrPort(c.MetricsListen); err != nil {
			v.errf(path{"metrics_listen"}, "must be ip:port: %v", err)
		}
	}
	if len(c.VRRPInstances) == 0 && len(c.Listeners) == 0 {
		v.errf(nil, "needs at least one of vrrp_instances and listeners")
	}
	names := map[string]int{}
	vrids := map[string]int{}
	for i := range c.VRRPInstances {
		p := path{"vrrp_instances"}.i(i)
		in := &c.VRRPInstances[i]
		v.vrrp(p, in)
		if j, dup := names[in.Name]; dup && in.Name != "" {
			v.errf(p.k("name"), "%q is also the name of vrrp_instances[%d]", in.Name, j)
		}
		names[in.Name] = i
		key := in.Interface + "/" + strconv.Itoa(in.VirtualRouterID)
		if j, dup := vrids[key]; dup {
			v.errf(p.k("virtual_router_id"), "%d on %s is also used by vrrp_instances[%d]", in.VirtualRouterID, in.Interface, j)
		}
		vrids[key] = i
	}
	vipOwner := map[netip.Addr]int{}
	for i, in := range c.VRRPInstances {
		for j, p := range in.VIPs {
			if k, dup := vipOwner[p.Addr()]; dup && k != i {
				v.errf(path{"vrrp_instances"}.i(i).k("virtual_ipaddress").i(j), "%s is also a VIP of vrrp_instances[%d]", p.Addr(), k)
			}
			vipOwner[p.Addr()] = i
		}
	}
	lnames := map[string]int{}
	for i := range c.Listeners {
		p := path{"listeners"}.i(i)
		l := &c.Listeners[i]
		v.listener(p, l)
		if j, dup := lnames[l.Name]; dup && l.Name != "" {
			v.errf(p.k("name"), "%q is also the name of listeners[%d]", l.Name, j)
		}
		lnames[l.Name] = i
	}
	for i := range c.VRRPInstances {
		for j, t := range c.VRRPInstances[i].Track {
			v.track(path{"vrrp_instances"}.i(i).k("track").i(j), t, c)
		}
	}
}

func (v *validator) vrrp(p path, in *VRRPInstance) {
	if in.Name == "" {
		v.errf(p.k("name"), "is required")
	}
	if in.Interface == "" {
		v.errf(p.k("interface"), "is required")
	} else if len(in.Interface) > 15 {
		v.errf(p.k("interface"), "%q is longer than 15 bytes", in.Interface)
	}
	if in.VirtualRouterID < 1 || in.VirtualRouterID > 255 {
		v.errf(p.k("virtual_router_id"), "must be 1..255, not %d", in.VirtualRouterID)
	}
	if in.Priority == 0 {
		in.Priority = 100
	}
	if in.Priority < 1 || in.Priority > 255 {
		v.errf(p.k("priority"), "must be 1..255, not %d", in.Priority)
	}
	if in.Version == 0 {
		in.Version = 2
	}
	if in.AdvertInterval == 0 {
		in.AdvertInterval = time.Second
	}
	switch in.Version {
	case 2:
		if in.AdvertInterval%time.Second != 0 || in.AdvertInterval < time.Second || in.AdvertInterval > 255*time.Second {
			v.errf(p.k("advert_interval"), "must be whole seconds from 1s to 255s with version 2, not %s", in.AdvertInterval)
		}
		if len(in.AuthPass) > 8 {
			v.errf(p.k("auth_pass"), "must be at most 8 bytes, not %d", len(in.AuthPass))
		}
	case 3:
		if in.AdvertInterval%(10*time.Millisecond) != 0 || in.AdvertInterval < 10*time.Millisecond || in.AdvertInterval > 4095*10*time.Millisecond {
			v.errf(p.k("advert_interval"), "must be whole centiseconds from 10ms to 40.95s with version 3, not %s", in.AdvertInterval)
		}
		if in.AuthPass != "" {
			v.errf(p.k("auth_pass"), "is not allowed with version 3 (RFC 5798 removed authentication)")
		}
	default:
		v.errf(p.k("version"), "must be 2 or 3, not %d", in.Version)
	}
	in.PreemptV = in.Preempt == nil || *in.Preempt
	if in.PreemptDelay < 0 || in.PreemptDelay > time.Hour {
		v.errf(p.k("preempt_delay"), "must be 0s..1h, not %s", in.PreemptDelay)
	}
	switch in.V3Checksum {
	case "":
		in.V3Checksum = "pseudo-header"
	case "pseudo-header", "rfc9568":
	default:
		v.errf(p.k("v3_checksum"), "must be pseudo-header or rfc9568, not %q", in.V3Checksum)
	}
	if in.UnicastSrc != "" {
		a, err := netip.ParseAddr(in.UnicastSrc)
		if err != nil || !a.Is4() {
			v.errf(p.k("unicast_src"), "must be an IPv4 address, not %q", in.UnicastSrc)
		}
		in.Src = a
	}
	in.Peers = in.Peers[:0]
	for j, s := range in.UnicastPeers {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			v.errf(p.k("unicast_peers").i(j), "must be an IPv4 address, not %q", s)
			continue
		}
		in.Peers = append(in.Peers, a)
	}
	if len(in.VirtualIPAddress) == 0 {
		v.errf(p.k("virtual_ipaddress"), "needs at least one address")
	}
	in.VIPs = in.VIPs[:0]
	for j, s := range in.VirtualIPAddress {
		pfx, err := parseVIP(s)
		if err != nil {
			v.errf(p.k("virtual_ipaddress").i(j), "%v", err)
			continue
		}
		in.VIPs = append(in.VIPs, pfx)
	}
	if in.GARP.Count == 0 {
		in.GARP.Count = 5
	}
	if in.GARP.Count < 0 || in.GARP.Count > 100 {
		v.errf(p.k("garp").k("count"), "must be 1..100, not %d", in.GARP.Count)
	}
	if in.GARP.Interval == 0 {
		in.GARP.Interval = 1100 * time.Millisecond
	}
	if in.GARP.Interval < 0 {
		v.errf(p.k("garp").k("interval"), "must be positive, not %s", in.GARP.Interval)
	}
	if in.GARP.Refresh == 0 {
		in.GARP.Refresh = time.Minute
	}
	for j, t := range in.Track {
		tp := p.k("track").i(j)
		if (t.Check == "") == (t.Listener == "") {
			v.errf(tp, "needs exactly one of check and listener")
		}
		if t.Weight == 0 || t.Weight < -254 || t.Weight > 254 {
			v.errf(tp.k("weight"), "must be -254..-1 or 1..254, not %d", t.Weight)
		}
	}
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

func (v *validator) track(p path, t Track, c *Config) {
	if t.Listener != "" {
		for _, l := range c.Listeners {
			if l.Name == t.Listener {
				return
			}
		}
		v.errf(p.k("listener"), "no listener is named %q", t.Listener)
		return
	}
	if t.Check == "" {
		return
	}
	if _, _, err := c.FindBackend(t.Check); err != nil {
		v.errf(p.k("check"), "%v", err)
	}
}

// FindBackend resolves a track reference, "backend" or "listener/backend",
// to indexes into c.Listeners and its Backends.
func (c *Config) FindBackend(ref string) (li, bi int, err error) {
	lname, bname, qualified := strings.Cut(ref, "/")
	if !qualified {
		bname, lname = lname, ""
	}
	found := 0
	for i, l := range c.Listeners {
		if qualified && l.Name != lname {
			continue
		}
		for j, b := range l.Backends {
			if b.Name == bname {
				li, bi = i, j
				found++
			}
		}
	}
	switch found {
	case 0:
		return 0, 0, fmt.Errorf("no backend is named %q", ref)
	case 1:
		return li, bi, nil
	default:
		return 0, 0, fmt.Errorf("%q names a backend of several listeners; write listener/backend", ref)
	}
}

func (v *validator) listener(p path, l *Listener) {
	if l.Name == "" {
		v.errf(p.k("name"), "is required")
	}
	ap, err := netip.ParseAddrPort(l.Bind)
	if err != nil || ap.Port() == 0 {
		v.errf(p.k("bind"), "must be ip:port, not %q", l.Bind)
	}
	l.BindAddr = ap
	switch l.Policy {
	case "":
		l.Policy = "roundrobin"
	case "roundrobin", "wrr", "leastconn":
	default:
		v.errf(p.k("policy"), "must be roundrobin, wrr or leastconn, not %q", l.Policy)
	}
	if l.PersistenceTimeout < 0 {
		v.errf(p.k("persistence_timeout"), "must not be negative")
	}
	if l.PersistenceNetmask == 0 {
		l.PersistenceNetmask = 32
	}
	if l.PersistenceNetmask < 1 || l.PersistenceNetmask > 32 {
		v.errf(p.k("persistence_netmask"), "must be 1..32, not %d", l.PersistenceNetmask)
	}
	if l.MaxConn < 0 {
		v.errf(p.k("maxconn"), "must not be negative")
	}
	if l.ConnectTimeout == 0 {
		l.ConnectTimeout = 5 * time.Second
	}
	if l.ConnectTimeout < 0 {
		v.errf(p.k("connect_timeout"), "must be positive")
	}
	l.RetriesV = 3
	if l.Retries != nil {
		l.RetriesV = *l.Retries
	}
	if l.RetriesV < 0 || l.RetriesV > 100 {
		v.errf(p.k("retries"), "must be 0..100, not %d", l.RetriesV)
	}
	switch l.OnMarkedDown {
	case "":
		l.OnMarkedDown = "shutdown-sessions"
	case "shutdown-sessions", "keep-sessions":
	default:
		v.errf(p.k("on_marked_down"), "must be shutdown-sessions or keep-sessions, not %q", l.OnMarkedDown)
	}
	switch l.ProxyProtocol {
	case "", "v1", "v2":
	default:
		v.errf(p.k("proxy_protocol"), "must be v1, v2 or empty, not %q", l.ProxyProtocol)
	}
	if l.IdleTimeout < 0 {
		v.errf(p.k("idle_timeout"), "must not be negative")
	}
	if l.KeepAlive == 0 {
		l.KeepAlive = 30 * time.Second
	}
	if l.GracefulTimeout == 0 {
		l.GracefulTimeout = 10 * time.Second
	}
	if l.GracefulTimeout < 0 {
		v.errf(p.k("graceful_timeout"), "must be positive")
	}
	if len(l.Backends) == 0 {
		v.errf(p.k("backends"), "needs at least one backend")
	}
	names := map[string]int{}
	for j := range l.Backends {
		bp := p.k("backends").i(j)
		b := &l.Backends[j]
		if b.Name == "" {
			v.errf(bp.k("name"), "is required")
		} else if k, dup := names[b.Name]; dup {
			v.errf(bp.k("name"), "%q is also the name of backends[%d]", b.Name, k)
		}
		names[b.Name] = j
		ba, err := netip.ParseAddrPort(b.Address)
		if err != nil || ba.Port() == 0 {
			v.errf(bp.k("address"), "must be ip:port, not %q", b.Address)
		}
		b.Addr = ba
		b.WeightV = 1
		if b.Weight != nil {
			b.WeightV = *b.Weight
		}
		if b.WeightV < 0 || b.WeightV > 256 {
			v.errf(bp.k("weight"), "must be 0..256, not %d", b.WeightV)
		}
		if b.MaxConn < 0 {
			v.errf(bp.k("maxconn"), "must not be negative")
		}
		switch b.ProxyProtocol {
		case "", "v1", "v2", "none":
		default:
			v.errf(bp.k("proxy_protocol"), "must be v1, v2 or none, not %q", b.ProxyProtocol)
		}
		ck := Check{}
		cp := p.k("check")
		if l.Check != nil {
			ck = *l.Check
		}
		if b.Check != nil {
			ck = *b.Check
			cp = bp.k("check")
		}
		v.check(cp, &ck, ba)
		b.CheckV = ck
	}
}

func (v *validator) check(p path, c *Check, backend netip.AddrPort) {
	switch c.Type {
	case "":
		c.Type = "amqp"
	case "amqp", "tcp", "none":
	default:
		v.errf(p.k("type"), "must be amqp, tcp or none, not %q", c.Type)
	}
	switch c.Mode {
	case "":
		c.Mode = "handshake"
	case "handshake", "login":
	default:
		v.errf(p.k("mode"), "must be handshake or login, not %q", c.Mode)
	}
	if c.Mode == "login" && c.User == "" {
		v.errf(p.k("user"), "is required with mode login")
	}
	if c.VHost == "" {
		c.VHost = "/"
	}
	c.AddrV = backend
	if c.Address != "" {
		a, err := netip.ParseAddrPort(c.Address)
		if err != nil || a.Port() == 0 {
			v.errf(p.k("address"), "must be ip:port, not %q", c.Address)
		}
		c.AddrV = a
	}
	if c.Interval == 0 {
		c.Interval = 2 * time.Second
	}
	if c.FastInterval == 0 {
		c.FastInterval = c.Interval
	}
	if c.DownInterval == 0 {
		c.DownInterval = c.Interval
	}
	if c.Timeout == 0 {
		c.Timeout = min(time.Second, c.Interval)
	}
	for _, d := range []struct {
		key string
		val time.Duration
	}{{"interval", c.Interval}, {"fastinterval", c.FastInterval}, {"downinterval", c.DownInterval}, {"timeout", c.Timeout}} {
		if d.val < 10*time.Millisecond {
			v.errf(p.k(d.key), "must be at least 10ms, not %s", d.val)
		}
	}
	if c.Rise == 0 {
		c.Rise = 2
	}
	if c.Fall == 0 {
		c.Fall = 3
	}
	if c.Rise < 1 || c.Rise > 100 {
		v.errf(p.k("rise"), "must be 1..100, not %d", c.Rise)
	}
	if c.Fall < 1 || c.Fall > 100 {
		v.errf(p.k("fall"), "must be 1..100, not %d", c.Fall)
	}
	if c.SlowStart < 0 {
		v.errf(p.k("slowstart"), "must not be negative")
	}
	switch c.OnAlarm {
	case "":
		c.OnAlarm = "degraded"
	case "degraded", "down":
	default:
		v.errf(p.k("on_alarm"), "must be degraded or down, not %q", c.OnAlarm)
	}
}
