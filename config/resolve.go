package config

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/netip"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/rmqlb/rmqlb/amqpcheck"
	"github.com/rmqlb/rmqlb/backend"
	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/checktls"
	"github.com/rmqlb/rmqlb/healthcheck"
	"github.com/rmqlb/rmqlb/httpcheck"
	"github.com/rmqlb/rmqlb/internal/fielderr"
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
	// DefaultRetries is how many further backends a listener tries after
	// a failed connect (HAProxy's retries with redispatch); the
	// balancer's zero value retries none.
	DefaultRetries = 3
	// maxSocketPath is the longest unix socket path (sun_path holds 108
	// bytes with the terminating zero).
	maxSocketPath = 107
)

// DefaultCloseSpread is a listener's close_spread when the file sets none:
// four fifths of its graceful_timeout (8 s of the default 10 s). AMQP
// connections last for days and seldom end within a grace period, so at
// an upgrade in place nearly every client is still there when it ends;
// closing them evenly over most of it lets them reconnect a few at a time
// rather than all at once, while its first fifth still lets the sessions
// about to end (a client that publishes and disconnects) end by
// themselves.
func DefaultCloseSpread(graceful time.Duration) time.Duration { return graceful / 5 * 4 }

// resolver turns a file into a Config, collecting a FieldError (with its
// line) for every problem instead of stopping at the first.
type resolver struct {
	lines lineIndex
	// readFile reads a file the configuration names (a file of client
	// addresses); nil: the configuration is parsed without reading any
	// (Parse), and a file named is an error.
	readFile func(name string) ([]byte, error)
	// skipFiles resolves the configuration without the files it names
	// (LoadVRRP): a file of client addresses is neither read nor an
	// error, and the listener's list holds its inline entries alone.
	skipFiles bool
	// files are the files read with readFile, for Config.Files.
	files []FileRead
	errs  Errors
	cols  []int // the column of each of errs, to put them in file order
	// warns are the warnings of keys the daemon runs without, each once.
	warns []string
}

// warnf records a warning of the key at p once, as "FIELD (line N): MSG",
// as Config.Warnings has them.
func (r *resolver) warnf(p path, format string, args ...any) {
	line, _ := r.lines.pos(p)
	w := fmt.Sprintf("%s (line %d): %s", p, line, fmt.Sprintf(format, args...))
	if !slices.Contains(r.warns, w) {
		r.warns = append(r.warns, w)
	}
}

// errf records a problem once: a listener's shared check is resolved for
// every backend but reported a single time.
func (r *resolver) errf(p path, format string, args ...any) {
	line, col := r.lines.pos(p)
	fe := FieldError{Field: p.String(), Line: line, Msg: fmt.Sprintf(format, args...)}
	for _, e := range r.errs {
		if e == fe {
			return
		}
	}
	r.errs = append(r.errs, fe)
	r.cols = append(r.cols, col)
}

// fields records the problems that a package's check (its Validate) finds
// in what was built from the section at p. The rules are the package's:
// the resolver only places them. A fielderr.Error is recorded at its
// field's key under p, the field's first name renamed by keys where the
// package's name is not the file's key (keys maps it to the key's whole
// path); any other error at p. A field that already has a problem from
// the resolver (a value that did not parse, so the package saw its zero
// value) or from an earlier check (a rule two packages share) keeps that
// one: each problem is reported once.
func (r *resolver) fields(p path, err error, keys map[string]path) {
	before := len(r.errs)
	fes, others := fielderr.Split(err)
	for _, fe := range fes {
		q := append(p[:len(p):len(p)], parsePath(fe.Field)...)
		if f := parsePath(fe.Field); len(f) > 0 {
			if k, ok := f[0].(string); ok && keys[k] != nil {
				q = append(keys[k][:len(keys[k]):len(keys[k])], f[1:]...)
			}
		}
		if !r.refused(q.String(), before) {
			r.errf(q, "%v", fe.Err)
		}
	}
	for _, e := range others {
		r.errf(p, "%v", e)
	}
}

// refused reports whether one of the first n problems is at field.
func (r *resolver) refused(field string, n int) bool {
	for _, e := range r.errs[:n] {
		if e.Field == field {
			return true
		}
	}
	return false
}

