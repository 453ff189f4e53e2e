package netsetup

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/rmqlb/rmqlb/internal/clock"
)

// runVIPSet runs s until the test ends.
func runVIPSet(t *testing.T, s *VIPSet) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// TestVIPSetReaddsNetns flushes a held VIP: the address event makes the
// VIPSet add it again at once (the periodic check is an hour away),
// announce it and count it.
func TestVIPSetReaddsNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	macA := mustMAC(t, l.MACA)
	capB := captureARP(t, l.NSB, l.IfB)
	vip := netip.MustParsePrefix("10.201.0.185/24")
	reg := prometheus.NewPedanticRegistry()
	s, err := NewVIPSetWithOptions(VIPConfig{Interface: l.IfA, VIPs: []netip.Prefix{vip}, GARP: GARPConfig{Count: 1, Refresh: -1}},
		VIPSetOptions{Registerer: reg, Recheck: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	runVIPSet(t, s)
	if err := s.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	capB.garps(t, macA, 1, 5*time.Second)

	start := time.Now()
	run(t, "ip", "addr", "del", vip.String(), "dev", l.IfA)
	capB.garps(t, macA, 1, 5*time.Second) // announced again once added again
	t.Logf("VIP back and announced %v after it was deleted", time.Since(start))
	if a := addrsOf(t, l.IfA)[vip.Addr()]; a != vip.String()+" "+l.IfA+":rmqlb" {
		t.Fatalf("after the flush the VIP is %q, want it back with our label", a)
	}
	snap := s.Snapshot()
	if v := snap.VIPs[0]; v.Readded != 1 || !v.Present || !v.Owned || snap.Fault != "" || !snap.Held {
		t.Fatalf("snapshot %+v", snap)
	}
	if n := gathered(t, reg, "rmqlb_vip_readded_total"); n != 1 {
		t.Errorf("rmqlb_vip_readded_total = %v, want 1", n)
	}
	// Released, the VIPSet no longer puts it back.
	if err := s.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "addr", "add", "10.201.0.186/32", "dev", l.IfA) // an event after the release
	if _, ok := addrsOf(t, l.IfA)[vip.Addr()]; ok {
		t.Fatal("VIP back after Release")
	}
}

// TestVIPSetBackstopNetns loses every address event: the backstop check
// (on a fake clock) puts the VIP back, at the backstop's period and not at
// Recheck's while the VIPs are held and healthy.
func TestVIPSetBackstopNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	clk := clock.NewFake(t0)
	vip := netip.MustParsePrefix("10.201.0.187/24")
	s, err := NewVIPSetWithOptions(VIPConfig{Interface: l.IfA, VIPs: []netip.Prefix{vip}, GARP: GARPConfig{Count: 1, Refresh: -1}},
		VIPSetOptions{Clock: clk, Recheck: 100 * time.Millisecond, Backstop: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.subscribe = func() (nlSub, error) { return newFakeSub(), nil } // silent
	runVIPSet(t, s)
	clk.WaitArmed(t, t0.Add(500*time.Millisecond))
	if err := s.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "addr", "del", vip.String(), "dev", l.IfA)
	if _, ok := addrsOf(t, l.IfA)[vip.Addr()]; ok {
		t.Fatal("VIP back without a check; the test proves nothing")
	}
	clk.Advance(100 * time.Millisecond) // Recheck: no timer due
	if _, ok := addrsOf(t, l.IfA)[vip.Addr()]; ok {
		t.Fatal("VIP back at Recheck's period while healthy")
	}
	clk.Advance(400 * time.Millisecond)
	clk.WaitArmed(t, t0.Add(time.Second)) // checked and waiting again
	if _, ok := addrsOf(t, l.IfA)[vip.Addr()]; !ok {
		t.Fatal("the backstop check did not put the VIP back")
	}
	if v := s.Snapshot().VIPs[0]; v.Readded != 1 {
		t.Fatalf("snapshot %+v", v)
	}
}

// TestVIPSetFaultRecheckNetns: a fault that begins outside the watch (an
// Acquire that meets a conflict) makes the watch check again Recheck
// later, not at the backstop's period; once healthy it waits for the
// backstop again. Address events are lost, so only the timer checks.
func TestVIPSetFaultRecheckNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	clk := clock.NewFake(t0)
	vip := netip.MustParsePrefix("10.201.0.188/24")
	const recheck, backstop = 500 * time.Millisecond, time.Hour
	s, err := NewVIPSetWithOptions(VIPConfig{Interface: l.IfA, VIPs: []netip.Prefix{vip}, GARP: GARPConfig{Count: 1, Refresh: -1}},
		VIPSetOptions{Clock: clk, Recheck: recheck, Backstop: backstop})
	if err != nil {
		t.Fatal(err)
	}
	s.subscribe = func() (nlSub, error) { return newFakeSub(), nil } // silent
	reports := make(faultReports, 16)
	s.ReportFaults(func(err error) { reports <- err })
	runVIPSet(t, s)
	clk.WaitArmed(t, t0.Add(backstop))
	// Somebody holds the VIP's IP.
	run(t, "ip", "addr", "add", "10.201.0.188/32", "dev", l.IfA)
	ctx := context.Background()
	if err := s.Acquire(ctx); err == nil {
		t.Fatal("Acquire over somebody else's address: no error")
	}
	if err := reports.next(t, "a fault"); err == nil {
		t.Fatal("reported recovery, want a fault")
	}
	clk.WaitArmed(t, t0.Add(recheck))
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "addr", "del", "10.201.0.188/32", "dev", l.IfA)
	clk.Advance(recheck)
	if err := reports.next(t, "recovery"); err != nil {
		t.Fatalf("reported %v, want recovery (nil)", err)
	}
	clk.WaitArmed(t, t0.Add(recheck+backstop))
}

