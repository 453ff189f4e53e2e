package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rmqlb/rmqlb/integration/netlab"
)

// readded returns how many times the instance's only VIP was put back, as
// its status says.
func (in *instanceStatus) readded() (float64, error) {
	addrs, _ := in.raw["addresses"].(map[string]any)
	vips, _ := addrs["vips"].([]any)
	if len(vips) != 1 {
		return 0, fmt.Errorf("status addresses: %v", in.raw["addresses"])
	}
	n, _ := vips[0].(map[string]any)["readded"].(float64)
	return n, nil
}

// TestVRRPMasterPutsBackItsVIP: a VIP deleted from the running master (as
// a network manager reconfiguring the interface does) is put back within
// one advert interval and counted, and the master stays master. A VIP that
// cannot be put back (somebody took its address, without rmqlb's marker)
// makes the master resign: a backup holds the VIP within Skew_Time and the
// old master is in FAULT; once the address is free again it comes back and,
// with the highest priority, preempts.
func TestVRRPMasterPutsBackItsVIP(t *testing.T) {
	l := newLab(t)
	ds := startTrio(t, l, false)
	h1, h2 := l.Host("h1"), l.Host("h2")
	const advert = 100 * time.Millisecond
	before := ds["h1"].mustStatus().instance("vip").Counters.Transitions
	ip := func(h *netlab.Host, args ...string) {
		t.Helper()
		if _, err := h.Run(append([]string{"ip", "addr"}, args...)...); err != nil {
			t.Fatal(err)
		}
	}

	deleted := time.Now()
	ip(h1, "del", vipPfx.String(), "dev", netlab.Iface)
	if err := waitFor(5*time.Second, func() (bool, error) { return h1.HasAddr(vip) }); err != nil {
		t.Fatalf("the VIP deleted on the master is not back: %v", err)
	}
	back := time.Since(deleted)
	t.Logf("VIP back on the master %v after it was deleted (bound: one advert interval, %v, + %v slack)",
		back.Round(time.Millisecond), advert, netlab.SchedulingSlack)
	if back > advert+netlab.SchedulingSlack {
		t.Fatalf("VIP back %v after it was deleted, want within one advert interval (%v) + %v slack", back, advert, netlab.SchedulingSlack)
	}
	if err := stableHolder(l, h1, time.Second); err != nil {
		t.Fatal(err)
	}
	in := ds["h1"].mustStatus().instance("vip")
	n, err := in.readded()
	if err != nil || n != 1 || in.State != "MASTER" || in.Counters.Transitions != before {
		t.Fatalf("h1 after its VIP was put back: readded %v (%v), %s, transitions %d -> %d", n, err, in.State, before, in.Counters.Transitions)
	}

	// Somebody adds the VIP's address by hand (a /32, no marker) and ours
	// goes: it cannot be put back.
	ip(h1, "add", vip.String()+"/32", "dev", netlab.Iface)
	taken := time.Now()
	ip(h1, "del", vipPfx.String(), "dev", netlab.Iface)
	if err := ds["h2"].waitState("MASTER", 5*time.Second); err != nil {
		t.Fatalf("no backup took over from a master that cannot hold its VIP: %v", err)
	}
	// h2 (priority 100) takes over Skew_Time after h1's priority 0.
	skew := (256 - 100) * advert / 256
	took := time.Since(taken)
	t.Logf("h2 MASTER %v after h1 lost its VIP's address (bound: Skew_Time %v + %v slack)", took.Round(time.Millisecond), skew, netlab.SchedulingSlack)
	if took > skew+netlab.SchedulingSlack {
		t.Errorf("h2 took over %v after h1 could no longer hold the VIP, want within Skew_Time (%v) + %v slack: h1 did not resign", took, skew, netlab.SchedulingSlack)
	}
	if ok, err := h2.HasAddr(vip); err != nil || !ok {
		t.Fatalf("h2, master, has the VIP: %v %v", ok, err)
	}
	// The slack is longer than Master_Down_Interval - Skew_Time: what
	// tells a resignation from a silent master is h2's reason.
	if in := ds["h2"].mustStatus().instance("vip"); !strings.Contains(in.Reason, "priority 0") {
		t.Errorf("h2 took over for %q, want h1's priority 0 advert", in.Reason)
	}
	in = ds["h1"].mustStatus().instance("vip")
	if fault, _ := in.raw["owner_fault"].(string); in.State != "FAULT" || !strings.Contains(fault, "without rmqlb's marker") {
		t.Fatalf("h1 that cannot hold its VIP: %s, owner fault %q", in.State, fault)
	}

	// The address is free again: h1 recovers and preempts.
	ip(h1, "del", vip.String()+"/32", "dev", netlab.Iface)
	if err := ds["h1"].waitState("MASTER", 5*time.Second); err != nil {
		t.Fatalf("h1 after the address was freed: %v", err)
	}
	if err := waitSoleHolder(l, h1, 5*time.Second); err != nil {
		t.Fatal(err)
	}
}
