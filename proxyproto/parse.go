package proxyproto

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// Parse decodes the PROXY protocol header (version 1 or 2) at the front of b
// and returns it with its length n in bytes; the payload starts at b[n:].
//
// Parse returns io.ErrUnexpectedEOF when b is a valid but incomplete prefix
// of a header (read more and call again), ErrNoHeader when b starts with
// neither signature, and an error wrapping ErrInvalid when the header breaks
// the specification. TLV values in the result alias b.
//
// Version 1 rules (section 2.1): the line is at most 107 bytes with its CRLF;
// "UNKNOWN" may be followed by anything up to the CRLF, which is ignored;
// TCP4 and TCP6 need exactly four single-space separated fields: addresses
// of the named family (no zones) and decimal ports 0..65535 without leading
// zeros.
//
// Version 2 rules (section 2.2): version nibble 2, command LOCAL or PROXY,
// known family and protocol, an address block that fits in the announced
// length, and TLVs that exactly fill the rest. Addresses are decoded only
// for the PROXY command with AF_INET or AF_INET6; for LOCAL the receiver
// must use the real connection endpoints and ignore the address block
// whatever the family, so a LOCAL body too short for the family's addresses
// is accepted whole as an ignored block, without TLVs.
//
// Parse reports a bad header as soon as the bytes that make it bad are in:
// the v2 version, command, family and protocol before the length field, and
// a v1 protocol word other than TCP4, TCP6 or UNKNOWN before the CRLF.
func Parse(b []byte) (Header, int, error) {
	if len(b) == 0 {
		return Header{}, 0, io.ErrUnexpectedEOF
	}
	switch {
	case agrees(b, sigV2[:]):
		return parseV2(b)
	case agrees(b, []byte(prefixV1)):
		return parseV1(b)
	}
	return Header{}, 0, ErrNoHeader
}

// agrees reports whether b and sig are equal over their common length.
func agrees(b, sig []byte) bool {
	n := min(len(b), len(sig))
	return bytes.Equal(b[:n], sig[:n])
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// parseV2 decodes a binary header. Layout (offsets in bytes):
//
//	0..11  signature
//	12     version (high nibble, 2) | command (low nibble)
//	13     family (high nibble) | protocol (low nibble)
//	14..15 length of the rest, big endian
//	16..   address block (family dependent), then TLVs
func parseV2(b []byte) (Header, int, error) {
	// Bytes 12 and 13 are checked as soon as they are in, so that a bad
	// header is reported before its length field arrives.
	if len(b) > 12 {
		if v := b[12] >> 4; v != 2 {
			return Header{}, 0, invalid("v2 version nibble %d, want 2", v)
		}
		if cmd := Command(b[12] & 0x0F); cmd != CommandLocal && cmd != CommandProxy {
			return Header{}, 0, invalid("v2 command %#x", uint8(cmd))
		}
	}
	if len(b) > 13 {
		if fam := Family(b[13] >> 4); fam > FamilyUnix {
			return Header{}, 0, invalid("v2 address family %#x", uint8(fam))
		}
		if proto := Protocol(b[13] & 0x0F); proto > ProtocolDgram {
			return Header{}, 0, invalid("v2 transport protocol %#x", uint8(proto))
		}
	}
	if len(b) < V2HeaderLen {
		return Header{}, 0, io.ErrUnexpectedEOF
	}
	cmd := Command(b[12] & 0x0F)
	fam, proto := Family(b[13]>>4), Protocol(b[13]&0x0F)
	rest := int(binary.BigEndian.Uint16(b[14:16]))
	n := V2HeaderLen + rest
	if len(b) < n {
		return Header{}, 0, io.ErrUnexpectedEOF
	}
	body := b[V2HeaderLen:n]

	var addrLen int
	switch fam {
	case FamilyInet:
		addrLen = V2IPv4AddrLen
	case FamilyInet6:
		addrLen = V2IPv6AddrLen
	case FamilyUnix:
		addrLen = V2UnixAddrLen
	}
	h := Header{Version: 2, Command: cmd, Family: fam, Protocol: proto}
	if len(body) < addrLen {
		if cmd == CommandLocal {
			// Section 2.2: for LOCAL the receiver discards the address
			// block, whose family is ignored; a body too short to hold
			// the family's addresses is all address block.
			return h, n, nil
		}
		return Header{}, 0, invalid("v2 length %d too short for %s addresses (%d bytes)", len(body), fam, addrLen)
	}
	if cmd == CommandProxy {
		switch fam {
		case FamilyInet:
			h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
			h.Destination = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
		case FamilyInet6:
			h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])), binary.BigEndian.Uint16(body[32:34]))
			h.Destination = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])), binary.BigEndian.Uint16(body[34:36]))
		}
	}

	tlvs, err := parseTLVs(body[addrLen:])
	if err != nil {
		return Header{}, 0, err
	}
	h.TLVs = tlvs
	return h, n, nil
}

