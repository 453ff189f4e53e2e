package migrate

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/balancer"
	"github.com/rmqlb/rmqlb/healthcheck"
)

// kaCheckSettings are the check settings a virtual_server passes on to
// its real servers and a real server to its checkers; zero: not written.
type kaCheckSettings struct {
	interval time.Duration // delay_loop
	fast     time.Duration // delay_before_retry
	timeout  time.Duration // connect_timeout
	fall     int           // retry + 1
	inhibit  bool          // inhibit_on_failure
}

// defaultLVSPersistence is keepalived's persistence_timeout without a
// value.
const defaultLVSPersistence = 6 * time.Minute

// whyTCPCheck is the note of a TCP connect check: rmqlb's check is an
// AMQP handshake.
const whyTCPCheck = "becomes an AMQP handshake check, rmqlb's default: a frozen broker still accepts TCP connections (write check type: tcp to keep a bare connect)"

// virtualServer translates a virtual_server: "IP PORT", "fwmark N" or
// "group NAME", whose virtual_server_group gives one listener per address
// and port (and per fwmark), each with the real servers, checks and
// settings of the virtual_server.
func (t *kaT) virtualServer(n *kaNode) []*listener {
	t.use(n)
	if len(n.args) == 2 && n.args[0] == "group" {
		return t.virtualServerGroup(n)
	}
	l := &listener{pos: n.pos, src: fromKeepalived, what: n.text()}
	switch {
	case len(n.args) == 2 && n.args[0] == "fwmark":
		m, err := number(n.args[1], 1, 1<<31-1)
		if err != nil {
			t.skip(n, "fwmark "+err.Error())
			return nil
		}
		l.fwmark = m
	case len(n.args) == 2:
		a, err := netip.ParseAddr(n.args[0])
		p, perr := number(n.args[1], 1, 65535)
		if err != nil || perr != nil || a.Zone() != "" {
			t.skip(n, "must be virtual_server IP PORT, virtual_server fwmark N or virtual_server group NAME")
			return nil
		}
		l.bind = netip.AddrPortFrom(a, uint16(p))
	default:
		t.skip(n, "must be virtual_server IP PORT, virtual_server fwmark N or virtual_server group NAME")
		return nil
	}
	if l = t.virtualServerBody(n, l); l == nil {
		return nil
	}
	return []*listener{l}
}

// maxGroupRange bounds the addresses of one range of a
// virtual_server_group (192.168.1.1-10): a listener each. maxGroupListeners
// bounds the listeners of one virtual_server group, so that a file cannot
// make the import write without end.
const (
	maxGroupRange     = 32
	maxGroupListeners = 128
)

// virtualServerGroup translates a virtual_server "group NAME": a listener
// for each address and port, address range and fwmark of the
// virtual_server_group NAME, each with what n holds.
func (t *kaT) virtualServerGroup(n *kaNode) []*listener {
	g := t.vsGroups[n.args[1]]
	if g == nil {
		t.skip(n, "no virtual_server_group "+n.args[1]+" in the file")
		return nil
	}
	t.use(g)
	var out []*listener
	for _, m := range g.children {
		var members []*listener
		member := func() *listener {
			return &listener{pos: n.pos, src: fromKeepalived, what: n.text() + " (" + m.text() + ")"}
		}
		switch {
		case m.key == "fwmark" && len(m.args) == 1:
			v, err := number(m.args[0], 1, 1<<31-1)
			if err != nil {
				t.skip(m, "fwmark "+err.Error())
				continue
			}
			l := member()
			l.fwmark = v
			members = append(members, l)
		case len(m.args) == 1:
			addrs, err := groupAddrs(m.key)
			p, perr := number(m.args[0], 1, 65535)
			if err != nil || perr != nil {
				if err == nil {
					err = perr
				}
				t.skip(m, err.Error())
				continue
			}
			for _, a := range addrs {
				l := member()
				l.bind = netip.AddrPortFrom(a, uint16(p))
				members = append(members, l)
			}
		default:
			t.skip(m, "must be IP PORT, IP-LAST PORT (a range) or fwmark N")
			continue
		}
		if len(out)+len(members) > maxGroupListeners {
			t.skip(m, fmt.Sprintf("more than %d listeners for one virtual_server group: write the rest by hand", maxGroupListeners))
			continue
		}
		t.use(m)
		for _, l := range members {
			if l = t.virtualServerBody(n, l); l != nil {
				out = append(out, l)
			}
		}
	}
	if len(out) == 0 && len(g.children) == 0 {
		t.skip(n, "its virtual_server_group "+n.args[1]+" is empty")
	}
	return out
}

