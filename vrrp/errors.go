package vrrp

import (
	"errors"
	"io"
)

// Sentinel errors for dropped advertisements. Callers count drops by the
// reason DropReason returns for them; Parse wraps them with detail, so
// compare with errors.Is.
var (
	// ErrBadTTL: the IPv4 TTL or IPv6 hop limit was not 255 (RFC 5798
	// section 7.1), so the packet may have been forwarded by a router.
	ErrBadTTL = errors.New("vrrp: TTL/hop limit is not 255")
	// ErrBadVersion: the version field is not the configured one (or not 2 or 3).
	ErrBadVersion = errors.New("vrrp: bad version")
	// ErrBadType: the type field is not 1 (ADVERTISEMENT).
	ErrBadType = errors.New("vrrp: bad type")
	// ErrBadChecksum: the checksum matches no accepted convention.
	ErrBadChecksum = errors.New("vrrp: bad checksum")
	// ErrBadLength: the packet is longer than its address count says, or
	// the address count does not fit the address family.
	ErrBadLength = errors.New("vrrp: bad length")
	// ErrBadInterval: a VRRPv3 advertisement carried a zero interval.
	ErrBadInterval = errors.New("vrrp: bad advertisement interval")
	// ErrWrongVRID: the advertisement is for another virtual router.
	ErrWrongVRID = errors.New("vrrp: wrong virtual router id")
	// ErrAuthMismatch: a VRRPv2 advertisement has another authentication
	// type or password than configured.
	ErrAuthMismatch = errors.New("vrrp: authentication mismatch")
	// ErrIntervalMismatch: a VRRPv2 advertisement has another advertisement
	// interval than configured (RFC 3768 section 7.1).
	ErrIntervalMismatch = errors.New("vrrp: advertisement interval mismatch")
	// ErrAddressMismatch: the advertised addresses share none with the
	// configured virtual addresses (see DifferingAddrs).
	ErrAddressMismatch = errors.New("vrrp: virtual address mismatch")
	// ErrNotPeer: the source is not on the allow-list (Config.AllowedPeers,
	// or Config.UnicastPeers in unicast mode).
	ErrNotPeer = errors.New("vrrp: source is not an allowed peer")
	// ErrOwnPacket: the packet came from one of our own addresses.
	ErrOwnPacket = errors.New("vrrp: own packet")
)

// Drop reasons as DropReason returns them; they are the keys of
// Counters.Dropped and of the dropped-adverts metric.
const (
	DropTruncated        = "truncated"
	DropTTL              = "ttl"
	DropVersion          = "version"
	DropType             = "type"
	DropChecksum         = "checksum"
	DropLength           = "length"
	DropInterval         = "interval"
	DropVRID             = "vrid"
	DropAuth             = "auth"
	DropIntervalMismatch = "interval_mismatch"
	DropAddressMismatch  = "address_mismatch"
	DropNotPeer          = "not_peer"
	DropOwn              = "own_packet"
	DropOther            = "other"
)

// DropReason maps an error from Parse, CheckTTL or Machine validation to the
// short reason under which the drop is counted. Unknown errors map to
// DropOther.
func DropReason(err error) string {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return DropTruncated
	case errors.Is(err, ErrBadTTL):
		return DropTTL
	case errors.Is(err, ErrBadVersion):
		return DropVersion
	case errors.Is(err, ErrBadType):
		return DropType
	case errors.Is(err, ErrBadChecksum):
		return DropChecksum
	case errors.Is(err, ErrBadLength):
		return DropLength
	case errors.Is(err, ErrBadInterval):
		return DropInterval
	case errors.Is(err, ErrWrongVRID):
		return DropVRID
	case errors.Is(err, ErrAuthMismatch):
		return DropAuth
	case errors.Is(err, ErrIntervalMismatch):
		return DropIntervalMismatch
	case errors.Is(err, ErrAddressMismatch):
		return DropAddressMismatch
	case errors.Is(err, ErrNotPeer):
		return DropNotPeer
	case errors.Is(err, ErrOwnPacket):
		return DropOwn
	default:
		return DropOther
	}
}

// CheckTTL reports ErrBadTTL unless ttl (IPv4 TTL or IPv6 hop limit of the
// received packet) is 255, as RFC 3768 and RFC 5798 section 7.1 require.
// The transport reads the IP header, so Instance calls this for each packet
// of a multicast instance; with unicast peers it accepts any TTL, as
// keepalived does (a peer may be a router away, or set unicast_ttl).
func CheckTTL(ttl int) error {
	if ttl != 255 {
		return ErrBadTTL
	}
	return nil
}