// faultReports collects what a VIPSet reports through ReportFaults.
type faultReports chan error

func (r faultReports) next(t *testing.T, what string) error {
	t.Helper()
	select {
	case err := <-r:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("no report: want %s", what)
		return nil
	}
}

// TestVIPSetFaultNetns makes putting a VIP back fail, once by a conflict
// (somebody else added its IP meanwhile) and once by the kernel (IPv6
// disabled on the interface): the VIPSet reports a fault, and once the
// cause is gone and the VIPs released, that it could hold them again.
func TestVIPSetFaultNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	vip4 := netip.MustParsePrefix("10.201.0.190/24")
	vip6 := netip.MustParsePrefix("fd00:201::190/64")
	const recheck = 200 * time.Millisecond
	reg := prometheus.NewPedanticRegistry()
	s, err := NewVIPSetWithOptions(VIPConfig{Interface: l.IfA, VIPs: []netip.Prefix{vip4, vip6}, GARP: GARPConfig{Count: 1, Refresh: -1}},
		VIPSetOptions{Registerer: reg, Recheck: recheck})
	if err != nil {
		t.Fatal(err)
	}
	reports := make(faultReports, 16)
	s.ReportFaults(func(err error) { reports <- err })
	runVIPSet(t, s)
	ctx := context.Background()
	if err := s.Acquire(ctx); err != nil {
		t.Fatal(err)
	}

	// Somebody adds the VIP's IP (as a /32) and ours goes.
	run(t, "ip", "addr", "add", "10.201.0.190/32", "dev", l.IfA)
	run(t, "ip", "addr", "del", vip4.String(), "dev", l.IfA)
	err = reports.next(t, "a fault")
	if err == nil || !strings.Contains(err.Error(), "without rmqlb's marker") {
		t.Fatalf("reported %v, want a conflict", err)
	}
	faultAt := time.Now()
	if snap := s.Snapshot(); snap.Fault == "" || snap.Faults != 1 || snap.VIPs[0].Readded != 0 {
		t.Fatalf("snapshot %+v", snap)
	}
	if n := gathered(t, reg, "rmqlb_vip_faults_total"); n != 1 {
		t.Errorf("rmqlb_vip_faults_total = %v, want 1", n)
	}
	if err := s.Release(ctx); err != nil { // what the VRRP instance does on a fault
		t.Fatal(err)
	}
	if _, ok := addrsOf(t, l.IfA)[vip4.Addr()]; !ok {
		t.Fatal("Release removed the address somebody else added")
	}
	run(t, "ip", "addr", "del", "10.201.0.190/32", "dev", l.IfA)
	if err := reports.next(t, "recovery"); err != nil {
		t.Fatalf("reported %v, want recovery (nil)", err)
	}
	if d := time.Since(faultAt); d < recheck {
		t.Errorf("recovered %v after the fault, before the hold-down of %v", d, recheck)
	}
	if snap := s.Snapshot(); snap.Fault != "" || snap.Held {
		t.Fatalf("snapshot after recovery %+v", snap)
	}

	// Held again; IPv6 is disabled on the interface, which removes the
	// IPv6 VIP and refuses it back.
	if err := s.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	run(t, "sysctl", "-qw", "net.ipv6.conf."+l.IfA+".disable_ipv6=1")
	err = reports.next(t, "a fault")
	if !errors.Is(err, unix.EACCES) || !strings.Contains(err.Error(), vip6.String()) {
		t.Fatalf("reported %v, want the kernel's refusal (EACCES) to add %s", err, vip6)
	}
	if err := s.Release(ctx); err != nil {
		t.Fatal(err)
	}
	run(t, "sysctl", "-qw", "net.ipv6.conf."+l.IfA+".disable_ipv6=0")
	if err := reports.next(t, "recovery"); err != nil {
		t.Fatalf("reported %v, want recovery", err)
	}
	if snap := s.Snapshot(); snap.Faults != 2 {
		t.Fatalf("faults %d, want 2", snap.Faults)
	}
}