// groupAddrs reads the address of a virtual_server_group member: an IP, or
// an IPv4 range whose last byte ends at LAST ("192.168.1.1-10": .1 to .10).
func groupAddrs(s string) ([]netip.Addr, error) {
	first, last, isRange := strings.Cut(s, "-")
	a, err := netip.ParseAddr(first)
	if err != nil || a.Zone() != "" || a.IsUnspecified() {
		return nil, fmt.Errorf("%q is no IP address", first)
	}
	if !isRange {
		return []netip.Addr{a}, nil
	}
	if !a.Is4() {
		return nil, fmt.Errorf("%s: rmqlb import reads IPv4 ranges only: write the addresses one per line", s)
	}
	b := a.As4()
	end, err := number(last, int(b[3]), 255)
	if err != nil {
		return nil, fmt.Errorf("range %s: its last byte %w", s, err)
	}
	if n := end - int(b[3]) + 1; n > maxGroupRange {
		return nil, fmt.Errorf("range %s: %d addresses, a listener each: more than %d", s, n, maxGroupRange)
	}
	var out []netip.Addr
	for i := int(b[3]); i <= end; i++ {
		b[3] = byte(i)
		out = append(out, netip.AddrFrom4(b))
	}
	return out, nil
}

// virtualServerBody translates what the virtual_server n holds into l,
// whose bind (or fwmark) is set, or returns nil when it has no real server
// rmqlb can use. A virtual_server_group's members each take it in turn:
// its notes are made once.
func (t *kaT) virtualServerBody(n *kaNode, l *listener) *listener {
	var s kaCheckSettings
	var servers []*kaNode
	var sorry *kaNode
	l.policy = lvsDefault
	protocol := false
	for _, c := range n.children {
		switch c.key {
		case "protocol":
			protocol = true
			if v, ok := t.value(c); ok && v != "TCP" {
				t.skip(n, "protocol "+v+": rmqlb proxies TCP only")
				return nil
			}
			t.use(c)
		case "lb_algo", "lvs_sched":
			if v, ok := t.value(c); ok {
				t.policy(l, c, v)
			}
		case "persistence_timeout":
			l.persistence = defaultLVSPersistence
			if len(c.args) == 0 {
				t.use(c)
				continue
			}
			if d, ok := t.secondsOf(c); ok {
				l.persistence = d
				t.use(c)
			}
		case "persistence_granularity":
			if v, ok := t.value(c); ok && l.bind.Addr().Is6() {
				// An IPv6 service's granularity is a prefix length.
				bits, err := prefixBits6(v)
				if err != nil {
					t.skip(c, err.Error())
					continue
				}
				l.netmask6 = bits
				t.use(c)
			} else if ok {
				bits, err := maskBits(v)
				if err != nil || bits == 0 {
					t.skip(c, "must be an IPv4 netmask of 1 to 32 bits in rmqlb")
					continue
				}
				l.netmask = bits
				t.use(c)
			}
		case "real_server":
			servers = append(servers, c)
		case "sorry_server":
			sorry = c
		case "alpha", "warmup":
			t.use(c) // rmqlb's checked backends start DOWN; first checks are spread over one interval
		default:
			t.checkSetting(c, &s)
		}
	}
	first := true
	for _, c := range servers {
		if b := t.realServer(l, c, s, &first); b != nil {
			l.backends = append(l.backends, b)
		}
	}
	if len(l.backends) == 0 {
		t.ns.skip(l.pos, l.what, "has no real server that rmqlb can use: the listener is left out")
		if sorry != nil {
			t.skip(sorry, "its virtual_server is left out")
		}
		return nil
	}
	if sorry != nil {
		if b := t.sorryServer(l, sorry, s); b != nil {
			l.backends = append(l.backends, b)
		}
	}
	if !protocol && l.fwmark == 0 {
		t.ns.change(n.pos, n.text(), whyNoProtocol)
	}
	return l
}

// whyNoProtocol is the note of a virtual_server of an address without
// protocol, which keepalived makes a UDP service (an fwmark's takes the
// protocols the firewall marks).
const whyNoProtocol = "no protocol: keepalived makes it a UDP service, its default, which no AMQP client reaches; rmqlb proxies TCP here (write protocol TCP in keepalived.conf for as long as it runs)"

