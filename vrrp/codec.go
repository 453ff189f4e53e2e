package vrrp

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"
)

// Protocol constants.
const (
	// ProtocolNumber is the IP protocol number of VRRP.
	ProtocolNumber = 112
	// TypeAdvertisement is the only VRRP packet type.
	TypeAdvertisement = 1
	// AuthTypeNone is VRRPv2 authentication type 0.
	AuthTypeNone = 0
	// AuthTypeSimple is VRRPv2 authentication type 1, a clear-text
	// password of up to 8 bytes (keepalived's auth_type PASS).
	AuthTypeSimple = 1
	// TTL is the IPv4 TTL / IPv6 hop limit adverts are sent and must be
	// received with.
	TTL = 255

	headerLen   = 8 // version/type, VRID, priority, count, 2 bytes, checksum
	authDataLen = 8 // VRRPv2 authentication data
)

// Multicast groups of RFC 5798 section 5.1.1.3 and 5.1.2.3.
var (
	MulticastIPv4 = netip.AddrFrom4([4]byte{224, 0, 0, 18})
	MulticastIPv6 = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x12})
)

// A Packet is a VRRP ADVERTISEMENT of version 2 (RFC 3768 section 5) or 3
// (RFC 5798 section 5). The address family (IPv4 or IPv6) is the one of the
// source and destination addresses passed to Parse and Marshal.
type Packet struct {
	// Version is 2 or 3.
	Version int
	// VRID is the virtual router identifier, 1..255.
	VRID uint8
	// Priority is the sender's priority: 0 means it stops being master,
	// 255 means it owns the addresses.
	Priority uint8
	// AdvertInterval is the (maximum) advertisement interval. VRRPv2
	// carries whole seconds (1..255 s), VRRPv3 centiseconds (10 ms ..
	// 40.95 s, 12 bits).
	AdvertInterval time.Duration
	// AuthType is the VRRPv2 authentication type (AuthTypeNone or
	// AuthTypeSimple). It must be zero for VRRPv3.
	AuthType uint8
	// AuthData is the VRRPv2 authentication data (for AuthTypeSimple the
	// password, zero padded). Ignored for VRRPv3.
	AuthData [8]byte
	// Addrs are the virtual addresses, all of the packet's family.
	Addrs []netip.Addr

	// Checksum is the checksum field as received; set by Parse only.
	Checksum uint16
	// ChecksumMode is the convention the checksum matched; set by Parse
	// only. It is ChecksumRFC9568 (no pseudo-header) for VRRPv2 and
	// ChecksumPseudoHeader for VRRPv3 over IPv6.
	ChecksumMode ChecksumMode
}

// SimpleAuthData returns the VRRPv2 authentication data for a simple text
// password: pass truncated to 8 bytes and zero padded, as keepalived does.
func SimpleAuthData(pass string) [8]byte {
	var d [8]byte
	copy(d[:], pass)
	return d
}

// Parse parses the VRRP message b (the IP payload) received from src for
// dst. The caller checks the TTL with CheckTTL. Parse checks the length,
// version, type, checksum (for VRRPv3 over IPv4 either convention is
// accepted and reported in Packet.ChecksumMode) and a non-zero interval;
// it does not check VRID, authentication or addresses, which depend on
// configuration (see Machine).
//
// Errors wrap io.ErrUnexpectedEOF (short input), ErrBadVersion, ErrBadType,
// ErrBadLength, ErrBadChecksum or ErrBadInterval.
func Parse(b []byte, src, dst netip.Addr) (*Packet, error) {
	p := new(Packet)
	if err := ParseInto(p, b, src, dst); err != nil {
		return nil, err
	}
	return p, nil
}

