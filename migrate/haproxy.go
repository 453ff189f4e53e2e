package migrate

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/balancer"
)

// haT translates an haproxy.cfg's TCP proxies into listeners. Each line
// it translates is marked done; sweep reports the others.
type haT struct {
	ns        *notes
	cfg       *haConfig
	listeners []*listener
	// names are the servers' names by address, to name LVS real
	// servers that are the same brokers.
	names map[netip.AddrPort]string
	// params caches the parsed parameters of server and default-server
	// lines, so that a line shared by several sections is read (and
	// noted) once.
	params map[*haLine]*serverParams
	// gtls are the global settings of the servers' TLS.
	gtls haGlobalTLS
	// stat tells what a file named by the configuration is (a ca-file
	// may be a directory); it fails when Import's Files cannot tell.
	stat func(name string) (fs.FileInfo, error)
	// files are Import's Files, for the list files of ACLs.
	files Files
	// srcLists are the list files read, by name, each read once however
	// many rules name it.
	srcLists map[string]srcList
	// lookup finds a server's host name's addresses (hostFiles); nil
	// when Import's Files cannot.
	lookup func(name string) ([]netip.Addr, error)
	// stateFile is set when a translated proxy loads its servers' states
	// at start (load-server-state-from-file global or local): the file
	// written then has a state_file.
	stateFile bool
	// proxies are the listen, frontend and backend sections with their
	// defaults (for sweep).
	proxies map[*haSection]haProxy
	// bySection is the listener translated first from each backend or
	// listen section, by name: where the servers that others track are
	// (resolveTracks).
	bySection map[string]*listener
}

// haProxy is a listen, frontend or backend section with the defaults
// section it inherits from.
type haProxy struct {
	sec *haSection
	def *haSection
}

// Reasons of HAProxy lines that are not translated.
const (
	whyHTTP = "http mode: rmqlb proxies TCP"
	// whyHTTPInTCP is whyHTTP's reason in a section in mode tcp, where
	// HAProxy ignores the line too (and says so at its start).
	whyHTTPInTCP  = "no effect in mode tcp: HAProxy ignores it there too (it needs mode http)"
	whyLog        = "no equivalent: rmqlb logs to stderr (the journal) and counts sessions in `rmqlb status` and /metrics"
	whyGlobal     = "no equivalent: a setting of the HAProxy process"
	whyStats      = "no equivalent: use `rmqlb status` (control_socket) and /metrics (metrics_listen)"
	whyRules      = "no equivalent: rmqlb has no content rules or ACLs; a listener sends every client to its backends (a cap on each source's connections, track-sc src and a reject on its conn_cur, becomes maxconn_per_client; a reject of the sources outside a src ACL becomes allowed_clients)"
	whyTLS        = "no equivalent: rmqlb proxies TCP without TLS; let RabbitMQ terminate TLS (listeners.ssl) and point the listener at it"
	whyNoQueue    = "no equivalent: rmqlb queues no client; past maxconn a client is refused"
	whyResolve    = "no equivalent: rmqlb uses IP addresses and resolves no names"
	whyCheckRules = whyAMQP
)

