package migrate

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/healthcheck"
)

// serverParams are the parameters of a server or default-server line
// that rmqlb has; nil and zero: not written.
type serverParams struct {
	check      *bool
	inter      time.Duration
	fastinter  time.Duration
	downinter  time.Duration
	slowstart  time.Duration
	rise, fall int
	weight     *int
	maxconn    int
	port       int
	addr       netip.Addr
	proxy      string
	// backup and disabled are HAProxy's backup (true) or no-backup
	// (false), and disabled (true) or enabled (false); nil when neither
	// is written.
	backup   *bool
	disabled *bool
	// ssl is HAProxy's ssl (true) or no-ssl (false), nil when neither is
	// written.
	ssl *bool
	// tls are the options of the check's TLS.
	tls          serverTLS
	onMarkedDown string
	onMarkedUp   string
	userTimeout  time.Duration // tcp-ut
	// track is the server whose check this one follows ([BACKEND/]SERVER),
	// a server line's own.
	track serverOpt
}

// serverOpt is an option of a server line with its value, and where it
// was written, for its note. Zero: not written.
type serverOpt struct {
	v   string
	pos Pos
	dir string
}

// merge returns p with the parameters o writes put over it.
func (p serverParams) merge(o *serverParams) serverParams {
	if o.check != nil {
		p.check = o.check
	}
	if o.track.v != "" {
		p.track = o.track
	}
	for _, f := range []struct{ dst, src *time.Duration }{{&p.inter, &o.inter}, {&p.fastinter, &o.fastinter}, {&p.downinter, &o.downinter}, {&p.slowstart, &o.slowstart}} {
		if *f.src != 0 {
			*f.dst = *f.src
		}
	}
	for _, f := range []struct{ dst, src *int }{{&p.rise, &o.rise}, {&p.fall, &o.fall}, {&p.maxconn, &o.maxconn}, {&p.port, &o.port}} {
		if *f.src != 0 {
			*f.dst = *f.src
		}
	}
	if o.weight != nil {
		p.weight = o.weight
	}
	if o.addr.IsValid() {
		p.addr = o.addr
	}
	if o.proxy != "" {
		p.proxy = o.proxy
	}
	if o.onMarkedDown != "" {
		p.onMarkedDown = o.onMarkedDown
	}
	if o.onMarkedUp != "" {
		p.onMarkedUp = o.onMarkedUp
	}
	if o.userTimeout != 0 {
		p.userTimeout = o.userTimeout
	}
	if o.backup != nil {
		p.backup = o.backup
	}
	if o.disabled != nil {
		p.disabled = o.disabled
	}
	if o.ssl != nil {
		p.ssl = o.ssl
	}
	p.tls = p.tls.merge(o.tls)
	return p
}

// haServerArgs are the server options that take a value, with the reason
// of those rmqlb has no equivalent of (those it translates have "").
var haServerArgs = map[string]string{
	"inter": "", "fastinter": "", "downinter": "", "rise": "", "fall": "", "weight": "", "maxconn": "",
	"port": "", "addr": "", "slowstart": "", "on-marked-down": "",
	"on-marked-up":     "",
	"on-error":         "no equivalent: rmqlb judges a backend by its checks only",
	"error-limit":      "no equivalent: rmqlb judges a backend by its checks only",
	"observe":          "no equivalent: rmqlb judges a backend by its checks only",
	"id":               "no equivalent: rmqlb names backends",
	"cookie":           whyHTTP,
	"maxqueue":         whyNoQueue,
	"minconn":          "no equivalent: rmqlb's maxconn is fixed",
	"source":           "no equivalent: rmqlb connects from the address the routing table chooses",
	"usesrc":           "no equivalent: rmqlb connects from the address the routing table chooses",
	"resolvers":        whyResolve,
	"resolve-prefer":   whyResolve,
	"resolve-net":      whyResolve,
	"resolve-opts":     whyResolve,
	"init-addr":        whyResolve,
	"agent-port":       whyAMQP,
	"agent-inter":      whyAMQP,
	"agent-addr":       whyAMQP,
	"agent-send":       whyAMQP,
	"track":            "",
	"redir":            whyHTTP,
	"namespace":        "no equivalent: rmqlb connects in its own network namespace",
	"pool-max-conn":    "no equivalent: rmqlb reuses no backend connection",
	"pool-low-conn":    "no equivalent: rmqlb reuses no backend connection",
	"pool-purge-delay": "no equivalent: rmqlb reuses no backend connection",
	"max-reuse":        "no equivalent: rmqlb reuses no backend connection",
	"tcp-ut":           "",
	"proto":            whyHTTP,
	"alpn":             whyALPN, "check-alpn": whyALPN, "npn": whyALPN, "sni": whySNI, "crl-file": whyCRL,
	"ciphers": whyTLSVersions, "ciphersuites": whyTLSVersions, "ssl-min-ver": whyTLSVersions, "ssl-max-ver": whyTLSVersions,
	"check-sni": "", "crt": "", "ca-file": "", "verify": "", "verifyhost": "", "check-proto": whyAMQP,
	"set-proxy-v2-tlv-fmt": "no equivalent: rmqlb's PROXY v2 headers carry addresses only",
	"ws":                   whyHTTP, "guid": "no equivalent: rmqlb names backends", "log-bufsize": whyLog, "shard": whyGlobal,
	"hash-key": "no equivalent: rmqlb hashes nothing", "strict-maxconn": "no equivalent: rmqlb's maxconn is always strict",
}

