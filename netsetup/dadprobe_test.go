package netsetup

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
)

// dadProbeGolden is the Duplicate Address Detection probe (RFC 4862
// section 5.4.2) for fd00:201::100 from 02:00:00:00:0a:01, written out by
// hand from RFC 4861 section 4.3 and RFC 8200, its ICMPv6 checksum
// computed apart (RFC 4443 section 2.3, over the pseudo-header).
var dadProbeGolden = []byte{
	0x33, 0x33, 0xff, 0x00, 0x01, 0x00, // Ethernet destination: the solicited-node group's
	0x02, 0x00, 0x00, 0x00, 0x0a, 0x01, // Ethernet source: interface MAC
	0x86, 0xdd, // EtherType IPv6
	0x60, 0x00, 0x00, 0x00, // version 6, traffic class 0, flow label 0
	0x00, 0x18, // payload length 24
	0x3a,                                           // next header ICMPv6
	0xff,                                           // hop limit 255
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // source ::
	0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0x00, 0x01, 0x00, // destination ff02::1:ff00:100
	0x87, 0x00, // type 135 Neighbor Solicitation, code 0
	0x79, 0xa6, // checksum
	0x00, 0x00, 0x00, 0x00, // reserved
	0xfd, 0x00, 0x02, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // target fd00:201::100
}

// TestDADProbeFrameGolden: the probe's bytes; an IPv4, IPv4-mapped or
// multicast address, or a MAC that is not Ethernet's, refused.
func TestDADProbeFrameGolden(t *testing.T) {
	vip := netip.MustParseAddr("fd00:201::100")
	got, err := DADProbeFrame(testMAC, vip)
	if err != nil {
		t.Fatalf("DADProbeFrame: %v", err)
	}
	if !bytes.Equal(got, dadProbeGolden) {
		t.Fatalf("DADProbeFrame =\n% x\nwant\n% x", got, dadProbeGolden)
	}
	for _, bad := range []struct {
		hw net.HardwareAddr
		ip netip.Addr
	}{
		{testMAC, testVIP},
		{testMAC, netip.MustParseAddr("::ffff:10.0.0.1")},
		{testMAC, netip.MustParseAddr("ff02::1")},
		{nil, vip},
		{net.HardwareAddr{1, 2, 3, 4, 5, 6, 7, 8}, vip},
	} {
		if b, err := DADProbeFrame(bad.hw, bad.ip); err == nil {
			t.Errorf("DADProbeFrame(%v, %v) = % x, want an error", bad.hw, bad.ip, b)
		}
	}
}
