package netsetup

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
)

// arpCapture reads ARP (or other) frames on the B side of the lab.
type arpCapture struct {
	c *packet.Conn
}

// captureARP opens a packet socket for ARP frames on ifname in namespace ns.
func captureARP(t *testing.T, ns, ifname string) *arpCapture {
	t.Helper()
	return captureEther(t, ns, ifname, etherTypeARP)
}

// captureEther opens a packet socket for one EtherType on ifname in
// namespace ns.
func captureEther(t *testing.T, ns, ifname string, etherType int) *arpCapture {
	t.Helper()
	var c *packet.Conn
	inNS(t, ns, func() {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			t.Fatalf("looking up %s in %s: %v", ifname, ns, err)
		}
		c, err = packet.Listen(ifi, packet.Raw, etherType, nil)
		if err != nil {
			t.Fatalf("opening capture on %s in %s: %v", ifname, ns, err)
		}
	})
	t.Cleanup(func() { c.Close() })
	return &arpCapture{c: c}
}

// garps returns the next n gratuitous ARP frames (ARP request with sender
// IP = target IP) sent from mac, waiting up to timeout in total.
func (a *arpCapture) garps(t *testing.T, mac net.HardwareAddr, n int, timeout time.Duration) [][]byte {
	t.Helper()
	var out [][]byte
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 2048)
	for len(out) < n {
		a.c.SetReadDeadline(deadline)
		k, _, err := a.c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("got %d gratuitous ARPs, want %d: %v", len(out), n, err)
		}
		f := buf[:k]
		if k < 42 || !bytes.Equal(f[6:12], mac) || f[21] != 1 || !bytes.Equal(f[28:32], f[38:42]) {
			continue
		}
		out = append(out, bytes.Clone(f))
	}
	return out
}

// nas returns the next n unsolicited neighbour advertisements (ICMPv6 type
// 136 to ff02::1) sent from mac, waiting up to timeout in total. The
// capture must be of EtherType IPv6.
func (a *arpCapture) nas(t *testing.T, mac net.HardwareAddr, n int, timeout time.Duration) [][]byte {
	t.Helper()
	var out [][]byte
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 2048)
	for len(out) < n {
		a.c.SetReadDeadline(deadline)
		k, _, err := a.c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("got %d neighbour advertisements, want %d: %v", len(out), n, err)
		}
		f := buf[:k]
		if k < 14+40+naLen || !bytes.Equal(f[6:12], mac) || f[14+6] != 58 || f[14+40] != 136 {
			continue
		}
		out = append(out, bytes.Clone(f))
	}
	return out
}

// checkNA checks a captured frame byte for byte against the unsolicited
// advertisement for vip from mac. The flow label is not checked (Linux may
// set one, net.ipv6.auto_flowlabels).
func checkNA(t *testing.T, f []byte, mac net.HardwareAddr, vip netip.Addr) {
	t.Helper()
	msg, err := UnsolicitedNA(mac, vip)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint16(msg[2:4], icmpv6Checksum(vip, allNodes, msg))
	want := []byte{0x33, 0x33, 0, 0, 0, 1} // Ethernet multicast for ff02::1
	want = append(want, mac...)
	want = append(want, 0x86, 0xdd)
	want = append(want, 0x60, f[15]&0x0f, f[16], f[17]) // version 6, traffic class 0, flow label as sent
	want = append(want, 0, naLen, 58, 255)              // payload length, ICMPv6, hop limit 255
	want = append(want, vip.AsSlice()...)
	want = append(want, allNodes.AsSlice()...)
	want = append(want, msg...)
	if !bytes.Equal(f, want) {
		t.Errorf("captured advertisement\n% x\nwant\n% x", f, want)
	}
}

// neighMAC returns the lladdr of ip in namespace ns's neighbour table.
func neighMAC(t *testing.T, ns, ifname string, ip netip.Addr) string {
	t.Helper()
	out := run(t, "ip", "-n", ns, "-j", "neigh", "show", ip.String(), "dev", ifname)
	var entries []struct {
		LLAddr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("parsing ip neigh output %q: %v", out, err)
	}
	if len(entries) == 0 {
		return ""
	}
	return entries[0].LLAddr
}

