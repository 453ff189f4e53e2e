package migrate

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
)

// HAProxy's checks over TLS (check-ssl) become AMQP checks over TLS, with
// the server's TLS options mapped as HAProxy applies them to a check
// (src/check.c, src/ssl_sock.c of HAProxy 2.6):
//
//   - a check speaks TLS with check-ssl; with ssl too when no port or
//     addr sends it elsewhere, but rmqlb leaves ssl servers out;
//   - verify is the server's, else global ssl-server-verify, else
//     required;
//   - verify required checks the chain against ca-file, and a name: the
//     SNI the check sends (check-sni), else verifyhost, else none; a
//     check never sends the server's sni;
//   - crt is a PEM file with the client certificate and its key;
//   - a relative ca-file or crt is under global ca-base or crt-base
//     when one was set before it.

// Reasons of the server options of TLS that rmqlb's checks have no
// equivalent of.
const (
	whyTLSVersions = "no equivalent: rmqlb's checks over TLS use Go's TLS versions (1.2 and 1.3) and cipher suites"
	whyALPN        = "no equivalent: rmqlb's checks over TLS offer no ALPN or NPN protocol"
	whyCRL         = "no equivalent: rmqlb's checks over TLS read no CRL, so a revoked broker certificate passes them"
	whyResumption  = "no equivalent: rmqlb's checks over TLS resume no TLS session"
	whySNI         = "no equivalent: the SNI of HAProxy's TLS to the server for client traffic (ssl), which rmqlb passes through as it comes; HAProxy's checks send check-sni, not this"
)

// tlsOpt is one TLS option of a server or default-server line, for the
// check: its value as HAProxy resolves it, and where it was written, for
// the notes of the checks that use it. Zero: not written.
type tlsOpt struct {
	v   string
	pos Pos
	dir string
	// base is the global ca-base or crt-base line the value was
	// resolved under (nil: none).
	base *haLine
}

// serverTLS are the options of a server that make its check's TLS.
type serverTLS struct {
	checkSSL   tlsOpt // "check-ssl" or "no-check-ssl"
	verify     tlsOpt // "none" or "required"
	caFile     tlsOpt
	crt        tlsOpt
	verifyHost tlsOpt
	checkSNI   tlsOpt
	// hello: checkSSL is HAProxy's SSL hello check of the section
	// (option ssl-hello-chk), which verifies no certificate, not a
	// check-ssl of the server.
	hello bool
}

// merge returns s with the options o writes put over it.
func (s serverTLS) merge(o serverTLS) serverTLS {
	for _, f := range []struct{ dst, src *tlsOpt }{{&s.checkSSL, &o.checkSSL}, {&s.verify, &o.verify},
		{&s.caFile, &o.caFile}, {&s.crt, &o.crt}, {&s.verifyHost, &o.verifyHost}, {&s.checkSNI, &o.checkSNI}} {
		if f.src.v != "" {
			*f.dst = *f.src
		}
	}
	return s
}

// haGlobalTLS are the global settings of an haproxy.cfg that apply to the
// servers' TLS.
type haGlobalTLS struct {
	// verify is ssl-server-verify ("required" when not written).
	verify            string
	caBase, crtBase   *haLine
	caBaseV, crtBaseV string
}

// globalTLS reads ssl-server-verify, ca-base and crt-base from the global
// sections. HAProxy refuses a second ca-base or crt-base: the first is
// kept.
func (t *haT) globalTLS() {
	t.gtls.verify = "required"
	for _, l := range t.globalLines() {
		switch l.words[0] {
		case "ssl-server-verify":
			switch {
			case len(l.words) != 2:
				t.skip(l, "must be ssl-server-verify none or required")
			case l.words[1] == "none" || l.words[1] == "required":
				t.gtls.verify = l.words[1]
				t.use(l)
			default:
				t.skip(l, "must be none or required: HAProxy refuses "+l.words[1])
			}
		case "ca-base":
			if len(l.words) == 2 && t.gtls.caBase == nil {
				t.gtls.caBase, t.gtls.caBaseV = l, l.words[1]
			}
		case "crt-base":
			if len(l.words) == 2 && t.gtls.crtBase == nil {
				t.gtls.crtBase, t.gtls.crtBaseV = l, l.words[1]
			}
		}
	}
}