// haWhy gives the reason of the HAProxy lines that are never translated,
// by key (see haKey). A line missing here and left undone gets
// whyUnknown (whyGlobal in the global section).
var haWhy = map[string]string{
	"log": whyLog, "option tcplog": whyLog, "option dontlognull": whyLog, "option httplog": whyHTTP,
	"log-format": whyLog, "log-tag": whyLog, "option log-separate-errors": whyLog, "option logasap": whyLog,
	"log-send-hostname": whyLog, "option log-health-checks": "no equivalent: rmqlb logs every state change of a check",
	"maxconn": "no equivalent here: rmqlb's maxconn is per listener (and each session holds 2 file descriptors: mind ulimit -n)",
	"stats":   whyStats, "option contstats": whyStats, "option socket-stats": whyStats, "monitor-uri": whyHTTP,
	"acl": whyRules, "tcp-request": whyRules, "tcp-response": whyRules, "use_backend": whyRules,
	"http-request": whyHTTP, "http-response": whyHTTP, "http-after-response": whyHTTP, "http-reuse": whyHTTP,
	"option httpclose": whyHTTP, "option http-server-close": whyHTTP, "option http-keep-alive": whyHTTP,
	"option forwardfor": whyHTTP, "option http-buffer-request": whyHTTP, "errorfile": whyHTTP, "errorfiles": whyHTTP,
	"compression": whyHTTP, "cookie": whyHTTP, "capture": whyHTTP, "redirect": whyHTTP, "option originalto": whyHTTP,
	"timeout http-request": whyHTTP, "timeout http-keep-alive": whyHTTP, "timeout tarpit": whyHTTP,
	"timeout queue": whyNoQueue, "option tcp-check": whyCheckRules, "tcp-check": whyCheckRules,
	"option httpchk": whyCheckRules, "http-check": whyCheckRules, "option mysql-check": whyCheckRules,
	"option pgsql-check": whyCheckRules, "option redis-check": whyCheckRules, "option smtpchk": whyCheckRules,
	"option ldap-check": whyCheckRules, "option ssl-hello-chk": whyCheckRules, "option external-check": whyCheckRules,
	"external-check": whyCheckRules, "option spop-check": whyCheckRules,
	"hash-type":                  "no equivalent: rmqlb hashes nothing; it keeps clients on a backend by persistence_timeout",
	"hash-balance-factor":        "no equivalent: rmqlb hashes nothing",
	"option persist":             "no equivalent: rmqlb keeps a client on a backend by persistence_timeout only",
	"option abortonclose":        "no equivalent: rmqlb queues no client",
	"option nolinger":            "no equivalent: rmqlb closes sockets the usual way",
	"option independent-streams": "no equivalent: rmqlb's idle_timeout counts traffic in both directions",
	"source":                     "no equivalent: rmqlb connects from the address the routing table chooses",
	"fullconn":                   "no equivalent: rmqlb's maxconn is fixed",
	"description":                "no equivalent: rmqlb's listeners have a name only",
	"id":                         "no equivalent: rmqlb's listeners have a name only",
	"bind-process":               whyGlobal, "unique-id-format": whyHTTP, "unique-id-header": whyHTTP,
	"email-alert": whyMail, "rate-limit": "no equivalent: rmqlb limits concurrent clients (maxconn), not their rate",
	"stick-table":        "no equivalent: rmqlb keeps clients on a backend by persistence_timeout (stick on src), and caps each client address's connections by maxconn_per_client (store conn_cur)",
	"stick":              "no equivalent: rmqlb's only stickiness is by client address (persistence_timeout)",
	"dispatch":           "no equivalent: write the address as a backend",
	"server-template":    whyResolve,
	"server-state-file":  "no translated section loads it (load-server-state-from-file)",
	"server-state-base":  "no translated section loads it (load-server-state-from-file)",
	"option transparent": "no equivalent: rmqlb connects to its backends' addresses",
	"option checkcache":  whyHTTP,
	// global
	"chroot": whyGlobal, "pidfile": whyGlobal, "user": whyGlobal, "group": whyGlobal, "uid": whyGlobal,
	"gid": whyGlobal, "daemon": whyGlobal, "nbproc": whyGlobal, "nbthread": whyGlobal, "master-worker": whyGlobal,
	"ulimit-n": whyGlobal, "node": whyGlobal, "ca-base": whyTLS, "crt-base": whyTLS,
	"ssl-default-bind-ciphers": whyTLS, "ssl-default-bind-options": whyTLS, "ssl-default-server-ciphers": whyTLSVersions,
	"ssl-default-server-options": whyTLSVersions, "ssl-default-server-ciphersuites": whyTLSVersions, "ssl-default-bind-ciphersuites": whyTLS, "ssl-dh-param-file": whyTLS,
	"tune.ssl.default-dh-param": whyTLS, "spread-checks": "no equivalent: rmqlb spreads first checks over one interval",
	"hard-stop-after":   "a setting of each listener in rmqlb: graceful_timeout (how long a stop or an upgrade lets sessions finish)",
	"close-spread-time": "a setting of each listener in rmqlb: close_spread, by default four fifths of graceful_timeout, spreads the closes of every session left, AMQP connections included (HAProxy's spreads those of idle and HTTP connections only)",
	"lua-load":          "no equivalent: rmqlb runs no Lua", "insecure-fork-wanted": "no equivalent: rmqlb's proxy runs no programs", "external-check-command": whyCheckRules,
}

// haTranslated are the keys of the lines a proxy's translation reads.
var haTranslated = map[string]bool{
	"mode": true, "maxconn": true, "timeout connect": true, "contimeout": true, "timeout client": true,
	"clitimeout": true, "timeout server": true, "srvtimeout": true, "timeout tunnel": true,
	"timeout client-fin": true, "timeout server-fin": true, "timeout check": true, "retries": true,
	"option redispatch": true, "option allbackups": true, "balance": true, "default-server": true, "default_backend": true,
	"load-server-state-from-file": true,
}

// haKey returns the key a line is looked up by: "option X", "timeout X"
// or the first word, without a leading "no" or "default" (negated tells
// which: "no option redispatch" has key "option redispatch").
func haKey(words []string) (key string, negated bool) {
	if len(words) > 1 && (words[0] == "no" || words[0] == "default") {
		negated = words[0] == "no"
		words = words[1:]
	}
	switch words[0] {
	case "option", "timeout":
		if len(words) > 1 {
			return words[0] + " " + words[1], negated
		}
	}
	return words[0], negated
}

// get returns the line of key that applies to p: its own last, else its
// defaults' last (and theirs, for a defaults section that is "from"
// another).
func (p haProxy) get(key string) *haLine {
	if l := lastLine(p.sec.lines, key); l != nil {
		return l
	}
	for _, d := range p.defaults() {
		if l := lastLine(d.lines, key); l != nil {
			return l
		}
	}
	return nil
}

// mode returns p's mode: its own mode line's, else its defaults', else
// tcp, HAProxy's default.
func (p haProxy) mode() string {
	if l := p.get("mode"); l != nil && len(l.words) > 1 {
		return l.words[1]
	}
	return "tcp"
}

// defaults returns p's defaults section and those it is "from", nearest
// first (at most 8: a loop of "from" ends there).
func (p haProxy) defaults() []*haSection {
	var chain []*haSection
	for d, hops := p.def, 0; d != nil && hops < 8; hops++ {
		chain = append(chain, d)
		d = d.parent
	}
	return chain
}

// all returns the lines of key that apply to p: those of its defaults
// first, the defaults a defaults section is "from" before it, then its
// own.
func (p haProxy) all(key string) []*haLine {
	chain := p.defaults()
	var out []*haLine
	for i := len(chain) - 1; i >= 0; i-- {
		for _, l := range chain[i].lines {
			if k, _ := haKey(l.words); k == key {
				out = append(out, l)
			}
		}
	}
	for _, l := range p.sec.lines {
		if k, _ := haKey(l.words); k == key {
			out = append(out, l)
		}
	}
	return out
}

// lastLine returns the last line of lines with key.
func lastLine(lines []*haLine, key string) *haLine {
	for i := len(lines) - 1; i >= 0; i-- {
		if k, _ := haKey(lines[i].words); k == key {
			return lines[i]
		}
	}
	return nil
}

