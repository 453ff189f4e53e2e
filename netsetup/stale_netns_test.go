package netsetup

import (
	"context"
	"net/netip"
	"slices"
	"testing"
)

// TestRemoveStaleScopedNetns checks that the start-up clean-up touches only
// the VIPs of its own configuration: addresses with rmqlb's marker outside
// the scope (another interface, another VIP on the same interface: a
// running daemon's live VIPs) survive, and so do unmarked addresses inside
// it.
func TestRemoveStaleScopedNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	other := "rmqlbscope0"
	addVeth(t, other, "rmqlbscope1")

	stale := netip.MustParsePrefix("10.201.0.140/24")     // in scope, marked: removed
	sameIf := netip.MustParsePrefix("10.201.0.142/32")    // marked, on the scope's interface, not a scope VIP
	otherIf := netip.MustParsePrefix("10.201.0.140/32")   // marked, a scope VIP's address, but on another interface
	manual := netip.MustParsePrefix("10.201.0.141/32")    // in scope, added by hand
	ownProto := netip.MustParsePrefix("fd00:201::140/64") // in scope, marked by protocol
	acquire := func(ifname string, vips ...netip.Prefix) {
		t.Helper()
		s, err := NewVIPSet(VIPConfig{Interface: ifname, VIPs: vips, GARP: GARPConfig{Count: 1, Refresh: -1}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	acquire(l.IfA, stale, sameIf, ownProto)
	acquire(other, otherIf)
	run(t, "ip", "addr", "add", manual.String(), "dev", l.IfA)

	scope := []StaleScope{
		{Interface: l.IfA, VIPs: []netip.Prefix{stale, manual, ownProto}},
		{Interface: "nosuchif0", VIPs: []netip.Prefix{sameIf}}, // skipped
	}
	removed, err := RemoveStaleScoped(scope, "", nil)
	if err != nil {
		t.Fatalf("RemoveStaleScoped: %v", err)
	}
	slices.SortFunc(removed, netip.Prefix.Compare)
	if want := []netip.Prefix{stale, ownProto}; !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	gotA, gotOther := addrsOf(t, l.IfA), addrsOf(t, other)
	for _, p := range []netip.Prefix{stale, ownProto} {
		if _, ok := gotA[p.Addr()]; ok {
			t.Errorf("stale %s in scope survived", p)
		}
	}
	for _, p := range []netip.Prefix{sameIf, manual} {
		if _, ok := gotA[p.Addr()]; !ok {
			t.Errorf("%s on %s, outside the scope or not ours, was removed", p, l.IfA)
		}
	}
	if _, ok := gotOther[otherIf.Addr()]; !ok {
		t.Errorf("%s on %s, outside the scope, was removed", otherIf, other)
	}
	// Nothing left in scope: a second run is a no-op.
	if removed, err := RemoveStaleScoped(scope, "", nil); err != nil || len(removed) != 0 {
		t.Errorf("second RemoveStaleScoped = %v, %v; want nothing", removed, err)
	}
	if _, err := RemoveStaleScoped(scope, "bad label", nil); err == nil {
		t.Error("RemoveStaleScoped(bad label) = nil error")
	}
}
