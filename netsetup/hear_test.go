package netsetup

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// TestARPSenderFilter: frames sent by this host are dropped (the first
// jump lands on the drop), and of the rest only ARP frames whose sender is
// one of the VIPs pass; with more VIPs than the filter matches one by one,
// every received ARP frame passes. The part after the packet-type check
// runs in x/net/bpf's VM (which has no packet type).
func TestARPSenderFilter(t *testing.T) {
	for _, n := range []int{1, 2, maxFilteredVIPs, maxFilteredVIPs + 1} {
		vips := make([]netip.Addr, n)
		for i := range vips {
			vips[i] = netip.AddrFrom4([4]byte{10, 202, byte(i >> 8), byte(i)})
		}
		prog := arpSenderFilter(vips)
		if _, ok := prog[0].(bpf.LoadExtension); !ok {
			t.Fatalf("%d VIPs: first instruction %v", n, prog[0])
		}
		jmp, ok := prog[1].(bpf.JumpIf)
		if !ok || jmp.Val != unix.PACKET_OUTGOING {
			t.Fatalf("%d VIPs: second instruction %v", n, prog[1])
		}
		if ret, ok := prog[2+int(jmp.SkipTrue)].(bpf.RetConstant); !ok || ret.Val != 0 {
			t.Fatalf("%d VIPs: outgoing frames go to %v, want the drop", n, prog[2+int(jmp.SkipTrue)])
		}
		vm, err := bpf.NewVM(prog[2:])
		if err != nil {
			t.Fatalf("%d VIPs: %v", n, err)
		}
		frame := func(ip netip.Addr) []byte {
			f, err := GARPFrame(testMAC, ip)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
		for _, ip := range []netip.Addr{vips[0], vips[n-1]} {
			if got, err := vm.Run(frame(ip)); err != nil || got == 0 {
				t.Errorf("%d VIPs: the announcement of VIP %v is dropped (%d, %v)", n, ip, got, err)
			}
		}
		other := netip.MustParseAddr("10.201.0.2")
		got, err := vm.Run(frame(other))
		if err != nil {
			t.Fatal(err)
		}
		if want := n > maxFilteredVIPs; (got != 0) != want {
			t.Errorf("%d VIPs: announcement of another address passes: %v, want %v", n, got != 0, want)
		}
	}
}

// TestHeardSupersededByOwn: another host's announcement is reported
// unless the kernel received it before this host's own last announcement
// went out (it waited in the queue while ours was sent: ours came last);
// one with no receive time, or heard before any of ours, is reported.
// Either way it is counted.
func TestHeardSupersededByOwn(t *testing.T) {
	vip := netip.MustParsePrefix("10.203.0.100/24")
	peer := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	own := time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name         string
		ownSent, rx  time.Time
		reported     bool
		wantSupersed uint64
	}{
		{"none of ours yet", time.Time{}, own, true, 0},
		{"received after ours", own, own.Add(time.Microsecond), true, 0},
		{"received before ours, read after", own, own.Add(-time.Microsecond), false, 1},
		{"received as ours went out", own, own, false, 1},
		{"no receive time", own, time.Time{}, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewVIPSet(VIPConfig{Interface: "rmqlb-none0", VIPs: []netip.Prefix{vip}}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			var reports []bool
			s.ReportAnnouncements(func(a netip.Addr, own bool) {
				if a != vip.Addr() {
					t.Errorf("report of %v", a)
				}
				reports = append(reports, own)
			})
			s.mu.Lock()
			s.held = true
			s.vips[0].lastOwnSent = c.ownSent // as announce records it
			s.mu.Unlock()
			s.heard(peer, vip.Addr(), c.rx)
			if got := len(reports) == 1 && !reports[0]; got != c.reported || len(reports) > 1 {
				t.Fatalf("reports %v, want reported %v", reports, c.reported)
			}
			v := s.Snapshot().VIPs[0]
			if v.PeerAnnounced != 1 || v.PeerSuperseded != c.wantSupersed {
				t.Fatalf("snapshot: %d announced, %d superseded; want 1, %d", v.PeerAnnounced, v.PeerSuperseded, c.wantSupersed)
			}
		})
	}
}

// TestHeardFromHostInterface: an announcement of a VIP from another
// interface of this host (Linux answers ARP for its addresses on each of
// its interfaces) is neither reported nor counted: the clients that hear
// it reach this host. Another host's is.
func TestHeardFromHostInterface(t *testing.T) {
	vip := netip.MustParsePrefix("10.203.0.100/24")
	bridge := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	peer := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
	s, err := NewVIPSet(VIPConfig{Interface: "rmqlb-none0", VIPs: []netip.Prefix{vip}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	lookups := 0
	s.hostInterface = func(hw net.HardwareAddr) (string, bool) { lookups++; return "br0", bytes.Equal(hw, bridge) }
	var reports int
	s.ReportAnnouncements(func(netip.Addr, bool) { reports++ })
	// Not held yet, and then an address that is no VIP: the host's
	// interfaces are not read for either.
	s.heard(peer, vip.Addr(), time.Time{})
	s.mu.Lock()
	s.held = true
	s.mu.Unlock()
	s.heard(peer, netip.MustParseAddr("10.203.0.7"), time.Time{})
	if lookups != 0 || reports != 0 {
		t.Fatalf("before anything to report: %d lookups of the host's interfaces, %d reports; want none", lookups, reports)
	}
	s.heard(bridge, vip.Addr(), time.Time{})
	if v := s.Snapshot().VIPs[0]; reports != 0 || v.PeerAnnounced != 0 || v.LastPeerMAC != "" {
		t.Fatalf("after this host's br0 announced the VIP: %d reports, snapshot %+v; want none", reports, v)
	}
	s.heard(peer, vip.Addr(), time.Time{})
	if v := s.Snapshot().VIPs[0]; reports != 1 || v.PeerAnnounced != 1 || v.LastPeerMAC != peer.String() {
		t.Fatalf("after another host announced the VIP: %d reports, snapshot %+v; want 1", reports, v)
	}
}

// TestHostInterfaceWith: an interface of this host is found by its
// hardware address; an address none has, or none, is not.
func TestHostInterfaceWith(t *testing.T) {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifi := range ifs {
		if len(ifi.HardwareAddr) == 0 {
			continue
		}
		if name, ok := hostInterfaceWith(ifi.HardwareAddr); !ok || name == "" {
			t.Errorf("%s (%v): found %q, %v", ifi.Name, ifi.HardwareAddr, name, ok)
		}
	}
	for _, hw := range []net.HardwareAddr{nil, {0x02, 0xde, 0xad, 0xbe, 0xef, 0x99}} {
		if name, ok := hostInterfaceWith(hw); ok {
			t.Errorf("%v: found %q", hw, name)
		}
	}
}