// sorted returns the problems in file order: by line, then column.
func (r *resolver) sorted() Errors {
	idx := make([]int, len(r.errs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ea, eb := r.errs[idx[a]], r.errs[idx[b]]
		if ea.Line != eb.Line {
			return ea.Line < eb.Line
		}
		return r.cols[idx[a]] < r.cols[idx[b]]
	})
	es := make(Errors, len(idx))
	for i, j := range idx {
		es[i] = r.errs[j]
	}
	return es
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
	if f.StateFile != "" {
		if !filepath.IsAbs(f.StateFile) || strings.HasSuffix(f.StateFile, "/") {
			r.errf(path{"state_file"}, "must be an absolute path of a file, not %q", f.StateFile)
		}
		c.StateFile = filepath.Clean(f.StateFile)
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
		switch {
		case err != nil:
			r.errf(path{"metrics_listen"}, "must be ip:port: %v", err)
		case ap.Port() == 0:
			r.errf(path{"metrics_listen"}, "must name a port, not 0")
		}
		c.MetricsListen = ap
	}
	c.Inert = f.Inert
	r.check(path{"vrrp_rt_priority"}, vrrp.CheckRealTimePriority(f.VRRPRTPrio))
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
	r.metricsApart(c)
	for i := range f.VRRPInstances {
		c.VRRP = append(c.VRRP, r.instance(path{"vrrp_instances"}.i(i), &f.VRRPInstances[i], c))
	}
	r.uniqueInstances(c.VRRP)
	r.noSelfLoops(c)
	c.Warnings = append(c.Warnings, r.warns...)
	c.Warnings = append(c.Warnings, c.guestWarnings()...)
	c.Warnings = append(c.Warnings, c.managementWarnings()...)
	c.Warnings = append(c.Warnings, c.backupWarnings()...)
	c.Warnings = append(c.Warnings, c.clientLimitWarnings()...)
	c.Warnings = append(c.Warnings, c.heartbeatWarnings()...)
	c.Warnings = append(c.Warnings, c.stopBudgetWarnings()...)
	return c
}

// clientLimitWarnings returns a warning for every listener whose
// maxconn_per_client is not below its maxconn: one client address may
// still take every connection, so the limit does nothing.
func (c *Config) clientLimitWarnings() []string {
	var ws []string
	for _, l := range c.Listeners {
		if l.MaxConn > 0 && l.MaxConnPerClient >= l.MaxConn {
			f := l.Field + ".maxconn_per_client"
			ws = append(ws, fmt.Sprintf("%s (line %d): %d is not below the listener's maxconn %d, so one client address may still take every connection: it does nothing",
				f, c.Line(f), l.MaxConnPerClient, l.MaxConn))
		}
	}
	return ws
}

// backupWarnings returns a warning for every listener that sets
// all_backups or on_marked_up: shutdown-backup-sessions without a backup
// backend: the setting does nothing (a backup: true left out, or put on
// another listener).
func (c *Config) backupWarnings() []string {
	var ws []string
	for _, l := range c.Listeners {
		if slices.ContainsFunc(l.Backends, func(b Backend) bool { return b.Backup }) {
			continue
		}
		for _, k := range []struct {
			key string
			set bool
		}{{"all_backups", l.AllBackups}, {"on_marked_up", l.OnMarkedUp == ShutdownBackupSessions}} {
			if k.set {
				f := l.Field + "." + k.key
				ws = append(ws, fmt.Sprintf("%s (line %d): no backend of listener %s is a backup (backup: true), so it does nothing", f, c.Line(f), l.Name))
			}
		}
	}
	return ws
}

// managementWarnings returns a warning for every http check of RabbitMQ's
// management API (a path under /api/) that every node would answer 401,
// but with method OPTIONS or where 401 passes: one without credentials
// (its backends DOWN from the start), and one as guest to an address off
// loopback, which RabbitMQ refuses unless the brokers set
// loopback_users.guest = false (a refused login: DEGRADED, or DOWN with
// on_login_refused: down). Once for a check section its backends share.
func (c *Config) managementWarnings() []string {
	seen := map[string]bool{}
	var ws []string
	for _, l := range c.Listeners {
		for _, b := range l.Backends {
			ck := b.Check
			if ck.Type != CheckHTTP || !strings.HasPrefix(ck.Path, "/api/") || ck.Method == http.MethodOptions ||
				ck.Expect.Contains(http.StatusUnauthorized) || seen[ck.Field] {
				continue
			}
			var w string
			field := ck.Field + ".user"
			switch {
			case ck.User == "":
				field = ck.Field + ".path"
				w = "RabbitMQ's management API answers 401 without credentials, so every node fails this check and its backends are DOWN from the start: give it the user and password of a user tagged monitoring"
			case ck.User == "guest" && !ck.Address.Addr().IsLoopback():
				w = "RabbitMQ refuses guest from anywhere but localhost unless the brokers set loopback_users.guest = false (by default every node answers this check 401, and its backends are DEGRADED from the start, DOWN with on_login_refused: down): give the check a user of its own, tagged monitoring"
			default:
				continue
			}
			seen[ck.Field] = true
			ws = append(ws, fmt.Sprintf("%s (line %d): %s", field, c.Line(field), w))
		}
	}
	return ws
}

