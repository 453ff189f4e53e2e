package migrate

import (
	"cmp"
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
// (also "unless internal", an inline "{ src ... }", tcp-request content;
// or "accept if internal" rules and then a "reject" of every client).
// A rule that lets only some addresses through becomes the listener's
// allowed_clients (clientLists); several such rules of a proxy each
// have to be passed, so the list is what they let through together. A
// rule that refuses the clients from some addresses ("reject if
// blocked") becomes its denied_clients, which wins over allowed_clients
// as a reject does over the rules after it. A rule the lists cannot say
// is noted by sourceRules with a firewall rule that keeps the
// restriction: a file that restricted the clients must not open up
// unnoticed.

// clientLists sets l's allowed_clients and denied_clients from the
// tcp-request rules on the source address of front's and back's own
// lines: those that let only the addresses of their ACL through (a
// reject of those outside it, or accept rules of sources followed by a
// reject of every other client) and those that refuse the addresses of
// their ACL. HAProxy evaluates the rules of a phase (connection, then
// content) in order, and an accept rule that matches ends them: a reject
// after an accept rule of its section, or of the frontend's content phase
// for the backend's content rules, is left to sourceRules, as are rules
// that together let no address through.
func (t *haT) clientLists(l *listener, front, back haProxy) {
	secs := []*haSection{front.sec}
	if back.sec != front.sec {
		secs = append(secs, back.sec)
	}
	var rules []sourceRule
	contentAccepted := false // an accept rule of the content phase, read so far
	for _, s := range secs {
		acls := aclLines(s)
		conn, content := &rulePhase{}, &rulePhase{accepted: contentAccepted}
		for _, ln := range s.lines {
			w := ln.words
			if len(w) < 3 || w[0] != "tcp-request" || (w[1] != "connection" && w[1] != "content") {
				continue
			}
			ph := conn
			if w[1] == "content" {
				ph = content
			}
			if r, ok := ph.read(t, ln, acls); ok {
				rules = append(rules, r)
			}
		}
		contentAccepted = content.accepted
	}
	var allows, denies []sourceRule
	for _, r := range rules {
		if r.deny {
			denies = append(denies, r)
		} else {
			allows = append(allows, r)
		}
	}
	if len(denies) > 0 {
		for _, r := range denies {
			l.denied = unionPrefixes(l.denied, r.ps)
		}
		file, copied := t.clientFileFor(denies)
		l.deniedFile = file
		for _, r := range denies {
			t.translatedRule(r, "denied_clients", fmt.Sprintf("becomes the listener's denied_clients: rmqlb closes a client from %s as soon as it is accepted, as this rule does", joinPrefixes(r.ps)), file.path, copied)
		}
	}
	if len(allows) == 0 {
		return
	}
	allowed := allows[0].ps
	for _, r := range allows[1:] {
		allowed = intersectPrefixes(allowed, r.ps)
	}
	if len(allowed) == 0 {
		return // they let no client through: sourceRules says so
	}
	l.allowed = allowed
	file, copied := clientFile{}, "a client must pass each of the proxy's source rules, and allowed_clients holds what they let through together"
	if len(allows) == 1 {
		file, copied = t.clientFileFor(allows)
	}
	l.allowedFile = file
	for _, r := range allows {
		why := fmt.Sprintf("becomes the listener's allowed_clients: rmqlb closes a client outside %s as soon as it is accepted, as this rule does", joinPrefixes(r.ps))
		if len(r.lines) > 1 {
			why = fmt.Sprintf("the rules of %s together become the listener's allowed_clients: rmqlb closes a client outside %s as soon as it is accepted, as they do", linesText(r.lines), joinPrefixes(r.ps))
		}
		if len(allows) > 1 {
			why += fmt.Sprintf(" (a client must pass the proxy's other source rules too: together they let through %s)", joinPrefixes(allowed))
		}
		t.translatedRule(r, "allowed_clients", why, file.path, copied)
	}
}

// clientFile is a list file that a listener's allowed_clients_file or
// denied_clients_file names, and the addresses written beside it in
// allowed_clients or denied_clients (inline): rmqlb reads the file's
// after those. The zero value names none.
type clientFile struct {
	path   string
	inline []netip.Prefix
}

// or returns the prefixes to write in the listener's list: f's inline
// ones when f names a file, else all.
func (f clientFile) or(all []netip.Prefix) []netip.Prefix {
	if f.path == "" {
		return all
	}
	return f.inline
}

// clientFileFor returns the list file that rmqlb can read in place of
// copying the addresses of rules, the rules that together make one of a
// listener's lists (their addresses added up): the one list file they
// name, with their other addresses inline, when rmqlb reads from it the
// same addresses as HAProxy (rmqlbDiffers). Otherwise the zero
// clientFile and, when they name files, why their addresses are copied.
func (t *haT) clientFileFor(rules []sourceRule) (clientFile, string) {
	var files []string
	var inline []netip.Prefix
	for _, r := range rules {
		inline = unionPrefixes(inline, r.inline)
		for _, f := range r.files {
			if !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
	}
	switch {
	case len(files) == 0:
		return clientFile{}, ""
	case len(files) > 1:
		return clientFile{}, fmt.Sprintf("rmqlb reads one file for each list, and these rules name %d", len(files))
	}
	if d := t.srcLists[files[0]].differs; d != nil {
		return clientFile{}, fmt.Sprintf("rmqlb would not read the same addresses from %s (%v)", files[0], d)
	}
	return clientFile{path: files[0], inline: inline}, ""
}

// translatedRule notes r's lines as translated into the listener's key
// (allowed_clients or denied_clients) with why and, where its addresses
// came from list files, whether rmqlb reads file, the list file of key
// (allowed_clients_file, denied_clients_file), or had them copied, for
// the reason copied; its acl lines are used.
func (t *haT) translatedRule(r sourceRule, key, why, file, copied string) {
	switch {
	case len(r.files) == 0:
	case file != "":
		why += fmt.Sprintf("; rmqlb reads %s itself, as HAProxy did (%s_file; the daemon's user, rmqlb, must be able to read it): change the list there and run rmqlb reload", file, key)
	default:
		why += fmt.Sprintf("; the addresses of %s are copied into %s, not read from the file: %s; change %s where you changed that list", strings.Join(r.files, ", "), key, copied, key)
	}
	for _, ln := range r.lines {
		t.change(ln, why)
	}
	for _, a := range r.acls {
		t.use(a)
	}
}

// sourceRule is what clientLists reads of one restriction of the
// clients' sources: its tcp-request lines, the acl lines they name, and
// the prefixes it lets through, or refuses (deny), of which inline are
// those written in the lines (not read from list files).
type sourceRule struct {
	lines, acls []*haLine
	ps, inline  []netip.Prefix
	deny        bool
	files       []string // the list files (-f) of the addresses
}

// rulePhase reads the tcp-request rules of one phase of a section, in
// order.
type rulePhase struct {
	// accepted: an accept rule was read, so a later rule does not run
	// for every client; other: one of them is not on the source.
	accepted, other bool
	// closed: a reject of every client was read, after which no rule runs.
	closed bool
	// accepts are the accept rules on the source read so far, with their
	// acl lines and the prefixes they let through.
	accepts sourceRule
}

// read reads rule ln, and returns the restriction it completes: a reject
// of the clients outside an ACL or of those in it, or a reject of every
// client after accept rules of sources only.
func (ph *rulePhase) read(t *haT, ln *haLine, acls map[string][]*haLine) (sourceRule, bool) {
	w := ln.words
	if ph.closed {
		return sourceRule{}, false
	}
	switch {
	case w[2] == "accept":
		ph.accepted = true
		c, ok := t.sourceCondition(w[3:], acls)
		if !ok || c.err != nil || c.allow { // allow: the condition holds outside ps
			ph.other = true
			return sourceRule{}, false
		}
		ph.accepts.lines = append(ph.accepts.lines, ln)
		ph.accepts.acls = append(ph.accepts.acls, acls[c.name]...)
		ph.accepts.ps = unionPrefixes(ph.accepts.ps, c.ps)
		ph.accepts.inline = unionPrefixes(ph.accepts.inline, c.inline)
		ph.accepts.files = append(ph.accepts.files, c.files...)
	case w[2] == "reject" && len(w) == 3:
		ph.closed = true
		if len(ph.accepts.lines) > 0 && !ph.other {
			r := ph.accepts
			r.lines = append(r.lines, ln)
			return r, true
		}
	case w[2] == "reject" && !ph.accepted:
		if c, ok := t.sourceCondition(w[3:], acls); ok && c.err == nil {
			return sourceRule{lines: []*haLine{ln}, acls: acls[c.name], ps: c.ps, inline: c.inline, deny: !c.allow, files: c.files}, true
		}
	}
	return sourceRule{}, false
}

// linesText names the lines of a rule: "lines 4, 5 and 6".
func linesText(lines []*haLine) string {
	n := make([]string, len(lines))
	for i, ln := range lines {
		n[i] = strconv.Itoa(ln.pos.Line)
	}
	if len(n) == 1 {
		return "line " + n[0]
	}
	return "lines " + andList(n)
}

// sourceRules notes every tcp-request reject rule of a translated proxy
// whose condition is on the source address and that clientLists did
// not translate, and the acl lines it names. It runs before the sweep,
// which reports the other rules.
func (t *haT) sourceRules() {
	for _, s := range t.cfg.sections {
		if s.kind != "listen" && s.kind != "frontend" && s.kind != "backend" {
			continue
		}
		acls := aclLines(s)
		for _, ln := range s.lines {
			w := ln.words
			if ln.done || len(w) < 5 || w[0] != "tcp-request" || (w[1] != "connection" && w[1] != "content") || w[2] != "reject" {
				continue
			}
			c, ok := t.sourceCondition(w[3:], acls)
			if !ok {
				continue
			}
			why := fmt.Sprintf("not made denied_clients, as an accept rule before it lets clients through: HAProxy refused those from %s after it: keep the restriction with a firewall rule on the listener's port, such as %s",
				joinPrefixes(c.ps), nftDrop(c.ps, false))
			switch {
			case c.err != nil:
				why = fmt.Sprintf("the addresses of its ACL could not be read (%v): keep the restriction, in allowed_clients for a rule that refuses the clients outside them, in denied_clients for one that refuses those from them", c.err)
			case c.allow:
				why = fmt.Sprintf("not made allowed_clients, as an accept rule before it lets clients through or the proxy's source rules together let none through: HAProxy refused those outside %s: keep the restriction with a firewall rule on the listener's port, such as %s",
					joinPrefixes(c.ps), nftDrop(c.ps, true))
			}
			t.skip(ln, why)
			for _, a := range acls[c.name] {
				if !a.done {
					t.skip(a, "goes with the source rule of line "+strconv.Itoa(ln.pos.Line)+", not translated (see there)")
				}
			}
		}
	}
}

// aclLines returns the acl lines of s by name: HAProxy ORs the lines of
// one name.
func aclLines(s *haSection) map[string][]*haLine {
	acls := map[string][]*haLine{}
	for _, ln := range s.lines {
		if w := ln.words; len(w) >= 3 && w[0] == "acl" {
			acls[w[1]] = append(acls[w[1]], ln)
		}
	}
	return acls
}

// srcCond is a condition on the source address, as sourceCondition reads
// it.
type srcCond struct {
	// allow: the prefixes are the ones let through by a reject rule ("if
	// !NAME", "unless NAME"); else the ones the condition holds for.
	allow bool
	name  string // the acl's name; "" for an inline { src ... }
	// ps are the prefixes; inline those of them written in the lines,
	// not read from list files.
	ps, inline []netip.Prefix
	// files are the list files (-f) the prefixes were read from; err
	// says why one could not be read (ps is then incomplete).
	files []string
	err   error
}

// sourceCondition reads the condition of a tcp-request rule ("if" or
// "unless" and what follows) on the source address: the prefixes of its
// src criterion, inline or of the acl name (every line of it, each a src
// one), with their list files read (a line's own patterns first, then
// those of its files); false for any other condition.
func (t *haT) sourceCondition(cond []string, acls map[string][]*haLine) (srcCond, bool) {
	var c srcCond
	if len(cond) < 2 || (cond[0] != "if" && cond[0] != "unless") {
		return c, false
	}
	negated := cond[0] == "unless"
	rest := cond[1:]
	if rest[0] == "!" {
		negated, rest = !negated, rest[1:]
	} else if strings.HasPrefix(rest[0], "!") {
		negated = !negated
		rest = append([]string{strings.TrimPrefix(rest[0], "!")}, rest[1:]...)
	}
	c.allow = negated
	var args [][]string // the words after each src
	switch {
	case len(rest) == 1 && len(acls[rest[0]]) > 0:
		c.name = rest[0]
		for _, a := range acls[c.name] {
			if len(a.words) < 4 || a.words[2] != "src" {
				return srcCond{}, false
			}
			args = append(args, a.words[3:])
		}
	case len(rest) >= 4 && rest[0] == "{" && rest[1] == "src" && rest[len(rest)-1] == "}":
		args = append(args, rest[2:len(rest)-1])
	default:
		return srcCond{}, false
	}
	for _, words := range args {
		srcs, files, ok := srcArgs(words)
		if !ok {
			return srcCond{}, false
		}
		inline := len(srcs)
		for _, f := range files {
			fs, err := t.readSrcList(f)
			if err != nil && c.err == nil {
				c.err = err
			}
			srcs = append(srcs, fs...)
			c.files = append(c.files, f)
		}
		ps := make([]netip.Prefix, 0, len(srcs))
		for _, s := range srcs {
			p, ok := haPrefix(s)
			if !ok {
				return srcCond{}, false
			}
			ps = append(ps, p)
		}
		c.ps = unionPrefixes(c.ps, ps)
		c.inline = unionPrefixes(c.inline, ps[:inline])
	}
	return c, true
}

// haPrefix reads an address of an HAProxy src criterion as the prefix it
// matches: an address alone, a prefix (its bits past the length ignored,
// as HAProxy masks them) or an IPv4 address with a dotted mask
// (10.0.0.0/255.0.0.0). An IPv4-mapped one is its IPv4 prefix, since
// HAProxy, like rmqlb, matches an IPv4 client as IPv4.
func haPrefix(s string) (netip.Prefix, bool) {
	var p netip.Prefix
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		p = netip.PrefixFrom(a, a.BitLen())
	} else if pp, err := netip.ParsePrefix(s); err == nil {
		p = pp
	} else if addr, mask, found := strings.Cut(s, "/"); found {
		a, aerr := netip.ParseAddr(addr)
		bits, merr := maskBits(mask)
		if aerr != nil || merr != nil || !a.Is4() {
			return netip.Prefix{}, false
		}
		p = netip.PrefixFrom(a, bits)
	} else {
		return netip.Prefix{}, false
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, false
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}

// intersectPrefixes returns the addresses both a and b hold, as prefixes
// in a's order: two prefixes either nest or are apart, so each
// overlapping pair gives the longer of the two (a prefix of a that one of
// b holds, else those of b inside it, in b's order). It sorts b once,
// then costs for each prefix of a a map look-up per shorter length and a
// search by halves, plus the output: two lists of 100000 addresses (list
// files) meet in well under a second.
func intersectPrefixes(a, b []netip.Prefix) []netip.Prefix {
	mb := make([]netip.Prefix, len(b))
	inB := make(map[netip.Prefix]bool, len(b))
	for i, y := range b {
		mb[i] = y.Masked()
		inB[mb[i]] = true
	}
	// b's indexes by first address, then length: the prefixes of b
	// inside x follow each other from x's first address on.
	byAddr := make([]int, len(mb))
	for i := range byAddr {
		byAddr[i] = i
	}
	slices.SortFunc(byAddr, func(i, j int) int {
		if c := mb[i].Addr().Compare(mb[j].Addr()); c != 0 {
			return c
		}
		return cmp.Compare(mb[i].Bits(), mb[j].Bits())
	})
	var out []netip.Prefix
	seen := make(map[netip.Prefix]bool)
	add := func(p netip.Prefix) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	var inside []int
	for _, x := range a {
		x = x.Masked()
		if heldBy(x, inB) {
			add(x) // whatever of b lies inside x too
			continue
		}
		// The prefixes of b inside x, in b's order.
		i, _ := slices.BinarySearchFunc(byAddr, x.Addr(), func(j int, addr netip.Addr) int {
			return mb[j].Addr().Compare(addr)
		})
		inside = inside[:0]
		for ; i < len(byAddr) && x.Contains(mb[byAddr[i]].Addr()); i++ {
			inside = append(inside, byAddr[i])
		}
		slices.Sort(inside)
		for _, j := range inside {
			add(mb[j])
		}
	}
	return out
}

// heldBy reports whether x or a shorter prefix that holds it is in set.
func heldBy(x netip.Prefix, set map[netip.Prefix]bool) bool {
	for bits := x.Bits(); bits >= 0; bits-- {
		if set[netip.PrefixFrom(x.Addr(), bits).Masked()] {
			return true
		}
	}
	return false
}

// unionPrefixes returns a with the prefixes of b it does not hold yet,
// in b's order.
func unionPrefixes(a, b []netip.Prefix) []netip.Prefix {
	inA := make(map[netip.Prefix]bool, len(a)+len(b))
	for _, p := range a {
		inA[p] = true
	}
	for _, p := range b {
		if !inA[p] {
			inA[p] = true
			a = append(a, p)
		}
	}
	return a
}

// notedPrefixes is the most prefixes a note lists; a longer list (one
// from a list file) is cut, with how many more there are.
const notedPrefixes = 8

// joinPrefixes lists prefixes as a note writes them, an address alone
// without its length, the first notedPrefixes of a longer list with how
// many more it has.
func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, 0, min(len(ps), notedPrefixes))
	for _, p := range ps[:min(len(ps), notedPrefixes)] {
		if p.IsSingleIP() {
			s = append(s, p.Addr().String())
		} else {
			s = append(s, p.String())
		}
	}
	if more := len(ps) - len(s); more > 0 {
		return strings.Join(s, ", ") + fmt.Sprintf(" (and %d more)", more)
	}
	return strings.Join(s, ", ")
}

