package balancer

import (
	"fmt"
	"net/netip"
	"slices"
)

// allowedClients is a listener's Config.AllowedClients as the loops read
// it: immutable once made, shared by the params that hold it.
type allowedClients []netip.Prefix

// newAllowedClients copies ps; nil for an empty list (every client).
func newAllowedClients(ps []netip.Prefix) allowedClients {
	if len(ps) == 0 {
		return nil
	}
	return allowedClients(slices.Clone(ps))
}

// allows reports whether the client address addr may be served: every
// address when the list is empty, else one in any of its prefixes. An
// IPv4-mapped IPv6 address is matched as its IPv4 one, as a dual-stack
// listener receives IPv4 clients; an IPv4 prefix never matches an IPv6
// address nor the reverse (0.0.0.0/0 is every IPv4 client, ::/0 every
// IPv6 one). The prefixes are tried in order: a list of a few dozen costs
// well under a microsecond per accepted client.
func (a allowedClients) allows(addr netip.Addr) bool {
	if len(a) == 0 {
		return true
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range a {
		if p.Contains(addr) {
			return true
		}
	}
	return false
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

// checkAllowed says what is wrong with p as an entry of
// Config.AllowedClients: nil when it is a valid prefix without bits past
// its length and not an IPv4-mapped IPv6 one.
func checkAllowed(p netip.Prefix) error {
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
