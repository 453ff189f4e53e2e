package netsetup

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// naLen is the length of an unsolicited Neighbor Advertisement with one
// Target Link-Layer Address option for an Ethernet address.
const naLen = 32

// allNodes is the IPv6 all-nodes multicast group, the destination of
// unsolicited Neighbor Advertisements (RFC 4861 section 7.2.6).
var allNodes = netip.MustParseAddr("ff02::1")

// UnsolicitedNA returns the ICMPv6 message of an unsolicited Neighbor
// Advertisement (RFC 4861 sections 4.4 and 7.2.6) saying that ip is at hw:
// type 136, code 0, checksum 0 (the kernel computes it on ICMPv6 raw
// sockets), flags Override only (not Router, not Solicited), target ip, and
// a Target Link-Layer Address option (type 2, length 1) carrying hw. This
// is what keepalived sends for IPv6 VIPs, minus its Router flag on
// forwarding hosts. It is sent to ff02::1 with hop limit 255 from ip.
// UnsolicitedNA does no I/O.
//
//	0      1      2      3      4      8                24   25   26      32
//	| 136  |  0   | csum 0      | 0x20 0 0 0 | target (16) | 2 | 1 | hw (6) |
func UnsolicitedNA(hw net.HardwareAddr, ip netip.Addr) ([]byte, error) {
	if !ip.Is6() || ip.Is4In6() {
		return nil, fmt.Errorf("building neighbour advertisement for %s: not an IPv6 address", ip)
	}
	if len(hw) != 6 {
		return nil, fmt.Errorf("building neighbour advertisement for %s: hardware address %q is not a 6-byte Ethernet address", ip, hw)
	}
	b := make([]byte, naLen)
	b[0] = byte(ipv6.ICMPTypeNeighborAdvertisement)
	b[4] = 0x20 // R=0x80, S=0x40, O=0x20
	t := ip.As16()
	copy(b[8:24], t[:])
	b[24] = 2 // Target Link-Layer Address
	b[25] = 1 // in units of 8 bytes
	copy(b[26:32], hw)
	return b, nil
}

// Neighbor Advertisement offsets and option types (RFC 4861 sections
// 4.4 and 4.6), for NATarget.
const (
	naOffCode    = 1
	naOffTarget  = 8
	naOffOptions = 24 // also the length of the fixed part
	ndOptTLLA    = 2  // Target Link-Layer Address
)

// NATarget returns the Ethernet address of the Target Link-Layer Address
// option and the target address of an ICMPv6 Neighbor Advertisement
// (RFC 4861 sections 4.4 and 4.6) as an ICMPv6 raw socket reads it, from
// the ICMPv6 type on: who says it has the address. Of several such
// options the first counts, as in Linux. A message shorter than the fixed
// part of an advertisement (24 bytes), or whose options run past its end,
// gives io.ErrUnexpectedEOF; one that is not a Neighbor Advertisement
// (type 136, code 0), has an option of length 0, a multicast target, or
// no Target Link-Layer Address option for a 6-byte Ethernet address
// another error. The checksum (the kernel checks it on ICMPv6 sockets) and
// the hop limit are not its business. NATarget does no I/O; the address
// returned is a copy.
func NATarget(msg []byte) (net.HardwareAddr, netip.Addr, error) {
	if len(msg) < naOffOptions {
		return nil, netip.Addr{}, fmt.Errorf("parsing neighbour advertisement of %d bytes: %w", len(msg), io.ErrUnexpectedEOF)
	}
	if msg[0] != byte(ipv6.ICMPTypeNeighborAdvertisement) || msg[naOffCode] != 0 {
		return nil, netip.Addr{}, fmt.Errorf("parsing neighbour advertisement: ICMPv6 type %d code %d is not one", msg[0], msg[naOffCode])
	}
	target := netip.AddrFrom16([16]byte(msg[naOffTarget:naOffOptions]))
	if target.IsMulticast() {
		return nil, netip.Addr{}, fmt.Errorf("parsing neighbour advertisement: multicast target %s", target)
	}
	var hw net.HardwareAddr
	for b := msg[naOffOptions:]; len(b) > 0; {
		if len(b) < 2 {
			return nil, netip.Addr{}, fmt.Errorf("parsing neighbour advertisement for %s: option header: %w", target, io.ErrUnexpectedEOF)
		}
		typ, n := b[0], int(b[1])*8
		if n == 0 {
			return nil, netip.Addr{}, fmt.Errorf("parsing neighbour advertisement for %s: option %d of length 0", target, typ)
		}
		if n > len(b) {
			return nil, netip.Addr{}, fmt.Errorf("parsing neighbour advertisement for %s: option %d of %d bytes: %w", target, typ, n, io.ErrUnexpectedEOF)
		}
		if typ == ndOptTLLA && hw == nil {
			if n != 8 {
				return nil, netip.Addr{}, fmt.Errorf("parsing neighbour advertisement for %s: target link-layer address of %d bytes is not an Ethernet address", target, n-2)
			}
			hw = net.HardwareAddr(append([]byte(nil), b[2:8]...))
		}
		b = b[n:]
	}
	if hw == nil {
		return nil, netip.Addr{}, fmt.Errorf("parsing neighbour advertisement for %s: no target link-layer address", target)
	}
	return hw, target, nil
}