// haServerFlags are the server options without a value that rmqlb has
// no equivalent of, with the reason.
var haServerFlags = map[string]string{
	"agent-check":           whyAMQP,
	"no-agent-check":        whyAMQP,
	"check-ssl":             "",
	"no-check-ssl":          "",
	"ssl-reuse":             whyResumption,
	"no-ssl-reuse":          "", // rmqlb's checks resume no TLS session
	"tls-tickets":           whyResumption,
	"no-tls-tickets":        "",
	"force-sslv3":           whyTLSVersions,
	"force-tlsv10":          whyTLSVersions,
	"force-tlsv11":          whyTLSVersions,
	"force-tlsv12":          whyTLSVersions,
	"force-tlsv13":          whyTLSVersions,
	"no-sslv3":              whyTLSVersions,
	"no-tlsv10":             whyTLSVersions,
	"no-tlsv11":             whyTLSVersions,
	"no-tlsv12":             whyTLSVersions,
	"no-tlsv13":             whyTLSVersions,
	"allow-0rtt":            "no equivalent: rmqlb's checks over TLS send no early data",
	"send-proxy-v2-ssl":     "no equivalent: rmqlb's PROXY v2 headers carry addresses only",
	"send-proxy-v2-ssl-cn":  "no equivalent: rmqlb's PROXY v2 headers carry addresses only",
	"non-stick":             "no equivalent: every backend takes persistent clients",
	"stick":                 "no equivalent: every backend takes persistent clients",
	"tfo":                   "no equivalent: rmqlb connects without TCP fast open",
	"no-tfo":                "no equivalent: rmqlb connects without TCP fast open",
	"check-via-socks4":      "no equivalent: rmqlb checks its backends directly",
	"no-backup":             "",
	"no-send-proxy":         "",
	"no-send-proxy-v2":      "",
	"no-check-send-proxy":   "",
	"enabled":               "",
	"check-send-proxy":      "", // rmqlb's checks send a PROXY v2 LOCAL header when proxy_protocol is set
	"check":                 "",
	"no-check":              "",
	"backup":                "",
	"disabled":              "",
	"ssl":                   "",
	"no-ssl":                "",
	"send-proxy":            "",
	"send-proxy-v2":         "",
	"no-verifyhost":         "HAProxy refuses it: no such keyword, though its manual lists it",
	"ignore-ssl-errors":     whyTLS,
	"check-reuse-pool":      "no equivalent: rmqlb reuses no backend connection",
	"init-state":            "no equivalent: a checked backend starts DOWN in rmqlb until its checks pass",
	"ssl-passphrase":        whyTLS,
	"send-proxy-v2-options": "no equivalent: rmqlb's PROXY v2 headers carry addresses only",
}

