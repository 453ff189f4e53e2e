package migrate

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/rmqlb/rmqlb/httpcheck"
)

// HAProxy's HTTP checks (option httpchk and its http-check rules) of a
// server that speaks HTTP (the management plugin's port, another web
// server), or of a port of RabbitMQ's that does not speak AMQP (MQTT,
// STOMP, ...) checked on a plugin's, become rmqlb's check type http: the
// same method, path, expected statuses and basic authentication. Where
// the server is a broker's AMQP port, checked on a plugin's HTTP port,
// brokerCheck replaces the check by an AMQP handshake on the broker's own
// port instead (httpCheckFits).

// haHTTPCheck is the HTTP check of an HAProxy section, as rmqlb's check
// type http has it, with the lines it comes from and what it cannot carry.
type haHTTPCheck struct {
	opt    *haLine   // option httpchk
	lines  []*haLine // the http-check lines, in the order HAProxy runs them
	method string
	path   string
	expect string // "": HAProxy's default, 2xx and 3xx, rmqlb's too
	user   string
	pass   string
	auth   *haLine // the line of user and pass
	// skips are the lines, or parts of lines, rmqlb's check cannot carry,
	// with why; changes what it does differently. Both are noted once
	// the check is used.
	skips, changes []haNote
}

// haNote is a note on an HAProxy line.
type haNote struct {
	l   *haLine
	why string
}

// whyHTTPExpect is the note of an http-check expect that does not
// match the status.
const whyHTTPExpect = "no equivalent: rmqlb's http check passes on the answer's status alone (check expect_status)"

// httpCheckOf reads the HTTP check of p: nil when it has no option
// httpchk.
func (t *haT) httpCheckOf(p haProxy) *haHTTPCheck {
	opt := p.get("option httpchk")
	if opt == nil {
		return nil
	}
	if _, negated := haKey(opt.words); negated {
		return nil
	}
	h := &haHTTPCheck{opt: opt, method: http.MethodOptions, path: "/"}
	args := opt.words[2:]
	switch len(args) {
	case 0:
	case 1:
		h.path = args[0]
	default:
		h.method, h.path = args[0], args[1]
		if len(args) > 2 {
			// HAProxy 1.x configs append header lines to the version.
			h.embeddedHeaders(opt, args[2])
		}
	}
	// A section's own http-check rules replace those of its defaults.
	var rules []*haLine
	for _, l := range p.sec.lines {
		if k, _ := haKey(l.words); k == "http-check" {
			rules = append(rules, l)
		}
	}
	if len(rules) == 0 {
		rules = p.all("http-check")
	}
	for _, l := range rules {
		h.rule(l)
	}
	if !slices.Contains([]string{http.MethodGet, http.MethodHead, http.MethodOptions}, h.method) {
		h.skips = append(h.skips, haNote{opt, fmt.Sprintf("rmqlb's http check sends GET, HEAD or OPTIONS, not %s: it sends GET", h.method)})
		h.method = http.MethodGet
	}
	if err := httpcheck.CheckPath(h.path); err != nil {
		h.skips = append(h.skips, haNote{opt, fmt.Sprintf("the check's path %q is not one rmqlb's http check sends (%v): it asks for /", h.path, err)})
		h.path = "/"
	}
	if h.auth != nil {
		h.changes = append(h.changes, haNote{h.auth, "becomes the http check's user and password; a 401 or 403 to that user makes a backend DEGRADED where HAProxy took its server down (RabbitMQ's nodes refuse a login alike, so all would go at once): on_login_refused: down does as HAProxy did"})
	}
	if h.method == http.MethodOptions {
		h.changes = append(h.changes, haNote{opt, "an http check with method: OPTIONS, as HAProxy sends it; RabbitMQ's management API answers OPTIONS 200 without credentials and without running the health check of its path: for the health check itself, write method: GET with the user and password of a user tagged monitoring"})
	}
	return h
}

