package migrate

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/rmqlb/rmqlb/balancer"
)

// whyNoCheck is the note of a service set by hand: LVS checks nothing.
const whyNoCheck = "LVS set by hand checks nothing: rmqlb checks each backend with an AMQP handshake (write check type: tcp or none for a service that is not AMQP)"

// defaultIPVSPersistence is ipvsadm's --persistent without a value.
const defaultIPVSPersistence = 300 * time.Second

// translateIPVSAdm translates the rules into listeners, one per service.
func translateIPVSAdm(rules []*ipvsRule, ns *notes) []*listener {
	var out []*listener
	services := map[string]*listener{}
	for _, r := range rules {
		text := directive(r.words...)
		switch r.cmd {
		case "-A", "-E":
			key, l, why := ipvsService(r)
			if l == nil {
				ns.skip(r.pos, text, why)
				continue
			}
			l.pos, l.what = r.pos, text
			if old := services[key]; old != nil {
				ns.skip(r.pos, text, "adds the service of line "+itoa(old.pos.Line)+" again")
				continue
			}
			ipvsServiceOptions(l, r)
			services[key] = l
			out = append(out, l)
		case "-a", "-e":
			key, _, why := ipvsService(r)
			if why != "" {
				ns.skip(r.pos, text, why)
				continue
			}
			l := services[key]
			if l == nil {
				ns.skip(r.pos, text, "no -A line adds its service")
				continue
			}
			if b := ipvsServer(l, r); b != nil {
				l.backends = append(l.backends, b)
			}
		default:
			ns.skip(r.pos, text, "not a rule of a saved table: not translated")
		}
	}
	var kept []*listener
	for _, l := range out {
		if len(l.backends) == 0 {
			ns.skip(l.pos, l.what, "has no real server that rmqlb can use: the listener is left out")
			continue
		}
		amqp, tcp := false, ""
		for _, b := range l.backends {
			if why := portCheck(b); why == "" {
				amqp = true
			} else if tcp == "" {
				tcp = why
			}
		}
		if amqp {
			l.later = append(l.later, Note{Pos: l.pos, Directive: l.what, Kind: Changed, Why: whyNoCheck})
		}
		if tcp != "" {
			l.later = append(l.later, Note{Pos: l.pos, Directive: l.what, Kind: Changed, Why: "LVS set by hand checks nothing: rmqlb checks with " + tcp})
		}
		kept = append(kept, l)
	}
	return kept
}

// ipvsService reads the service of a rule: its key and a listener for
// it, or why it cannot be one.
func ipvsService(r *ipvsRule) (key string, l *listener, why string) {
	switch {
	case r.opts["-t"] != "":
		ap, err := netip.ParseAddrPort(r.opts["-t"])
		if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
			if ipvsNames(r.opts["-t"]) {
				return "", nil, "the service must be ADDRESS:PORT, " + whyIPVSNames
			}
			return "", nil, "the service must be ADDRESS:PORT ([ADDRESS]:PORT for IPv6)"
		}
		return "t" + ap.String(), &listener{src: fromIPVSAdm, bind: ap}, ""
	case r.opts["-f"] != "":
		m, err := number(r.opts["-f"], 1, 1<<31-1)
		if err != nil {
			return "", nil, "fwmark " + err.Error()
		}
		return "f" + r.opts["-f"], &listener{src: fromIPVSAdm, fwmark: m}, ""
	case r.opts["-u"] != "" || r.opts["--sctp-service"] != "":
		return "", nil, "rmqlb proxies TCP only"
	}
	return "", nil, "names no service (-t, -f)"
}

// whyIPVSNames ends the reason of a service or real server given by names.
const whyIPVSNames = "not names: give rmqlb import the output of ipvsadm -Sn (-n prints addresses and ports as numbers)"

// ipvsNames reports whether s, a service or real server of ipvsadm -S,
// is a host or service name (ipvsadm -S without -n: rabbit-vip:amqp).
func ipvsNames(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	_, herr := netip.ParseAddr(host)
	_, perr := strconv.ParseUint(port, 10, 16)
	return herr != nil || perr != nil
}