// serverAddr reads the "IP [PORT]" of a real_server or sorry_server n
// of l (the port defaults to the virtual_server's), or reports why not.
func (t *kaT) serverAddr(l *listener, n *kaNode) (netip.AddrPort, bool) {
	if len(n.args) == 0 || len(n.args) > 2 {
		t.skip(n, "must be "+n.key+" IP [PORT]")
		return netip.AddrPort{}, false
	}
	a, err := netip.ParseAddr(n.args[0])
	if err != nil || a.Zone() != "" || a.IsUnspecified() {
		t.skip(n, "must be "+n.key+" IP [PORT]")
		return netip.AddrPort{}, false
	}
	port := int(l.bind.Port())
	if len(n.args) == 2 {
		if port, err = number(n.args[1], 1, 65535); err != nil {
			t.skip(n, "port "+err.Error())
			return netip.AddrPort{}, false
		}
	}
	if port == 0 {
		why := "needs a port in rmqlb"
		if l.fwmark != 0 {
			why += fmt.Sprintf(" (fwmark %d gives none)", l.fwmark)
		}
		t.skip(n, why)
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, uint16(port)), true
}

// sorryServer translates a sorry_server "IP [PORT]" of l, with the
// virtual_server's check settings s, into a backup backend named
// sorry_server: LVS sends clients to it while no real server is in the
// pool, and so does rmqlb's backup while no other backend can take them.
func (t *kaT) sorryServer(l *listener, n *kaNode, s kaCheckSettings) *backend {
	addr, ok := t.serverAddr(l, n)
	if !ok {
		return nil
	}
	b := &backend{pos: n.pos, name: "sorry_server", addr: addr, backup: true}
	t.change(n, "becomes a backup backend: it takes the clients while no real server can; "+uncheckedNote(b))
	b.check.schedule(s)
	return b
}

// uncheckedNote sets up the check of b, a server keepalived does not
// check (portCheck), and says how rmqlb checks it instead.
func uncheckedNote(b *backend) string {
	how := "an AMQP handshake"
	if why := portCheck(b); why != "" {
		how = why
	}
	return "keepalived does not check it: rmqlb checks it with " + how + " (write check type: none to leave it unchecked)"
}

// schedule sets the intervals, timeout and fall of c from keepalived's
// check settings s.
func (c *check) schedule(s kaCheckSettings) {
	c.interval, c.fast, c.timeout, c.fall = s.interval, s.fast, s.timeout, s.fall
}

// checkSetting reads a check setting that a virtual_server, real_server
// or checker may hold into s.
func (t *kaT) checkSetting(c *kaNode, s *kaCheckSettings) {
	duration := func(dst *time.Duration) {
		d, ok := t.secondsOf(c)
		if !ok {
			return
		}
		if err := checkDuration(d); err != nil {
			t.skip(c, err.Error())
			return
		}
		*dst = d
		t.use(c)
	}
	switch c.key {
	case "delay_loop":
		duration(&s.interval)
	case "delay_before_retry":
		duration(&s.fast)
	case "connect_timeout":
		duration(&s.timeout)
	case "retry", "nb_get_retry":
		if v, ok := t.numberOf(c, 0, healthcheck.MaxRiseFall-1); ok {
			s.fall = v + 1
			if c.key == "nb_get_retry" {
				t.change(c, "keepalived's old name of retry: translated as retry (fall "+strconv.Itoa(v+1)+")")
				return
			}
			t.use(c)
		}
	case "inhibit_on_failure":
		s.inhibit = true
		t.use(c)
	}
}

// policy translates an LVS scheduler into l's policy.
func (t *kaT) policy(l *listener, n *kaNode, sched string) {
	pol, persist, kind, why := lvsPolicy(sched)
	l.policy = pol
	if persist > 0 && l.persistence == 0 {
		l.persistence = persist
	}
	switch {
	case why == "":
		t.use(n)
	case kind == Changed:
		t.change(n, why)
	default:
		t.skip(n, why)
	}
}

// lvsPolicy maps an LVS scheduler to an rmqlb policy (and persistence,
// for a source hash), with a note when it is not the same.
func lvsPolicy(sched string) (policy string, persistence time.Duration, kind Kind, why string) {
	switch sched {
	case "rr":
		return "roundrobin", 0, 0, ""
	case "wrr":
		return "wrr", 0, 0, ""
	case "lc", "wlc":
		return "leastconn", 0, 0, ""
	case "sed", "nq":
		return "leastconn", 0, Changed, "rmqlb's closest policy is leastconn (fewest connections per weight)"
	case "sh":
		return "", sourcePersistence, Changed, "a source hash: rmqlb keeps each client address on its backend with persistence_timeout " + formatDuration(sourcePersistence)
	case "lblc", "lblcr", "dh", "fo", "ovf", "mh", "twos":
		return "", 0, NotTranslated, "no equivalent: rmqlb has roundrobin, wrr and leastconn; the listener uses roundrobin"
	}
	return lvsDefault, 0, Changed, "not a scheduler of LVS (keepalived ignores it, ipvsadm refuses it): the listener uses leastconn (fewest connections per weight), as LVS's default, wlc"
}