// parseServerParams reads the parameters of a server (from words[3]) or
// default-server (from words[1]) line, noting those rmqlb has no
// equivalent of. Each line is read once.
func (t *haT) parseServerParams(l *haLine, from int) *serverParams {
	if p, ok := t.params[l]; ok {
		return p
	}
	p := &serverParams{}
	t.params[l] = p
	name := directive(l.words[:min(from, len(l.words))]...)
	for i := from; i < len(l.words); i++ {
		o := l.words[i]
		why, hasArg := haServerArgs[o]
		if !hasArg {
			w, known := haServerFlags[o]
			if !known {
				w = whyUnknown
			}
			switch o {
			case "check":
				p.check = boolp(true)
			case "no-check":
				p.check = boolp(false)
			case "backup":
				p.backup = boolp(true)
			case "no-backup":
				p.backup = boolp(false)
			case "disabled":
				p.disabled = boolp(true)
			case "enabled":
				p.disabled = boolp(false)
			case "ssl":
				p.ssl = boolp(true)
			case "no-ssl":
				p.ssl = boolp(false)
			case "check-ssl", "no-check-ssl":
				p.tls.checkSSL = tlsOpt{v: o, pos: l.pos, dir: directive(name, o)}
			case "send-proxy":
				p.proxy = "v1"
			case "send-proxy-v2":
				p.proxy = "v2"
			case "no-send-proxy", "no-send-proxy-v2":
				p.proxy = "none"
			}
			if w != "" {
				t.ns.skip(l.pos, directive(name, o), w)
			}
			continue
		}
		if i+1 >= len(l.words) {
			t.ns.skip(l.pos, directive(name, o), "needs a value")
			continue
		}
		i++
		v := l.words[i]
		if why != "" {
			t.ns.skip(l.pos, directive(name, o, v), why)
			continue
		}
		if t.setTLS(p, l, name, o, v) {
			continue
		}
		if o == "track" {
			p.track = serverOpt{v: v, pos: l.pos, dir: directive(name, o, v)}
			continue
		}
		if err := p.set(o, v); err != nil {
			t.ns.skip(l.pos, directive(name, o, v), err.Error())
		}
	}
	return p
}

// set reads the value of one translated server option.
func (p *serverParams) set(o, v string) error {
	var err error
	interval := func(dst *time.Duration) {
		var d time.Duration
		if d, err = haTime(v); err == nil {
			if err = checkDuration(d); err == nil {
				*dst = d
			}
		}
	}
	switch o {
	case "inter":
		interval(&p.inter)
	case "fastinter":
		interval(&p.fastinter)
	case "downinter":
		interval(&p.downinter)
	case "slowstart":
		p.slowstart, err = haTime(v)
	case "rise":
		p.rise, err = number(v, 1, healthcheck.MaxRiseFall)
	case "fall":
		p.fall, err = number(v, 1, healthcheck.MaxRiseFall)
	case "weight":
		var w int
		w, err = number(v, 0, balancer.MaxWeight)
		p.weight = intp(w)
	case "maxconn":
		p.maxconn, err = number(v, 0, 1<<31-1)
	case "port":
		p.port, err = number(v, 1, 65535)
	case "addr":
		p.addr, err = netip.ParseAddr(v)
	case "tcp-ut":
		p.userTimeout, err = haUserTimeout(v)
	case "on-marked-down":
		switch v {
		case "shutdown-sessions":
			p.onMarkedDown = v
		default:
			err = fmt.Errorf("no equivalent: rmqlb's on_marked_down is shutdown-sessions or keep-sessions")
		}
	case "on-marked-up":
		switch v {
		case "shutdown-backup-sessions":
			p.onMarkedUp = v
		default:
			err = fmt.Errorf("no equivalent: rmqlb's on_marked_up is shutdown-backup-sessions or keep-backup-sessions")
		}
	}
	return err
}

// whySSLHello is the note of HAProxy's SSL hello check (option
// ssl-hello-chk): the servers speak TLS on the port checked.
const whySSLHello = "HAProxy's check sent a TLS hello and read the server's: rmqlb's checks of these servers speak TLS, verifying no certificate (tls: {verify: none}), as the hello check verified none, and go on to what the port speaks, which a frozen node fails (see the servers' notes); add ca_file and verify: chain or full to check the brokers' certificates"

