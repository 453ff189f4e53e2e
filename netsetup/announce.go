package netsetup

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The EtherTypes of the frames sent on packet sockets: ARP (RFC 826) and
// IPv6 (DAD probes).
const (
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd
)

// announceWriteTimeout bounds the sends of one announcement turn. A send
// waits only when the socket's send buffer is full, which means frames
// are not leaving the link (a stalled driver, a flood of pause frames):
// an announcement that late is useless, and the turn holds the VIPSet's
// lock, which StopAnnouncing and the VRRP instance calling it wait for.
const announceWriteTimeout = 50 * time.Millisecond

// openSenders opens the sockets for the announcements that are not open
// yet: an AF_PACKET socket for gratuitous ARP when there is an IPv4 VIP and
// the link has an Ethernet address and ARP (and one that hears other
// hosts announce the IPv4 VIPs, see ReportAnnouncements), an ICMPv6
// socket when there is an IPv6 VIP (and one that hears other hosts
// advertise the IPv6 VIPs, and, on an Ethernet link, an AF_PACKET socket
// for DAD probes). Called with s.mu held.
func (s *VIPSet) openSenders(attrs *netlink.LinkAttrs) error {
	hasV4, hasV6 := false, false
	for _, p := range s.cfg.VIPs {
		hasV4 = hasV4 || p.Addr().Is4()
		hasV6 = hasV6 || p.Addr().Is6()
	}
	var errs []error
	if hasV4 && s.conn == nil {
		c, err := openARP(attrs)
		s.conn = c
		errs = append(errs, err)
	}
	if hasV4 && s.conn != nil && s.hear4.conn == nil {
		errs = append(errs, s.openHearARP(attrs))
	}
	if hasV6 && s.na == nil {
		c, err := openNA(attrs.Index, attrs.Name)
		s.na = c
		errs = append(errs, err)
	}
	if hasV6 && s.dad == nil && canProbeDAD(attrs) {
		c, err := openSendOnly(attrs, etherTypeIPv6, "DAD probe")
		s.dad = c
		errs = append(errs, err)
	}
	if hasV6 && s.na != nil && s.hear6.conn == nil {
		c, err := openHearNA(attrs.Index, attrs.Name)
		if err == nil {
			s.hear6.open(c)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// closeSenders closes the announcement sockets and those hearing other
// hosts' (their readers then wait for the next). Called with s.mu held.
func (s *VIPSet) closeSenders() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	s.hear4.close()
	s.hear6.close()
	if s.na != nil {
		s.na.Close()
		s.na = nil
	}
	if s.dad != nil {
		s.dad.Close()
		s.dad = nil
	}
}

// openARP opens the send-only packet socket for gratuitous ARP and ARP
// probes.
func openARP(attrs *netlink.LinkAttrs) (net.PacketConn, error) {
	if len(attrs.HardwareAddr) != 6 {
		return nil, fmt.Errorf("opening ARP socket on %s: no Ethernet address (%q)", attrs.Name, attrs.HardwareAddr)
	}
	if attrs.RawFlags&unix.IFF_NOARP != 0 {
		return nil, fmt.Errorf("opening ARP socket on %s: interface has NOARP", attrs.Name)
	}
	return openSendOnly(attrs, etherTypeARP, "ARP")
}

// canProbeDAD reports whether the link can carry DADProbeFrame: an
// Ethernet address, and neighbour discovery (not NOARP, which turns it
// off for IPv6 too).
func canProbeDAD(attrs *netlink.LinkAttrs) bool {
	return len(attrs.HardwareAddr) == 6 && attrs.RawFlags&unix.IFF_NOARP == 0
}

// openSendOnly opens a send-only packet socket (what, for errors) whose
// frames carry etherType.
func openSendOnly(attrs *netlink.LinkAttrs, etherType uint16, what string) (net.PacketConn, error) {
	// The socket only sends: a filter that accepts nothing keeps the
	// kernel from queueing every frame of its EtherType for us.
	drop, err := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	if err != nil {
		return nil, fmt.Errorf("assembling BPF filter: %w", err)
	}
	ifi := &net.Interface{Index: attrs.Index, Name: attrs.Name, HardwareAddr: attrs.HardwareAddr, MTU: attrs.MTU}
	c, err := packet.Listen(ifi, packet.Raw, int(etherType), &packet.Config{Filter: drop})
	if err != nil {
		return nil, fmt.Errorf("opening %s socket on %s: %w", what, attrs.Name, err)
	}
	return c, nil
}

// probe sends a probe for the VIP a from hw: an ARP probe for an IPv4
// VIP (ProbeFrame), a DAD probe for an IPv6 one (DADProbeFrame). A host
// that holds a too answers it, an ARP reply with a as its sender or a
// neighbour advertisement for a, which the VIPSet hears and reports as
// another host's announcement, also when that host never announces a
// itself. Probes go with the refreshes only (during a handover, which
// ends within the burst, the old master still holds the VIPs), and not
// with GARPConfig.NoProbe. A probe that cannot be sent is logged (debug)
// and changes nothing. Called with s.mu held.
func (s *VIPSet) probe(hw net.HardwareAddr, a netip.Addr) {
	var frame []byte
	var err error
	switch {
	case a.Is4() && s.conn != nil:
		frame, err = ProbeFrame(hw, a)
		if err == nil {
			_, err = s.conn.WriteTo(frame, &packet.Addr{HardwareAddr: ethernet.Broadcast})
		}
	case a.Is6() && s.dad != nil:
		frame, err = DADProbeFrame(hw, a)
		if err == nil {
			_, err = s.dad.WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(frame[0:6])})
		}
	default:
		return
	}
	if err != nil {
		s.log.Debug("probe failed", zap.Stringer("vip", a), zap.Error(err))
	}
}

