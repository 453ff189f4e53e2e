package netsetup

import (
	"context"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestRenamedBackInterfaceNetns renames the interface while it holds the
// VIPs and renames it back (Linux >= 6.2 allows it while up). The kernel
// relabels the IPv4 addresses after each new name, and the first one
// loses its suffix: "IF:rmqlb" comes back as "IF". The VIPSet still
// holds that VIP as its own (no fault once the interface has its name
// again, nothing added twice), Release removes it, and so does the
// VIPSet of a process that takes over: its own record (handed over)
// recognises it, on a kernel with the address protocol and on the path
// of one without.
func TestRenamedBackInterfaceNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	for i, addrProto := range []bool{true, false} {
		name, tmp, peer := "rmqlbrb"+strconv.Itoa(i), "rmqlbrbx"+strconv.Itoa(i), "rmqlbrbp"+strconv.Itoa(i)
		addVeth(t, name, peer) // no address of its own: a VIP is the first
		first := netip.MustParsePrefix("10.206." + strconv.Itoa(i) + ".100/24")
		second := netip.MustParsePrefix("10.206." + strconv.Itoa(i) + ".101/32")
		const recheck = 100 * time.Millisecond
		reports := make(faultReports, 16)
		newSet := func() *VIPSet {
			s, err := newVIPSet(VIPConfig{Interface: name, VIPs: []netip.Prefix{first, second}, GARP: GARPConfig{Count: 1, Refresh: -1}},
				VIPSetOptions{Logger: zap.NewNop(), Recheck: recheck}, addrProto)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		s := newSet()
		s.ReportFaults(func(err error) { reports <- err })
		runVIPSet(t, s)
		ctx := context.Background()
		if err := s.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
		run(t, "ip", "link", "set", "dev", name, "name", tmp)
		if err := reports.next(t, "a fault (the interface is gone)"); err == nil {
			t.Fatal("reported recovery, want a fault")
		}
		run(t, "ip", "link", "set", "dev", tmp, "name", name)
		if err := reports.next(t, "recovery"); err != nil {
			t.Fatalf("address protocol %v: after the rename back: %v, want recovery", addrProto, err)
		}
		got := addrs4Of(t, name)
		if got[first.Addr()] != first.String()+" "+name {
			t.Fatalf("address protocol %v: %s is %q, want it relabelled %q by the kernel; the test proves nothing",
				addrProto, first, got[first.Addr()], name)
		}
		if len(got) != 2 {
			t.Errorf("address protocol %v: addresses %v, want the two VIPs once", addrProto, got)
		}
		for _, v := range s.Snapshot().VIPs {
			if !v.Present || !v.Owned || v.Readded != 0 || v.LastError != "" {
				t.Errorf("address protocol %v: snapshot %+v", addrProto, v)
			}
		}
		if err := s.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if got := addrs4Of(t, name); len(got) != 0 {
			t.Errorf("address protocol %v: after Release: %v, want nothing", addrProto, got)
		}

		// Held again, renamed and back, then taken over by a new
		// process (an upgrade in place of a MASTER): the new VIPSet
		// holds both as its own, and releases them.
		s2 := newSet()
		if err := s2.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
		run(t, "ip", "link", "set", "dev", name, "name", tmp)
		run(t, "ip", "link", "set", "dev", tmp, "name", name)
		if a := addrs4Of(t, name)[first.Addr()]; a != first.String()+" "+name {
			t.Fatalf("%s is %q, want it relabelled", first, a)
		}
		s3 := newSet()
		s3.AdoptHeld([]netip.Prefix{first, second})
		if err := s3.Acquire(ctx); err != nil {
			t.Errorf("address protocol %v: Acquire after a takeover: %v", addrProto, err)
		}
		if err := s3.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if got := addrs4Of(t, name); len(got) != 0 {
			t.Errorf("address protocol %v: after the successor's Release: %v, want nothing", addrProto, got)
		}
	}
}

// addrs4Of is addrsOf without the IPv6 addresses (the link-local one).
func addrs4Of(t *testing.T, ifname string) map[netip.Addr]string {
	t.Helper()
	m := addrsOf(t, ifname)
	for a := range m {
		if !a.Is4() {
			delete(m, a)
		}
	}
	return m
}