// nftDrop is an nftables rule that drops, on the listener's port, the
// clients from ps, or those outside ps (outside): with the prefixes
// inline, or, past notedPrefixes of them, with a named set to fill.
func nftDrop(ps []netip.Prefix, outside bool) string {
	op := ""
	if outside {
		op = "!= "
	}
	if len(ps) <= notedPrefixes {
		return fmt.Sprintf("nft add rule inet filter input tcp dport PORT %s saddr %s{ %s } drop", ipFamily(ps), op, joinPrefixes(ps))
	}
	return fmt.Sprintf("nft add rule inet filter input tcp dport PORT %s saddr %s@rmqlb_clients drop, with the %d addresses in a set (nft add set inet filter rmqlb_clients '{ type %s; flags interval; }', then nft add element inet filter rmqlb_clients '{ ADDRESSES }')",
		ipFamily(ps), op, len(ps), setType(ps))
}

// setType is the nftables type of a set of ps: ipv4_addr or ipv6_addr,
// and for both a text that says so.
func setType(ps []netip.Prefix) string {
	switch ipFamily(ps) {
	case "ip":
		return "ipv4_addr"
	case "ip6":
		return "ipv6_addr"
	}
	return "ipv4_addr (a second set of ipv6_addr for the IPv6 ones)"
}

// ipFamily is nftables' family of the prefixes: ip for IPv4 ones, ip6
// for IPv6 ones, and for both a text that says so.
func ipFamily(ps []netip.Prefix) string {
	v4, v6 := false, false
	for _, p := range ps {
		if p.Addr().Is4() {
			v4 = true
		} else {
			v6 = true
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
