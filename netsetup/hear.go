package netsetup

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ReportAnnouncements registers report, which the VIPSet calls with a VIP
// and own false each time another host announces it while the VIPSet
// holds it: for an IPv4 VIP an ARP request or reply (a gratuitous ARP
// among them) whose sender protocol address is the VIP and whose sender
// hardware address is not this interface's; for an IPv6 VIP a Neighbor
// Advertisement (an unsolicited one among them) received with hop limit
// 255 whose target is the VIP and whose Target Link-Layer Address option
// is not this interface's address. It calls report with own true each
// time it has announced a VIP itself: the clients that heard that point
// at this host again, whatever another host announced before.
//
// The calls for one VIP come in the order of the events, and a call for
// an announcement of its own is made before StopAnnouncing can return:
// once StopAnnouncing has returned, the last call for a VIP tells who
// announced it last. report must only record what it is told and return;
// it may be called from several goroutines at once (IPv4, IPv6, the
// announcements of its own) and with the VIPSet's lock held, so it must
// not call the VIPSet. The vrrp package's Instance registers itself when
// it runs with the VIPSet as its Owner: a master that gives way to
// another router then keeps the VIPs until the new master announced them
// after its own last announcement. A later call replaces report; nil
// unregisters it.
func (s *VIPSet) ReportAnnouncements(report func(addr netip.Addr, own bool)) {
	s.mu.Lock()
	s.hearReport = report
	s.mu.Unlock()
}

// hearConn is a socket that hears other hosts announce addresses.
type hearConn interface {
	// next reads until a message announces an address and returns the
	// link-layer address it gives for it, the address and when the
	// kernel received the message (zero if it did not say), or the
	// error of the read.
	next(buf []byte) (net.HardwareAddr, netip.Addr, time.Time, error)
	Close() error
}

// hearSlot is where one socket hearing other hosts is kept: ARP for the
// IPv4 VIPs, neighbour advertisements for the IPv6 ones. conn is guarded
// by VIPSet.mu: openSenders opens it, closeSenders and a failed read
// close it and set it to nil. kick (capacity 1) tells the slot's reader,
// one of Run's goroutines (hearLoop), that conn was opened.
type hearSlot struct {
	conn hearConn
	kick chan struct{}
}