// parseTLVs splits b into TLV records: type (1 byte), length (2 bytes, big
// endian), value. The records must fill b exactly.
func parseTLVs(b []byte) ([]TLV, error) {
	var tlvs []TLV
	for off := 0; off < len(b); {
		if len(b)-off < 3 {
			return nil, invalid("v2 truncated TLV header at offset %d", off)
		}
		l := int(binary.BigEndian.Uint16(b[off+1 : off+3]))
		if len(b)-off-3 < l {
			return nil, invalid("v2 TLV type %#x of length %d overruns header at offset %d", b[off], l, off)
		}
		tlvs = append(tlvs, TLV{Type: b[off], Value: b[off+3 : off+3+l : off+3+l]})
		off += 3 + l
	}
	return tlvs, nil
}

// parseV1 decodes a text header: "PROXY <proto> <src> <dst> <sport> <dport>\r\n".
func parseV1(b []byte) (Header, int, error) {
	if len(b) < len(prefixV1) {
		return Header{}, 0, io.ErrUnexpectedEOF
	}
	window := b[:min(len(b), MaxV1Len)]
	end := bytes.Index(window, []byte("\r\n"))
	if end < 0 {
		if bytes.IndexByte(window, '\n') >= 0 {
			return Header{}, 0, invalid("v1 line feed without carriage return")
		}
		if word, ok := v1Word(window[len(prefixV1):]); !ok {
			return Header{}, 0, invalid("v1 protocol %q", word)
		}
		if len(b) < MaxV1Len {
			return Header{}, 0, io.ErrUnexpectedEOF
		}
		return Header{}, 0, invalid("v1 no CRLF within %d bytes", MaxV1Len)
	}
	if bytes.IndexByte(window[:end], '\n') >= 0 {
		// Rejected as a prefix of the line would be (above), so that a
		// header read in pieces gets the verdict it gets whole.
		return Header{}, 0, invalid("v1 line feed without carriage return")
	}
	n := end + 2
	fields := strings.Split(string(b[len(prefixV1):end]), " ")
	h := Header{Version: 1, Command: CommandProxy}
	switch fields[0] {
	case "UNKNOWN":
		// Section 2.1: the receiver must ignore anything after UNKNOWN.
		return h, n, nil
	case "TCP4":
		h.Family = FamilyInet
	case "TCP6":
		h.Family = FamilyInet6
	default:
		return Header{}, 0, invalid("v1 protocol %q", fields[0])
	}
	h.Protocol = ProtocolStream
	if len(fields) != 5 {
		return Header{}, 0, invalid("v1 %s line has %d fields, want 5", fields[0], len(fields))
	}
	src, err := parseV1Addr(fields[1], h.Family)
	if err != nil {
		return Header{}, 0, err
	}
	dst, err := parseV1Addr(fields[2], h.Family)
	if err != nil {
		return Header{}, 0, err
	}
	sport, err := parseV1Port(fields[3])
	if err != nil {
		return Header{}, 0, err
	}
	dport, err := parseV1Port(fields[4])
	if err != nil {
		return Header{}, 0, err
	}
	h.Source = netip.AddrPortFrom(src, sport)
	h.Destination = netip.AddrPortFrom(dst, dport)
	return h, n, nil
}

// v1Starts are the ways the text after "PROXY " can begin: a protocol
// word and the byte after it (UNKNOWN may end the line at once).
var v1Starts = []string{"TCP4 ", "TCP6 ", "UNKNOWN ", "UNKNOWN\r"}

// v1Word reports whether rest, the text after "PROXY " of a line whose CRLF
// has not arrived, can still begin a valid header, and returns the protocol
// word it holds so far for an error message.
func v1Word(rest []byte) (string, bool) {
	word := rest
	if i := bytes.IndexAny(word, " \r"); i >= 0 {
		word = word[:i]
	}
	for _, s := range v1Starts {
		if agrees(rest, []byte(s)) {
			return string(word), true
		}
	}
	return string(word), false
}

func parseV1Addr(s string, fam Family) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, invalid("v1 address %q: %v", s, err)
	}
	if a.Zone() != "" {
		return netip.Addr{}, invalid("v1 address %q has a zone", s)
	}
	if (fam == FamilyInet) != a.Is4() {
		return netip.Addr{}, invalid("v1 address %q is not of family %s", s, fam)
	}
	return a, nil
}

func parseV1Port(s string) (uint16, error) {
	if len(s) == 0 || len(s) > 5 || (len(s) > 1 && s[0] == '0') {
		return 0, invalid("v1 port %q", s)
	}
	var p uint32
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, invalid("v1 port %q", s)
		}
		p = p*10 + uint32(c-'0')
	}
	if p > 0xFFFF {
		return 0, invalid("v1 port %q out of range", s)
	}
	return uint16(p), nil
}
