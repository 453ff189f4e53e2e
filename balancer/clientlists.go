package balancer

import (
	"fmt"
	"net/netip"
	"slices"
)

// clientLists are a listener's Config.AllowedClients and
// Config.DeniedClients as the loops read them. A nil *clientLists (both
// lists empty) serves every client. Immutable once made: the params that
// hold it share it between the loops.
type clientLists struct {
	allowed *addrSet // nil: every client not denied
	denied  *addrSet // nil: none
}

// newClientLists makes the lists of allowed and denied, which
// Config.Validate has checked; nil when both are empty.
func newClientLists(allowed, denied []netip.Prefix) *clientLists {
	if len(allowed) == 0 && len(denied) == 0 {
		return nil
	}
	return &clientLists{allowed: newAddrSet(allowed), denied: newAddrSet(denied)}
}

// refuses says why the lists refuse the client address addr: EndDenied
// when it is in DeniedClients (which wins over AllowedClients),
// EndNotAllowed when AllowedClients is not empty and holds it in none of
// its prefixes, EndUnknown (zero) when the client may be served. It does
// not allocate.
func (c *clientLists) refuses(addr netip.Addr) EndReason {
	switch {
	case c == nil:
		return EndUnknown
	case c.denied.contains(addr):
		return EndDenied
	case c.allowed != nil && !c.allowed.contains(addr):
		return EndNotAllowed
	}
	return EndUnknown
}

// allows reports whether the lists let the client address addr be
// served.
func (c *clientLists) allows(addr netip.Addr) bool { return c.refuses(addr) == EndUnknown }

// addrSet is the addresses of a list of prefixes as sorted ranges, apart
// and not adjacent, which an address is looked up in by binary search, so
// that a list of thousands (one imported from a list file) costs an
// accept a few comparisons. A nil *addrSet holds no address. Immutable
// once made. (The prefixes as configured are the listener's Config.)
type addrSet struct {
	ranges []addrRange
}

// addrRange is the addresses from first to last, both included, of one
// family.
type addrRange struct{ first, last netip.Addr }

// newAddrSet makes the set of ps, which Config.Validate has checked; nil
// for an empty list.
func newAddrSet(ps []netip.Prefix) *addrSet {
	if len(ps) == 0 {
		return nil
	}
	a := &addrSet{}
	rs := make([]addrRange, 0, len(ps))
	for _, p := range ps {
		p = p.Masked()
		rs = append(rs, addrRange{p.Addr(), lastAddr(p)})
	}
	slices.SortFunc(rs, func(x, y addrRange) int { return x.first.Compare(y.first) })
	for _, r := range rs {
		if n := len(a.ranges); n > 0 {
			prev := &a.ranges[n-1]
			if next := prev.last.Next(); r.first.Compare(prev.last) <= 0 || next.IsValid() && next == r.first {
				if r.last.Compare(prev.last) > 0 {
					prev.last = r.last
				}
				continue
			}
		}
		a.ranges = append(a.ranges, r)
	}
	return a
}

// lastAddr is the last address of the masked prefix p: its host bits set.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := range b {
		switch lo := i * 8; {
		case p.Bits() <= lo:
			b[i] = 0xff
		case p.Bits() < lo+8:
			b[i] |= 0xff >> (p.Bits() - lo)
		}
	}
	last, _ := netip.AddrFromSlice(b)
	return last
}

// contains reports whether the address addr is in any of a's prefixes
// (none when a is nil). An IPv4-mapped IPv6 address is matched as its
// IPv4 one, as a dual-stack listener receives IPv4 clients; an IPv4
// prefix never matches an IPv6 address nor the reverse (0.0.0.0/0 is
// every IPv4 client, ::/0 every IPv6 one). It does not allocate.
func (a *addrSet) contains(addr netip.Addr) bool {
	if a == nil {
		return false
	}
	addr = addr.Unmap().WithZone("")
	// The last range that starts at or before addr is the only one
	// that can hold it; every IPv4 address sorts before the IPv6 ones.
	i, found := slices.BinarySearchFunc(a.ranges, addr, func(r addrRange, x netip.Addr) int { return r.first.Compare(x) })
	if found {
		return true
	}
	return i > 0 && addr.Compare(a.ranges[i-1].last) <= 0
}

// CheckAllowedFamily says when a listener bound to bind could serve no client
// of allowed: it takes IPv4 clients only when bound to an IPv4 address,
// IPv6 ones only when bound to an IPv6 address other than :: (which
// takes both), and none of the list is of that family. Config.Validate
// applies it; a translation that writes a list applies it too.
func CheckAllowedFamily(bind netip.AddrPort, allowed []netip.Prefix) error {
	if len(allowed) == 0 || !bind.IsValid() || bind.Addr().IsUnspecified() && bind.Addr().Is6() {
		return nil
	}
	want4 := bind.Addr().Unmap().Is4()
	for _, p := range allowed {
		if p.Addr().Is4() == want4 {
			return nil
		}
	}
	family := "IPv4"
	if !want4 {
		family = "IPv6"
	}
	return fmt.Errorf("holds no %s prefix, and bind %s takes %s clients only: every client would be refused", family, bind, family)
}

// CheckClientPrefix says what is wrong with p as an entry of
// Config.AllowedClients or Config.DeniedClients: nil when it is a valid
// prefix without bits past its length and not an IPv4-mapped IPv6 one.
// Config.Validate checks every entry with it; a caller that reads them
// from elsewhere (a file) checks them where it can say where they are.
func CheckClientPrefix(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return fmt.Errorf("must be an address or a prefix (10.0.0.0/8), not %s", p)
	case p.Addr().Is4In6() && p.Bits() >= 96:
		return fmt.Errorf("%s is IPv4-mapped, which never matches (IPv4 clients are matched as IPv4): write %s", p, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked())
	case p.Addr().Is4In6():
		return fmt.Errorf("%s is IPv4-mapped, which never matches (IPv4 clients are matched as IPv4): write IPv4 prefixes", p)
	case p.Masked() != p:
		return fmt.Errorf("%s has bits set past its length %d: did you mean %s?", p, p.Bits(), p.Masked())
	}
	return nil
}