// globalLines returns the lines of the global sections, in order: those
// whose key (haKey) is one of keys, or all of them without keys.
func (t *haT) globalLines(keys ...string) []*haLine {
	var out []*haLine
	for _, s := range t.cfg.sections {
		if s.kind != "global" {
			continue
		}
		for _, l := range s.lines {
			if k, _ := haKey(l.words); len(keys) == 0 || slices.Contains(keys, k) {
				out = append(out, l)
			}
		}
	}
	return out
}

// text returns l as a note shows it, its credentials hidden (maskSecrets).
func (l *haLine) text() string { return directive(maskSecrets(l.words)...) }

func (t *haT) use(l *haLine) { l.done = true }

func (t *haT) skip(l *haLine, why string) {
	t.ns.skip(l.pos, l.text(), why)
	l.done = true
}

func (t *haT) change(l *haLine, why string) {
	t.ns.change(l.pos, l.text(), why)
	l.done = true
}

// skipSection reports a whole section: its header with why, its lines as
// part of it.
func (t *haT) skipSection(s *haSection, why string) {
	last := s.header.pos.Line
	for _, l := range s.lines {
		l.done = true
		last = l.pos.Line
	}
	what := s.header.text()
	if last > s.header.pos.Line {
		what += " (to line " + strconv.Itoa(last) + ")"
	}
	t.ns.skip(s.header.pos, what, why)
	s.header.done = true
}

// translateHAProxy translates the TCP proxies of an haproxy.cfg.
func translateHAProxy(cfg *haConfig, ns *notes, files Files) *haT {
	t := &haT{ns: ns, cfg: cfg, names: map[netip.AddrPort]string{}, params: map[*haLine]*serverParams{}, bySection: map[string]*listener{}, proxies: map[*haSection]haProxy{}, files: files}
	t.stat = func(string) (fs.FileInfo, error) { return nil, errors.ErrUnsupported }
	if sf, ok := files.(statFiles); ok {
		t.stat = sf.Stat
	}
	if hf, ok := files.(hostFiles); ok {
		t.lookup = hf.LookupHost
	}
	t.globalTLS()
	for _, l := range cfg.orphans {
		t.skip(l, "outside any section: HAProxy refuses it")
	}
	backends := map[string]*haProxy{}
	var proxies []haProxy
	named := map[string]*haSection{}
	var def *haSection
	for _, s := range cfg.sections {
		switch s.kind {
		case "defaults":
			t.use(s.header)
			if from := fromName(s.header.words); from != "" {
				s.parent = named[from]
			}
			if s.name != "" && s.name != "from" {
				named[s.name] = s
			}
			def = s
		case "listen", "frontend", "backend":
			p := haProxy{sec: s, def: def}
			if from := fromName(s.header.words); from != "" {
				p.def = named[from]
			}
			if s.kind == "backend" {
				backends[s.name] = &p
			}
			proxies = append(proxies, p)
			t.proxies[s] = p
		case "global":
			t.use(s.header)
		default:
			t.skipSection(s, "no equivalent: rmqlb has no "+s.kind+" section")
		}
	}
	usedBackends := map[*haSection]bool{}
	for _, p := range proxies {
		switch p.sec.kind {
		case "listen":
			t.proxy(p, p)
		case "frontend":
			back := t.frontendBackend(p, backends)
			if back == nil {
				if !p.sec.header.done {
					t.skipSection(p.sec, "no default_backend: nothing to send clients to")
				}
				continue
			}
			usedBackends[back.sec] = true
			t.proxy(p, *back)
		}
	}
	for _, p := range proxies {
		if p.sec.kind == "backend" && !usedBackends[p.sec] && !p.sec.header.done {
			t.skipSection(p.sec, "no frontend in tcp mode uses it")
		}
	}
	t.resolveTracks()
	t.sourceRules()
	t.serverStateFiles()
	t.hardStop()
	t.sweep()
	return t
}

// serverState reads load-server-state-from-file of back, the section of
// the servers: global or local keeps the servers' operator states across
// a restart of HAProxy, as rmqlb's state_file does (stateFile); none is
// HAProxy's default, as no state_file is rmqlb's.
func (t *haT) serverState(back haProxy) {
	ln := back.get("load-server-state-from-file")
	if ln == nil {
		return
	}
	switch v := ln.words[len(ln.words)-1]; {
	case len(ln.words) != 2:
		t.skip(ln, "takes one word, global, local or none: HAProxy refuses it")
	case v == "global" || v == "local":
		t.stateFile = true
		t.change(ln, "becomes state_file: "+defaultStateFile+": rmqlb writes the operator's states there itself after each change (drain, maint, weight, and its VRRP releases) and reads them at start: nothing to save with show servers state before a restart")
	case v == "none":
		t.use(ln)
	default:
		t.skip(ln, "unknown value "+v+": HAProxy refuses it")
	}
}

// defaultStateFile is the state_file of a translated file, where the
// package's unit keeps the daemon's state (StateDirectory).
const defaultStateFile = "/var/lib/rmqlb/state.json"

// serverStateFiles notes the global server-state-file and
// server-state-base, where HAProxy loads the servers' states from, as
// replaced by the state_file, once a translated proxy loads them.
func (t *haT) serverStateFiles() {
	if !t.stateFile {
		return
	}
	for _, l := range t.globalLines("server-state-file", "server-state-base") {
		t.change(l, "state_file replaces it: rmqlb writes and reads its own")
	}
}

// fromName returns the defaults section a header names with "from NAME".
func fromName(words []string) string {
	for i := 1; i+1 < len(words); i++ {
		if words[i] == "from" {
			return words[i+1]
		}
	}
	return ""
}