// ParseInto is Parse into p, whose fields it all sets, reusing the
// storage of p.Addrs: with enough room there, parsing a valid message
// allocates nothing (a backup parses one every advertisement interval).
// On error p holds a partial result.
func ParseInto(p *Packet, b []byte, src, dst netip.Addr) error {
	src, dst = src.Unmap(), dst.Unmap()
	if len(b) < headerLen {
		return fmt.Errorf("parsing VRRP header: %d bytes: %w", len(b), io.ErrUnexpectedEOF)
	}
	*p = Packet{
		Version:  int(b[0] >> 4),
		VRID:     b[1],
		Priority: b[2],
		Checksum: binary.BigEndian.Uint16(b[6:8]),
		Addrs:    p.Addrs[:0],
	}
	if t := b[0] & 0x0f; t != TypeAdvertisement {
		return fmt.Errorf("parsing VRRP header: type %d: %w", t, ErrBadType)
	}
	alen := 4
	if !src.Is4() {
		alen = 16
	}
	if src.Is4() != dst.Is4() || !src.IsValid() {
		return fmt.Errorf("parsing VRRP header: addresses %v > %v: %w", src, dst, ErrBadLength)
	}
	trailer := 0
	switch p.Version {
	case 2:
		if alen != 4 {
			return fmt.Errorf("parsing VRRP header: version 2 over IPv6: %w", ErrBadVersion)
		}
		trailer = authDataLen
	case 3:
	default:
		return fmt.Errorf("parsing VRRP header: version %d: %w", p.Version, ErrBadVersion)
	}
	count := int(b[3])
	need := headerLen + count*alen + trailer
	if len(b) < need {
		return fmt.Errorf("parsing VRRP message: %d bytes for %d addresses, need %d: %w", len(b), count, need, io.ErrUnexpectedEOF)
	}
	if len(b) > need {
		return fmt.Errorf("parsing VRRP message: %d bytes for %d addresses, want %d: %w", len(b), count, need, ErrBadLength)
	}

	// A correct checksum makes the sum over the message (checksum field
	// included) fold to zero.
	switch {
	case p.Version == 2:
		p.ChecksumMode = ChecksumRFC9568
		if fold(sum(0, b)) != 0 {
			return fmt.Errorf("parsing VRRP message: checksum %#04x: %w", p.Checksum, ErrBadChecksum)
		}
	case alen == 16:
		p.ChecksumMode = ChecksumPseudoHeader
		if fold(sum(pseudoHeaderSum(src, dst, len(b)), b)) != 0 {
			return fmt.Errorf("parsing VRRP message: checksum %#04x: %w", p.Checksum, ErrBadChecksum)
		}
	default:
		switch {
		case fold(sum(pseudoHeaderSum(src, dst, len(b)), b)) == 0:
			p.ChecksumMode = ChecksumPseudoHeader
		case fold(sum(0, b)) == 0:
			p.ChecksumMode = ChecksumRFC9568
		default:
			return fmt.Errorf("parsing VRRP message: checksum %#04x: %w", p.Checksum, ErrBadChecksum)
		}
	}

	if p.Version == 2 {
		p.AuthType = b[4]
		p.AdvertInterval = time.Duration(b[5]) * time.Second
		copy(p.AuthData[:], b[need-authDataLen:need])
	} else {
		// The 4 reserved bits are ignored on receive.
		p.AdvertInterval = time.Duration(binary.BigEndian.Uint16(b[4:6])&0x0fff) * 10 * time.Millisecond
	}
	if p.AdvertInterval == 0 {
		return fmt.Errorf("parsing VRRP message: zero advertisement interval: %w", ErrBadInterval)
	}
	for i := 0; i < count; i++ {
		off := headerLen + i*alen
		if alen == 4 {
			p.Addrs = append(p.Addrs, netip.AddrFrom4([4]byte(b[off:off+4])))
		} else {
			p.Addrs = append(p.Addrs, netip.AddrFrom16([16]byte(b[off:off+16])))
		}
	}
	return nil
}

// Len returns the length of the marshaled message for the given address
// family (true for IPv4).
func (p *Packet) Len(ipv4 bool) int {
	alen := 16
	if ipv4 {
		alen = 4
	}
	n := headerLen + len(p.Addrs)*alen
	if p.Version == 2 {
		n += authDataLen
	}
	return n
}

// Marshal encodes p as sent from src to dst, with the checksum computed in
// mode (which only matters for VRRPv3 over IPv4). It fails when a field
// cannot be represented: a version other than 2 or 3, VRRPv2 over IPv6, an
// interval that is not a whole number of seconds (VRRPv2, 1..255 s) or
// centiseconds (VRRPv3, 1..4095 cs), more than 255 addresses or an address
// of another family than src.
func (p *Packet) Marshal(src, dst netip.Addr, mode ChecksumMode) ([]byte, error) {
	return p.AppendMarshal(nil, src, dst, mode)
}

// AppendMarshal is Marshal appending the message to buf: it allocates
// nothing when buf has room for it. On error buf is returned unchanged.
func (p *Packet) AppendMarshal(buf []byte, src, dst netip.Addr, mode ChecksumMode) ([]byte, error) {
	src, dst = src.Unmap(), dst.Unmap()
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return buf, fmt.Errorf("marshaling VRRP advert: addresses %v > %v of different families", src, dst)
	}
	if len(p.Addrs) > 255 {
		return buf, fmt.Errorf("marshaling VRRP advert: %d addresses, at most 255", len(p.Addrs))
	}
	out := slices.Grow(buf, p.Len(src.Is4()))
	b := out[len(buf) : len(buf)+p.Len(src.Is4())]
	clear(b)
	b[0] = byte(p.Version)<<4 | TypeAdvertisement
	b[1] = p.VRID
	b[2] = p.Priority
	b[3] = byte(len(p.Addrs))
	switch p.Version {
	case 2:
		if !src.Is4() {
			return buf, fmt.Errorf("marshaling VRRP advert: version 2 over IPv6")
		}
		iv := p.AdvertInterval
		if err := CheckAdvertInterval(2, iv); err != nil {
			return buf, fmt.Errorf("marshaling VRRP advert: interval: %w", err)
		}
		b[4] = p.AuthType
		b[5] = byte(iv / time.Second)
		copy(b[len(b)-authDataLen:], p.AuthData[:])
	case 3:
		iv := p.AdvertInterval
		if err := CheckAdvertInterval(3, iv); err != nil {
			return buf, fmt.Errorf("marshaling VRRP advert: interval: %w", err)
		}
		if p.AuthType != 0 {
			return buf, fmt.Errorf("marshaling VRRP advert: version 3 has no authentication (type %d)", p.AuthType)
		}
		binary.BigEndian.PutUint16(b[4:6], uint16(iv/(10*time.Millisecond)))
	default:
		return buf, fmt.Errorf("marshaling VRRP advert: version %d: want 2 or 3", p.Version)
	}
	for i, a := range p.Addrs {
		a = a.Unmap()
		if a.Is4() != src.Is4() {
			return buf, fmt.Errorf("marshaling VRRP advert: address %v is not of the family of %v", a, src)
		}
		if a.Is4() {
			a4 := a.As4()
			copy(b[headerLen+i*4:], a4[:])
		} else {
			a16 := a.As16()
			copy(b[headerLen+i*16:], a16[:])
		}
	}
	binary.BigEndian.PutUint16(b[6:8], Checksum(b, p.Version, src, dst, mode))
	return out[:len(buf)+len(b)], nil
}
