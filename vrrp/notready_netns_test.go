package vrrp

import (
	"strings"
	"testing"
	"time"
)

// TestInstanceWaitsForInterfaceNetns starts the backup's instance before
// its interface exists (a bond or VLAN not created yet at boot): it waits
// in FAULT, saying so; once the interface is created without an address,
// FAULT says that; given its address, the instance becomes BACKUP of the
// master it then hears, not a second master.
func TestInstanceWaitsForInterfaceNetns(t *testing.T) {
	forEachLoop(t, testInstanceWaitsForInterface)
}

func testInstanceWaitsForInterface(t *testing.T, rt int) {
	n := newTestNetns(t)
	n.deleteLink(t, 1)
	nodes := startRealPair(t, n, rt)
	waitStates(t, nodes, "start without the backup's interface", StateMaster, StateFault)
	waitReason := func(what, want string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) { // polling real time: the instance tries every second
			s := nodes[1].inst.Snapshot()
			if s.State == StateFault && strings.Contains(s.Reason, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: state %v, reason %q; want FAULT for %q", what, s.State, s.Reason, want)
			}
		}
	}
	waitReason("interface missing", "interface "+n.ifname[1]+" does not exist")

	n.createLink(t, 1)
	waitReason("interface created without an address", "interface "+n.ifname[1]+" has no IPv4 address")

	n.addAddr(t, 1)
	waitStates(t, nodes, "address added", StateMaster, StateBackup)
	before := nodes[1].inst.Snapshot().Counters.AdvertsReceived
	// It hears the master for longer than a master down interval (about
	// 0.7 s) and stays BACKUP.
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) { // polling real time
		if sa, sb := nodes[0].inst.Snapshot().State, nodes[1].inst.Snapshot().State; sa != StateMaster || sb != StateBackup {
			t.Fatalf("after the interface became ready: states %v/%v, want MASTER/BACKUP", sa, sb)
		}
	}
	s := nodes[1].inst.Snapshot()
	if s.Counters.AdvertsReceived < before+5 || s.Source != n.addr[1] || !s.LinkUp {
		t.Fatalf("backup once ready: adverts received %d (before %d), source %v, link up %v", s.Counters.AdvertsReceived, before, s.Source, s.LinkUp)
	}
}