// guestWarnings returns a warning for every check that logs in as guest
// (an AMQP login check, an MQTT, STOMP or stream check) to a broker that is not
// on a loopback address: by default (loopback_users) RabbitMQ lets guest
// log in from localhost only, over every protocol, so the broker refuses
// the check and the backend is DEGRADED (or DOWN with on_login_refused:
// down) from the start. Once for a listener's check section its backends
// share.
func (c *Config) guestWarnings() []string {
	seen := map[string]bool{}
	var ws []string
	for _, l := range c.Listeners {
		for _, b := range l.Backends {
			ck := b.Check
			logsIn := ck.Type == CheckMQTT || ck.Type == CheckSTOMP || ck.Type == CheckStream ||
				ck.Type == CheckAMQP && ck.Mode == amqpcheck.ModeLogin && ck.Mechanism == amqpcheck.MechanismPlain
			if !logsIn || ck.User != "guest" || ck.Address.Addr().IsLoopback() || seen[ck.Field] {
				continue
			}
			seen[ck.Field] = true
			field := ck.Field + ".user"
			ws = append(ws, fmt.Sprintf("%s (line %d): RabbitMQ refuses guest from anywhere but localhost unless the brokers set loopback_users.guest = false (by default they refuse this check, and its backends are DEGRADED from the start): give the check a user of its own",
				field, c.Line(field)))
		}
	}
	return ws
}

func (r *resolver) instance(p path, f *fileInstance, c *Config) VRRPInstance {
	in := VRRPInstance{Field: p.String(), Name: f.Name, Interface: f.Interface, AuthPass: f.AuthPass}
	in.VRID = r.byteOf(p.k("virtual_router_id"), f.VirtualRouterID, vrrp.CheckVRID)
	prio := DefaultPriority
	if f.Priority != nil {
		prio = *f.Priority // 0 too: CheckPriority says why not
	}
	in.Priority = r.byteOf(p.k("priority"), prio, vrrp.CheckPriority)
	in.Version = f.Version
	if in.Version == 0 {
		in.Version = DefaultVersion
	}
	in.AdvertInterval = f.AdvertInterval
	if in.AdvertInterval == 0 {
		in.AdvertInterval = DefaultAdvertInterval
	}
	if err := vrrp.CheckAdvertInterval(in.Version, in.AdvertInterval); f.Version == 0 && err != nil &&
		vrrp.CheckAdvertInterval(3, in.AdvertInterval) == nil {
		// Version 3 takes it: say that the version is the default one
		// (vrrp's own check, later, would be dropped as a second
		// problem of this field).
		r.errf(p.k("advert_interval"), "%v (version %d is the default: set version: 3 for centiseconds, on every router of the virtual router)", err, DefaultVersion)
	}
	in.Preempt = f.Preempt == nil || *f.Preempt
	in.PreemptDelay = f.PreemptDelay
	cs, err := vrrp.ParseChecksumMode(f.V3Checksum) // "": the default
	r.check(p.k("v3_checksum"), err)
	in.Checksum = cs
	if f.UnicastSrc != "" {
		a, err := netip.ParseAddr(f.UnicastSrc)
		if err != nil {
			r.errf(p.k("unicast_src"), "must be an IPv4 address, not %q", f.UnicastSrc)
		}
		in.UnicastSrc = a
	}
	// A list keeps an entry for every item of the file, the zero value
	// for one that does not parse, so that vrrp's problems name the
	// file's indexes.
	in.UnicastPeers = r.addrs(p.k("unicast_peers"), f.UnicastPeers)
	in.AllowedPeers = r.addrs(p.k("allowed_peers"), f.AllowedPeers)
	in.MaxAdoptedInterval = f.MaxAdopted
	in.LateAdvertsTolerated = f.LateAdverts
	for j, s := range f.VirtualIPAddress {
		pfx, err := parseAddrOrPrefix(s)
		if err != nil {
			r.errf(p.k("virtual_ipaddress").i(j), "%v", err)
		}
		in.VIPs = append(in.VIPs, pfx)
	}
	in.GARP = netsetup.GARPConfig{Count: f.GARP.Count, Interval: f.GARP.Interval, Refresh: f.GARP.Refresh,
		NoProbe: f.GARP.Probe != nil && !*f.GARP.Probe}
	if in.GARP.Count == 0 {
		in.GARP.Count = netsetup.DefaultGARPCount
	}
	if in.GARP.Interval == 0 {
		in.GARP.Interval = netsetup.DefaultGARPInterval
	}
	if in.GARP.Refresh == 0 {
		in.GARP.Refresh = netsetup.DefaultGARPRefresh
	}
	for j, t := range f.Track {
		in.Track = append(in.Track, r.track(p.k("track").i(j), t, c))
	}
	in.Notify = r.notify(f.Notify)
	return in
}