// lvsDefault is the policy of a virtual_server without lb_algo, and of an
// ipvsadm service without -s: LVS then schedules with wlc, which is
// rmqlb's leastconn.
const lvsDefault = "leastconn"

// sourcePersistence is the persistence that stands for a source hash
// (LVS sh, HAProxy balance source): a client stays on its backend as long
// as it comes back within a day.
const sourcePersistence = 24 * time.Hour

// realServer translates a real_server "IP [PORT]" of l. first is true
// until a TCP check was noted in this listener.
func (t *kaT) realServer(l *listener, n *kaNode, s kaCheckSettings, first *bool) *backend {
	t.use(n)
	addr, ok := t.serverAddr(l, n)
	if !ok {
		return nil
	}
	a, port := addr.Addr(), int(addr.Port())
	b := &backend{pos: n.pos, addr: addr}
	var checkers []*kaNode
	for _, c := range n.children {
		switch c.key {
		case "weight":
			if v, ok := t.numberOf(c, 0, balancer.MaxWeight); ok {
				b.weight = intp(v)
				t.use(c)
			}
		case "uthreshold":
			if v, ok := t.numberOf(c, 0, 1<<31-1); ok {
				b.maxconn = v
				t.use(c)
			}
		case "TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "SMTP_CHECK", "DNS_CHECK", "UDP_CHECK", "PING_CHECK", "FILE_CHECK", "BFD_CHECK":
			checkers = append(checkers, c)
		case "alpha", "warmup":
			t.use(c)
		default:
			t.checkSetting(c, &s)
		}
	}
	// An HTTP_GET or SSL_GET where it fits (httpCheckFits), or a
	// MISC_CHECK that runs curl there, is rmqlb's http check, which a
	// TCP_CHECK beside it adds nothing to; elsewhere rmqlb's check goes by
	// its port.
	var tcp, web *kaNode
	var curl curlRequest
	curlErr := map[*kaNode]error{} // each MISC_CHECK's, read before web is found
	for _, c := range checkers {
		if web != nil {
			break
		}
		switch c.key {
		case "HTTP_GET", "SSL_GET":
			if httpCheckFits(uint16(port), uint16(connectPort(c, port))) {
				web = c
			}
		case "MISC_CHECK":
			r, err := miscCurl(c)
			if err == nil && httpCheckFits(uint16(port), r.addr.Port()) {
				web, curl = c, r
			}
			curlErr[c] = err
		}
	}
	for _, c := range checkers {
		switch {
		case c == web:
		case c.key == "TCP_CHECK" && tcp == nil && web == nil:
			tcp = c
		case c.key == "TCP_CHECK" || web != nil && (c.key == "HTTP_GET" || c.key == "SSL_GET" || c.key == "MISC_CHECK"):
			t.skip(c, "no equivalent: rmqlb runs one check per backend")
		case c.key == "MISC_CHECK":
			t.skip(c, miscWhy(curlErr[c]))
		default:
			t.skip(c, kaWhy[c.key])
		}
	}
	if web != nil && web.key == "MISC_CHECK" {
		t.miscCheck(b, web, curl, &s)
	} else if web != nil {
		t.httpGet(b, web, &s)
	} else if tcp != nil {
		t.use(tcp)
		ca, cp := a, port
		for _, c := range tcp.children {
			if !t.connectTarget(c, &ca, &cp) {
				t.checkSetting(c, &s)
			}
		}
		if ca != a || cp != port {
			b.check.address = netip.AddrPortFrom(ca, uint16(cp))
		}
		// On a port that does not speak AMQP, a TCP connect as
		// keepalived's; one of a plugin's HTTP port goes to the
		// broker's own port instead.
		if moved := brokerCheck(b); moved != "" {
			t.ns.change(tcp.pos, tcp.text(), moved)
		} else {
			switch why := portCheck(b); {
			case why == "" && *first:
				l.later = append(l.later, Note{Pos: tcp.pos, Directive: tcp.text(), Kind: Changed, Why: whyTCPCheck})
				*first = false
			case b.check.tls.verify != "" || speaksProtocol(b.check.typ):
				// A TCP connect to the AMQPS port: the check now speaks
				// TLS and verifies nothing; to the MQTT or STOMP port, it
				// speaks the port's protocol: which the operator should see.
				t.ns.change(tcp.pos, tcp.text(), "becomes "+why)
			}
		}
	} else if len(checkers) == 0 {
		t.ns.change(n.pos, n.text(), uncheckedNote(b))
	} else {
		// Its checkers are reported: rmqlb's check, by its port.
		portCheck(b)
	}
	b.check.schedule(s)
	b.inhibit = s.inhibit
	return b
}
