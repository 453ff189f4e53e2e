package netsetup

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// addVethMAC adds a veth pair with the given MAC on name in the current
// namespace (the test's namespace A), sets both ends up and waits until
// IPv6 is configured on name (its multicast route is in the local table),
// so that a neighbour advertisement can go out. The namespace's deletion
// removes the pair.
func addVethMAC(t *testing.T, name, mac, peer string) {
	t.Helper()
	run(t, "ip", "link", "add", name, "address", mac, "type", "veth", "peer", "name", peer)
	run(t, "ip", "link", "set", name, "up")
	run(t, "ip", "link", "set", peer, "up")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(run(t, "ip", "-6", "route", "show", "table", "local", "dev", name), "multicast ff00::/8") {
		if time.Now().After(deadline) {
			t.Fatalf("IPv6 on %s not ready after 10s", name)
		}
		time.Sleep(20 * time.Millisecond) // polling the kernel's set-up, not passing time for the code under test
	}
}

// TestNARecreatedInterfaceNetns deletes the interface between a Release
// and the next Acquire and creates it again under the same name (a
// re-created bond, VLAN or veth): the IPv6 VIP is announced on the new
// interface, although the process already resolved the name to the old
// index.
func TestNARecreatedInterfaceNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	const name, peer = "rmqlbna0", "rmqlbna1"
	const mac1, mac2 = "02:00:00:00:0c:01", "02:00:00:00:0c:02"
	vip := netip.MustParsePrefix("fd00:202::100/64")
	addVethMAC(t, name, mac1, peer)
	s, err := NewVIPSet(VIPConfig{
		Interface: name,
		VIPs:      []netip.Prefix{vip},
		GARP:      GARPConfig{Count: 3, Interval: 100 * time.Millisecond, Refresh: -1},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	runVIPSet(t, s)
	ctx := context.Background()

	capture := captureEther(t, l.NSA, peer, 0x86dd)
	if err := s.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range capture.nas(t, mustMAC(t, mac1), 3, 5*time.Second) {
		checkNA(t, f, mustMAC(t, mac1), vip.Addr())
	}
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}

	run(t, "ip", "link", "del", name)
	addVethMAC(t, name, mac2, peer)
	capture = captureEther(t, l.NSA, peer, 0x86dd)
	if err := s.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range capture.nas(t, mustMAC(t, mac2), 3, 5*time.Second) {
		checkNA(t, f, mustMAC(t, mac2), vip.Addr())
	}
	if v := s.Snapshot().VIPs[0]; v.LastError != "" || v.GARPSent != 6 {
		t.Errorf("snapshot %+v, want 6 announcements and no error", v)
	}
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
