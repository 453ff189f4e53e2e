package proxyproto

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// AppendV1 appends a version 1 (text) header describing a TCP connection
// from src to dst and returns the extended slice.
//
// IPv4-mapped IPv6 addresses are unmapped and zones are dropped first. Two
// IPv4 addresses give "PROXY TCP4 ...", two IPv6 addresses "PROXY TCP6 ...";
// a mixed pair is sent as TCP6 with the IPv4 side mapped into IPv6 (as
// HAProxy does). If either address is invalid the header is
// "PROXY UNKNOWN\r\n", which tells the receiver to use the real endpoints.
func AppendV1(b []byte, src, dst netip.AddrPort) []byte {
	s, d, fam := normalize(src, dst)
	switch fam {
	case FamilyInet:
		b = append(b, "PROXY TCP4 "...)
	case FamilyInet6:
		b = append(b, "PROXY TCP6 "...)
	default:
		return append(b, "PROXY UNKNOWN\r\n"...)
	}
	b = s.Addr().AppendTo(b)
	b = append(b, ' ')
	b = d.Addr().AppendTo(b)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(s.Port()), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(d.Port()), 10)
	return append(b, '\r', '\n')
}

// AppendV1Unknown appends "PROXY UNKNOWN\r\n" and returns the extended slice.
func AppendV1Unknown(b []byte) []byte {
	return append(b, "PROXY UNKNOWN\r\n"...)
}

// AppendV2 appends a version 2 (binary) header with the PROXY command for a
// STREAM (TCP) connection from src to dst and returns the extended slice.
//
// Addresses are normalized as for AppendV1: two IPv4 addresses give AF_INET
// (28 bytes in all), anything else with both addresses valid gives AF_INET6
// (52 bytes). If either address is invalid the header is PROXY with
// AF_UNSPEC and no address block (16 bytes), which tells the receiver to use
// the real endpoints. No TLVs are written.
func AppendV2(b []byte, src, dst netip.AddrPort) []byte {
	s, d, fam := normalize(src, dst)
	switch fam {
	case FamilyInet:
		b = appendV2Fixed(b, CommandProxy, FamilyInet, ProtocolStream, V2IPv4AddrLen)
		sa, da := s.Addr().As4(), d.Addr().As4()
		b = append(b, sa[:]...)
		b = append(b, da[:]...)
	case FamilyInet6:
		b = appendV2Fixed(b, CommandProxy, FamilyInet6, ProtocolStream, V2IPv6AddrLen)
		sa, da := s.Addr().As16(), d.Addr().As16()
		b = append(b, sa[:]...)
		b = append(b, da[:]...)
	default:
		return appendV2Fixed(b, CommandProxy, FamilyUnspec, ProtocolUnspec, 0)
	}
	b = binary.BigEndian.AppendUint16(b, s.Port())
	return binary.BigEndian.AppendUint16(b, d.Port())
}

// AppendV2Local appends a 16-byte version 2 header with the LOCAL command
// and AF_UNSPEC, as a proxy sends on its own connections (health checks),
// and returns the extended slice.
func AppendV2Local(b []byte) []byte {
	return appendV2Fixed(b, CommandLocal, FamilyUnspec, ProtocolUnspec, 0)
}

// appendV2Fixed appends the 16 fixed bytes of a v2 header:
// bytes 0-11 signature, 12 version(2)<<4|command, 13 family<<4|protocol,
// 14-15 length of what follows, big endian.
func appendV2Fixed(b []byte, cmd Command, fam Family, proto Protocol, n uint16) []byte {
	b = append(b, sigV2[:]...)
	b = append(b, 0x20|byte(cmd), byte(fam)<<4|byte(proto))
	return binary.BigEndian.AppendUint16(b, n)
}

// normalize unmaps IPv4-mapped addresses, drops zones and picks the family:
// FamilyInet for two IPv4 addresses, FamilyInet6 (the IPv4 side mapped) for
// any other valid pair, FamilyUnspec if either is invalid.
func normalize(src, dst netip.AddrPort) (netip.AddrPort, netip.AddrPort, Family) {
	sa, da := src.Addr(), dst.Addr()
	if !sa.IsValid() || !da.IsValid() {
		return netip.AddrPort{}, netip.AddrPort{}, FamilyUnspec
	}
	sa, da = sa.Unmap().WithZone(""), da.Unmap().WithZone("")
	if sa.Is4() && da.Is4() {
		return netip.AddrPortFrom(sa, src.Port()), netip.AddrPortFrom(da, dst.Port()), FamilyInet
	}
	if sa.Is4() {
		sa = netip.AddrFrom16(sa.As16())
	}
	if da.Is4() {
		da = netip.AddrFrom16(da.As16())
	}
	return netip.AddrPortFrom(sa, src.Port()), netip.AddrPortFrom(da, dst.Port()), FamilyInet6
}
