package daemon

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/vrrp"
)

// lastAdvertAfterSteps lets the instance of f send two more adverts (the
// fake clock moves one 100 ms interval each time) and returns the last.
func (h *harness) lastAdvertAfterSteps(f *fakeVRRP) vrrp.Packet {
	h.t.Helper()
	count := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.adverts)
	}
	for range 2 {
		n := count()
		h.clk.Advance(100 * time.Millisecond)
		h.eventually("an advert", func() bool { return count() > n })
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.adverts[len(f.adverts)-1]
}

// TestReloadRefusedVIPsKeepSettings: a reload changes the priority and the
// VIPs of a MASTER whose VIP set cannot take its new addresses. The whole
// change is refused and the instance runs exactly as it did: its adverts
// keep the old priority and announce only the VIPs it holds, and the
// running model (status, the next reload's diff) says so; a VIP set left
// with the new addresses in force (a held netsetup.VIPSet that cannot add
// one) is given its old ones again. Once the VIP set can take them, the
// same file applies both.
func TestReloadRefusedVIPsKeepSettings(t *testing.T) {
	for _, inForce := range []bool{false, true} {
		t.Run(map[bool]string{false: "unchanged", true: "in-force"}[inForce], func(t *testing.T) {
			testReloadRefusedVIPsKeepSettings(t, inForce)
		})
	}
}

func testReloadRefusedVIPsKeepSettings(t *testing.T, inForce bool) {
	l := newLab(t)
	h := newHarness(t, l.file())
	startMaster(t, h)
	f := h.vrrp.get("v")
	f.mu.Lock()
	f.updateErr, f.updateInForce = errors.New("no room for 192.0.2.101"), inForce
	f.mu.Unlock()
	changed := l.file("priority: 150\n    virtual_ipaddress: [192.0.2.100/32]",
		"priority: 120\n    virtual_ipaddress: [192.0.2.100/32, 192.0.2.101/32]")
	old := []netip.Prefix{netip.MustParsePrefix("192.0.2.100/32")}
	for range 2 {
		r := h.reload(changed)
		if len(r.Refused) != 1 || !strings.HasPrefix(r.Refused[0], "vrrp instance v: ") || !strings.Contains(r.Refused[0], "no room") {
			t.Fatalf("reload: %+v, want v's update refused", r)
		}
		last := h.lastAdvertAfterSteps(f)
		if last.Priority != 150 || !slices.Equal(last.Addrs, []netip.Addr{old[0].Addr()}) {
			t.Fatalf("advert after the refused update: priority %d, VIPs %v; want the old 150 and %v", last.Priority, last.Addrs, old)
		}
		s := h.vrrpSnapshot()
		if s.State != vrrp.StateMaster || s.ConfiguredPriority != 150 || !slices.Equal(s.VIPs, old) {
			t.Fatalf("instance after the refused update: %v, priority %d, VIPs %v", s.State, s.ConfiguredPriority, s.VIPs)
		}
		f.mu.Lock()
		held := slices.Clone(f.vips)
		f.mu.Unlock()
		if !slices.Equal(held, old) {
			t.Fatalf("VIP set after the refused update: %v, want %v", held, old)
		}
		h.d.mu.Lock()
		in, _ := h.d.cfg.VRRPInstance("v")
		h.d.mu.Unlock()
		if in.Priority != 150 || !slices.Equal(in.VIPs, old) {
			t.Fatalf("running model after the refused update: priority %d, VIPs %v", in.Priority, in.VIPs)
		}
	}
	f.mu.Lock()
	f.updateErr = nil
	f.mu.Unlock()
	if r := h.reload(changed); !r.OK() || len(r.Applied) != 1 {
		t.Fatalf("reload once the VIPs can be taken: %+v", r)
	}
	last := h.lastAdvertAfterSteps(f)
	if last.Priority != 120 || len(last.Addrs) != 2 {
		t.Fatalf("advert after the update went through: %+v", last)
	}
}