// frontendBackend returns the backend a frontend sends its clients to.
func (t *haT) frontendBackend(p haProxy, backends map[string]*haProxy) *haProxy {
	var name string
	for _, l := range p.sec.lines {
		switch l.words[0] {
		case "default_backend":
			if len(l.words) > 1 {
				name = l.words[1]
				t.use(l)
			}
		case "use_backend":
			if len(l.words) == 2 {
				name = l.words[1] // unconditional
				t.use(l)
			}
		}
	}
	if name == "" {
		if l := p.get("default_backend"); l != nil && len(l.words) > 1 {
			name = l.words[1]
			t.use(l)
		}
	}
	if name == "" {
		return nil
	}
	b := backends[name]
	if b == nil {
		t.skipSection(p.sec, "its backend "+name+" is not in the file")
	}
	return b
}

// mode returns p's mode (haProxy.mode) and marks the mode lines that say
// tcp, its own and its defaults', translated.
func (t *haT) mode(p haProxy) string {
	mode := p.mode()
	if mode == "tcp" {
		// Every mode line that says tcp is what rmqlb does, the
		// defaults' too.
		for _, l := range p.all("mode") {
			if len(l.words) == 2 && l.words[1] == "tcp" {
				t.use(l)
			}
		}
	}
	return mode
}

// disabled returns the line that disables p in HAProxy (the instance is
// created stopped: it takes no traffic and sends no checks), or nil when
// p runs: its own last "disabled" or "enabled", else its defaults'. An
// "enabled" that applies is marked translated: rmqlb runs the listener.
func (t *haT) disabled(p haProxy) *haLine {
	chain := [][]*haLine{p.sec.lines}
	for _, d := range p.defaults() {
		chain = append(chain, d.lines)
	}
	for _, lines := range chain {
		for i := len(lines) - 1; i >= 0; i-- {
			switch k, _ := haKey(lines[i].words); k {
			case "disabled":
				return lines[i]
			case "enabled":
				t.use(lines[i])
				return nil
			}
		}
	}
	return nil
}

// whyMode says why a proxy in mode m (not tcp) is not translated.
func whyMode(m string) string {
	if m == "http" {
		return whyHTTP
	}
	return "mode " + m + ": rmqlb proxies TCP"
}

// whyHTTPAsTCP is the note of the mode line of a proxy in http mode that
// rmqlb translates (see httpOnly).
const whyHTTPAsTCP = "HAProxy proxied HTTP here; rmqlb proxies the TCP connections, which carry the same requests (the management UI and API work alike), but it balances connections, not requests, and adds no X-Forwarded-For"

// httpBenign are the lines of whyHTTP that only change what http mode
// does to connections, which a proxy rmqlb translates may hold (httpOnly).
var httpBenign = map[string]bool{
	"option httplog": true, "option forwardfor": true, "option httpclose": true, "option http-server-close": true,
	"option http-keep-alive": true, "option http-buffer-request": true, "timeout http-request": true,
	"timeout http-keep-alive": true, "http-reuse": true, "compression": true, "option checkcache": true,
}

// httpOnly returns the first line that applies to p (its own or its
// defaults') that only HAProxy's http mode can do: a rule, header or
// rewrite of the requests or answers, content rules, a cookie, stats or
// a monitor URI. Nil when none: its clients get what they got through a
// TCP proxy, and rmqlb translates it. What http mode does to connections
// alone (option httplog, forwardfor, http-server-close, keep-alive, its
// timeouts) is reported as not translated.
func httpOnly(p haProxy) *haLine {
	secs := append([]*haSection{p.sec}, p.defaults()...)
	for _, sec := range secs {
		for _, l := range sec.lines {
			key, _ := haKey(l.words)
			switch why := haWhy[key]; {
			case why == whyHTTP && !httpBenign[key], why == whyRules, why == whyStats:
				return l
			}
		}
	}
	return nil
}

// httpAsTCP reports whether p, in mode m, is a proxy in http mode that
// rmqlb translates (httpOnly finds nothing), and then notes its mode line;
// otherwise it returns why not.
func (t *haT) httpAsTCP(p haProxy, m string) (string, bool) {
	if m != "http" {
		return whyMode(m), false
	}
	if l := httpOnly(p); l != nil {
		return fmt.Sprintf("%s (line %d: %s)", whyHTTP, l.pos.Line, l.text()), false
	}
	t.change(p.get("mode"), whyHTTPAsTCP)
	return "", true
}

