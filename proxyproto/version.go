package proxyproto

import (
	"fmt"
	"net/netip"
	"strings"
)

// Version is the PROXY protocol version a proxy sends to a server: none,
// 1 (text) or 2 (binary). Its numeric value is the protocol version, so
// Version(h.Version) is the version of a parsed Header.
type Version uint8

// Versions. The zero value is None: no header is sent.
const (
	None Version = iota
	V1
	V2
)

// String returns "none", "v1" or "v2".
func (v Version) String() string {
	switch v {
	case None:
		return "none"
	case V1:
		return "v1"
	case V2:
		return "v2"
	}
	return fmt.Sprintf("Version(%d)", uint8(v))
}

// Valid reports whether v is None, V1 or V2.
func (v Version) Valid() bool { return v <= V2 }

// ParseVersion parses "none" (also ""), "v1" or "v2", case-insensitively.
func ParseVersion(s string) (Version, error) {
	switch strings.ToLower(s) {
	case "", "none":
		return None, nil
	case "v1":
		return V1, nil
	case "v2":
		return V2, nil
	}
	return 0, fmt.Errorf("must be v1, v2 or none, not %q", s)
}

// Append appends the header of version v for a connection from src to
// dst: nothing for None.
func (v Version) Append(b []byte, src, dst netip.AddrPort) []byte {
	switch v {
	case V1:
		return AppendV1(b, src, dst)
	case V2:
		return AppendV2(b, src, dst)
	}
	return b
}

// MarshalText encodes v as its String form.
func (v Version) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText decodes what ParseVersion accepts.
func (v *Version) UnmarshalText(b []byte) error {
	p, err := ParseVersion(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}