// TestVIPSetFollowsMACChangeNetns changes the interface's hardware address
// while the VIPs are held, without re-creating it (`ip link set dev X
// address ...`): the link event makes the VIPSet announce the VIPs again
// at once with the new address, a whole burst, although no refresh is
// scheduled; the neighbours' entries follow.
func TestVIPSetFollowsMACChangeNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	macA := mustMAC(t, l.MACA)
	const newMAC = "02:00:00:00:0a:02"
	vip4 := netip.MustParsePrefix("10.201.0.195/24")
	vip6 := netip.MustParsePrefix("fd00:201::195/64")
	// B talked to the VIPs before: it has entries to update.
	run(t, "ip", "-n", l.NSB, "neigh", "replace", vip4.Addr().String(), "lladdr", "02:00:00:00:99:99", "dev", l.IfB, "nud", "stale")
	run(t, "ip", "-n", l.NSB, "neigh", "replace", vip6.Addr().String(), "lladdr", "02:00:00:00:99:99", "dev", l.IfB, "nud", "stale")
	capB := captureARP(t, l.NSB, l.IfB)
	cap6B := captureEther(t, l.NSB, l.IfB, 0x86dd)
	s, err := NewVIPSetWithOptions(VIPConfig{
		Interface: l.IfA,
		VIPs:      []netip.Prefix{vip4, vip6},
		GARP:      GARPConfig{Count: 2, Interval: 100 * time.Millisecond, Refresh: -1},
	}, VIPSetOptions{Recheck: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	runVIPSet(t, s)
	if err := s.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	capB.garps(t, macA, 2, 5*time.Second)
	cap6B.nas(t, macA, 2, 5*time.Second)

	run(t, "ip", "link", "set", "dev", l.IfA, "address", newMAC)
	for _, f := range capB.garps(t, mustMAC(t, newMAC), 2, 5*time.Second) {
		if want, _ := GARPFrame(mustMAC(t, newMAC), vip4.Addr()); !bytes.Equal(f, want) {
			t.Errorf("captured frame\n% x\nwant\n% x", f, want)
		}
	}
	for _, f := range cap6B.nas(t, mustMAC(t, newMAC), 2, 5*time.Second) {
		checkNA(t, f, mustMAC(t, newMAC), vip6.Addr())
	}
	for _, ip := range []netip.Addr{vip4.Addr(), vip6.Addr()} {
		if mac := neighMAC(t, l.NSB, l.IfB, ip); mac != newMAC {
			t.Errorf("B's neighbour entry for %s = %q, want %q (A's new address)", ip, mac, newMAC)
		}
	}
	for _, v := range s.Snapshot().VIPs {
		if v.GARPSent != 4 || v.LastError != "" {
			t.Errorf("snapshot %+v, want 4 announcements and no error", v)
		}
	}
	if err := s.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestVIPBackAsOursClearsErrorNetns: a VIP held while its address looked
// like somebody else's (a check that listed the addresses in the moment
// of a rename of the interface saw them under the other name) has an
// error and a fault; once the address is there as ours again, without
// being added (the rename back relabelled it), the check ends the fault
// and clears the VIP's error too: the snapshot does not blame somebody
// else for a VIP that is held.
func TestVIPBackAsOursClearsErrorNetns(t *testing.T) {
	l := setupLab(t)
	if l == nil {
		return
	}
	clk := clock.NewFake(t0)
	vip := netip.MustParsePrefix("10.201.0.191/24")
	const recheck = 100 * time.Millisecond
	s, err := newVIPSet(VIPConfig{Interface: l.IfA, VIPs: []netip.Prefix{vip}, GARP: GARPConfig{Count: 1, Refresh: -1}},
		VIPSetOptions{Logger: zap.NewNop(), Clock: clk, Recheck: recheck}, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Release(ctx) })
	// The address under a label that is not ours.
	run(t, "ip", "addr", "del", vip.String(), "dev", l.IfA)
	run(t, "ip", "addr", "add", vip.String(), "dev", l.IfA, "label", l.IfA+":x")
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	if snap.Fault == "" || snap.VIPs[0].LastError == "" {
		t.Fatalf("snapshot %+v, want a fault and the VIP's error; the test proves nothing", snap)
	}
	// Back under the interface's bare name, as a rename and back leaves
	// the first IPv4 address.
	run(t, "ip", "addr", "del", vip.String(), "dev", l.IfA)
	run(t, "ip", "addr", "add", vip.String(), "dev", l.IfA)
	clk.Advance(recheck)
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
	snap = s.Snapshot()
	if snap.Fault != "" {
		t.Fatalf("fault %q after the VIP came back as ours", snap.Fault)
	}
	if v := snap.VIPs[0]; !v.Present || !v.Owned || v.Readded != 0 || v.LastError != "" {
		t.Errorf("snapshot %+v, want it held, not added again, no error", v)
	}
	// An error of announcing it is not the check's to clear.
	s.mu.Lock()
	s.vips[0].announceErr = "sending gratuitous ARP: test"
	s.mu.Unlock()
	if err := s.check(); err != nil {
		t.Fatal(err)
	}
	if v := s.Snapshot().VIPs[0]; v.LastError != "sending gratuitous ARP: test" {
		t.Errorf("last error %q after a check, want the announcement's", v.LastError)
	}
}