// servers translates the server lines of back into l's backends.
func (t *haT) servers(l *listener, back haProxy, ports, split []uint16) {
	var defaults serverParams
	for _, ln := range back.all("default-server") {
		defaults = defaults.merge(t.parseServerParams(ln, 1))
		t.use(ln)
	}
	var checkTimeout time.Duration
	if ct := t.timeout(back, "check", ""); ct != nil {
		if err := checkDuration(ct.d); err != nil {
			t.skip(ct.line, err.Error())
		} else {
			checkTimeout = ct.d
		}
	}
	hc := t.httpCheckOf(back)
	otherCheck := back.get("option httpchk") != nil || back.get("option tcp-check") != nil ||
		back.get("option external-check") != nil
	hello := back.get("option ssl-hello-chk")
	if hello != nil {
		if _, neg := haKey(hello.words); neg || otherCheck {
			hello = nil
		} else {
			t.change(hello, whySSLHello)
		}
	}
	noted := map[string]bool{} // the notes on checks, made once a listener
	actives := 0               // servers that are not backups
	var ups []*haLine          // those of them with on-marked-up
	for _, ln := range t.linesOf(back.sec, "server", 3, "must be server NAME ADDRESS:PORT [options]") {
		sp := defaults.merge(t.parseServerParams(ln, 3))
		if hello != nil && sp.tls.checkSSL.v != "check-ssl" {
			// HAProxy's hello check is a TLS ClientHello in clear TCP,
			// whatever the server's TLS options of check-ssl say.
			o := tlsOpt{pos: hello.pos, dir: hello.text()}
			sp.tls = serverTLS{checkSSL: o, verify: o, hello: true}
			sp.tls.checkSSL.v, sp.tls.verify.v = "check-ssl", "none"
		}
		addr, err := t.serverAddr(ln, ports, split)
		if err != nil {
			t.skip(ln, err.Error())
			continue
		}
		if sp.ssl != nil && *sp.ssl {
			t.skip(ln, "HAProxy speaks TLS to this server: "+whyTLS)
			continue
		}
		t.use(ln)
		b := &backend{pos: ln.pos, name: ln.words[1], addr: addr, weight: sp.weight, maxconn: sp.maxconn}
		if sp.proxy != "none" {
			b.proxy = sp.proxy
		}
		if _, ok := t.names[addr]; !ok {
			t.names[addr] = b.name
		}
		switch {
		case sp.check == nil || !*sp.check:
			// At the pace the section sets for its checks (default-server's
			// inter, rise, fall; timeout check), as the servers beside it.
			b.check = check{interval: sp.inter, fast: sp.fastinter, down: sp.downinter, rise: sp.rise, fall: sp.fall,
				slowstart: sp.slowstart, timeout: checkTimeout}
			how := "an AMQP handshake"
			if hc != nil && t.applyHTTPCheck(l, b, hc, sp) {
				how = "the HTTP check of its section (check type: http)"
			} else if tls, _ := t.tlsCheck(l, b, sp); tls != "" {
				how = tls
			} else if why := portCheck(b); why != "" {
				how = why
			} else if why := httpServerCheck(l, b); why != "" {
				how = why
			}
			if sp.track.v != "" {
				// HAProxy checks it as the server it tracks: resolved
				// once every proxy is translated, this check if not.
				b.track = &haTrack{opt: sp.track, back: back.sec.name, how: how}
				break
			}
			t.ns.change(ln.pos, ln.text(), "HAProxy does not check this server: rmqlb checks it with "+how+" (write check type: none to leave it unchecked)")
		default:
			b.check = check{interval: sp.inter, fast: sp.fastinter, down: sp.downinter, rise: sp.rise, fall: sp.fall,
				slowstart: sp.slowstart, timeout: checkTimeout}
			if sp.port != 0 || sp.addr.IsValid() {
				ca, cp := addr.Addr(), addr.Port()
				if sp.addr.IsValid() {
					ca = sp.addr
				}
				if sp.port != 0 {
					cp = uint16(sp.port)
				}
				if ap := netip.AddrPortFrom(ca, cp); ap != addr {
					b.check.address = ap
				}
			}
			// HAProxy's HTTP check, where it fits (httpCheckFits), is
			// rmqlb's http check.
			if hc != nil && t.applyHTTPCheck(l, b, hc, sp) {
				break
			}
			// HAProxy's check is a TCP connect, over TLS with
			// check-ssl (tlsCheck). On a port that does not speak AMQP,
			// rmqlb's is a TCP connect too, or the port's protocol
			// (portCheck). One of a plugin's HTTP port goes to the
			// broker's own port instead.
			moved := brokerCheck(b)
			why := moved
			if moved != "" {
				if o := sp.tls.checkSSL; o.v == "check-ssl" && !noted[o.dir] {
					l.later = append(l.later, Note{Pos: o.pos, Directive: o.dir, Kind: Changed, Why: "went with the check of the plugin's port, which rmqlb checks no more (see the server's note)"})
					noted[o.dir] = true
				}
			} else if _, tls := t.tlsCheck(l, b, sp); tls != "" {
				why = tls
			} else {
				switch tcp := portCheck(b); {
				case tcp == "" && httpServerCheck(l, b) != "":
					why = "" // HAProxy's TCP connect, kept
				case tcp == "":
					why = whyTCPCheck
				case b.check.tls != (checkTLS{}) || speaksProtocol(b.check.typ):
					why = "becomes " + tcp
				default:
					why = ""
				}
			}
			if why != "" && !noted[why] && (!otherCheck || moved != "") {
				l.later = append(l.later, Note{Pos: ln.pos, Directive: ln.text(), Kind: Changed, Why: why})
				noted[why] = true
			}
		}
		b.backup = sp.backup != nil && *sp.backup
		if sp.disabled != nil && *sp.disabled {
			b.weight = intp(0)
			t.ns.change(ln.pos, ln.text(), "disabled: weight 0 in rmqlb (no new clients); `rmqlb backend LISTENER/BACKEND maint` takes it out entirely")
		}
		if sp.onMarkedDown != "" {
			l.onMarkedDown = sp.onMarkedDown
		}
		if !b.backup {
			actives++
			if sp.onMarkedUp != "" {
				l.onMarkedUp = sp.onMarkedUp
				ups = append(ups, ln)
			}
		}
		l.serverUTs = append(l.serverUTs, utSource{pos: ln.pos, dir: ln.text(), d: sp.userTimeout})
		l.backends = append(l.backends, b)
	}
	backups := len(l.backends) - actives
	switch {
	case len(ups) > 0 && backups == 0:
		// What rmqlb would warn about: nothing to shut down.
		l.onMarkedUp = ""
		t.ns.skip(ups[0].pos, ups[0].text(), "no server of the backend is a backup: there are no backup sessions to shut down")
	case len(ups) > 0 && len(ups) < actives:
		t.ns.change(ups[0].pos, ups[0].text(), "on-marked-up shutdown-backup-sessions on some active servers only: rmqlb's on_marked_up is the listener's, so any active backend that serves again closes the backups' sessions")
	}
	// option allbackups, read here where the servers are known.
	if ln := back.get("option allbackups"); ln != nil {
		switch _, negated := haKey(ln.words); {
		case !negated && backups == 0:
			t.skip(ln, "no server of the backend is a backup: there are no backups to spread the clients over")
		default:
			l.allBackups = !negated
			t.use(ln)
		}
	}
	// HAProxy's roundrobin weighs its servers.
	if l.policy == "" || l.policy == "roundrobin" {
		if weighted(l.backends) {
			l.policy = "wrr"
		}
	}
}

