package netsetup

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/ethernet"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// IPv6 header fields of a Duplicate Address Detection probe.
const (
	ipv6HeaderLen = 40
	nsLen         = 24 // ICMPv6 header, reserved, target address
	icmpv6Next    = 58 // next header: ICMPv6
	ndHopLimit    = 255
)

// DADProbeFrame returns the Ethernet frame of a Duplicate Address
// Detection probe for the IPv6 address ip from the interface with
// hardware address hw (RFC 4862 section 5.4.2; RFC 4861 section 4.3): a
// Neighbor Solicitation for ip from the unspecified address :: to ip's
// solicited-node multicast group ff02::1:ffXX:XXXX, hop limit 255,
// without a source link-layer address option (RFC 4861 section 7.2.2
// forbids it from ::), on the group's Ethernet address 33:33:ff:XX:XX:XX.
// A host that has ip answers it with a Neighbor Advertisement to all
// nodes (ff02::1) carrying its link-layer address, and no host updates
// its neighbour entries from it: the IPv6 form of ProbeFrame. It is sent
// on a packet socket, since a socket of the IP layer cannot send from ::.
// DADProbeFrame does no I/O.
func DADProbeFrame(hw net.HardwareAddr, ip netip.Addr) ([]byte, error) {
	if !ip.Is6() || ip.Is4In6() || ip.IsMulticast() {
		return nil, fmt.Errorf("building DAD probe for %s: not an IPv6 unicast address", ip)
	}
	if len(hw) != 6 {
		return nil, fmt.Errorf("building DAD probe for %s: hardware address %q is not a 6-byte Ethernet address", ip, hw)
	}
	t := ip.WithZone("").As16()
	group := netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 0x01, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]})
	body := make([]byte, 4+16) // reserved, target address
	copy(body[4:], t[:])
	m := icmp.Message{Type: ipv6.ICMPTypeNeighborSolicitation, Body: &icmp.RawBody{Data: body}}
	ns, err := m.Marshal(icmp.IPv6PseudoHeader(net.IPv6unspecified, group.AsSlice()))
	if err != nil {
		return nil, fmt.Errorf("marshaling neighbour solicitation for %s: %w", ip, err)
	}
	pkt := make([]byte, ipv6HeaderLen, ipv6HeaderLen+nsLen)
	pkt[0] = 6 << 4 // version; traffic class and flow label zero
	binary.BigEndian.PutUint16(pkt[4:6], uint16(len(ns)))
	pkt[6], pkt[7] = icmpv6Next, ndHopLimit
	// Source (bytes 8-23) stays ::.
	g := group.As16()
	copy(pkt[24:40], g[:])
	pkt = append(pkt, ns...)
	return ethernetFrame(net.HardwareAddr{0x33, 0x33, g[12], g[13], g[14], g[15]}, hw, ethernet.EtherTypeIPv6, pkt, ip)
}