// naConn is a send-only ICMPv6 raw socket for unsolicited advertisements
// on one interface.
type naConn struct {
	p       *ipv6.PacketConn
	ifindex int
}

// openNA opens the ICMPv6 socket. It blocks every incoming ICMPv6 type so
// the kernel queues nothing for it, and does not loop its advertisements
// back to this host, where the socket hearing other hosts' (openHearNA)
// would read them.
func openNA(ifindex int, ifname string) (*naConn, error) {
	c, err := net.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, fmt.Errorf("opening ICMPv6 socket on %s: %w", ifname, err)
	}
	p := ipv6.NewPacketConn(c)
	var f ipv6.ICMPFilter
	f.SetAll(true)
	if err := p.SetICMPFilter(&f); err != nil {
		p.Close()
		return nil, fmt.Errorf("setting ICMPv6 filter on %s: %w", ifname, err)
	}
	if err := p.SetMulticastHopLimit(255); err != nil {
		p.Close()
		return nil, fmt.Errorf("setting hop limit on %s: %w", ifname, err)
	}
	if err := p.SetMulticastLoopback(false); err != nil {
		p.Close()
		return nil, fmt.Errorf("turning multicast loopback off on %s: %w", ifname, err)
	}
	return &naConn{p: p, ifindex: ifindex}, nil
}

// send sends one unsolicited advertisement for ip from ip.
func (c *naConn) send(hw net.HardwareAddr, ip netip.Addr) error {
	b, err := UnsolicitedNA(hw, ip)
	if err != nil {
		return err
	}
	// The interface is chosen by the IPV6_PKTINFO index alone. A zone on
	// the destination would be resolved by name through the net package's
	// process-wide cache, which may still map the name to the index of an
	// interface since deleted and created again; the kernel refuses a
	// scope id that differs from the pktinfo index (EINVAL).
	cm := &ipv6.ControlMessage{HopLimit: 255, Src: ip.AsSlice(), IfIndex: c.ifindex}
	dst := &net.IPAddr{IP: allNodes.AsSlice()}
	if _, err := c.p.WriteTo(b, cm, dst); err != nil {
		return fmt.Errorf("sending neighbour advertisement for %s: %w", ip, err)
	}
	return nil
}

func (c *naConn) Close() error { return c.p.Close() }

// naHear is an ICMPv6 raw socket that hears the Neighbor Advertisements
// received on one interface, for a VIPSet's hearSlot, with the time each
// was received. Its reads go through rc (recvmsg, for the hop limit and
// the timestamp); Close closes p, which ends a read under way.
type naHear struct {
	p   *ipv6.PacketConn
	rc  syscall.RawConn
	oob []byte
}

// openHearNA opens the socket that hears Neighbor Advertisements on the
// interface with index ifindex. The kernel queues nothing else for it: it
// is bound to the interface, and its ICMPv6 filter, set before it is
// bound, passes type 136 only.
func openHearNA(ifindex int, ifname string) (*naHear, error) {
	var filter unix.ICMPv6Filter // a bit set blocks the type
	for i := range filter.Data {
		filter.Data[i] = ^uint32(0)
	}
	na := int(ipv6.ICMPTypeNeighborAdvertisement)
	filter.Data[na>>5] &^= 1 << (na & 31)
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		cerr := c.Control(func(fd uintptr) {
			err = unix.SetsockoptICMPv6Filter(int(fd), unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &filter)
			if err != nil {
				err = fmt.Errorf("setting ICMPv6 filter: %w", err)
				return
			}
			if err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BINDTOIFINDEX, ifindex); err != nil {
				err = fmt.Errorf("binding to interface index %d: %w", ifindex, err)
			}
		})
		if cerr != nil {
			return cerr
		}
		return err
	}}
	c, err := lc.ListenPacket(context.Background(), "ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, fmt.Errorf("opening the socket that hears neighbour advertisements on %s: %w", ifname, err)
	}
	p := ipv6.NewPacketConn(c)
	if err := p.SetControlMessage(ipv6.FlagHopLimit, true); err != nil {
		p.Close()
		return nil, fmt.Errorf("asking for the hop limit on %s: %w", ifname, err)
	}
	rc, err := c.(*net.IPConn).SyscallConn()
	if err == nil {
		err = enableRxStamps(rc)
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("opening the socket that hears neighbour advertisements on %s: %w", ifname, err)
	}
	return &naHear{p: p, rc: rc, oob: make([]byte, oobStampLen)}, nil
}

// next returns the target and the target link-layer address of the next
// valid advertisement read, and when the kernel received it.
func (h *naHear) next(buf []byte) (net.HardwareAddr, netip.Addr, time.Time, error) {
	for {
		n, oobn, err := recvStamped(h.rc, buf, h.oob)
		if err != nil {
			return nil, netip.Addr{}, time.Time{}, err
		}
		cm, err := parseControl(h.oob[:oobn])
		// RFC 4861 section 7.1.2: an advertisement that crossed a
		// router is not from a neighbour.
		if err != nil || cm.hopLimit != 255 {
			continue
		}
		if hw, ip, err := NATarget(buf[:n]); err == nil {
			return hw, ip, cm.rx, nil
		}
	}
}

func (h *naHear) Close() error { return h.p.Close() }