// weighted reports whether the backends that take clients (weight > 0)
// have different weights.
func weighted(bs []*backend) bool {
	w := 0
	for _, b := range bs {
		switch bw := weightOf(b); {
		case bw == 0:
		case w == 0:
			w = bw
		case bw != w:
			return true
		}
	}
	return false
}

// weightOf is b's weight, 1 when not written.
func weightOf(b *backend) int {
	if b.weight == nil {
		return 1
	}
	return *b.weight
}

// serverAddr reads the address of server line ln. A host name is looked
// up, as HAProxy does at its start (init-addr libc), when Import's Files
// can: its first IPv4 address, else its first, with a note, since rmqlb
// connects to that address and does not follow the name. An address
// without a port, or with an offset (+N, -N), takes the port the
// listener's binds listen on (ports), offset, as HAProxy connects to the
// port the client connected to, with a note: split, when not nil, are the
// ports of the proxy's binds, one listener for each. With binds on
// several ports in one listener it is an error.
func (t *haT) serverAddr(ln *haLine, ports, split []uint16) (netip.AddrPort, error) {
	s := ln.words[2]
	addr, err := haAddrOrName(s, false)
	if host, off, ok := relativePort(s, err); ok {
		if len(ports) != 1 {
			return netip.AddrPort{}, fmt.Errorf("has no port of its own, and the proxy's binds listen on %s: HAProxy connects to the port each client connected to, where an rmqlb backend has one port: write the port, or one proxy per port", portsText(ports))
		}
		port := int(ports[0]) + off
		if port < 1 || port > 65535 {
			return netip.AddrPort{}, fmt.Errorf("port %+d: HAProxy connects to the port the client connected to, %d here, offset by %+d: %d is no port", off, ports[0], off, port)
		}
		addr, err = haAddrOrName(host+":"+strconv.Itoa(port), false)
		if err == nil || errors.As(err, new(*hostNameError)) {
			written := "no port"
			if host != s {
				written = "port " + s[len(host)+1:]
			}
			t.ns.change(ln.pos, ln.text(), relativePortNote(written, off, ports[0], split))
		}
	}
	var ne *hostNameError
	if !errors.As(err, &ne) {
		return addr, err
	}
	if t.lookup == nil || strings.Contains(ne.host, "%") {
		return netip.AddrPort{}, err
	}
	addrs, lerr := t.lookup(ne.host)
	if lerr != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("%s: looking it up (as HAProxy does at its start) found no address: %v; rmqlb uses IP addresses and resolves no names", ne.host, lerr)
	}
	a := addrs[0]
	if i := slices.IndexFunc(addrs, func(x netip.Addr) bool { return x.Unmap().Is4() }); i >= 0 {
		a = addrs[i]
	}
	a = a.Unmap().WithZone("")
	if a.IsUnspecified() {
		return netip.AddrPort{}, fmt.Errorf("%s: looked up as %s, the unspecified address", ne.host, a)
	}
	t.ns.change(ln.pos, ln.text(), fmt.Sprintf("%s looked up as %s, as HAProxy does at its start: rmqlb connects to that address and does not follow the name, so check it (and write the file again if the name moves)", ne.host, a))
	return netip.AddrPortFrom(a, ne.port), nil
}

