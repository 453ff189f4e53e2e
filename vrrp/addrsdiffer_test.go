package vrrp

import (
	"net/netip"
	"testing"
	"time"
)

// TestMachineDifferingAddrs: an advert whose addresses share some with the
// configured ones but differ (a group part-way through a reload that
// changes them) is accepted and reported, with its sender's and list's
// first time kept while they stay the same; one that shares none is
// dropped; one with the configured list is neither.
func TestMachineDifferingAddrs(t *testing.T) {
	sec := time.Second
	mdi := 3*sec + 609375*time.Microsecond // priority 100
	vip2 := netip.MustParseAddr("10.99.0.101")
	other := netip.MustParseAddr("10.99.0.102")
	with2 := func(prio uint8) Advert {
		return Advert{Src: higher, Packet: &Packet{Version: 3, VRID: 7, Priority: prio, AdvertInterval: sec, Addrs: []netip.Addr{vip.Addr(), vip2}}}
	}
	runSteps(t, NewMachine(testConfig(), local), []step{
		{ev: Startup{}, want: []Action{change(StateInit, StateBackup, "")}},
		// A master reloaded with a second VIP: its adverts keep this
		// BACKUP from taking over.
		{at: sec, ev: with2(150), want: []Action{differ(higher, 150, sec, sec, 1, vip.Addr(), vip2)}, deadline: sec + mdi},
		{at: 2 * sec, ev: with2(150), want: []Action{differ(higher, 150, 2*sec, sec, 2, vip.Addr(), vip2)}, deadline: 2*sec + mdi},
		// The same list from another sender is new.
		{at: 3 * sec, ev: Advert{Src: lower, Packet: with2(150).Packet}, want: []Action{differ(lower, 150, 3*sec, 3*sec, 3, vip.Addr(), vip2)}, deadline: 3*sec + mdi},
		// The configured list: nothing to report; the record stays.
		{at: 4 * sec, ev: advertFrom(higher, 150, sec), deadline: 4*sec + mdi},
		// No address in common: another virtual router on this VRID.
		{at: 5 * sec, ev: Advert{Src: higher, Packet: &Packet{Version: 3, VRID: 7, Priority: 150, AdvertInterval: sec, Addrs: []netip.Addr{vip2, other}}},
			want: []Action{refusedDrop(ErrAddressMismatch, higher, 150)}, deadline: 4*sec + mdi},
	})
	m := NewMachine(testConfig(), local)
	m.Step(t0, Startup{})
	if d := m.LastDiffering(); d != nil {
		t.Errorf("LastDiffering before any advert: %+v, want nil", d)
	}
	m.Step(t0.Add(sec), with2(150))
	d := m.LastDiffering()
	if d == nil || d.From != higher || d.Count != 1 || len(d.Addrs) != 2 {
		t.Errorf("LastDiffering: %+v, want one from %v with two addresses", d, higher)
	}
}