// byteOf converts the file's integer v at p to the byte of a vrrp.Config
// field. A value no byte holds is refused with check, the field's rule in
// vrrp, which cannot see it; any other value is vrrp's to check.
func (r *resolver) byteOf(p path, v int, check func(int) error) uint8 {
	if v < 0 || v > 255 {
		r.check(p, check(v))
		return 0
	}
	return uint8(v)
}

// addrs parses the list of addresses at p, the zero address for an item
// that does not parse.
func (r *resolver) addrs(p path, list []string) []netip.Addr {
	var out []netip.Addr
	for j, s := range list {
		a, err := netip.ParseAddr(s)
		if err != nil {
			r.errf(p.i(j), "must be an IPv4 address, not %q", s)
		}
		out = append(out, a)
	}
	return out
}

// parseAddrOrPrefix accepts "a.b.c.d" (a /32) or "a.b.c.d/len" (IPv6
// likewise): a VIP, an entry of allowed_clients. An address's zone is
// dropped; a prefix with one is refused.
func parseAddrOrPrefix(s string) (netip.Prefix, error) {
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
			if !v.IsValid() {
				continue
			}
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
			if o.Bind.IsValid() && bindsOverlap(o.Bind, l.Bind) {
				r.errf(p.k("bind"), "%s overlaps bind %s of listeners[%d]", l.Bind, o.Bind, j)
				break
			}
		}
	}
}

// bindsOverlap reports whether sockets bound to a and b would take the
// same port: the same address, or an unspecified one that covers the
// other (0.0.0.0 every IPv4 address, [::] every address, IPv4 too, as the
// daemon binds it dual-stack).
func bindsOverlap(a, b netip.AddrPort) bool {
	if a.Port() != b.Port() {
		return false
	}
	x, y := a.Addr(), b.Addr()
	covers := func(u, v netip.Addr) bool { return u.IsUnspecified() && (u.Is6() || v.Is4()) }
	return x == y || covers(x, y) || covers(y, x)
}

// noSelfLoops refuses a backend address, or a check's own address, that
// is one of the file's listeners (balancer.SelfAddress): the listener's
// exact bind, or an address of this host that an unspecified bind (0.0.0.0
// or [::]) covers at its port: a loopback address, a VIP of the file or an
// instance's unicast_src. The proxy would connect to itself and hand each
// such connection on to itself again, and a check there would pass through
// the proxy to another backend. A bind of 0.0.0.0 and another address of
// the host as a backend is such a loop too, seen only on the host: the
// proxy refuses those connections when it makes them.
func (r *resolver) noSelfLoops(c *Config) {
	local := map[netip.Addr]bool{}
	for _, in := range c.VRRP {
		for _, v := range in.VIPs {
			local[v.Addr()] = true
		}
		if in.UnicastSrc.IsValid() {
			local[in.UnicastSrc] = true
		}
	}
	reported := map[string]bool{}
	refuse := func(p path, a netip.AddrPort) {
		if !a.IsValid() || reported[p.String()] {
			return
		}
		for j, l := range c.Listeners {
			if ReachesBind(l.Bind, a, local) {
				reported[p.String()] = true
				r.errf(p, "%s is where listeners[%d] (bind %s) listens: the proxy would connect to itself, not to a broker", a, j, l.Bind)
				return
			}
		}
	}
	for i, l := range c.Listeners {
		for k, b := range l.Backends {
			refuse(path{"listeners"}.i(i).k("backends").i(k).k("address"), b.Address)
			if b.Check.Type != CheckNone && b.Check.Address != b.Address {
				refuse(parsePath(b.Check.Field).k("address"), b.Check.Address)
			}
		}
	}
}

// ReachesBind reports whether a connection to dst would reach a listener
// bound at bind, as far as a configuration file can tell
// (balancer.SelfAddress): dst is the bind, or a loopback address at its
// port under an unspecified bind, or another address at its port under
// such a bind that host holds (the addresses the file shows to be this
// host's: its VIPs and unicast_src). False when either is invalid.
func ReachesBind(bind, dst netip.AddrPort, host map[netip.Addr]bool) bool {
	if !bind.IsValid() || !dst.IsValid() {
		return false
	}
	loops, unsure := balancer.SelfAddress(bind, dst)
	return loops || (unsure && host[dst.Addr().Unmap()])
}

