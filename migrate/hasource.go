package migrate

import (
	"fmt"
	"net/netip"
	"slices"
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
		acls := map[string]*haLine{}
		for _, ln := range s.lines {
			if w := ln.words; len(w) >= 4 && w[0] == "acl" && w[2] == "src" {
				acls[w[1]] = ln
			}
		}
		for _, ln := range s.lines {
			w := ln.words
			if ln.done || len(w) < 5 || w[0] != "tcp-request" || (w[1] != "connection" && w[1] != "content") || w[2] != "reject" {
				continue
			}
			allow, acl, ok := sourceCondition(w[3:], acls)
			if !ok {
				continue
			}
			prefixes := strings.Join(acl, ", ")
			why := fmt.Sprintf("no equivalent: rmqlb has no source ACL and takes clients from every address, where HAProxy refused those outside %s: keep the restriction with a firewall rule on the listener's port, such as nft add rule inet filter input tcp dport PORT %s saddr != { %s } drop", prefixes, ipFamily(acl), prefixes)
			if !allow {
				why = fmt.Sprintf("no equivalent: rmqlb has no source ACL and takes clients from every address, where HAProxy refused those from %s: keep the restriction with a firewall rule on the listener's port, such as nft add rule inet filter input tcp dport PORT %s saddr { %s } drop", prefixes, ipFamily(acl), prefixes)
			}
			t.skip(ln, why)
			for _, a := range acls {
				named := func(x string) bool { return x == a.words[1] || x == "!"+a.words[1] }
				if !a.done && slices.ContainsFunc(w[3:], named) {
					t.skip(a, "goes with the source rule of line "+strconv.Itoa(ln.pos.Line)+", not translated (see there)")
				}
			}
		}
	}
}

// sourceCondition reads the condition of a reject rule ("if" or "unless"
// and what follows) on the source address: the addresses of its src
// criterion, and whether they are the ones let through (allow) or the
// ones refused; false for any other condition.
func sourceCondition(cond []string, acls map[string]*haLine) (allow bool, srcs []string, ok bool) {
	if len(cond) < 2 || (cond[0] != "if" && cond[0] != "unless") {
		return false, nil, false
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
	case len(rest) == 1 && acls[rest[0]] != nil:
		srcs = acls[rest[0]].words[3:]
	case len(rest) >= 4 && rest[0] == "{" && rest[1] == "src" && rest[len(rest)-1] == "}":
		srcs = rest[2 : len(rest)-1]
	default:
		return false, nil, false
	}
	for _, s := range srcs {
		if _, err := netip.ParsePrefix(s); err != nil {
			if _, err := netip.ParseAddr(s); err != nil {
				return false, nil, false // a file of addresses (-f), or another flag
			}
		}
	}
	return negated, srcs, true
}

// ipFamily is nftables' family of the addresses: ip, ip6 for IPv6 ones,
// "ip (ip6 for IPv6)" for both.
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