// ipvsServiceOptions translates the options of an -A rule.
func ipvsServiceOptions(l *listener, r *ipvsRule) {
	l.policy = lvsDefault
	if s, ok := r.opts["-s"]; ok {
		pol, persist, kind, why := lvsPolicy(s)
		l.policy = pol
		if persist > 0 {
			l.persistence = persist
		}
		if why != "" {
			l.later = append(l.later, Note{Pos: r.pos, Directive: directive("-s", s), Kind: kind, Why: why})
		}
	}
	if p, ok := r.opts["-p"]; ok {
		l.persistence = defaultIPVSPersistence
		if p != "" {
			d, err := seconds(p)
			if err != nil || d%time.Second != 0 {
				l.skipLater(r.pos, directive("-p", p), "must be whole seconds")
			} else {
				l.persistence = d
			}
		}
	}
	if m, ok := r.opts["-M"]; ok && l.bind.Addr().Is6() {
		// An IPv6 service's netmask is a prefix length.
		if bits, err := prefixBits6(m); err != nil {
			l.skipLater(r.pos, directive("-M", m), err.Error())
		} else {
			l.netmask6 = bits
		}
	} else if ok {
		bits, err := maskBits(m)
		if err != nil || bits == 0 {
			l.skipLater(r.pos, directive("-M", m), "must be an IPv4 netmask of 1 to 32 bits in rmqlb")
		} else {
			l.netmask = bits
		}
	}
	for _, o := range []string{"-b", "--pe"} {
		if v, ok := r.opts[o]; ok {
			l.skipLater(r.pos, directive(o, v), whyLVS)
		}
	}
	for _, f := range r.flags {
		why := whyUnknown
		if f == "-o" || f == "--ops" {
			why = whyLVS
		}
		l.skipLater(r.pos, f, why)
	}
}

// ipvsServer translates an -a rule into a backend of l.
func ipvsServer(l *listener, r *ipvsRule) *backend {
	rs, ok := r.opts["-r"]
	if !ok {
		l.skipLater(r.pos, directive(r.words...), "names no real server (-r)")
		return nil
	}
	ap, err := netip.ParseAddrPort(rs)
	if err != nil {
		a, aerr := netip.ParseAddr(strings.Trim(rs, "[]"))
		if aerr != nil || l.bind.Port() == 0 {
			why := "the real server must be ADDRESS:PORT"
			if ipvsNames(rs) {
				why += ", " + whyIPVSNames
			}
			l.skipLater(r.pos, directive(r.words...), why)
			return nil
		}
		ap = netip.AddrPortFrom(a, l.bind.Port())
	}
	if ap.Port() == 0 || ap.Addr().IsUnspecified() || ap.Addr().Zone() != "" {
		l.skipLater(r.pos, directive(r.words...), "the real server must be ADDRESS:PORT")
		return nil
	}
	b := &backend{pos: r.pos, addr: ap}
	if w, ok := r.opts["-w"]; ok {
		v, err := number(w, 0, balancer.MaxWeight)
		if err != nil {
			l.skipLater(r.pos, directive("-w", w), err.Error())
		} else {
			b.weight = intp(v)
		}
	}
	if x, ok := r.opts["-x"]; ok {
		v, err := number(x, 0, 1<<31-1)
		if err != nil {
			l.skipLater(r.pos, directive("-x", x), err.Error())
		} else {
			b.maxconn = v
		}
	}
	if y, ok := r.opts["-y"]; ok && y != "0" {
		l.skipLater(r.pos, directive("-y", y), kaWhy["lthreshold"])
	}
	for _, o := range []string{"--tun-type", "--tun-port"} {
		if v, ok := r.opts[o]; ok {
			l.skipLater(r.pos, directive(o, v), whyForward)
		}
	}
	for _, f := range r.flags {
		why := whyUnknown
		switch f {
		case "-g", "--gatewaying", "-i", "--ipip", "-m", "--masquerading", "--tun-nocsum", "--tun-csum", "--tun-remcsum":
			why = whyForward
		}
		l.skipLater(r.pos, f, why)
	}
	return b
}