// underBase returns path as HAProxy opens it: under base when path is
// relative and the base line comes before the option (HAProxy applies the
// base it has read so far).
func underBase(path string, base *haLine, baseV string, at Pos) (string, *haLine) {
	if strings.HasPrefix(path, "/") || base == nil || base.pos.File != at.File || base.pos.Line > at.Line {
		return path, nil
	}
	return filepath.Join(baseV, path), base
}

// setTLS reads a TLS option with a value of a server or default-server
// line (name is its first words), reporting true when o is one.
func (t *haT) setTLS(p *serverParams, l *haLine, name, o, v string) bool {
	opt := tlsOpt{v: v, pos: l.pos, dir: directive(name, o, v)}
	switch o {
	case "verify":
		if v != "none" && v != "required" {
			t.ns.skip(l.pos, opt.dir, "must be none or required: HAProxy refuses "+v)
			return true
		}
		p.tls.verify = opt
	case "ca-file":
		opt.v, opt.base = underBase(v, t.gtls.caBase, t.gtls.caBaseV, l.pos)
		p.tls.caFile = opt
	case "crt":
		opt.v, opt.base = underBase(v, t.gtls.crtBase, t.gtls.crtBaseV, l.pos)
		p.tls.crt = opt
	case "verifyhost":
		p.tls.verifyHost = opt
	case "check-sni":
		p.tls.checkSNI = opt
	default:
		return false
	}
	return true
}

// whyTLSCheck is the note of a check over TLS that becomes rmqlb's AMQP
// check over TLS.
const whyTLSCheck = "becomes an AMQP handshake check over TLS, rmqlb's default: HAProxy's check ends with the TLS handshake, rmqlb's goes on to the broker's AMQP greeting (write check type: tcp for a bare TCP connect, without TLS)"

// mgmtsPort is the HTTPS port of RabbitMQ's management plugin.
const mgmtsPort = 15671

// tlsCheck gives b's check the tls of HAProxy's check over TLS (check-ssl
// in sp, or the section's SSL hello check) and returns what the check
// became: how, for the note of a server HAProxy did not check, and why,
// for the note of one it did; both "" when b's check stays without TLS. HAProxy's check ended with the TLS
// handshake; rmqlb's goes on to what the port speaks, which a frozen node
// fails as it failed the handshake:
//
//   - RabbitMQ's AMQPS port, or another port rmqlb takes for AMQP: an
//     AMQP handshake over TLS;
//   - RabbitMQ's MQTT, STOMP and stream ports over TLS: that protocol's
//     opening over TLS (protocolChecks);
//   - the management plugin's HTTPS port: an HTTPS request of /, which
//     the management UI answers 200;
//   - a server of a proxy in http mode on another port: an HTTPS request
//     of / that any answer passes, since which path it serves is not
//     known.
//
// On RabbitMQ's other ports, which speak no TLS, check-ssl is noted and
// the check stays in clear (portCheck).
func (t *haT) tlsCheck(l *listener, b *backend, sp serverParams) (how, why string) {
	o := sp.tls.checkSSL
	if o.v != "check-ssl" {
		return "", ""
	}
	port := checkPort(b)
	what, known := amqpless[port]
	p := protocolChecks[port]
	with, tls := "with its check-ssl settings", "tls"
	if sp.tls.hello {
		with, tls = "verifying no certificate, like HAProxy's SSL hello check", "tls: {verify: none}"
	}
	switch {
	case port == amqpsPort || !known && !l.http:
		how, why = fmt.Sprintf("an AMQP handshake over TLS, %s (check %s)", with, tls), whyTLSCheck
	case p.tls:
		b.check.typ = p.typ
		how = fmt.Sprintf("%s over TLS, %s (check type: %s, %s)", p.what, with, p.typ, tls)
		why = fmt.Sprintf("becomes %s, which fails for a frozen node: port %d is RabbitMQ's %s, and HAProxy's check ended with the TLS handshake", how, port, what)
	case port == mgmtsPort:
		b.check.typ = "http"
		how = fmt.Sprintf("an HTTPS request of /, which the management UI answers 200, %s (check type: http, %s)", with, tls)
		why = fmt.Sprintf("becomes %s, and fails for a frozen node: port %d is RabbitMQ's %s, and HAProxy's check ended with the TLS handshake", how, port, what)
	case !known:
		b.check.typ, b.check.expect = "http", "100-599"
		how = fmt.Sprintf("an HTTPS request of / that any answer passes, %s (check type: http, %s, expect_status: 100-599)", with, tls)
		why = "becomes " + how + ", and fails for a frozen server: HAProxy proxied HTTP to it and its check ended with the TLS handshake (write the path and the statuses a healthy server answers)"
	default:
		l.later = append(l.later, Note{Pos: o.pos, Directive: o.dir, Kind: Changed, Why: fmt.Sprintf(
			"the check speaks no TLS: port %d is RabbitMQ's %s, which speaks none", port, what)})
		return "", ""
	}
	b.check.tls = t.tlsOf(l, sp.tls)
	return how, why
}