// metricsApart refuses a metrics_listen that a listener's bind overlaps:
// the daemon could not bind both.
func (r *resolver) metricsApart(c *Config) {
	m := c.MetricsListen
	if !m.IsValid() || m.Port() == 0 {
		return
	}
	for i, l := range c.Listeners {
		if l.Bind.IsValid() && bindsOverlap(l.Bind, m) {
			r.errf(path{"metrics_listen"}, "%s overlaps bind %s of listeners[%d]", m, l.Bind, i)
			return
		}
	}
}

func (r *resolver) listener(p path, f *fileListener) Listener {
	l := Listener{
		Field:                 p.String(),
		Name:                  f.Name,
		AllBackups:            f.AllBackups,
		PersistenceTimeout:    f.PersistenceTimeout,
		PersistenceNetmask:    f.PersistenceNetmask,
		PersistenceNetmask6:   f.PersistenceNetmask6,
		PersistenceMaxClients: f.PersistenceMaxClients,
		MaxConn:               f.MaxConn,
		MaxConnPerClient:      f.MaxConnPerClient,
		ConnectTimeout:        f.ConnectTimeout,
		IdleTimeout:           f.IdleTimeout,
		HandshakeTimeout:      f.HandshakeTimeout,
		FinTimeout:            f.FinTimeout,
		KeepAlive:             f.KeepAlive,
		TCPUserTimeout:        f.TCPUserTimeout,
		GracefulTimeout:       f.GracefulTimeout,
		LogSessions:           f.LogSessions,
	}
	// The file names the port a listener binds; the balancer also takes
	// port 0 (the kernel's choice, for tests).
	if ap, err := netip.ParseAddrPort(f.Bind); err != nil || ap.Port() == 0 {
		r.errf(p.k("bind"), "must be ip:port, not %q", f.Bind)
	} else {
		l.Bind = ap
	}
	l.Policy = balancer.PolicyRoundRobin
	if f.Policy != "" {
		l.Policy = balancer.Policy(f.Policy) // the balancer's Validate knows the policies
	}
	if l.PersistenceNetmask == 0 {
		l.PersistenceNetmask = balancer.DefaultPersistenceNetmask
	}
	if l.PersistenceNetmask6 == 0 {
		l.PersistenceNetmask6 = balancer.DefaultPersistenceNetmask6
	}
	if l.PersistenceMaxClients == 0 {
		l.PersistenceMaxClients = balancer.DefaultPersistenceMaxClients
	}
	if l.ConnectTimeout == 0 {
		l.ConnectTimeout = balancer.DefaultConnectTimeout
	}
	l.AllowedClientsFile, l.DeniedClientsFile = f.AllowedClientsFile, f.DeniedClientsFile
	allowedFile, hasAllowedFile := r.clientFile(p.k("allowed_clients_file"), f.AllowedClientsFile)
	deniedFile, _ := r.clientFile(p.k("denied_clients_file"), f.DeniedClientsFile)
	l.AllowedClients = r.allowedClients(p, l.Bind, f.AllowedClients, allowedFile, hasAllowedFile)
	if l.AllowedClients != nil {
		l.AllowedFromFile = len(allowedFile)
	}
	if denied := append(r.clientPrefixes(p.k("denied_clients"), f.DeniedClients), deniedFile...); len(denied) > 0 {
		l.DeniedClients, l.DeniedFromFile = denied, len(deniedFile)
	}
	l.Retries = DefaultRetries
	if f.Retries != nil {
		l.Retries = *f.Retries
	}
	if f.OnMarkedDown != "" {
		o, err := ParseOnMarkedDown(f.OnMarkedDown)
		r.check(p.k("on_marked_down"), err)
		l.OnMarkedDown = o
	}
	if f.OnMarkedUp != "" {
		o, err := ParseOnMarkedUp(f.OnMarkedUp)
		r.check(p.k("on_marked_up"), err)
		l.OnMarkedUp = o
	}
	pp, err := proxyproto.ParseVersion(f.ProxyProtocol)
	r.check(p.k("proxy_protocol"), err)
	if l.HandshakeTimeout == 0 {
		l.HandshakeTimeout = balancer.DefaultHandshakeTimeout
	}
	if l.FinTimeout == 0 {
		l.FinTimeout = balancer.DefaultFinTimeout
	}
	if l.KeepAlive == 0 {
		l.KeepAlive = balancer.DefaultKeepAlive
	}
	if l.GracefulTimeout == 0 {
		l.GracefulTimeout = balancer.DefaultGracefulTimeout
	}
	l.CloseSpread = DefaultCloseSpread(l.GracefulTimeout)
	if f.CloseSpread != nil {
		l.CloseSpread = *f.CloseSpread
	}
	// The balancer takes a negative graceful timeout (close at once: what
	// a listener bound to a VIP does, see BalancerConfig); the file does
	// not.
	if l.GracefulTimeout < 0 {
		r.errf(p.k("graceful_timeout"), "must be positive, not %v", l.GracefulTimeout)
	} else if l.CloseSpread > l.GracefulTimeout {
		r.errf(p.k("close_spread"), "must be at most graceful_timeout (%v), the time the sessions left are closed within, not %v",
			l.GracefulTimeout, l.CloseSpread)
	}
	for j := range f.Backends {
		l.Backends = append(l.Backends, r.backend(p.k("backends").i(j), &f.Backends[j], p, f, pp))
	}
	return l
}