// httpServerCheck makes b's check a TCP connect when l's servers speak
// HTTP (HAProxy proxied HTTP to them, listener.http) and nothing else
// chose its type, and says so; "" otherwise. An AMQP handshake, rmqlb's
// default, fails on an HTTP server.
func httpServerCheck(l *listener, b *backend) string {
	if !l.http || b.check.typ != "" {
		return ""
	}
	b.check.typ = "tcp"
	return "a TCP connect (check type: tcp): HAProxy proxied HTTP to it, where an AMQP handshake fails"
}

// relativePortNote says what a server's port relative to the client's,
// off, becomes: the port of the listener's binds, port, offset; split,
// when not nil, are the ports of the proxy's binds, a listener for each.
// written is how the address gave it: "no port", or "port +N".
func relativePortNote(written string, off int, port uint16, split []uint16) string {
	offset := ""
	switch {
	case off > 0:
		offset = fmt.Sprintf(" plus %d", off)
	case off < 0:
		offset = fmt.Sprintf(" minus %d", -off)
	}
	if split != nil {
		return fmt.Sprintf("%s: HAProxy connects to the port the client connected to%s, and the proxy's binds listen on %s: a listener for each port, whose backends take it%s (each balances and counts maxconn on its own)", written, offset, portsText(split), offset)
	}
	return fmt.Sprintf("%s: HAProxy connects to the port the client connected to%s, and the proxy's binds listen on %d: the backend takes %d", written, offset, port, int(port)+off)
}

// portsText lists ports: "5672 and 5673".
func portsText(ports []uint16) string {
	n := make([]string, len(ports))
	for i, p := range ports {
		n[i] = strconv.Itoa(int(p))
	}
	return andList(n)
}
