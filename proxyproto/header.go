package proxyproto

import (
	"errors"
	"net/netip"
	"strconv"
)

// Signature of a version 2 header: the first 12 bytes of every v2 header
// (section 2.2 of the specification).
var sigV2 = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// prefixV1 starts every version 1 header (section 2.1).
const prefixV1 = "PROXY "

const (
	// MaxV1Len is the largest version 1 header, CRLF included (section 2.1:
	// "a receiver ... must not try to parse more than 107 characters").
	MaxV1Len = 107

	// V2HeaderLen is the fixed part of a version 2 header: 12 bytes of
	// signature, version/command, family/protocol and a 16-bit length.
	V2HeaderLen = 16

	// V2IPv4AddrLen and V2IPv6AddrLen are the sizes of the address blocks
	// for AF_INET and AF_INET6 (two addresses, then two ports).
	V2IPv4AddrLen = 12
	V2IPv6AddrLen = 36

	// V2UnixAddrLen is the size of the AF_UNIX address block (two 108-byte
	// paths).
	V2UnixAddrLen = 216
)

// Errors returned by Parse and ReadHeader. Parse also returns
// io.ErrUnexpectedEOF when its input is a valid prefix of a header that is
// not complete yet: the caller should read more bytes and call again.
var (
	// ErrNoHeader means the input starts with neither the version 1 nor the
	// version 2 signature: the peer does not speak the PROXY protocol.
	ErrNoHeader = errors.New("proxyproto: no PROXY protocol header")

	// ErrInvalid is wrapped by every error about a header that starts with
	// a signature but breaks the specification.
	ErrInvalid = errors.New("proxyproto: invalid header")
)

// Command is the version 2 command (low nibble of byte 12). Version 1 headers
// always carry CommandProxy.
type Command uint8

// Commands of section 2.2.
const (
	// CommandLocal: the connection was established by the proxy itself
	// (for example a health check); the receiver must use the real
	// connection endpoints and ignore the addresses.
	CommandLocal Command = 0x0
	// CommandProxy: the connection was relayed on behalf of a client whose
	// addresses follow.
	CommandProxy Command = 0x1
)

// String returns "LOCAL", "PROXY" or "Command(N)".
func (c Command) String() string {
	switch c {
	case CommandLocal:
		return "LOCAL"
	case CommandProxy:
		return "PROXY"
	}
	return "Command(" + strconv.Itoa(int(c)) + ")"
}

// Family is the version 2 address family (high nibble of byte 13). Version 1
// "TCP4" maps to FamilyInet, "TCP6" to FamilyInet6 and "UNKNOWN" to
// FamilyUnspec.
type Family uint8

// Address families of section 2.2.
const (
	FamilyUnspec Family = 0x0
	FamilyInet   Family = 0x1
	FamilyInet6  Family = 0x2
	FamilyUnix   Family = 0x3
)

// String returns the specification's name of the family.
func (f Family) String() string {
	switch f {
	case FamilyUnspec:
		return "AF_UNSPEC"
	case FamilyInet:
		return "AF_INET"
	case FamilyInet6:
		return "AF_INET6"
	case FamilyUnix:
		return "AF_UNIX"
	}
	return "Family(" + strconv.Itoa(int(f)) + ")"
}

// Protocol is the version 2 transport protocol (low nibble of byte 13).
// Version 1 "TCP4" and "TCP6" map to ProtocolStream, "UNKNOWN" to
// ProtocolUnspec.
type Protocol uint8

// Transport protocols of section 2.2.
const (
	ProtocolUnspec Protocol = 0x0
	ProtocolStream Protocol = 0x1
	ProtocolDgram  Protocol = 0x2
)

// String returns the specification's name of the protocol.
func (p Protocol) String() string {
	switch p {
	case ProtocolUnspec:
		return "UNSPEC"
	case ProtocolStream:
		return "STREAM"
	case ProtocolDgram:
		return "DGRAM"
	}
	return "Protocol(" + strconv.Itoa(int(p)) + ")"
}

// TLV is one type-length-value record that may follow the addresses of a
// version 2 header (section 2.2.7). Value aliases the slice given to Parse.
type TLV struct {
	Type  uint8
	Value []byte
}

// Header is a decoded PROXY protocol header. The zero value is not a valid
// header (Version 0).
type Header struct {
	// Version is 1 or 2.
	Version int
	// Command is CommandProxy for every v1 header.
	Command Command
	// Family and Protocol describe the addresses; FamilyUnspec /
	// ProtocolUnspec for v1 "UNKNOWN" and v2 AF_UNSPEC.
	Family   Family
	Protocol Protocol
	// Source and Destination are the client's address and the address it
	// connected to. They are the zero AddrPort (not valid) when the header
	// carries no IP addresses: v1 UNKNOWN, v2 LOCAL, AF_UNSPEC or AF_UNIX.
	Source      netip.AddrPort
	Destination netip.AddrPort
	// TLVs are the v2 TLV records after the addresses, in order; nil for v1
	// and for v2 headers without TLVs. Their values alias Parse's input.
	TLVs []TLV
}