// open puts c into the slot and wakes its reader. Called with VIPSet.mu
// held.
func (h *hearSlot) open(c hearConn) {
	h.conn = c
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// close closes the slot's socket, if any (its reader then waits for the
// next). Called with VIPSet.mu held.
func (h *hearSlot) close() {
	if h.conn != nil {
		h.conn.Close()
		h.conn = nil
	}
}

// maxFilteredVIPs is the most VIPs the listening socket's filter matches
// one by one (a conditional jump skips at most 255 instructions); with
// more, every ARP frame is read and the VIP matched here.
const maxFilteredVIPs = 250

// openHearARP opens the socket that hears other hosts announce the IPv4
// VIPs with ARP. Called with s.mu held, from openSenders.
func (s *VIPSet) openHearARP(attrs *netlink.LinkAttrs) error {
	var vips []netip.Addr
	for _, v := range s.vips {
		if v.prefix.Addr().Is4() {
			vips = append(vips, v.prefix.Addr())
		}
	}
	if len(vips) == 0 {
		return nil
	}
	prog, err := bpf.Assemble(arpSenderFilter(vips))
	if err != nil {
		return fmt.Errorf("assembling BPF filter: %w", err)
	}
	ifi := &net.Interface{Index: attrs.Index, Name: attrs.Name, HardwareAddr: attrs.HardwareAddr, MTU: attrs.MTU}
	c, err := packet.Listen(ifi, packet.Raw, etherTypeARP, &packet.Config{Filter: prog})
	if err != nil {
		return fmt.Errorf("opening the socket that hears announcements of the VIPs on %s: %w", attrs.Name, err)
	}
	rc, err := c.SyscallConn()
	if err == nil {
		err = enableRxStamps(rc)
	}
	if err != nil {
		c.Close()
		return fmt.Errorf("opening the socket that hears announcements of the VIPs on %s: %w", attrs.Name, err)
	}
	s.hear4.open(&arpHear{c: c, rc: rc, oob: make([]byte, oobStampLen)})
	return nil
}

// arpHear hears ARP frames on one interface, with the time each was
// received. Its reads go through rc (recvmsg, for the timestamp); Close
// closes c, which ends a read under way.
type arpHear struct {
	c   *packet.Conn
	rc  syscall.RawConn
	oob []byte
}

func (h *arpHear) next(buf []byte) (net.HardwareAddr, netip.Addr, time.Time, error) {
	for {
		n, oobn, err := recvStamped(h.rc, buf, h.oob)
		if err != nil {
			return nil, netip.Addr{}, time.Time{}, err
		}
		hw, ip, err := ARPSender(buf[:n])
		if err != nil {
			continue
		}
		// Without a readable timestamp the frame counts as received
		// now (zero): the VIPSet then takes it as it comes.
		cm, _ := parseControl(h.oob[:oobn])
		return hw, ip, cm.rx, nil
	}
}

func (h *arpHear) Close() error { return h.c.Close() }

// arpSenderFilter is a classic BPF program for an AF_PACKET socket of
// EtherType ARP that passes only frames received (not sent by this host)
// whose ARP sender protocol address is one of vips.
func arpSenderFilter(vips []netip.Addr) []bpf.Instruction {
	n := len(vips)
	if n > maxFilteredVIPs {
		n = 0
	}
	prog := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: uint8(n + 1)}, // to the drop
	}
	if n == 0 {
		return append(prog, bpf.RetConstant{Val: 0xffff}, bpf.RetConstant{Val: 0})
	}
	prog = append(prog, bpf.LoadAbsolute{Off: arpOffSenderIP, Size: 4})
	for i, a := range vips {
		ip := a.As4()
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: binary.BigEndian.Uint32(ip[:]), SkipTrue: uint8(n - i)}) // to the accept
	}
	return append(prog, bpf.RetConstant{Val: 0}, bpf.RetConstant{Val: 0xffff})
}

// hearLoop reads the socket of slot h whenever there is one (Acquire
// opens it, Release closes it) and reports the announcements of held VIPs
// by other hosts, until ctx is done and the socket is closed. Run owns it,
// one per slot.
func (s *VIPSet) hearLoop(ctx context.Context, h *hearSlot) {
	buf := make([]byte, 1514)
	for {
		s.mu.Lock()
		c := h.conn
		s.mu.Unlock()
		if c == nil {
			select {
			case <-ctx.Done():
				return
			case <-h.kick:
				continue
			}
		}
		err := s.hearFrom(c, buf)
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		if h.conn == c {
			// Not closed by us (the interface went away, say): drop
			// it; the next announcement or Acquire opens another.
			s.log.Debug("the socket hearing announcements failed", zap.Error(err))
			h.close()
		}
		s.mu.Unlock()
	}
}

// hearFrom reads c until it fails, and returns the error.
func (s *VIPSet) hearFrom(c hearConn, buf []byte) error {
	for {
		hw, ip, rx, err := c.next(buf)
		if err != nil {
			return err
		}
		s.heard(hw, ip, rx)
	}
}