// proxy translates a listen section (front == back) or a frontend and its
// backend into one listener per bound address: grouped by port, the
// servers of each group's listeners on its port, when a server has no
// port and the binds listen on several.
func (t *haT) proxy(front, back haProxy) {
	http := false // HAProxy proxied HTTP: the servers speak it
	if m := t.mode(front); m != "tcp" {
		why, ok := t.httpAsTCP(front, m)
		http = ok
		if !ok {
			t.skipSection(front.sec, why)
			if back.sec != front.sec && !back.sec.header.done {
				t.skipSection(back.sec, "the backend of "+front.sec.header.text()+": "+why)
			}
			return
		}
	}
	if back.sec != front.sec {
		// A frontend in tcp mode may use a backend in http mode:
		// HAProxy then upgrades its connections to HTTP.
		if m := t.mode(back); m != "tcp" {
			why, ok := t.httpAsTCP(back, m)
			http = http || ok
			if !ok {
				t.skipSection(front.sec, fmt.Sprintf("its backend %s (line %d): %s", back.sec.name, back.sec.header.pos.Line, why))
				if !back.sec.header.done {
					t.skipSection(back.sec, "the backend of "+front.sec.header.text()+": "+why)
				}
				return
			}
		}
	}
	if ln := t.disabled(front); ln != nil {
		t.use(ln)
		t.skipSection(front.sec, "disabled in HAProxy")
		if back.sec != front.sec && !back.sec.header.done {
			t.skipSection(back.sec, "the backend of "+front.sec.header.text()+", which is disabled in HAProxy")
		}
		return
	}
	if back.sec != front.sec {
		if ln := t.disabled(back); ln != nil {
			t.use(ln)
			t.skipSection(front.sec, fmt.Sprintf("its backend %s (line %d) is disabled in HAProxy: it takes no traffic", back.sec.name, back.sec.header.pos.Line))
			if !back.sec.header.done {
				t.skipSection(back.sec, "disabled in HAProxy")
			}
			return
		}
	}
	binds := t.binds(front)
	if len(binds) == 0 {
		t.skipSection(front.sec, "binds no address rmqlb can use")
		return
	}
	t.use(front.sec.header)
	t.use(back.sec.header)
	// A server without a port (or with an offset) is connected at the
	// port each client connected to: with binds on several ports, each
	// port is a proxy of its own in rmqlb, whose backends take its port.
	ports := bindPorts(binds)
	if len(ports) > 1 && portlessServer(back) {
		for _, port := range ports {
			t.proxyListeners(front, back, http, bindsOn(binds, port), ports)
		}
		return
	}
	t.proxyListeners(front, back, http, binds, nil)
}

// proxyListeners translates front and back into one listener per bind of
// binds. split, when not nil, are the ports of every bind of the proxy,
// binds those on one of them: the servers without a port take it.
func (t *haT) proxyListeners(front, back haProxy, http bool, binds []haBind, split []uint16) {
	base := &listener{pos: front.sec.header.pos, src: fromHAProxy, what: front.sec.header.text(), name: front.sec.name, http: http}
	t.settings(base, front, back)
	t.servers(base, back, bindPorts(binds), split)
	if len(base.backends) == 0 {
		t.ns.skip(front.sec.header.pos, front.sec.header.text(), "has no server that rmqlb can use: the listener is left out")
		return
	}
	if _, ok := t.bySection[back.sec.name]; !ok {
		t.bySection[back.sec.name] = base
	}
	for i, b := range binds {
		l := base
		if i > 0 {
			l = base.clone()
			l.pos, l.what = b.pos, directive(b.words...)
		}
		l.bind, l.origBind = b.addr, b.addr
		if err := balancer.CheckAllowedFamily(l.bind, l.allowed); err != nil {
			t.ns.skip(b.pos, directive(b.words...), "left out: the proxy's source rules let no client of its address family through (allowed_clients "+err.Error()+")")
			continue
		}
		t.userTimeout(l, b.ut)
		t.listeners = append(t.listeners, l)
	}
}

// portlessServer reports whether a server line of back has an address
// without a port, or with a port relative to the client's.
func portlessServer(back haProxy) bool {
	return slices.ContainsFunc(back.all("server"), func(ln *haLine) bool {
		if len(ln.words) < 3 {
			return false
		}
		_, err := haAddrOrName(ln.words[2], false)
		_, _, ok := relativePort(ln.words[2], err)
		return ok
	})
}

// bindsOn returns the binds on port, in order.
func bindsOn(binds []haBind, port uint16) []haBind {
	var out []haBind
	for _, b := range binds {
		if b.addr.Port() == port {
			out = append(out, b)
		}
	}
	return out
}

// bindPorts returns the ports binds listen on, each once, in order: a
// server without a port takes its listener's (HAProxy connects to the
// port the client connected to).
func bindPorts(binds []haBind) []uint16 {
	var ports []uint16
	for _, b := range binds {
		if !slices.Contains(ports, b.addr.Port()) {
			ports = append(ports, b.addr.Port())
		}
	}
	return ports
}

// clone returns a copy of l with copies of its backends.
func (l *listener) clone() *listener {
	c := *l
	c.backends = nil
	for _, b := range l.backends {
		nb := *b
		c.backends = append(c.backends, &nb)
	}
	return &c
}

// haBind is one address a proxy binds.
type haBind struct {
	pos   Pos
	words []string
	addr  netip.AddrPort
	// ut is the bind's tcp-ut (0: none), written ut.dir.
	ut utSource
}

// haBindArgs are the bind options that take a value.
var haBindArgs = map[string]bool{
	"name": true, "crt": true, "ca-file": true, "ciphers": true, "ciphersuites": true, "alpn": true,
	"backlog": true, "interface": true, "maxconn": true, "mss": true, "process": true, "thread": true,
	"nice": true, "id": true, "level": true, "severity-output": true, "mode": true, "user": true,
	"group": true, "uid": true, "gid": true, "namespace": true, "tcp-ut": true, "crt-list": true,
	"curves": true, "ecdhe": true, "ssl-min-ver": true, "ssl-max-ver": true, "verify": true,
	"crl-file": true, "npn": true, "label": true, "shards": true, "proto": true, "sigalgs": true,
	"client-sigalgs": true, "tls-ticket-keys": true, "guid-prefix": true, "idle-ping": true,
	"quic-cc-algo": true, "accept-netscaler-cip": true, "ca-ignore-err": true, "crt-ignore-err": true,
}