// tlsOf returns the tls of a check over TLS with the options s, and
// adds to l's notes what rmqlb does differently.
func (t *haT) tlsOf(l *listener, s serverTLS) checkTLS {
	change := func(o tlsOpt, why string) {
		l.later = append(l.later, Note{Pos: o.pos, Directive: o.dir, Kind: Changed, Why: why})
	}
	use := func(o tlsOpt) {
		if o.base != nil {
			t.use(o.base)
		}
	}
	path := func(o tlsOpt) {
		if o.base == nil && !strings.HasPrefix(o.v, "/") {
			change(o, "a relative path, written as it is: HAProxy read it from its working directory, rmqlb reads it from its own (/ under systemd): write the absolute path")
		}
	}
	c := checkTLS{verify: t.gtls.verify, serverName: s.checkSNI.v}
	if s.verify.v != "" {
		c.verify = s.verify.v
	}
	if s.crt.v != "" {
		c.certFile, c.keyFile = s.crt.v, s.crt.v
		use(s.crt)
		path(s.crt)
		change(s.crt, fmt.Sprintf("becomes the check's tls cert_file and key_file, both %s: rmqlb reads the client certificate and its key from the one file, as HAProxy does (if HAProxy took the key from %s.key, write that as key_file)", s.crt.v, s.crt.v))
	}
	if c.verify == "none" {
		return c
	}
	if ca := s.caFile; ca.v != "" && ca.v != "@system-ca" {
		c.caFile = ca.v
		use(ca)
		path(ca)
		if fi, err := t.stat(ca.v); err == nil && fi.IsDir() {
			change(ca, "a directory of certificates, which rmqlb's ca_file cannot be (one PEM file): put the roots that sign the brokers' certificates in one file and write it as the check's tls ca_file (rmqlb check-config refuses the directory)")
		}
	}
	name := s.checkSNI
	if name.v == "" {
		name = s.verifyHost
	}
	if name.v == "" {
		c.verify = "chain"
		return c
	}
	c.verify, c.serverName = "full", name.v
	why := "becomes the check's tls server_name, verified (verify: full); "
	if _, err := netip.ParseAddr(name.v); err == nil {
		why += "rmqlb matches an IP address against the IP addresses of the certificate, HAProxy against its DNS names and subject CN"
		if name == s.checkSNI {
			why += ", and sends no SNI for it"
		}
	} else {
		if name == s.verifyHost {
			why += "rmqlb also sends it as SNI, which HAProxy's checks do not, and "
		} else {
			why += "rmqlb "
		}
		why += "matches it against the DNS names of the certificate only, not its subject CN as HAProxy also does"
	}
	change(name, why)
	return c
}