// rule reads one http-check line into h.
func (h *haHTTPCheck) rule(l *haLine) {
	w := l.words
	skip := func(why string) {
		h.skips = append(h.skips, haNote{l, why})
	}
	if len(w) < 2 {
		skip(whyUnknown)
		return
	}
	switch w[1] {
	case "send":
		h.lines = append(h.lines, l)
		for i := 2; i < len(w); i++ {
			arg := func() (string, bool) {
				if i+1 >= len(w) {
					return "", false
				}
				i++
				return w[i], true
			}
			switch w[i] {
			case "meth":
				if v, ok := arg(); ok {
					h.method = v
				}
			case "uri":
				if v, ok := arg(); ok {
					h.path = v
				}
			case "ver":
				arg() // rmqlb speaks HTTP/1.1
			case "hdr":
				name, ok1 := arg()
				value, ok2 := arg()
				if ok1 && ok2 {
					h.header(l, name, value)
				}
			default:
				skip(fmt.Sprintf("%s: no equivalent: rmqlb's http check sends a method, a path and basic authentication, nothing else", w[i]))
				return
			}
		}
	case "expect":
		args := w[2:]
		switch {
		case len(args) >= 2 && args[0] == "status" && h.expect == "":
			s, err := httpcheck.ParseStatuses(args[1])
			if err != nil {
				skip(fmt.Sprintf("not a list of status codes rmqlb reads (%v): the check passes on 200-399", err))
				return
			}
			h.expect = s.String()
			h.lines = append(h.lines, l)
		case len(args) >= 1 && args[0] == "status":
			skip("no equivalent: rmqlb's http check has one set of statuses, that of the first http-check expect status")
		default:
			skip(whyHTTPExpect)
		}
	case "comment":
		h.lines = append(h.lines, l)
	case "send-state":
		skip("no equivalent: rmqlb sends no header of the server's state")
	case "disable-on-404":
		skip("no equivalent: a 404 fails rmqlb's http check (rmqlb backend LISTENER/BACKEND drain takes a server out gracefully)")
	case "connect":
		skip("no equivalent: rmqlb's http check is one request on the connection it opens to the check's address")
	default:
		skip(whyUnknown)
	}
}

// header reads a header the check sends: basic authentication becomes
// the check's user and password; any other is noted.
func (h *haHTTPCheck) header(l *haLine, name, value string) {
	if strings.EqualFold(name, "Authorization") {
		if user, pass, ok := basicAuth(value); ok {
			h.user, h.pass, h.auth = user, pass, l
			return
		}
		h.skips = append(h.skips, haNote{l, "an Authorization other than Basic: rmqlb's http check sends basic authentication only (check user and password)"})
		return
	}
	if strings.EqualFold(name, "Host") {
		return // rmqlb sends the check's address, or tls server_name
	}
	h.skips = append(h.skips, haNote{l, fmt.Sprintf("header %s: rmqlb's http check sends no header of the configuration's but basic authentication", name)})
}

// embeddedHeaders reads the header lines an HAProxy 1.x config appends
// to option httpchk's version ("HTTP/1.0\r\nAuthorization:\ Basic\ ...",
// one word once its escapes are read, the CR LF as "rn").
func (h *haHTTPCheck) embeddedHeaders(l *haLine, ver string) {
	lower := strings.ToLower(ver)
	i := strings.Index(lower, "authorization:")
	if i < 0 {
		if strings.Contains(ver, ":") {
			h.skips = append(h.skips, haNote{l, "the headers after the version: rmqlb's http check sends no header of the configuration's but basic authentication"})
		}
		return
	}
	v := strings.TrimSpace(ver[i+len("authorization:"):])
	if f := strings.Fields(v); len(f) >= 2 {
		// The token ends where the next header line begins ("rnHost:").
		tok := f[1]
		if j := strings.Index(tok, "rn"); j >= 0 && strings.Contains(tok[j:], ":") {
			tok = tok[:j]
		}
		h.header(l, "Authorization", f[0]+" "+tok)
	}
}

// basicAuth decodes "Basic BASE64(user:password)".
func basicAuth(v string) (user, pass string, ok bool) {
	scheme, tok, found := strings.Cut(strings.TrimSpace(v), " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(tok))
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	return user, pass, ok && user != ""
}

// applyHTTPCheck makes b's check h's HTTP check where it fits
// (httpCheckFits), and reports whether it did. It marks h's lines
// translated and notes what rmqlb's check cannot carry, once.
func (t *haT) applyHTTPCheck(l *listener, b *backend, h *haHTTPCheck, sp serverParams) bool {
	if !httpCheckFits(b.addr.Port(), checkPort(b)) {
		return false
	}
	b.check.typ = "http"
	b.check.method, b.check.path, b.check.expect = h.method, h.path, h.expect
	b.check.user, b.check.password = h.user, h.pass
	if b.check.method == http.MethodGet {
		b.check.method = ""
	}
	if b.check.path == "/" {
		b.check.path = ""
	}
	if sp.tls.checkSSL.v == "check-ssl" {
		b.check.tls = t.tlsOf(l, sp.tls)
	}
	t.use(h.opt)
	for _, ln := range h.lines {
		t.use(ln)
	}
	for _, n := range h.skips {
		t.skip(n.l, n.why)
	}
	for _, n := range h.changes {
		t.change(n.l, n.why)
	}
	return true
}
