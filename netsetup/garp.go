package netsetup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
)

// GARPFrame returns the Ethernet frame of a gratuitous ARP announcement for
// ip from the interface with hardware address hw, as keepalived 2.x sends it
// (vrrp_arp.c): an ARP request (RFC 826 opcode 1) broadcast to
// ff:ff:ff:ff:ff:ff with sender = target = ip, sender hardware address hw
// and target hardware address ff:ff:ff:ff:ff:ff. (RFC 5227 section 2.3 calls
// this an ARP Announcement; it suggests a zero target hardware address,
// which receivers ignore. We keep keepalived's bytes to be a drop-in.)
//
// The frame is padded to the Ethernet minimum of 60 bytes (without FCS).
// GARPFrame does no I/O.
func GARPFrame(hw net.HardwareAddr, ip netip.Addr) ([]byte, error) {
	return arpRequestFrame("gratuitous ARP", hw, ip, ethernet.Broadcast, ip)
}

// ProbeFrame returns the Ethernet frame of an ARP Probe for ip from the
// interface with hardware address hw (RFC 5227 section 2.1.1): an ARP
// request broadcast with sender hardware address hw, sender protocol
// address 0.0.0.0, target hardware address zero and target protocol
// address ip. A host that has ip answers it, with an ARP reply to hw
// whose sender protocol address is ip (Linux does, unless its arp_ignore
// keeps it from answering on that interface), and no host updates its
// neighbour entries from it. The frame is padded as GARPFrame's.
// ProbeFrame does no I/O.
func ProbeFrame(hw net.HardwareAddr, ip netip.Addr) ([]byte, error) {
	return arpRequestFrame("ARP probe", hw, netip.IPv4Unspecified(), make(net.HardwareAddr, 6), ip)
}

// arpRequestFrame returns an ARP request (what, for errors) from hw,
// broadcast on Ethernet, with the sender protocol address sender, target
// hardware address targetHW and target protocol address target (IPv4).
func arpRequestFrame(what string, hw net.HardwareAddr, sender netip.Addr, targetHW net.HardwareAddr, target netip.Addr) ([]byte, error) {
	if !target.Is4() {
		return nil, fmt.Errorf("building %s for %s: not an IPv4 address", what, target)
	}
	if len(hw) != 6 {
		return nil, fmt.Errorf("building %s for %s: hardware address %q is not a 6-byte Ethernet address", what, target, hw)
	}
	p, err := arp.NewPacket(arp.OperationRequest, hw, sender, targetHW, target)
	if err != nil {
		return nil, fmt.Errorf("building %s for %s: %w", what, target, err)
	}
	pb, err := p.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("marshaling ARP packet for %s: %w", target, err)
	}
	return ethernetFrame(ethernet.Broadcast, hw, ethernet.EtherTypeARP, pb, target)
}

// ethernetFrame returns the Ethernet frame of payload, of type et, from hw
// to dst, padded to the Ethernet minimum of 60 bytes (without FCS); ip,
// the address the frame is about, names it in an error.
func ethernetFrame(dst, hw net.HardwareAddr, et ethernet.EtherType, payload []byte, ip netip.Addr) ([]byte, error) {
	f := ethernet.Frame{Destination: dst, Source: hw, EtherType: et, Payload: payload}
	fb, err := f.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("marshaling Ethernet frame for %s: %w", ip, err)
	}
	return fb, nil
}

// ARP frame offsets (Ethernet header, then RFC 826), for ARPSender.
const (
	arpFrameLen    = 14 + 28 // Ethernet header + ARP for Ethernet/IPv4
	arpOffEType    = 12
	arpOffHType    = 14
	arpOffPType    = 16
	arpOffHLen     = 18
	arpOffPLen     = 19
	arpOffSenderHW = 22
	arpOffSenderIP = 28
)

// ARPSender returns the sender hardware and protocol addresses of an
// Ethernet frame carrying an ARP packet for Ethernet and IPv4 (a request,
// a reply or a gratuitous ARP, RFC 826): who says it has the address. A
// frame shorter than an ARP frame gives io.ErrUnexpectedEOF; one that is
// not ARP for Ethernet/IPv4 another error. ARPSender does no I/O.
func ARPSender(frame []byte) (net.HardwareAddr, netip.Addr, error) {
	if len(frame) < arpFrameLen {
		return nil, netip.Addr{}, fmt.Errorf("parsing ARP frame of %d bytes: %w", len(frame), io.ErrUnexpectedEOF)
	}
	if et := binary.BigEndian.Uint16(frame[arpOffEType:]); et != etherTypeARP {
		return nil, netip.Addr{}, fmt.Errorf("parsing ARP frame: EtherType %#04x is not ARP", et)
	}
	if binary.BigEndian.Uint16(frame[arpOffHType:]) != 1 || binary.BigEndian.Uint16(frame[arpOffPType:]) != 0x0800 ||
		frame[arpOffHLen] != 6 || frame[arpOffPLen] != 4 {
		return nil, netip.Addr{}, errors.New("parsing ARP frame: not ARP for Ethernet and IPv4")
	}
	hw := net.HardwareAddr(append([]byte(nil), frame[arpOffSenderHW:arpOffSenderHW+6]...))
	ip := netip.AddrFrom4([4]byte(frame[arpOffSenderIP : arpOffSenderIP+4]))
	return hw, ip, nil
}
