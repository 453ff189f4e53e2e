package netsetup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
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

// naSolicitedGolden is a solicited Neighbor Advertisement for
// fd00:201::100 from 02:00:00:00:0b:01 as Linux answers a solicitation
// (Solicited and Override set) with a Nonce option (RFC 3971, as echoed
// since RFC 7527) before the Target Link-Layer Address option, written
// out from RFC 4861 section 4.4; the checksum is an arbitrary value.
var naSolicitedGolden = []byte{
	0x88,       // type 136 Neighbor Advertisement
	0x00,       // code
	0x5a, 0xa5, // checksum
	0x60, 0x00, 0x00, 0x00, // R=0 S=1 O=1, reserved
	0xfd, 0x00, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // target fd00:201::100
	0x0e,                               // option: Nonce
	0x01,                               // length 1 (8 bytes)
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, // nonce
	0x02,                               // option: Target Link-Layer Address
	0x01,                               // length 1 (8 bytes)
	0x02, 0x00, 0x00, 0x00, 0x0b, 0x01, // link-layer address
}

func TestNATargetGolden(t *testing.T) {
	target := netip.MustParseAddr("fd00:201::100")
	for _, tt := range []struct {
		name string
		msg  []byte
		hw   net.HardwareAddr
	}{
		{"unsolicited", naGolden, testMAC},
		{"solicited with a nonce", naSolicitedGolden, net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x0b, 0x01}},
	} {
		hw, ip, err := NATarget(tt.msg)
		if err != nil || ip != target || !bytes.Equal(hw, tt.hw) {
			t.Errorf("%s: NATarget = %s, %s, %v; want %s, %s", tt.name, hw, ip, err, tt.hw, target)
		}
	}
}

func TestNATargetErrors(t *testing.T) {
	with := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(naGolden)) }
	for _, tt := range []struct {
		name string
		msg  []byte
		eof  bool
	}{
		{"empty", nil, true},
		{"fixed part cut", naGolden[:naOffOptions-1], true},
		{"option header cut", naGolden[:naOffOptions+1], true},
		{"option cut", naGolden[:len(naGolden)-1], true},
		{"option longer than the message", with(func(b []byte) []byte { b[naOffOptions+1] = 2; return b }), true},
		{"solicitation", with(func(b []byte) []byte { b[0] = 135; return b }), false},
		{"code 1", with(func(b []byte) []byte { b[naOffCode] = 1; return b }), false},
		{"option of length 0", with(func(b []byte) []byte { b[naOffOptions+1] = 0; return b }), false},
		{"multicast target", with(func(b []byte) []byte { b[naOffTarget] = 0xff; return b }), false},
		{"no options", naGolden[:naOffOptions], false},
		{"source link-layer address only", with(func(b []byte) []byte { b[naOffOptions] = 1; return b }), false},
		{"link-layer address of 14 bytes", append(with(func(b []byte) []byte { b[naOffOptions+1] = 2; return b }), make([]byte, 8)...), false},
	} {
		hw, ip, err := NATarget(tt.msg)
		if err == nil {
			t.Errorf("%s: NATarget = %s, %s; want an error", tt.name, hw, ip)
			continue
		}
		if errors.Is(err, io.ErrUnexpectedEOF) != tt.eof {
			t.Errorf("%s: NATarget error %v; io.ErrUnexpectedEOF: %v, want %v", tt.name, err, !tt.eof, tt.eof)
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