// binds returns the addresses a proxy binds: the listen or frontend
// header's, then its bind lines'.
func (t *haT) binds(p haProxy) []haBind {
	var out []haBind
	h := p.sec.header
	if len(h.words) > 2 && h.words[2] != "from" {
		out = append(out, t.bindAddrs(h, h.words[2])...)
	}
	for _, l := range t.linesOf(p.sec, "bind", 2, "needs an address") {
		ssl := false
		var opts []string
		for i := 2; i < len(l.words); i++ {
			o := l.words[i]
			if haBindArgs[o] && i+1 < len(l.words) {
				i++
				if o == "name" {
					continue
				}
				o += " " + l.words[i]
			}
			if o == "ssl" {
				ssl = true
			}
			opts = append(opts, o)
		}
		if ssl {
			t.skip(l, whyTLS)
			continue
		}
		addrs := t.bindAddrs(l, l.words[1])
		if len(addrs) == 0 {
			continue
		}
		t.use(l)
		for _, o := range opts {
			why := whyUnknown
			switch f := strings.Fields(o); f[0] {
			case "tcp-ut":
				if len(f) < 2 {
					why = "needs a value"
					break
				}
				d, err := haUserTimeout(f[1])
				if err == nil {
					for i := range addrs {
						addrs[i].ut = utSource{pos: l.pos, dir: directive("bind", l.words[1], o), d: d}
					}
					continue
				}
				why = err.Error()
			case "accept-proxy", "accept-netscaler-cip":
				why = "no equivalent: rmqlb reads no PROXY header from clients"
			case "transparent", "interface", "namespace", "v4v6", "v6only", "mss", "backlog", "defer-accept", "tfo", "nice", "process", "thread", "id":
				why = "no equivalent: rmqlb binds VIP:port with the kernel's defaults"
			case "maxconn":
				why = "no equivalent: rmqlb's maxconn is per listener"
			}
			t.ns.skip(l.pos, directive("bind", l.words[1], o), why)
		}
		out = append(out, addrs...)
	}
	return out
}

// linesOf returns the lines of s whose first word is key, reporting
// those with fewer than n words with why.
func (t *haT) linesOf(s *haSection, key string, n int, why string) []*haLine {
	var out []*haLine
	for _, l := range s.lines {
		switch {
		case l.words[0] != key:
		case len(l.words) < n:
			t.skip(l, why)
		default:
			out = append(out, l)
		}
	}
	return out
}

// maxBindRange is the most ports of a bind's port range the import makes
// listeners of.
const maxBindRange = 16

// bindAddrs reads the addresses of a bind (a comma-separated list of
// [ADDR]:PORT, or [ADDR]:FIRST-LAST, a listener for each port of the
// range), reporting those rmqlb cannot bind.
func (t *haT) bindAddrs(l *haLine, list string) []haBind {
	var out []haBind
	for _, s := range strings.Split(list, ",") {
		addrs := []string{s}
		if host, ports, err := bindRange(s); err != nil {
			t.ns.skip(l.pos, directive(l.words[0], s), err.Error())
			continue
		} else if len(ports) > 0 {
			addrs = addrs[:0]
			for _, p := range ports {
				addrs = append(addrs, host+":"+strconv.Itoa(p))
			}
			t.ns.change(l.pos, directive(l.words[0], s), fmt.Sprintf("a range of %d ports: a listener for each, as HAProxy listens on each", len(ports)))
		}
		for _, a := range addrs {
			ap, err := haAddr(a, true)
			if err != nil {
				t.ns.skip(l.pos, directive(l.words[0], s), err.Error())
				break
			}
			out = append(out, haBind{pos: l.pos, words: l.words, addr: ap})
		}
	}
	if len(out) > 0 {
		l.done = true
	}
	return out
}

// bindRange reads the port range of a bind address s, ADDR:FIRST-LAST:
// ADDR and the ports from FIRST to LAST; none when s has no range.
func bindRange(s string) (host string, ports []int, err error) {
	i := strings.LastIndex(s, ":")
	if i < 0 || !strings.Contains(s[i+1:], "-") {
		return "", nil, nil
	}
	first, last, _ := strings.Cut(s[i+1:], "-")
	f, ferr := number(first, 1, 65535)
	l, lerr := number(last, 1, 65535)
	switch {
	case ferr != nil || lerr != nil || l < f:
		return "", nil, fmt.Errorf("port range %s: must be FIRST-LAST, ports 1 to 65535", s[i+1:])
	case l-f >= maxBindRange:
		return "", nil, fmt.Errorf("a range of %d ports: the import makes a listener of each of at most %d: write the ports the brokers' clients use", l-f+1, maxBindRange)
	}
	for p := f; p <= l; p++ {
		ports = append(ports, p)
	}
	return s[:i], ports, nil
}

// haAddr reads an HAProxy address "[ipv4@|ipv6@]ADDR:PORT"; with bind, an
// empty ADDR or "*" is the unspecified address.
func haAddr(s string, bind bool) (netip.AddrPort, error) {
	ap, err := haAddrOrName(s, bind)
	var ne *hostNameError
	if errors.As(err, &ne) {
		return netip.AddrPort{}, fmt.Errorf("%s: %s", ne.host, whyResolve)
	}
	return ap, err
}

// hostNameError is haAddrOrName's answer for an address given as a host
// name (or an address with a zone).
type hostNameError struct {
	host string
	port uint16
}

func (e *hostNameError) Error() string { return e.host + ": " + whyResolve }

// errNoPort is haAddrOrName's answer for an address without a port: a
// server's, to which HAProxy connects at the port the client connected to.
var errNoPort = errors.New("needs a port: rmqlb does not take the client's destination port")

// portOffsetError is haAddrOrName's answer for a server address whose
// port is an offset, HOST:+N or HOST:-N: HAProxy connects at the port the
// client connected to plus off.
type portOffsetError struct{ off int }

func (e *portOffsetError) Error() string {
	return fmt.Sprintf("port %+d: rmqlb does not take the client's destination port", e.off)
}

