package netsetup

import (
	"fmt"
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
	if !ip.Is4() {
		return nil, fmt.Errorf("building gratuitous ARP for %s: not an IPv4 address", ip)
	}
	if len(hw) != 6 {
		return nil, fmt.Errorf("building gratuitous ARP for %s: hardware address %q is not a 6-byte Ethernet address", ip, hw)
	}
	p, err := arp.NewPacket(arp.OperationRequest, hw, ip, ethernet.Broadcast, ip)
	if err != nil {
		return nil, fmt.Errorf("building gratuitous ARP for %s: %w", ip, err)
	}
	pb, err := p.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("marshaling ARP packet for %s: %w", ip, err)
	}
	f := ethernet.Frame{
		Destination: ethernet.Broadcast,
		Source:      hw,
		EtherType:   ethernet.EtherTypeARP,
		Payload:     pb,
	}
	fb, err := f.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("marshaling Ethernet frame for %s: %w", ip, err)
	}
	return fb, nil
}
