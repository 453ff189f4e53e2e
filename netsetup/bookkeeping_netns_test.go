package netsetup

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestBookkeepingWithoutAddrProtoNetns takes the path of a kernel before
// 6.3 (no IFA_PROTO; Debian 12 runs 6.1) on an interface whose 15-byte
// name leaves no room for a label: the VIPs carry no marker at all. The
// VIPSet says so (log and snapshot), Release still removes what it added,
// trusting its own bookkeeping, and leaves an address someone else added.
func TestBookkeepingWithoutAddrProtoNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	long := "rmqlbbookkeep15"
	if len(long) != 15 {
		t.Fatalf("%q is %d bytes, want 15", long, len(long))
	}
	addVeth(t, long, "rmqlbbkpeer")

	ours4 := netip.MustParsePrefix("10.204.0.1/24")
	ours6 := netip.MustParsePrefix("fd00:204::1/64")
	foreign := netip.MustParsePrefix("10.204.0.2/32") // a VIP somebody added by hand first
	run(t, "ip", "addr", "add", foreign.String(), "dev", long)

	core, logs := observer.New(zap.InfoLevel)
	s, err := newVIPSet(VIPConfig{Interface: long, VIPs: []netip.Prefix{ours4, ours6, foreign}, GARP: GARPConfig{Count: 1, Refresh: -1}},
		VIPSetOptions{Logger: zap.New(core)}, false)
	if err != nil {
		t.Fatal(err)
	}
	// Start-up says how the addresses are recognised.
	if n := logs.FilterMessageSnippet("own bookkeeping only").Len(); n != 3 {
		t.Errorf("%d bookkeeping warnings at start-up, want 3 (one per VIP): %v", n, logs.All())
	}
	for i, v := range s.Snapshot().VIPs {
		if v.Marker != MarkerBookkeeping {
			t.Errorf("snapshot VIP %d marker %q, want %q", i, v.Marker, MarkerBookkeeping)
		}
	}

	err = s.Acquire(context.Background())
	if err == nil || !strings.Contains(err.Error(), foreign.String()) || !strings.Contains(err.Error(), "without rmqlb's marker") {
		t.Fatalf("Acquire: %v, want the foreign %s refused", err, foreign)
	}
	// The kernel path of 6.1: no protocol on our addresses, the label is
	// the interface name, as on an address added by hand.
	link, err := netlink.LinkByName(long)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := listAddrs(link.Attrs().Index)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, a := range addrs {
		if a.prefix == ours4 || a.prefix == ours6 {
			found++
			if a.proto != 0 || (a.prefix.Addr().Is4() && a.label != long) {
				t.Errorf("address %s has proto %d label %q, want no marker", a.prefix, a.proto, a.label)
			}
			if isOurs(a, long, DefaultLabel) {
				t.Errorf("address %s is recognised by a marker; the test proves nothing", a.prefix)
			}
		}
	}
	if found != 2 {
		t.Fatalf("found %d of our 2 addresses after Acquire: %+v", found, addrs)
	}
	snap := s.Snapshot()
	for i, want := range []struct{ present, owned bool }{{true, true}, {true, true}, {true, false}} {
		if v := snap.VIPs[i]; v.Present != want.present || v.Owned != want.owned || v.Marked {
			t.Errorf("snapshot VIP %s = %+v, want present %v, owned %v, not marked", v.Prefix, v, want.present, want.owned)
		}
	}

	if err := s.Release(context.Background()); err != nil {
		t.Fatalf("Release: %v", err)
	}
	got := addrsOf(t, long)
	for _, p := range []netip.Prefix{ours4, ours6} {
		if _, ok := got[p.Addr()]; ok {
			t.Errorf("after Release: %s, added by this VIPSet, is still present", p)
		}
	}
	if _, ok := got[foreign.Addr()]; !ok {
		t.Errorf("after Release: %s, added by hand, was removed", foreign)
	}
	if v := s.Snapshot().VIPs[0]; v.Owned || v.Present {
		t.Errorf("after Release: snapshot %+v", v)
	}
	// A second Release has nothing of ours to remove; the foreign one stays.
	if err := s.Release(context.Background()); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	if _, ok := addrsOf(t, long)[foreign.Addr()]; !ok {
		t.Errorf("after a second Release: %s, added by hand, was removed", foreign)
	}
}

// TestLabelWithoutAddrProtoNetns takes the same kernel path with a name
// short enough for a label: the label alone marks IPv4 VIPs.
func TestLabelWithoutAddrProtoNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	vip := netip.MustParsePrefix("10.201.0.170/24")
	s, err := newVIPSet(VIPConfig{Interface: l.IfA, VIPs: []netip.Prefix{vip}, GARP: GARPConfig{Count: 1, Refresh: -1}}, VIPSetOptions{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := s.Snapshot().VIPs[0]; v.Marker != MarkerLabel || !v.Marked || !v.Owned {
		t.Errorf("snapshot %+v, want marked by label and owned", v)
	}
	// A later daemon (no bookkeeping) recognises it by its label.
	removed, err := RemoveStaleScoped([]StaleScope{{Interface: l.IfA, VIPs: []netip.Prefix{vip}}}, "", nil)
	if err != nil || len(removed) != 1 || removed[0] != vip {
		t.Errorf("RemoveStaleScoped = %v, %v; want [%s]", removed, err, vip)
	}
}

// TestAdoptHeldBookkeepingNetns: VIPs without a marker that the process
// this one succeeds held (an upgrade in place of a MASTER) are taken for
// someone else's by a fresh VIPSet, which then cannot hold them; after
// AdoptHeld it holds them on and removes them at Release.
func TestAdoptHeldBookkeepingNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	long := "rmqlbadoptheld1"
	addVeth(t, long, "rmqlbadpeer")
	ours4 := netip.MustParsePrefix("10.205.0.1/24")
	ours6 := netip.MustParsePrefix("fd00:205::1/64")
	cfg := VIPConfig{Interface: long, VIPs: []netip.Prefix{ours4, ours6}, GARP: GARPConfig{Count: 1, Refresh: -1}}
	newSet := func() *VIPSet {
		s, err := newVIPSet(cfg, VIPSetOptions{}, false)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if err := newSet().Acquire(context.Background()); err != nil {
		t.Fatal(err) // the predecessor's
	}
	if err := newSet().Acquire(context.Background()); err == nil || !strings.Contains(err.Error(), "without rmqlb's marker") {
		t.Fatalf("a fresh VIPSet's Acquire: %v, want the VIPs taken for someone else's (else this test proves nothing)", err)
	}
	// Adopting only what the predecessor had added: a VIP it had not
	// (ours6 here, say one new in the configuration) stays someone
	// else's.
	partial := newSet()
	partial.AdoptHeld([]netip.Prefix{ours4})
	if err := partial.Acquire(context.Background()); err == nil || !strings.Contains(err.Error(), ours6.String()) || strings.Contains(err.Error(), ours4.String()) {
		t.Fatalf("Acquire after AdoptHeld of %s alone: %v, want %s alone refused", ours4, err, ours6)
	}
	s := newSet()
	s.AdoptHeld([]netip.Prefix{ours4, ours6})
	if err := s.Acquire(context.Background()); err != nil {
		t.Fatalf("Acquire after AdoptHeld: %v", err)
	}
	if err := s.Release(context.Background()); err != nil {
		t.Fatalf("Release: %v", err)
	}
	got := addrsOf(t, long)
	for _, p := range []netip.Prefix{ours4, ours6} {
		if _, ok := got[p.Addr()]; ok {
			t.Errorf("after Release: %s is still present", p)
		}
	}
}
