package netsetup

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/ipv6"
)

// sendARPFrom sends a gratuitous ARP for ip from hw on ifname in namespace
// ns (another host of the lab).
func sendARPFrom(t *testing.T, ns, ifname string, hw net.HardwareAddr, ip netip.Addr) {
	t.Helper()
	c := captureEther(t, ns, ifname, etherTypeARP)
	f, err := GARPFrame(hw, ip)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.c.WriteTo(f, &packet.Addr{HardwareAddr: ethernet.Broadcast}); err != nil {
		t.Fatalf("sending ARP from %s: %v", ns, err)
	}
	c.c.Close()
}

// runHearing makes a VIPSet for cfg that reports the announcements it
// hears on the returned channel, and runs it until the test ends.
func runHearing(t *testing.T, cfg VIPConfig) (*VIPSet, <-chan netip.Addr) {
	t.Helper()
	s, err := NewVIPSet(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	heard := make(chan netip.Addr, 100)
	s.ReportAnnouncements(func(a netip.Addr, own bool) {
		if !own {
			heard <- a
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { s.Run(ctx); close(ran) }()
	t.Cleanup(func() {
		cancel()
		<-ran
	})
	return s, heard
}

// nextHeard returns the next VIP reported as announced by another host.
func nextHeard(t *testing.T, heard <-chan netip.Addr) netip.Addr {
	t.Helper()
	select {
	case a := <-heard:
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("no announcement reported within 5 s")
		return netip.Addr{}
	}
}

// TestVIPSetHearsAnnouncementsNetns: while it holds its VIPs, a VIPSet
// reports the gratuitous ARPs of another host for them, and only those:
// not its own, not another host's for other addresses, not while released.
func TestVIPSetHearsAnnouncementsNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	macB := mustMAC(t, l.MACB)
	vip1 := netip.MustParsePrefix("10.201.0.100/24")
	vip2 := netip.MustParsePrefix("10.201.0.101/32")
	s, heard := runHearing(t, VIPConfig{Interface: l.IfA, VIPs: []netip.Prefix{vip1, vip2}})
	ctx := context.Background()
	if err := s.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	// Our own gratuitous ARP for vip1 went out in Acquire, and B's for
	// its own address is no VIP: the first report must be B's for vip2.
	sendARPFrom(t, l.NSB, l.IfB, macB, netip.MustParseAddr("10.201.0.2"))
	sendARPFrom(t, l.NSB, l.IfB, macB, vip2.Addr())
	if a := nextHeard(t, heard); a != vip2.Addr() {
		t.Fatalf("first announcement reported: %v, want %v (B's)", a, vip2.Addr())
	}
	snap := s.Snapshot()
	if v := snap.VIPs[1]; v.PeerAnnounced != 1 || v.LastPeerMAC != macB.String() || v.LastPeerAnnounce.IsZero() {
		t.Fatalf("vip2 snapshot %+v", v)
	}
	if v := snap.VIPs[0]; v.PeerAnnounced != 0 {
		t.Fatalf("vip1 snapshot %+v: our own announcements counted", v)
	}

	// Released: nothing is heard. B's announcement of vip1 now must not
	// come before its announcement of vip2 once held again.
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}
	sendARPFrom(t, l.NSB, l.IfB, macB, vip1.Addr())
	if err := s.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	sendARPFrom(t, l.NSB, l.IfB, macB, vip2.Addr())
	if a := nextHeard(t, heard); a != vip2.Addr() {
		t.Fatalf("announcement reported after a release and a new acquire: %v, want %v", a, vip2.Addr())
	}
	sendARPFrom(t, l.NSB, l.IfB, macB, vip1.Addr())
	if a := nextHeard(t, heard); a != vip1.Addr() {
		t.Fatalf("announcement reported: %v, want %v", a, vip1.Addr())
	}
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// sendNAFrom sends, from src on ifname in namespace ns (a host of the
// lab), an unsolicited neighbour advertisement saying that target is at
// hw, to ff02::1 with the given hop limit.
func sendNAFrom(t *testing.T, ns, ifname string, src netip.Addr, hw net.HardwareAddr, target netip.Addr, hopLimit int) {
	t.Helper()
	msg, err := UnsolicitedNA(hw, target)
	if err != nil {
		t.Fatal(err)
	}
	inNS(t, ns, func() {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			t.Fatalf("looking up %s in %s: %v", ifname, ns, err)
		}
		c, err := net.ListenPacket("ip6:ipv6-icmp", "::")
		if err != nil {
			t.Fatalf("opening ICMPv6 socket in %s: %v", ns, err)
		}
		defer c.Close()
		p := ipv6.NewPacketConn(c)
		if err := p.SetMulticastHopLimit(hopLimit); err != nil {
			t.Fatal(err)
		}
		cm := &ipv6.ControlMessage{HopLimit: hopLimit, Src: src.AsSlice(), IfIndex: ifi.Index}
		if _, err := p.WriteTo(msg, cm, &net.IPAddr{IP: allNodes.AsSlice()}); err != nil {
			t.Fatalf("sending neighbour advertisement from %s: %v", ns, err)
		}
	})
}

// TestVIPSetHearsAdvertisementsNetns: while it holds its IPv6 VIPs, a
// VIPSet reports the neighbour advertisements of another host for them,
// and only those: not its own, nor one this host sends with its MAC, not
// another host's for other addresses, not one that crossed a router (hop
// limit below 255), not while released.
func TestVIPSetHearsAdvertisementsNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	macA, macB := mustMAC(t, l.MACA), mustMAC(t, l.MACB)
	srcA, srcB := netip.MustParseAddr("fd00:201::1"), netip.MustParseAddr("fd00:201::2")
	vip1 := netip.MustParsePrefix("fd00:201::100/64")
	vip2 := netip.MustParsePrefix("fd00:201::101/128")
	s, heard := runHearing(t, VIPConfig{Interface: l.IfA, VIPs: []netip.Prefix{vip1, vip2}, GARP: GARPConfig{Count: 3, Interval: 100 * time.Millisecond, Refresh: -1}})
	ctx := context.Background()
	if err := s.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	// Our own advertisements went out in Acquire; this host advertises
	// vip2 with our MAC, B its own address, and B vip2 through a router:
	// the first report must be B's for vip1.
	sendNAFrom(t, l.NSA, l.IfA, srcA, macA, vip2.Addr(), 255)
	sendNAFrom(t, l.NSB, l.IfB, srcB, macB, srcB, 255)
	sendNAFrom(t, l.NSB, l.IfB, srcB, macB, vip2.Addr(), 64)
	sendNAFrom(t, l.NSB, l.IfB, srcB, macB, vip1.Addr(), 255)
	if a := nextHeard(t, heard); a != vip1.Addr() {
		t.Fatalf("first advertisement reported: %v, want %v (B's)", a, vip1.Addr())
	}
	snap := s.Snapshot()
	if v := snap.VIPs[0]; v.PeerAnnounced != 1 || v.LastPeerMAC != macB.String() || v.LastPeerAnnounce.IsZero() {
		t.Fatalf("vip1 snapshot %+v", v)
	}
	if v := snap.VIPs[1]; v.PeerAnnounced != 0 {
		t.Fatalf("vip2 snapshot %+v: our own or a routed advertisement counted", v)
	}

	// Released: nothing is heard. B's advertisement of vip2 now must not
	// come before its advertisement of vip1 once held again.
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}
	sendNAFrom(t, l.NSB, l.IfB, srcB, macB, vip2.Addr(), 255)
	if err := s.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	sendNAFrom(t, l.NSB, l.IfB, srcB, macB, vip1.Addr(), 255)
	if a := nextHeard(t, heard); a != vip1.Addr() {
		t.Fatalf("advertisement reported after a release and a new acquire: %v, want %v", a, vip1.Addr())
	}
	sendNAFrom(t, l.NSB, l.IfB, srcB, macB, vip2.Addr(), 255)
	if a := nextHeard(t, heard); a != vip2.Addr() {
		t.Fatalf("advertisement reported: %v, want %v", a, vip2.Addr())
	}
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestVIPSetReportsOwnAnnouncementsNetns: a VIPSet reports its own
// announcements beside other hosts', in order, one report per
// announcement sent; after StopAnnouncing it sends and reports none (the
// schedule's next one included) while it still reports other hosts';
// ResumeAnnouncing announces nothing by itself; the next Acquire does.
func TestVIPSetReportsOwnAnnouncementsNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	macB := mustMAC(t, l.MACB)
	vip := netip.MustParsePrefix("10.201.0.100/24")
	const interval = 20 * time.Millisecond
	s, err := NewVIPSet(VIPConfig{Interface: l.IfA, VIPs: []netip.Prefix{vip}, GARP: GARPConfig{Count: 50, Interval: interval, Refresh: -1}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reports := make(chan announcementReport, 1000)
	s.ReportAnnouncements(func(a netip.Addr, own bool) { reports <- announcementReport{a, own} })
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { s.Run(ctx); close(ran) }()
	t.Cleanup(func() {
		cancel()
		<-ran
	})
	next := func(what string) announcementReport {
		t.Helper()
		select {
		case r := <-reports:
			return r
		case <-time.After(5 * time.Second):
			t.Fatalf("no report within 5 s, waiting for %s", what)
			return announcementReport{}
		}
	}
	// none reports the reports that came within d.
	none := func(d time.Duration) []announcementReport {
		var got []announcementReport
		deadline := time.After(d)
		for {
			select {
			case r := <-reports:
				got = append(got, r)
			case <-deadline:
				return got
			}
		}
	}

	before := time.Now()
	if err := s.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	// It went out by the wall clock heard compares receive times with.
	s.mu.Lock()
	ownSent := s.vips[0].lastOwnSent
	s.mu.Unlock()
	if ownSent.Before(before) || ownSent.After(time.Now()) {
		t.Fatalf("own announcement recorded as sent at %v, want during Acquire (from %v)", ownSent, before)
	}
	// Acquire's announcement is reported before Acquire returns.
	select {
	case r := <-reports:
		if r != (announcementReport{vip.Addr(), true}) {
			t.Fatalf("first report %+v, want our own announcement of %v", r, vip.Addr())
		}
	default:
		t.Fatal("Acquire returned before its announcement was reported")
	}
	// The schedule's next ones are reported too, then B's.
	if r := next("the schedule's second announcement"); r != (announcementReport{vip.Addr(), true}) {
		t.Fatalf("report %+v, want our own", r)
	}
	sendARPFrom(t, l.NSB, l.IfB, macB, vip.Addr())
	for {
		r := next("B's announcement")
		if !r.own {
			break
		}
	}

	s.StopAnnouncing()
	sent := s.Snapshot().VIPs[0].GARPSent
	// Reports made before StopAnnouncing returned are already queued (an
	// announcement of the schedule may have gone out since B's): they are
	// drained; nothing of ours may come after it.
	for drained := false; !drained; {
		select {
		case <-reports:
		default:
			drained = true
		}
	}
	var own int
	for _, r := range none(5 * interval) {
		if r.own {
			own++
		}
	}
	if own > 0 {
		t.Fatalf("%d announcements of ours reported after StopAnnouncing returned", own)
	}
	if got := s.Snapshot().VIPs[0].GARPSent; got != sent {
		t.Fatalf("%d announcements sent after StopAnnouncing returned", got-sent)
	}
	// Other hosts' are still reported.
	sendARPFrom(t, l.NSB, l.IfB, macB, vip.Addr())
	if r := next("B's announcement while quiet"); r != (announcementReport{vip.Addr(), false}) {
		t.Fatalf("report %+v while quiet, want B's", r)
	}
	s.ResumeAnnouncing()
	if got := none(5 * interval); len(got) > 0 {
		t.Fatalf("reports after ResumeAnnouncing alone: %+v", got)
	}
	if err := s.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if r := next("Acquire's announcement after ResumeAnnouncing"); r != (announcementReport{vip.Addr(), true}) {
		t.Fatalf("report %+v, want our own", r)
	}
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// announcementReport is one call of the function given to
// ReportAnnouncements.
type announcementReport struct {
	addr netip.Addr
	own  bool
}

// TestHearSocketsStampReceptionNetns: the sockets that hear other hosts'
// announcements give the time the kernel received each one, not the time
// it was read: an announcement that waited in the queue while this host
// sent one of its own must be known as the earlier of the two (see
// VIPSet.heard).
func TestHearSocketsStampReceptionNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	macB := mustMAC(t, l.MACB)
	vip4 := netip.MustParsePrefix("10.201.0.100/24")
	vip6 := netip.MustParsePrefix("fd00:201::100/64")
	srcB := netip.MustParseAddr("fd00:201::2")
	link, err := netlink.LinkByName(l.IfA)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewVIPSet(VIPConfig{Interface: l.IfA, VIPs: []netip.Prefix{vip4}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	err = s.openHearARP(link.Attrs())
	arp := s.hear4.conn
	s.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	defer arp.Close()
	na, err := openHearNA(link.Attrs().Index, l.IfA)
	if err != nil {
		t.Fatal(err)
	}
	defer na.Close()

	const wait = 100 * time.Millisecond
	buf := make([]byte, 1514)
	// The kernel turns reception stamps on a moment after the first
	// socket of the host asks for them (a deferred work item); until
	// then frames are stamped as they are read. Wait for the switch.
	for start := time.Now(); ; {
		sendARPFrom(t, l.NSB, l.IfB, macB, vip4.Addr())
		time.Sleep(10 * time.Millisecond)
		read := time.Now()
		if _, _, rx, err := arp.next(buf); err != nil {
			t.Fatal(err)
		} else if read.Sub(rx) > 5*time.Millisecond {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("the kernel did not stamp frames at reception within 5 s")
		}
	}
	for _, c := range []struct {
		name string
		conn hearConn
		send func()
		want netip.Addr
	}{
		{"gratuitous ARP", arp, func() { sendARPFrom(t, l.NSB, l.IfB, macB, vip4.Addr()) }, vip4.Addr()},
		{"neighbour advertisement", na, func() { sendNAFrom(t, l.NSB, l.IfB, srcB, macB, vip6.Addr(), 255) }, vip6.Addr()},
	} {
		before := time.Now()
		c.send()
		after := time.Now()
		time.Sleep(wait) // it waits in the queue
		read := time.Now()
		hw, ip, rx, err := c.conn.next(buf)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ip != c.want || hw.String() != macB.String() {
			t.Fatalf("%s: heard %v at %v, want %v at %v", c.name, ip, hw, c.want, macB)
		}
		if rx.Before(before) || rx.After(after) {
			t.Fatalf("%s: received at %v, want between %v and %v (sent), not near %v (read)", c.name,
				rx.Format(time.StampMicro), before.Format(time.StampMicro), after.Format(time.StampMicro), read.Format(time.StampMicro))
		}
	}
}

// TestVIPSetProbeFindsSilentHolderNetns: a host that holds the VIPs
// beside this one and never announces them (added by hand: Linux sends
// nothing for an IPv4 address, nor for an IPv6 one added without DAD) is
// found by the probes that go with a refresh: its answers, an ARP reply
// to the ARP probe and a neighbour advertisement to the DAD probe, are
// reported as its announcements, with its MAC.
func TestVIPSetProbeFindsSilentHolderNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	macB := mustMAC(t, l.MACB)
	vip4 := netip.MustParsePrefix("10.201.0.100/24")
	vip6 := netip.MustParsePrefix("fd00:201::100/64")
	run(t, "ip", "-n", l.NSB, "addr", "add", vip4.String(), "dev", l.IfB)
	run(t, "ip", "-n", l.NSB, "addr", "add", vip6.String(), "dev", l.IfB, "nodad")
	t.Cleanup(func() {
		run(t, "ip", "-n", l.NSB, "addr", "del", vip4.String(), "dev", l.IfB)
		run(t, "ip", "-n", l.NSB, "addr", "del", vip6.String(), "dev", l.IfB)
	})
	s, heard := runHearing(t, VIPConfig{Interface: l.IfA, VIPs: []netip.Prefix{vip4, vip6},
		GARP: GARPConfig{Count: 1, Interval: 100 * time.Millisecond, Refresh: 300 * time.Millisecond}})
	ctx := context.Background()
	if err := s.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	found := map[netip.Addr]bool{}
	for deadline := time.Now().Add(5 * time.Second); len(found) < 2 && time.Now().Before(deadline); {
		found[nextHeard(t, heard)] = true
	}
	if !found[vip4.Addr()] || !found[vip6.Addr()] {
		t.Fatalf("reported %v, want %v and %v", found, vip4.Addr(), vip6.Addr())
	}
	for _, v := range s.Snapshot().VIPs {
		if v.PeerAnnounced == 0 || v.LastPeerMAC != macB.String() {
			t.Errorf("%s: %d announcements of another host, the last from %q; want B's (%s)", v.Prefix, v.PeerAnnounced, v.LastPeerMAC, macB)
		}
	}
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