// backend resolves backend f at p of listener fl at lp.
func (r *resolver) backend(p path, f *fileBackend, lp path, fl *fileListener, listenerPP proxyproto.Version) Backend {
	b := Backend{Field: p.String(), ID: backend.ID{Listener: fl.Name, Name: f.Name}, MaxConn: f.MaxConn, Backup: f.Backup}
	if ba, err := netip.ParseAddrPort(f.Address); err != nil {
		r.errf(p.k("address"), "must be ip:port, not %q", f.Address)
	} else {
		b.Address = ba
	}
	b.Weight = 1
	if f.Weight != nil {
		b.Weight = *f.Weight
	}
	b.ProxyProtocol = listenerPP
	if f.ProxyProtocol != "" {
		v, err := proxyproto.ParseVersion(f.ProxyProtocol)
		r.check(p.k("proxy_protocol"), err)
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
	b.Check = r.checkOf(cp, fc, b.Address, p.k("address"))
	b.Check.ProxyProtocol = b.ProxyProtocol != proxyproto.None
	return b
}

// checkOf resolves a check section at p (nil: none written, all defaults)
// for a backend at addr, written at addrPath. The schedule's rules are
// healthcheck's and an AMQP check's amqpcheck's: they are checked here on
// the file's values, where a zero value is the default, and placed at
// the keys of p (the address at addrPath unless the section has its own).
func (r *resolver) checkOf(p path, f fileCheck, addr netip.AddrPort, addrPath path) Check {
	c := Check{Field: p.String(), User: f.User, Password: f.Password, VHost: f.VHost, Cluster: f.Cluster, Address: addr}
	if f.Type != "" {
		t, err := ParseCheckType(f.Type)
		r.check(p.k("type"), err)
		c.Type = t
	}
	c.Mode = amqpcheck.ModeHandshake
	if f.Mode != "" {
		m, err := amqpcheck.ParseMode(f.Mode)
		r.check(p.k("mode"), err)
		c.Mode = m
	}
	c.Mechanism = amqpcheck.MechanismPlain
	if f.Mechanism != "" {
		m, err := amqpcheck.ParseMechanism(f.Mechanism)
		r.check(p.k("mechanism"), err)
		c.Mechanism = m
	}
	if c.Type == CheckAMQP && c.Mode == amqpcheck.ModeLogin && c.User == "" && c.Mechanism == amqpcheck.MechanismPlain {
		r.errf(p.k("user"), "is required with mode login")
	}
	if c.VHost == "" {
		c.VHost = amqpcheck.DefaultVHost
	}
	if f.Address != "" {
		// A TCP check has no rules of its own: its address is the
		// file's to check.
		a, err := netip.ParseAddrPort(f.Address)
		if err != nil || a.Port() == 0 {
			r.errf(p.k("address"), "must be ip:port, not %q", f.Address)
		}
		c.Address = a
		addrPath = p.k("address")
	}
	s := healthcheck.CheckConfig{
		Interval: f.Interval, FastInterval: f.FastInterval, DownInterval: f.DownInterval,
		Timeout: f.Timeout, Rise: f.Rise, Fall: f.Fall, SlowStart: f.SlowStart, BusyGrace: f.BusyGrace,
	}
	if f.OnAlarm != "" {
		a, err := healthcheck.ParseAlarmAction(f.OnAlarm)
		r.check(p.k("on_alarm"), err)
		s.OnAlarm = a
	}
	r.fields(p, s.Validate(), map[string]path{
		"fast_interval": p.k("fastinterval"), "down_interval": p.k("downinterval"), "slow_start": p.k("slowstart"),
	})
	c.Schedule = s.WithDefaults()
	c.OnLoginRefused = amqpcheck.RefusedDegraded
	if f.OnLoginRefused != "" {
		a, err := amqpcheck.ParseOnRefused(f.OnLoginRefused)
		r.check(p.k("on_login_refused"), err)
		c.OnLoginRefused = a
		if !c.Type.speaksProtocol() {
			r.errf(p.k("on_login_refused"), "needs type amqp, http, mqtt, stomp or stream (%s does not log in)", c.Type.aCheck())
		}
	}
	if c.Cluster != "" && c.Type != CheckAMQP && c.Type != CheckStream {
		r.errf(p.k("cluster"), "needs type amqp or stream (%s does not hear the broker's cluster)", c.Type.aCheck())
	}
	if f.TLS != nil {
		c.TLS = &checktls.Config{ServerName: f.TLS.ServerName, CAFile: f.TLS.CAFile,
			CertFile: f.TLS.CertFile, KeyFile: f.TLS.KeyFile, Verify: checktls.Verify(f.TLS.Verify)}
		if c.TLS.Verify == "" {
			c.TLS.Verify = checktls.VerifyFull
		}
		if !c.Type.speaksProtocol() {
			r.errf(p.k("tls"), "needs type amqp, http, mqtt, stomp or stream (%s does not speak TLS)", c.Type.aCheck())
		}
	}
	r.httpOf(p, f, &c)
	r.keysOf(p, f, c.Type)
	switch c.Type {
	case CheckAMQP:
		r.fields(p, c.AMQPConfig().Validate(), map[string]path{"addr": addrPath})
	case CheckHTTP:
		r.fields(p, c.HTTPConfig().Validate(), map[string]path{"addr": addrPath})
	case CheckMQTT:
		r.fields(p, c.MQTTConfig().Validate(), map[string]path{"addr": addrPath})
	case CheckSTOMP:
		r.fields(p, c.STOMPConfig().Validate(), map[string]path{"addr": addrPath})
	case CheckStream:
		r.fields(p, c.StreamConfig().Validate(), map[string]path{"addr": addrPath})
	}
	// The scheduler compares the refusals of the checks that log in alike.
	c.Schedule.Login = c.Login()
	c.Schedule.RefusedAloneFails = c.OnLoginRefused == amqpcheck.RefusedDownIfAlone
	return c
}

// keysOf warns of each key of f that a check of type t has no use for,
// and runs without: AMQP's mode, mechanism and on_alarm on another type,
// a vhost where the check opens none, credentials where it does not log
// in. A warning, not an error: files that set them ran before, and must
// still start.
func (r *resolver) keysOf(p path, f fileCheck, t CheckType) {
	amqp := t == CheckAMQP
	logsIn := t.speaksProtocol()
	for _, k := range []struct {
		key, why string
		set, ok  bool
	}{
		{"mode", "mode is an AMQP check's", f.Mode != "", amqp},
		{"mechanism", "mechanism is an AMQP login's", f.Mechanism != "", amqp},
		{"on_alarm", "on_alarm is an AMQP login check's", f.OnAlarm != "", amqp},
		{"vhost", map[bool]string{true: "it names its vhost in user, VHOST:USER", false: "it opens no vhost"}[t == CheckMQTT], f.VHost != "", amqp || t == CheckSTOMP || t == CheckStream},
		{"user", "it does not log in", f.User != "", logsIn},
		{"password", "it does not log in", f.Password != "", logsIn},
	} {
		if k.set && !k.ok {
			r.warnf(p.k(k.key), "has no use in %s (%s), which runs without it", t.aCheck(), k.why)
		}
	}
}

// httpOf resolves the keys of an http check in f into c: its method and
// path (their rules are httpcheck's, see checkOf) and the status codes
// that pass it. Each is refused for a check of another type.
func (r *resolver) httpOf(p path, f fileCheck, c *Check) {
	c.Method, c.Path = f.Method, f.Path
	if f.ExpectStatus != "" {
		s, err := httpcheck.ParseStatuses(f.ExpectStatus)
		r.check(p.k("expect_status"), err)
		c.Expect = s
	}
	if c.Type == CheckHTTP {
		if c.Method == "" {
			c.Method = http.MethodGet
		}
		if c.Path == "" {
			c.Path = "/"
		}
		if len(c.Expect) == 0 {
			c.Expect = httpcheck.DefaultStatuses
		}
		return
	}
	for _, k := range []struct {
		key string
		set bool
	}{{"method", f.Method != ""}, {"path", f.Path != ""}, {"expect_status", f.ExpectStatus != ""}} {
		if k.set {
			r.errf(p.k(k.key), "needs type http (%s sends no HTTP request)", c.Type.aCheck())
		}
	}
}

// notify resolves an instance's notify hooks (nil: none); notify.Config's
// Validate holds their rules. Whether each program exists is a property
// of the host, checked by Load as a warning.
func (r *resolver) notify(f *fileNotify) notify.Config {
	if f == nil {
		return notify.Config{}
	}
	c := notify.Config{Master: f.Master, Backup: f.Backup, Fault: f.Fault, Stop: f.Stop, Timeout: f.Timeout}
	if c.Timeout == 0 {
		c.Timeout = notify.DefaultTimeout
	}
	return c
}

// allowedClients parses the allowed_clients of the listener at p: each
// entry a prefix (10.0.0.0/8) or an address, which stands for itself
// alone, followed by file, those of its allowed_clients_file (hasFile: it
// names one). The balancer's Validate judges the prefixes of the list
// (bits past the length, IPv4-mapped ones; ParseClientList those of the
// file) and whether they leave a client of bind's family; no entry at
// all, which would refuse every client, is refused here, as are entries
// that are neither, and a file alone that leaves no client of bind's
// family.
func (r *resolver) allowedClients(p path, bind netip.AddrPort, list []string, file []netip.Prefix, hasFile bool) []netip.Prefix {
	switch {
	case list == nil && !hasFile:
		return nil
	case hasFile && r.skipFiles:
		return r.clientPrefixes(p.k("allowed_clients"), list)
	case len(list) == 0 && hasFile && r.refused(p.k("allowed_clients_file").String(), len(r.errs)):
		return nil
	case len(list) == 0 && len(file) == 0 && hasFile:
		r.errf(p.k("allowed_clients_file"), "holds no address or prefix, which would refuse every client: list the addresses or prefixes to serve, or leave the key out to serve every client")
		return nil
	case len(list) == 0 && hasFile:
		// The file alone: its problems are told at its key (the
		// balancer's Validate would tell them at allowed_clients).
		if err := balancer.CheckAllowedFamily(bind, file); err != nil && bind.IsValid() {
			r.errf(p.k("allowed_clients_file"), "%v", err)
			return nil
		}
		return file
	case len(list) == 0 && !hasFile:
		r.errf(p.k("allowed_clients"), "is empty, which would refuse every client: list the addresses or prefixes to serve, or leave it out to serve every client")
		return nil
	}
	return append(r.clientPrefixes(p.k("allowed_clients"), list), file...)
}

// clientFile reads the file of client addresses name, the value of the
// key at p (allowed_clients_file, denied_clients_file), with the
// resolver's readFile: its prefixes, and whether the key names one.
// Without a readFile (Parse) a file named is an error: only Load reads
// files. With skipFiles it is not read: no prefixes, and true.
func (r *resolver) clientFile(p path, name string) ([]netip.Prefix, bool) {
	if name == "" {
		return nil, false
	}
	if !filepath.IsAbs(name) {
		r.errf(p, "must be an absolute path of a file, not %q", name)
		return nil, true
	}
	if r.skipFiles {
		return nil, true
	}
	if r.readFile == nil {
		r.errf(p, "%s: not read: files of client addresses are read when the configuration is loaded from its file (rmqlb run, check-config, reload)", name)
		return nil, true
	}
	data, err := r.readFile(name)
	if err != nil {
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			err = pe.Err // the path is name
		}
		r.errf(p, "reading %s: %v", name, err)
		return nil, true
	}
	r.files = append(r.files, FileRead{Path: name, Field: p.String(), Digest: sha256.Sum256(data), Size: int64(len(data))})
	ps, err := ParseClientList(data)
	if err != nil {
		r.errf(p, "%s: %v", name, err)
		return nil, true
	}
	return ps, true
}

// clientPrefixes parses the entries of a listener's allowed_clients or
// denied_clients at p: each a prefix or an address. An empty
// denied_clients refuses no client, so that a file can keep the key ready
// for the address an operator has to block.
func (r *resolver) clientPrefixes(p path, list []string) []netip.Prefix {
	if len(list) == 0 {
		return nil
	}
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		s = strings.TrimSpace(s)
		pfx, err := parseAddrOrPrefix(s)
		switch {
		case err != nil:
			r.errf(p.i(i), "must be an address or a prefix (10.0.0.0/8, 2001:db8::/32), not %q", s)
		case strings.Contains(s, "%"):
			r.errf(p.i(i), "%s: zoned addresses are not supported", s)
		default:
			out = append(out, pfx)
		}
	}
	return out
}