// relativePort says whether err is haAddrOrName's answer for a server
// address whose port is relative to the port the client connected to,
// the offset (0 without a port), and the address without it.
func relativePort(s string, err error) (host string, off int, ok bool) {
	var pe *portOffsetError
	switch {
	case errors.Is(err, errNoPort):
		return s, 0, true
	case errors.As(err, &pe):
		return s[:strings.LastIndex(s, ":")], pe.off, true
	}
	return "", 0, false
}

// haAddrOrName is haAddr, with a *hostNameError for a host name.
func haAddrOrName(s string, bind bool) (netip.AddrPort, error) {
	for _, p := range []string{"ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@"} {
		s = strings.TrimPrefix(s, p)
	}
	if i := strings.Index(s, "@"); i >= 0 {
		return netip.AddrPort{}, fmt.Errorf("no equivalent: rmqlb binds and connects to IP addresses, not %s", s[:i+1])
	}
	if strings.HasPrefix(s, "[") {
		ap, err := netip.ParseAddrPort(s)
		if err != nil || ap.Port() == 0 {
			return netip.AddrPort{}, fmt.Errorf("must be ADDRESS:PORT")
		}
		return ap, nil
	}
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return netip.AddrPort{}, errNoPort
	}
	host, port := s[:i], s[i+1:]
	if !bind && (strings.HasPrefix(port, "+") || strings.HasPrefix(port, "-")) {
		n, err := number(port[1:], 0, 65535)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("port offset %v", err)
		}
		if port[0] == '-' {
			n = -n
		}
		return netip.AddrPort{}, &portOffsetError{off: n}
	}
	if strings.ContainsAny(port, "-+") {
		return netip.AddrPort{}, fmt.Errorf("a port range or offset: write one listener per port")
	}
	pn, err := number(port, 1, 65535)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %v", err)
	}
	var a netip.Addr
	switch {
	case bind && (host == "" || host == "*"):
		a = netip.IPv4Unspecified()
	default:
		if a, err = netip.ParseAddr(host); err != nil || a.Zone() != "" {
			return netip.AddrPort{}, &hostNameError{host: host, port: uint16(pn)}
		}
		if !bind && a.IsUnspecified() {
			return netip.AddrPort{}, fmt.Errorf("must not be the unspecified address")
		}
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(pn)), nil
}

// settings translates a proxy's listener settings: limits, timeouts,
// retries, balance and persistence.
func (t *haT) settings(l *listener, front, back haProxy) {
	t.serverState(back)
	if ln := front.get("maxconn"); ln != nil {
		if v, ok := t.intOf(ln, 0, 1<<31-1); ok {
			l.maxconn = v
			t.change(ln, "HAProxy leaves clients past it waiting in the kernel's accept queue; rmqlb accepts and closes them at once (counted, reason maxconn)")
		}
	}
	if ln := t.timeout(back, "connect", "contimeout"); ln != nil {
		l.connectTimeout = ln.d
	}
	client := t.timeout(front, "client", "clitimeout")
	server := t.timeout(back, "server", "srvtimeout")
	if tunnel := t.timeout(back, "tunnel", ""); tunnel != nil {
		l.idleTimeout = tunnel.d
	} else {
		switch {
		case client != nil && server != nil:
			l.idleTimeout = min(client.d, server.d)
			if client.d != server.d {
				t.change(client.line, "rmqlb has one idle_timeout for both sides: the shorter of timeout client and timeout server")
			}
		case client != nil:
			l.idleTimeout = client.d
		case server != nil:
			l.idleTimeout = server.d
		}
	}
	cfin, sfin := t.timeout(front, "client-fin", ""), t.timeout(back, "server-fin", "")
	switch {
	case cfin != nil && sfin != nil:
		l.finTimeout = min(cfin.d, sfin.d)
	case cfin != nil:
		l.finTimeout = cfin.d
	case sfin != nil:
		l.finTimeout = sfin.d
	}
	const whyRedispatch = "rmqlb tries another backend on each retry, as HAProxy does with option redispatch"
	redispatch := back.get("option redispatch")
	negated := false
	if redispatch != nil {
		if _, negated = haKey(redispatch.words); negated {
			t.change(redispatch, whyRedispatch)
		} else {
			t.use(redispatch)
		}
	}
	if ln := back.get("retries"); ln != nil {
		if v, ok := t.intOf(ln, 0, balancer.MaxRetries); ok {
			l.retries = intp(v)
			if redispatch == nil {
				t.change(ln, whyRedispatch)
			} else {
				t.use(ln)
			}
		}
	}
	t.balance(l, back)
	t.clientLimit(l, front)
	t.clientLists(l, front, back)
	t.sessionLog(l, front)
	// What rmqlb always does: TCP keepalive on both sides, splice(2).
	for _, k := range []string{"option tcpka", "option clitcpka", "option srvtcpka", "option splice-auto", "option splice-request", "option splice-response"} {
		for _, p := range []haProxy{front, back} {
			if ln := p.get(k); ln != nil {
				if _, neg := haKey(ln.words); !neg {
					t.use(ln)
				}
			}
		}
	}
}

// haSide names the side of a proxy that reads a timeout: the others are
// ignored in a frontend (no backend capability) or a backend (no frontend
// capability).
var haSide = map[string]string{
	"timeout client": "frontend", "timeout client-fin": "frontend", "timeout http-request": "frontend",
	"timeout connect": "backend", "timeout server": "backend", "timeout server-fin": "backend",
	"timeout queue": "backend", "timeout check": "backend", "timeout tunnel": "backend",
}

// haTimeout is a timeout line and its value.
type haTimeout struct {
	line *haLine
	d    time.Duration
}

