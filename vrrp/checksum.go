package vrrp

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
)

// ChecksumMode selects how the checksum of a VRRPv3 advertisement over IPv4
// is computed. VRRPv2 never uses a pseudo-header and VRRPv3 over IPv6 always
// does, whatever the mode.
//
// The zero value is ChecksumPseudoHeader, keepalived's behaviour.
type ChecksumMode uint8

const (
	// ChecksumPseudoHeader includes the IPv4 pseudo-header (source,
	// destination, zero, protocol 112, VRRP length) as RFC 5798 section
	// 5.2.8 is read by keepalived and most implementations.
	ChecksumPseudoHeader ChecksumMode = iota
	// ChecksumRFC9568 covers the VRRP message only, without a pseudo-header,
	// as RFC 9568 section 5.2.8 specifies for IPv4 (and as VRRPv2 does).
	ChecksumRFC9568
)

// String returns the name used in the configuration file: "pseudo-header"
// or "rfc9568".
func (m ChecksumMode) String() string {
	switch m {
	case ChecksumPseudoHeader:
		return "pseudo-header"
	case ChecksumRFC9568:
		return "rfc9568"
	default:
		return fmt.Sprintf("ChecksumMode(%d)", uint8(m))
	}
}

// ParseChecksumMode parses a configuration value. The empty string means
// the default, ChecksumPseudoHeader.
func ParseChecksumMode(s string) (ChecksumMode, error) {
	switch s {
	case "", "pseudo-header":
		return ChecksumPseudoHeader, nil
	case "rfc9568", "no-pseudo-header":
		return ChecksumRFC9568, nil
	default:
		return 0, errChecksumMode(strconv.Quote(s))
	}
}

// errChecksumMode says that s, a value of v3_checksum, names no mode.
func errChecksumMode(s string) error {
	return fmt.Errorf("must be pseudo-header or rfc9568, not %s", s)
}

// MarshalText implements encoding.TextMarshaler.
func (m ChecksumMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *ChecksumMode) UnmarshalText(b []byte) error {
	v, err := ParseChecksumMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// sum adds b to the running 32-bit one's complement accumulator of RFC 1071.
func sum(acc uint32, b []byte) uint32 {
	for len(b) >= 2 {
		acc += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	return acc
}

// fold finishes an RFC 1071 checksum.
func fold(acc uint32) uint16 {
	for acc>>16 != 0 {
		acc = acc&0xffff + acc>>16
	}
	return ^uint16(acc)
}

// pseudoHeaderSum returns the sum of the IPv4 (RFC 791 / RFC 768 style) or
// IPv6 (RFC 8200 section 8.1) pseudo-header for a VRRP message of length n.
func pseudoHeaderSum(src, dst netip.Addr, n int) uint32 {
	var acc uint32
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		acc = sum(acc, s[:])
		acc = sum(acc, d[:])
		acc += ProtocolNumber
		acc += uint32(n)
		return acc
	}
	s, d := src.As16(), dst.As16()
	acc = sum(acc, s[:])
	acc = sum(acc, d[:])
	acc += uint32(n) >> 16
	acc += uint32(n) & 0xffff
	acc += ProtocolNumber
	return acc
}

// Checksum computes the checksum of the VRRP message b (whose checksum
// field, bytes 6-7, must be zero) for the given version, addresses and mode.
func Checksum(b []byte, version int, src, dst netip.Addr, mode ChecksumMode) uint16 {
	var acc uint32
	if usesPseudoHeader(version, src, mode) {
		acc = pseudoHeaderSum(src, dst, len(b))
	}
	return fold(sum(acc, b))
}

// usesPseudoHeader reports whether a message of this version sent from src
// is checksummed with a pseudo-header in mode.
func usesPseudoHeader(version int, src netip.Addr, mode ChecksumMode) bool {
	switch {
	case version == 2:
		return false
	case !src.Is4():
		return true
	default:
		return mode == ChecksumPseudoHeader
	}
}