// heard records that the host with hardware address hw announced ip, in a
// message the kernel received at rx (zero: unknown), and reports it if ip
// is a VIP the VIPSet holds, hw is not ours, and the announcement came
// after the VIPSet's own last one: one received before it, that waited in
// the socket's queue while ours went out, was superseded by ours (the
// clients that heard both point at this host), and is counted but not
// reported. One from another interface of this host is no other host's:
// Linux answers ARP for an address of any of its interfaces on each of
// them (net.ipv4.conf.*.arp_ignore 0, the default), so a host with two
// interfaces on the VIP's link answers for the VIP from both; the clients
// that hear either reach this host.
func (s *VIPSet) heard(hw net.HardwareAddr, ip netip.Addr, rx time.Time) {
	// The host's interfaces are read (a netlink dump) only for what would
	// be reported: a VIP held, heard from another interface.
	if s.heldVIP(hw, ip) == nil {
		return
	}
	if name, ok := s.hostInterface(hw); ok {
		s.log.Debug("another interface of this host announced a VIP: not another host",
			zap.Stringer("vip", ip), zap.String("interface", name), zap.Stringer("mac", hw))
		return
	}
	now := s.clock.Now()
	s.mu.Lock()
	// Again: the VIPs may have been released or changed meanwhile.
	v := s.heldVIPLocked(hw, ip)
	if v == nil {
		s.mu.Unlock()
		return
	}
	v.peerAnnounced++
	v.lastPeerAnnounce = now
	v.lastPeerMAC = hw.String()
	if !rx.IsZero() && !v.lastOwnSent.IsZero() && !rx.After(v.lastOwnSent) {
		v.peerSuperseded++
		s.mu.Unlock()
		s.log.Debug("another host announced a VIP we hold, before our own last announcement", zap.Stringer("vip", ip), zap.Stringer("mac", hw),
			zap.Duration("before_ours", v.lastOwnSent.Sub(rx)))
		return
	}
	// Reported with the lock held, so that it cannot overtake the
	// report of an announcement of our own made after it.
	if s.hearReport != nil {
		s.hearReport(ip, false)
	}
	s.mu.Unlock()
	s.log.Debug("another host announced a VIP we hold", zap.Stringer("vip", ip), zap.Stringer("mac", hw))
}

// heldVIP returns the state of VIP ip when the VIPSet holds it and hw is
// not its interface's hardware address, else nil.
func (s *VIPSet) heldVIP(hw net.HardwareAddr, ip netip.Addr) *vipState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.heldVIPLocked(hw, ip)
}

// heldVIPLocked is heldVIP for a caller that holds s.mu.
func (s *VIPSet) heldVIPLocked(hw net.HardwareAddr, ip netip.Addr) *vipState {
	if !s.held || bytes.Equal(hw, s.hw) {
		return nil
	}
	var v *vipState
	for _, x := range s.vips {
		if x.prefix.Addr() == ip {
			v = x
		}
	}
	return v
}

// hostInterfaceWith returns the name of this host's interface (in the
// calling process's network namespace) whose hardware address is hw, and
// false when none has it, hw is empty, or the interfaces cannot be read.
func hostInterfaceWith(hw net.HardwareAddr) (string, bool) {
	if len(hw) == 0 {
		return "", false
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return "", false
	}
	for _, ifi := range ifs {
		if bytes.Equal(ifi.HardwareAddr, hw) {
			return ifi.Name, true
		}
	}
	return "", false
}

// StopAnnouncing stops the scheduled announcements while the VIPs stay
// held (vrrp.Quieter): a VRRP router that gave way to a new master keeps
// its VIPs until the new master announced them, and must not take the
// clients back meanwhile. Nothing announces them again until
// ResumeAnnouncing or Release: not an announcement of the schedule that
// was due as StopAnnouncing was called, not an Acquire that was under
// way, nor a VIP put back or added meanwhile. An announcement being sent
// as it is called is sent, and reported (ReportAnnouncements), before it
// returns. It is safe from any goroutine and waits for nothing else.
func (s *VIPSet) StopAnnouncing() {
	s.mu.Lock()
	s.quiet = true
	s.mu.Unlock()
	s.ann.silence()
}

// ResumeAnnouncing ends what StopAnnouncing began: the next Acquire
// announces the VIPs (vrrp.Quieter). It announces nothing itself. It
// returns at once and is safe from any goroutine.
func (s *VIPSet) ResumeAnnouncing() {
	s.ann.resume()
	s.mu.Lock()
	s.quiet = false
	s.mu.Unlock()
}