// timeout returns the "timeout NAME" (or the old single-word alias) that
// applies to p.
func (t *haT) timeout(p haProxy, name, alias string) *haTimeout {
	l := p.get("timeout " + name)
	if l == nil && alias != "" {
		l = p.get(alias)
	}
	if l == nil {
		return nil
	}
	v := ""
	if l.words[0] == "timeout" && len(l.words) > 2 {
		v = l.words[2]
	} else if l.words[0] != "timeout" && len(l.words) > 1 {
		v = l.words[1]
	}
	d, err := haTime(v)
	if err != nil {
		t.skip(l, err.Error())
		return nil
	}
	t.use(l)
	return &haTimeout{line: l, d: d}
}

// intOf returns the integer value (the last word) of l in min..max.
func (t *haT) intOf(l *haLine, min, max int) (int, bool) {
	if len(l.words) < 2 {
		t.skip(l, "needs a value")
		return 0, false
	}
	v, err := number(l.words[len(l.words)-1], min, max)
	if err != nil {
		t.skip(l, err.Error())
		return 0, false
	}
	return v, true
}

// randomBalance translates balance random with its draws (2 when not
// written): HAProxy picks that many servers at random, by weight, and
// sends the client to the least loaded of them, which rmqlb's leastconn
// comes closest to; with one draw, a random pick, roundrobin.
func (t *haT) randomBalance(l *listener, ln *haLine, draws int) {
	if draws == 1 {
		t.change(ln, "a random pick by weight: rmqlb's closest policy is roundrobin (wrr when the weights differ)")
		return
	}
	l.policy = "leastconn"
	t.change(ln, fmt.Sprintf("HAProxy draws %d servers at random by weight and takes the least loaded: rmqlb's closest policy is leastconn (fewest connections per weight)", draws))
}

// balance translates balance and source persistence (balance source, or
// a stick table on the source address).
func (t *haT) balance(l *listener, back haProxy) {
	if ln := back.get("balance"); ln != nil && len(ln.words) > 1 {
		switch alg := ln.words[1]; alg {
		case "roundrobin", "static-rr":
			l.policy = "roundrobin"
			t.use(ln)
		case "leastconn":
			l.policy = "leastconn"
			t.use(ln)
		case "source":
			l.persistence = sourcePersistence
			t.change(ln, "a source hash: rmqlb keeps each client address on its backend with persistence_timeout "+formatDuration(sourcePersistence))
		case "random":
			t.randomBalance(l, ln, 2)
		case "first":
			t.skip(ln, "no equivalent: rmqlb spreads clients over every backend; the listener uses roundrobin")
		default:
			if arg, ok := strings.CutPrefix(alg, "random("); ok && strings.HasSuffix(arg, ")") {
				if draws, err := number(strings.TrimSuffix(arg, ")"), 1, 100); err != nil {
					t.skip(ln, "the draws of random "+err.Error())
				} else {
					t.randomBalance(l, ln, draws)
				}
				break
			}
			t.skip(ln, "no equivalent: balance "+alg+" needs HTTP or other content; the listener uses roundrobin")
		}
	}
	stick := back.get("stick")
	table := back.get("stick-table")
	if stick == nil || table == nil || len(stick.words) < 3 || stick.words[1] != "on" || stick.words[2] != "src" {
		return
	}
	expire := sourcePersistence
	size := 0 // none given: rmqlb's default bound
	for i := 1; i+1 < len(table.words); i++ {
		switch table.words[i] {
		case "expire":
			d, err := haTime(table.words[i+1])
			if err != nil {
				t.skip(table, "expire "+err.Error())
				return
			}
			expire = d
		case "size":
			n, err := haSize(table.words[i+1])
			if err != nil {
				t.skip(table, "size "+err.Error())
				return
			}
			size = n
		}
	}
	l.persistence = expire
	l.maxClients = size
	t.use(stick)
	why := "rmqlb keeps each client address on its backend with persistence_timeout " + formatDuration(expire) + " (the table's expire)"
	if size > 0 {
		why += fmt.Sprintf(" and pins at most persistence_max_clients %d addresses (the table's size); a new client beyond them is balanced without being pinned, where HAProxy would purge its oldest entry (unless nopurge)", size)
	}
	t.change(table, why)
}

// sweep reports every line that was neither translated nor reported,
// with its reason (haWhy), or with none but that HAProxy ignores it too:
// an http-mode line in mode tcp, a timeout of the other side of a
// frontend or backend.
func (t *haT) sweep() {
	for _, s := range t.cfg.sections {
		if !s.header.done {
			t.skip(s.header, whyUnknown)
		}
		// A proxy's mode is its own or its defaults'; a defaults
		// section's (or another's) its own line's.
		p, ok := t.proxies[s]
		if !ok {
			p = haProxy{sec: s}
		}
		httpDefaults := s.kind == "defaults" && p.mode() == "http"
		tcp := s.kind != "global" && p.mode() == "tcp"
		for _, l := range s.lines {
			if l.done {
				continue
			}
			key, _ := haKey(l.words)
			why, ok := haWhy[key]
			switch {
			case ok:
			case s.kind == "global" || strings.HasPrefix(key, "tune."):
				why = whyGlobal
			case strings.HasPrefix(key, "ssl-"):
				why = whyTLS
			case httpDefaults:
				why = "in defaults for http mode: rmqlb proxies TCP"
			case s.kind == "defaults" && haTranslated[key]:
				why = "overridden in every translated section that uses these defaults, or used by none"
			default:
				why = whyUnknown
			}
			if why == whyHTTP && tcp {
				why = whyHTTPInTCP
			}
			if side := haSide[key]; side != "" && (s.kind == "frontend" || s.kind == "backend") && side != s.kind {
				why = "no effect in a " + s.kind + ": HAProxy reads it in a " + side + " only (and warns so at its start)"
			}
			t.skip(l, why)
		}
	}
}
