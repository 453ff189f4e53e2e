package netsetup

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
)

// naGolden is the unsolicited Neighbor Advertisement for fd00:201::100 at
// 02:00:00:00:0a:01, written out from RFC 4861 section 4.4.
var naGolden = []byte{
	0x88,       // type 136 Neighbor Advertisement
	0x00,       // code
	0x00, 0x00, // checksum: filled in by the kernel
	0x20, 0x00, 0x00, 0x00, // R=0 S=0 O=1, reserved
	0xfd, 0x00, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // target fd00:201::100
	0x02,                               // option: Target Link-Layer Address
	0x01,                               // length 1 (8 bytes)
	0x02, 0x00, 0x00, 0x00, 0x0a, 0x01, // link-layer address
}

func TestUnsolicitedNAGolden(t *testing.T) {
	got, err := UnsolicitedNA(testMAC, netip.MustParseAddr("fd00:201::100"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, naGolden) {
		t.Fatalf("UnsolicitedNA =\n% x\nwant\n% x", got, naGolden)
	}
}

func TestUnsolicitedNAErrors(t *testing.T) {
	tests := []struct {
		name string
		hw   net.HardwareAddr
		ip   netip.Addr
	}{
		{"ipv4", testMAC, testVIP},
		{"mapped", testMAC, netip.MustParseAddr("::ffff:10.0.0.1")},
		{"invalid", testMAC, netip.Addr{}},
		{"no mac", nil, netip.MustParseAddr("fd00::1")},
	}
	for _, tt := range tests {
		if b, err := UnsolicitedNA(tt.hw, tt.ip); err == nil {
			t.Errorf("%s: UnsolicitedNA = % x, want error", tt.name, b)
		}
	}
}

// icmpv6Checksum computes the ICMPv6 checksum over the IPv6 pseudo-header
// (RFC 8200 section 8.1) and msg, whose checksum field must be zero.
func icmpv6Checksum(src, dst netip.Addr, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	var l [8]byte
	binary.BigEndian.PutUint32(l[0:4], uint32(len(msg)))
	l[7] = 58
	add(l[:])
	add(msg)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