// announce sends one gratuitous ARP for every IPv4 VIP and one unsolicited
// neighbour advertisement for every IPv6 VIP that was added, and reports
// each one sent (ReportAnnouncements); with probe (a refresh), an ARP
// probe after each gratuitous ARP. It sends nothing while the VIPSet
// is quiet (StopAnnouncing): it holds the VIPSet's lock throughout, so an
// announcement is either sent and reported before StopAnnouncing returns
// or not sent. The sends of one turn give up after announceWriteTimeout
// (counted as failed), so a link whose frames do not leave holds the lock
// no longer than that. It is the announcer's callback and runs without
// the announcer's lock.
func (s *VIPSet) announce(now time.Time, probe bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.held || s.quiet {
		return
	}
	// Opening may have failed at Acquire (e.g. the link was missing):
	// retry, so the refresh recovers once the link is back. The
	// announcements carry the interface's hardware address as it is now;
	// s.hw is left for the watch (followLink), which restarts the burst
	// when it changes.
	var openErr error
	hw := s.hw
	if link, err := netlink.LinkByName(s.cfg.Interface); err != nil {
		openErr = fmt.Errorf("looking up interface %s: %w", s.cfg.Interface, err)
	} else {
		hw = link.Attrs().HardwareAddr
		openErr = s.openSenders(link.Attrs())
	}
	deadline := time.Now().Add(announceWriteTimeout)
	if s.conn != nil {
		s.conn.SetWriteDeadline(deadline)
	}
	if s.na != nil {
		s.na.p.SetWriteDeadline(deadline)
	}
	if s.dad != nil {
		s.dad.SetWriteDeadline(deadline)
	}
	for _, v := range s.vips {
		if !v.owned {
			continue
		}
		var err error
		a := v.prefix.Addr()
		switch {
		case a.Is4() && s.conn != nil:
			var frame []byte
			frame, err = GARPFrame(hw, a)
			if err == nil {
				_, err = s.conn.WriteTo(frame, &packet.Addr{HardwareAddr: ethernet.Broadcast})
				if err != nil {
					err = fmt.Errorf("sending gratuitous ARP for %s: %w", a, err)
				}
			}

		case a.Is6() && s.na != nil:
			err = s.na.send(hw, a)
		default:
			err = openErr
			if err == nil {
				continue // nothing to announce with on this link
			}
		}
		if err != nil {
			v.announceErr = err.Error()
			s.m.inc(vipGarpErrors)
			s.log.Debug("announcement failed", zap.Error(err))
			continue
		}
		v.garpSent++
		v.lastGARP = now
		// The system's wall clock, not s.clock: heard compares it
		// with the kernel's receive timestamps.
		v.lastOwnSent = time.Now()
		v.announceErr = ""
		s.m.inc(vipGarpSent)
		if s.hearReport != nil {
			s.hearReport(a, true)
		}
		// After the bookkeeping of our own: the answer of a host that
		// holds the VIP too comes after it.
		if probe {
			s.probe(hw, a)
		}
	}
}
