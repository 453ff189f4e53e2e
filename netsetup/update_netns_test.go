package netsetup

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestVIPSetUpdateNetns: while held, Update removes the VIPs no longer
// configured, adds and announces the new ones and leaves the others
// alone, and hears other hosts for the new list; while released it only
// changes the configuration; what it cannot apply changes nothing.
func TestVIPSetUpdateNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	macA, macB := mustMAC(t, l.MACA), mustMAC(t, l.MACB)
	vip1 := netip.MustParsePrefix("10.201.0.100/24")
	vip2 := netip.MustParsePrefix("10.201.0.101/32")
	vip3 := netip.MustParsePrefix("10.201.0.102/32")
	capB := captureARP(t, l.NSB, l.IfB)
	s, heard := runHearing(t, VIPConfig{Interface: l.IfA, VIPs: []netip.Prefix{vip1, vip2}, GARP: GARPConfig{Count: 1, Refresh: -1}})
	ctx := context.Background()
	if err := s.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	capB.garps(t, macA, 2, 5*time.Second) // vip1, vip2

	// Refused: nothing changes.
	for _, bad := range []VIPConfig{
		{Interface: "other0", VIPs: []netip.Prefix{vip1}},
		{Interface: l.IfA, Label: "other", VIPs: []netip.Prefix{vip1}},
		{Interface: l.IfA},
	} {
		if err := s.Update(bad); err == nil {
			t.Errorf("Update(%+v): no error", bad)
		}
	}
	got := addrsOf(t, l.IfA)
	_, has1 := got[vip1.Addr()]
	_, has2 := got[vip2.Addr()]
	if snap := s.Snapshot(); !has1 || !has2 || len(snap.VIPs) != 2 || snap.VIPs[0].Prefix != vip1 || snap.VIPs[1].Prefix != vip2 {
		t.Fatalf("after refused updates: addresses %v, snapshot %+v", got, snap.VIPs)
	}

	// Held: vip1 goes, vip3 comes, vip2 stays as it is.
	if err := s.Update(VIPConfig{Interface: l.IfA, VIPs: []netip.Prefix{vip2, vip3}, GARP: GARPConfig{Count: 2, Interval: 100 * time.Millisecond, Refresh: -1}}); err != nil {
		t.Fatal(err)
	}
	got = addrsOf(t, l.IfA)
	if _, ok := got[vip1.Addr()]; ok {
		t.Errorf("vip1 still on the interface after it was dropped: %v", got)
	}
	for _, p := range []netip.Prefix{vip2, vip3} {
		if a, ok := got[p.Addr()]; !ok || !strings.HasPrefix(a, p.String()+" "+l.IfA+":rmqlb") {
			t.Errorf("%s on the interface: %q (%v)", p, a, ok)
		}
	}
	// A new burst of the new schedule (2), for each VIP held.
	seen := map[string]int{}
	for _, f := range capB.garps(t, macA, 4, 5*time.Second) {
		seen[netip.AddrFrom4([4]byte(f[28:32])).String()]++
	}
	if seen[vip2.Addr().String()] != 2 || seen[vip3.Addr().String()] != 2 {
		t.Errorf("announcements after the update: %v, want 2 of each of vip2 and vip3", seen)
	}
	snap := s.Snapshot()
	if len(snap.VIPs) != 2 || snap.VIPs[0].Prefix != vip2 || snap.VIPs[0].GARPSent != 3 || snap.VIPs[1].Prefix != vip3 || !snap.VIPs[1].Owned {
		t.Errorf("snapshot after the update: %+v (vip2 keeps its count: 1 + 2)", snap.VIPs)
	}
	sendARPFrom(t, l.NSB, l.IfB, macB, vip3.Addr())
	if a := nextHeard(t, heard); a != vip3.Addr() {
		t.Fatalf("heard %v, want the new VIP %v", a, vip3.Addr())
	}

	// Released: the configuration changes, the interface does not.
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(VIPConfig{Interface: l.IfA, VIPs: []netip.Prefix{vip1}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []netip.Prefix{vip1, vip2, vip3} {
		if _, ok := addrsOf(t, l.IfA)[p.Addr()]; ok {
			t.Errorf("%s on the interface of a released VIPSet", p)
		}
	}
	if err := s.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	got = addrsOf(t, l.IfA)
	if _, ok := got[vip1.Addr()]; !ok || len(s.Snapshot().VIPs) != 1 {
		t.Errorf("after Acquire: %v, snapshot %+v", got, s.Snapshot().VIPs)
	}
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
