package netsetup

import (
	"context"
	"net/netip"
	"strconv"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestReleaseRenamedInterfaceNetns renames the interface while it is up
// and holds the VIPs (Linux >= 6.2 allows it; the kernel relabels the
// IPv4 addresses after the new name): Release finds the interface by its
// index and removes the VIPs this VIPSet added there, and only those, on
// a kernel with the address protocol and on the path of one without it
// (bookkeeping). Once the index is gone too, Release has nothing to do.
func TestReleaseRenamedInterfaceNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	for i, addrProto := range []bool{true, false} {
		name, renamed, peer := "rmqlbren"+strconv.Itoa(i), "rmqlbnew"+strconv.Itoa(i), "rmqlbrenp"+strconv.Itoa(i)
		addVeth(t, name, peer)
		vip1 := netip.MustParsePrefix("10.205." + strconv.Itoa(i) + ".100/24")
		vip2 := netip.MustParsePrefix("10.205." + strconv.Itoa(i) + ".101/32")
		vip6 := netip.MustParsePrefix("fd00:205:" + strconv.Itoa(i) + "::100/64")
		// Somebody added one VIP's IP by hand, and another address.
		foreignVIP := netip.MustParsePrefix("10.205." + strconv.Itoa(i) + ".102/32")
		other := netip.MustParsePrefix("10.205." + strconv.Itoa(i) + ".150/32")
		run(t, "ip", "addr", "add", foreignVIP.String(), "dev", name)

		core, logs := observer.New(zap.InfoLevel)
		s, err := newVIPSet(VIPConfig{Interface: name, VIPs: []netip.Prefix{vip1, vip2, vip6, foreignVIP}, GARP: GARPConfig{Count: 1, Refresh: -1}},
			VIPSetOptions{Logger: zap.New(core)}, addrProto)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := s.Acquire(ctx); err == nil {
			t.Fatalf("address protocol %v: Acquire over %s added by hand: no error", addrProto, foreignVIP)
		}
		run(t, "ip", "addr", "add", other.String(), "dev", name)
		run(t, "ip", "link", "set", "dev", name, "name", renamed)

		if err := s.Release(ctx); err != nil {
			t.Fatalf("address protocol %v: Release after the rename: %v", addrProto, err)
		}
		got := addrsOf(t, renamed)
		for _, p := range []netip.Prefix{vip1, vip2, vip6} {
			if a, ok := got[p.Addr()]; ok {
				t.Errorf("address protocol %v: after Release the VIP is still on the renamed interface: %s", addrProto, a)
			}
		}
		for _, p := range []netip.Prefix{foreignVIP, other} {
			if _, ok := got[p.Addr()]; !ok {
				t.Errorf("address protocol %v: after Release %s, added by hand, is gone", addrProto, p)
			}
		}
		for _, v := range s.Snapshot().VIPs {
			if v.Owned {
				t.Errorf("address protocol %v: after Release snapshot %+v, want not owned", addrProto, v)
			}
		}
		if n := logs.FilterMessageSnippet("renamed").FilterField(zap.String("new_name", renamed)).Len(); n != 1 {
			t.Errorf("address protocol %v: %d log lines about the rename to %s, want 1: %v", addrProto, n, renamed, logs.All())
		}

		// Gone altogether: nothing to release.
		run(t, "ip", "link", "del", renamed)
		if err := s.Release(ctx); err != nil {
			t.Fatalf("address protocol %v: Release after the deletion: %v", addrProto, err)
		}
	}
}
