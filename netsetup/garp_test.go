package netsetup

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
)

// garpGolden is the gratuitous ARP for 10.201.0.100 from 02:00:00:00:0a:01,
// written out by hand from RFC 826 and keepalived 2.2's vrrp_arp.c
// (send_gratuitous_arp_immediate): Ethernet broadcast, ARP request, sender
// = target = VIP, target hardware address all ones, padded to 60 bytes.
var garpGolden = []byte{
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // Ethernet destination: broadcast
	0x02, 0x00, 0x00, 0x00, 0x0a, 0x01, // Ethernet source: interface MAC
	0x08, 0x06, // EtherType ARP
	0x00, 0x01, // hardware type Ethernet
	0x08, 0x00, // protocol type IPv4
	0x06,       // hardware address length
	0x04,       // protocol address length
	0x00, 0x01, // operation: request
	0x02, 0x00, 0x00, 0x00, 0x0a, 0x01, // sender hardware address
	0x0a, 0xc9, 0x00, 0x64, // sender protocol address 10.201.0.100
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // target hardware address (keepalived: all ones)
	0x0a, 0xc9, 0x00, 0x64, // target protocol address 10.201.0.100
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding to 60 bytes
}

// probeGolden is the ARP probe (RFC 5227 section 2.1.1) for 10.201.0.100
// from 02:00:00:00:0a:01, written out by hand: Ethernet broadcast, ARP
// request, sender protocol address and target hardware address zero,
// target protocol address the VIP, padded to 60 bytes.
var probeGolden = []byte{
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // Ethernet destination: broadcast
	0x02, 0x00, 0x00, 0x00, 0x0a, 0x01, // Ethernet source: interface MAC
	0x08, 0x06, // EtherType ARP
	0x00, 0x01, // hardware type Ethernet
	0x08, 0x00, // protocol type IPv4
	0x06,       // hardware address length
	0x04,       // protocol address length
	0x00, 0x01, // operation: request
	0x02, 0x00, 0x00, 0x00, 0x0a, 0x01, // sender hardware address
	0x00, 0x00, 0x00, 0x00, // sender protocol address 0.0.0.0
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // target hardware address: zero
	0x0a, 0xc9, 0x00, 0x64, // target protocol address 10.201.0.100
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding to 60 bytes
}

// TestProbeFrameGolden: the probe's bytes, and an IPv6 address or a
// MAC that is not Ethernet's refused.
func TestProbeFrameGolden(t *testing.T) {
	got, err := ProbeFrame(testMAC, testVIP)
	if err != nil {
		t.Fatalf("ProbeFrame: %v", err)
	}
	if !bytes.Equal(got, probeGolden) {
		t.Fatalf("ProbeFrame =\n% x\nwant\n% x", got, probeGolden)
	}
	if b, err := ProbeFrame(testMAC, netip.MustParseAddr("fd00::1")); err == nil {
		t.Errorf("ProbeFrame of an IPv6 address = % x", b)
	}
	if b, err := ProbeFrame(nil, testVIP); err == nil {
		t.Errorf("ProbeFrame without a MAC = % x", b)
	}
	// A host's answer to it names the VIP as its sender: what the
	// listening socket's filter and ARPSender take.
	reply, err := arp.NewPacket(arp.OperationReply, net.HardwareAddr{2, 0, 0, 0, 0x0a, 9}, testVIP, testMAC, netip.IPv4Unspecified())
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := reply.MarshalBinary()
	fb, _ := (&ethernet.Frame{Destination: testMAC, Source: reply.SenderHardwareAddr, EtherType: ethernet.EtherTypeARP, Payload: pb}).MarshalBinary()
	if hw, ip, err := ARPSender(fb); err != nil || ip != testVIP || !bytes.Equal(hw, reply.SenderHardwareAddr) {
		t.Errorf("ARPSender of the answer: %v %v %v", hw, ip, err)
	}
}

var (
	testMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x0a, 0x01}
	testVIP = netip.MustParseAddr("10.201.0.100")
)

func TestGARPFrameGolden(t *testing.T) {
	got, err := GARPFrame(testMAC, testVIP)
	if err != nil {
		t.Fatalf("GARPFrame: %v", err)
	}
	if !bytes.Equal(got, garpGolden) {
		t.Fatalf("GARPFrame =\n% x\nwant\n% x", got, garpGolden)
	}

	// The frame must also read back as a gratuitous ARP with an
	// independent decoder.
	var f ethernet.Frame
	if err := f.UnmarshalBinary(got); err != nil {
		t.Fatalf("decoding Ethernet frame: %v", err)
	}
	var p arp.Packet
	if err := p.UnmarshalBinary(f.Payload); err != nil {
		t.Fatalf("decoding ARP packet: %v", err)
	}
	if p.Operation != arp.OperationRequest || p.SenderIP != testVIP || p.TargetIP != testVIP ||
		!bytes.Equal(p.SenderHardwareAddr, testMAC) || !bytes.Equal(f.Source, testMAC) {
		t.Fatalf("decoded packet %+v from %v is not a gratuitous ARP for %s", p, f.Source, testVIP)
	}
}

func TestGARPFrameErrors(t *testing.T) {
	tests := []struct {
		name string
		hw   net.HardwareAddr
		ip   netip.Addr
	}{
		{"ipv6", testMAC, netip.MustParseAddr("fd00::1")},
		{"invalid ip", testMAC, netip.Addr{}},
		{"no mac", nil, testVIP},
		{"infiniband-sized mac", make(net.HardwareAddr, 20), testVIP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := GARPFrame(tt.hw, tt.ip); err == nil {
				t.Fatalf("GARPFrame(%v, %v) = % x, want error", tt.hw, tt.ip, b)
			}
		})
	}
}

func TestARPSender(t *testing.T) {
	hw, ip, err := ARPSender(garpGolden)
	if err != nil || hw.String() != testMAC.String() || ip != testVIP {
		t.Fatalf("ARPSender(golden) = %s, %v, %v", hw, ip, err)
	}
	// A reply from another host: its sender, whatever the target.
	other := net.HardwareAddr{0x02, 0, 0, 0, 0x0b, 0x01}
	p, err := arp.NewPacket(arp.OperationReply, other, netip.MustParseAddr("10.201.0.7"), testMAC, netip.MustParseAddr("10.201.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := p.MarshalBinary()
	fb, _ := (&ethernet.Frame{Destination: testMAC, Source: other, EtherType: ethernet.EtherTypeARP, Payload: pb}).MarshalBinary()
	if hw, ip, err := ARPSender(fb); err != nil || hw.String() != other.String() || ip != netip.MustParseAddr("10.201.0.7") {
		t.Fatalf("ARPSender(reply) = %s, %v, %v", hw, ip, err)
	}
	for n := range arpFrameLen {
		if _, _, err := ARPSender(garpGolden[:n]); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%d bytes: %v, want io.ErrUnexpectedEOF", n, err)
		}
	}
	for _, bad := range []struct {
		off int
		b   byte
	}{{13, 0x00}, {15, 0x06}, {17, 0xdd}, {18, 8}, {19, 16}} {
		f := bytes.Clone(garpGolden)
		f[bad.off] = bad.b
		if _, _, err := ARPSender(f); err == nil || errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("byte %d = %#x: %v, want a format error", bad.off, bad.b, err)
		}
	}
}
