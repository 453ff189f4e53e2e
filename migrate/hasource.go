package migrate

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// HAProxy restricts who may connect with a source ACL and a reject rule:
//
//	acl internal src 10.0.0.0/8 192.168.0.0/16
//	tcp-request connection reject if !internal
//
// (also "unless internal", an inline "{ src ... }", tcp-request content).
// rmqlb has no such ACL: it takes clients from every address. A file that
// restricted them must not open up unnoticed, so sourceRules says, on the
// reject line, which addresses HAProxy let through and how to keep the
// restriction with a firewall rule.

// sourceRules notes every tcp-request reject rule of a translated proxy
// whose condition is on the source address, and the acl lines it names.
// It runs before the sweep, which reports the other rules.
func (t *haT) sourceRules() {
	for _, s := range t.cfg.sections {
		if s.kind != "listen" && s.kind != "frontend" && s.kind != "backend" {
			continue
		}
		// HAProxy ORs the lines of one acl name: a name is a source
		// ACL when each of its lines is a src one.
		acls := map[string][]*haLine{}
		for _, ln := range s.lines {
			if w := ln.words; len(w) >= 3 && w[0] == "acl" {
				acls[w[1]] = append(acls[w[1]], ln)
			}
		}
		for _, ln := range s.lines {
			w := ln.words
			if ln.done || len(w) < 5 || w[0] != "tcp-request" || (w[1] != "connection" && w[1] != "content") || w[2] != "reject" {
				continue
			}
			allow, name, srcs, ok := sourceCondition(w[3:], acls)
			if !ok {
				continue
			}
			rel, op := "outside", "!= "
			if !allow {
				rel, op = "from", ""
			}
			prefixes := strings.Join(srcs, ", ")
			t.skip(ln, fmt.Sprintf("no equivalent: rmqlb has no source ACL and takes clients from every address, where HAProxy refused those %s %s: keep the restriction with a firewall rule on the listener's port, such as nft add rule inet filter input tcp dport PORT %s saddr %s{ %s } drop",
				rel, prefixes, ipFamily(srcs), op, prefixes))
			for _, a := range acls[name] {
				if !a.done {
					t.skip(a, "goes with the source rule of line "+strconv.Itoa(ln.pos.Line)+", not translated (see there)")
				}
			}
		}
	}
}

// sourceCondition reads the condition of a reject rule ("if" or "unless"
// and what follows) on the source address: the addresses of its src
// criterion, inline or of the acl name (every line of it), and whether
// they are the ones let through (allow) or the ones refused; false for
// any other condition.
func sourceCondition(cond []string, acls map[string][]*haLine) (allow bool, name string, srcs []string, ok bool) {
	if len(cond) < 2 || (cond[0] != "if" && cond[0] != "unless") {
		return false, "", nil, false
	}
	negated := cond[0] == "unless"
	rest := cond[1:]
	if rest[0] == "!" {
		negated, rest = !negated, rest[1:]
	} else if strings.HasPrefix(rest[0], "!") {
		negated = !negated
		rest = append([]string{strings.TrimPrefix(rest[0], "!")}, rest[1:]...)
	}
	switch {
	case len(rest) == 1 && len(acls[rest[0]]) > 0:
		name = rest[0]
		for _, a := range acls[name] {
			if len(a.words) < 4 || a.words[2] != "src" {
				return false, "", nil, false
			}
			srcs = append(srcs, a.words[3:]...)
		}
	case len(rest) >= 4 && rest[0] == "{" && rest[1] == "src" && rest[len(rest)-1] == "}":
		srcs = rest[2 : len(rest)-1]
	default:
		return false, "", nil, false
	}
	for _, s := range srcs {
		if _, err := netip.ParsePrefix(s); err != nil {
			if _, err := netip.ParseAddr(s); err != nil {
				return false, "", nil, false // a file of addresses (-f), or another flag
			}
		}
	}
	return negated, name, srcs, true
}

// ipFamily is nftables' family of the addresses: ip for IPv4 ones, ip6
// for IPv6 ones, and for both a text that says so.
func ipFamily(srcs []string) string {
	v4, v6 := false, false
	for _, s := range srcs {
		if strings.Contains(s, ":") {
			v6 = true
		} else {
			v4 = true
		}
	}
	switch {
	case v4 && v6:
		return "ip (ip6 for the IPv6 ones)"
	case v6:
		return "ip6"
	}
	return "ip"
}