// gathered returns the value of the single series of a gauge or counter.
func gathered(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) != 1 {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// addrsOf lists the addresses of ifname (via netlink.AddrList, an
// implementation independent of ours) as "prefix label" strings.
func addrsOf(t *testing.T, ifname string) map[netip.Addr]string {
	t.Helper()
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	as, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	m := map[netip.Addr]string{}
	for _, a := range as {
		ip, _ := netip.AddrFromSlice(a.IP)
		bits, _ := a.Mask.Size()
		m[ip.Unmap()] = netip.PrefixFrom(ip.Unmap(), bits).String() + " " + a.Label
	}
	return m
}

func TestVIPSetNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	macA := mustMAC(t, l.MACA)
	vip1 := netip.MustParsePrefix("10.201.0.100/24")
	vip2 := netip.MustParsePrefix("10.201.0.101/32")
	vip6 := netip.MustParsePrefix("fd00:201::100/64")
	wantLabel := l.IfA + ":rmqlb"

	// B talked to the VIP when another host owned it: a stale entry with
	// another MAC. arp_accept=0 (the default, set explicitly) means B only
	// updates entries it already has, which is the failover case.
	run(t, "ip", "netns", "exec", l.NSB, "sysctl", "-qw", "net.ipv4.conf."+l.IfB+".arp_accept=0")
	run(t, "ip", "-n", l.NSB, "neigh", "replace", vip1.Addr().String(), "lladdr", "02:00:00:00:99:99", "dev", l.IfB, "nud", "stale")
	run(t, "ip", "-n", l.NSB, "neigh", "replace", vip6.Addr().String(), "lladdr", "02:00:00:00:99:99", "dev", l.IfB, "nud", "stale")

	capB := captureARP(t, l.NSB, l.IfB)
	cap6B := captureEther(t, l.NSB, l.IfB, 0x86dd)

	reg := prometheus.NewPedanticRegistry()
	s, err := NewVIPSet(VIPConfig{
		Interface: l.IfA,
		VIPs:      []netip.Prefix{vip1, vip2, vip6},
		GARP:      GARPConfig{Count: 3, Interval: 100 * time.Millisecond, Refresh: -1},
	}, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Run(ctx) }()
	defer wg.Wait()
	defer cancel()

	if snap := s.Snapshot(); snap.Held || snap.VIPs[0].Present {
		t.Fatalf("before Acquire: snapshot %+v, want not held, not present", snap)
	}

	if err := s.Acquire(ctx); err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	got := addrsOf(t, l.IfA)
	for _, want := range []string{vip1.String() + " " + wantLabel, vip2.String() + " " + wantLabel, vip6.String() + " "} {
		p := netip.MustParsePrefix(strings.Fields(want)[0])
		if got[p.Addr()] != want {
			t.Errorf("after Acquire: address %s is %q, want %q", p.Addr(), got[p.Addr()], want)
		}
	}
	// Our own dump sees the address protocol (Linux >= 6.3).
	link, _ := netlink.LinkByName(l.IfA)
	ours, err := listAddrs(link.Attrs().Index)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range ours {
		isVIP := a.prefix == vip1 || a.prefix == vip2 || a.prefix == vip6
		if isVIP != (a.proto == AddrProto) {
			t.Errorf("address %s has proto %d; VIP: %v", a.prefix, a.proto, isVIP)
		}
	}

	// 3 announcements for each IPv4 VIP, byte for byte; none for IPv6.
	frames := capB.garps(t, macA, 6, 10*time.Second)
	perVIP := map[netip.Addr]int{}
	for _, f := range frames {
		ip, _ := netip.AddrFromSlice(f[28:32])
		perVIP[ip]++
		want, err := GARPFrame(macA, ip)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f, want) {
			t.Errorf("captured frame\n% x\nwant\n% x", f, want)
		}
	}
	if ip := vip1.Addr(); perVIP[ip] != 3 || perVIP[vip2.Addr()] != 3 {
		t.Errorf("gratuitous ARPs per VIP = %v, want 3 each for %s and %s", perVIP, ip, vip2.Addr())
	}
	// The golden frame of garp_test.go is what went on the wire for vip1.
	for _, f := range frames {
		if netip.AddrFrom4([4]byte(f[28:32])) == vip1.Addr() && !bytes.Equal(f, garpGolden) {
			t.Errorf("captured frame for %s\n% x\ndiffers from golden\n% x", vip1.Addr(), f, garpGolden)
		}
	}

	// 3 unsolicited neighbour advertisements for the IPv6 VIP.
	for _, f := range cap6B.nas(t, macA, 3, 10*time.Second) {
		checkNA(t, f, macA, vip6.Addr())
	}

	// B's stale entries now point at A.
	for _, ip := range []netip.Addr{vip1.Addr(), vip6.Addr()} {
		if mac := neighMAC(t, l.NSB, l.IfB, ip); mac != l.MACA {
			t.Errorf("B's neighbour entry for %s = %q, want %q (A)", ip, mac, l.MACA)
		}
	}

	snap := s.Snapshot()
	if !snap.Held || snap.Interface != l.IfA || snap.Label != wantLabel || snap.Error != "" {
		t.Errorf("snapshot %+v, want held on %s with label %s", snap, l.IfA, wantLabel)
	}
	for i, v := range snap.VIPs {
		if !v.Present || !v.Marked || v.GARPSent != 3 || v.LastError != "" || v.LastGARP.IsZero() {
			t.Errorf("snapshot VIP %d = %+v, want present, marked, 3 announcements, no error", i, v)
		}
	}
	if js, err := json.Marshal(snap); err != nil || !strings.Contains(string(js), `"present":true`) {
		t.Errorf("snapshot JSON %s, %v", js, err)
	}
	if n := gathered(t, reg, "rmqlb_vip_garp_sent_total"); n != 9 {
		t.Errorf("rmqlb_vip_garp_sent_total = %v, want 9", n)
	}
	if n := gathered(t, reg, "rmqlb_vip_held"); n != 1 {
		t.Errorf("rmqlb_vip_held = %v, want 1", n)
	}

	// Acquire again (e.g. master again after a blip): idempotent.
	if err := s.Acquire(ctx); err != nil {
		t.Fatalf("second Acquire: %v", err)
	}
	capB.garps(t, macA, 2, 5*time.Second) // a new burst starts at once

	// Release removes all three, and only them.
	if err := s.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	got = addrsOf(t, l.IfA)
	for _, p := range []netip.Prefix{vip1, vip2, vip6} {
		if a, ok := got[p.Addr()]; ok {
			t.Errorf("after Release: %s still present", a)
		}
	}
	for _, keep := range []string{"10.201.0.1", "fd00:201::1"} {
		if _, ok := got[netip.MustParseAddr(keep)]; !ok {
			t.Errorf("after Release: the interface's own address %s is gone", keep)
		}
	}
	snap = s.Snapshot()
	if snap.Held || snap.VIPs[0].Present {
		t.Errorf("after Release: snapshot %+v", snap)
	}
	// Release again: nothing to do, no error.
	if err := s.Release(ctx); err != nil {
		t.Fatalf("second Release: %v", err)
	}
}

func TestVIPSetForeignAddressNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	// An operator added the VIP by hand, without our label.
	vip := netip.MustParsePrefix("10.201.0.110/32")
	run(t, "ip", "addr", "add", vip.String(), "dev", l.IfA)

	s, err := NewVIPSet(VIPConfig{Interface: l.IfA, VIPs: []netip.Prefix{vip}, GARP: GARPConfig{Refresh: -1}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reports := make(faultReports, 4)
	s.ReportFaults(func(err error) { reports <- err })
	err = s.Acquire(context.Background())
	if err == nil || !strings.Contains(err.Error(), "without rmqlb's marker") {
		t.Fatalf("Acquire over a foreign address: %v, want a 'without rmqlb's marker' error", err)
	}
	// Reported as a fault: a master that cannot add its VIP resigns.
	if err := reports.next(t, "a fault"); err == nil || !strings.Contains(err.Error(), "without rmqlb's marker") {
		t.Fatalf("reported %v, want the conflict", err)
	}
	if v := s.Snapshot().VIPs[0]; !v.Present || v.Marked || v.LastError == "" {
		t.Errorf("snapshot %+v, want present, not marked, with error", v)
	}
	if err := s.Release(context.Background()); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if a := addrsOf(t, l.IfA)[vip.Addr()]; a != vip.String()+" "+l.IfA {
		t.Errorf("after Release the foreign address is %q, want it untouched", a)
	}
}

func TestVIPSetMissingInterfaceNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	s, err := NewVIPSet(VIPConfig{Interface: "nosuchif0", VIPs: []netip.Prefix{netip.MustParsePrefix("10.201.0.120/32")}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Acquire(context.Background())
	var nf netlink.LinkNotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("Acquire on a missing interface: %v, want LinkNotFoundError", err)
	}
	if snap := s.Snapshot(); snap.Error == "" || snap.VIPs[0].LastError == "" {
		t.Errorf("snapshot %+v, want errors", snap)
	}
	if err := s.Release(context.Background()); err != nil {
		t.Fatalf("Release on a missing interface: %v, want nil", err)
	}
}

func TestGARPRefreshNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	macA := mustMAC(t, l.MACA)
	capB := captureARP(t, l.NSB, l.IfB)
	s, err := NewVIPSet(VIPConfig{
		Interface: l.IfA,
		VIPs:      []netip.Prefix{netip.MustParsePrefix("10.201.0.130/24")},
		GARP:      GARPConfig{Count: 1, Refresh: 150 * time.Millisecond},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	if err := s.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	// One at once, then the refreshes.
	capB.garps(t, macA, 3, 10*time.Second)
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}
	sent := s.Snapshot().VIPs[0].GARPSent
	if sent < 3 {
		t.Errorf("GARPSent = %d, want >= 3", sent)
	}
	cancel()
	<-done
	// Stopped: the counter no longer moves, whatever the time.
	if again := s.Snapshot().VIPs[0].GARPSent; again != sent {
		t.Errorf("GARPSent moved from %d to %d after Release and Run's end", sent, again)
	}
}

// TestRemoveStaleNetns simulates a SIGKILLed daemon: VIPs acquired and never
// released, next to addresses somebody else added.
func TestRemoveStaleNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	// A second interface with a 14-byte name: no room for a label, the
	// address protocol marks alone.
	long := "rmqlbstale0123"
	addVeth(t, long, "rmqlbstalepeer")

	stale := []netip.Prefix{
		netip.MustParsePrefix("10.201.0.140/24"),
		netip.MustParsePrefix("10.201.0.141/32"),
		netip.MustParsePrefix("fd00:201::140/64"),
	}
	s, err := NewVIPSet(VIPConfig{Interface: l.IfA, VIPs: stale, GARP: GARPConfig{Count: 1, Refresh: -1}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	staleLong := netip.MustParsePrefix("10.202.0.140/32")
	s2, err := NewVIPSet(VIPConfig{Interface: long, VIPs: []netip.Prefix{staleLong}, GARP: GARPConfig{Count: 1, Refresh: -1}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Another daemon's tag on the same interface.
	other, err := NewVIPSet(VIPConfig{Interface: l.IfA, Label: "other", VIPs: []netip.Prefix{netip.MustParsePrefix("10.201.0.145/32")}, GARP: GARPConfig{Count: 1, Refresh: -1}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Addresses we did not add.
	run(t, "ip", "addr", "add", "10.201.0.150/32", "dev", l.IfA)
	run(t, "ip", "addr", "add", "10.201.0.151/32", "dev", l.IfA, "label", l.IfA+":vip")
	run(t, "ip", "addr", "add", "fd00:201::150/64", "dev", l.IfA, "nodad")
	run(t, "ip", "addr", "add", "10.202.0.150/32", "dev", long)
	before := addrsOf(t, l.IfA)
	// The scope names every address of the test, so that only the marker
	// decides here (TestRemoveStaleScopedNetns tests the scope itself).
	scope := []StaleScope{
		{Interface: l.IfA, VIPs: append(slices.Clone(stale), netip.MustParsePrefix("10.201.0.145/32"), netip.MustParsePrefix("10.201.0.150/32"),
			netip.MustParsePrefix("10.201.0.151/32"), netip.MustParsePrefix("fd00:201::150/64"))},
		{Interface: long, VIPs: []netip.Prefix{staleLong, netip.MustParsePrefix("10.202.0.150/32")}},
	}
	removed, err := RemoveStaleScoped(scope, "", nil)
	if err != nil {
		t.Fatalf("RemoveStale: %v", err)
	}
	want := map[netip.Prefix]bool{stale[0]: true, stale[1]: true, stale[2]: true, staleLong: true}
	if len(removed) != len(want) {
		t.Errorf("RemoveStale removed %v, want %v", removed, want)
	}
	for _, p := range removed {
		if !want[p] {
			t.Errorf("RemoveStale removed %s, which it did not add", p)
		}
	}
	after := addrsOf(t, l.IfA)
	for ip, a := range before {
		p := netip.MustParsePrefix(strings.Fields(a)[0])
		_, still := after[ip]
		if want[p] == still {
			t.Errorf("address %q: present after RemoveStale = %v, want %v", a, still, !want[p])
		}
	}
	afterLong := addrsOf(t, long)
	if _, ok := afterLong[staleLong.Addr()]; ok {
		t.Errorf("stale %s on %s survived", staleLong, long)
	}
	if _, ok := afterLong[netip.MustParseAddr("10.202.0.150")]; !ok {
		t.Errorf("foreign 10.202.0.150 on %s was removed", long)
	}

	// The other tag's address goes with its own RemoveStale.
	removed, err = RemoveStaleScoped(scope, "other", nil)
	if err != nil || len(removed) != 1 || removed[0] != netip.MustParsePrefix("10.201.0.145/32") {
		t.Errorf("RemoveStale(other) = %v, %v; want [10.201.0.145/32]", removed, err)
	}
	// Nothing left: a second run is a no-op.
	if removed, err := RemoveStaleScoped(scope, "", nil); err != nil || len(removed) != 0 {
		t.Errorf("second RemoveStale = %v, %v; want nothing", removed, err)
	}
}

func TestRemoveStaleRejectsBadLabel(t *testing.T) {
	if _, err := RemoveStaleScoped(nil, "bad label", nil); err == nil {
		t.Fatal("RemoveStaleScoped(bad label) = nil error")
	}
}

func TestListenFreebindNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	ctx := context.Background()
	for _, host := range []string{"10.201.0.160", "fd00:201::160"} {
		addr := net.JoinHostPort(host, "5672")
		// Without freebind the kernel refuses a non-local address.
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			t.Fatalf("plain listen on non-local %s succeeded; the test proves nothing", addr)
		}
		ln, err := ListenFreebind(ctx, addr)
		if err != nil {
			t.Fatalf("ListenFreebind(%s): %v", addr, err)
		}
		defer ln.Close()
		// The VIP arrives later: the waiting listener takes connections.
		prefix := host + "/32"
		if strings.Contains(host, ":") {
			prefix = host + "/128"
			run(t, "ip", "addr", "add", prefix, "dev", l.IfA, "nodad")
			// IPv6 installs the local route from a work queue after the
			// address is added; wait for it before dialing.
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(run(t, "ip", "-6", "route", "show", "table", "local", host), host) {
				if time.Now().After(deadline) {
					t.Fatalf("no local route for %s after 5s", host)
				}
				time.Sleep(10 * time.Millisecond) // polling the kernel's set-up
			}
		} else {
			run(t, "ip", "addr", "add", prefix, "dev", l.IfA)
		}
		accepted := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				c.Close()
			}
			accepted <- err
		}()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dialing %s: %v", addr, err)
		}
		c.Close()
		if err := <-accepted; err != nil {
			t.Fatalf("accepting on %s: %v", addr, err)
		}
	}
}

func TestSetSysctlsNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	want := RecommendedSysctls(l.IfA)
	if err := SetSysctls(want); err != nil {
		t.Fatalf("SetSysctls: %v", err)
	}
	for _, s := range want {
		out, err := exec.Command("sysctl", "-n", s.Key).Output()
		if err != nil {
			t.Fatalf("sysctl -n %s: %v", s.Key, err)
		}
		if got := strings.TrimSpace(string(out)); got != s.Value {
			t.Errorf("%s = %q, want %q", s.Key, got, s.Value)
		}
	}
	if err := SetSysctls([]Sysctl{{Key: "net.ipv4.conf.nosuchif0.arp_ignore", Value: "1"}}); err == nil {
		t.Error("SetSysctls on a missing interface: nil error")
	}
}
